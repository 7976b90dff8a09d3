"""Issue 17 item 2: a listing page without its required fields is an error, never an empty page.

Each test runs the tap as a real process against the simulator over loopback HTTP; the
simulator serves the broken shape (docs/simulator.md, Faults ``bad_shape`` / ``inject(shape=)``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from chatgpt_compliance_simulator import Simulator
from orchestration import checks
from orchestration.runner import RunOutcome
from orchestration.settings import FleetSettings
from orchestration.summary import RunSummary as FleetSummary
from tap_chatgpt_compliance.run.summary import JSON_PREFIX
from tests.support.tap import TapRun, run_tap, tap_config

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
USERS = "/v1/compliance/workspaces/{workspace_id}/users"
GPTS = "/v1/compliance/workspaces/{workspace_id}/gpts"


def _last_lines(run: TapRun, count: int = 40) -> str:
    return "\n".join(run.stderr.splitlines()[-count:])


def _log_bookmarks(run: TapRun) -> list[object]:
    return [
        partition.get("replication_key_value")
        for state in run.states
        for partition in state["bookmarks"].get("log_files", {}).get("partitions", [])
    ]


@pytest.fixture
def sim(simulator_factory) -> Simulator:
    return simulator_factory(seed=5, span_days=0.5, speed=60.0)


@pytest.mark.parametrize(
    ("shape", "field"),
    [
        ("empty_object", "'data', 'has_more', 'last_end_time'"),
        ("null_data", "'data' null"),
        ("no_has_more", "'has_more'"),
        ("no_last_end_time", "'last_end_time'"),
    ],
)
def test_a_broken_log_listing_fails_the_run_and_moves_nothing(sim, shape, field) -> None:
    """{} or {"data": null} or a page without has_more: exit 1, the endpoint and the field
    named, no log file read, no bookmark; the next run reads everything."""
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    sim.inject(LOGS, shape=shape)
    broken = run_tap(config)
    assert "Traceback" not in broken.stderr
    assert broken.returncode == 1, _last_lines(broken)
    path = f"/v1/compliance/workspaces/{sim.workspace_id}/logs"
    failure = next(line for line in broken.stderr.splitlines() if "is not a listing" in line)
    assert path in failure
    assert field in failure
    assert broken.records["log_files"] == []
    assert broken.records["messages"] == []
    assert not [value for value in _log_bookmarks(broken) if value]
    assert "the listing could NOT be read" in broken.stderr

    again = run_tap(config, state=broken.state)
    assert again.returncode == 0, _last_lines(again)
    assert again.ids("messages") == set(sim.ground_truth()["messages"])


@pytest.mark.parametrize(
    ("route", "shape", "field"),
    [(USERS, "no_last_id", "'last_id'"), (GPTS, "null_data", "'data' null")],
)
def test_a_broken_rest_list_fails_the_run_but_not_the_archive(sim, route, shape, field) -> None:
    """A Gen-1 page without last_id (has_more true) or with data null: exit 1, named; the
    log archive of the same run is complete."""
    config = tap_config(sim, file_content="none")
    sim.inject(route, shape=shape)
    run = run_tap(config)
    assert run.returncode == 1, _last_lines(run)
    name = route.rsplit("/", 1)[-1]
    failure = next(line for line in run.stderr.splitlines() if "is not a listing" in line)
    assert f"/workspaces/{sim.workspace_id}/{name}" in failure
    assert field in failure or "without a 'last_id'" in failure
    assert run.ids("messages") == set(sim.ground_truth()["messages"])


def test_page_shape_rules() -> None:
    """What a page must hold, per the reference: every field, data a list, has_more a bool."""
    from tap_chatgpt_compliance.http.pagination import check_page_shape

    good = {"data": [], "has_more": False, "last_end_time": None}
    check_page_shape(good, ("data", "has_more", "last_end_time"), "/logs", "first page")
    for body in (
        {},
        {"data": None, "has_more": False, "last_end_time": None},
        {"data": [], "has_more": "false", "last_end_time": None},
        {"data": {}, "has_more": False, "last_end_time": None},
        [],
        None,
    ):
        with pytest.raises(Exception, match="is not a listing page"):
            check_page_shape(body, ("data", "has_more", "last_end_time"), "/logs", "first page")
    check_page_shape(
        {"object": "list", "data": [], "has_more": False, "last_id": None},
        ("data", "has_more", "last_id"),
        "/users",
        "first page",
    )
    with pytest.raises(Exception, match="without a 'last_id'"):
        check_page_shape(
            {"data": [{"id": "x"}], "has_more": True, "last_id": None},
            ("data", "has_more", "last_id"),
            "/users",
            "first page",
        )


# --------------------------------------------------------------------------- item 10: silence


def _json_summary(run: TapRun) -> dict:
    line = next(line for line in reversed(run.stderr.splitlines()) if JSON_PREFIX in line)
    return json.loads(line.split(JSON_PREFIX, 1)[1])


def test_nothing_new_is_told_apart_from_could_not_read(sim) -> None:
    """Per event type: nothing_new (with the API's newest) vs could_not_read; the fleet's
    check fails the second, and a bookmark far behind the API's newest."""
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    first = run_tap(config)
    assert first.returncode == 0, _last_lines(first)
    read = _json_summary(first)["bookmarks"]["CONVERSATION_MESSAGE"]
    assert read["listing"] == "read"
    assert read["behind_api_seconds"] == 0

    quiet = run_tap(config, state=first.state)
    assert quiet.returncode == 0, _last_lines(quiet)
    nothing = _json_summary(quiet)["bookmarks"]["CONVERSATION_MESSAGE"]
    assert nothing["listing"] == "nothing_new"
    assert nothing["api_max_event_time"] is not None
    assert nothing["behind_api_seconds"] == 0
    assert "the API had nothing new" in quiet.stderr

    sim.inject(LOGS, shape="null_data")
    broken = run_tap(config, state=quiet.state)
    unread = _json_summary(broken)["bookmarks"]["CONVERSATION_MESSAGE"]
    assert unread["listing"] == "could_not_read"

    def verdict(bookmarks: dict) -> checks.Verdict:
        outcome = RunOutcome(
            "acme", "target-s3", 0, 0.0, 1.0, "", FleetSummary(bookmarks=bookmarks), None, [], None
        )
        return checks.retention(outcome, FleetSettings(), datetime.now(timezone.utc))

    assert verdict({"CONVERSATION_MESSAGE": nothing}).passed
    failed = verdict({"CONVERSATION_MESSAGE": unread})
    assert (failed.passed, failed.severity) == (False, "ERROR")
    assert "could not read" in failed.description
    lagging = verdict({"CONVERSATION_MESSAGE": {**nothing, "behind_api_seconds": 7 * 3600}})
    assert (lagging.passed, lagging.severity) == (False, "ERROR")
    assert "7.0 h behind the API's newest" in lagging.description
