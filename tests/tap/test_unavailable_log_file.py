"""A log file the API refuses for good: the rest keeps being archived, the gap is named.

Without the operator's acknowledgement (``unavailable_log_file_ids``) every run stops at the
file and says which setting would let the rest through; with it, the file gets a
``log_files`` record with ``download_status: unavailable`` and ``verify`` names it as a gap.
A blocker that leaves the listing (its retention ended) is a named gap too, never a silent
bookmark move.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify
from tap_chatgpt_compliance.timeparse import to_datetime
from tests.support.evidence import verify_cli, write_jsonl
from tests.support.singer import bookmark
from tests.support.tap import TapRun, run_tap, tap_config

SETTING = "unavailable_log_file_ids"
RETENTION = timedelta(hours=12)
"""The simulator's retention in the expiry test (its clock need not move 30 days)."""


def _sim(simulator_factory, **overrides: object) -> Simulator:
    return simulator_factory(seed=11, span_days=0.8, attachment_rate=0.0, **overrides)


def _verify(run_records: dict, state: dict | None, tmp_path: Path) -> dict:
    folder = write_jsonl(run_records, tmp_path / "archive")
    report = tmp_path / "report.json"
    args = ["--jsonl", str(folder), "--report", str(report)]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    done = verify_cli(*args)
    assert done.stdout.strip(), done.stderr
    return json.loads(report.read_text())


def _merged(*runs: TapRun) -> dict[str, list[dict]]:
    merged: dict[str, list[dict]] = {}
    for run in runs:
        for stream, rows in run.records.items():
            merged.setdefault(stream, []).extend(rows)
    return merged


def test_a_refused_file_blocks_its_type_and_the_error_names_the_setting(
    simulator_factory,
) -> None:
    """Run after run, nothing after the refused file is archived; the error says how to go on."""
    sim = _sim(simulator_factory)
    files = sim.log_files()
    assert len(files) >= 4
    bad = files[1]["id"]
    sim.refuse_log_file(bad, 410)
    config = tap_config(sim, file_content="none")
    first = run_tap(config)
    assert first.returncode == 1
    assert first.ids("log_files") == {files[0]["id"]}
    last = first.stderr.strip().splitlines()[-1]
    assert bad in last
    assert "HTTP 410" in last
    assert f"{SETTING}" in last, last
    sim.advance(timedelta(hours=2))
    second = run_tap(config, first.state)
    assert second.returncode == 1
    assert second.ids("log_files") == set()  # still stuck: later files are not archived
    assert bad in second.stderr.strip().splitlines()[-1]


def test_an_acknowledged_file_is_recorded_unavailable_and_the_rest_archived(
    simulator_factory, tmp_path: Path
) -> None:
    sim = _sim(simulator_factory)
    files = sim.log_files()
    bad = files[1]["id"]
    sim.refuse_log_file(bad, 403)
    run = run_tap(tap_config(sim, file_content="inline", **{SETTING: [bad]}))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("log_files") == {f["id"] for f in files}
    record = next(r for r in run.records["log_files"] if r["id"] == bad)
    assert record["download_status"] == "unavailable"
    assert "HTTP 403" in record["download_error"]
    assert record["verified_sha256"] is None
    assert record["bytes_downloaded"] is None
    assert record["listing_item"]["id"] == bad
    assert all(
        r["download_status"] == "archived" for r in run.records["log_files"] if r["id"] != bad
    )
    truth = sim.ground_truth()
    events = [json.loads(line) for line in sim.log_file_bytes(bad).splitlines() if line.strip()]
    in_bad = {e["message"].get("id") or e["event_id"] for e in events}
    assert in_bad
    assert not in_bad & run.ids("messages")
    assert run.ids("messages") == set(truth["messages"]) - in_bad
    assert f"Log file {bad}" in run.stderr
    assert SETTING in run.stderr
    assert bookmark(run.state)["replication_key_value"]
    report = _verify(run.records, run.state, tmp_path)
    assert report["verdict"] == "consistent", (report["findings"], report["limitations"])
    assert not report["findings"], report["findings"]
    named = [text for text in report["limitations"] if bad in text]
    assert named, report["limitations"]
    assert "unavailable" in named[0]
    assert "not archived" in named[0]
    assert "never downloaded" in report["verdict_line"], report["verdict_line"]
    # The gap is proven by its chained nulls: shown as archived, or removed, it is a finding.
    anchor = anchor_from_state(run.state or {}, "state")
    shown_archived = copy.deepcopy(dict(run.records))
    for row in shown_archived["log_files"]:
        if row["id"] == bad:
            row["download_status"] = "archived"
    assert verify(sources.Archive("test", tables=shown_archived), anchor).status == "FAILED"
    removed = copy.deepcopy(dict(run.records))
    removed["log_files"] = [r for r in removed["log_files"] if r["id"] != bad]
    assert verify(sources.Archive("test", tables=removed), anchor).status == "FAILED"


def test_an_acknowledged_file_served_again_is_archived_normally(simulator_factory) -> None:
    sim = _sim(simulator_factory)
    files = sim.log_files()
    bad = files[1]["id"]
    run = run_tap(tap_config(sim, file_content="none", **{SETTING: [bad]}))
    assert run.returncode == 0, run.stderr[-3000:]
    record = next(r for r in run.records["log_files"] if r["id"] == bad)
    assert record["download_status"] == "archived"
    assert record["verified_sha256"] == files[1]["file_sha256"]


@pytest.mark.parametrize("index", [0, 1], ids=["first-file-no-bookmark", "after-a-bookmark"])
def test_a_blocker_that_expires_is_a_named_gap_not_a_silent_move(
    simulator_factory, tmp_path: Path, index: int
) -> None:
    """A file refused run after run until it leaves the listing (its retention ended).

    Found: every run failed at it; the first run after its retention ended listed from the
    bookmark (or, with none, the start_date), no longer saw it, archived the rest and exited
    0: the file was lost without a word, and verify said nothing of it.
    """
    sim = _sim(simulator_factory, retention_days=RETENTION.total_seconds() / 86400)
    files = sim.log_files()
    bad = files[index]["id"]
    sim.refuse_log_file(bad, 404)
    config = tap_config(sim, file_content="none")
    first = run_tap(config)
    assert first.returncode == 1
    assert first.ids("log_files") == {f["id"] for f in files[:index]}
    expiry = to_datetime(files[index]["end_time"]) + RETENTION + timedelta(seconds=1)
    sim.advance_to(max(expiry, sim.now()))
    assert bad not in {f["id"] for f in sim.log_files()}
    config = tap_config(sim, file_content="none")
    second = run_tap(config, first.state)
    assert second.returncode == 1, second.stderr[-3000:]
    assert bad in second.stderr.strip().splitlines()[-1]
    assert "no longer listed" in second.stderr
    record = next(r for r in second.records["log_files"] if r["id"] == bad)
    assert record["download_status"] == "expired"
    third = run_tap(config, second.state)
    assert third.returncode == 0, third.stderr[-3000:]
    report = _verify(_merged(first, second, third), third.state, tmp_path)
    assert report["verdict"] == "consistent", (report["findings"], report["limitations"])
    assert any(bad in text for text in report["limitations"]), report
