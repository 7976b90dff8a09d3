r"""Prove from an archive alone that nothing was dropped or altered since collection.

Checks (each failure is a :class:`Finding` naming the item):

1. ``raw``: every log file kept raw (``log_files.raw_content``: ``storage`` or ``inline``) hashes
   to OpenAI's ``file_sha256`` (``provider_sha256``) and has its size;
2. ``event``: every line of those files is in the archive: each event as a ``messages`` or
   ``events`` record whose ``event`` equals it, each other line as its ``unparsed_lines`` record;
3. ``chain``: per event type, every manifest record's ``chain_hash`` recomputes, and every
   ``chain_previous`` is the hash of a record present (or the genesis): a removed or altered
   manifest record breaks the chain, and ``end_time`` never goes backwards along it;
4. ``manifest``: every log file that records point to has its manifest record;
5. ``attachment``: every ``archived`` attachment's bytes (inline, parts or stored object) hash to
   its recorded ``sha256``;
6. ``added``: every ``messages``, ``events`` and ``unparsed_lines`` row that points to a log file
   whose raw bytes verified is a line of that file: a row added beyond what OpenAI delivered is a
   finding.

A PostgreSQL archive (target-postgres ``sanitize_null_text_characters``) holds U+FFFD where the
delivered text had NUL (``\u0000``): for that source only, an event that equals its line once
each NUL of the line is replaced by U+FFFD (and nothing else differs) is found, and listed as a
note, not a finding.

Log files kept with ``raw_content: none`` cannot be proven byte-exact: they are listed as a
limitation, not a finding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import typing as t
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from tap_chatgpt_compliance import chain
from tap_chatgpt_compliance.logfiles import LineParser, derived_event_key

if t.TYPE_CHECKING:
    from tap_chatgpt_compliance.evidence.sources import Archive

Record = dict[str, t.Any]
MAX_LISTED = 50
"""Findings of one kind listed one by one in the human-readable output."""
NUL, REPLACEMENT = "\u0000", "\ufffd"
"""What target-postgres's ``sanitize_null_text_characters`` replaces, and with what."""


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
    """What verify found."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    chains: dict[str, dict[str, t.Any]] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        """Return True when nothing is missing or altered."""
        return not self.findings

    def add(self, check: str, item: str, detail: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(check, item, detail))

    def to_json(self) -> dict[str, t.Any]:
        """Return the report as JSON-ready data."""
        return {
            "verdict": "intact" if self.intact else "FAILED",
            "source": self.source,
            "counts": dict(sorted(self.counts.items())),
            "chains": self.chains,
            "limitations": self.limitations,
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }

    def text(self) -> str:
        """Return the human-readable report, verdict last."""
        c = self.counts
        lines = [
            f"Archive: {self.source}",
            f"  log files: {c['log_files']} in the manifest; raw kept and hashing to OpenAI's "
            f"SHA-256: {c['raw_verified']} of {c['raw_kept']} kept"
            + (f" ({c['raw_not_kept']} not kept)" if c["raw_not_kept"] else ""),
            f"  events of the raw files found in the tables: {c['events_found']} of "
            f"{c['events_in_raw']}; unparsed lines: {c['unparsed_found']} of "
            f"{c['unparsed_in_raw']}",
            f"  attachments archived: {c['attachments_verified']} of {c['attachments_archived']} "
            "hash to their SHA-256",
            f"  rows of the tables traced to a line of their raw file: {c['rows_traced']} of "
            f"{c['rows_checked']}",
        ]
        for event_type, info in sorted(self.chains.items()):
            lines.append(
                f"  chain {event_type}: {info['links']} links, "
                f"{'unbroken' if info['unbroken'] else 'BROKEN'}, end_time "
                f"{info['first_end_time']} .. {lines_or_none(info['last_end_time'])}"
            )
        lines.extend(f"  limitation: {text}" for text in self.limitations)
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
        return "\n".join(lines)

    def verdict(self) -> str:
        """Return the one-line verdict."""
        if self.intact:
            return (
                f"VERDICT: intact — {self.counts['log_files']} log files, "
                f"{self.counts['events_found']} events, "
                f"{self.counts['attachments_verified']} attachments verified"
            )
        kinds = ", ".join(
            f"{n} {k}" for k, n in sorted(Counter(f.check for f in self.findings).items())
        )
        return f"VERDICT: FAILED — {len(self.findings)} findings ({kinds})"


def lines_or_none(value: t.Any) -> str:
    """Return a value for display."""
    return "-" if value is None else str(value)


def verify(archive: Archive) -> Report:
    """Run every check on an archive."""
    report = Report(archive.description)
    manifest = _manifest(archive, report)
    _check_chains(manifest, report)
    traced = _check_raw_files(archive, manifest, report)
    _check_added(archive, traced, report)
    _check_referenced_files(archive, manifest, report)
    _check_attachments(archive, report)
    return report


def _manifest(archive: Archive, report: Report) -> dict[str, Record]:
    """Return the manifest by log file id (the same record may be there several times)."""
    manifest: dict[str, Record] = {}
    for record in archive.records("log_files"):
        file_id = str(record.get("id"))
        kept = manifest.get(file_id)
        if kept is not None and kept.get("chain_hash") != record.get("chain_hash"):
            report.add(
                "manifest",
                f"log file {file_id}",
                "two manifest records with different chain hashes",
            )
        manifest.setdefault(file_id, record)
    report.counts["log_files"] = len(manifest)
    return manifest


def _check_chains(manifest: dict[str, Record], report: Report) -> None:
    by_type: dict[str, list[Record]] = defaultdict(list)
    unchained = 0
    for record in manifest.values():
        if not record.get("chain_hash"):
            unchained += 1
            continue
        by_type[str(record.get("event_type"))].append(record)
    if unchained:
        report.limitations.append(
            f"{unchained} log files have no chain hash (archived before the chain existed)"
        )
    for event_type, records in by_type.items():
        by_hash = {str(r["chain_hash"]): r for r in records}
        successors: Counter[str] = Counter()
        broken = False
        geneses = 0
        for record in sorted(records, key=lambda r: int(r.get("chain_seq") or 0)):
            file_id = record["id"]
            previous = str(record.get("chain_previous") or "")
            expected = chain.chain_hash(previous, record)
            if expected != record["chain_hash"]:
                broken = True
                report.add(
                    "chain",
                    f"log file {file_id} ({event_type}, chain_seq {record.get('chain_seq')})",
                    "manifest record altered: its fields do not hash to its chain_hash",
                )
            successors[previous] += 1
            if previous == chain.GENESIS:
                geneses += 1
                continue
            before = by_hash.get(previous)
            if before is None:
                broken = True
                report.add(
                    "chain",
                    f"log file before {file_id} ({event_type}, chain_seq "
                    f"{int(record.get('chain_seq') or 0) - 1})",
                    f"manifest record missing: no record has chain_hash {previous}",
                )
                continue
            if int(before.get("chain_seq") or 0) + 1 != int(record.get("chain_seq") or 0):
                broken = True
                report.add("chain", f"log file {file_id}", "chain_seq does not follow its link")
            if chain.canonical_time(before.get("end_time")) > (  # type: ignore[operator]
                chain.canonical_time(record.get("end_time")) or ""
            ):
                broken = True
                report.add(
                    "chain",
                    f"log file {file_id}",
                    f"end_time goes backwards after log file {before['id']}",
                )
        for previous, count in successors.items():
            if count > 1:
                broken = True
                report.add(
                    "chain",
                    f"{event_type} link {previous[:16]}…",
                    f"{count} different manifest records follow the same link",
                )
        if geneses > 1:
            report.limitations.append(
                f"the {event_type} chain starts {geneses} times (an archive whose state was "
                "reset starts a new chain): coverage between the chains is not proven"
            )
        times = sorted(t for t in (chain.canonical_time(r.get("end_time")) for r in records) if t)
        report.chains[event_type] = {
            "links": len(records),
            "unbroken": not broken,
            "starts": geneses,
            "first_end_time": times[0] if times else None,
            "last_end_time": times[-1] if times else None,
        }


def _raw_bytes(
    archive: Archive, record: Record, parts: dict[str, list[Record]], report: Report
) -> bytes | None:
    """Return a log file's kept bytes, or None (with a finding) when they are missing."""
    file_id = record["id"]
    mode = record.get("raw_content")
    if mode == "storage":
        uri = str(record.get("raw_storage_uri") or "")
        data = archive.read_object(uri) if uri else None
        if data is None:
            report.add("raw", f"log file {file_id}", f"raw file missing: no object at {uri!r}")
        return data
    count = int(record.get("raw_part_count") or 0)
    by_index: dict[int, Record] = {}
    for part in parts.get(file_id, []):
        by_index.setdefault(int(part["part_index"]), part)
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        report.add(
            "raw",
            f"log file {file_id}",
            f"raw file incomplete: log_file_parts {missing[:10]} of {count} missing",
        )
        return None
    try:
        return b"".join(
            base64.b64decode(by_index[i]["content_base64"], validate=True) for i in range(count)
        )
    except (binascii.Error, TypeError, ValueError) as exc:
        report.add("raw", f"log file {file_id}", f"log_file_parts not base64 ({exc})")
        return None


@dataclass
class RawLines:
    """What a verified raw file holds: its events (canonical JSON), their keys, unparsed lines."""

    events: set[str] = field(default_factory=set)
    altered: set[str] = field(default_factory=set)
    """Keys of its events whose record was reported altered (not reported again as added)."""
    unparsed: set[int] = field(default_factory=set)


def _check_raw_files(
    archive: Archive, manifest: dict[str, Record], report: Report
) -> dict[str, RawLines]:
    """Check the raw files and their events; return what each verified raw file holds."""
    traced: dict[str, RawLines] = {}
    parts: dict[str, list[Record]] = defaultdict(list)
    for part in archive.records("log_file_parts"):
        parts[str(part.get("log_file_id"))].append(part)
    messages = _index(archive.records("messages"), lambda r: (str(r.get("event_id")),))
    events = _index(
        archive.records("events"), lambda r: (str(r.get("event_id")), str(r.get("type")))
    )
    unparsed = {
        (str(r.get("log_file_id")), int(r.get("line_number") or 0)): r
        for r in archive.records("unparsed_lines")
    }
    not_kept = 0
    for file_id, record in sorted(manifest.items()):
        if record.get("raw_content") not in ("storage", "inline"):
            not_kept += 1
            report.counts["raw_not_kept"] += 1
            continue
        report.counts["raw_kept"] += 1
        data = _raw_bytes(archive, record, parts, report)
        if data is None:
            continue
        expected = str(record.get("provider_sha256") or record.get("verified_sha256") or "")
        found = hashlib.sha256(data).hexdigest()
        if found != expected.lower() or len(data) != record.get("bytes_downloaded", len(data)):
            report.add(
                "raw",
                f"log file {file_id}",
                f"raw file altered: {len(data)} bytes hashing to {found}, OpenAI's file_sha256 "
                f"is {expected}",
            )
            continue
        report.counts["raw_verified"] += 1
        traced[file_id] = _check_events(
            file_id, record, data, messages, events, unparsed, report, archive.nul_replaced
        )
    if not_kept:
        report.limitations.append(
            f"{not_kept} log files were archived without their raw bytes (file_content: none, "
            "or log_file_parts deselected): their byte-exactness cannot be proven"
        )
    replaced = report.counts["events_nul_replaced"]
    if replaced:
        report.notes.append(
            f"{replaced} events hold NUL (\\u0000) in their text, which this target stores as "
            "U+FFFD (target-postgres sanitize_null_text_characters): they were compared with "
            "exactly that replacement"
        )
    return traced


def _index(
    records: list[Record], key: t.Callable[[Record], tuple[str, ...]]
) -> dict[tuple[str, ...], list[t.Any]]:
    out: dict[tuple[str, ...], list[t.Any]] = defaultdict(list)
    for record in records:
        out[key(record)].append(_as_object(record.get("event")))
    return out


def _as_object(value: t.Any) -> t.Any:
    """Return a JSON column as an object (some targets keep it as text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _check_events(
    file_id: str,
    record: Record,
    data: bytes,
    messages: dict[tuple[str, ...], list[t.Any]],
    events: dict[tuple[str, ...], list[t.Any]],
    unparsed: dict[tuple[str, int], Record],
    report: Report,
    nul_replaced: bool = False,
) -> RawLines:
    """Check that every line of a verified raw file is in the tables; return its lines."""
    file_type = str(record.get("event_type"))
    parser = LineParser(file_type)
    parser.feed(data)
    parsed = parser.finish({})
    lines = RawLines()
    for line in parsed.unparsed:
        lines.unparsed.add(line.line_number)
        report.counts["unparsed_in_raw"] += 1
        kept = unparsed.get((file_id, line.line_number))
        if kept is None or kept.get("sha256") != hashlib.sha256(line.raw).hexdigest():
            what = "missing" if kept is None else "altered"
            report.add(
                "event",
                f"unparsed line {line.line_number} of log file {file_id}",
                f"{what} in unparsed_lines",
            )
        else:
            report.counts["unparsed_found"] += 1
    for event, table, name in (
        *((e, messages, "messages") for e in parsed.messages),
        *((e, events, "events") for e in parsed.others),
    ):
        report.counts["events_in_raw"] += 1
        key = _key(event)
        lines.events.add(_canonical(event))
        stored = replace_nul(event) if nul_replaced and _has_nul(event) else event
        if stored is not event:
            lines.events.add(_canonical(stored))
        event_type = event.get("type") if isinstance(event.get("type"), str) else None
        suffix = () if name == "messages" else (event_type or file_type,)
        candidates = [
            *table.get((key, *suffix), []),
            *table.get((f"{key}#{derived_event_key(event)}", *suffix), []),
        ]
        if any(candidate == event for candidate in candidates):
            report.counts["events_found"] += 1
            continue
        if stored is not event and any(candidate == stored for candidate in candidates):
            report.counts["events_found"] += 1
            report.counts["events_nul_replaced"] += 1
            continue
        what = "altered (the record differs from the raw line)" if candidates else "missing"
        if candidates:
            lines.altered.add(key)
        report.add("event", f"{name} event {key} of log file {file_id}", what)
    return lines


def _key(event: t.Any) -> str:
    """Return an event's key as the tap derives it (its event_id, else a content hash)."""
    if not isinstance(event, dict):
        return ""
    event_id = event.get("event_id")
    return event_id if isinstance(event_id, str) and event_id else derived_event_key(event)


def replace_nul(value: t.Any) -> t.Any:
    """Return a JSON value with each NUL of its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, dict):
        return {replace_nul(k): replace_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_nul(v) for v in value]
    return value


def _has_nul(value: t.Any) -> bool:
    return "\\u0000" in json.dumps(value)


def _normal(value: t.Any) -> t.Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _canonical(event: t.Any) -> str:
    """Return an event as canonical JSON (1.0 and 1 alike, as a database may give them back)."""
    return json.dumps(_normal(event), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _check_added(archive: Archive, traced: dict[str, RawLines], report: Report) -> None:
    """Find rows that point to a verified raw file but are not one of its lines."""
    for stream in ("messages", "events"):
        for row in archive.records(stream):
            file_id = str(row.get("log_file_id"))
            lines = traced.get(file_id)
            if lines is None:
                continue  # raw file not kept or not verified (reported), or not in the manifest
            report.counts["rows_checked"] += 1
            event = _as_object(row.get("event"))
            if _canonical(event) in lines.events:
                report.counts["rows_traced"] += 1
                continue
            key = _key(event) or str(row.get("event_id"))
            if key in lines.altered:
                continue  # reported as altered
            report.add(
                "added",
                f"{stream} event {key} of log file {file_id}",
                "a row that is not a line of its raw file (which hashes to OpenAI's SHA-256)",
            )
    for row in archive.records("unparsed_lines"):
        file_id = str(row.get("log_file_id"))
        unparsed = traced.get(file_id)
        if unparsed is None:
            continue
        report.counts["rows_checked"] += 1
        number = int(row.get("line_number") or 0)
        if number in unparsed.unparsed:
            report.counts["rows_traced"] += 1
            continue
        report.add(
            "added",
            f"unparsed line {number} of log file {file_id}",
            "the raw file has no such unparsed line",
        )


def _check_referenced_files(archive: Archive, manifest: dict[str, Record], report: Report) -> None:
    for stream in ("messages", "events", "unparsed_lines", "conversations", "log_file_parts"):
        referenced = Counter(str(r.get("log_file_id")) for r in archive.records(stream))
        for file_id, count in sorted(referenced.items()):
            if file_id not in manifest and file_id != "None":
                report.add(
                    "manifest",
                    f"log file {file_id}",
                    f"manifest record missing ({count} {stream} records point to it)",
                )


def _check_attachments(archive: Archive, report: Report) -> None:
    parts: dict[str, dict[int, Record]] = defaultdict(dict)
    for part in archive.records("file_parts"):
        parts[str(part.get("file_id"))].setdefault(int(part["part_index"]), part)
    seen: set[tuple[str, str]] = set()
    for record in archive.records("files"):
        if record.get("status") != "archived":
            continue
        file_id, sha256 = str(record.get("id")), str(record.get("sha256"))
        if (file_id, sha256) in seen:
            continue
        seen.add((file_id, sha256))
        report.counts["attachments_archived"] += 1
        data = _attachment_bytes(archive, record, parts.get(file_id, {}), report)
        if data is None:
            continue
        found = hashlib.sha256(data).hexdigest()
        if found != sha256 or len(data) != record.get("size", len(data)):
            report.add(
                "attachment",
                f"attachment {file_id}",
                f"bytes altered: {len(data)} bytes hashing to {found}, recorded {sha256}",
            )
            continue
        report.counts["attachments_verified"] += 1


def _attachment_bytes(
    archive: Archive, record: Record, parts: dict[int, Record], report: Report
) -> bytes | None:
    file_id = record["id"]
    uri = record.get("storage_uri")
    try:
        if record.get("content_base64") is not None:
            return base64.b64decode(record["content_base64"], validate=True)
        if uri:
            data = archive.read_object(str(uri))
            if data is None:
                report.add("attachment", f"attachment {file_id}", f"no object at {uri!r}")
            return data
        count = int(record.get("part_count") or 0)
        missing = [i for i in range(count) if i not in parts]
        if missing or not count:
            report.add(
                "attachment",
                f"attachment {file_id}",
                f"file_parts {missing[:10]} of {count} missing",
            )
            return None
        return b"".join(
            base64.b64decode(parts[i]["content_base64"], validate=True) for i in range(count)
        )
    except (binascii.Error, TypeError, ValueError) as exc:
        report.add("attachment", f"attachment {file_id}", f"content is not base64 ({exc})")
        return None
