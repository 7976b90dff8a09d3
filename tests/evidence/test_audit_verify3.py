"""A third adversary's audit of ``verify``: alterations the first two rounds did not try.

Each case alters the records of one tap run of the simulator (in memory: verify reads an
:class:`~tap_chatgpt_compliance.evidence.sources.Archive` the same whichever store it comes
from) and verify, anchored by the run's state, must say FAILED and name it; PostgreSQL only
where the store matters (how its ``json`` columns are read).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import chain
from tests.support.evidence import postgres_dsn
from tests.support.tap import TapRun

from .conftest import verify_cli
from .test_meltano_verify import load_postgres

Records = dict[str, list[dict[str, Any]]]


def _records(run: TapRun) -> Records:
    return copy.deepcopy(run.records)


def _verify(run: TapRun, records: Records, log_file_ids: list[str] | None = None) -> Report:
    anchor = anchor_from_state(run.state or {}, "state")
    return verify(sources.Archive("test", tables=records), anchor, log_file_ids)


def _lines(report: Report) -> list[str]:
    return [finding.line() for finding in report.findings]


def _first_message(records: Records) -> dict[str, Any]:
    return next(r for r in records["messages"] if r.get("content_text"))


def test_the_run_is_intact_as_written(inline_run: TapRun) -> None:
    """The control: the records as the tap wrote them, and JSON kept as text (some targets
    write objects that way), verify intact."""
    records = _records(inline_run)
    assert _verify(inline_run, records).status == "intact"
    message = _first_message(records)
    message["event"] = json.dumps(message["event"])
    user = records["users"][0]
    assert isinstance(user["raw_item"], str)
    report = _verify(inline_run, records)
    assert report.status == "intact", _lines(report)


# --------------------------------------------------------------------------- JSON kept as text


def _with_a_key_twice(value: dict[str, Any], key: str, first: Any) -> str:
    """The JSON text of ``value`` with ``key`` written twice: ``first``, then its own value.

    ``json.loads`` (and PostgreSQL's ``->``) take the last, other readers the first."""
    text = json.dumps(value)
    return "{" + json.dumps(key) + ": " + json.dumps(first) + ", " + text[1:]


def test_a_message_event_kept_as_text_with_a_key_twice_is_a_finding(
    inline_run: TapRun,
) -> None:
    """A messages row's event as JSON text holding the message twice, a forged one first and the
    delivered one last: the delivered one is what ``json.loads`` gives, and verify said intact;
    a reader taking the first value read the forged text. Now it is no value: a finding."""
    records = _records(inline_run)
    message = _first_message(records)
    forged = copy.deepcopy(message["event"]["message"])
    forged["content"]["value"] = "I agreed to everything."
    message["event"] = _with_a_key_twice(message["event"], "message", forged)
    assert json.loads(message["event"])["message"]["content"]["value"] == message["content_text"]
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    assert f"column: messages event {message['event_id']} of log file " in "\n".join(_lines(report))
    assert any(
        line.endswith("column event: differs from its raw line (as the tap derives it)")
        for line in _lines(report)
    ), _lines(report)


def test_a_raw_item_with_a_key_twice_is_a_finding(inline_run: TapRun) -> None:
    """A users row whose raw_item (the item as served, JSON text) holds the email twice."""
    records = _records(inline_run)
    user = records["users"][0]
    item = json.loads(user["raw_item"])
    user["raw_item"] = _with_a_key_twice(item, "email", "someone.else@example.com")
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    assert f"column: users {user['id']} column raw_item: not the JSON text of an item" in _lines(
        report
    )


# --------------------------------------------------------------------------- manifest counts


@pytest.mark.parametrize("column", ["blank_lines", "unparsed_lines", "duplicates_dropped"])
def test_a_manifest_count_written_as_a_boolean_is_a_finding(
    column: str, inline_run: TapRun
) -> None:
    """``false`` where the count is 0: ``int(False)`` is 0 and verify took it for the count."""
    records = _records(inline_run)
    record = next(r for r in records["log_files"] if r[column] == 0)
    record[column] = False
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    assert any(
        line.startswith(f"column: log_files {record['id']} column ") for line in _lines(report)
    ), _lines(report)


# --------------------------------------------------------------------------- files records


def _forged_files_record(records: Records) -> tuple[dict[str, Any], str]:
    """A files record of an archived attachment, unchained, holding other bytes (hashing to its
    own sha256), in another log file of messages; written first (an export shows the first
    archived record of an attachment). Return it and its log file."""
    original = next(f for f in records["files"] if f["status"] == "archived")
    data = b"forged attachment bytes"
    forged = {k: v for k, v in original.items() if not k.startswith("chain_")}
    other = next(
        r["id"]
        for r in records["log_files"]
        if r["id"] != original["log_file_id"] and r["event_type"] == "CONVERSATION_MESSAGE"
    )
    forged.update(
        log_file_id=other,
        content_base64=base64.b64encode(data).decode(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    records["files"].insert(0, forged)
    return forged, other


def test_an_unchained_files_record_outside_the_slice_is_a_finding(inline_run: TapRun) -> None:
    """An export verifies a slice (the log files of what it renders); a files record of a log
    file outside it was only added to the attachment chain check when it had a chain_hash: one
    without, forged bytes and all, was read by nobody and verify said intact, while the export
    produced its bytes as the attachment. A files record of a log file the tap chained is a
    finding when it has no chain_hash, in a slice or not."""
    records = _records(inline_run)
    forged, other = _forged_files_record(records)
    in_slice = [r["id"] for r in records["log_files"] if r["id"] != other]
    expected = (
        f"chain: attachment {forged['id']} of log file {other}: files record without a "
        "chain_hash, although the tap that wrote its log file chains every files record: it "
        "is not proven part of the attachment chain"
    )
    sliced = _verify(inline_run, records, in_slice)
    assert sliced.status == "FAILED"
    assert expected in _lines(sliced)
    whole = _verify(inline_run, records)
    assert expected in _lines(whole)


def test_a_chained_files_record_after_the_head_outside_the_slice_is_checked(
    inline_run: TapRun,
) -> None:
    """The same forged record, linked to the attachment chain after its anchored head (the
    chain through the head goes on: nothing of it was a finding): in a slice verify only
    checked it as a link, said intact, and the export showed its bytes. A files record of an
    attachment the slice references is checked whole, wherever it is: here a record of a log
    file that does not reference it. The slice as written stays intact."""
    records = _records(inline_run)
    forged, other = _forged_files_record(records)
    head = max(records["files"][1:], key=lambda r: r["chain_seq"])
    forged.update(
        chain_version=head["chain_version"],
        chain_previous=head["chain_hash"],
        chain_previous_id=head["id"],
        chain_seq=head["chain_seq"] + 1,
    )
    forged["chain_hash"] = chain.chain_hash(forged["chain_previous"], forged, chain.FILES)
    in_slice = [r["id"] for r in records["log_files"] if r["id"] != other]
    sliced = _verify(inline_run, records, in_slice)
    assert sliced.status == "FAILED"
    added, two_contents = _lines(sliced)
    assert added == (
        f"added: files {forged['id']} of log file {other}: no message event of its raw file "
        "references this attachment"
    )
    # Its bytes are not the attachment's either (verify round 4): one file, two contents.
    assert two_contents.startswith(
        f"attachment: attachment {forged['id']}: archived with 2 different SHA-256"
    )
    records["files"].remove(forged)
    assert _verify(inline_run, records, in_slice).status == "intact"


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.e2e
def test_a_postgres_json_column_with_a_key_twice_is_a_finding(
    inline_run: TapRun, pg_database: dict[str, str], pg_query: Any, tmp_path: Path
) -> None:
    """target-postgres writes ``jsonb`` (one value per key); a ``json`` column keeps its text as
    written, a key twice included, and psycopg read it with ``json.loads`` (the last value):
    the event column turned into json with the message written twice, a forged one first,
    verified intact. Now such a value is read as its text: a finding."""
    load = load_postgres(inline_run.stdout, pg_database, tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    message = _first_message(inline_run.records)
    forged = copy.deepcopy(message["event"]["message"])
    forged["content"]["value"] = "I agreed to everything."
    with psycopg.connect(**pg_database) as conn:
        conn.execute(
            "ALTER TABLE acme.messages ALTER COLUMN event TYPE json USING event::text::json"
        )
        conn.execute(
            "UPDATE acme.messages SET event = ('{\"message\": ' || %s || ', ' || "
            "substr(event::text, 2))::json WHERE id = %s",
            (json.dumps(forged), message["id"]),
        )
    ((last,),) = pg_query(
        "SELECT event->'message'->'content'->>'value' FROM acme.messages WHERE id = %s",
        message["id"],
    )
    assert last == message["content_text"]  # PostgreSQL's own reading: the delivered text
    dsn = postgres_dsn(pg_database)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(inline_run.state))
    report = tmp_path / "report.json"
    done = verify_cli(
        "--postgres", dsn, "--schema", "acme", "--state", str(state), "--report", str(report)
    )
    assert done.returncode == 1, done.stdout
    findings = json.loads(report.read_text())["findings"]
    assert [(f["check"], f["item"]) for f in findings] == [
        (
            "column",
            f"messages event {message['event_id']} of log file {message['log_file_id']} "
            "column event",
        )
    ], findings
