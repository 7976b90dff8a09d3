"""A state that was lost, and a listing that answers 200 with nothing: said, never silent.

Real tap processes against the simulator. Without a bookmark the tap lists from ``start_date``
(never from now), and says so on its log and in its run summary (``started_from``), which the
fleet reads (``retention_horizon``, tests/fleet/test_audit_silent3.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chatgpt_compliance_simulator import Simulator
from orchestration import checks
from orchestration.runner import RunOutcome
from orchestration.settings import FleetSettings
from orchestration.summary import RunSummary as FleetSummary
from tap_chatgpt_compliance.run.summary import JSON_PREFIX
from tests.support.tap import TapRun, run_tap, tap_config

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
NO_BOOKMARK = "No CONVERSATION_MESSAGE bookmark in the state: listing from start_date"


@pytest.fixture
def sim(simulator_factory) -> Simulator:
    return simulator_factory(seed=5, span_days=0.5, speed=60.0)


def _listing(run: TapRun) -> dict:
    line = next(line for line in reversed(run.stderr.splitlines()) if JSON_PREFIX in line)
    return json.loads(line.split(JSON_PREFIX, 1)[1])["bookmarks"]["CONVERSATION_MESSAGE"]


def test_a_run_without_state_says_it_starts_from_start_date(sim: Simulator) -> None:
    """A state lost between two runs (`meltano state clear`, a bucket emptied): the tap read
    every file again from start_date, with not one line saying why."""
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    assert NO_BOOKMARK in first.stderr
    assert config["start_date"][:19] in first.stderr.split(NO_BOOKMARK, 1)[1].splitlines()[0]
    assert _listing(first)["started_from"] == "start_date"
    files = {r["id"] for r in first.records["log_files"]}
    assert files

    later = run_tap(config, state=first.state)
    assert later.returncode == 0, later.stderr[-2000:]
    assert "No CONVERSATION_MESSAGE bookmark" not in later.stderr
    assert _listing(later)["started_from"] == "bookmark"

    lost = run_tap(config, state=None)  # the state is gone: every file again, none skipped
    assert NO_BOOKMARK in lost.stderr
    assert {r["id"] for r in lost.records["log_files"]} == files


def test_a_listing_answering_200_with_nothing_turns_the_retention_check_red(
    sim: Simulator,
) -> None:
    """The API's listing answers `{"data": [], "has_more": false}` for 9 hours of new files:
    the run exits 0, and the summary says how far behind the API's newest event it is."""
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    sim.advance(timedelta(hours=9))
    empty = b'{"object": "list", "data": [], "has_more": false, "last_end_time": null}'
    sim.inject(LOGS, status=200, body=empty, count=1)
    quiet = run_tap(config, state=first.state)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    listing = _listing(quiet)
    assert listing["listing"] == "nothing_new"
    assert listing["behind_api_seconds"] > 6 * 3600, listing

    summary = FleetSummary(bookmarks={"CONVERSATION_MESSAGE": listing}, source="summary")
    outcome = RunOutcome("acme", "target-s3", 0, 0.0, 1.0, "", summary, None, [], None)
    verdict = checks.retention(outcome, FleetSettings(), datetime.now(timezone.utc))
    assert (verdict.passed, verdict.severity) == (False, "ERROR"), verdict
    assert "behind the API's newest" in verdict.description
