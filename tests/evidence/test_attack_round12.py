"""A twelfth attack on ``verify`` and ``export``: log-derived rows, attachments, export marks.

The adversary can write the archive (not the state or the seals). Each case alters an archive
written by a real tap run against the simulator and requires a finding (never ``intact``), or an
export that marks what a finding concerns.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Oddities, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export_text import file_stem
from tap_chatgpt_compliance.evidence.provenance import UNPROVEN_MARK
from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify
from tap_chatgpt_compliance.logfiles.records import message_record
from tests.support.simulators import running
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import cli, ok, write_jsonl

pytestmark = pytest.mark.e2e
Records = dict[str, list[dict[str, Any]]]


def _records(run: TapRun) -> Records:
    return copy.deepcopy(run.records)


def _state(run: TapRun, folder: Path) -> Path:
    path = folder / "state.json"
    path.write_text(json.dumps(run.state))
    return path


def _custodian(records: Records) -> str:
    """The email (as the delivered events carry it) of the user with the most messages."""
    counts: dict[str, int] = {}
    for m in records["messages"]:
        if m["actor_user_id"]:
            counts[m["actor_user_id"]] = counts.get(m["actor_user_id"], 0) + 1
    user_id = max(sorted(counts), key=lambda u: counts[u])
    return str(
        next(
            m["event"]["actor"]["user_email"]
            for m in records["messages"]
            if m["actor_user_id"] == user_id
        )
    )


# --------------------------------------------------------------------------- attachments


@pytest.mark.parametrize("content", [base64.b64encode(b"not the attachment").decode(), None])
def test_every_copy_of_an_archived_record_has_its_bytes_checked(
    inline_run: TapRun, tmp_path: Path, content: str | None
) -> None:
    """A copy of an archived ``files`` record (at-least-once delivery: the same chained fields)
    put before it, its ``content_base64`` (on no chain) other bytes or none. verify read the
    bytes of one record per SHA-256 (the last): ``intact``; export renders the first archived
    record, whose bytes do not hash: the attachment was left out of the production ("archived
    bytes missing or not matching") under an intact verdict. Found so. Every distinct copy's
    bytes are now read."""
    records = _records(inline_run)
    target = next(
        f for f in records["files"] if f["status"] == "archived" and f.get("content_base64")
    )
    forged = dict(target, content_base64=content)  # other bytes, or none (dropped)
    records["files"].insert(records["files"].index(target), forged)
    folder = write_jsonl(records, tmp_path / "archive")
    report = verify(sources.from_jsonl(folder), anchor_from_state(inline_run.state, "state"))
    assert report.status == "FAILED", report.text()
    assert any(f.check == "attachment" and target["id"] in f.item for f in report.findings), (
        report.text()
    )

    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--conversation",
        target["conversation_id"],
        "--state",
        str(_state(inline_run, tmp_path)),
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stdout
    assert target["id"] in done.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- export marks


def test_a_row_forged_under_a_proven_event_id_is_marked_not_proven(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """A made-up message row added to a log file under the ``event_id`` of a real message of
    it (its ``event`` a made-up event with its own ids). verify names the real message's key
    (``messages event <id> of log file <id> column …``); export marked the message whose
    delivered event carries that id, and rendered the made-up one in the custodian's
    conversation as any proven message (no mark on its page, RSMF or CSV row). Found so. A
    finding naming a row's key now marks every message whose row holds that key."""
    records = _records(inline_run)
    mail = _custodian(records)
    real = next(
        m
        for m in records["messages"]
        if m["event"]["actor"].get("user_email") == mail and m["content_text"]
    )
    event = copy.deepcopy(real["event"])
    event["event_id"] = "evt-made-up-12"
    event["message"]["id"] = "msg-made-up-12"
    event["message"]["content"] = {"type": "text", "value": "MADE UP: wire the funds today"}
    forged = message_record(event, real["workspace_id"], real["log_file_id"])
    forged["event_id"] = real["event_id"]  # verify keys the row by it: one key, two rows
    records["messages"].insert(records["messages"].index(real) + 1, forged)
    folder = write_jsonl(records, tmp_path / "archive")

    report = verify(sources.from_jsonl(folder), anchor_from_state(inline_run.state, "state"))
    assert report.status == "FAILED"
    assert {f.check for f in report.findings} == {"column"}, report.text()

    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--custodian",
        mail,
        "--out",
        str(out),
        "--allow-findings",
        "--state",
        str(_state(inline_run, tmp_path)),
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((out / "production_messages.csv").read_text())))
    notes = {r["message_id"]: r["note"] for r in rows}
    assert notes["msg-made-up-12"] == UNPROVEN_MARK
    assert notes[real["id"]] == UNPROVEN_MARK
    page = (out / "html" / f"{file_stem(real['conversation_id'])}.html").read_text(encoding="utf-8")
    assert page.count(UNPROVEN_MARK) >= 2


# --------------------------------------------------------------------------- chain positions


@pytest.mark.parametrize("stream", ["log_files", "files"])
@pytest.mark.parametrize(("seq", "written"), [(2, 2.5), (2, "2"), (1, True), (1, "1"), (2, " 2")])
def test_a_chain_seq_that_is_no_whole_number_is_a_finding(
    inline_run: TapRun, tmp_path: Path, stream: str, seq: int, written: Any
) -> None:
    """``chain_seq`` is not hashed; the chain checks read it with ``int()``: ``2.5``, ``"2"``,
    ``" 2"`` and ``true`` were position 2, 2, 2 and 1, and verify said ``intact`` about a record
    whose position a reader (sorting or counting the chain by it) reads otherwise. Found so."""
    records = _records(inline_run)
    row = next(r for r in records[stream] if r["chain_seq"] == seq)
    row["chain_seq"] = written
    folder = write_jsonl(records, tmp_path / "archive")
    report = verify(sources.from_jsonl(folder), anchor_from_state(inline_run.state, "state"))
    assert report.status == "FAILED", report.text()
    assert any(
        f.check == "chain" and str(row["id"]) in f.item and "chain_seq" in f.detail
        for f in report.findings
    ), report.text()


def test_a_chain_seq_written_as_a_whole_float_is_the_same_position(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """``2.0`` is the JSON number 2 (targets differ in how they write numbers): no finding."""
    records = _records(inline_run)
    for stream in ("log_files", "files"):
        for row in records[stream]:
            row["chain_seq"] = float(row["chain_seq"])
    folder = write_jsonl(records, tmp_path / "archive")
    report = verify(sources.from_jsonl(folder), anchor_from_state(inline_run.state, "state"))
    assert report.status == "intact", report.text()


# --------------------------------------------------------------------------- manifest counts


@pytest.mark.parametrize(
    "column",
    [
        "blank_lines",
        "unparsed_lines",
        "foreign_events",
        "event_count",
        "duplicates_dropped",
        "events_without_id",
        "id_clashes",
    ],
)
@pytest.mark.parametrize("kind", ["text", "padded", "fraction"])
def test_a_manifest_count_that_is_no_whole_number_is_a_finding(
    inline_run: TapRun, tmp_path: Path, column: str, kind: str
) -> None:
    """The counts no chain covers were compared with the raw file through ``int()``: ``"2"``,
    ``" 2"`` and ``2.5`` for 2 were ``intact``; a reader summing the column gets another number
    (or a text). Found so. A count is now a whole number from 0, or a finding."""
    records = _records(inline_run)
    row = records["log_files"][0]
    value = row[column]
    row[column] = {"text": str(value), "padded": f" {value}", "fraction": value + 0.5}[kind]
    folder = write_jsonl(records, tmp_path / "archive")
    report = verify(sources.from_jsonl(folder), anchor_from_state(inline_run.state, "state"))
    assert report.status == "FAILED", report.text()
    assert any(
        f.check == "column" and f.item == f"log_files {row['id']} column {column}"
        for f in report.findings
    ), report.text()


# --------------------------------------------------------------------------- export --since


@pytest.fixture(scope="module")
def no_end_time_run() -> TapRun:
    """A run against a listing whose items carry no ``end_time`` (an oddity the tap handles:
    the page's ``last_end_time`` for its last item, else the end time before it)."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.6},
        rate_limits=False,
        oddities=Oddities(listing_without_end_time=True),
    )
    with running(config) as simulator:
        return ok(run_tap(tap_config(simulator, event_types=["CONVERSATION_MESSAGE"])))


def test_since_checks_the_log_files_whose_end_time_is_a_stand_in(
    no_end_time_run: TapRun, tmp_path: Path
) -> None:
    """A listing item without an ``end_time`` is recorded with the end time before it (the
    run's bookmark: here 29 days before its events). ``export --since`` verified only the log
    files that ended at or after a day before ``--since`` and those holding a row of the
    selected conversations: a message's row deleted from such a file (its conversation's only
    row there) was left out of the production under ``VERDICT: intact``. Found so. A file
    whose ``end_time`` does not bound its events (its chain's first, or one not after the one
    before it: both chained) is now always in the slice."""
    records = _records(no_end_time_run)
    assert {r["end_time_source"] for r in records["log_files"]} >= {"previous"}
    stand_ins = {r["id"] for r in records["log_files"] if r["end_time_source"] == "previous"}
    mail = _custodian(records)
    mine = [m for m in records["messages"] if m["event"]["actor"].get("user_email") == mail]
    since = min(m["created_at"] for m in mine)[:10]
    by_file: dict[tuple[str, str], int] = {}
    for m in records["messages"]:
        key = (m["log_file_id"], m["conversation_id"])
        by_file[key] = by_file.get(key, 0) + 1
    per_conversation: dict[str, int] = {}
    for m in records["messages"]:
        per_conversation[m["conversation_id"]] = per_conversation.get(m["conversation_id"], 0) + 1
    victim = next(
        m
        for m in mine
        if m["log_file_id"] in stand_ins
        and by_file[(m["log_file_id"], m["conversation_id"])] == 1
        and per_conversation[m["conversation_id"]] > 1
        and any(
            o["event"]["actor"].get("user_email") == mail
            for o in records["messages"]
            if o["conversation_id"] == m["conversation_id"] and o is not m
        )
    )
    records["messages"].remove(victim)
    records["conversations"] = [
        c
        for c in records["conversations"]
        if (c["log_file_id"], c["id"]) != (victim["log_file_id"], victim["conversation_id"])
    ]
    folder = write_jsonl(records, tmp_path / "archive")
    state = _state(no_end_time_run, tmp_path)
    whole = verify(sources.from_jsonl(folder), anchor_from_state(no_end_time_run.state, "state"))
    assert whole.status == "FAILED"  # the whole archive: the line without its row

    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--custodian",
        mail,
        "--since",
        since,
        "--state",
        str(state),
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stdout
    assert victim["event_id"] in done.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- unparsed lines


def test_an_export_says_when_message_lines_could_not_be_parsed(tmp_path: Path) -> None:
    """OpenAI delivered message-file lines the tap could not parse (kept byte-exact in
    ``unparsed_lines``, verified): no selection can hold them, and the export said nothing of
    them (its summary counts messages without a conversation or time, not these). Found so.
    The summary now says how many there are and that a message among them is not produced."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.6},
        rate_limits=False,
        oddities=Oddities(non_object_lines=2, invalid_utf8_lines=1),
    )
    with running(config) as simulator:
        run = ok(run_tap(tap_config(simulator, event_types=["CONVERSATION_MESSAGE"])))
    records = _records(run)
    assert len(records["unparsed_lines"]) == 3
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--custodian",
        _custodian(records),
        "--state",
        str(_state(run, tmp_path)),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "Note: 3 lines of the archive's message log files could not be parsed" in done.stdout
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    assert manifest["outside_every_selection"] == {
        "messages_naming_no_conversation_or_time": 0,
        "unparsed_message_lines": 3,
    }
