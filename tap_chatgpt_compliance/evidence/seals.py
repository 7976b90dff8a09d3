"""Check the seals the tap wrote (``verify --seals URI``): their chain, their lock, the archive.

API for the verifier:

- :func:`check_seals(uri, report, storage_options, workspace_id=None, archive=None)
  <check_seals>` reads every seal under ``uri`` (``<seal_storage_url>``, or its
  ``<workspace_id>`` folder), reports each problem through ``report.add(check, item, detail)``
  (check ``"seal"``) and returns a :class:`SealCheck` (the seals read, the latest heads), or
  raises :class:`SealsUnreadable` (one readable line) when nothing can be read.
- ``archive``: the archive's chain links, ``{chain name: {chain_seq: chain_hash}}`` with chain
  names ``log_files/<EVENT_TYPE>``, ``files`` and each REST stream's name
  (:func:`archive_links` builds it from records): every head of every seal must be a link of
  the archive (same sequence, same hash): a shorter archive or a rewritten one is a finding;
  in an upserting archive, a head its target replaced is accepted when the kept record after
  it links to it, or the seal names the head's attachment (``chain_head_id``) and its kept
  record is later inside an accounted hole (``Report.replaced_head``).

Findings: a seal that is not JSON or not a seal, of another workspace, a hole in the seal chain
(``previous_seal`` naming a seal that is absent or whose bytes hash differently: a seal
removed or altered), a first seal whose ``seal_seq`` is not 1 (earlier seals removed), a chain
head going backwards from the last seal naming it (a chain a newer seal no longer names, its
event type deselected, stays anchored by that seal: a note), and on S3 a seal without Object Lock
COMPLIANCE retention (``head_object``) or whose lock ends before the ``retain_until`` written in
it, or with other versions or a delete marker under its key (overwritten or deleted: the oldest
version, the one written by the tap, is the one checked); a seal whose JSON repeats a key;
a stream holding fewer rows than the sealed runs wrote to it (``records``: in an append-only
archive; in an upserting one, none) and a column in no row that a sealed run selected
(``selected``), from verify's ``Report.stream_rows`` and ``Report.not_archived``.
:func:`one_workspace` gives the archive's workspace (``workspace_id``) from verify's Report.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.seals import SEAL_VERSION, SealStore

MAX_SEAL_BYTES = 1 << 20
"""The largest seal object read (1 MiB: the tap writes a few KiB); a larger one is a finding."""


class SealsUnreadable(Exception):
    """The seals cannot be read at all (one readable line)."""


class ReportLike(t.Protocol):
    """What check_seals reports to (evidence.verify.Report)."""

    def add(self, check: str, item: str, detail: str) -> None:
        """Record one finding."""
        ...


@dataclass
class SealCheck:
    """What the seals say, once read and checked."""

    source: str
    seals: list[tuple[str, dict[str, t.Any]]] = field(default_factory=list)
    """(object name, seal) oldest first (only the seals that could be read)."""
    findings: int = 0
    object_lock: bool = False
    """Every seal carries Object Lock COMPLIANCE retention (S3 only)."""

    @property
    def latest(self) -> dict[str, t.Any] | None:
        """Return the newest seal."""
        return self.seals[-1][1] if self.seals else None

    def heads(self) -> dict[str, tuple[int, str]]:
        """Return the newest seal's heads: chain name -> (chain_seq, chain_head)."""
        latest = self.latest or {}
        out: dict[str, tuple[int, str]] = {}
        for name, head in (latest.get("chains") or {}).items():
            if isinstance(head, dict) and head.get("chain_seq") and head.get("chain_head"):
                out[str(name)] = (int(head["chain_seq"]), str(head["chain_head"]))
        return out

    def files_head(self) -> tuple[int, str] | None:
        """Return the newest seal's files chain head."""
        return self.heads().get(chain.FILES)


def archive_links(
    log_files: t.Iterable[t.Mapping[str, t.Any]],
    files: t.Iterable[t.Mapping[str, t.Any]] = (),
    rest: t.Mapping[str, t.Iterable[t.Mapping[str, t.Any]]] | None = None,
) -> dict[str, dict[int, set[str]]]:
    """Return ``{chain name: {chain_seq: {chain_hash, …}}}`` of an archive's records.

    ``rest``: the records of the REST streams, by stream (one chain each, named by the stream).
    """
    links: dict[str, dict[int, set[str]]] = {}
    streams = [("log_files", log_files), (chain.FILES, files), *(rest or {}).items()]
    for name, records in streams:
        for record in records:
            seq, value = record.get("chain_seq"), record.get("chain_hash")
            if not seq or not value:
                continue
            key = f"{name}/{record.get('event_type')}" if name == "log_files" else name
            links.setdefault(key, {}).setdefault(int(seq), set()).add(str(value))
    return links


def _resolve(uri: str, options: dict[str, t.Any], workspace_id: str | None) -> SealStore:
    """Return the seal store of ``uri`` (the workspace's folder, or the folder above it)."""
    uri = uri.rstrip("/")
    if workspace_id:
        store = SealStore(uri, workspace_id, options)
        if _names(store)[0]:
            return store
    parent, _, last = uri.rpartition("/")
    if parent and last:
        store = SealStore(parent, last, options)
        if _names(store)[0]:
            return store
    base = SealStore(uri, "", options)
    try:
        folders = [p for p in base.fs.ls(base.root.rstrip("/"), detail=True)]
    except FileNotFoundError:
        folders = []
    names = sorted(
        str(p["name"]).rstrip("/").rsplit("/", 1)[-1]
        for p in folders
        if p.get("type") == "directory"
    )
    if workspace_id and workspace_id in names:
        return SealStore(uri, workspace_id, options)
    if len(names) == 1:
        return SealStore(uri, names[0], options)
    if not names:
        msg = f"--seals {uri}: no seal found there"
    else:
        msg = (
            f"--seals {uri}: seals of several workspaces ({', '.join(names[:5])}): give the "
            "workspace's folder"
        )
    raise SealsUnreadable(msg)


def check_seals(
    uri: str,
    report: ReportLike,
    storage_options: t.Mapping[str, t.Any] | None = None,
    *,
    workspace_id: str | None = None,
    archive: t.Mapping[str, t.Mapping[int, t.Collection[str]]] | None = None,
    now: datetime | None = None,
) -> SealCheck:
    """Read and check every seal under ``uri`` (see the module docstring; SealsUnreadable)."""
    options = dict(storage_options or {})
    try:
        store = _resolve(uri, options, workspace_id)
        names, versions = _names(store)
    except SealsUnreadable:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        msg = f"--seals {uri}: cannot be read ({type(exc).__name__}: {reason})"
        raise SealsUnreadable(msg) from None
    result = SealCheck(source=f"seals {store.where()}")
    count = 0

    def add(item: str, detail: str) -> None:
        nonlocal count
        count += 1
        report.add("seal", item, detail)

    if not names:
        msg = f"--seals {uri}: no seal found there"
        raise SealsUnreadable(msg)
    when = now or datetime.now(timezone.utc)
    locked = store.s3
    previous: tuple[str, bytes, dict[str, t.Any]] | None = None
    lock_ends: list[datetime] = []
    last_heads: dict[str, tuple[str, int]] = {}
    for index, name in enumerate(names):
        data, version = _read(store, name, versions, add)
        if data is None:
            previous = None
            continue
        lock_until: datetime | None = None
        if store.s3:
            lock_until = _check_lock(store, name, version, when, add)
            locked = lock_until is not None and locked
            if lock_until is not None:
                lock_ends.append(lock_until)
        repeated: list[str] = []
        try:
            seal = json.loads(data, object_pairs_hook=_pairs(repeated))
            if not isinstance(seal, dict):
                raise ValueError
            seq = _positive(seal.get("seal_seq"))
            _check_chains(seal.get("chains"))
        except (ValueError, TypeError):
            add(
                f"seal {name}",
                "not a seal (not JSON, or no integer seal_seq and chains of heads)",
            )
            previous = None
            continue
        version = seal.get("seal_version")
        if type(version) is not int or version != SEAL_VERSION:  # another format: not read as ours
            add(f"seal {name}", f"seal_version {version!r:.40} is not one this verify reads (1)")
        if repeated:  # the tap writes canonical JSON: readers differ on which value they take
            add(f"seal {name}", f"its JSON repeats a key ({', '.join(sorted(set(repeated)))})")
        _check_retention(name, seal, lock_until, add)
        if workspace_id and seal.get("workspace_id") != workspace_id:
            add(
                f"seal {name}",
                f"seal of workspace {seal.get('workspace_id')!r}, not {workspace_id}",
            )
        if seal.get("workspace_id") != store.workspace_id:
            add(
                f"seal {name}", f"its workspace_id {seal.get('workspace_id')!r} is not its folder's"
            )
        link = seal.get("previous_seal")
        if index == 0 and (seq != 1 or link is not None):
            add(
                f"seal {name}",
                f"the oldest seal present is seal_seq {seq}: {seq - 1} earlier seal(s) are missing",
            )
        elif previous is not None:
            before_name, before_data, before = previous
            expected = {"name": before_name, "sha256": hashlib.sha256(before_data).hexdigest()}
            if not isinstance(link, dict) or link.get("name") != before_name:
                named = link.get("name") if isinstance(link, dict) else None
                add(
                    f"seal {name}",
                    f"missing seal: it follows {named!r}, but the seal before it is {before_name}",
                )
            elif link.get("sha256") != expected["sha256"]:
                add(
                    f"seal {before_name}",
                    "altered: its bytes do not hash to what the next seal says",
                )
            if seq != int(before.get("seal_seq") or 0) + 1:
                add(f"seal {name}", f"seal_seq {seq} does not follow {before.get('seal_seq')}")
        _check_progress(name, last_heads, seal, add)
        result.seals.append((name, seal))
        previous = (name, data, seal)
    if archive is not None:
        for name, seal in result.seals:
            _check_archive(name, seal, archive, add, _replaced_heads(report, name))
        if result.seals:
            _check_coverage(result, archive, add, report)
            _check_counts(result, report, add)
            _check_selected(result, report, add)
    result.findings = count
    result.object_lock = bool(store.s3 and locked)
    if result.seals:
        _note_dropped(result, last_heads, report)
        _name_newest(result, report)
    notes = getattr(report, "notes", None)
    if result.object_lock and lock_ends and isinstance(notes, list):
        notes.append(
            f"the seals in {store.where()} are locked (COMPLIANCE) until {min(lock_ends).date()} "
            "at the earliest: they anchor the archive against its writers until then"
        )
    anchored = getattr(report, "anchored", None)
    if isinstance(anchored, list) and result.seals:
        anchored.append(result.source)
    if not store.s3:
        limitations = getattr(report, "limitations", None)
        if isinstance(limitations, list):
            limitations.append(
                f"the seals in {store.where()} are not on write-once storage: they anchor the "
                "archive only against someone who cannot also write them"
            )
    return result


def _name_newest(result: SealCheck, report: ReportLike) -> None:
    """Say as of which seal the seals anchor the archive (in the verdict and a limitation).

    Nothing in the seals covers what was written after the newest one (a run whose seal was
    not written): removed, it leaves no trace in them, and the verdict must not read as
    "nothing missing" beyond that seal.
    """
    seal = result.seals[-1][1]
    seq, when = seal.get("seal_seq"), str(seal.get("sealed_at"))[:40]
    result.source = f"{result.source} up to seal {seq} sealed {when}"
    limitations = getattr(report, "limitations", None)
    if isinstance(limitations, list):
        limitations.append(
            f"the seals anchor the archive as of seal {seq} ({when}, the newest): records "
            "written after it are covered by no seal, and if removed leave no trace in them; "
            "the tap's current state (--state) covers them"
        )


def check_stores(
    uris: t.Sequence[str], report: ReportLike, storage_options: t.Mapping[str, t.Any] | None
) -> None:
    """Check every seal store given (``--seals``, repeatable) against verify's report.

    Each is checked on its own (a contradiction of any is a finding), the furthest head counts;
    a store that cannot be read is a finding.
    """
    for uri in dict.fromkeys(uris):
        try:
            check_seals(
                uri,
                report,
                storage_options,
                archive=getattr(report, "links", None),
                workspace_id=one_workspace(report),
            )
        except SealsUnreadable as exc:
            report.add("seal", uri, str(exc))


def _names(store: SealStore) -> tuple[list[str], dict[str, list[dict[str, t.Any]]]]:
    """Return the seals' names (on S3 every key with a version, deleted or not) and versions."""
    if not store.s3:
        return store.names(), {}
    versions = _versions(store)
    _, prefix = store.bucket_key("")
    names = sorted(
        key[len(prefix) :]
        for key in versions
        if key.startswith(prefix) and "/" not in key[len(prefix) :] and key.endswith(".json")
    )
    return names, versions


def _versions(store: SealStore) -> dict[str, list[dict[str, t.Any]]]:
    """Return every version and delete marker under the seals' prefix, by key (oldest first)."""
    bucket, key = store.bucket_key("")
    out: dict[str, list[dict[str, t.Any]]] = {}
    kwargs: dict[str, t.Any] = {"Bucket": bucket, "Prefix": key}
    while True:
        page = store.call_s3("list_object_versions", **kwargs)
        # S3 lists the versions of a key newest first: ``order`` breaks LastModified ties
        # (one-second resolution) the same way.
        for entry in page.get("Versions") or []:
            entries = out.setdefault(entry["Key"], [])
            entries.append({**entry, "marker": False, "order": -len(entries)})
        for entry in page.get("DeleteMarkers") or []:
            entries = out.setdefault(entry["Key"], [])
            entries.append({**entry, "marker": True, "order": -len(entries)})
        if not page.get("IsTruncated"):
            break
        kwargs["KeyMarker"] = page.get("NextKeyMarker")
        kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
    for entries in out.values():
        entries.sort(key=lambda e: (e["LastModified"], e["order"]))
    return out


def _read(
    store: SealStore,
    name: str,
    versions: dict[str, list[dict[str, t.Any]]],
    add: t.Callable[[str, str], None],
) -> tuple[bytes | None, str | None]:
    """Return a seal's bytes (on S3 its oldest version) and that version's id."""
    if not store.s3:
        try:
            return _read_bounded(store, name), None
        except _Refused as exc:
            add(f"seal {name}", str(exc))
            return None, None
        except OSError as exc:
            add(f"seal {name}", f"cannot be read ({exc})")
            return None, None
    bucket, key = store.bucket_key(name)
    entries = versions.get(key) or []
    real = [e for e in entries if not e["marker"]]
    if real and int(real[0].get("Size") or 0) > MAX_SEAL_BYTES:
        add(f"seal {name}", f"over {MAX_SEAL_BYTES} bytes: no seal of the tap's, not read")
        return None, None
    if len(entries) > 1:
        markers = sum(e["marker"] for e in entries)
        add(
            f"seal {name}",
            f"overwritten or deleted: {len(real)} versions and {markers} delete marker(s) under "
            "its key (the oldest version is checked)",
        )
    version = real[0].get("VersionId") if real else None
    try:
        kwargs = {"VersionId": version} if version and version != "null" else {}
        body = store.call_s3("get_object", Bucket=bucket, Key=key, **kwargs)["Body"]
        return _body(store, body), version
    except Exception as exc:
        add(f"seal {name}", f"cannot be read ({type(exc).__name__})")
        return None, None


class _Refused(Exception):
    """A seal object that is not read: no regular file, or too large (the detail)."""


def _read_bounded(store: SealStore, name: str) -> bytes:
    """Return a seal's bytes from a folder or a non-S3 store: a regular file, never too large."""
    path = f"{store.root}/{name}"
    if store.local:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                msg = "not a regular file (a device, FIFO or folder): not read"
                raise _Refused(msg)
            data = handle.read(MAX_SEAL_BYTES + 1)
    else:
        info = store.fs.info(path)
        if info.get("type") != "file":
            msg = f"not a regular file ({info.get('type')}): not read"
            raise _Refused(msg)
        if int(info.get("size") or 0) > MAX_SEAL_BYTES:
            data = b" " * (MAX_SEAL_BYTES + 1)
        else:
            data = store.read(name)
    if len(data) > MAX_SEAL_BYTES:
        msg = f"over {MAX_SEAL_BYTES} bytes: no seal of the tap's, not read"
        raise _Refused(msg)
    return data


def _body(store: SealStore, body: t.Any) -> bytes:
    """Read an S3 body returned through s3fs (an aiobotocore stream, read on s3fs's loop)."""
    import inspect

    from fsspec.asyn import sync

    if inspect.iscoroutinefunction(body.read):
        return bytes(sync(store.fs.loop, body.read))
    return bytes(body.read())


def _pairs(repeated: list[str]) -> t.Callable[[list[tuple[str, t.Any]]], dict[str, t.Any]]:
    """Return a json object_pairs_hook that notes every key an object repeats."""

    def hook(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {}
        for key, value in pairs:
            if key in out:
                repeated.append(key)
            out[key] = value
        return out

    return hook


def _check_retention(
    name: str,
    seal: dict[str, t.Any],
    lock_until: datetime | None,
    add: t.Callable[[str, str], None],
) -> None:
    """Report an Object Lock retention shorter than the seal's own ``retain_until``.

    The tap locks each seal until ``sealed_at + seal_retention_days`` and writes that date into
    it: a lock that ends earlier is not the tap's (the seal could be removed or replaced once it
    ends, with no version left to show it).
    """
    if lock_until is None:
        return
    said = seal.get("retain_until")
    try:
        wanted = datetime.fromisoformat(str(said).replace("Z", "+00:00"))
    except ValueError:
        add(f"seal {name}", f"no readable retain_until ({said!r:.40}) to check its lock against")
        return
    if wanted.tzinfo is None:
        wanted = wanted.replace(tzinfo=timezone.utc)
    if lock_until.tzinfo is None:
        lock_until = lock_until.replace(tzinfo=timezone.utc)
    if lock_until < wanted - timedelta(seconds=1):  # S3 keeps the date to the second
        add(
            f"seal {name}",
            f"its Object Lock retention ends {lock_until.isoformat()}, before the "
            f"retain_until {said} the seal was written with",
        )


def one_workspace(report: t.Any) -> str | None:
    """Return the workspace of an archive of one workspace (verify's Report), else None."""
    workspaces = getattr(report, "workspaces", None) or []
    return str(workspaces[0]) if len(workspaces) == 1 else None


def _check_lock(
    store: SealStore,
    name: str,
    version: str | None,
    now: datetime,
    add: t.Callable[[str, str], None],
) -> datetime | None:
    """Report a seal without Object Lock COMPLIANCE retention; return its retention's end."""
    bucket, key = store.bucket_key(name)
    kwargs = {"VersionId": version} if version and version != "null" else {}
    try:
        head = store.call_s3("head_object", Bucket=bucket, Key=key, **kwargs)
    except Exception as exc:
        add(f"seal {name}", f"its Object Lock retention cannot be read ({type(exc).__name__})")
        return None
    mode = head.get("ObjectLockMode")
    until = head.get("ObjectLockRetainUntilDate")
    if mode != "COMPLIANCE" or not isinstance(until, datetime):
        add(f"seal {name}", f"no Object Lock COMPLIANCE retention (mode {mode!r})")
        return None
    if until < now:
        add(f"seal {name}", f"its Object Lock retention ended on {until.isoformat()}")
        return None
    return until


def _check_progress(
    name: str,
    last: dict[str, tuple[str, int]],
    seal: dict[str, t.Any],
    add: t.Callable[[str, str], None],
) -> None:
    """Report a chain head that went backwards from the last seal naming it to this one.

    ``last``: ``{chain name: (seal name, chain_seq)}`` of the seals before, updated here. A
    chain a seal does not name (its event type deselected) stays anchored by the last seal
    that did (:func:`_note_dropped`); named again lower, it went back all the same.
    """
    for chain_name, head in (seal.get("chains") or {}).items():
        seq = int(head.get("chain_seq") or 0) if isinstance(head, dict) else 0
        before = last.get(chain_name)
        if before is not None and seq < before[1]:
            add(
                f"seal {name}",
                f"chain {chain_name} went back from chain_seq {before[1]} to {seq} (the tap's "
                "state was reset or rolled back)",
            )
        last[chain_name] = (name, max(seq, before[1] if before else 0))


def _note_dropped(result: SealCheck, last: dict[str, tuple[str, int]], report: ReportLike) -> None:
    """Note each chain the newest seal does not name: anchored by the last seal that did."""
    notes = getattr(report, "notes", None)
    newest = set((result.latest or {}).get("chains") or {})
    for chain_name, (name, seq) in sorted(last.items()):
        if chain_name not in newest and isinstance(notes, list):
            notes.append(
                f"chain {chain_name}: not in the newest seal (its event type no longer "
                f"selected?): anchored up to chain_seq {seq} by seal {name}, the last that "
                "names it; records after that are not anchored by the seals"
            )


def _positive(value: t.Any) -> int:
    """Return a positive integer (a whole float too); ValueError otherwise."""
    number = chain.whole_number(value)
    if number is None or number < 1:
        msg = f"{value!r} is not a positive integer"
        raise ValueError(msg)
    return number


def _check_chains(chains: t.Any) -> None:
    """Raise ValueError unless ``chains`` is ``{name: {"chain_seq": n, "chain_head": hash}}``."""
    if not isinstance(chains, dict):
        msg = "chains is not an object"
        raise ValueError(msg)
    for head in chains.values():
        if not isinstance(head, dict) or not isinstance(head.get("chain_head"), str):
            msg = "a chain head is not an object with a chain_head"
            raise ValueError(msg)
        _positive(head.get("chain_seq"))


def _check_coverage(
    result: SealCheck,
    archive: t.Mapping[str, t.Mapping[int, t.Collection[str]]],
    add: t.Callable[[str, str], None],
    report: ReportLike,
) -> None:
    """Report a chain of the archive that no seal holds a head of (not anchored by the seals).

    Links after the newest sealed head of a chain are consistent but not anchored: a note.
    """
    sealed: dict[str, int] = {}
    heads: dict[str, str] = {}
    """The newest seal's head of each chain: every record must be on the chain through it (an
    older seal's head is before it; a fork off an older head is anchored by nothing)."""
    furthest: dict[str, dict[str, t.Any]] = {}
    for _, seal in result.seals:
        for chain_name, head in seal["chains"].items():
            if int(head["chain_seq"]) >= sealed.get(chain_name, 0):
                furthest[chain_name] = head
            sealed[chain_name] = max(sealed.get(chain_name, 0), int(head["chain_seq"]))
            heads[chain_name] = str(head["chain_head"])
    newest = result.seals[-1][0]
    dead_ends = getattr(report, "dead_ends", {})
    for name, seal in result.seals:  # verify accounts for a dead end only if nothing sealed it
        for chain_name, head in sorted(seal["chains"].items()):
            if str(head["chain_head"]) in dead_ends.get(chain_name, ()):
                add(
                    f"seal {name}",
                    f"chain {chain_name}: the sealed head (chain_seq {head['chain_seq']}) is on "
                    "a branch that leaves the chain and that no row continues: the sealed rows "
                    "were abandoned for others (rewritten)",
                )
    for chain_name, head in sorted(heads.items()):
        _check_forks(chain_name, head, report, lambda detail: add(f"seal {newest}", detail))
    notes = getattr(report, "notes", None)
    reached = getattr(report, "reached", None)
    if callable(reached):  # what lies after the furthest anchored head: evidence.verify
        replaced = getattr(report, "replaced_head", None)
        for chain_name, seq in sealed.items():
            head = furthest[chain_name]
            key = head.get(chain.HEAD_ID_KEY)
            key = key if isinstance(key, str) and key else None
            if seq in archive.get(chain_name, {}) or (
                callable(replaced)
                and replaced(chain_name, seq, str(head["chain_head"]), key, "") is not None
            ):
                reached(chain_name, seq)
    for chain_name, links in sorted(archive.items()):
        if not links:
            continue
        top = max(links)
        if chain_name not in sealed:
            add(
                f"seal {newest}",
                f"chain {chain_name}: the archive has it (chain_seq up to {top}), no seal holds "
                "its head: these records are not anchored by the seals",
            )
        elif top > sealed[chain_name] and isinstance(notes, list):
            notes.append(
                f"chain {chain_name}: {top - sealed[chain_name]} records after the sealed head "
                f"(chain_seq {sealed[chain_name]}) are not anchored by {result.source} (written "
                "after the newest seal?)"
            )


def sealed_counts(seals: t.Iterable[tuple[str, dict[str, t.Any]]]) -> dict[str, int]:
    """Return the records the sealed runs wrote per stream: the sum of every seal's ``records``.

    A count that is not a whole number from 0 is not the tap's and is not summed.
    """
    total: dict[str, int] = {}
    for _, seal in seals:
        records = seal.get("records")
        for stream, value in records.items() if isinstance(records, dict) else ():
            number = chain.whole_number(value)
            if number is not None and number >= 0:
                total[str(stream)] = total.get(str(stream), 0) + number
    return total


def _check_counts(result: SealCheck, report: ReportLike, add: t.Callable[[str, str], None]) -> None:
    """Report a stream holding fewer rows than the sealed runs wrote to it (rows removed).

    Each seal counts the records its run wrote per stream. Every run since the first seal
    sealed its records or wrote no seal (a killed run: its rows are extra), and a rerun or an
    at-least-once copy only adds rows: an append-only archive (JSONL, S3) holds at least the
    sum. That covers the rows no chain or raw line anchors (a knowledge file record without
    parts, say). An upserting archive (PostgreSQL) keeps one row per key, so only a stream
    left without any row is a finding there.
    """
    held: dict[str, int] | None = getattr(report, "stream_rows", None)
    if not held:
        return
    upserts = bool(getattr(report, "upserts", False))
    newest = result.seals[-1][0]
    for stream, sealed in sorted(sealed_counts(result.seals).items()):
        rows = held.get(stream)
        if rows is None or rows >= sealed or (upserts and rows):
            continue
        add(
            f"seal {newest}",
            f"stream {stream}: the sealed runs wrote {sealed} records to it, the archive holds "
            f"{rows} rows: rows were removed",
        )


def _check_selected(
    result: SealCheck, report: ReportLike, add: t.Callable[[str, str], None]
) -> None:
    """Report a column in no row of its stream that a sealed run selected and wrote rows with.

    verify takes a column no row holds for one deselected in the catalog (a limitation); a
    seal naming it among the ``selected`` columns of a stream its run wrote records to says
    the column was written: removed from every row (seals before this tap version name none).
    """
    absent: dict[str, int] | None = getattr(report, "not_archived", None)
    if not absent:
        return
    for name, seal in result.seals:
        selected, records = seal.get("selected"), seal.get("records")
        if not isinstance(selected, dict) or not isinstance(records, dict):
            continue
        for stream, columns in sorted(selected.items()):
            if not isinstance(columns, list) or not chain.whole_number(records.get(stream)):
                continue
            for column in columns:
                if f"{stream}.{column}" in absent:
                    add(
                        f"seal {name}",
                        f"column {stream}.{column} is in no row of the archive, but this run "
                        f"selected it and wrote {records[stream]} {stream} records: removed "
                        "from every row (not deselected)",
                    )
                    absent = {k: v for k, v in absent.items() if k != f"{stream}.{column}"}


def _check_forks(
    chain_name: str, head: str, report: ReportLike, add: t.Callable[[str], None]
) -> None:
    """Report items whose latest record, or only archived bytes, are off a sealed head's chain.

    ``head`` is the newest seal's (``report.off_chain`` / ``unvouched``: evidence.verify).
    """
    off_chain = getattr(report, "off_chain", None)
    unvouched = getattr(report, "unvouched", None)
    if callable(off_chain) and (off := off_chain(chain_name, [head])):
        add(
            f"chain {chain_name}: the latest record of {len(off)} items ({', '.join(off[:5])}) "
            "is on no chain through the newest sealed head (a fork, or a chain that starts "
            "again): not anchored by the seals"
        )
    elif callable(unvouched) and (loose := unvouched(chain_name, [head])):
        add(
            f"chain {chain_name}: the archived bytes of {len(loose)} items "
            f"({', '.join(loose[:5])}) are only in records on no chain through the newest "
            "sealed head (a fork): not anchored by the seals"
        )


Replaced = t.Callable[[str, int, str, t.Any], bool]
"""``replaced(chain, seq, hash, key)``: whether an absent sealed head was replaced (an upsert)."""


def _replaced_heads(report: ReportLike, name: str) -> Replaced | None:
    """Return ``replaced(chain, seq, hash, key)`` from verify's ``Report.replaced_head``.

    Each head it accounts for is noted.
    """
    replaced = getattr(report, "replaced_head", None)
    notes = getattr(report, "notes", None)
    if not callable(replaced):
        return None

    def check(chain_name: str, seq: int, value: str, key: t.Any) -> bool:
        key = key if isinstance(key, str) and key else None
        line = replaced(chain_name, seq, value, key, f"the head of seal {name}")
        if line is None:
            return False
        if isinstance(notes, list) and line not in notes:
            notes.append(line)
        return True

    return check


def _check_archive(
    name: str,
    seal: dict[str, t.Any],
    archive: t.Mapping[str, t.Mapping[int, t.Collection[str]]],
    add: t.Callable[[str, str], None],
    replaced: Replaced | None = None,
) -> None:
    """Report a sealed head that is not a link of the archive.

    ``replaced(chain, seq, hash, key)`` (verify's Report.replaced_head): a head an upserting
    target replaced by a later record of the same key (``chain_head_id``, the attachment's).
    """
    for chain_name, head in sorted((seal.get("chains") or {}).items()):
        if not isinstance(head, dict):
            continue
        seq, value = int(head.get("chain_seq") or 0), str(head.get("chain_head") or "")
        links = archive.get(chain_name) or {}
        key = head.get(chain.HEAD_ID_KEY)
        if seq not in links and replaced is not None and replaced(chain_name, seq, value, key):
            continue
        if seq not in links:
            top = max(links) if links else 0
            add(
                f"seal {name}",
                f"chain {chain_name}: the seal says chain_seq {seq}, the archive ends at "
                f"{top}: records sealed by this run are missing from the archive",
            )
        elif value not in links[seq]:
            add(
                f"seal {name}",
                f"chain {chain_name}: chain_seq {seq} has hash "
                f"{sorted(links[seq])[0][:16]}… in the archive, the seal says {value[:16]}…: "
                "the archive was rewritten",
            )
