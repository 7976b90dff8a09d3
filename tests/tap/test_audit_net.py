"""The tap on a bad day of the network and of the API's answers (HTTP, REST pages).

Hostile answers are served over HTTP by the simulator (``inject(route, body=…)``): every one
ends as one readable line and exit 1, or is archived; never a traceback, never silent.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tap_chatgpt_compliance.http.pagination import NestedTooDeeply, api_json
from tap_chatgpt_compliance.jsondepth import MAX_DEPTH
from tests.support.simulators import running
from tests.support.tap import TapRun, run_tap, tap_config

WS = "/v1/compliance/workspaces/{workspace_id}"
USERS = f"{WS}/users"


@pytest.fixture(scope="module")
def sim() -> Any:
    config = SimulatorConfig(
        seed=5,
        users=2,
        conversations=2,
        messages_per_conversation=(2, 3),
        span_days=0.2,
        attachment_rate=0.0,
        rate_limits=False,
    )
    with running(config) as simulator:
        yield simulator


def _deep_item(arrays: int) -> bytes:
    """An item (one object) whose ``v`` nests ``arrays`` arrays: ``arrays + 1`` levels."""
    return b'{"id":"deep-1","v":' + b"[" * arrays + b"]" * arrays + b"}"


def _page(*items: bytes, has_more: bool = False, last_id: str = "deep-1") -> bytes:
    more = b"true" if has_more else b"false"
    data = b",".join(items)
    return (
        b'{"object":"list","data":['
        + data
        + b'],"has_more":'
        + more
        + (b',"last_id":"' + last_id.encode() + b'"}')
    )


def _response(body: bytes) -> requests.Response:
    response = requests.Response()
    response._content = body  # a parsed answer, no network
    response.status_code = 200
    response.encoding = "utf-8"
    return response


def _one_line(run: TapRun, *fragments: str) -> str:
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.splitlines()[-1]
    assert "ERROR" in last, last
    for fragment in fragments:
        assert fragment in last, last
    return last


def test_an_item_of_max_depth_is_parsed_one_deeper_is_not() -> None:
    """The limit of log lines (MAX_DEPTH) holds for a page's items, told before any parse."""
    assert api_json(_response(_page(_deep_item(MAX_DEPTH - 1))))["data"][0]["id"] == "deep-1"
    with pytest.raises(NestedTooDeeply):
        api_json(_response(_page(_deep_item(MAX_DEPTH))))
    strings = b'{"id":"s","v":"' + b"[" * 5000 + b'"}'  # brackets inside a string: not depth
    assert api_json(_response(_page(strings)))["data"][0]["v"] == "[" * 5000


@pytest.mark.parametrize("arrays", [200, 1_000, 100_000])
def test_a_users_page_nested_too_deeply_ends_the_run_in_one_line(
    sim: Simulator, arrays: int
) -> None:
    """The users list (a directory stream) with one item nested ``arrays`` deep: 200 was
    archived (a row neither orjson nor verify handle alike), 1,000 and 100,000 ended the run in
    "Unexpected error RecursionError". Now: one line naming the page and why, exit 1."""
    sim.inject(USERS, body=_page(_deep_item(arrays)))
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    _one_line(run, "/users (first page)", "nested too deeply")
    assert "RecursionError" not in run.stderr
    assert run.records.get("users", []) == []


def test_an_error_answer_nested_too_deeply_still_says_its_status(sim: Simulator) -> None:
    """A 403 whose JSON body nests 100,000 levels: its message read the body as JSON
    (RecursionError, "Unexpected error"); now the 403 line, with the start of the body."""
    sim.inject(USERS, body=b"[" * 100_000 + b"]" * 100_000, status=403)
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    _one_line(run, "HTTP 403", "/users")
    assert "RecursionError" not in run.stderr


def test_a_freshness_answer_nested_too_deeply_is_only_no_freshness(sim: Simulator) -> None:
    """max_event_time is not required: a deep answer is no answer, not the end of the run."""
    sim.inject(f"{WS}/max_event_time", body=b'{"max_event_time":' + b"[" * 100_000 + b"}")
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records["users"]
