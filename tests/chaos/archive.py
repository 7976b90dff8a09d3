"""The union of every run's output, checked against the simulator's ground truth.

What "nothing lost, nothing corrupted" means here, check by check:

- every published message is in ``messages`` and its ``event`` equals the event as published;
- every published event of each configured non-message type is in ``events``, content equal;
- every listed log file is in ``log_files`` with the true SHA-256;
- every attachment of a published message has a ``files`` record; one still live at the end
  (the ground truth does not mark it ``expired``) is ``archived`` with the true SHA-256 and size;
  ``expired`` is only ever claimed when the ground truth said so at the time of that run; one
  that was live during a run that exited 0 must have been archived at some point;
- every ``archived`` record's bytes are verified: the object at ``storage_uri`` (re-hashed from
  the storage folder) or the inline ``content_base64`` / ``file_parts`` reassembled;
- every object at a final content-addressed path in the storage folder hashes to its name;
- records sharing a primary key (declared in SCHEMA) never disagree on content, and one event
  is never emitted under two keys (keys derived by the tap must be deterministic);
- every line of every listed log file ended up somewhere: a JSON object line is the ``event``
  of a record of the right stream (``messages`` for CONVERSATION_MESSAGE, ``events`` for any
  other type, wherever delivered), any other line is recoverable byte for byte from a record
  of its file (``unparsed_lines.content_base64``); ids are never empty;
- the last title seen per conversation is the ground truth's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tapproc import TapRun

CONVERSATION_MESSAGE = "CONVERSATION_MESSAGE"
#: Fields that legitimately differ between two deliveries of the same record.
VOLATILE = {
    "log_file_id",
    "processed_at",
    "archived_at",
    "line_number",
    "line_index",
    "extracted_at",
}
RELINKED = {"chain_seq", "chain_previous", "chain_previous_key", "chain_hash"}
"""A REST row's link: a refresh that reads everything again (a refresh time set aside after a
skewed Date) writes the same items anew, after the chain's head; otherwise a copy repeats it."""
#: Streams whose records are per-run summaries (several records per key by design).
SUMMARY_STREAMS = {"conversations", "files", "log_files", "users", "gpts", "projects"}
#: Workspace file records (issue 21): a failed download is fetched again, its record differs
#: (tests/chaos/workspace.py checks where each one ended).
SUMMARY_STREAMS |= {"gpt_files", "project_files", "library_file_contents"}
TERMINAL_NOT_ARCHIVED = {"not_found", "forbidden", "too_large", "metadata_only"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Fields that may carry the original bytes of a line that is not a JSON object.
RAW_FIELDS = ("content_base64", "raw_base64", "line_base64", "bytes_base64", "raw_line_base64")
EXAMPLES = 3


@dataclass
class RunView:
    """One tap run and what the ground truth said just before it started."""

    run: TapRun
    live_attachments: set[str]
    """Attachments of published messages not expired at the time of the run."""
    expired_attachments: set[str]


@dataclass
class Verdict:
    """Failures (each a precise sentence) and notes (facts worth knowing, not failures)."""

    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def fail(self, what: str, items: Iterable[Any] = ()) -> None:
        """Add a failure, with up to three examples."""
        items = sorted(map(str, items))
        if items:
            more = f" (+{len(items) - EXAMPLES} more)" if len(items) > EXAMPLES else ""
            what = f"{what}: {len(items)}, e.g. {', '.join(items[:EXAMPLES])}{more}"
        self.failures.append(what)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


def _content(record: dict[str, Any], ignored: set[str] = VOLATILE) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ignored and not str(k).startswith("_sdc_")}


def local_path(uri: str) -> Path:
    """Turn a ``storage_uri`` of a local fsspec store into a path."""
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    return Path(uri)


def sha256_file(path: Path) -> tuple[str, int]:
    """Return the SHA-256 and size of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_archive(
    truth: dict[str, Any],
    views: list[RunView],
    *,
    event_types: list[str],
    storage_dir: Path | None,
    bodies: dict[str, tuple[str, bytes]] | None = None,
    interim_statuses: set[str] | None = None,
    relinked: bool = False,
) -> Verdict:
    """Check the union of all runs against the ground truth; return the verdict.

    ``relinked``: a run read every workspace object again (a refresh time set aside): copies
    of a key may differ in their chain columns (:data:`RELINKED`).

    ``bodies`` maps each listed log file id to its event type and bytes (see ``log_bodies``).
    ``interim_statuses`` are terminal-looking statuses that a run may legitimately write for
    an attachment it will retry (e.g. ``forbidden`` when 403s were injected on downloads).
    """
    verdict = Verdict()
    runs = [view.run for view in views]
    _check_keys(runs, verdict, VOLATILE | RELINKED if relinked else VOLATILE)
    if bodies is not None:
        _check_lines(bodies, runs, verdict)
    if CONVERSATION_MESSAGE in event_types:
        _check_messages(truth, runs, verdict)
        _check_conversations(truth, runs, verdict)
        _check_attachments(truth, views, verdict, interim_statuses or set())
    _check_events(truth, runs, event_types, verdict)
    _check_log_files(truth, runs, event_types, verdict)
    _check_bytes(runs, storage_dir, verdict)
    for run in runs:
        for line in run.bad_lines:
            verdict.fail(f"{run.label}: stdout line that is not a Singer message: {line!r}")
    return verdict


def _check_keys(runs: list[TapRun], verdict: Verdict, ignored: set[str] = VOLATILE) -> None:
    """Records sharing a primary key never disagree on content (summary streams excepted)."""
    keys: dict[str, list[str]] = {}
    for run in runs:
        keys.update(run.key_properties)
    for stream, key in sorted(keys.items()):
        if stream in SUMMARY_STREAMS or not key:
            continue
        seen: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
        conflicts = []
        for run in runs:
            for record in run.records.get(stream, []):
                pk = tuple(record.get(k) for k in key)
                content = _content(record, ignored)
                if pk in seen and seen[pk][1] != content:
                    diff = sorted(
                        k
                        for k in set(content) | set(seen[pk][1])
                        if content.get(k) != seen[pk][1].get(k)
                    )
                    conflicts.append(f"{pk} ({seen[pk][0]} vs {run.label}: {', '.join(diff)})")
                seen.setdefault(pk, (run.label, content))
        if conflicts:
            verdict.fail(
                f"{stream}: records with the same key {key} but different content", conflicts
            )
        verdict.stats[f"{stream}_keys"] = len(seen)
    # archived copies of one attachment must agree on the bytes
    archived: dict[str, set[tuple[Any, Any]]] = defaultdict(set)
    for run in runs:
        for record in run.records.get("files", []):
            if record.get("status") == "archived":
                archived[record["id"]].add((record.get("sha256"), record.get("size")))
    clashing = [fid for fid, versions in archived.items() if len(versions) > 1]
    if clashing:
        verdict.fail("files archived twice with different sha256/size", clashing)


def _check_messages(truth: dict[str, Any], runs: list[TapRun], verdict: Verdict) -> None:
    """Every message with an id is there under that id; the others under a non-empty key."""
    expected = truth["messages"]
    published = truth["events"].get(CONVERSATION_MESSAGE, {})
    # events whose message has no usable id: the tap keys them by another (derived) key
    keyless = {
        canonical(event)
        for event in [
            *published.values(),
            *truth.get("events_without_id", {}).get(CONVERSATION_MESSAGE, []),
        ]
        if not (isinstance(event.get("message"), dict) and event["message"].get("id"))
    }
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        for record in run.records.get("messages", []):
            got[record.get("id")].append(record)
    lost = set(expected) - set(got)
    if lost:
        verdict.fail("messages LOST (published, never emitted)", lost)
    empty = [str(k) for k in got if not k]
    if empty:
        verdict.fail("messages emitted with an empty or null id", empty)
    extra = [
        mid
        for mid in set(got) - set(expected)
        if mid and not all(canonical(r.get("event")) in keyless for r in got[mid])
    ]
    if extra:
        verdict.fail("messages emitted that the ground truth does not know", extra)
    altered = []
    for message_id, records in got.items():
        for record in records:
            original = published.get(record.get("event_id"))
            if (
                original is not None
                and not record.get("event_id_derived")
                and record.get("event") != original
            ):
                altered.append(message_id)
                break
    if altered:
        verdict.fail("messages whose `event` differs from the event as published", altered)
    misattributed = [
        message_id
        for message_id, records in got.items()
        if message_id in expected
        and any(
            r.get("conversation_id") != expected[message_id]["conversation_id"]
            or ("attachment_ids" in r and r["attachment_ids"] != expected[message_id]["file_ids"])
            for r in records
        )
    ]
    if misattributed:
        verdict.fail("messages with the wrong conversation_id or attachment_ids", misattributed)
    verdict.stats["messages"] = len(set(got) & set(expected))


def _check_conversations(truth: dict[str, Any], runs: list[TapRun], verdict: Verdict) -> None:
    # The documented downstream rule: per conversation, the title seen at the latest time wins.
    titled: dict[str, tuple[str, str]] = {}
    ids: set[str] = set()
    for run in runs:
        for record in run.records.get("conversations", []):
            ids.add(record.get("id"))
            if record.get("title"):
                candidate = (record.get("title_seen_at") or "", record["title"])
                titled[record["id"]] = max(titled.get(record["id"], candidate), candidate)
    missing = set(truth["conversations"]) - ids
    if missing:
        verdict.fail("conversations never emitted", missing)
    wrong = [
        cid
        for cid, expected in truth["conversations"].items()
        if expected["title"] and titled.get(cid, ("", None))[1] != expected["title"]
    ]
    if wrong:
        verdict.fail("conversations whose latest title is not the ground truth's", wrong)


def _check_events(
    truth: dict[str, Any], runs: list[TapRun], event_types: list[str], verdict: Verdict
) -> None:
    """Every event of a configured type (and every foreign event of a message file) is there.

    Matched by content, so that events without an id (keyed by the tap) count too; an event
    that has its own id and shares it with no other event must keep it as its key.
    """
    clashes = set(truth.get("clashes", {}))
    expected: dict[str, dict[str, Any]] = {}
    own_ids: dict[str, str] = {}
    for event_type in event_types:
        if event_type == CONVERSATION_MESSAGE:
            continue
        for event_id, event in truth["events"].get(event_type, {}).items():
            expected[canonical(event)] = event
            if event_id not in clashes:
                own_ids[canonical(event)] = event_id
        for event in truth.get("events_without_id", {}).get(event_type, []):
            expected[canonical(event)] = event
    if CONVERSATION_MESSAGE in event_types:
        for event in truth.get("foreign_events", {}).values():
            expected[canonical(event)] = event
        for event in truth.get("events_without_id", {}).get(CONVERSATION_MESSAGE, []):
            if event.get("type") not in (None, "", CONVERSATION_MESSAGE):
                expected[canonical(event)] = event
    got: dict[str, set[Any]] = defaultdict(set)
    for run in runs:
        for record in run.records.get("events", []):
            got[canonical(record.get("event"))].add(record.get("event_id"))
    lost = [_event_label(expected[c]) for c in set(expected) - set(got)]
    if lost:
        verdict.fail("events LOST (published, never emitted)", lost)
    extra = [str(got[c]) for c in set(got) - set(expected)]
    if extra:
        verdict.fail("events emitted that the ground truth does not know", extra)
    rekeyed = [
        f"{own_ids[c]} as {sorted(map(str, got[c]))}"
        for c in set(got) & set(own_ids)
        if got[c] != {own_ids[c]}
    ]
    if rekeyed:
        verdict.fail("events not keyed by their own event_id", rekeyed)
    empty = [_event_label(expected.get(c, {})) for c, keys in got.items() if not all(keys)]
    if empty:
        verdict.fail("events emitted with an empty or null event_id", empty)
    verdict.stats["events"] = len(set(got) & set(expected))


def _event_label(event: dict[str, Any]) -> str:
    return f"{event.get('type')}:{event.get('event_id')!r}@{event.get('timestamp')}"


def canonical(value: Any) -> str:
    """Canonical JSON of a value (key order and whitespace do not matter)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_lines(
    bodies: dict[str, tuple[str, bytes]], runs: list[TapRun], verdict: Verdict
) -> None:
    """Every line of every listed log file ended up somewhere, and in the right place.

    A JSON object line must be the ``event`` of a ``messages`` record (a CONVERSATION_MESSAGE
    event: its ``type``, or its file's when it has none) or of an ``events`` record (any other
    type, wherever it was delivered). Any other line (not UTF-8, not JSON, not an object) must
    be recoverable byte for byte from a record of the file (``content_base64`` or similar,
    matched on ``log_file_id`` and, when given, ``line_number``).
    """
    emitted: dict[str, set[str]] = {"messages": set(), "events": set()}
    raw: dict[str, list[tuple[Any, bytes]]] = defaultdict(list)
    keys_by_content: dict[tuple[str, str], set[Any]] = defaultdict(set)
    for run in runs:
        for stream, records in run.records.items():
            for record in records:
                if stream in emitted:
                    content = canonical(record.get("event"))
                    emitted[stream].add(content)
                    key = record.get("id") if stream == "messages" else record.get("event_id")
                    keys_by_content[(stream, content)].add(key)
                if stream in ("files", "file_parts") or not record.get("log_file_id"):
                    continue
                for name in RAW_FIELDS:
                    if isinstance(record.get(name), str):
                        try:
                            data = base64.b64decode(record[name], validate=True)
                        except ValueError:
                            continue
                        raw[record["log_file_id"]].append((record.get("line_number"), data))
    lost, misfiled, lost_raw, lines = [], [], [], 0
    for file_id, (file_type, body) in sorted(bodies.items()):
        for number, line in enumerate(body.split(b"\n"), 1):
            if not line:
                continue
            lines += 1
            event = parse_object(line)
            if event is None:
                found = any(
                    data == line and (n is None or n == number) for n, data in raw.get(file_id, [])
                )
                if not found:
                    lost_raw.append(f"{file_id}:{number} {line[:40]!r}")
                continue
            event_type = event.get("type")
            if not isinstance(event_type, str) or not event_type:
                event_type = file_type
            stream = "messages" if event_type == CONVERSATION_MESSAGE else "events"
            other = "events" if stream == "messages" else "messages"
            content = canonical(event)
            if content in emitted[stream]:
                continue
            if content in emitted[other]:
                misfiled.append(f"{file_id}:{number} ({event_type} in {other})")
            else:
                lost.append(f"{file_id}:{number} ({event_type} {event.get('event_id')!r})")
    if lost:
        verdict.fail("log file lines (JSON events) found in no record", lost)
    if misfiled:
        verdict.fail("log file lines filed in the wrong stream", misfiled)
    if lost_raw:
        verdict.fail("log file lines (not JSON objects) not recoverable byte for byte", lost_raw)
    unstable = [
        f"{stream}: {sorted(map(str, keys))}"
        for (stream, _), keys in keys_by_content.items()
        if len(keys) > 1
    ]
    if unstable:
        verdict.fail(
            "the same event was emitted under different keys (key not deterministic)", unstable
        )
    verdict.stats["lines_checked"] = lines


def parse_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on a line (strict UTF-8, strict JSON), or None."""
    try:
        value = json.loads(line.decode("utf-8"), parse_constant=_reject)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _reject(name: str) -> None:
    raise ValueError(name)


def _check_log_files(
    truth: dict[str, Any], runs: list[TapRun], event_types: list[str], verdict: Verdict
) -> None:
    got: dict[str, dict[str, Any]] = {}
    for run in runs:
        for record in run.records.get("log_files", []):
            got.setdefault(record.get("id"), record)
    missing, wrong = [], []
    for event_type in event_types:
        for meta in truth["log_files"].get(event_type, []):
            record = got.get(meta["id"])
            if record is None:
                missing.append(meta["id"])
            elif record.get("verified_sha256") != meta["file_sha256"]:
                wrong.append(meta["id"])
    if missing:
        verdict.fail("log files listed by the API but absent from log_files", missing)
    if wrong:
        verdict.fail("log_files records whose verified_sha256 is not the file's", wrong)
    verdict.stats["log_files"] = len(got)


def _check_attachments(
    truth: dict[str, Any], views: list[RunView], verdict: Verdict, interim: set[str]
) -> None:
    expected = truth["attachments"]
    records: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for index, view in enumerate(views):
        for record in view.run.records.get("files", []):
            records[record.get("id")].append((index, record))
    never = set(expected) - set(records)
    live_never = {fid for fid in never if not expected[fid]["expired"]}
    if live_never:
        verdict.fail("live attachments LOST (no files record at all)", live_never)
    if never - live_never:
        verdict.fail("expired attachments without any files record", never - live_never)
    # the ground truth lists only attachments of messages with an id; those of id-less messages
    # are archived all the same
    keyless_files = {
        str(item.get("id"))
        for event in [
            *truth["events"].get(CONVERSATION_MESSAGE, {}).values(),
            *truth.get("events_without_id", {}).get(CONVERSATION_MESSAGE, []),
        ]
        if isinstance(event.get("message"), dict) and not event["message"].get("id")
        for item in event["message"].get("files") or []
        if isinstance(item, dict)
    }
    extra = set(records) - set(expected) - keyless_files
    if extra:
        verdict.fail("files records for attachments the ground truth does not know", extra)
    lost, wrong_bytes, false_expired, odd_status, lost_in_clean_run = [], [], [], [], []
    archived_count = 0
    for file_id, truth_file in expected.items():
        recs = records.get(file_id, [])
        archived = [r for _, r in recs if r.get("status") == "archived"]
        for record in archived:
            if (
                record.get("sha256") != truth_file["sha256"]
                or record.get("size") != truth_file["size"]
            ):
                wrong_bytes.append(file_id)
        for index, record in recs:
            status = record.get("status")
            if status == "expired" and file_id not in views[index].expired_attachments:
                false_expired.append(f"{file_id} in {views[index].run.label}")
            elif status in TERMINAL_NOT_ARCHIVED and status not in interim:
                odd_status.append(f"{file_id}={status} in {views[index].run.label}")
        if archived:
            archived_count += 1
            continue
        if recs and not truth_file["expired"]:
            statuses = sorted({str(r.get("status")) for _, r in recs})
            lost.append(f"{file_id} ({'/'.join(statuses)})")
        elif recs:
            clean = [
                view.run.label
                for view in views
                if view.run.returncode == 0 and file_id in view.live_attachments
            ]
            if clean:
                lost_in_clean_run.append(f"{file_id} (live during {clean[0]}, which exited 0)")
    if lost:
        verdict.fail("live attachments LOST (never archived, not expired)", lost)
    if lost_in_clean_run:
        verdict.fail(
            "attachments that expired unarchived although a run that exited 0 saw them live",
            lost_in_clean_run,
        )
    if wrong_bytes:
        verdict.fail("attachments archived with a sha256/size other than the true one", wrong_bytes)
    if false_expired:
        verdict.fail("attachments reported `expired` while still live at the API", false_expired)
    if odd_status:
        verdict.fail("attachments with a terminal status they should not get", odd_status)
    verdict.stats["attachments_archived"] = archived_count
    verdict.stats["attachments_expired"] = sum(1 for f in expected.values() if f["expired"])


def _check_bytes(runs: list[TapRun], storage_dir: Path | None, verdict: Verdict) -> None:
    """Every archived record's bytes hash to its sha256; every stored object to its name."""
    bad = []
    checked = 0
    for run in runs:
        parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for part in run.records.get("file_parts", []):
            parts[part.get("file_id")].append(part)
        for record in run.records.get("files", []):
            if record.get("status") != "archived":
                continue
            sha = record.get("sha256")
            where = f"{record.get('id')} in {run.label}"
            if record.get("storage_uri"):
                path = local_path(record["storage_uri"])
                if not path.is_file():
                    bad.append(f"{where}: {path} does not exist")
                    continue
                digest, size = sha256_file(path)
                if digest != sha or size != record.get("size"):
                    bad.append(f"{where}: object holds {size} bytes hashing to {digest[:12]}…")
            elif record.get("content_base64") is not None:
                data = base64.b64decode(record["content_base64"])
                if hashlib.sha256(data).hexdigest() != sha:
                    bad.append(f"{where}: inline content does not hash to sha256")
            elif record.get("part_count"):
                chunks = sorted(parts.get(record["id"], []), key=lambda p: p.get("part_index"))
                indexes = [p.get("part_index") for p in chunks]
                if indexes != list(range(record["part_count"])):
                    bad.append(f"{where}: file_parts {indexes} of {record['part_count']}")
                    continue
                data = b"".join(base64.b64decode(p["content_base64"]) for p in chunks)
                if hashlib.sha256(data).hexdigest() != sha:
                    bad.append(f"{where}: file_parts do not hash to sha256")
            else:
                bad.append(f"{where}: archived without storage_uri, content or parts")
                continue
            checked += 1
    if bad:
        verdict.fail("archived attachments whose bytes do not verify", bad)
    verdict.stats["archived_records_verified"] = checked
    if storage_dir is None or not storage_dir.exists():
        return
    corrupt, leftovers, objects = [], [], 0
    for path in sorted(p for p in storage_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(storage_dir).parts
        is_final = (
            len(relative) == 3
            and relative[0] == "sha256"
            and HEX64.match(relative[2]) is not None
            and relative[1] == relative[2][:2]
        )
        if not is_final:
            leftovers.append("/".join(relative))
            continue
        objects += 1
        digest, size = sha256_file(path)
        if digest != relative[2]:
            corrupt.append(f"{relative[2][:12]}… ({size} bytes hash to {digest[:12]}…)")
    if corrupt:
        verdict.fail("CORRUPT objects at their final content-addressed path", corrupt)
    if leftovers:
        verdict.notes.append(
            f"{len(leftovers)} non-final files left in the storage folder (e.g. {leftovers[0]})"
        )
    verdict.stats["stored_objects_verified"] = objects


def log_bodies(
    sim: Any, truth: dict[str, Any], event_types: list[str]
) -> dict[str, tuple[str, bytes]]:
    """The bytes of every log file currently listed for the configured event types."""
    bodies = {}
    for event_type in event_types:
        for meta in truth["log_files"].get(event_type, []):
            bodies[meta["id"]] = (event_type, sim.log_file_bytes(meta["id"]))
    return bodies


def run_notes(runs: list[TapRun]) -> list[str]:
    """Facts about how runs ended that are not losses: exits with a traceback."""
    notes = []
    for run in runs:
        if (
            run.returncode not in (0, None)
            and not run.killed
            and "Traceback (most recent call last)" in run.stderr
        ):
            last = run.stderr.strip().splitlines()[-1][:200]
            notes.append(f"{run.label} exited {run.returncode} with a traceback: {last}")
    return notes


def state_size(state: dict[str, Any] | None) -> int:
    """Return the size of a state in bytes of JSON."""
    return len(json.dumps(state or {}))
