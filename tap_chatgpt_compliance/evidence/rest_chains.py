"""Verify the chains of the REST streams (users, gpts, … library_files: logfiles/rest_chain.py).

verify re-derives every column of a REST row from its ``raw_item`` (and parent ids); the chain
proves the rows themselves: each row's chained fields hash to its ``chain_hash``, each links to
the row before it (its ``chain_seq`` follows), one chain per stream with no fork, and the
anchors' heads (``--state``: the stream's bookmark; ``--seals``: ``chains.<stream>``) are links
of it. A row deleted, inserted, moved or edited with its raw_item is a ``chain`` finding.

A run killed after writing rows but before the STATE that carries their head leaves them in
an append-only archive; the next run writes the same items again from the same head: the same
links when their values are the same. A GPT's or project's item holds signed download URLs,
signed anew at every request: those rows differ, and the archive has two branches after the
head. Such a fork is accounted for when the branch off the anchored (else the longest)
chain has, at each position, a row of the same key whose chained fields are equal but for
signed URLs (a note: :func:`stable`). When the items changed before the next run (a user
renamed, added, removed), the killed run's branch differs and ends where the run was
killed: such a dead-end branch (:meth:`RestChains._dead_ends`) is unproven, its rows named (a
row forged beside the chain in that shape looks the same: never ``intact``, export marks it
NOT PROVEN); any other fork is a finding.

An upserting archive (PostgreSQL) keeps one row per primary key: a hole is accounted for when
the key the next row names (``chain_previous_key``) has a row later in the chain (the row the
target replaced); any other hole is a removed row. A kept row no kept row links to (and no
anchor holds) is unproven: a removed item's row, or one forged between replaced rows (the
verdict is not ``intact``). An append-only archive has every link.

Rows without chain columns were written by a tap version before the chain: a limitation (as
before), never a finding, unless they come after the stream's first chained row (a tap that
chains writes no row without its link: inserted).

A chained row without one of its chained inputs (``raw_item``, ``workspace_id``,
``chain_previous`` or ``chain_previous_key``: a property deselected in the catalog, which the tap
drops after linking the row) cannot be hashed again: no finding, but its content is proven by
nothing (a limitation, and the verdict is ``consistent, unproven``); its ``chain_hash`` and
``chain_seq`` still place it in the chain. A chained row without ``chain_hash`` alone (that
column deselected) is hashed from its inputs: the next row's ``chain_previous``, or an anchor's
head, proves it. ``chain_seq`` and ``chain_version`` read back as NUMERIC (PostgreSQL:
``Decimal``) are the same numbers when whole; a fraction is a finding. A stream no row of which
holds ``chain_seq`` (deselected) is placed by walking its links from the genesis: unproven.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal

from tap_chatgpt_compliance.logfiles import chain, rest_chain

Report = t.Any
"""verify's Report (not imported: verify imports this module)."""
Anchor = t.Any
"""verify's Anchor: ``source`` and ``rest_heads`` (``{stream: (chain_seq, chain_head)}``)."""


@dataclass(frozen=True)
class Link:
    """What verify keeps of one chained REST row (not the row)."""

    seq: int
    hash: str
    previous: str
    previous_key: str | None
    key: str
    error: str | None
    """Why the row does not hash to its chain_hash (None: it does)."""
    label: str
    stable: str
    """A digest of the chained fields with the URLs left out (see :func:`stable`)."""
    identity: str = ""
    """The item the row is of: its key without the content parts (see :func:`identity`)."""
    placed: bool = True
    """False: ``chain_seq`` deselected and no walk reached the row (its ``seq`` is 0)."""


_URL = re.compile(r'https?://[^"\s]*')
"""A URL in a served item: a signed download URL is signed anew (path or query) at each answer."""
_SIGNATURE = re.compile(r"(?:^|&)(?:sig|signature|x-amz-signature|x-goog-signature)=", re.I)
"""A signed URL's signature parameter (Azure ``sig``, S3, GCS): other URLs are content."""


def _signed(match: re.Match[str]) -> str:
    """Keep a signed URL's scheme and host (where the bytes are); drop what is signed anew."""
    url = match.group(0)
    if not _SIGNATURE.search(url.partition("?")[2]):
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}/<signed>"


def stable(stream: str, row: t.Mapping[str, t.Any]) -> str:
    """Return a digest of a row's chained fields with its signed URLs left out (signed anew).

    Only a URL with a signature parameter: any other (a GPT action's server, a link in a text)
    is content, and a row differing in it is another row.
    """
    raw = row.get("raw_item")
    unsigned = {**row, "raw_item": _URL.sub(_signed, raw) if isinstance(raw, str) else raw}
    unsigned[rest_chain.PREVIOUS_KEY] = None
    try:
        text = rest_chain.chained_fields(stream, unsigned)
    except chain.ChainVersionError:
        text = repr(sorted(unsigned.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


CONTENT_KEYS = frozenset({"raw_sha256", "updated_at"})
"""Key columns that name a version of an item, not the item (a changed item gets a new one)."""


def identity(stream: str, row: t.Mapping[str, t.Any]) -> str:
    """Return the item a REST row is of: its primary key without :data:`CONTENT_KEYS`."""
    names = [n for n in rest_chain.KEYS[stream] if n not in CONTENT_KEYS]
    return json.dumps([str(_whole(row.get(n))) for n in names])


UNPLACED = 2**62
"""The position a row without one (``_placed``) counts as when its key's latest is sought."""


def _seq(value: t.Any) -> int:
    number = chain.whole_number(value)
    return number if number is not None else 0


def content(stream: str, row: t.Mapping[str, t.Any]) -> str:
    """Return a digest of a row's chained fields but its link (a row before the chain too)."""
    unlinked = {**row, rest_chain.PREVIOUS_KEY: None, chain.VERSION_KEY: rest_chain.VERSION}
    text = rest_chain.chained_fields(stream, unlinked)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _whole(value: t.Any) -> t.Any:
    """Return a whole ``Decimal`` (a NUMERIC column read back) as an int, else ``value``."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


INPUTS = ("raw_item", "workspace_id", "chain_previous", rest_chain.PREVIOUS_KEY)
"""The chained inputs of a REST row besides its primary key (logfiles/rest_chain.py)."""


def chained(row: t.Mapping[str, t.Any]) -> bool:
    """Return whether a REST row carries any chain column (written by a tap that chains)."""
    return any(row.get(column) is not None for column in rest_chain.COLUMNS)


def missing_inputs(row: t.Mapping[str, t.Any], stream: str | None = None) -> list[str]:
    """Return the chained inputs a chained REST row lacks (deselected: it cannot be hashed).

    ``chain_previous_key`` is None at the genesis only. A stored-file row chains its columns
    (rest_chain.FILE_FIELDS), which may be null: only a column the row lacks is missing.
    """
    files = rest_chain.FILE_FIELDS.get(stream or "")
    inputs = INPUTS if files is None else tuple(c for c in INPUTS if c != "raw_item")
    missing = [c for c in inputs if c != rest_chain.PREVIOUS_KEY and row.get(c) is None]
    missing += [c for c in files or () if c not in row]
    previous = row.get("chain_previous")
    if (
        previous is not None
        and previous != chain.GENESIS
        and row.get(rest_chain.PREVIOUS_KEY) is None
    ):
        missing.append(rest_chain.PREVIOUS_KEY)
    return missing


class RestChains:
    """Collect the chain links of the REST rows as verify reads them; check them at the end."""

    def __init__(
        self, report: Report, upserts: bool, links: dict[str, dict[int, set[str]]]
    ) -> None:
        """Report to ``report``; put each chain's links into ``links`` (for the seals)."""
        self.report = report
        self.upserts = upserts
        self.links = links
        self.chains: defaultdict[str, list[Link]] = defaultdict(list)
        self.unchained: Counter[str] = Counter()
        self.loose: defaultdict[str, list[tuple[int, str | None, str, tuple[str, str]]]] = (
            defaultdict(list)
        )
        """Rows without chain columns: (position, _sdc_received_at, label, (key, content)),
        per stream."""
        self.contents: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
        """(key, :func:`content`) of the chained rows that hash to their chain_hash."""
        self.covered: Counter[str] = Counter()
        """Rows without chain columns whose item a chained row of the same key holds."""
        self.first_chained: dict[str, tuple[int, str | None]] = {}
        """The position and _sdc_received_at of each stream's first chained row read."""
        self.position = 0
        self.incomplete: defaultdict[str, Counter[str]] = defaultdict(Counter)
        """Chained rows that cannot be hashed again: ``{stream: {missing columns: rows}}``."""
        self.seq_held: set[str] = set()
        """Streams a chained row of which holds ``chain_seq`` (else deselected: placed by links)."""
        self.unknown: defaultdict[str, set[int]] = defaultdict(set)
        """Positions of chained rows whose chain_hash is neither kept nor computable."""

    @property
    def unchained_total(self) -> int:
        """Rows written before the chain (no chain columns), every REST stream."""
        return sum(self.unchained.values())

    def add(self, stream: str, row: dict[str, t.Any], label: str) -> dict[str, t.Any]:
        """Keep a row's link; return the row without its chain columns (to re-derive it)."""
        if stream not in rest_chain.KEYS:
            return row
        self.position += 1
        received = row.get("_sdc_received_at")
        received = None if received is None else chain.canonical_time(received)
        if not any(row.get(column) is not None for column in rest_chain.COLUMNS):
            what = (rest_chain.record_key(stream, row), content(stream, row))
            self.loose[stream].append((self.position, received, label, what))
            return rest_chain.without_chain(row)
        first = self.first_chained.setdefault(stream, (self.position, received))
        if received is not None and (first[1] is None or received < first[1]):
            self.first_chained[stream] = (first[0], received)
        if "chain_seq" in row:
            self.seq_held.add(stream)
        row = {**row, "chain_seq": _whole(row.get("chain_seq"))}
        if row.get(chain.VERSION_KEY) is not None:
            row[chain.VERSION_KEY] = _whole(row[chain.VERSION_KEY])
        number = chain.whole_number(row["chain_seq"])
        if row["chain_seq"] is not None and (number is None or number < 1):
            self.report.add(
                "chain",
                label,
                f"chain_seq {row['chain_seq']!r} is not a whole number from 1: a chain position "
                "is one (a reader orders the chain by it)",
            )
        previous = str(row.get("chain_previous") or "")
        kept = row.get("chain_hash")
        error = None
        missing = missing_inputs(row, stream)
        if missing:
            self.incomplete[stream][", ".join(missing)] += 1
            # named one by one: export marks the row NOT PROVEN (a column null in one row
            # only, others holding it, is no deselection; either way nothing proves the row)
            self.report.unproven_rows.append(("chain", label))
            if kept is None:
                self.unknown[stream].add(_seq(row.get("chain_seq")))
                kept = f"unknown {self.position}"
        else:
            try:
                computed = rest_chain.chain_hash(previous, row, stream)
                if kept is None:  # chain_hash deselected: the next link or an anchor proves it
                    kept = computed
                elif computed != kept:
                    error = "altered: its chained fields do not hash to its chain_hash"
            except chain.ChainVersionError as exc:
                error = str(exc)
            if error is None:
                key = rest_chain.record_key(stream, row)
                self.contents[stream].add((key, content(stream, row)))
        self.chains[stream].append(
            Link(
                seq=_seq(row.get("chain_seq")),
                hash=str(kept),
                previous=previous,
                previous_key=row.get(rest_chain.PREVIOUS_KEY),
                key=rest_chain.record_key(stream, row),
                error=error,
                label=label,
                stable=stable(stream, row),
                identity=identity(stream, row),
            )
        )
        return rest_chain.without_chain(row)

    def _check_loose(self) -> None:
        """Rows without chain columns: before the chain (unproven) or inserted (a finding).

        After the stream's first chained row (as the target received them, its
        ``_sdc_received_at``, when both have one; else as read) the tap wrote no row without
        its link: inserted. Before it, a row is proven by nothing (the verdict is not
        ``intact``), unless a chained row of the same key holds the same item (:func:`content`).
        """
        for stream, rows in sorted(self.loose.items()):
            first = self.first_chained.get(stream)
            for position, received, label, what in rows:
                if first is None:
                    after = False
                elif received is not None and first[1] is not None:
                    after = received > first[1]
                else:
                    after = position > first[0]
                if after:
                    self.report.add(
                        "chain",
                        label,
                        f"a row without chain columns after the first chained {stream} row: "
                        "the tap chains every row it writes: inserted",
                    )
                elif what in self.contents.get(stream, ()):
                    self.covered[stream] += 1
                else:
                    self.unchained[stream] += 1
                    self.report.unproven_rows.append(("chain", label))  # export marks it

    def check(self, anchors: t.Sequence[Anchor]) -> None:
        """Check every chain, then every anchor's REST heads."""
        self._check_loose()
        self._check_incomplete()
        for stream, records in sorted(self.chains.items()):
            if stream not in self.seq_held:
                starts = [a.rest_heads[stream] for a in anchors if stream in a.rest_heads]
                records = self._placed(stream, records, starts)
            heads = {a.rest_heads[stream][1] for a in anchors if stream in a.rest_heads}
            self._check_chain(stream, records, heads)
            for anchor in anchors:
                self._check_anchor(stream, anchor)
        for anchor in anchors:
            for stream, (seq, _) in sorted(anchor.rest_heads.items()):
                if stream not in self.chains:
                    self.report.add(
                        "anchor",
                        f"chain {stream}",
                        f"{anchor.source} says the {stream} chain reached chain_seq {seq}; the "
                        f"archive has no chained {stream} row: the stream's rows were removed",
                    )

    def _placed(
        self, stream: str, records: list[Link], starts: t.Sequence[tuple[int, str]]
    ) -> list[Link]:
        """Return a stream's links placed by walking them (no ``chain_seq``).

        ``chain_seq`` deselected in the catalog: no row holds it. Each row's position is the
        one after the row its ``chain_previous`` names (every row of a fork at the same one),
        walking from the genesis and from each anchor's head (``starts``: its ``chain_seq`` and
        hash; the rows before the head backwards too). In an upserting archive a row after a
        replaced one (a hole) that no walk reaches has no position (``placed`` False): its
        hole is accounted for when the key it names has a kept row, and positions are not
        compared. The verdict is ``consistent, unproven``: the positions are the links', no
        column the tap wrote.
        """
        after: defaultdict[str, list[int]] = defaultdict(list)
        by_hash: defaultdict[str, list[int]] = defaultdict(list)
        for index, record in enumerate(records):
            after[record.previous].append(index)
            by_hash[record.hash].append(index)
        placed: dict[int, Link] = {}
        frontier: list[tuple[str, int]] = [(chain.GENESIS, 1)]
        for seq, head in starts:
            frontier.append((head, seq + 1))
            value, at = head, seq
            while at >= 1 and by_hash.get(value) and by_hash[value][0] not in placed:
                for index in by_hash[value]:
                    placed[index] = replace(records[index], seq=at)
                    frontier.append((value, at + 1))
                value, at = records[by_hash[value][0]].previous, at - 1
        while frontier:
            previous, seq = frontier.pop()
            for index in after.get(previous, []):
                if index not in placed:
                    placed[index] = replace(records[index], seq=seq)
                    frontier.append((records[index].hash, seq + 1))
        self.report.limitations.append(
            f"no {stream} row holds chain_seq (not archived: deselected in the catalog?): "
            f"each row's position is taken from its link ({len(placed)} of {len(records)} rows "
            "reached from the chain's start or an anchor's head; the others follow a row the "
            "target replaced, their positions are not checked)"
        )
        if self.report.unproven is None:
            self.report.unproven = f"{stream} rows hold no chain_seq: placed by their links only"
        out = [
            placed.get(index, replace(record, seq=0, placed=self.upserts is False))
            for index, record in enumerate(records)
        ]
        self.report.unplaced[stream] = {r.hash: r.key for r in out if not r.placed}
        return out

    def _check_incomplete(self) -> None:
        """Chained rows without a chained input: a limitation, and the verdict is unproven."""
        for stream, missing in sorted(self.incomplete.items()):
            rows = sum(missing.values())
            which = "; ".join(f"{n} without {cols}" for cols, n in sorted(missing.items()))
            self.report.limitations.append(
                f"{rows} chained {stream} rows lack a chained input ({which}; a property "
                "deselected in the catalog? the tap links a row before the selection drops "
                "columns): their links cannot be recomputed, so their content (and columns) "
                "are proven by nothing; the chain still places them"
            )
            if self.report.unproven is None:
                self.report.unproven = (
                    f"{rows} chained {stream} rows cannot be hashed again (no {', '.join(missing)})"
                )

    def _check_chain(self, stream: str, records: list[Link], heads: set[str]) -> None:
        report = self.report
        links = self.links.setdefault(stream, {})
        by_hash: dict[str, Link] = {}
        for record in records:
            kept = by_hash.setdefault(record.hash, record)
            if record.placed:
                links.setdefault(record.seq, set()).add(record.hash)
                # The label itself (no copy): one list entry per record.
                report.link_items.setdefault(stream, {}).setdefault(record.seq, []).append(
                    record.label
                )
            if (
                kept is not record
                and record.error is None
                and (kept.seq, kept.previous)
                != (
                    record.seq,
                    record.previous,
                )
            ):
                report.add(
                    "chain",
                    record.label,
                    f"two copies of this row disagree on their position (chain_seq {kept.seq} "
                    f"and {record.seq})",
                )
        broken = self._forks(stream, by_hash, heads)
        later: dict[str, int] = {}
        for record in by_hash.values():  # a row without a position may be the later one
            seq = record.seq if record.placed else UNPLACED
            later[record.key] = max(later.get(record.key, 0), seq)
        for record in records:
            if record.error is not None and by_hash[record.hash] is not record:
                broken = True  # a copy altered (the first copy is checked below)
                report.add("chain", f"{record.label} (chain_seq {record.seq})", record.error)
        for record in sorted(by_hash.values(), key=lambda r: r.seq):
            broken = self._check_link(stream, record, by_hash, later) or broken
        dead = report.dead_ends.get(stream, set())
        top = max(by_hash.values(), key=lambda r: (r.hash not in dead, r.seq))
        if self.upserts:
            latest: dict[str, int] = {}
            for record in by_hash.values():
                if record.placed:
                    latest[record.key] = max(latest.get(record.key, 0), record.seq)
            report.kept_latest[stream] = latest
            self._unlinked(stream, by_hash, heads | {top.hash})
        report.chains[stream] = {
            "links": len(by_hash),
            "unbroken": not broken,
            "starts": sum(1 for r in by_hash.values() if r.previous == chain.GENESIS),
            "first_end_time": None,
            "last_end_time": None,
            "head_seq": top.seq,
            "head": top.hash,
        }

    def _unlinked(self, stream: str, by_hash: dict[str, Link], heads: set[str]) -> None:
        """Upserting archives: rows no kept row links to, and no anchor holds, are unproven.

        The row after such a row was replaced (its key has a later row): a row of an item the
        API no longer lists (a user removed), or a row forged into the replaced positions
        with a new key; nothing kept tells them apart, so the archive is not ``intact``.
        """
        linked = {record.previous for record in by_hash.values()}
        loose = sorted(
            (r for r in by_hash.values() if r.hash not in linked and r.hash not in heads),
            key=lambda r: r.seq,
        )
        if not loose:
            return
        labels = ", ".join(r.label for r in loose[:5])
        text = (
            f"{len(loose)} {stream} rows are linked to by no kept row and held by no anchor "
            f"({labels}): the target replaced the row after each (an item the API stopped "
            "listing, say a user removed), or they were forged into replaced positions; "
            "nothing kept tells them apart"
        )
        self.report.limitations.append(text)
        self.report.unproven_rows.extend(("chain", r.label) for r in loose)  # export marks them
        if self.report.unproven is None:
            self.report.unproven = f"{len(loose)} {stream} rows are proven by no link"

    def _forks(self, stream: str, by_hash: dict[str, Link], heads: set[str]) -> bool:
        """Report two rows at one position or after one link (a row inserted beside another).

        A branch that repeats the rows of the chain's main branch (a killed run's rows, written
        again: :func:`stable`) is accounted for, in a note.
        """
        at_seq: defaultdict[int, set[str]] = defaultdict(set)
        after: defaultdict[str, set[str]] = defaultdict(set)
        for record in by_hash.values():
            after[record.previous].add(record.hash)
        repeated = self._repeated_branches(stream, by_hash, after, heads)
        repeated |= self._dead_ends(stream, by_hash, after, heads, repeated)
        for record in by_hash.values():
            if record.hash not in repeated and record.placed:
                at_seq[record.seq].add(record.hash)
        broken = False
        for previous, hashes in sorted(after.items()):
            if len(hashes - repeated) > 1:
                broken = True
                where = "the genesis" if previous == chain.GENESIS else f"{previous[:16]}…"
                labels = sorted(by_hash[h].label for h in hashes)
                self.report.add(
                    "chain",
                    f"{stream} chain ({', '.join(labels[:5])})",  # export marks what it names
                    f"{len(hashes)} rows follow the same link ({where}: {', '.join(labels[:5])}): "
                    "a row inserted, or a chain started again; an anchor holds one branch at "
                    "most (a run killed before its STATE, or a state cleared, when the items "
                    "changed before the next run, forks the same way: docs/guarantees.md)",
                )
        for seq, hashes in sorted(at_seq.items()):
            parents = {by_hash[h].previous for h in hashes}
            if len(hashes) > 1 and len(parents) > 1:
                broken = True
                labels = sorted(by_hash[h].label for h in hashes)
                self.report.add(
                    "chain",
                    f"{stream} chain_seq {seq} ({', '.join(labels[:5])})",
                    f"{len(hashes)} different rows at one position ({', '.join(labels[:5])})",
                )
        return broken

    def _repeated_branches(
        self,
        stream: str,
        by_hash: dict[str, Link],
        after: dict[str, set[str]],
        heads: set[str],
    ) -> set[str]:
        """Return the rows of branches that repeat their fork's main branch, row by row."""
        repeated: set[str] = set()
        for _, hashes in sorted(after.items()):
            if len(hashes) < 2:
                continue
            branches = [_branch(by_hash[h], by_hash, after) for h in sorted(hashes)]
            main = max(
                branches, key=lambda b: (any(r.hash in heads for r in b), b[-1].seq, b[0].hash)
            )
            for branch in branches:
                if branch is main or len(branch) > len(main):
                    continue
                if all(
                    (r.key, r.stable, r.seq) == (m.key, m.stable, m.seq)
                    for r, m in zip(branch, main, strict=False)
                ):
                    repeated.update(r.hash for r in branch)
                    self.report.notes.append(
                        f"chain {stream}: {len(branch)} rows after chain_seq {branch[0].seq - 1} "
                        "were written by a run killed before its STATE, then again by the next "
                        "run (the same items; only signed URLs differ): accounted for"
                    )
        return repeated

    def _dead_ends(
        self,
        stream: str,
        by_hash: dict[str, Link],
        after: dict[str, set[str]],
        heads: set[str],
        repeated: set[str],
    ) -> set[str]:
        """Return the rows of dead-end branches off the main one: unproven, not a finding.

        A run killed after writing rows but before the STATE that carries their head, then a
        run after the items changed (a user renamed, added or removed), leaves two branches
        after the last row they share: the killed run's ends where it was killed, no row
        links to it. Such a branch is accounted for when it leaves the chain after a link (not
        at the genesis: a chain started again), no anchor's head is on it or after it, no row
        follows its last row, and (append-only archives) each of its rows is of an item
        a row on no such branch is of (:func:`identity`: a user renamed or removed; a user
        made up is not, nor one made up on two such branches). A row forged beside the chain
        in that shape looks the same: its rows are named in a limitation (export marks them
        NOT PROVEN) and the verdict is ``consistent, unproven``, never ``intact``. The main
        branch is the one that leads to an anchor's head (two such branches: a finding), else
        the one that goes on, else the longest.
        """
        stated: set[str] = set()
        for head in heads:
            record = by_hash.get(head)
            while record is not None and record.hash not in stated:
                stated.add(record.hash)
                record = by_hash.get(record.previous)
        candidates: list[list[Link]] = []
        for previous, hashes in sorted(after.items()):
            rest = sorted(hashes - repeated)
            if len(rest) < 2 or previous == chain.GENESIS:
                continue
            branches = [_branch(by_hash[h], by_hash, after) for h in rest]
            if sum(1 for b in branches if b[0].hash in stated) > 1:
                continue  # two anchored branches: a finding
            main = max(
                branches,
                key=lambda b: (b[0].hash in stated, bool(after.get(b[-1].hash)), b[-1].seq),
            )
            for branch in branches:
                if (
                    branch is main
                    or after.get(branch[-1].hash)
                    or any(r.hash in stated for r in branch)
                ):
                    continue
                candidates.append(branch)
        # Of an item a row off every such branch is of: the same made-up item on two dead
        # ends is still made up.
        off = {record.hash for branch in candidates for record in branch}
        items = {record.identity for record in by_hash.values() if record.hash not in off}
        found = [
            branch
            for branch in candidates
            if self.upserts or all(record.identity in items for record in branch)
        ]
        rows = [record for branch in found for record in branch]
        if rows:
            labels = ", ".join(record.label for record in rows[:5])
            where = ", ".join(str(branch[0].seq - 1) for branch in found[:5])
            self.report.limitations.append(
                f"{len(rows)} {stream} rows are on branches that leave the chain (after "
                f"chain_seq {where}) and that no row continues ({labels}): a run killed before "
                "its STATE after writing them, then a run after the items changed (a user "
                "renamed, added or removed), or rows forged beside the chain; nothing kept "
                "tells them apart, so they are proven by nothing"
            )
            self.report.unproven_rows.extend(("chain", record.label) for record in rows)
            self.report.dead_ends.setdefault(stream, set()).update(r.hash for r in rows)
            if self.report.unproven is None:
                self.report.unproven = f"{len(rows)} {stream} rows are on dead-end branches"
        return {record.hash for record in rows}

    def _check_link(
        self, stream: str, record: Link, by_hash: dict[str, Link], later: dict[str, int]
    ) -> bool:
        """Check one row's link; return whether it is broken."""
        report = self.report
        item = f"{record.label} (chain_seq {record.seq})"
        broken = False
        if record.error is not None:
            report.add("chain", item, record.error)
            broken = True
        before = by_hash.get(record.previous)
        if not record.placed or (before is not None and not before.placed):
            if before is None and not later.get(record.previous_key or ""):
                report.add(
                    "chain",
                    item,
                    f"{stream} row missing before it: no row has chain_hash "
                    f"{record.previous[:16]}… (key {record.previous_key}, which has no row: "
                    "deleted)",
                )
                return True
            return broken  # no chain_seq: no position to compare (see _placed)
        if record.previous == chain.GENESIS or before is not None:
            at = 1 if before is None else before.seq + 1
            if record.seq != at:
                report.add("chain", item, f"chain_seq does not follow its link (expected {at})")
                return True
            return broken
        seq = record.seq
        if seq - 1 in self.unknown.get(stream, ()):
            return broken  # the row before it has no chain_hash to find (unproven: see above)
        if (
            self.upserts
            and record.previous_key
            and later.get(record.previous_key, 0) > seq - 1
            and seq - 1 not in self.links[stream]
        ):
            # The row before it was replaced by a later row of the same key (upserting target).
            report.replaced.setdefault(stream, {})[seq - 1] = record.previous
            below = max((s for s in self.links[stream] if s < seq), default=0)
            report.replaced_runs.setdefault(stream, []).append((below + 1, seq - 1))
            return broken
        report.add(
            "chain",
            item,
            f"{stream} row missing before it: no row has chain_hash {record.previous[:16]}… "
            + (
                f"(key {record.previous_key}, which has no later row: deleted)"
                if self.upserts
                else "(deleted)"
            ),
        )
        return True

    def _check_anchor(self, stream: str, anchor: Anchor) -> None:
        report = self.report
        head = anchor.rest_heads.get(stream)
        if head is None:
            report.notes.append(
                f"{anchor.source} has no head of the {stream} chain (a state of a tap before "
                "it?): its rows are not anchored by it"
            )
            return
        seq, value = head
        links = self.links[stream].get(seq, set())
        replaced = (
            report.replaced_head(
                stream,
                seq,
                value,
                anchor.rest_head_keys.get(stream),
                f"the head {anchor.source} holds",
            )
            if not links
            else None
        )
        if replaced is not None:
            report.notes.append(replaced)
            report.reached(stream, seq)
        elif not links:
            top = max(self.links[stream], default=0)
            report.add(
                "anchor",
                f"chain {stream}",
                f"the archive's {stream} chain ends at chain_seq {top}; {anchor.source} says it "
                f"reached chain_seq {seq} (head {value[:16]}…): {stream} rows removed",
            )
        elif value not in links:
            report.add(
                "anchor",
                f"chain {stream}",
                f"{stream} chain_seq {seq} has another chain_hash than {anchor.source} says "
                f"({value[:16]}…): the {stream} rows were rewritten",
            )
        else:
            report.reached(stream, seq)


def _branch(first: Link, by_hash: dict[str, Link], after: dict[str, set[str]]) -> list[Link]:
    """Return the rows from ``first`` on while each has exactly one row after it."""
    branch, seen = [first], {first.hash}
    while len(following := after.get(branch[-1].hash, set())) == 1:
        nxt = by_hash[next(iter(following))]
        if nxt.hash in seen:
            break
        branch.append(nxt)
        seen.add(nxt.hash)
    return branch
