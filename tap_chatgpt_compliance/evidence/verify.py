r"""Prove from an archive, and an anchor kept outside it, that nothing was dropped or altered.

What is checked (each failure is a :class:`Finding` naming stream, item and column); the exact
guarantees, with and without an anchor, are in docs/guarantees.md:

1. ``read``: every line, object or row of the archive can be read (junk lines, a truncated
   gzip, an unreadable object are findings, never a traceback); the manifest is not empty.
2. ``raw``: every log file kept raw hashes to its SHA-256 and size, its parts are complete and
   integer-indexed, a stored raw file sits at its content address; a manifest record that says
   ``raw_content: none`` where raw bytes were kept (parts present, an earlier file of its chain
   kept, or another copy of the record says so) is a downgrade.
3. ``chain``: per event type, every manifest record's ``chain_hash`` recomputes and links to
   the one before it; with an anchor (``--state``), the archive reaches the anchored head
   (``chain_seq`` and ``chain_head``) of every event type: a shorter or rewritten archive fails.
   The attachment chain (``files``) and one chain per REST stream (``users``, ``gpts``, …, the
   workspace objects: evidence/rest_chains.py) are checked the same way: a REST row deleted,
   inserted or edited with its ``raw_item`` breaks its stream's chain.
4. ``column``: every column of every ``messages``, ``events``, ``unparsed_lines``,
   ``conversations`` and ``files`` row is re-derived from the raw line(s) of its log file with
   the tap's own record builders (records.py, logfiles.py) and compared; ``users``, ``gpts``
   and ``projects`` rows are re-derived from the item as the API served it (``raw_item``, or
   ``item``). ``missing``: every line of a verified raw file has its row; ``added``: every row
   is a line of its raw file; ``untraced``: a row whose log file's raw bytes are not available.
5. ``attachment``: every archived attachment's bytes hash to its record (and sit at their
   content address); every attachment a kept raw event references has a ``files`` record with
   a final status; two records of one attachment and log file that disagree (an archived one
   turned into expired, say; a failed try and its later retry do not), or one attachment
   archived with two SHA-256, are a finding.

A column nothing proves (a fact of the tap's run, a parent id not in the item served) is named
in ``Report.unproven_columns`` (:data:`UNPROVEN_COLUMNS`), never passed over in silence; so is a
column no row of its stream holds (deselected in the catalog: :data:`NOT_ARCHIVED`), which is a
limitation, not a finding (the verdict is unproven when it is in :data:`RENDERED_COLUMNS`).

The archive is read as a stream (:meth:`Archive.iter_records`): rows are matched to their raw
file by ``log_file_id`` as they come (targets write them in the tap's order); what must be
looked up later (raw parts, attachment parts, conversation facts) is spilled to a temporary
SQLite file. Memory stays flat whatever the archive's size.

A PostgreSQL archive (target-postgres ``sanitize_null_text_characters``, and the project's
``target-postgres-utf8`` loader for lone surrogates) holds U+FFFD where the delivered text had
NUL (``\u0000``) or half a surrogate pair (``\ud83d``), which PostgreSQL cannot store: for that
source only, a value that equals its derivation once each of those is replaced by U+FFFD is
found, and listed as a note, not a finding.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import sqlite3
import tempfile
import typing as t
from collections import Counter, OrderedDict, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.directory_rows import SCHEMAS, derive_row
from tap_chatgpt_compliance.evidence import sources, state_file
from tap_chatgpt_compliance.evidence.export_text import one_line
from tap_chatgpt_compliance.evidence.rest_chains import (
    INPUTS,
    RestChains,
    chained,
    missing_inputs,
)
from tap_chatgpt_compliance.evidence.sources import JsonString, strict_json
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tap_chatgpt_compliance.logfiles.logfile import LineParser, derived_event_key
from tap_chatgpt_compliance.logfiles.records import (
    ARCHIVED,
    EXPIRED,
    UNAVAILABLE,
    ConversationFold,
    attachment_ids,
    attachment_refs,
    conversation_user_ids,
    event_record,
    event_times,
    message_record,
)
from tap_chatgpt_compliance.settings import event_scope
from tap_chatgpt_compliance.timeparse import to_iso
from tap_chatgpt_compliance.workspace_rows import ANY_JSON, config_files, has_id
from tap_chatgpt_compliance.workspace_rows import PARENT_KEYS as WORKSPACE_PARENTS
from tap_chatgpt_compliance.workspace_rows import SCHEMAS as WORKSPACE_SCHEMAS
from tap_chatgpt_compliance.workspace_rows import derive_row as derive_workspace_row

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_chatgpt_compliance.attachments.archive import AttachmentRef
    from tap_chatgpt_compliance.evidence.sources import Archive
    from tap_chatgpt_compliance.run.store import SpillMap
    from tap_chatgpt_compliance.run.sync import ConversationSeen

Record = dict[str, t.Any]
MAX_LISTED = 50
"""Findings of one kind listed one by one in the human-readable output."""
REPLACEMENT = "\ufffd"
"""What target-postgres stores for NUL (``sanitize_null_text_characters``) and a lone surrogate."""
_NUL = re.compile("\u0000")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A surrogate in a parsed string is a lone one (a pair is parsed as one character)."""
_NOT_STORABLE = re.compile("[\u0000\ud800-\udfff]")
"""What PostgreSQL cannot hold in text: stored as U+FFFD (target-postgres, target-postgres-utf8)."""
CACHED_FILES = 8
"""Derivations of log files kept for rows that come out of order."""
FINAL_STATUSES = frozenset(
    {"archived", "expired", "not_found", "too_large", "metadata_only", "gave_up"}
)
"""Statuses of a ``files`` record that no later run changes (``forbidden``/``failed`` are
retried by later runs: see pending.py)."""
RETRIED_STATUSES = frozenset({"forbidden", "failed"})
"""The others (pending.RETRYABLE, not imported: verify runs without the tap's HTTP stack): a
later record of the same attachment and log file follows such a record (the retry's), so only
the records of other statuses must agree."""
REF_COLUMNS = ("conversation_id", "message_id", "user_id", "name", "mime_type", "event_id")
"""Columns of a ``files`` record that come from the message event that references it."""
DIRECTORY = SCHEMAS
STORED_FILES = ("gpt_files", "project_files", "library_file_contents")
"""Workspace-object streams whose records archive a file's bytes like an attachment (issue
21); their large files are in ``<stream>_parts``."""
FILES_OF = {
    "gpt_configs": "gpt_files",
    "project_configs": "project_files",
    "library_files": "library_file_contents",
}
"""The chained stream whose rows name the files a ``STORED_FILES`` stream archives (the tap
fetches every file a new configuration lists, and every new or changed library file)."""
_RUN_FACT = "a fact of the tap's run, on no chain and in no raw line"
_STORED_FILE_COLUMN = (
    "the tap's note of the download (not in any item served, not chained: a fact of the "
    "run); the record's other columns are on the stream's chain (rest_chain.FILE_FIELDS)"
)
_PARENT_COLUMN = (
    "not in the item served: the URL the tap read it from (the rows of one object under two "
    "owners are a finding; an object moved whole is not)"
)
UNPROVEN_COLUMNS: dict[str, dict[str, str]] = {
    "log_files": {
        "end_time_source": f"where the run took end_time from: {_RUN_FACT}",
        "bookmark_capped": f"whether the run's clock capped the bookmark: {_RUN_FACT}",
        "download_attempts": f"how many tries the download took: {_RUN_FACT}",
        "processed_at": f"when the tap finished the file: {_RUN_FACT}",
        "download_error": (
            "why the tap could not download a file (the API's answer, as the tap saw it): "
            f"{_RUN_FACT}; that it could not is chained (null verified_sha256)"
        ),
        "listing_item": (
            "the listing's item as served (the fields OpenAI may add later): on no chain and "
            "in no raw line; its known fields are the chained columns (file_name, file_size, "
            "provider_sha256, …)"
        ),
    },
    "files": {
        "status_reason": f"the tap's note of the download: {_RUN_FACT}",
        "archived_at": f"when the tap archived the bytes: {_RUN_FACT}",
        "retry_until": f"until when later runs retry the download: {_RUN_FACT}",
    },
    **{
        stream: dict.fromkeys(("status_reason", "archived_at"), _STORED_FILE_COLUMN)
        for stream in STORED_FILES
    },
    **{
        stream: dict.fromkeys(parents, _PARENT_COLUMN)
        for stream, parents in WORKSPACE_PARENTS.items()
        if parents
    },
}
"""Columns no raw line, OpenAI hash, chain or anchor covers, per stream: verify lists them
(``Report.unproven_columns``) whenever their stream is in the archive, and proves nothing of
them; every other column the tap writes is proven or its alteration is a finding
(tests/evidence/test_column_matrix.py holds every column of the catalog to this)."""
NOT_ARCHIVED = (
    "not archived: the column is in no row of its stream (deselected in the catalog?); its "
    "stream's other columns are verified, this one holds no value to show"
)
RENDERED_COLUMNS: dict[str, frozenset[str]] = {
    "messages": frozenset({"event", "event_id", "event_id_derived", "log_file_id"}),
    "events": frozenset({"event", "event_id", "event_id_derived", "type", "log_file_id"}),
    "unparsed_lines": frozenset({"line", "log_file_id"}),
    "files": frozenset(
        {"id", "status", "sha256", "size", "name", "storage_uri", "part_count", "content_base64"}
        | {"log_file_id", "chain_seq", "chain_previous", "chain_previous_id", "chain_hash"}
    ),
}
"""Columns the export renders from, or verify proves the rest by: absent from every row of
their stream (deselected), the verdict is ``consistent, unproven`` (never ``intact``). The
other derived columns (``messages.content_text``, ``users.email``, ``conversations.title``…)
are re-derived from what is kept and proven, and the production never reads them."""
KNOWN_STREAMS = frozenset(sources.STREAMS)
"""The streams verify reads: one the archive does not hold has 0 rows (Report.stream_rows)."""
ORGANIZATION_UNPROVEN = (
    "the tap's organization_id setting, in no event and, for workspace-scoped log files, on no "
    "chain: proven only when an organization-scoped log file's chained record names it"
)


_ITEM_BOOKKEEPING = rest_chain.COLUMNS | {"raw_item", "item", "workspace_id"}


_PART_METADATA = ("workspace_id", "part_count", "offset", "size", "sha256")
ALWAYS_WRITTEN: dict[str, tuple[str, ...]] = {
    **{
        stream: tuple(c for c in INPUTS if c != "raw_item" or stream not in rest_chain.FILE_FIELDS)
        for stream in rest_chain.KEYS
    },
    "log_files": (
        *("scope", "blank_lines", "unparsed_lines", "foreign_events", "event_count"),
        *("duplicates_dropped", "events_without_id", "id_clashes"),
    ),
    "log_file_parts": (*_PART_METADATA, "event_type"),
    **{f"{s}_parts": _PART_METADATA for s in ("file", *rest_chain.FILE_FIELDS)},
}
"""Columns the tap writes a value of in every row of a stream it selects them in, that verify
does not derive row by row (a REST row's chained inputs, ``chain_previous_key`` after the
genesis; the manifest's counts; what a part says of itself) and so accepts null in a row (an
older tap's, or deselected): null in every row is "in no row" (not archived, deselected?),
and a state or seal that says the column was selected makes it a finding."""


def _from_item(stream: str, column: str) -> bool:
    """Whether a column of ``stream`` is copied from the REST item (absent when it lacks it)."""
    if stream not in DIRECTORY and stream not in WORKSPACE_SCHEMAS:
        return False
    return column not in _ITEM_BOOKKEEPING and column not in WORKSPACE_PARENTS.get(stream, ())


def _time_columns(schema: dict[str, t.Any]) -> frozenset[str]:
    return frozenset(
        name
        for name, prop in schema["properties"].items()
        if prop.get("format") == "date-time"
        or any(p.get("format") == "date-time" for p in prop.get("anyOf", []))
    )


TIME_COLUMNS = {
    "messages": _time_columns(schemas.MESSAGE),
    "events": _time_columns(schemas.EVENT),
    "conversations": _time_columns(schemas.CONVERSATION),
    "files": _time_columns(schemas.FILE),
    "unparsed_lines": frozenset(),
    **{name: _time_columns(schema) for name, schema in DIRECTORY.items()},
    **{name: _time_columns(schema) for name, schema in WORKSPACE_SCHEMAS.items()},
}


STRICT_TIMES: dict[str, frozenset[str]] = {
    stream: frozenset(columns - UNPROVEN_COLUMNS.get(stream, {}).keys())
    for stream, columns in {
        **TIME_COLUMNS,
        "log_files": _time_columns(schemas.LOG_FILE),
    }.items()
    if columns - UNPROVEN_COLUMNS.get(stream, {}).keys()
}
"""The proven time columns of each stream: a value stored as text must be an RFC 3339 time
with its offset (:data:`_RFC3339`), as the tap writes every one (``…+00:00``)."""
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d{6}(?P<beyond>\d{0,3})|\.\d{1,5})?"
    r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)",
    re.ASCII,
)
"""A time text every reader places at one instant: date, time and offset (a PostgreSQL
``timestamptz`` cast to text ends ``+00``). Without its offset a reader takes it for local
time (JavaScript's ``Date``, a ``timestamptz`` column in another session time zone). Digits
of a second beyond the sixth (``beyond``) must be zeros: verify (and the tap) keeps
microseconds, readers of nanoseconds (pandas, Java) or rounding ones (PostgreSQL) do not."""


def _misread_time(value: t.Any) -> bool:
    """Whether a stored time is one readers may place at another instant than its derivation.

    A text without an offset (``2026-01-01T10:00:00``: local time to most readers), with
    spaces around it, in another ISO 8601 form (week dates, basic format), a number (Unix
    seconds), or with a fraction of a microsecond (``….189937999``: PostgreSQL rounds it to
    ``.189938``): verify's parser takes each for the UTC instant to the microsecond, other
    readers do not.
    """
    if value is None or isinstance(value, datetime):
        return False
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    return match is None or bool((match.group("beyond") or "").strip("0"))


@dataclass
class Finding:
    """One thing missing or altered."""

    check: str
    item: str
    detail: str

    def line(self) -> str:
        """Return the finding as one line."""
        return f"{self.check}: {self.item}: {self.detail}"


@dataclass
class Report:
    """What verify found.

    ``intact`` is True when there is no finding; whether that proves the archive complete
    depends on the anchors (``anchored``) and on raw keeping (``unproven``): see :meth:`verdict`.
    """

    source: str
    findings: list[Finding] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    chains: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    anchored: list[str] = field(default_factory=list)
    """What anchors the archive outside itself: ``state FILE``, ``seals URI``."""
    unproven: str | None = None
    """Why values cannot be traced to OpenAI's bytes (the archive kept no raw bytes)."""
    slice: list[str] | None = None
    """The log files whose rows were verified, when only a slice was (verify(log_file_ids))."""
    links: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    """The archive's chain links ``{chain name: {chain_seq: {chain_hash}}}`` (for seals)."""
    latest_links: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)
    """Chains whose every item's latest record must be anchored (the files chain of an
    append-only archive): ``{chain name: ({chain_hash: chain_previous}, {item id: chain_hash
    of its latest record})}`` (see :meth:`off_chain`)."""
    archived_links: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    """``{chain name: {chain_hash: (item id, sha256)}}`` of the records that hold an item's
    bytes (``archived``), where :attr:`latest_links` is kept (see :meth:`unvouched`)."""
    anchor_reach: dict[str, int] = field(default_factory=dict)
    """``{chain name: chain_seq}``: the furthest head any anchor (state, seals) holds of the
    chain, found in the archive (see :meth:`unanchored_tail`)."""
    unproven_columns: dict[str, str] = field(default_factory=dict)
    """``{"stream.column": why}``: columns of the archive's streams that nothing proves
    (:data:`UNPROVEN_COLUMNS`): shown as recorded, never as proven."""
    workspaces: list[str] = field(default_factory=list)
    """The workspace ids of the manifest's records (one, in an archive of one workspace)."""
    stream_rows: dict[str, int] = field(default_factory=dict)
    """Rows read per stream, copies included (0: a stream the archive does not hold): the
    seals' record counts of sealed runs are checked against it (seals.check_seals)."""
    not_archived: dict[str, int] = field(default_factory=dict)
    """``{"stream.column": rows whose derivation has a value}``: columns in no row of their
    stream, taken for deselected (a seal that says the column was selected makes it a
    finding: seals.check_seals)."""
    upserts: bool = False
    """The archive keeps one row per primary key (PostgreSQL): a later run's row replaces an
    earlier one, so it may hold fewer rows than the runs wrote."""
    replaced: dict[str, dict[int, str]] = field(default_factory=dict)
    """Upserting archives: ``{chain name: {chain_seq: chain_hash}}`` of records the target
    replaced by a later record of the same key, each named by the kept record after it (its
    ``chain_previous``): an anchor's head there is accounted for (see :meth:`replaced_head`)."""

    def reached(self, name: str, seq: int) -> None:
        """Note that an anchor holds the chain ``name`` up to ``seq`` (its head is there)."""
        self.anchor_reach[name] = max(self.anchor_reach.get(name, 0), seq)

    dead_ends: dict[str, set[str]] = field(default_factory=dict)
    """``{REST chain name: {chain_hash}}`` of the rows on dead-end branches (a killed run's, or
    forged: evidence/rest_chains.py): a seal's head there is a finding."""
    unplaced: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{REST chain name: {chain_hash: primary key}}``: rows of a chain no row of which holds
    ``chain_seq`` that no walk placed (after a replaced row): their positions are unknown."""
    unproven_rows: list[tuple[str, str]] = field(default_factory=list)
    """(check, item) of rows a limitation names as proven by nothing: export marks them NOT
    PROVEN as it marks what findings name."""
    link_items: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    """``{chain name: {chain_seq: {item}}}`` of every chain (``log file <id>``, ``attachment
    <id>``, a REST row's label such as ``users <id>``): what :meth:`unanchored_rows` names."""

    def unanchored_rows(self) -> list[tuple[str, str]]:
        """Return (check, item) of the records after every anchor's head (partly anchored).

        Whoever can write the archive could have appended or rewritten them: an export marks
        them NOT PROVEN. None when nothing anchors the archive (the verdict says it of all).
        """
        if not self.anchored:
            return []
        rows = []
        for name, (_, reach) in self.unanchored_tail().items():
            for seq, items in sorted(self.link_items.get(name, {}).items()):
                if seq > reach:
                    rows += [("unanchored", item) for item in sorted(set(items))]
        return rows

    replaced_runs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """Upserting archives: ``{chain name: [(first, last) chain_seq of each accounted hole]}``
    (the positions between two kept records, the last one named by the record after it)."""
    kept_latest: dict[str, dict[str, int]] = field(default_factory=dict)
    """Upserting archives: ``{chain name: {key: chain_seq of its kept record}}``."""

    def replaced_link(self, name: str, seq: int, head: str) -> bool:
        """Whether the kept record at ``seq + 1`` links to the absent head (``seq``, ``head``)."""
        return self.replaced.get(name, {}).get(seq) == head

    def replaced_head(
        self, name: str, seq: int, head: str, key: str | None, whose: str
    ) -> str | None:
        """Return a note on an absent head (``seq``, ``head``) the upserting target replaced.

        None when it is not accounted for. Accounted for: when the kept record at ``seq + 1``
        links to exactly that hash (its hole excused: the key it names has a later record); a
        position alone, or another hash, is no proof.
        Deeper in an accounted hole (one attachment's records replaced in several runs), when
        the anchor names the head's key (``chain_head_id``) and that key's kept record is later:
        an upserting target keeps no earlier record of it, as it keeps none of the hole's last.
        """
        item = "attachment" if name == chain.FILES else "item (primary key)"
        if self.replaced_link(name, seq, head):
            return (
                f"chain {name}: {whose} (chain_seq {seq}) is a record the target replaced by a "
                f"later record of the same {item} (it keeps one per {item}); the kept "
                f"record at chain_seq {seq + 1} links to it"
            )
        later = self.kept_latest.get(name, {}).get(key, 0) if key else 0
        unplaced = self.unplaced.get(name, {})
        if unplaced and (head in unplaced or (key and (key in unplaced.values() or later > seq))):
            return (
                f"chain {name}: {whose} (chain_seq {seq}) is "
                + ("a row" if head in unplaced else f"replaced by the kept row of {item} {key}")
                + " at a position no walk of the links reaches (no row holds chain_seq): its "
                "position is not checked"
            )
        runs = self.replaced_runs.get(name, ())
        if later > seq and any(first <= seq < last for first, last in runs):
            return (
                f"chain {name}: {whose} (chain_seq {seq}, {item} {key}) lies in a run of "
                f"records the target replaced (it keeps one per {item}): that {item}'s "
                f"kept record is later (chain_seq {later}); the head's own hash is not in the "
                "archive to check"
            )
        return None

    def unanchored_tail(self) -> dict[str, tuple[int, int]]:
        """Return ``{chain name: (records after the furthest anchored head, its chain_seq)}``.

        Records after every anchor's head (an older state or seal, a run that wrote its
        records but not its seal) are consistent, but whoever can write the archive could have
        appended or rewritten them: the archive is then only partly anchored, never intact.
        A chain of the archive no anchor reaches (a state without the attachment chain's head)
        counts whole (its chain_seq: 0).
        """
        tail: dict[str, tuple[int, int]] = {}
        for name in sorted({*self.anchor_reach, *self.links}):
            reach, links = self.anchor_reach.get(name, 0), self.links.get(name)
            beyond = sum(1 for seq in links if seq > reach) if links else 0
            if beyond:
                tail[name] = (beyond, reach)
        return tail

    def off_chain(self, name: str, heads: t.Collection[str]) -> list[str]:
        """Return the items whose latest record is on no chain through ``heads``.

        On a chain through a head: the head, the links before it, and the links after it
        (written after the anchor: said unanchored elsewhere). Another branch (a fork, a chain
        that starts again) is anchored by nothing.
        """
        if name not in self.latest_links:
            return []
        parents, latest = self.latest_links[name]
        on = on_chain(parents, heads)
        return sorted(item for item, link in latest.items() if link not in on)

    def unvouched(self, name: str, heads: t.Collection[str]) -> list[str]:
        """Return the items whose archived bytes only records on no chain through ``heads`` hold.

        A record that is not its item's latest may lie off the chain (a killed run's, written
        after its last STATE): its bytes count only when a record on the chain holds the same
        SHA-256. Otherwise they are anchored by nothing (a record forged onto a fork, placed
        before the item's latest, was verified as the attachment's bytes).
        """
        if name not in self.latest_links:
            return []
        on = on_chain(self.latest_links[name][0], heads)
        held: defaultdict[str, set[str]] = defaultdict(set)
        loose: defaultdict[str, set[str]] = defaultdict(set)
        for link, (item, sha256) in self.archived_links.get(name, {}).items():
            (held if link in on else loose)[item].add(sha256)
        return sorted(item for item, shas in loose.items() if shas - held[item])

    @property
    def intact(self) -> bool:
        """Return True when nothing is missing or altered (see :attr:`status`)."""
        return not self.findings

    @property
    def status(self) -> str:
        """Return ``intact`` (no finding, anchored, raw kept), ``consistent`` or ``FAILED``."""
        if self.findings:
            return "FAILED"
        if self.anchored and not self.unproven and not self.unanchored_tail():
            return "intact"
        return "consistent"

    def add(self, check: str, item: str, detail: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(check, item, detail))

    def to_json(self) -> dict[str, t.Any]:
        """Return the report as JSON-ready data."""
        return {
            "verdict": self.status,
            "verdict_line": self.verdict(),
            "source": self.source,
            "anchored": self.anchored,
            "unproven": self.unproven,
            "slice": self.slice,
            "counts": dict(sorted(self.counts.items())),
            "chains": self.chains,
            "limitations": self.limitations,
            "unproven_columns": self.unproven_columns,
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }

    def text(self) -> str:
        """Return the human-readable report, verdict last."""
        c = self.counts
        lines = [
            f"Archive: {self.source}",
            f"  log files: {c['log_files']} in the manifest; raw kept and hashing to their "
            f"SHA-256: {c['raw_verified']} of {c['raw_kept']} kept"
            + (f" ({c['raw_not_kept']} not kept)" if c["raw_not_kept"] else ""),
            f"  events of the raw files found in the tables: {c['events_found']} of "
            f"{c['events_in_raw']}; unparsed lines: {c['unparsed_found']} of "
            f"{c['unparsed_in_raw']}",
            f"  rows re-derived from their raw line, every column equal: {c['rows_proven']} of "
            f"{c['rows_checked']}"
            + (f" ({c['rows_untraced']} untraced)" if c["rows_untraced"] else ""),
            f"  attachments archived: {c['attachments_verified']} of {c['attachments_archived']} "
            f"hash to their SHA-256; referenced by kept events: {c['attachments_referenced']}",
        ]
        if c["stored_file_rows"]:
            lines.append(
                f"  knowledge, project and library files archived: {c['stored_files_verified']} "
                f"of {c['stored_files_archived']} hash to their SHA-256"
            )
        for event_type, info in sorted(self.chains.items()):
            span = (
                f"end_time {info['first_end_time']} .. {lines_or_none(info['last_end_time'])}"
                if info["first_end_time"] is not None
                else f"head at chain_seq {info.get('head_seq')}"  # files and REST chains: no time
            )
            lines.append(
                f"  chain {event_type}: {info['links']} links, "
                f"{'unbroken' if info['unbroken'] else 'BROKEN'}, {span}"
                + (
                    f", anchored at chain_seq {info['anchor_seq']}"
                    if info.get("anchor_seq")
                    else ""
                )
            )
        if self.slice is not None:
            lines.append(f"  slice: the rows of {len(self.slice)} log files were verified")
        lines.extend(f"  limitation: {text}" for text in self.limitations)
        if self.unproven_columns:
            lines.append(
                f"  limitation: {len(self.unproven_columns)} columns are not proven (no raw "
                "line, hash, chain or anchor covers them; shown as recorded): "
                + ", ".join(sorted(self.unproven_columns))
            )
        lines.extend(f"  note: {text}" for text in self.notes)
        by_check: Counter[str] = Counter()
        for finding in self.findings:
            by_check[finding.check] += 1
            if by_check[finding.check] <= MAX_LISTED:
                lines.append(f"  FINDING {finding.line()}")
        lines.extend(
            f"  … and {n - MAX_LISTED} more {check} findings (see --report)"
            for check, n in by_check.items()
            if n > MAX_LISTED
        )
        lines.append(self.verdict())
        # Archive text (ids, event types, paths) is in these lines: a line break in it must not
        # start a line of its own (a forged verdict), half an emoji must print.
        return "\n".join(map(one_line, lines))

    def verdict(self) -> str:
        """Return the one-line verdict."""
        c = self.counts
        what = (
            f"{c['log_files']} log files, {c['events_found']} events, "
            f"{c['attachments_verified']} attachments verified"
        )
        if self.findings:
            kinds = ", ".join(
                f"{n} {k}" for k, n in sorted(Counter(f.check for f in self.findings).items())
            )
            return f"VERDICT: FAILED — {len(self.findings)} findings ({kinds})"
        if self.unproven:
            return f"VERDICT: consistent, unproven — {self.unproven} — {what}"
        if not self.anchored:
            return (
                "VERDICT: consistent, unanchored — truncation and full rewrites cannot be ruled "
                f"out (give --state or --seals) — {what}"
            )
        tail = self.unanchored_tail()
        if tail:
            beyond = sum(count for count, _ in tail.values())
            where = "; ".join(
                f"{name}: {count} after chain_seq {seq}"
                if seq
                else f"{name}: {count}, no anchored head"
                for name, (count, seq) in tail.items()
            )
            return (
                f"VERDICT: consistent, partly anchored — {beyond} records after the furthest "
                f"anchored head ({where}) could have been appended or rewritten (give the "
                f"newest --state or --seals) — {what}"
            )
        return f"VERDICT: intact (anchored: {', '.join(self.anchored)}) — {what}"


def on_chain(parents: t.Mapping[str, str], heads: t.Collection[str]) -> set[str]:
    """Return the links of the chains through ``heads``: before them and after them.

    ``parents`` maps each link (chain_hash) to the one before it (chain_previous).
    """
    before: set[str] = set()
    for head in heads:
        link = head
        while link in parents and link not in before:
            before.add(link)
            link = parents[link]
    leads: dict[str, bool] = dict.fromkeys(heads, True)
    for start in parents:
        path: list[str] = []
        link = start
        while link in parents and link not in leads and link not in path:
            path.append(link)
            link = parents[link]
        found = leads.get(link, False)
        leads.update(dict.fromkeys(path, found))
    return before | {link for link, found in leads.items() if found and link in parents}


def lines_or_none(value: t.Any) -> str:
    """Return a value for display."""
    return "-" if value is None else str(value)


# --------------------------------------------------------------------------- anchors


class AnchorError(Exception):
    """The anchor given cannot be read (one readable line)."""


@dataclass
class Anchor:
    """Chain heads kept outside the archive: the tap's state (or a seal)."""

    source: str
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    """event type -> (chain_seq, chain_head) of the log_files chain."""
    files_head: tuple[int, str] | None = None
    """(chain_seq, chain_head) of the attachment chain, once the tap keeps one."""
    files_head_id: str | None = None
    """The attachment id of the head's record (``chain_head_id``), when the anchor names it."""
    pending_files: set[str] = field(default_factory=set)
    """Attachment ids the state still retries (not final yet, legitimately)."""
    workspace_id: str | None = None
    """The workspace the state was written for (``bookmarks.log_files.workspace_id``)."""
    bookmarks: dict[str, str] = field(default_factory=dict)
    """event type -> the bookmark (``replication_key_value``) kept beside its head."""
    rest_heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    """REST stream -> (chain_seq, chain_head) of its chain (logfiles/rest_chain.py)."""
    rest_head_keys: dict[str, str] = field(default_factory=dict)
    """REST stream -> the primary key of its head row (``chain_head_key``), when named."""
    selected: dict[str, frozenset[str]] = field(default_factory=dict)
    """stream -> the columns the last run that wrote records of it selected
    (``bookmarks.log_files.selected_columns``; none in a state of a tap version before it)."""


def read_state(path: str | Path) -> Anchor:
    """Read the chain heads from a state file (raises AnchorError with one readable line).

    Bounded: only a regular file is read, a large one line by line (evidence/state_file.py).
    """
    where = f"--state {path}"
    try:
        state = state_file.state_value(path)
    except state_file.StateFileError as exc:
        msg = f"{where}: cannot read ({exc})"
        raise AnchorError(msg) from None
    if state is None:
        msg = (
            f"{where}: no state in it (give the last STATE message of the tap's output, a "
            "state JSON, or the output of `meltano state get`)"
        )
        raise AnchorError(msg)
    return anchor_from_state(state, f"state {Path(path).name}")


def anchor_from_state(state: t.Mapping[str, t.Any], source: str) -> Anchor:
    """Return the chain heads of a state value (``{"bookmarks": …}``)."""
    bookmarks = state.get("bookmarks") if isinstance(state.get("bookmarks"), dict) else {}
    anchor = Anchor(source)
    manifest = bookmarks.get("log_files") if isinstance(bookmarks, dict) else None
    partitions = manifest.get("partitions", []) if isinstance(manifest, dict) else []
    written_for = manifest.get("workspace_id") if isinstance(manifest, dict) else None
    anchor.workspace_id = None if written_for is None else str(written_for)
    selected = manifest.get("selected_columns") if isinstance(manifest, dict) else None
    for stream, columns in (selected or {}).items() if isinstance(selected, dict) else ():
        if isinstance(columns, list):
            anchor.selected[str(stream)] = frozenset(map(str, columns))
    for partition in partitions if isinstance(partitions, list) else []:
        if not isinstance(partition, dict):
            continue
        context = partition.get("context") or {}
        event_type = context.get("event_type") if isinstance(context, dict) else None
        head, seq = partition.get(chain.HEAD_KEY), partition.get(chain.SEQ_KEY)
        if isinstance(event_type, str) and isinstance(head, str) and seq is not None:
            if event_type in anchor.heads:  # the tap keeps one partition per event type
                msg = f"{source}: two chain heads for {event_type} (two partitions of it)"
                raise AnchorError(msg)
            anchor.heads[event_type] = (_anchor_seq(seq, source, event_type), head)
            bookmark = partition.get("replication_key_value")
            if isinstance(bookmark, str):
                anchor.bookmarks[event_type] = bookmark
    files = bookmarks.get("files") if isinstance(bookmarks, dict) else None
    if isinstance(files, dict):
        head, seq = files.get(chain.HEAD_KEY), files.get(chain.SEQ_KEY)
        if isinstance(head, str) and seq is not None:
            anchor.files_head = (_anchor_seq(seq, source, chain.FILES), head)
            head_id = files.get(chain.HEAD_ID_KEY)
            anchor.files_head_id = head_id if isinstance(head_id, str) and head_id else None
        pending = files.get("pending_attachments") or []
        if not isinstance(pending, list):
            msg = f"{source}: files pending_attachments is not a list ({pending!r:.40})"
            raise AnchorError(msg)
        for entry in pending:
            if isinstance(entry, dict) and entry.get("id"):
                anchor.pending_files.add(str(entry["id"]))
    for name in rest_chain.KEYS:
        rest = bookmarks.get(name) if isinstance(bookmarks, dict) else None
        if isinstance(rest, dict):
            head, seq = rest.get(chain.HEAD_KEY), rest.get(chain.SEQ_KEY)
            if isinstance(head, str) and seq is not None:
                anchor.rest_heads[name] = (_anchor_seq(seq, source, name), head)
                key = rest.get(rest_chain.HEAD_KEY_KEY)
                if isinstance(key, str) and key:
                    anchor.rest_head_keys[name] = key
    if not anchor.heads and anchor.files_head is None and not anchor.rest_heads:
        msg = f"{source}: no chain head in it (a state of a tap version before the chain?)"
        raise AnchorError(msg)
    return anchor


def _anchor_seq(value: t.Any, source: str, name: str) -> int:
    """Return a state's chain_seq (a positive integer; AnchorError otherwise)."""
    seq = chain.whole_number(value)
    if seq is None or seq < 1:
        msg = f"{source}: chain {name}: chain_seq {value!r:.40} is not a positive integer"
        raise AnchorError(msg)
    return seq


# --------------------------------------------------------------------------- comparison


def _replaced(value: t.Any, pattern: re.Pattern[str]) -> t.Any:
    """Return a JSON value with what ``pattern`` finds in its strings (keys too) as U+FFFD."""
    if isinstance(value, str):
        return pattern.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {_replaced(k, pattern): _replaced(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, pattern) for v in value]
    return value


def replace_nul(value: t.Any) -> t.Any:
    """Return a JSON value with each NUL of its strings replaced by U+FFFD."""
    return _replaced(value, _NUL)


def as_postgres_stores(value: t.Any) -> t.Any:
    """Return a JSON value as a PostgreSQL archive holds it: NUL and lone surrogates U+FFFD."""
    return _replaced(value, _NOT_STORABLE)


def _normal(value: t.Any) -> t.Any:
    """Return a value as JSON would give it back (1.0 and 1 alike, Decimal as a number)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, datetime):
        return chain.canonical_time(value)
    return value


def _decimal(value: Decimal) -> int | float | Decimal:
    """Return a NUMERIC value as the number JSON gives: an int, or a float that holds it.

    A float only when its shortest form is the value, else the Decimal: as a float,
    ``1234.0000000000000000001`` would equal 1234, which no reader of the column sees.
    """
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    return number if Decimal(repr(number)) == value else value


def _equal(first: t.Any, second: t.Any) -> bool:
    """Whether two JSON values are equal, a bool never equal to a number (``True`` is not 1).

    Numbers compare by value (1, 1.0 and Decimal 1 alike: targets differ in how they keep
    them); Python's ``==`` alone takes ``True`` for 1 and ``False`` for 0, nested ones too.
    Values that ``==`` and serialise alike (orjson, in C) are equal; others are walked.
    """
    if first != second:
        return False
    try:
        if orjson.dumps(first) == orjson.dumps(second):
            return True
    except TypeError:  # a Decimal, an integer beyond 64 bits, ...: walk it
        pass
    return _walk_equal(first, second)


def _walk_equal(first: t.Any, second: t.Any) -> bool:
    """Compare two values that ``==`` node by node, a bool only equal to a bool."""
    kind = type(first)
    if kind is dict:
        return (
            type(second) is dict
            and len(first) == len(second)
            and all(
                key in second and _walk_equal(value, second[key]) for key, value in first.items()
            )
        )
    if kind is list:
        return (
            type(second) is list
            and len(first) == len(second)
            and all(_walk_equal(a, b) for a, b in zip(first, second, strict=True))
        )
    if kind is bool or type(second) is bool:
        return kind is type(second) and first == second
    return bool(first == second)


def _canonical(value: t.Any) -> str:
    """Return a value as canonical JSON (key order and 1.0/1 do not matter)."""
    return json.dumps(
        _normal(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )


def _as_iso(canonical: str | None) -> str | None:
    """Return a canonical UTC time (``…Z``) the way to_iso writes it (``…+00:00``)."""
    return None if canonical is None else canonical.removesuffix("Z") + "+00:00"


def _digest(value: t.Any) -> str:
    """Return the SHA-256 of a value's canonical JSON (kept instead of the value)."""
    return hashlib.sha256(_canonical(value).encode("utf-8", "surrogatepass")).hexdigest()


def _column_value(stream: str, column: str, value: t.Any, expected: t.Any) -> t.Any:
    """Return a stored value the way its derivation is written (times, JSON kept as text)."""
    if column in TIME_COLUMNS.get(stream, ()):
        return chain.canonical_time(value) if value is not None else None
    if (
        isinstance(value, str)
        and not isinstance(value, JsonString)
        and isinstance(expected, (dict, list))
    ):
        try:  # JSON kept as text: a key twice in one object is no value (a finding)
            return _normal(strict_json(value))
        except ValueError:
            return value
    return _normal(value)


class Comparer:
    """Compare a stored row with its derivation, column by column."""

    def __init__(self, nul_replaced: bool, report: Report) -> None:
        """Compare exactly, or with NUL and lone surrogates stored as U+FFFD (PostgreSQL)."""
        self.nul_replaced = nul_replaced
        self.report = report

    def differences(
        self, stream: str, row: Record, expected: Record, skip: t.Collection[str] = ()
    ) -> list[str]:
        """Return the columns whose stored value differs from the derived one."""
        if not skip and _equal(row, expected):
            return []
        differ = []
        replaced: set[str] = set()
        for column in {*row, *expected}:
            if column in skip or column.startswith("_sdc_"):
                continue
            want = expected.get(column)
            have = row.get(column)
            if _equal(have, want):
                continue
            want_n = _column_value(stream, column, want, None)
            have_n = _column_value(stream, column, have, want)
            if _equal(have_n, want_n):
                continue
            if (
                column == "attachment_ids"
                and stream == "messages"
                and _equal(have_n, _normal(_listed_attachment_ids(expected)))
            ):
                continue  # written before the files a content names counted (records.py)
            if self.nul_replaced and _equal(as_postgres_stores(want_n), have_n):
                if replace_nul(want_n) != want_n:
                    replaced.add("events_nul_replaced")
                if _replaced(want_n, _LONE_SURROGATE) != want_n:
                    replaced.add("rows_surrogate_replaced")
                continue
            differ.append(column)
        if not differ:
            for count in replaced:
                self.report.counts[count] += 1
        return sorted(differ)


def _listed_attachment_ids(expected: Record) -> list[str] | None:
    """Return the ``attachment_ids`` an older tap derived (``message.files`` only), if any."""
    event = expected.get("event")
    message = event.get("message") if isinstance(event, dict) else None
    if not isinstance(message, dict):
        return None
    return attachment_ids(message, content_named=False)


# --------------------------------------------------------------------------- spill


def _sql(value: str | None) -> str | bytes | None:
    r"""Return a text as SQLite can hold it: a text with a lone surrogate as its bytes.

    SQLite holds UTF-8 text, and half an emoji (``\ud83d``, which JSON can carry) has none:
    such a text is kept as a BLOB of its ``surrogatepass`` bytes, the same for a value and a
    lookup, so that it compares equal to itself and to nothing else.
    """
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
    return value


def _unsql(value: str | bytes) -> str:
    """Return the text :func:`_sql` kept."""
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else str(value)


class Spill:
    """A temporary SQLite file: raw parts, attachment parts, conversation facts.

    Texts go in and out through :func:`_sql` and :func:`_unsql` (any text, lone surrogates too).
    """

    def __init__(self) -> None:
        """Create the file (deleted by :meth:`close`)."""
        self._dir = tempfile.TemporaryDirectory(prefix="chatgpt-compliance-verify-")
        self.db = sqlite3.connect(str(Path(self._dir.name) / "verify.sqlite"))
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE parts (kind TEXT, owner TEXT, idx INTEGER, digest BLOB, data BLOB,
                                meta TEXT, PRIMARY KEY (kind, owner, idx));
            CREATE TABLE facts (cid TEXT, title TEXT, event_at TEXT, created TEXT);
            CREATE TABLE untraced (stream TEXT, key TEXT, digest BLOB,
                                   PRIMARY KEY (stream, key));
            CREATE TABLE event_keys (key TEXT, file TEXT);
            CREATE TABLE absent (stream TEXT, col TEXT, item TEXT);
            """
        )

    def add_part(self, kind: str, owner: str, index: int, data: bytes, meta: str = "{}") -> bool:
        """Keep a part and its metadata (JSON text).

        Return False when a part with the same index has other bytes or other metadata.
        """
        digest = hashlib.sha256(data + b"\n" + meta.encode("utf-8", "surrogatepass")).digest()
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO parts VALUES (?, ?, ?, ?, ?, ?)",
            (kind, _sql(owner), index, digest, data, _sql(meta)),
        )
        if cursor.rowcount:
            return True
        (kept,) = self.db.execute(
            "SELECT digest FROM parts WHERE kind = ? AND owner = ? AND idx = ?",
            (kind, _sql(owner), index),
        ).fetchone()
        return bytes(kept) == digest

    def parts(self, kind: str, owner: str) -> dict[int, bytes]:
        """Return the parts of one owner by index."""
        return {
            int(index): bytes(data)
            for index, data in self.db.execute(
                "SELECT idx, data FROM parts WHERE kind = ? AND owner = ?", (kind, _sql(owner))
            )
        }

    def part_meta(self, kind: str, owner: str) -> dict[int, tuple[int, dict[str, t.Any]]]:
        """Return the size and metadata of one owner's parts by index (:meth:`add_part`)."""
        return {
            int(index): (int(size), json.loads(_unsql(meta)))
            for index, size, meta in self.db.execute(
                "SELECT idx, length(data), meta FROM parts WHERE kind = ? AND owner = ?",
                (kind, _sql(owner)),
            )
        }

    def owners(self, kind: str) -> dict[str, int]:
        """Return the owners with parts of a kind, and how many parts each has."""
        return {
            _unsql(owner): int(count)
            for owner, count in self.db.execute(
                "SELECT owner, COUNT(*) FROM parts WHERE kind = ? GROUP BY owner", (kind,)
            )
        }

    def add_facts(self, rows: list[tuple[str, str | None, str | None, str | None]]) -> None:
        """Keep what message events say of their conversations."""
        self.db.executemany(
            "INSERT INTO facts VALUES (?, ?, ?, ?)", (tuple(map(_sql, row)) for row in rows)
        )

    def index_facts(self) -> None:
        """Index the facts by conversation."""
        self.db.execute("CREATE INDEX IF NOT EXISTS facts_cid ON facts (cid)")

    def has_title(self, cid: str, title: str, event_at: str | None, any_time: bool = False) -> bool:
        """Return whether an event of the conversation carried this title at this time."""
        row = self.db.execute(
            "SELECT 1 FROM facts WHERE cid = ? AND title = ? AND (event_at IS ? OR ?) LIMIT 1",
            (_sql(cid), _sql(title), _sql(event_at), any_time),
        ).fetchone()
        return row is not None

    def has_title_at(self, cid: str, event_at: str | None) -> bool:
        """Return whether an event of the conversation carried a title at this time."""
        row = self.db.execute(
            "SELECT 1 FROM facts WHERE cid = ? AND title IS NOT NULL AND event_at IS ? LIMIT 1",
            (_sql(cid), _sql(event_at)),
        ).fetchone()
        return row is not None

    def add_absent(self, stream: str, column: str, item: str) -> None:
        """Keep a row's column that its derivation gives a value and the row does not hold."""
        self.db.execute("INSERT INTO absent VALUES (?, ?, ?)", (stream, column, _sql(item)))

    def absent(self) -> dict[tuple[str, str], int]:
        """Return ``{(stream, column): rows}`` kept by :meth:`add_absent`."""
        return {
            (str(stream), str(column)): int(count)
            for stream, column, count in self.db.execute(
                "SELECT stream, col, COUNT(*) FROM absent GROUP BY stream, col ORDER BY 1, 2"
            )
        }

    def absent_items(self, stream: str, column: str) -> t.Iterator[str]:
        """Yield the rows (items) that lack a column (:meth:`add_absent`), in order."""
        for (item,) in self.db.execute(
            "SELECT item FROM absent WHERE stream = ? AND col = ? ORDER BY rowid", (stream, column)
        ):
            yield _unsql(item)

    def has_created(self, cid: str, created: str | None) -> bool:
        """Return whether an event of the conversation said it was created then."""
        row = self.db.execute(
            "SELECT 1 FROM facts WHERE cid = ? AND created = ? LIMIT 1", (_sql(cid), _sql(created))
        ).fetchone()
        return row is not None

    def untraced_conflict(self, stream: str, key: str, row: Record) -> bool:
        """Keep an untraced row's digest; return True when another row had the key."""
        digest = hashlib.sha256(_canonical(row).encode("utf-8", "surrogatepass")).digest()
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO untraced VALUES (?, ?, ?)", (stream, _sql(key), digest)
        )
        if cursor.rowcount:
            return False
        (kept,) = self.db.execute(
            "SELECT digest FROM untraced WHERE stream = ? AND key = ?", (stream, _sql(key))
        ).fetchone()
        return bytes(kept) != digest

    def add_keys(self, file_id: str, keys: t.Iterable[str]) -> None:
        """Keep the keys of the events a log file keeps (its own repeats dropped)."""
        self.db.executemany(
            "INSERT INTO event_keys VALUES (?, ?)", ((_sql(k), _sql(file_id)) for k in keys)
        )

    def repeated_elsewhere(self) -> dict[str, int]:
        """Return, per log file, how many of its kept events another log file has a key of."""
        self.db.execute("CREATE INDEX IF NOT EXISTS event_keys_key ON event_keys (key, file)")
        return {
            _unsql(file): int(count)
            for file, count in self.db.execute(
                "SELECT k.file, COUNT(*) FROM event_keys k WHERE EXISTS (SELECT 1 FROM "
                "event_keys o WHERE o.key = k.key AND o.file != k.file) GROUP BY k.file"
            )
        }

    def close(self) -> None:
        """Delete the file."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        self._dir.cleanup()


# --------------------------------------------------------------------------- derivation


class _Store:
    """A plain dict standing in for the run's conversation map (records.ConversationFold)."""

    def __init__(self) -> None:
        self.seen: dict[str, ConversationSeen] = {}

    def get_many(self, keys: t.Iterable[str]) -> dict[str, ConversationSeen]:
        return {key: self.seen[key] for key in keys if key in self.seen}

    def set_many(self, items: t.Mapping[str, ConversationSeen]) -> None:
        self.seen.update(items)


@dataclass
class Derived:
    """What the rows of one log file must be, derived from its raw bytes."""

    file_id: str
    traceable: bool
    """The raw bytes were kept and verified: the rows below are what they must be."""
    why: str = ""
    """Why not traceable."""
    messages: dict[str, Record] = field(default_factory=dict)
    events: dict[tuple[str, str], Record] = field(default_factory=dict)
    unparsed: dict[int, Record] = field(default_factory=dict)
    conversations: dict[str, Record] = field(default_factory=dict)
    latest_created: dict[str, str | None] = field(default_factory=dict)
    """Conversation id -> created_at of its latest event in the file (to_iso)."""
    conversation_events: dict[str, set[str]] = field(default_factory=dict)
    """Conversation id -> the keys of its message events in the file (as the fold sees them)."""
    refs: dict[str, list[tuple[t.Any, ...]]] = field(default_factory=dict)
    """Attachment id -> the REF_COLUMNS values of each message event that references it."""
    unmatched: dict[str, set[t.Any]] = field(default_factory=dict)
    line_count: int = 0
    blank_lines: int = 0
    event_total: int = 0
    unparsed_total: int = 0
    tallies: dict[str, int] = field(default_factory=dict)
    """The file's event counts as the tap makes them with a fresh run memory (this file
    alone): ``kept``, ``duplicates``, ``without_id``, ``clashes``, ``foreign``."""


def _row_key(stream: str, row: Record) -> t.Any:
    if stream == "messages":
        return str(row.get("event_id"))
    if stream == "events":
        return (str(row.get("event_id")), str(row.get("type")))
    if stream == "unparsed_lines":
        value = row.get("line_number")
        return int(value) if isinstance(value, (int, float, Decimal)) else str(value)
    if stream == "conversations":
        return str(row.get("id"))
    return str(row.get("id"))


def _is_json(value: t.Any) -> bool:
    """Whether a text column holds JSON text (any value: a detail served as a list, say)."""
    if not isinstance(value, str):
        return False
    try:
        strict_json(value)
    except ValueError:
        return False
    return True


def _event_obj(value: t.Any) -> t.Any:
    """Return a JSON column as an object (some targets keep it as text; a key twice: text)."""
    if isinstance(value, str) and not isinstance(value, JsonString):
        try:
            return strict_json(value)
        except ValueError:
            return value
    return value


# --------------------------------------------------------------------------- verifier


class _Groups:
    """Contiguous runs of rows with the same log_file_id, one run at a time."""

    def __init__(
        self, rows: t.Iterator[Record], place: t.Callable[[Record], str | None] | None = None
    ) -> None:
        """Group ``rows``; ``place``: the log file of a row without the column (deselected)."""
        self._rows = rows
        self._place = place
        self._next: Record | None = None
        self._done = False
        self._advance()

    def _file(self, row: Record) -> t.Any:
        if "log_file_id" in row or self._place is None:
            return row.get("log_file_id")
        return self._place(row)

    def _advance(self) -> None:
        try:
            self._next = next(self._rows)
        except StopIteration:
            self._next, self._done = None, True

    def peek(self) -> str | None:
        """Return the log_file_id of the next run (None when there is none left)."""
        return None if self._next is None else str(self._file(self._next))

    def take(self) -> list[Record]:
        """Return the next run of rows."""
        if self._next is None:
            return []
        file_id = self._file(self._next)
        group = [self._next]
        self._advance()
        while self._next is not None and self._file(self._next) == file_id:
            group.append(self._next)
            self._advance()
        return group


ROW_STREAMS = ("messages", "events", "unparsed_lines", "conversations", "files")
DELETED = "_sdc_deleted_at"
"""target-postgres's soft delete (``activate_version``): the only target metadata verify reads."""
PART_META = ("offset", "size", "sha256", "part_count", "event_type", "workspace_id")
"""What a part says of itself besides its bytes (log_file_parts, file_parts, ...)."""


class Verifier:
    """One verification of one archive (see the module)."""

    def __init__(
        self,
        archive: Archive,
        anchor: Anchor | t.Sequence[Anchor] | None = None,
        log_file_ids: t.Collection[str] | None = None,
    ) -> None:
        """Verify ``archive`` against ``anchor`` (one or several), the rows of ``log_file_ids``.

        The manifest, its chains and the anchors are always verified whole; each anchor is
        checked on its own (a contradiction of any is a finding), the furthest head counts.
        """
        self.archive = archive
        self.anchors: list[Anchor] = (
            [] if anchor is None else [anchor] if isinstance(anchor, Anchor) else list(anchor)
        )
        self.only = None if log_file_ids is None else {str(i) for i in log_file_ids}
        self.report = Report(archive.description)
        if self.only is not None:
            self.report.slice = sorted(self.only)
        self.compare = Comparer(archive.nul_replaced, self.report)
        self.spill = Spill()
        self.manifest: dict[str, Record] = {}
        self.order: dict[str, int] = {}
        self.downgraded: set[str] = set()
        self.raw_off_files: set[str] = set()
        self.not_downloaded: dict[str, Record] = {}
        """Manifest records of files the tap could not get (unavailable, expired): gaps."""
        self.copies: defaultdict[str, list[Record]] = defaultdict(list)
        """Further manifest records of a log file that differ from the first one."""
        self.cache: OrderedDict[str, Derived] = OrderedDict()
        self.raw_done: dict[str, tuple[bool, str]] = {}
        self.facts_done: set[str] = set()
        self.keys_done: set[str] = set()
        self.file_refs: list[tuple[str, str, list[str]]] = []
        """(attachment, log file, the message events of the file that reference it as its
        files record says): the file must have kept one of them (see :meth:`_check_missing`)."""
        self.tallied: dict[str, dict[str, int]] = {}
        """Log file id -> its fresh tallies (Derived.tallies), for the run-memory counts."""
        self.missing: dict[tuple[str, str], dict[t.Any, str]] = {}
        self.missing_conversations: dict[tuple[str, str], set[str]] = {}
        """(log file, conversation) without its row -> its message events in that file."""
        self.doubtful: list[tuple[str, str, Record, Record]] = []
        self.referenced: dict[str, str] = {}
        """Attachment id -> a log file whose kept raw event references it."""
        self.attachments: dict[str, dict[str, t.Any]] = {}
        self.attachment_rows: dict[tuple[str, str], str] = {}
        self.untraced_by_file: Counter[str] = Counter()
        self.unknown_file_rows: Counter[tuple[str, str]] = Counter()
        self.organizations: set[str] = set()
        self.streams_present = archive.streams()
        self.file_chain: list[Record] = []
        self.conversation_ids: set[str] = set()
        self.links: dict[str, dict[int, set[str]]] = {}
        """{chain name: {chain_seq: {chain_hash}}} of the archive, for the seals check."""
        self.rest = RestChains(self.report, archive.upserts, self.links)
        self.owners: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(dict)
        """{(kind, object id): {owner id: {stream}}}: the canvas's user, the configuration's
        GPT or project, as each row says (see :meth:`_check_owners`)."""
        self.named_files: defaultdict[str, dict[str, str]] = defaultdict(dict)
        """{STORED_FILES stream: {file id: the chained row naming it}} (:data:`FILES_OF`)."""
        self.stored_ids: dict[str, set[str]] = {}
        """{STORED_FILES stream: the file ids it has a row of}."""
        self.misread_times: set[str] = set()
        """Items of the times already reported by :meth:`_misread_time`."""
        self.seen_columns: defaultdict[str, set[str]] = defaultdict(set)
        """The columns any row of a stream holds (a key of a JSONL line, a table's column)."""
        self.input_rows: dict[str, Counter[str]] = {}
        """{stream: {column of :data:`ALWAYS_WRITTEN`: rows the tap writes it in}} (first pass)."""
        self.valued_inputs: defaultdict[str, set[str]] = defaultdict(set)
        """{stream: the columns of :data:`ALWAYS_WRITTEN` some row holds a value of}."""

    # -- reading

    def _on_error(self, where: str, what: str) -> None:
        self.report.add("read", where, what)

    def rows(self, stream: str) -> t.Iterator[Record]:
        """Stream a stream's rows; what cannot be read is a finding.

        Notes the columns the rows hold (:attr:`seen_columns`): a column no row holds was not
        archived (see :meth:`_check_absent_columns`).
        """
        seen = self.seen_columns[stream]
        times = STRICT_TIMES.get(stream, ())
        inputs = ALWAYS_WRITTEN.get(stream, ())
        needed: Counter[str] = Counter()
        count = 0
        for row in self.archive.iter_records(stream, self._on_error):
            count += 1
            if len(row) > len(seen) or not seen.issuperset(row):
                seen.update(row)
            for column in times:
                if _misread_time(row.get(column)):
                    self._misread_time(stream, row, column)
            if inputs:
                self._note_inputs(stream, row, inputs, needed)
            yield row
        self.report.stream_rows.setdefault(stream, count)  # the first pass read every row
        self.input_rows.setdefault(stream, needed)

    def _note_inputs(
        self, stream: str, row: Record, inputs: tuple[str, ...], needed: Counter[str]
    ) -> None:
        """Note which columns of :data:`ALWAYS_WRITTEN` a row needs (the tap writes) and holds."""
        valued = self.valued_inputs[stream]
        for column in inputs:
            if row.get(column) is not None:
                valued.add(column)
            elif column == rest_chain.PREVIOUS_KEY:
                previous = row.get("chain_previous")
                if previous is not None and previous != chain.GENESIS:
                    needed[column] += 1
            elif column != "chain_previous" or chained(row):
                needed[column] += 1

    def _misread_time(self, stream: str, row: Record, column: str) -> None:
        """Report a time stored in a form readers may place at another instant (once)."""
        ident = row.get("event_id") if stream in ("messages", "events") else row.get("id")
        item = f"{stream} {'event ' if stream in ('messages', 'events') else ''}{ident}"
        if stream in sources.ORDERED_BY_LOG_FILE and row.get("log_file_id") is not None:
            item += f" of log file {row.get('log_file_id')}"
        item += f" column {column}"
        if item in self.misread_times:
            return
        self.misread_times.add(item)
        self.report.add(
            "column",
            item,
            f"{row.get(column)!r:.60} is no RFC 3339 time with its offset to the microsecond "
            "(the tap writes …+00:00): a reader may place it at another instant (a time "
            "without offset is local time to most, a fraction of a microsecond is rounded or "
            "kept by some): altered",
        )

    # -- the whole run

    def run(self) -> Report:
        """Run every check; return the report (``report.links``: the archive's chain links)."""
        try:
            for where, what in self.archive.problems:  # rows verify reads may not be others'
                self.report.add("read", where, what)
            self._read_manifest()
            self._check_chains()
            self._check_anchor()
            self._read_parts("log", "log_file_parts", "log_file_id", "raw")
            for owner, count in self.spill.owners("log").items():
                if owner not in self.manifest:  # parts of a removed manifest record
                    self.unknown_file_rows[("log_file_parts", owner)] += count
            self._read_parts("file", "file_parts", "file_id", "attachment")
            for stream in STORED_FILES:
                self._read_parts(stream, f"{stream}_parts", "file_id", "attachment")
            self._check_raw_modes()
            self._check_manifest_facts()
            self._check_count_types()
            self._match_rows()
            self._check_run_counts()
            self._check_records_of_referenced()
            self._check_missing()
            self._check_conversations_run_view()
            self._check_attachments()
            self._check_stored_files()
            self._check_files_chain()
            self._check_positions()
            self._check_directory()
            self._check_workspace_objects()
            self._check_owners()
            self._check_named_files()
            self.rest.check(self.anchors)
            self._directory_is_unanchored()
            self._check_absent_columns()
            self._check_selected_by_state()
            self._name_unproven_columns()
            self._summarise()
        finally:
            self.spill.close()
        self.report.links = self.links
        self.report.upserts = self.archive.upserts
        for stream in KNOWN_STREAMS - self.streams_present:
            self.report.stream_rows[stream] = 0
        return self.report

    # -- manifest and chains

    def _read_manifest(self) -> None:
        report = self.report
        for record in self.rows("log_files"):
            file_id = str(record.get("id"))
            if record.get(DELETED) is not None:
                self._marked_deleted("log_files", file_id, record)
            kept = self.manifest.get(file_id)
            if kept is None:
                self.manifest[file_id] = record
                self.order[file_id] = len(self.order)
                continue
            if record != kept:
                self.copies[file_id].append(record)  # its counts are checked with the raw file
            for name in MANIFEST_COPY_FIELDS:
                if not _same(kept.get(name), record.get(name), name == "end_time"):
                    if name == "raw_content" and "none" in (kept.get(name), record.get(name)):
                        self.downgraded.add(file_id)
                    report.add(
                        "manifest",
                        f"log file {file_id}",
                        f"two manifest records disagree on {name} "
                        f"({kept.get(name)!r} and {record.get(name)!r})",
                    )
                    break
        report.counts["log_files"] = len(self.manifest)
        report.workspaces = sorted({str(r.get("workspace_id")) for r in self.manifest.values()})
        if not self.manifest:
            report.add(
                "read",
                "log_files",
                "the manifest is empty or unreadable: nothing can be proven",
            )

    def _check_chains(self) -> None:
        report = self.report
        by_type: dict[str, list[Record]] = defaultdict(list)
        unchained = 0
        for record in self.manifest.values():
            if not record.get("chain_hash"):
                unchained += 1
                continue
            by_type[str(record.get("event_type"))].append(record)
        if unchained:
            report.add(
                "chain",
                f"{unchained} log files",
                "manifest records without a chain_hash: they are not proven part of the chain",
            )
        unhashable = self._log_chain_not_archived()
        for event_type, records in by_type.items():
            by_hash = {str(r["chain_hash"]): r for r in records}
            successors: Counter[str] = Counter()
            broken = False
            geneses = 0
            for record in sorted(records, key=lambda r: _int(r.get("chain_seq"))):
                file_id = record["id"]
                previous = str(record.get("chain_previous") or "")
                fields = chain.FIELD_SETS[chain.LOG_FILES].get(_version(record), ())
                try:  # a chained field deselected: not hashed, its links are checked below
                    unhashed = bool(unhashable.intersection(fields))
                    expected = None if unhashed else chain.chain_hash(previous, record)
                except chain.ChainVersionError as exc:
                    broken = True
                    report.add("chain", f"log file {file_id} ({event_type})", str(exc))
                    expected = None
                if expected is not None and expected != record["chain_hash"]:
                    broken = True
                    report.add(
                        "chain",
                        f"log file {file_id} ({event_type}, chain_seq {record.get('chain_seq')})",
                        "manifest record altered: its fields do not hash to its chain_hash",
                    )
                successors[previous] += 1
                if previous == chain.GENESIS:
                    geneses += 1
                    if _int(record.get("chain_seq")) != 1:
                        broken = True
                        report.add("chain", f"log file {file_id}", "genesis link not chain_seq 1")
                    continue
                before = by_hash.get(previous)
                if before is None:
                    broken = True
                    report.add(
                        "chain",
                        f"log file before {file_id} ({event_type}, chain_seq "
                        f"{_int(record.get('chain_seq')) - 1})",
                        f"manifest record missing: no record has chain_hash {previous}",
                    )
                    continue
                if _int(before.get("chain_seq")) + 1 != _int(record.get("chain_seq")):
                    broken = True
                    report.add("chain", f"log file {file_id}", "chain_seq does not follow its link")
                if 0 < _version(record) < _version(before):
                    # The tap only ever moves to a newer field set: an older one after a newer
                    # one leaves raw_content, raw_part_count, raw_storage_uri unchained.
                    broken = True
                    report.add(
                        "chain",
                        f"log file {file_id}",
                        f"chain_version {_version(record)} after chain_version "
                        f"{_version(before)} (log file {before['id']}): a record moved to an older "
                        "field set",
                    )
                if (chain.canonical_time(before.get("end_time")) or "") > (
                    chain.canonical_time(record.get("end_time")) or ""
                ):
                    broken = True
                    report.add(
                        "chain",
                        f"log file {file_id}",
                        f"end_time goes backwards after log file {before['id']}",
                    )
            for previous, count in successors.items():
                if count > 1 and previous == chain.GENESIS:
                    broken = True
                    report.add(
                        "chain",
                        f"{event_type} chain",
                        f"it starts {count} times (chain_seq 1 {count} times): a state reset or "
                        "log files made up; an anchor holds the head of one chain at most, the "
                        "others are anchored by nothing",
                    )
                elif count > 1:
                    broken = True
                    report.add(
                        "chain",
                        f"{event_type} link {previous[:16]}…",
                        f"{count} different manifest records follow the same link",
                    )
            times = sorted(
                x for x in (chain.canonical_time(r.get("end_time")) for r in records) if x
            )
            last = max(records, key=lambda r: _int(r.get("chain_seq")))
            links = self.links.setdefault(f"{chain.LOG_FILES}/{event_type}", {})
            items = report.link_items.setdefault(f"{chain.LOG_FILES}/{event_type}", {})
            for record in records:
                links.setdefault(_int(record.get("chain_seq")), set()).add(
                    str(record["chain_hash"])
                )
                items.setdefault(_int(record.get("chain_seq")), []).append(
                    f"log file {record['id']}"
                )
            report.chains[event_type] = {
                "links": len(records),
                "unbroken": not broken,
                "starts": geneses,
                "first_end_time": times[0] if times else None,
                "last_end_time": times[-1] if times else None,
                "head_seq": _int(last.get("chain_seq")),
                "head": last.get("chain_hash"),
            }

    def _check_anchor(self) -> None:
        for anchor in self.anchors:
            self._check_state_anchor(anchor)

    def _check_state_anchor(self, anchor: Anchor) -> None:
        report = self.report
        workspaces = set(report.workspaces)
        if anchor.workspace_id is not None and workspaces and workspaces != {anchor.workspace_id}:
            report.add(
                "anchor",
                anchor.source,
                f"written for workspace {anchor.workspace_id!r}; the archive's log files are of "
                f"{', '.join(map(repr, sorted(workspaces)))}: the state of another workspace",
            )
        by_type: dict[str, dict[int, Record]] = defaultdict(dict)
        named = {event_type: head for event_type, (_, head) in anchor.heads.items()}
        for record in self.manifest.values():
            if record.get("chain_hash"):
                event_type = str(record.get("event_type"))
                at_seq, seq = by_type[event_type], _int(record.get("chain_seq"))
                # Two records at one chain_seq (a fork, a second chain: chain findings): the
                # one the anchor names, if any, is the one compared.
                if seq not in at_seq or record.get("chain_hash") == named.get(event_type):
                    at_seq[seq] = record
        for event_type, (seq, head) in sorted(anchor.heads.items()):
            records = by_type.get(event_type, {})
            if not records:
                report.add(
                    "anchor",
                    f"chain {event_type}",
                    f"the archive has no {event_type} log file; {anchor.source} says the chain "
                    f"reached chain_seq {seq}: a whole event type was removed",
                )
                continue
            at = records.get(seq)
            top = max(records)
            if at is None:
                report.add(
                    "anchor",
                    f"chain {event_type}",
                    f"the archive's chain ends at chain_seq {top}; {anchor.source} says it "
                    f"reached chain_seq {seq} (head {head[:16]}…): the archive is shorter than "
                    "its anchor (log files removed from its end)",
                )
                continue
            if at.get("chain_hash") != head:
                report.add(
                    "anchor",
                    f"chain {event_type}",
                    f"chain_seq {seq} is log file {at.get('id')} with chain_hash "
                    f"{str(at.get('chain_hash'))[:16]}…; {anchor.source} says {head[:16]}…: "
                    "the archive was rewritten",
                )
                continue
            bookmark = chain.canonical_time(anchor.bookmarks.get(event_type))
            head_time = chain.canonical_time(at.get("end_time"))
            if bookmark and head_time and bookmark > head_time:
                # The tap's bookmark is the end_time of the file its head is (or earlier, for a
                # file ahead of the API's clock): never beyond it.
                report.add(
                    "anchor",
                    f"chain {event_type}",
                    f"{anchor.source}'s bookmark {bookmark} is beyond the end_time {head_time} of "
                    f"its chain head (log file {at.get('id')}): the tap never writes that; a run "
                    "from it would skip the log files in between (the state was altered)",
                )
                continue
            info = report.chains.setdefault(event_type, {})
            info["anchor_seq"] = max(seq, info.get("anchor_seq") or 0)
            report.reached(f"{chain.LOG_FILES}/{event_type}", seq)
            if top > seq:
                report.notes.append(
                    f"chain {event_type}: {top - seq} log files after the anchored head "
                    f"(chain_seq {seq}) are not anchored by {anchor.source} (an older state?)"
                )
        for event_type in sorted(set(by_type) - set(anchor.heads)):
            report.add(
                "anchor",
                f"chain {event_type}",
                f"{anchor.source} has no head for {event_type}: these log files are not anchored",
            )
        report.anchored.append(anchor.source)

    # -- parts

    def _read_parts(self, kind: str, stream: str, owner_key: str, check: str) -> None:
        report = self.report
        for part in self.rows(stream):
            owner = str(part.get(owner_key))
            index = part.get("part_index")
            if part.get(DELETED) is not None:
                self._marked_deleted(stream, f"{index!r} of {owner}", part)
            if isinstance(index, float) and index.is_integer():
                index = int(index)
            if isinstance(index, Decimal) and index == index.to_integral_value():
                index = int(index)
            if type(index) is not int:
                report.add(check, f"{stream} of {owner}", f"part_index {index!r} is not an integer")
                continue
            try:
                data = base64.b64decode(part.get("content_base64") or "", validate=True)
            except (binascii.Error, TypeError, ValueError) as exc:
                report.add(check, f"{stream} {index} of {owner}", f"not base64 ({exc})")
                continue
            meta = {k: _normal(part[k]) for k in PART_META if part.get(k) is not None}
            if not self.spill.add_part(kind, owner, index, data, _canonical(meta)):
                report.add(
                    check,
                    f"{stream} {index} of {owner}",
                    "two parts with this index and different bytes or metadata",
                )

    def _check_raw_modes(self) -> None:
        """Find manifest records downgraded to raw_content none."""
        report = self.report
        with_parts = set(self.spill.owners("log"))
        by_type: dict[str, list[Record]] = defaultdict(list)
        for record in self.manifest.values():
            by_type[str(record.get("event_type"))].append(record)
        kept_anywhere = any(
            r.get("raw_content") in ("storage", "inline") for r in self.manifest.values()
        )
        for records in by_type.values():
            seen_kept = False
            for record in sorted(records, key=lambda r: (_int(r.get("chain_seq")), str(r["id"]))):
                file_id = str(record["id"])
                if record.get("raw_content") in ("storage", "inline"):
                    seen_kept = True
                    continue
                if not_downloaded(record) and file_id not in with_parts:
                    self.not_downloaded[file_id] = record
                    continue
                why = None
                if file_id in with_parts:
                    why = "log_file_parts rows of it are in the archive"
                elif seen_kept:
                    why = "an earlier log file of its chain kept its raw bytes"
                elif file_id in self.downgraded:
                    why = "another copy of its manifest record kept them"
                if why:
                    self.downgraded.add(file_id)
                    report.add(
                        "raw",
                        f"log file {file_id}",
                        f"manifest says raw_content {record.get('raw_content')!r} but {why}: "
                        "downgraded, its raw bytes removed",
                    )
                else:
                    self.raw_off_files.add(file_id)
        self._name_gaps(by_type)
        if self.manifest and not kept_anywhere and not with_parts:
            self.report.unproven = (
                "the archive kept no raw bytes (file_content: none): values cannot be traced "
                "to OpenAI's bytes"
            )
        elif self.raw_off_files:
            # Not intact either: one raw-kept file (added at a chain's end, say) must not make
            # an archive whose other files kept nothing look proven.
            self.report.unproven = (
                f"{len(self.raw_off_files)} of {len(self.manifest)} log files kept no raw bytes "
                "(file_content: none): their values cannot be traced to OpenAI's bytes"
            )
        if self.raw_off_files:
            report.limitations.append(
                f"{len(self.raw_off_files)} log files were archived without their raw bytes "
                "(file_content: none): their rows are checked against their own event only, "
                "not against OpenAI's bytes"
            )
            # Their messages are proven by nothing: an export marks each NOT PROVEN.
            report.unproven_rows.extend(
                ("raw", f"log file {file_id}") for file_id in sorted(self.raw_off_files)
            )

    def _name_gaps(self, by_type: t.Mapping[str, list[Record]]) -> None:
        """Name each log file the tap recorded without its bytes: a gap, never intact.

        Such a record (``download_status`` unavailable or expired) chains null
        ``verified_sha256`` and ``bytes_downloaded``: the tap listed the file and could not
        get it. Its events, between the end_time of the file before it in its chain and its
        own, are in no row: a limitation naming the file and the window, and the verdict
        ``consistent, unproven``.
        """
        if not self.not_downloaded:
            return
        for event_type, records in sorted(by_type.items()):
            before: Record | None = None
            for record in sorted(records, key=lambda r: (_int(r.get("chain_seq")), str(r["id"]))):
                file_id = str(record["id"])
                if file_id in self.not_downloaded:
                    start = before.get("end_time") if before is not None else None
                    status = record.get("download_status") or "not downloaded"
                    reason = str(record.get("download_error") or "no reason recorded")[:300]
                    self.report.limitations.append(
                        f"log file {file_id} ({event_type}) is a gap: the tap listed it but "
                        f"could not download it ({status}: {reason}); "
                        f"its events, after {start or 'the start of its chain'} up to its "
                        f"end_time {record.get('end_time')}, are not archived"
                    )
                    self.report.unproven_rows.append(("gap", f"log file {file_id}"))
                before = record
        if self.report.unproven is None:
            self.report.unproven = (
                f"{len(self.not_downloaded)} log files were listed but never downloaded "
                "(unavailable or expired): their events are not archived"
            )

    # -- raw files

    def _raw_bytes(self, record: Record) -> tuple[bytes | None, str]:
        file_id = str(record["id"])
        mode = record.get("raw_content")
        report = self.report
        if mode == "storage":
            uri = str(record.get("raw_storage_uri") or "")
            sha = str(record.get("provider_sha256") or record.get("verified_sha256") or "")
            if not uri.endswith(f"/sha256/{sha[:2]}/{sha}"):
                report.add(
                    "raw",
                    f"log file {file_id}",
                    f"raw_storage_uri {uri!r} is not the content address of its SHA-256: "
                    "not opened",
                )
                return None, "raw file not at its content address"
            try:
                data = (
                    self.archive.read_object(uri, record.get("bytes_downloaded")) if uri else None
                )
            except sources.RefusedURI as exc:
                report.add("raw", f"log file {file_id}", str(exc))
                return None, "raw file not opened"
            except Exception as exc:  # any storage backend error
                report.add(
                    "raw", f"log file {file_id}", f"raw file unreadable ({type(exc).__name__})"
                )
                return None, "raw file unreadable"
            if data is None:
                report.add("raw", f"log file {file_id}", f"raw file missing: no object at {uri!r}")
                return None, "raw file missing"
            return data, ""
        count = _int(record.get("raw_part_count"))
        parts = self.spill.parts("log", file_id)
        missing = [i for i in range(count) if i not in parts]
        extra = sorted(i for i in parts if not 0 <= i < count)
        if missing or (not count and _int(record.get("bytes_downloaded")) != 0):
            report.add(
                "raw",
                f"log file {file_id}",
                f"raw file incomplete: log_file_parts {missing[:10]} of {count} missing",
            )
            return None, "raw parts missing"
        if extra:
            report.add("raw", f"log file {file_id}", f"log_file_parts {extra[:10]} beyond {count}")
        return b"".join(parts[i] for i in range(count)), ""

    def _check_part_meta(
        self, check: str, kind: str, owner: str, expected: dict[str, t.Any]
    ) -> None:
        """Check what each part of bytes that hash right says of itself besides its bytes.

        ``offset`` and ``size`` by the bytes, the rest (``part_count``, the whole file's
        ``sha256``, ...) by its record (``expected``). A column a part does not have (not
        selected) is not checked; one that is wrong is a finding: a reader placing the parts
        by offset would not get the bytes verify hashed. (Bytes that do not hash right are
        one finding already.)
        """
        stream = {"log": "log_file_parts", "file": "file_parts"}.get(kind, f"{kind}_parts")
        offset = 0
        for index, (size, said) in sorted(self.spill.part_meta(kind, owner).items()):
            wants = {**expected, "offset": offset, "size": size}
            offset += size
            for column, value in sorted(said.items()):
                want = wants.get(column)
                if want is not None and not _same(value, _normal(want)):
                    self.report.add(
                        check,
                        f"{stream} {index} of {owner}",
                        f"column {column} says {value!r}, its "
                        f"{'bytes give' if column in ('offset', 'size') else 'record says'} "
                        f"{want!r}",
                    )

    def derived(self, file_id: str) -> Derived:
        """Return the derivation of a log file's rows (raw checks the first time)."""
        cached = self.cache.get(file_id)
        if cached is not None:
            self.cache.move_to_end(file_id)
            return cached
        derived = self._derive(file_id)
        self.cache[file_id] = derived
        if len(self.cache) > CACHED_FILES:
            self.cache.popitem(last=False)
        return derived

    def _derive(self, file_id: str) -> Derived:
        report = self.report
        record = self.manifest.get(file_id)
        if record is None:
            return Derived(file_id, False, "its manifest record is missing")
        first = file_id not in self.raw_done
        if not first:
            ok, why = self.raw_done[file_id]
            if not ok:
                return Derived(file_id, False, why)
        if file_id in self.not_downloaded:
            return Derived(file_id, False, "the tap could not download it (a named gap)")
        if record.get("raw_content") not in ("storage", "inline"):
            self.raw_done[file_id] = (False, "its raw bytes were not kept")
            if first:
                report.counts["raw_not_kept"] += 1
            return Derived(file_id, False, "its raw bytes were not kept")
        if first:
            report.counts["raw_kept"] += 1
        data, why = self._raw_bytes(record) if first else self._raw_bytes_quiet(record)
        if data is None:
            self.raw_done[file_id] = (False, why)
            return Derived(file_id, False, why)
        if first:
            expected = str(record.get("provider_sha256") or "").lower()
            found = hashlib.sha256(data).hexdigest()
            size = record.get("bytes_downloaded")
            if (
                found != expected
                or found != str(record.get("verified_sha256") or found).lower()
                or (size is not None and _int(size) != len(data))
            ):
                report.add(
                    "raw",
                    f"log file {file_id}",
                    f"raw file altered: {len(data)} bytes hashing to {found}, its manifest "
                    f"record says {expected}"
                    if expected
                    else f"{len(data)} raw bytes hashing to {found}, but its manifest record "
                    "holds no SHA-256 of OpenAI's (the listing gave no file_sha256, or it was "
                    "removed): they cannot be traced to OpenAI's bytes",
                )
                self.raw_done[file_id] = (False, "its raw bytes do not hash right")
                return Derived(file_id, False, "its raw bytes do not hash right")
            report.counts["raw_verified"] += 1
            self.raw_done[file_id] = (True, "")
            if record.get("raw_content") == "inline":
                self._check_part_meta(
                    "raw",
                    "log",
                    file_id,
                    {
                        "part_count": record.get("raw_part_count"),
                        "sha256": expected,
                        "event_type": record.get("event_type"),
                        "workspace_id": record.get("workspace_id"),
                    },
                )
        derived = self._parse(record, data)
        if first:
            for copy in (record, *self.copies.get(file_id, ())):
                self._check_manifest_counts(copy, derived)
        return derived

    def _raw_bytes_quiet(self, record: Record) -> tuple[bytes | None, str]:
        """Read raw bytes already checked once (no finding again)."""
        if record.get("raw_content") == "storage":
            try:
                uri = str(record.get("raw_storage_uri"))
                return self.archive.read_object(uri, record.get("bytes_downloaded")), ""
            except sources.RefusedURI:  # named by the first check
                return None, "raw file not opened"
        parts = self.spill.parts("log", str(record["id"]))
        count = _int(record.get("raw_part_count"))
        return b"".join(parts[i] for i in range(count)), ""

    def _parse(self, record: Record, data: bytes) -> Derived:
        file_id = str(record["id"])
        file_type = str(record.get("event_type"))
        workspace_id = str(record.get("workspace_id"))
        parser = LineParser(file_type)
        parser.feed(data)
        parsed = parser.finish({})
        derived = Derived(file_id, True)
        derived.line_count = parsed.line_count
        derived.blank_lines = parsed.blank_lines
        derived.event_total = len(parsed.messages) + len(parsed.others) + parsed.duplicates
        derived.tallies = {
            "kept": len(parsed.messages) + len(parsed.others),
            "duplicates": parsed.duplicates,
            "without_id": parsed.without_id,
            "clashes": parsed.clashes,
            "foreign": parsed.foreign,
        }
        if file_id not in self.keys_done:
            self.keys_done.add(file_id)
            self.spill.add_keys(
                file_id, (derived_key(e) for e in (*parsed.messages, *parsed.others))
            )
        derived.unparsed_total = len(parsed.unparsed)
        times = [event_times(event) for event in parsed.messages]
        for event, key, at in zip(parsed.messages, parsed.message_keys, times, strict=True):
            built = message_record(event, workspace_id, file_id, key, at)
            derived.messages[str(built["event_id"])] = built
            conversation = event.get("conversation")
            if type(conversation) is dict and conversation.get("id"):
                derived.conversation_events.setdefault(str(conversation["id"]), set()).add(
                    str(built["event_id"])
                )
        for event, key in zip(parsed.others, parsed.other_keys, strict=True):
            event_type = event.get("type")
            if type(event_type) is not str or not event_type:
                event_type = file_type
            built = event_record(event, workspace_id, None, file_id, event_type, key)
            derived.events[(str(built["event_id"]), event_type)] = built
        for line in parsed.unparsed:
            derived.unparsed[line.line_number] = {
                "log_file_id": file_id,
                "line_number": line.line_number,
                "workspace_id": workspace_id,
                "event_type": file_type,
                "reason": line.reason,
                "error": line.error,
                "byte_count": len(line.raw),
                "sha256": hashlib.sha256(line.raw).hexdigest(),
                "content_base64": base64.b64encode(line.raw).decode("ascii"),
            }
        if parsed.messages:
            fold = ConversationFold(file_id)
            fold.add(parsed.messages, times)
            store = t.cast("SpillMap[str, ConversationSeen]", _Store())
            for built in fold.records(store, workspace_id):
                derived.conversations[str(built["id"])] = built
            latest: dict[str, tuple[str, int, t.Any]] = {}
            facts = []
            for order, event in enumerate(parsed.messages):
                conversation = event.get("conversation")
                if type(conversation) is not dict or not conversation.get("id"):
                    continue
                cid = str(conversation["id"])
                sort_key = str(event.get("timestamp") or "")
                created = to_iso(conversation.get("created_at"))
                kept = latest.get(cid)
                if kept is None or (sort_key, order) >= (kept[0], kept[1]):
                    latest[cid] = (sort_key, order, created)
                title = conversation.get("title")
                facts.append(
                    (
                        cid,
                        title if isinstance(title, str) else None,
                        times[order][2],
                        created,
                    )
                )
            derived.latest_created = {cid: value[2] for cid, value in latest.items()}
            if file_id not in self.facts_done:
                self.facts_done.add(file_id)
                self.spill.add_facts(facts)
            for ref, user_ids in _ref_users(parsed.messages):
                derived.refs.setdefault(ref.file_id, []).extend(
                    (
                        ref.conversation_id,
                        ref.message_id,
                        user_id,
                        ref.name,
                        ref.mime_type,
                        ref.event_id,
                    )
                    for user_id in user_ids
                )
                self.referenced.setdefault(ref.file_id, file_id)
        derived.unmatched = {
            "messages": set(derived.messages),
            "events": set(derived.events),
            "unparsed_lines": set(derived.unparsed),
            "conversations": set(derived.conversations),
        }
        return derived

    def _check_manifest_counts(self, record: Record, derived: Derived) -> None:
        """Check the manifest's per-file counts against what its raw file holds.

        Counts of the file alone are exact; those that depend on the run's memory of events
        (which events of other files it already kept) are checked after the walk
        (:meth:`_check_run_counts`).
        """
        file_id = str(record["id"])
        self.tallied[file_id] = derived.tallies
        for column, value in (
            ("line_count", derived.line_count),
            ("blank_lines", derived.blank_lines),
            ("unparsed_lines", derived.unparsed_total),
            ("foreign_events", derived.tallies["foreign"]),
        ):
            if (
                column in record
                and record.get(column) is not None
                and (type(record[column]) is bool or _int(record[column]) != value)
            ):
                self.report.add(
                    "column",
                    f"log_files {file_id} column {column}",
                    f"says {record[column]!r}, its raw file gives {value!r}",
                )
        kept = record.get("event_count")
        dropped = record.get("duplicates_dropped")
        dropped = 0 if dropped is None else dropped
        if kept is not None and (
            bool in (type(kept), type(dropped)) or _int(kept) + _int(dropped) != derived.event_total
        ):
            self.report.add(
                "column",
                f"log_files {file_id} column event_count",
                f"event_count {kept} + duplicates_dropped {dropped} is not the "
                f"{derived.event_total} events of its raw file",
            )

    def _check_count_types(self) -> None:
        """Check that every manifest count is a whole number from 0 (``2.0`` is 2), or null.

        The counts are checked against the raw file as integers; ``"2"``, ``" 2"`` and ``2.5``
        were read as 2 (``int()``) and passed, while a reader summing the column gets another
        number or none.
        """
        for record in (*self.manifest.values(), *chain_copies(self.copies)):
            for column in MANIFEST_COUNTS:
                value = record.get(column)
                if value is None or type(value) is bool:  # a bool: a finding of its own check
                    continue
                count = chain.whole_number(_normal(value))
                if count is None or count < 0:
                    self.report.add(
                        "column",
                        f"log_files {record.get('id')} column {column}",
                        f"says {value!r}: a count is a whole number from 0",
                    )

    def _check_manifest_facts(self) -> None:
        """Check the manifest columns that follow from its chained ones.

        ``scope`` from ``event_type``; ``file_size`` (the listing's) against
        ``bytes_downloaded`` (chained, and the size of the bytes that hash to OpenAI's SHA-256)
        for a record of chain_version 1 or 2; from version 3 on, ``file_size`` is chained
        itself: the listing may have said another size of the bytes that hash to its SHA-256.
        """
        for record in (
            r for records in ([*self.manifest.values()], *self.copies.values()) for r in records
        ):
            file_id = str(record.get("id"))
            self._check_download_status(file_id, record)
            scope = record.get("scope")
            if scope is not None and scope != event_scope(str(record.get("event_type"))):
                self.report.add(
                    "column",
                    f"log_files {file_id} column scope",
                    f"says {scope!r}, its event type {record.get('event_type')!r} is "
                    f"{event_scope(str(record.get('event_type')))}-scoped",
                )
            size, downloaded = record.get("file_size"), record.get("bytes_downloaded")
            if (
                _version(record) < 3  # from version 3 on, the listing's value is chained
                and size is not None
                and downloaded is not None
                and (type(size) is bool or not _same(size, downloaded))
            ):
                self.report.add(
                    "column",
                    f"log_files {file_id} column file_size",
                    f"says {size!r}, the file OpenAI served (hashing to its SHA-256) has "
                    f"{downloaded!r} bytes",
                )

    def _check_download_status(self, file_id: str, record: Record) -> None:
        """Check ``download_status`` against the chained fields that decide it.

        ``archived`` for a file whose bytes the record chains; ``unavailable`` or ``expired``
        for one it chains null bytes of (:func:`not_downloaded`). A gap shown as archived, or
        an archived file shown as a gap, is a finding.
        """
        status = record.get("download_status")
        if status is None:  # written before the column existed, or deselected
            return
        gap = not_downloaded(record)
        if (status in GAP_STATUSES) if gap else (status == ARCHIVED_STATUS):
            return
        self.report.add(
            "column",
            f"log_files {file_id} column download_status",
            f"says {status!r}, its chained fields say "
            + ("it was never downloaded" if gap else "its bytes were downloaded and verified"),
        )

    def _check_run_counts(self) -> None:
        """Check the counts that depend on the run's memory of events, within their bounds.

        The tap drops an event as a true duplicate when its run already kept one with the same
        key, type and bytes (logfile.LineParser), and counts a clash when the key was kept
        with other bytes; that memory lasts one run, and which log files a run read is on no
        chain. Each event of the file whose key another log file also holds can therefore
        have moved one count: ``event_count`` and ``events_without_id`` down by at most that
        many, ``duplicates_dropped`` up by at most that many, ``id_clashes`` up or down by at
        most that many (a clash the file alone has is dropped as a duplicate when the run kept
        both contents before), from what the file alone gives; an event whose key no other
        file holds moves nothing, so a file without such events must have exactly the counts
        of the file alone. Skipped for a slice (other files' keys are not read).
        """
        if self.only is not None:
            return
        repeated = self.spill.repeated_elsewhere()
        for file_id, tallies in sorted(self.tallied.items()):
            spread = repeated.get(file_id, 0)
            bounds = {
                "event_count": (tallies["kept"] - spread, tallies["kept"]),
                "duplicates_dropped": (tallies["duplicates"], tallies["duplicates"] + spread),
                "events_without_id": (tallies["without_id"] - spread, tallies["without_id"]),
                "id_clashes": (tallies["clashes"] - spread, tallies["clashes"] + spread),
            }
            for record in (self.manifest[file_id], *self.copies.get(file_id, ())):
                for column, (low, high) in bounds.items():
                    value = record.get(column)
                    if value is None or (type(value) is not bool and low <= _int(value) <= high):
                        continue
                    said = f"{max(low, 0)}..{high}" if low != high else f"{low}"
                    self.report.add(
                        "column",
                        f"log_files {file_id} column {column}",
                        f"says {value!r}; its raw file gives {said} ({spread} of its events "
                        "have a key another log file holds: each can move one count)",
                    )

    # -- rows

    def _match_rows(self) -> None:
        """Walk the row streams in manifest order, matching each run of rows to its file."""
        groups = {
            stream: _Groups(self.rows(stream), self._placer(stream))
            for stream in ROW_STREAMS
            if stream in self.streams_present
        }
        order = self.order
        for file_id in sorted(self.manifest, key=order.__getitem__):
            position = order[file_id]
            wanted = self.only is None or file_id in self.only
            derived = self.derived(file_id) if wanted else None
            for stream, runs in groups.items():
                while (next_id := runs.peek()) is not None:
                    if next_id == file_id:
                        self._check_group(stream, file_id, runs.take(), derived)
                    elif order.get(next_id, -1) < position:
                        self._check_group(stream, next_id, runs.take(), None)
                    else:
                        break
            if derived is not None:
                self._finish_file(derived)
        for stream, runs in groups.items():
            while (next_id := runs.peek()) is not None:
                self._check_group(stream, next_id, runs.take(), None)
        # Raw checks of the files no row pointed to.
        for file_id in self.manifest:
            if file_id not in self.raw_done and (self.only is None or file_id in self.only):
                self._finish_file(self.derived(file_id))

    def _placer(self, stream: str) -> t.Callable[[Record], str | None] | None:
        """Return the log file of a ``messages``/``events`` row without ``log_file_id``.

        The column deselected in the catalog: a row is grouped with the first log file (in
        manifest order) one of whose raw lines has its event key; a key no raw line has stays
        without a log file (a finding). The row still lacks the column: absent from every row,
        it is not archived (a limitation, and the verdict is unproven: RENDERED_COLUMNS); from
        some rows only, a finding. The keys of every file are then held in memory.
        """
        if stream not in ("messages", "events"):
            return None
        files: dict[str, str] = {}

        def place(row: Record) -> str | None:
            if not files:
                for file_id in sorted(self.manifest, key=self.order.__getitem__):
                    derived = self.derived(file_id)
                    table = derived.messages if stream == "messages" else derived.events
                    for key in table:
                        files.setdefault(repr(key), file_id)
                files.setdefault("", "")
            event_id = str(row.get("event_id"))
            event_id = _clash_base(event_id) or event_id
            key = event_id if stream == "messages" else (event_id, str(row.get("type")))
            return files.get(repr(key))

        return place

    def _finish_file(self, derived: Derived) -> None:
        if not derived.traceable:
            return
        for stream, keys in derived.unmatched.items():
            if keys and (stream, derived.file_id) not in self.missing:
                digests = self.missing.setdefault((stream, derived.file_id), {})
                for key in keys:
                    digests[key] = self._digest_of(stream, derived, key)
                    if stream == "conversations":
                        self.missing_conversations[(derived.file_id, key)] = (
                            derived.conversation_events.get(key, set())
                        )
            keys.clear()
        self.report.counts["events_in_raw"] += len(derived.messages) + len(derived.events)
        self.report.counts["unparsed_in_raw"] += len(derived.unparsed)

    def _digest_of(self, stream: str, derived: Derived, key: t.Any) -> str:
        if stream not in ("messages", "events"):
            return ""
        table = derived.messages if stream == "messages" else derived.events
        event = table[key]["event"]
        # PostgreSQL holds NUL and lone surrogates as U+FFFD: so does the earlier file's row.
        return _digest(as_postgres_stores(event) if self.archive.nul_replaced else event)

    def _check_group(
        self, stream: str, file_id: str, rows: list[Record], derived: Derived | None
    ) -> None:
        if self.only is not None and file_id not in self.only and file_id in self.manifest:
            # Rows of a file the manifest lacks are always checked: their log_file_id (null,
            # empty, forged) cannot place them outside a slice.
            if stream == "files":  # the attachment chain is always verified whole
                for row in rows:
                    self._file_chained(row, file_id)
            return
        for row in rows:
            if row.get(DELETED) is not None:
                self._marked_deleted(stream, f"{_row_key(stream, row)} of log file {file_id}", row)
        if file_id not in self.manifest and self._placed_nowhere(stream, rows):
            derived = Derived("(none)", False, "no log_file_id, and no kept raw line holds it")
            self.report.unproven_rows.extend(
                ("raw", f"{stream} event {_row_key(stream, row)} (no log_file_id)") for row in rows
            )
        elif file_id not in self.manifest:
            self.unknown_file_rows[(stream, file_id)] += len(rows)
            derived = Derived(file_id, False, "its manifest record is missing")
        elif derived is None:
            derived = self.derived(file_id)
        if stream == "files":
            for row in rows:
                self._check_file_row(row, derived)
            return
        check = getattr(self, f"_check_{stream}")
        counts = self.report.counts
        for row in rows:
            counts["rows_checked"] += 1
            if derived.traceable:
                check(row, derived)
            else:
                counts["rows_untraced"] += 1
                self.untraced_by_file[file_id] += 1
                self._check_untraced(stream, row, derived)

    def _placed_nowhere(self, stream: str, rows: list[Record]) -> bool:
        """Whether ``rows`` lack ``log_file_id`` (deselected) and may be of a raw-less log file.

        Such a row is placed by the kept raw line holding its event (:meth:`_placer`); with
        log files kept without raw bytes (file_content: none) one no raw line holds is not
        orphaned but untraced: checked against its own event, named as proven by nothing.
        """
        return (
            stream in ("messages", "events")
            and bool(self.raw_off_files)
            and all("log_file_id" not in row for row in rows)
        )

    def _rest_row_marks(
        self, stream: str, key: str, row: Record, workspaces: t.Collection[str]
    ) -> None:
        """Report a REST or stored-file row marked deleted, or of another workspace.

        The tap never deletes a row (no stream emits ACTIVATE_VERSION): ``_sdc_deleted_at``
        set hides the row from a reader that honours the target's soft deletes. A stored
        file's ``workspace_id`` is on no chain: it must be the manifest's (one workspace).
        """
        if row.get(DELETED) is not None:
            self._marked_deleted(stream, key, row)
        if (
            stream in STORED_FILES
            and len(workspaces) == 1
            and str(row.get("workspace_id")) not in workspaces
        ):
            self.report.add(
                "column",
                f"{stream} {key} column workspace_id",
                f"{row.get('workspace_id')!r:.80} is not the archive's workspace",
            )

    def _marked_deleted(self, stream: str, item: str, row: Record) -> None:
        self.report.add(
            "column",
            f"{stream} {item} column {DELETED}",
            f"marked deleted ({row.get(DELETED)!r}): a reader that honours the target's soft "
            "deletes does not see it; the tap never deletes a row",
        )

    def _matched(self, stream: str, derived: Derived, key: t.Any) -> None:
        derived.unmatched[stream].discard(key)
        pending = self.missing.get((stream, derived.file_id))
        if pending:
            pending.pop(key, None)

    def _column_findings(
        self, stream: str, item: str, differ: list[str], row: Record | None = None
    ) -> bool:
        """Report each differing column; one the row does not hold at all is decided at the end.

        A column absent from the row (no key; no column in the table) where its derivation has
        a value: a finding if another row of the stream holds the column, else a column not
        archived (deselected in the catalog: :meth:`_check_absent_columns`). Return whether a
        finding was reported now (False: every difference, if any, is such a column).
        """
        reported = False
        for column in differ:
            if row is not None and column not in row:
                self.spill.add_absent(stream, column, item)
                continue
            reported = True
            self.report.add(
                "column",
                f"{stream} {item} column {column}",
                "differs from its raw line (as the tap derives it)",
            )
        return reported

    def _check_messages(self, row: Record, derived: Derived) -> None:
        key = str(row.get("event_id"))
        item = f"event {key} of log file {derived.file_id}"
        expected = derived.messages.get(key)
        if expected is None and (base := _clash_base(key)) in derived.messages:
            plain = derived.messages[base]
            if key == _run_clash_key(plain):  # the run's memory made it a clash
                file_id, workspace_id = derived.file_id, plain["workspace_id"]
                expected = message_record(plain["event"], workspace_id, file_id, key)
                key = base  # the line it is
        if expected is None:
            self._added("messages", item)
            return
        self._matched("messages", derived, key)
        differ = self.compare.differences("messages", row, expected)
        if not self._column_findings("messages", item, differ, row):
            self.report.counts["rows_proven"] += 1
            self.report.counts["events_found"] += 1

    def _check_events(self, row: Record, derived: Derived) -> None:
        key = (str(row.get("event_id")), str(row.get("type")))
        item = f"event {key[0]} ({key[1]}) of log file {derived.file_id}"
        expected = derived.events.get(key)
        if expected is None and (base := (_clash_base(key[0]), key[1])) in derived.events:
            plain = derived.events[base]
            if key[0] == _run_clash_key(plain):  # the run's memory made it a clash
                file_id, event_type = derived.file_id, key[1]
                expected = event_record(
                    plain["event"], plain["workspace_id"], None, file_id, event_type, key[0]
                )
                key = base  # the line it is
        if expected is None:
            self._added("events", item)
            return
        self._matched("events", derived, key)
        self._organization(row, item)
        differ = self.compare.differences("events", row, expected, skip=("organization_id",))
        if not self._column_findings("events", item, differ, row):
            self.report.counts["rows_proven"] += 1
            self.report.counts["events_found"] += 1

    def _organization(self, row: Record, item: str) -> None:
        """Check an events row's organization_id, the tap's setting (not in the event).

        A row of an organization-scoped log file must say its chained manifest record's
        organization_id; the others are gathered, for :meth:`_check_organizations`.
        """
        org = row.get("organization_id")
        record = self.manifest.get(str(row.get("log_file_id")))
        chained = None if record is None else record.get("organization_id")
        if chained is not None and not _same(org, chained):
            self.report.add(
                "column",
                f"events {item} column organization_id",
                f"says {org!r}; its log file's chained manifest record says {chained!r}",
            )
        elif org is not None:
            self.organizations.add(str(org))

    def _check_organizations(self) -> None:
        """Prove the events' organization_id by the organization-scoped log files' chain.

        The tap writes its organization_id setting into every events row; the manifest record
        of an organization-scoped log file chains it. Without such a file nothing anchors it:
        the column is listed as unproven (a compliance reviewer must not read it as OpenAI's).
        """
        if "events" not in self.streams_present:
            return
        chained = {
            str(r["organization_id"])
            for r in self.manifest.values()
            if r.get("chain_hash") and r.get("organization_id") is not None
        }
        if len(chained) == 1:
            (proven,) = chained
            for org in sorted(self.organizations - chained):
                self.report.add(
                    "column",
                    "events column organization_id",
                    f"rows say {org!r}; the chained manifest records of organization-scoped log "
                    f"files say {proven!r}",
                )
        else:
            self.report.unproven_columns["events.organization_id"] = ORGANIZATION_UNPROVEN
        if len(self.organizations) > 1:
            self.report.add(
                "column",
                "events column organization_id",
                f"{len(self.organizations)} different values in one archive",
            )

    def _check_absent_columns(self) -> None:
        """Decide the columns rows lacked where their derivation gives a value.

        Absent from some rows of a stream only (others hold it): each is a finding (removed
        from those rows). Absent from every row (no key in any line, no column in the table):
        not archived, a column deselected in the catalog: a limitation naming it, and it is
        listed with the columns not proven. The verdict stays as the rest proves it, unless
        the production renders from the column or verify needs it (:data:`RENDERED_COLUMNS`):
        then ``consistent, unproven``.
        """
        report = self.report
        not_archived: dict[str, int] = {}
        for (stream, column), rows in self.spill.absent().items():
            if column in self.seen_columns.get(stream, ()):
                for item in self.spill.absent_items(stream, column):
                    report.add(
                        "column",
                        f"{stream} {item} column {column}",
                        "absent from this row, where its derivation has a value; other rows of "
                        "the stream hold the column (not a column deselected): removed",
                    )
            else:
                not_archived[f"{stream}.{column}"] = rows
        for stream, inputs in sorted(self.input_rows.items()):
            for column, count in sorted(inputs.items()):
                if column not in self.valued_inputs.get(stream, ()):  # null in every row
                    not_archived.setdefault(f"{stream}.{column}", count)
        report.not_archived = not_archived
        if not not_archived:
            return
        report.limitations.append(
            f"{len(not_archived)} columns are in no row of their stream (not archived: "
            "deselected in the catalog?): "
            + ", ".join(
                f"{name} ({rows} rows have a value to hold)"
                for name, rows in sorted(not_archived.items())
            )
            + "; every other column of these rows is verified as usual, these hold no value "
            "to show"
        )
        for name in not_archived:
            report.unproven_columns[name] = NOT_ARCHIVED
        needed = [
            name
            for name in sorted(not_archived)
            if name.split(".", 1)[1] in RENDERED_COLUMNS.get(name.split(".", 1)[0], ())
        ]
        if needed and report.unproven is None:
            report.unproven = (
                f"{', '.join(needed)} not archived (deselected?): what an export renders from "
                "them, and what verify proves by them, is in no row"
            )

    def _check_selected_by_state(self) -> None:
        """Report what a state says its run wrote and the archive holds nothing of.

        A state names the columns selected by the last run that wrote records of each stream
        (:attr:`Anchor.selected`): such a column in no row of its stream was removed from every
        row (not deselected), and such a stream without a row (its table or files gone, a
        stored-file stream with its parts) was removed whole. A state without the entry (a tap
        version before it) leaves a column in no row to the limitation.
        """
        report = self.report
        for anchor in self.anchors:
            for stream, columns in sorted(anchor.selected.items()):
                if stream not in KNOWN_STREAMS:
                    continue  # a stream map's alias: verify reads no such stream
                if stream not in self.streams_present or not report.stream_rows.get(stream):
                    report.add(
                        "missing",
                        f"stream {stream}",
                        f"no row in the archive, but {anchor.source} says a run wrote {stream} "
                        "records (its last STATE names the columns it selected): every row "
                        "removed",
                    )
                    continue
                held = self.seen_columns.get(stream, set())
                nulled = {c for c in columns if f"{stream}.{c}" in report.not_archived}
                for column in sorted((columns - held) | nulled):
                    if f"{stream}.{column}" in report.not_archived or not _from_item(
                        stream, column
                    ):
                        report.add(
                            "column",
                            f"{stream} column {column}",
                            f"in no row of the archive, but {anchor.source} says the last run "
                            f"that wrote {stream} records selected it: removed from every row "
                            "(not deselected)",
                        )

    def _name_unproven_columns(self) -> None:
        """List the columns of the archive's streams that nothing proves (UNPROVEN_COLUMNS)."""
        self._check_organizations()
        for stream, columns in UNPROVEN_COLUMNS.items():
            if stream in self.streams_present:
                for column, why in columns.items():
                    self.report.unproven_columns[f"{stream}.{column}"] = why
        self.report.unproven_columns = dict(sorted(self.report.unproven_columns.items()))

    def _check_unparsed_lines(self, row: Record, derived: Derived) -> None:
        key = _row_key("unparsed_lines", row)
        expected = derived.unparsed.get(key)
        item = f"line {key} of log file {derived.file_id}"
        if expected is None:
            self._added("unparsed_lines", item)
            return
        self._matched("unparsed_lines", derived, key)
        differ = self.compare.differences("unparsed_lines", row, expected)
        if not self._column_findings("unparsed_lines", item, differ, row):
            self.report.counts["rows_proven"] += 1
            self.report.counts["unparsed_found"] += 1

    def _check_conversations(self, row: Record, derived: Derived) -> None:
        key = str(row.get("id"))
        self.conversation_ids.add(key)
        expected = derived.conversations.get(key)
        item = f"{key} of log file {derived.file_id}"
        if expected is None:
            self._added("conversations", item)
            return
        self._matched("conversations", derived, key)
        differ = self.compare.differences("conversations", row, expected)
        run_view = [c for c in differ if c in ("title", "title_seen_at", "created_at")]
        strict = [c for c in differ if c not in run_view]
        if strict:
            self._column_findings("conversations", item, strict, row)
        if run_view:
            # The run's view of the conversation (other files of the run): checked at the end.
            self.doubtful.append(
                (
                    key,
                    derived.file_id,
                    _small(row),
                    {**_small(expected), "latest_created": derived.latest_created.get(key)},
                )
            )
        elif not strict:
            self.report.counts["rows_proven"] += 1

    def _added(self, stream: str, item: str) -> None:
        self.report.add(
            "added",
            f"{stream} {item}",
            "a row that is not a line of its raw file (which hashes to its SHA-256)",
        )

    def _check_untraced(self, stream: str, row: Record, derived: Derived) -> None:
        """Check a row whose raw file is not available against its own event and copies."""
        key = _row_key(stream, row)
        key_text = json.dumps(key) if not isinstance(key, str) else key
        if stream == "conversations":
            key_text = f"{key_text}|{derived.file_id}"
        if self.spill.untraced_conflict(stream, key_text, row):
            self.report.add(
                "duplicate",
                f"{stream} {key_text} of log file {derived.file_id}",
                "two rows with this key and different content",
            )
        event = _event_obj(row.get("event"))
        if stream in ("messages", "events") and isinstance(event, dict):
            event_key = str(row.get("event_id")) if row.get("event_id_derived") else None
            if stream == "messages":
                expected = message_record(
                    event, str(row.get("workspace_id")), derived.file_id, event_key
                )
                skip: tuple[str, ...] = ()
            else:
                event_type = str(row.get("type"))
                expected = event_record(
                    event,
                    str(row.get("workspace_id")),
                    None,
                    derived.file_id,
                    event_type,
                    event_key,
                )
                skip = ("organization_id",)
                self._organization(row, f"event {key_text} of log file {derived.file_id}")
            differ = self.compare.differences(stream, row, expected, skip=skip)
            if differ:
                self._column_findings(
                    stream, f"event {key_text} of log file {derived.file_id}", differ, row
                )

    def _check_file_row(self, row: Record, derived: Derived, chained: bool = False) -> None:
        """Check a ``files`` record: its event columns, its place in its attachment's history.

        ``chained``: the record was kept for the attachment chain already (a slice's).
        """
        report = self.report
        file_id, log_file_id = str(row.get("id")), derived.file_id
        status = row.get("status")
        digest = _canonical(
            {k: row.get(k) for k in ("status", "sha256", "size", "storage_uri", *REF_COLUMNS)}
        )
        kept = self.attachment_rows.get((file_id, log_file_id))
        if status in RETRIED_STATUSES:
            pass  # a try a later run repeats: the record after it may say anything
        elif kept is None:
            self.attachment_rows[(file_id, log_file_id)] = digest
        elif kept != digest:
            before = json.loads(kept)
            detail = "two files records of it for this log file disagree"
            if "archived" in (before.get("status"), status) and before.get("status") != status:
                detail += f" (status {before.get('status')!r} and {status!r}: a downgrade)"
            report.add("attachment", f"attachment {file_id} of log file {log_file_id}", detail)
        if not chained:
            self._file_chained(row, log_file_id)
        info = self.attachments.setdefault(file_id, {"statuses": set(), "archived": {}})
        info["statuses"].add(status)
        if status == "archived":
            _keep_copy(info["archived"].setdefault(str(row.get("sha256")), []), row)
        if derived.traceable:
            candidates = derived.refs.get(file_id)
            if not candidates:
                report.add(
                    "added",
                    f"files {file_id} of log file {log_file_id}",
                    "no message event of its raw file references this attachment",
                )
            else:
                # An archived attachment's mime_type is the one its download answered with.
                loose = {"mime_type"} if status == "archived" else set()
                have = tuple(None if c in loose else _normal(row.get(c)) for c in REF_COLUMNS)
                wanted = [
                    tuple(
                        None if n in loose else _normal(v)
                        for n, v in zip(REF_COLUMNS, c, strict=True)
                    )
                    for c in candidates
                ]
                matching = [
                    str(c[-1])
                    for c, w in zip(candidates, wanted, strict=True)
                    if _equal(list(have), list(w))
                ]
                if matching and not chained and not self.archive.upserts:
                    # (An upserting target keeps an event's row of the file that wrote it last:
                    # its rows do not say which file kept it.)
                    self.file_refs.append((file_id, log_file_id, matching))
                if not matching:
                    first = candidates[0]
                    differ = [
                        c
                        for c, a, b in zip(REF_COLUMNS, have, first, strict=True)
                        if c not in loose and not _equal(a, _normal(b))
                    ]
                    self._column_findings(
                        "files", f"{file_id} of log file {log_file_id}", differ or ["event"], row
                    )

    def _check_records_of_referenced(self) -> None:
        """In a slice, check every files record of an attachment the slice references.

        Its record can be in a log file outside the slice (the file that referenced it first),
        and an export shows an attachment's first archived record, wherever it is: each such
        record is checked as in a whole verification (against the references of its own log
        file, which is read for it; its bytes hashed), not only as a link of the chain (a
        forged record linked after the anchored head is one). What those log files reference
        themselves stays outside the slice.
        """
        if self.only is None or "files" not in self.streams_present:
            return
        wanted = dict(self.referenced)
        for row in self.rows("files"):
            log_file_id = str(row.get("log_file_id"))
            if log_file_id in self.only or log_file_id not in self.manifest:
                continue  # checked with the slice (a file the manifest lacks always is)
            if str(row.get("id")) in wanted:
                self._check_file_row(row, self.derived(log_file_id), chained=True)
        self.referenced = wanted

    def _file_chained(self, row: Record, log_file_id: str) -> None:
        """Keep a files record for the attachment chain (a finding when it should be in it).

        The tap that writes chain version 2 manifest records chains every files record (both
        came in one version): a files record of such a log file without a chain_hash is in no
        chain (added, and an export could show its bytes as the attachment's).
        """
        if row.get("chain_hash"):
            self.file_chain.append(_chained(row))
            return
        record = self.manifest.get(log_file_id)
        if record is not None and _version(record) >= 2:
            self.report.add(
                "chain",
                f"attachment {row.get('id')} of log file {log_file_id}",
                "files record without a chain_hash, although the tap that wrote its log file "
                "chains every files record: it is not proven part of the attachment chain",
            )

    # -- after the walk

    def _check_missing(self) -> None:
        """Report rows missing for lines of verified raw files.

        A true duplicate of an event of an earlier file of the run was dropped by the tap, not
        lost: those are looked for in the other files. A conversation's row is excused only
        when every message of it in the file was such a duplicate (the tap folds the kept
        messages only).
        """
        report = self.report
        wanted: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(dict)
        later: list[tuple[str, str, t.Any]] = []
        excused: set[tuple[str, str]] = set()
        """(log file, message event key) delivered again: kept in an earlier file's row."""
        for (stream, file_id), keys in self.missing.items():
            for key, digest in keys.items():
                if stream in ("messages", "events"):
                    event_id = key if stream == "messages" else key[0]
                    wanted[stream].setdefault(str(event_id), []).append((file_id, digest))
                else:
                    later.append((stream, file_id, key))
        for stream, by_key in wanted.items():
            for row in self.rows(stream):
                event_id = str(row.get("event_id")).split("#", 1)[0]
                entries = by_key.get(event_id)
                if not entries:
                    continue
                found = _digest(_event_obj(row.get("event")))
                by_key[event_id] = [
                    (f, d)
                    for f, d in entries
                    if not (d == found and str(row.get("log_file_id")) != f)
                ]
                if len(by_key[event_id]) < len(entries):
                    if stream == "messages":
                        kept = set(by_key[event_id])
                        excused.update((f, event_id) for f, d in entries if (f, d) not in kept)
                    report.counts["duplicates_in_other_files"] += len(entries) - len(
                        by_key[event_id]
                    )
            for event_id, entries in sorted(by_key.items()):
                for file_id, _ in entries:
                    report.add(
                        "missing",
                        f"{stream} event {event_id} of log file {file_id}",
                        "a line of its raw file has no row",
                    )
        for attachment, file_id, event_ids in self.file_refs:
            if all((file_id, e) in excused for e in event_ids):
                report.add(
                    "added",
                    f"files {attachment} of log file {file_id}",
                    "the message events of its log file that reference this attachment were "
                    "dropped by the tap as duplicates of another file's (no row of this file "
                    "holds them): the tap archives the attachments of the messages it keeps only",
                )
        for stream, file_id, key in later:
            events = self.missing_conversations.get((file_id, key))
            if (
                stream == "conversations"
                and events
                and all((file_id, e) in excused for e in events)
            ):
                continue  # its messages there were all true duplicates of an earlier file's
            if stream == "conversations" and self.archive.upserts and key in self.conversation_ids:
                continue  # an upserting target keeps the conversation's latest row only
            report.add("missing", f"{stream} {key} of log file {file_id}", "no row for it")
        for (stream, file_id), count in sorted(self.unknown_file_rows.items()):
            report.add(
                "manifest",
                f"log file {file_id}",
                f"manifest record missing ({count} {stream} rows point to it)",
            )
        for file_id, count in sorted(self.untraced_by_file.items()):
            if file_id not in self.manifest:
                continue
            _, why = self.raw_done.get(file_id, (False, ""))
            if file_id in self.raw_off_files:
                continue
            if file_id in self.downgraded:
                why = "its raw bytes were removed"
            report.add(
                "untraced",
                f"log file {file_id}",
                f"{count} rows cannot be traced to OpenAI's bytes: {why or 'raw not available'}",
            )

    def _check_conversations_run_view(self) -> None:
        report = self.report
        if not self.doubtful:
            return
        self.spill.index_facts()
        for cid, file_id, row, expected in self.doubtful:
            item = f"{cid} of log file {file_id}"
            bad = self._title_differs(cid, row, expected)
            created = chain.canonical_time(row.get("created_at"))
            if created != chain.canonical_time(expected.get("created_at")) and (
                expected.get("latest_created") is not None
                or (created is not None and not self.spill.has_created(cid, _as_iso(created)))
            ):
                bad.append("created_at")
            if not self._column_findings("conversations", item, sorted(set(bad)), row):
                report.counts["rows_proven"] += 1

    def _title_differs(self, cid: str, row: Record, expected: Record) -> list[str]:
        """Return the title columns of a conversation row its run's view does not account for.

        Both held: the pair must be the file's own or a (title, event time) an event of the
        conversation carried, no older. One of them not held (not archived): the other alone
        is checked the same way; the absent one is named when its derivation has a value.
        """
        title, title_at = row.get("title"), chain.canonical_time(row.get("title_seen_at"))
        want_at = chain.canonical_time(expected.get("title_seen_at"))
        if "title" in row and "title_seen_at" in row:
            proven_title = (
                isinstance(title, str)
                and bool(title)
                and self.spill.has_title(cid, title, _as_iso(title_at))
                and (title_at or "") >= (want_at or "")
            )
            if (title, title_at) != (expected.get("title"), want_at) and not proven_title:
                return ["title", "title_seen_at"]
            return []
        bad = [c for c in ("title", "title_seen_at") if c not in row and expected.get(c)]
        if (
            "title" in row
            and title != expected.get("title")
            and not (
                isinstance(title, str)
                and title
                and self.spill.has_title(cid, title, None, any_time=True)
            )
        ):
            bad.append("title")
        if "title_seen_at" in row and title_at != want_at:
            newer = title_at is not None and title_at >= (want_at or "")
            if not (newer and self.spill.has_title_at(cid, _as_iso(title_at))):
                bad.append("title_seen_at")
        return bad

    def _pending_files(self) -> tuple[str, set[str]] | None:
        """Return the attachments the newest state retries (and its name), None without one.

        The newest state: the one whose attachment chain head is furthest (an older one's
        retry list may name attachments a later run finished).
        """
        if not self.anchors:
            return None
        newest = max(a.files_head[0] if a.files_head else 0 for a in self.anchors)
        chosen = [a for a in self.anchors if (a.files_head[0] if a.files_head else 0) == newest]
        return " and ".join(a.source for a in chosen), set().union(
            *(a.pending_files for a in chosen)
        )

    def _check_attachments(self) -> None:
        report = self.report
        pending_files = self._pending_files()
        has_files = "files" in self.streams_present
        for file_id, log_file_id in sorted(self.referenced.items()):
            report.counts["attachments_referenced"] += 1
            info = self.attachments.get(file_id)
            if info is None:
                if has_files:
                    report.add(
                        "attachment",
                        f"attachment {file_id}",
                        f"referenced by a message of log file {log_file_id}, but no files "
                        "record of it is in the archive",
                    )
                continue
            statuses = info["statuses"]
            if not statuses & FINAL_STATUSES:
                if pending_files is not None and file_id not in pending_files[1]:
                    report.add(
                        "attachment",
                        f"attachment {file_id}",
                        f"no files record with a final status ({sorted(map(str, statuses))}), "
                        f"and {pending_files[0]} does not retry it",
                    )
                else:
                    report.counts["attachments_pending"] += 1
        if not has_files and self.referenced:
            report.limitations.append(
                f"{len(self.referenced)} attachments are referenced by messages, but the archive "
                "has no files stream (not selected?)"
            )
        if report.counts["attachments_pending"]:
            report.notes.append(
                f"{report.counts['attachments_pending']} attachments are still retried by the tap "
                "(no final status yet)"
            )
        known = {*self.attachments, *(str(r.get("id")) for r in self.file_chain)}
        if self.only is None or self.file_chain:  # a slice knows every record by its chain
            self._stray_parts("file", "file_parts", known)
        for file_id, info in sorted(self.attachments.items()):
            if len(info["archived"]) > 1:
                report.add(
                    "attachment",
                    f"attachment {file_id}",
                    f"archived with {len(info['archived'])} different SHA-256 ("
                    + ", ".join(
                        f"{sha[:16]}… in log file {rows[0].get('log_file_id')}"
                        for sha, rows in sorted(info["archived"].items())
                    )
                    + "): one OpenAI file has one content, a record was forged",
                )
            for sha256, rows in info["archived"].items():
                report.counts["attachments_archived"] += 1
                # Every copy that keeps its bytes another way is read: a reader (export) takes
                # the first archived record, and content_base64 is on no chain.
                verified = [self._copy_verified(file_id, sha256, row) for row in rows]
                if all(verified):
                    report.counts["attachments_verified"] += 1

    def _copy_verified(self, file_id: str, sha256: str, row: Record) -> bool:
        """Whether one archived record's bytes are there and hash to its SHA-256 and size."""
        data = self._attachment_bytes(file_id, sha256, row)
        if data is None:
            return False
        if not _bytes_match(self.report, f"attachment {file_id}", data, sha256, row):
            return False
        self._parts_of_record("file", file_id, sha256, row)
        return True

    def _attachment_bytes(
        self, file_id: str, sha256: str, row: Record, stream: str = "files"
    ) -> bytes | None:
        """Return the archived bytes of a files record (or of a ``STORED_FILES`` one)."""
        report = self.report
        item = f"attachment {file_id}" if stream == "files" else f"{stream} {file_id}"
        kind, parts_stream = (
            ("file", "file_parts") if stream == "files" else (stream, f"{stream}_parts")
        )
        uri = row.get("storage_uri")
        if row.get("content_base64") is not None:
            try:
                return base64.b64decode(row["content_base64"], validate=True)
            except (binascii.Error, TypeError, ValueError) as exc:
                report.add("attachment", item, f"content is not base64 ({exc})")
                return None
        if uri:
            if not str(uri).endswith(f"/sha256/{sha256[:2]}/{sha256}"):
                report.add(
                    "attachment",
                    item,
                    f"storage_uri {uri!r} is not the content address of its sha256 {sha256}: "
                    "not opened",
                )
                return None
            try:
                data = self.archive.read_object(str(uri), row.get("size"))
            except sources.RefusedURI as exc:
                report.add("attachment", item, str(exc))
                return None
            except Exception as exc:  # any storage backend error
                report.add("attachment", item, f"unreadable ({type(exc).__name__})")
                return None
            if data is None:
                report.add("attachment", item, f"no object at {uri!r}")
            return data
        count = _int(row.get("part_count"))
        parts = self.spill.parts(kind, file_id)
        missing = [i for i in range(count) if i not in parts]
        if missing or not count:
            report.add("attachment", item, f"{parts_stream} {missing[:10]} of {count} missing")
            return None
        return b"".join(parts[i] for i in range(count))

    def _check_stored_files(self) -> None:
        """Hash the archived bytes of knowledge, project and library files (issue 21).

        As attachments: inline content or parts reassembled, a stored object read back at its
        content address; each must hash to its record's ``sha256`` and size. A file kept by
        several records (carried over to a later configuration) is read once per distinct
        record. Each record is a link of its stream's chain (RestChains: rest_chain.FILE_FIELDS,
        the sha256 among them): bytes rewritten with their SHA-256 break it.
        """
        report = self.report
        workspaces = {str(r.get("workspace_id")) for r in self.manifest.values()}
        for stream in STORED_FILES:
            if stream not in self.streams_present:
                continue
            done: set[str] = set()
            known: set[str] = set()
            for row in self.rows(stream):
                known.add(str(row.get("id")))
                report.counts["stored_file_rows"] += 1
                self._rest_row_marks(stream, str(row.get("id")), row, workspaces)
                row = self.rest.add(stream, row, f"{stream} {row.get('id')}")
                if row.get("status") != "archived":
                    continue
                file_id, sha256 = str(row.get("id")), str(row.get("sha256"))
                seen = _digest({"id": file_id, "sha256": sha256, **_small_file(row)})
                if seen in done:
                    continue
                done.add(seen)
                report.counts["stored_files_archived"] += 1
                data = self._attachment_bytes(file_id, sha256, row, stream)
                if data is None:
                    continue
                if _bytes_match(report, f"{stream} {file_id}", data, sha256, row):
                    report.counts["stored_files_verified"] += 1
                    self._parts_of_record(stream, file_id, sha256, row)
            self._stray_parts(stream, f"{stream}_parts", known)
            self.stored_ids[stream] = known

    def _check_named_files(self) -> None:
        """Say which files the chained rows name that their stream holds no row of.

        The tap writes a record (archived, expired, failed, …) of every file a configuration
        it archives lists, and of every library file it archives, when the file's stream is
        selected: such a record removed (one with no parts: nothing else points to it) would
        leave no trace. The stream selected only after the configuration was archived looks
        the same, so it is a limitation and the verdict ``consistent, unproven``, never intact
        (with seals, the runs' record counts find removed rows: seals.check_seals).
        """
        for stream, named in sorted(self.named_files.items()):
            known = self.stored_ids.get(stream)
            if known is None:  # the stream is not archived (deselected)
                continue
            absent = sorted(ident for ident in named if ident not in known)
            if not absent:
                continue
            which = ", ".join(f"{ident} ({named[ident]})" for ident in absent[:5])
            self.report.limitations.append(
                f"{len(absent)} files named by archived rows have no {stream} row: {which}"
                f"{' …' if len(absent) > 5 else ''} ({stream} not selected when they were "
                "archived, or its rows removed): their bytes are not in the archive"
            )
            if self.report.unproven is None:
                self.report.unproven = (
                    f"{len(absent)} files named by archived rows have no {stream} row"
                )

    def _parts_of_record(self, kind: str, file_id: str, sha256: str, row: Record) -> None:
        """Check the parts' metadata of a record whose bytes were read from its parts."""
        if row.get("content_base64") is None and not row.get("storage_uri"):
            expected = {"part_count": row.get("part_count"), "sha256": sha256}
            self._check_part_meta(
                "attachment", kind, file_id, {**expected, "workspace_id": row.get("workspace_id")}
            )

    def _stray_parts(self, kind: str, stream: str, known: set[str]) -> None:
        """Name parts whose file has no record (left behind when the record was removed)."""
        for owner, count in sorted(self.spill.owners(kind).items()):
            if owner not in known:
                self.report.add(
                    "attachment",
                    f"{stream} of {owner}",
                    f"no files record of it: {count} parts of a file the archive does not list "
                    "(a record removed?)",
                )

    def _check_directory(self) -> None:
        """Re-derive every column of users, gpts, projects from the item as served.

        ``raw_item`` (else ``item``), by the tap's own directory_rows.derive_row.
        """
        report = self.report
        workspaces = {str(r.get("workspace_id")) for r in self.manifest.values()}
        for stream in DIRECTORY:
            if stream not in self.streams_present:
                continue
            seen: dict[str, str] = {}
            without = 0
            for row in self.rows(stream):
                key = str(row.get("id"))
                report.counts["directory_rows"] += 1
                self._rest_row_marks(stream, key, row, workspaces)
                unhashable = chained(row) and bool(missing_inputs(row))
                row = self.rest.add(stream, row, f"{stream} {key}")
                raw = row.get("raw_item")
                if unhashable:
                    continue  # a chained input deselected: unproven (RestChains)
                if raw is None:
                    without += 1
                    item = _event_obj(row.get("item"))
                else:
                    item = _event_obj(raw) if isinstance(raw, str) else None
                if not isinstance(item, dict):
                    report.add(
                        "column", f"{stream} {key} column raw_item", "not the JSON text of an item"
                    )
                    continue
                expected = derive_row(stream, item, str(row.get("workspace_id")))
                if stream in ("gpts", "projects"):
                    for config in _configs_of(item.get("latest_config")):
                        self._owned(
                            f"{stream[:-1]} configuration", config, str(item.get("id")), stream
                        )
                if raw is None:
                    expected.pop("raw_item")
                differ = self.compare.differences(stream, row, expected)
                if len(workspaces) == 1 and str(row.get("workspace_id")) not in workspaces:
                    differ.append("workspace_id")
                if not self._column_findings(stream, key, sorted(set(differ)), row):
                    report.counts["directory_proven"] += 1
                digest = _canonical(item)
                if seen.get(key, digest) != digest:
                    report.notes.append(
                        f"{stream} {key}: two rows from different answers of the API (the "
                        "directory changed between runs); each matches its own item"
                    )
                seen.setdefault(key, digest)
            if not without:
                continue
            new_tap = any(_version(r) >= 2 for r in self.manifest.values())
            if new_tap:
                report.add(
                    "untraced",
                    f"{without} {stream} rows",
                    "no raw_item (the item as served), although the tap that wrote this archive "
                    "keeps it: their columns are checked against their own item column only",
                )
            else:
                report.limitations.append(
                    f"{without} {stream} rows have no raw_item (archived before the tap kept "
                    "it): their columns are checked against their own item column only"
                )

    def _directory_is_unanchored(self) -> None:
        """Say what the REST rows written before the tap chained them are (no chain columns).

        They equal their raw_item, but neither OpenAI's hashes nor a chain covers them: proven
        by nothing, so the verdict is ``consistent, unproven`` (a row of them deleted, edited
        with its raw_item or forged before the chain cannot be detected). A row whose item a
        chained row of the same key holds is proven by that row (a note). The rows of the
        chained REST streams are proven by their chains (RestChains).
        """
        covered = sum(self.rest.covered.values())
        if covered:
            which = ", ".join(sorted(self.rest.covered))
            self.report.notes.append(
                f"{covered} rows of the REST streams ({which}) were written before their chain "
                "(no chain columns); a chained row of the same key holds the same item: proven "
                "by it"
            )
        rows = self.rest.unchained_total
        if rows:
            which = ", ".join(sorted(self.rest.unchained))
            self.report.limitations.append(
                f"{rows} rows of the REST streams ({which}) were written by a tap version "
                "before their chain (no chain columns) and no chained row holds their item: "
                "they equal their raw_item (a stored file's record: its bytes), but neither "
                "OpenAI's hashes nor the chains and anchors cover them: a row of them deleted, "
                "edited together with its raw_item (or bytes), or forged, cannot be detected"
            )
            if self.report.unproven is None:
                self.report.unproven = (
                    f"{rows} rows of the REST streams ({which}) were written before their "
                    "chain: proven by nothing"
                )

    def _check_workspace_objects(self) -> None:
        """Re-derive every column of the workspace-object streams (issue 21) from ``raw_item``.

        By the tap's own workspace_rows.derive_row; the parent ids (GPT, user, canvas, ...) are
        not in the item and are taken from the row.
        """
        report = self.report
        workspaces = {str(r.get("workspace_id")) for r in self.manifest.values()}
        for stream, parent_keys in WORKSPACE_PARENTS.items():
            if stream not in self.streams_present:
                continue
            for row in self.rows(stream):
                report.counts["workspace_object_rows"] += 1
                key = "/".join(str(row.get(k)) for k in (*parent_keys, "id", "version") if k in row)
                self._rest_row_marks(stream, key, row, workspaces)
                unhashable = chained(row) and bool(missing_inputs(row))
                row = self.rest.add(stream, row, f"{stream} {key}")
                raw = row.get("raw_item")
                if unhashable:
                    continue  # a chained input deselected: unproven (RestChains)
                item = _event_obj(raw) if isinstance(raw, str) else None
                if not isinstance(item, dict) and not (stream in ANY_JSON and _is_json(raw)):
                    report.add(
                        "column", f"{stream} {key} column raw_item", "not the JSON text of an item"
                    )
                    continue
                self._note_named_files(stream, row, item, key)
                parent = {k: row.get(k) for k in parent_keys}
                owned = OWNED_BY.get(stream)
                if owned is not None:
                    kind, ident, owner = owned
                    self._owned(kind, str(row.get(ident)), str(row.get(owner)), stream)
                expected = derive_workspace_row(stream, item, str(row.get("workspace_id")), parent)
                differ = self.compare.differences(stream, row, expected)
                if len(workspaces) == 1 and str(row.get("workspace_id")) not in workspaces:
                    differ = sorted({*differ, "workspace_id"})
                if not self._column_findings(stream, key, differ, row):
                    report.counts["workspace_objects_proven"] += 1

    def _note_named_files(self, stream: str, row: Record, item: t.Any, key: str) -> None:
        """Note the files a configuration or library file row names (:data:`FILES_OF`)."""
        files = FILES_OF.get(stream)
        if files is None or not isinstance(item, dict):
            return
        if stream == "library_files":
            ids = [str(row.get("id"))] if has_id(item) else []
        else:
            ids = [str(info["id"]) for info in config_files(item)[0]]
        for ident in ids:
            self.named_files[files].setdefault(ident, f"{stream} {key}")

    def _owned(self, kind: str, ident: str, owner: str, stream: str) -> None:
        self.owners[(kind, ident)].setdefault(owner, set()).add(stream)

    def _check_owners(self) -> None:
        """Name an object archived under two owners (a canvas of two users, say).

        The owner is not in the item served but in the URL the tap read it from: a row moved to
        another owner is seen against the object's other rows (and, for a GPT's or project's
        latest configuration, against the GPT or project item that served it).
        """
        for (kind, ident), owners in sorted(self.owners.items()):
            if len(owners) < 2:
                continue
            said = "; ".join(
                f"{owner} ({', '.join(sorted(streams))})"
                for owner, streams in sorted(owners.items())
            )
            self.report.add(
                "column",
                f"{kind} {ident}",
                f"archived under {len(owners)} owners: {said}: a row was moved to another owner",
            )

    def _check_positions(self) -> None:
        """Check that every chained record's ``chain_seq`` is a whole number from 1 (``2.0`` is 2).

        It is not hashed, and the chain checks read it as an integer (``2.5``, ``"2"`` and
        ``true`` were read as 2, 2 and 1): a reader that orders or counts the chain by it sees
        another value than the one verify proved.
        """
        chained = [
            ("log file", record)
            for record in (*self.manifest.values(), *chain_copies(self.copies))
            if record.get("chain_hash")
        ]
        chained += [("attachment", record) for record in self.file_chain]
        for kind, record in chained:
            value = record.get("chain_seq")
            seq = chain.whole_number(_normal(value))  # a NUMERIC column: a Decimal
            if seq is None or seq < 1:
                self.report.add(
                    "chain",
                    f"{kind} {record.get('id')}",
                    f"chain_seq {value!r} is not a whole number from 1: a chain position is "
                    "one (a reader orders the chain by it)",
                )

    def _check_files_chain(self) -> None:
        """Check the attachment chain (``files`` records, chain_version 1 and later)."""
        report = self.report
        records = self.file_chain
        self.links[chain.FILES] = {}
        if not records:
            for anchor in self.anchors:
                if anchor.files_head is not None:
                    report.add(
                        "anchor",
                        "chain files",
                        f"{anchor.source} says the attachment chain reached chain_seq "
                        f"{anchor.files_head[0]}; the archive has no chained files record",
                    )
            return
        unhashable = self._files_chain_not_archived()
        by_hash: dict[str, Record] = {}
        for record in records:
            kept = by_hash.setdefault(str(record["chain_hash"]), record)
            self.links[chain.FILES].setdefault(_int(record.get("chain_seq")), set()).add(
                str(record["chain_hash"])
            )
            report.link_items.setdefault(chain.FILES, {}).setdefault(
                _int(record.get("chain_seq")), []
            ).append(f"attachment {record.get('id')}")
            if kept is record:
                continue
            item = f"attachment {record.get('id')} (files chain_seq {record.get('chain_seq')})"
            if not unhashable and not self._copy_hashes(record):
                report.add(
                    "chain",
                    item,
                    "a copy of its files record does not hash to its chain_hash: altered",
                )
            elif any(not _same(kept.get(k), record.get(k)) for k in _LINK_FIELDS):
                # chain_seq is not hashed: a copy at another position would move the link.
                report.add(
                    "chain",
                    item,
                    f"two copies of its files record disagree on their position (chain_seq "
                    f"{kept.get('chain_seq')!r} and {record.get('chain_seq')!r})",
                )
        later_ids: dict[str, int] = {}
        for record in records:
            seq = _int(record.get("chain_seq"))
            later_ids[str(record.get("id"))] = max(later_ids.get(str(record.get("id")), 0), seq)
        broken = False
        for record in sorted(by_hash.values(), key=lambda r: _int(r.get("chain_seq"))):
            item = f"attachment {record.get('id')} (files chain_seq {record.get('chain_seq')})"
            previous = str(record.get("chain_previous") or "")
            try:
                expected = (
                    record["chain_hash"]
                    if unhashable
                    else chain.chain_hash(previous, record, chain.FILES)
                )
            except ValueError as exc:
                report.add("chain", item, str(exc))
                broken = True
                continue
            if expected != record["chain_hash"]:
                broken = True
                report.add(
                    "chain", item, "files record altered: it does not hash to its chain_hash"
                )
            # chain_seq is not hashed: it must follow its link, or a record chained after the
            # anchored head could claim a position before it (and pass as anchored).
            seq = _int(record.get("chain_seq"))
            before = by_hash.get(previous)
            if previous == chain.GENESIS or before is not None:
                at = 1 if before is None else _int(before.get("chain_seq")) + 1
                if seq != at:
                    broken = True
                    report.add(
                        "chain",
                        item,
                        "chain_seq does not follow its link (the genesis link is chain_seq 1)"
                        if before is None
                        else f"chain_seq does not follow its link (it links to chain_seq {at - 1})",
                    )
                continue
            named = record.get("chain_previous_id")
            if (
                self.archive.upserts
                and named
                and later_ids.get(str(named), 0) > seq - 1
                and seq - 1 not in self.links[chain.FILES]
            ):
                # An earlier record of an attachment whose latest is kept: an upserting target
                # keeps one record per attachment, the slot before it is empty. An append-only
                # archive keeps every record: a hole there is a removed one.
                report.replaced.setdefault(chain.FILES, {})[seq - 1] = previous
                below = max((s for s in self.links[chain.FILES] if s < seq), default=0)
                report.replaced_runs.setdefault(chain.FILES, []).append((below + 1, seq - 1))
                continue
            broken = True
            report.add(
                "chain",
                item,
                f"files record missing before it: no record has chain_hash {previous[:16]}…",
            )
        if self.archive.upserts:
            report.kept_latest[chain.FILES] = later_ids
        else:  # an upserting target keeps one record per attachment
            report.latest_links[chain.FILES] = (
                {h: str(r.get("chain_previous") or "") for h, r in by_hash.items()},
                {str(r.get("id")): str(r["chain_hash"]) for r in records},  # the last wins
            )
            report.archived_links[chain.FILES] = {
                str(r["chain_hash"]): (str(r.get("id")), str(r.get("sha256")))
                for r in records
                if r.get("status") == "archived"
            }
        top = max(by_hash.values(), key=lambda r: _int(r.get("chain_seq")))
        report.chains["files (attachments)"] = {
            "links": len(by_hash),
            "unbroken": not broken,
            "starts": 1,
            "first_end_time": None,
            "last_end_time": None,
            "head_seq": _int(top.get("chain_seq")),
            "head": top.get("chain_hash"),
        }
        for anchor in self.anchors:
            self._check_files_anchor(anchor, top)

    def _check_files_anchor(self, anchor: Anchor, top: Record) -> None:
        """Check the attachment chain head one anchor holds."""
        report = self.report
        if anchor.files_head is not None:
            seq, head = anchor.files_head
            links = self.links[chain.FILES].get(seq, set())
            whose = f"the head {anchor.source} holds"
            replaced = (
                None
                if links
                else report.replaced_head(chain.FILES, seq, head, anchor.files_head_id, whose)
            )
            if replaced is not None:
                report.notes.append(replaced)
                report.reached(chain.FILES, seq)
            elif not links:
                report.add(
                    "anchor",
                    "chain files",
                    "the archive's attachment chain ends at chain_seq "
                    f"{_int(top.get('chain_seq'))}; {anchor.source} says it reached chain_seq "
                    f"{seq}: files records removed",
                )
            elif head not in links:
                report.add(
                    "anchor",
                    "chain files",
                    f"files chain_seq {seq} has another chain_hash than {anchor.source} says: "
                    "the attachment records were rewritten",
                )
            elif off := report.off_chain(chain.FILES, [head]):
                report.add(
                    "anchor",
                    "chain files",
                    f"the latest files record of {len(off)} attachments ({', '.join(off[:5])}) "
                    f"is on no chain through the head {anchor.source} holds (a fork, or a chain "
                    "that starts again): anchored by nothing",
                )
            elif loose := report.unvouched(chain.FILES, [head]):
                report.add(
                    "anchor",
                    "chain files",
                    f"the archived bytes of {len(loose)} attachments ({', '.join(loose[:5])}) "
                    f"are only in files records on no chain through the head {anchor.source} "
                    "holds (a fork): anchored by nothing",
                )
            else:
                report.reached(chain.FILES, seq)
        else:
            report.notes.append(f"{anchor.source} has no attachment chain head")

    def _log_chain_not_archived(self) -> set[str]:
        """Return the chained fields of ``log_files`` that no row holds (deselected), if any.

        As for the ``files`` chain (:meth:`_files_chain_not_archived`): a record of a version
        that chains one of them cannot be hashed again (a limitation; the verdict is
        ``consistent, unproven``); its links, positions, ``end_time`` order and the anchors'
        heads are still checked. ``chain_version`` and ``file_size`` count only when a record
        of a version that chains them holds none (an older tap's records lack them).
        """
        held = self.seen_columns.get("log_files", set())
        versions = {_version(r) for r in self.manifest.values() if r.get("chain_hash")}
        chained = {f for v in versions for f in chain.FIELD_SETS[chain.LOG_FILES].get(v, ())}
        missing = {f for f in chained if f not in held}
        if not missing:
            return missing
        which = ", ".join(f"log_files.{f}" for f in sorted(missing))
        self.report.limitations.append(
            f"the manifest's records lack chained fields in every row ({which}: not archived, "
            "deselected in the catalog?): no log_files record chaining them can be hashed "
            "again, so the manifest's content is proven by nothing but the raw files; its "
            "links, positions and anchored heads are still checked"
        )
        if self.report.unproven is None:
            self.report.unproven = f"log_files records cannot be hashed again (no {which})"
        # Their raw bytes could be replaced with their SHA-256 unseen: an export marks each
        # message of those log files NOT PROVEN.
        self.report.unproven_rows.extend(
            ("chain", f"log file {file_id}")
            for file_id, record in sorted(self.manifest.items())
            if record.get("chain_hash")
            and missing.intersection(chain.FIELD_SETS[chain.LOG_FILES].get(_version(record), ()))
        )
        return missing

    def _files_chain_not_archived(self) -> list[str]:
        """Return the chained fields of ``files`` that no row holds (deselected), if any.

        Then no record can be hashed again: a limitation, and the verdict is ``consistent,
        unproven``; the links (``chain_previous`` to the record before, ``chain_seq`` following
        them) and the anchors' heads are still checked, so a record removed is still found. A
        chained field absent from some records only is no deselection: they do not hash.
        """
        held = self.seen_columns.get("files", set())
        missing = [f for f in chain.FILE_FIELDS_V1 if f not in held]
        if not missing:
            return []
        which = ", ".join(f"files.{f}" for f in missing)
        self.report.limitations.append(
            f"the attachment chain's records lack chained fields in every row ({which}: not "
            "archived, deselected in the catalog?): no files record can be hashed again, so "
            "its content is proven by nothing; its links and positions are still checked"
        )
        if self.report.unproven is None:
            self.report.unproven = f"files records cannot be hashed again (no {which})"
        # Their bytes could be replaced with their sha256 unseen: an export marks each NOT PROVEN.
        self.report.unproven_rows.extend(
            ("chain", f"attachment {ident}")
            for ident in sorted({str(r.get("id")) for r in self.file_chain})
        )
        return missing

    @staticmethod
    def _copy_hashes(record: Record) -> bool:
        """Whether a further copy of a files record hashes to its chain_hash."""
        try:
            expected = chain.chain_hash(
                str(record.get("chain_previous") or ""), record, chain.FILES
            )
        except ValueError:
            return False
        return expected == record["chain_hash"]

    def _summarise(self) -> None:
        report = self.report
        replaced = report.counts["events_nul_replaced"]
        if replaced:
            report.notes.append(
                f"{replaced} events hold NUL (\\u0000) in their text, which this target stores as "
                "U+FFFD (target-postgres sanitize_null_text_characters): they were compared with "
                "exactly that replacement"
            )
        replaced = report.counts["rows_surrogate_replaced"]
        if replaced:
            report.notes.append(
                f"{replaced} rows hold half a surrogate pair (\\ud83d: half an emoji) in their "
                "text, which this target stores as U+FFFD (target-postgres-utf8; PostgreSQL "
                "cannot hold it): they were compared with exactly that replacement"
            )
        if report.counts["duplicates_in_other_files"]:
            report.notes.append(
                f"{report.counts['duplicates_in_other_files']} events of a raw file are kept "
                "once, in the row of an earlier file (the tap drops true duplicates)"
            )


OWNED_BY = {
    "canvases": ("canvas", "id", "user_id"),
    "canvas_versions": ("canvas", "textdoc_id", "user_id"),
    "gpt_configs": ("gpt configuration", "id", "gpt_id"),
    "project_configs": ("project configuration", "id", "project_id"),
}
"""Workspace-object streams whose owner column is the URL the tap read the item from:
stream -> (kind, object id column, owner column)."""


ARCHIVED_STATUS = ARCHIVED
GAP_STATUSES = frozenset({UNAVAILABLE, EXPIRED})
"""``log_files.download_status`` of a file the tap listed but could not download."""


def not_downloaded(record: Record) -> bool:
    """Return whether a manifest record is of a file the tap listed but could not download.

    Decided by chained fields only (null ``verified_sha256`` and ``bytes_downloaded``, raw
    ``none``), present in the row: a column that is not archived decides nothing.
    """
    return (
        "verified_sha256" in record
        and "bytes_downloaded" in record
        and record.get("verified_sha256") is None
        and record.get("bytes_downloaded") is None
        and record.get("raw_content") == "none"
    )


def _configs_of(value: t.Any) -> list[str]:
    """Return the configuration ids of a GPT's or project's ``latest_config`` list object."""
    data = value.get("data") if isinstance(value, dict) else value
    if not isinstance(data, list):
        return []
    return [str(c["id"]) for c in data if isinstance(c, dict) and isinstance(c.get("id"), str)]


def chain_copies(copies: t.Mapping[str, list[Record]]) -> list[Record]:
    """Return the further manifest records of every log file (copies of its first record)."""
    return [record for records in copies.values() for record in records]


def _chained(row: Record) -> Record:
    """Return a files record without its bytes (kept for the attachment chain check)."""
    return {k: v for k, v in row.items() if k != "content_base64" and not k.startswith("_sdc")}


def _small(row: Record) -> Record:
    """Return a conversation row's run-view columns it holds (an absent one stays absent)."""
    return {k: row.get(k) for k in ("title", "title_seen_at", "created_at") if k in row}


def _keep_copy(kept: list[Record], row: Record) -> None:
    """Keep an archived record's byte source (inline, stored, parts) unless a copy has it."""
    small = _small_file(row)
    source = {k: small[k] for k in BYTE_SOURCE}
    if all({k: other[k] for k in BYTE_SOURCE} != source for other in kept):
        kept.append(small)


BYTE_SOURCE = ("size", "storage_uri", "content_base64", "part_count")
"""Where an archived record says its bytes are: copies that differ in it are each read."""


def _small_file(row: Record) -> Record:
    return {
        k: row.get(k)
        for k in (
            "size",
            "storage_uri",
            "content_base64",
            "part_count",
            "workspace_id",
            "log_file_id",
        )
    }


def _bytes_match(
    report: Report, where: str, data: bytes, sha256: str, row: t.Mapping[str, t.Any]
) -> bool:
    """Whether archived bytes hash to the record's ``sha256`` and have its ``size``.

    When they do not: one ``attachment`` finding named ``where``.
    """
    found = hashlib.sha256(data).hexdigest()
    size = row.get("size")
    if found != sha256 or (size is not None and _int(size) != len(data)):
        report.add(
            "attachment",
            where,
            f"bytes altered: {len(data)} bytes hashing to {found}, recorded {sha256}",
        )
        return False
    return True


MANIFEST_COPY_FIELDS = (
    "chain_hash",
    "raw_content",
    "raw_storage_uri",
    "raw_part_count",
    *(name for name in chain.LOG_FILE_FIELDS_V3 if not name.startswith("raw_")),
    "chain_previous",
    "chain_seq",
)
"""Fields every manifest record of one log file must agree on (the chained ones and the
link): only the first record is chain-checked, a copy is compared with it."""


MANIFEST_COUNTS = (
    "line_count",
    "blank_lines",
    "unparsed_lines",
    "foreign_events",
    "event_count",
    "duplicates_dropped",
    "events_without_id",
    "id_clashes",
)
"""The manifest's counts of its raw file (a bool is none: chain.whole_number)."""


_LINK_FIELDS = ("chain_previous", "chain_seq")
"""The link of a files record besides its hash: copies of one record must agree on it."""


def _same(first: t.Any, second: t.Any, time: bool = False) -> bool:
    """Whether two stored values are the same JSON value (True is not 1; times as instants)."""
    if time:
        return chain.canonical_time(first) == chain.canonical_time(second)
    return _canonical(first) == _canonical(second)


def _version(record: Record) -> int:
    """Return a record's chain_version (0 when it is not one: reported by the chain check)."""
    try:
        return chain.record_version(record)
    except chain.ChainVersionError:
        return 0


def _int(value: t.Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1


def verify(
    archive: Archive,
    anchor: Anchor | t.Sequence[Anchor] | None = None,
    log_file_ids: t.Collection[str] | None = None,
) -> Report:
    """Run every check on an archive (see the module).

    ``anchor``: chain heads kept outside the archive (:func:`read_state`; several: each is
    checked, the furthest head of each chain counts); without one the
    verdict is at best ``consistent, unanchored``. ``log_file_ids``: verify the rows of these log
    files only (what an export renders); the manifest, its chains and the anchor are always
    verified whole.
    """
    return Verifier(archive, anchor, log_file_ids).run()


def _clash_base(key: str) -> str:
    """Return the key a clash's ``<event_id>#sha256:<hex>`` key was made from (else "")."""
    base, separator, _ = key.partition("#")
    return base if separator else ""


def _run_clash_key(plain: Record) -> str | None:
    """Return the key the tap gives a file's event when its run kept another of that key.

    The file alone keys the event by its event_id (``plain``, the record derived from it); a
    run that kept an event of the same key and type but other bytes from an earlier file
    (logfile.LineParser.finish) keys it ``<event_id>#<derived_event_key>``, so that an
    upserting target keeps both. None for an event keyed otherwise already.
    """
    if plain.get("event_id_derived"):
        return None
    return f"{plain['event_id']}#{derived_event_key(plain['event'])}"


def derived_key(event: t.Any) -> str:
    """Return an event's key as the tap derives it (its event_id, else a content hash)."""
    if not isinstance(event, dict):
        return ""
    event_id = event.get("event_id")
    return event_id if isinstance(event_id, str) and event_id else derived_event_key(event)


def _ref_users(
    events: list[dict[str, t.Any]],
) -> Iterator[tuple[AttachmentRef, list[str | None]]]:
    """Yield each attachment reference with the user ids its ``files`` record may name.

    Its own event's user when it names one; else (records.attachment_refs) the tap took the user
    from another message of the conversation in the same part of the file, or found none: any
    user an event of the conversation in this file names, or none.
    """
    named = conversation_user_ids(events)
    own = attachment_refs(events, owners={})
    for ref, bare in zip(attachment_refs(events), own, strict=True):
        if bare.user_id is not None or ref.conversation_id is None:
            yield ref, [ref.user_id]
        else:
            yield ref, [None, *named.get(str(ref.conversation_id), [])]
