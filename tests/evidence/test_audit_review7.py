"""Honest archives that verify failed: a review of the checks added with the column proofs.

Each case is written by real tap runs against the simulator, as the tap writes it, and must
verify ``intact``; a control beside it shows the check still finds the forgery it is for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.routes import WS
from tap_chatgpt_compliance.attachments.pending import RETRYABLE
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import (
    RETRIED_STATUSES,
    Report,
    anchor_from_state,
    verify,
)
from tests.support.simulators import running, tiny_world
from tests.support.tap import TapRun, run_tap, tap_config

Records = dict[str, list[dict[str, Any]]]
USER_FILE = f"{WS}/users/{{user_id}}/files/{{file_id}}"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A small workspace whose messages all attach a file."""
    config = SimulatorConfig(**tiny_world(seed=71, attachment_rate=1.0))
    with running(config) as simulator:
        yield simulator


def _merged(*runs: TapRun) -> Records:
    """Return the records of runs one after the other, as an appending target keeps them."""
    records: Records = {}
    for run in runs:
        for stream, rows in run.records.items():
            records.setdefault(stream, []).extend(copy.deepcopy(rows))
    return records


def _verify(records: Records, state: dict[str, Any] | None) -> Report:
    return verify(sources.Archive("test", tables=records), anchor_from_state(state or {}, "state"))


def _lines(report: Report) -> list[str]:
    return [finding.line() for finding in report.findings]


def test_an_attachment_archived_by_the_run_after_its_failed_try_verifies_intact(
    sim: Simulator,
) -> None:
    """A download answered 403 (``forbidden``: kept in the state, retried by the next run),
    then archived by the next run: two records of the attachment under its log file, as the
    tap writes them. verify said FAILED ('two files records of it for this log file disagree
    (status 'forbidden' and 'archived': a downgrade)') about this honest archive; now intact.
    Two records of final statuses that disagree (archived, then expired) are still a finding."""
    assert RETRIED_STATUSES == RETRYABLE  # verify's copy of the statuses the tap retries
    config = tap_config(sim, event_types=["CONVERSATION_MESSAGE"])
    sim.inject(USER_FILE, status=403, count=1)
    first = run_tap(config)
    assert first.returncode == 1, first.stderr[-2000:]  # an attachment not archived yet
    (tried,) = [f for f in first.records["files"] if f["status"] == "forbidden"]
    second = run_tap(config, first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    (retried,) = second.records["files"]
    assert (retried["id"], retried["log_file_id"], retried["status"]) == (
        tried["id"],
        tried["log_file_id"],
        "archived",
    )
    records = _merged(first, second)
    report = _verify(records, second.state)
    assert report.status == "intact", _lines(report)

    archived = next(f for f in records["files"] if f["status"] == "archived")
    records["files"].append({**archived, "status": "expired", "sha256": None})
    forged = _lines(_verify(records, second.state))
    assert any("two files records of it for this log file disagree" in line for line in forged)


def _audit_file(sim: Simulator, *events: dict[str, Any], event_type: str = "AUDIT_LOG") -> str:
    body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events).encode()
    return str(sim.publish_log_file(body, event_type)["id"])


def test_clashes_a_run_memory_resolves_verify_intact(sim: Simulator) -> None:
    """One event id delivered with two contents (two types) in two files, then both in a third
    file: the run's memory already holds both, so the tap drops both as true duplicates and
    counts no clash in the third file, where the file alone gives one. verify required
    id_clashes to be at least the file's own (FAILED: 'says 0; its raw file gives 1..3'); the
    run's memory can take a clash away as well as add one."""
    one = {"event_id": "evt-review7-clash", "type": "AUDIT_LOG", "action": "A"}
    other = {**one, "type": "AUTH_LOG"}
    _audit_file(sim, other)
    _audit_file(sim, one)
    third = _audit_file(sim, one, other)
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    assert run.returncode == 0, run.stderr[-2000:]
    (record,) = [r for r in run.records["log_files"] if r["id"] == third]
    assert (record["event_count"], record["duplicates_dropped"], record["id_clashes"]) == (0, 2, 0)
    report = _verify(_merged(run), run.state)
    assert report.status == "intact", _lines(report)

    record["id_clashes"] = 4  # more than the run's memory could make of two events
    forged = _lines(_verify(_merged(run), run.state))
    assert any(f"log_files {third} column id_clashes" in line for line in forged), forged


@pytest.mark.parametrize(
    ("event_type", "stream"), [("AUDIT_LOG", "events"), ("CONVERSATION_MESSAGE", "messages")]
)
def test_an_event_delivered_again_with_other_bytes_in_a_later_file_verifies_intact(
    sim: Simulator, event_type: str, stream: str
) -> None:
    """One event id, one type, two contents, in two files of one run: the tap keeps both, the
    second keyed ``<event_id>#sha256:<hex>`` (its run kept the first), so that an upserting
    target keeps both. verify derives each file alone, where the second is keyed by its
    event_id: it said FAILED ('a row that is not a line of its raw file', and 'a line of its
    raw file has no row') about this honest archive. A row keyed so with other bytes is still
    a finding."""
    event = {
        "event_id": f"evt-review7-again-{event_type}",
        "type": event_type,
        "timestamp": "2026-12-01T10:00:00Z",
        "message": {"id": f"msg-review7-{event_type}", "content": {"type": "text", "value": "A"}},
        "conversation": {"id": f"conv-review7-{event_type}", "title": "T"},
    }
    changed = {**event, "message": {**event["message"], "content": {"type": "text", "value": "B"}}}
    _audit_file(sim, event, event_type=event_type)
    second = _audit_file(sim, changed, event_type=event_type)
    run = run_tap(tap_config(sim, event_types=[event_type]))
    assert run.returncode == 0, run.stderr[-2000:]
    (row,) = [r for r in run.records[stream] if r["log_file_id"] == second]
    assert row["event_id"].startswith(f"{event['event_id']}#sha256:")
    report = _verify(_merged(run), run.state)
    assert report.status == "intact", _lines(report)

    row["event"] = {**row["event"], "timestamp": "2026-12-01T11:00:00Z"}  # other bytes
    forged = _lines(_verify(_merged(run), run.state))
    assert any(row["event_id"] in line for line in forged), forged
