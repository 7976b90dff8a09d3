"""Issue 17 item 1: the API's time is the run's clock, within reason.

Each test runs the tap as a real process against the simulator over loopback HTTP; the tap
process's own clock is moved with the clock-skew harness (clockskew.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chatgpt_compliance_simulator import Faults, Oddities, Simulator
from tap_chatgpt_compliance.http.clock import ClockSkewError, RunClock
from tap_chatgpt_compliance.run.summary import JSON_PREFIX
from tap_chatgpt_compliance.timeparse import to_datetime
from tests.support.singer import bookmark
from tests.support.tap import TapRun, run_tap, tap_config

DAY = 86_400.0
USER_FILE = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/files/{file_id}"
YEAR_2100 = datetime(2100, 1, 1, tzinfo=timezone.utc)


def _summary(run: TapRun) -> dict:
    line = next(line for line in reversed(run.stderr.splitlines()) if JSON_PREFIX in line)
    return json.loads(line.split(JSON_PREFIX, 1)[1])


def _bookmarks(run: TapRun) -> list[str]:
    return [
        str(partition.get("replication_key_value"))
        for state in run.states
        for partition in state["bookmarks"].get("log_files", {}).get("partitions", [])
    ]


def _no_traceback(run: TapRun) -> None:
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


# --------------------------------------------------------------------------- unit


def test_run_clock_follows_the_date_and_refuses_one_far_ahead() -> None:
    """now() = this machine's clock + the Date's offset; a Date past the skew is refused."""
    local = [1_800_000_000.0]
    clock = RunClock(300, local=lambda: local[0])
    assert not clock.synced
    assert clock.now().timestamp() == local[0]
    clock.observe("Thu, 01 Jan 2026 00:00:00 GMT")  # far behind: trusted
    behind = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert clock.now() == behind
    local[0] += 10
    assert clock.now() == behind + timedelta(seconds=10)  # it runs with this machine's clock
    assert "ahead" in (clock.skew_line() or "")
    clock.observe(None)  # a missing or malformed Date changes nothing
    clock.observe("not a date")
    assert clock.now() == behind + timedelta(seconds=10)
    with pytest.raises(ClockSkewError, match="max_clock_skew_seconds"):
        clock.observe("Fri, 01 Jan 2100 00:00:00 GMT")
    assert clock.now() == behind + timedelta(seconds=10)  # the refused Date was not taken
    near = datetime.fromtimestamp(local[0] + 200, tz=timezone.utc)
    clock.observe(near.strftime("%a, %d %b %Y %H:%M:%S GMT"))  # within the skew: trusted
    assert clock.skew_line() is None
    assert clock.ahead(clock.now() + timedelta(seconds=301))
    assert not clock.ahead(clock.now() + timedelta(seconds=299))


# --------------------------------------------------------------------------- over HTTP


def test_a_future_date_is_refused_and_never_becomes_a_bookmark(simulator_factory) -> None:
    """Date 2100 and a file ending in 2099: exit 1 in one line, no bookmark in the future;
    once the Date is right again, the next run reads everything."""
    sim: Simulator = simulator_factory(
        seed=5, span_days=0.5, speed=60.0, oddities=Oddities(future_end_time=True)
    )
    sim.skew_date((YEAR_2100 - sim.now()).total_seconds())
    config = tap_config(sim, file_content="none")
    first = run_tap(config)
    _no_traceback(first)
    assert first.returncode == 1
    assert "Clock skew" in first.stderr.splitlines()[-1]
    assert "2100-01-01" in first.stderr.splitlines()[-1]
    assert not any(value.startswith(("2099", "2100")) for value in _bookmarks(first))
    assert first.records["messages"] == []

    sim.skew_date(0)
    second = run_tap(config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.ids("messages") == set(sim.ground_truth()["messages"])
    assert not any(value.startswith("2099") for value in _bookmarks(second))


def test_a_skewed_date_mid_run_stops_before_anything_moves_past_it(simulator_factory) -> None:
    """The Date jumps ahead after the first answers: the run stops; its state stays sane."""
    sim = simulator_factory(seed=5, span_days=0.5, speed=60.0, faults=Faults())
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    sim.config.faults.date_offset_seconds = 3 * DAY
    run = run_tap(config)
    assert run.returncode == 1
    _no_traceback(run)
    assert "Clock skew" in run.stderr.splitlines()[-1]
    now = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert all(to_datetime(value) is None or to_datetime(value) <= now for value in _bookmarks(run))


def test_a_machine_clock_40_days_ahead_still_reads_every_file(simulator_factory) -> None:
    """The retention and start_date default follow the API's time: every file is read, no
    false 'possible gap', and the summary names both clocks."""
    sim = simulator_factory(seed=5, span_days=2.0, speed=60.0)
    config = tap_config(sim, file_content="none")
    del config["start_date"]  # the default: the start of the 30-day retention
    run = run_tap(config, clock_offset=40 * DAY)
    assert run.returncode == 0, run.stderr[-3000:]
    listed = sim.log_files()
    assert len(listed) > 10
    assert run.ids("log_files") == {f["id"] for f in listed}
    assert run.ids("messages") == set(sim.ground_truth()["messages"])
    assert "Possible gap" not in run.stderr
    assert "Clocks: the API's Date says" in run.stderr
    summary = _summary(run)
    assert summary["clock"]["offset_seconds"] < -39 * DAY
    partition = bookmark(run.state)
    assert to_datetime(partition["replication_key_value"]) <= sim.now()


def test_a_machine_clock_4_days_ahead_keeps_failed_attachments_pending(simulator_factory) -> None:
    """Attachments that failed transiently stay in the retry list: the window is the API's."""
    sim = simulator_factory(seed=11, span_days=0.8, attachment_rate=0.5, speed=60.0)
    sim.inject(USER_FILE, status=500, count=10_000)
    config = tap_config(sim, max_retries=0)
    run = run_tap(config, clock_offset=4 * DAY)
    files = run.records["files"]
    assert files, "the simulator must reference attachments"
    statuses = {record["status"] for record in files}
    assert "gave_up" not in statuses, statuses
    assert statuses <= {"failed", "expired", "not_found"}
    pending = run.state["bookmarks"]["files"]["pending_attachments"]
    assert {entry["id"] for entry in pending} == {
        record["id"] for record in files if record["status"] == "failed"
    }
    for record in files:
        if record["status"] == "failed":
            assert to_datetime(record["retry_until"]) > sim.now()


def test_a_bookmark_in_the_future_is_set_aside_loudly(simulator_factory) -> None:
    """A state written by a run that trusted a wrong clock: the files are read again, exit 1."""
    sim = simulator_factory(seed=5, span_days=0.5, speed=60.0)
    config = tap_config(sim, file_content="none")
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    state = first.state
    bookmark(state)["replication_key_value"] = "2099-01-01T00:00:00+00:00"
    again = run_tap(config, state=state)
    _no_traceback(again)
    assert again.returncode == 1
    assert "later than the API's time" in again.stderr
    assert again.ids("messages") == first.ids("messages")
    assert not bookmark(again.state)["replication_key_value"].startswith("2099")
