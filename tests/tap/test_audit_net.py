"""The tap on a bad day of the network and of the API's answers (HTTP, REST pages).

Hostile answers are served over HTTP by the simulator (``inject(route, body=…)``): every one
ends as one readable line and exit 1, or is archived; never a traceback, never silent.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tap_chatgpt_compliance import errors
from tap_chatgpt_compliance.http import retry
from tap_chatgpt_compliance.http.pagination import NestedTooDeeply, api_json
from tap_chatgpt_compliance.jsondepth import MAX_DEPTH
from tests.support.simulators import running
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, assert_one_readable_line, run_tap, tap_config, tap_env

WS = "/v1/compliance/workspaces/{workspace_id}"
USERS = f"{WS}/users"
NOWHERE = "https://api.nothing.invalid/v1"
"""A host that does not resolve, by definition (RFC 2606): no request can leave the machine."""
BUDGETED = """
import sys
import tap_chatgpt_compliance.http.retry as retry
retry.CONNECT_RETRY_SECONDS = float(sys.argv.pop(1))
from tap_chatgpt_compliance.tap import TapChatGPTCompliance
sys.argv = ["tap-chatgpt-compliance", *sys.argv[1:]]
TapChatGPTCompliance.cli()
"""
"""The tap with another connect budget than 30 s (first argument), to keep the tests short."""


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


def test_an_item_of_max_depth_is_parsed_one_deeper_is_not() -> None:
    """The limit of log lines (MAX_DEPTH) holds for a page's items, told before any parse."""
    assert api_json(_response(_page(_deep_item(MAX_DEPTH - 1))))["data"][0]["id"] == "deep-1"
    with pytest.raises(NestedTooDeeply):
        api_json(_response(_page(_deep_item(MAX_DEPTH))))
    strings = b'{"id":"s","v":"' + b"[" * 5000 + b'"}'  # brackets inside a string: not depth
    assert api_json(_response(_page(strings)))["data"][0]["v"] == "[" * 5000


@pytest.mark.parametrize("arrays", [200, 1_000, 100_000])
def test_a_users_page_nested_too_deeply_ends_the_run_inassert_one_readable_line(
    sim: Simulator, arrays: int
) -> None:
    """The users list (a directory stream) with one item nested ``arrays`` deep: 200 was
    archived (a row neither orjson nor verify handle alike), 1,000 and 100,000 ended the run in
    "Unexpected error RecursionError". Now: one line naming the page and why, exit 1."""
    sim.inject(USERS, body=_page(_deep_item(arrays)))
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    assert_one_readable_line(run, "/users (first page)", "nested too deeply")
    assert "RecursionError" not in run.stderr
    assert run.records.get("users", []) == []


@pytest.mark.parametrize(
    ("body", "headers", "said"),
    [
        (b'{"data":[1,{"id":"u"}],"has_more":false,"last_id":"u"}', None, "not a JSON object"),
        (b"[]", None, "is a JSON list, not an object"),
        (b"", None, "not JSON (application/json, 0 bytes)"),
        (
            b'{"data":[],"has_more":false,"last_id":null}',
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            "Content-Encoding does not match its body after 2 tries",
        ),
    ],
    ids=["item_not_an_object", "array", "empty", "not_gzip"],
)
def test_a_users_page_that_is_no_page_says_what_came(
    sim: Simulator, body: bytes, headers: dict[str, str] | None, said: str
) -> None:
    """An item that is not an object ended "Unexpected error AttributeError: 'int' object has
    no attribute 'items'"; a body that is not the gzip it says "The connection to the
    Compliance API failed while reading a response (ContentDecodingError)"."""
    sim.inject(USERS, body=body, headers=headers, count=2 if headers else 1)  # 2 tries if retried
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"], max_retries=1, max_retry_wait=0))
    assert_one_readable_line(run, said)
    assert run.records.get("users", []) == []


def test_an_error_answer_nested_too_deeply_still_says_its_status(sim: Simulator) -> None:
    """A 403 whose JSON body nests 100,000 levels: its message read the body as JSON
    (RecursionError, "Unexpected error"); now the 403 line, with the start of the body."""
    sim.inject(USERS, body=b"[" * 100_000 + b"]" * 100_000, status=403)
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    assert_one_readable_line(run, "HTTP 403", "/users")
    assert "RecursionError" not in run.stderr


def test_a_freshness_answer_nested_too_deeply_is_only_no_freshness(sim: Simulator) -> None:
    """max_event_time is not required: a deep answer is no answer, not the end of the run."""
    sim.inject(f"{WS}/max_event_time", body=b'{"max_event_time":' + b"[" * 100_000 + b"}")
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records["users"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cannot_connect(api_url: str, tmp_path: Path, *args: str, budget: float = 30.0) -> TapRun:
    """Run the tap aimed at ``api_url`` with the default retries (8, up to 300 s each)."""
    config = {
        "api_key": "sk-test-not-a-key",
        "workspace_id": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0",
        "api_url": api_url,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [
        sys.executable,
        "-c",
        BUDGETED,
        str(budget),
        "--config",
        str(tmp_path / "config.json"),
    ]
    started = time.monotonic()
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=False, env=tap_env()
    )
    seconds = time.monotonic() - started
    records, states = parse_singer(result.stdout)
    run = TapRun(result.returncode, result.stdout, result.stderr, records, states)
    run.seconds = seconds  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize("where", ["name", "refused"])
def test_a_connection_test_of_a_host_that_cannot_be_reached_fails_at_once(
    tmp_path: Path, where: str
) -> None:
    """``--test`` aimed at a name that does not resolve (or a closed loopback port) retried
    for 4 min 15 s (max_retries 8, 1+2+…+128 s) before its line. Now: the first try, one line
    naming the host and api_url."""
    host = NOWHERE if where == "name" else f"http://127.0.0.1:{_closed_port()}/v1"
    run = _cannot_connect(host, tmp_path, "--test")
    seconds = run.seconds  # type: ignore[attr-defined]
    assert seconds < 20, seconds
    last = assert_one_readable_line(run, f"Cannot reach {host.rsplit('/', 1)[0]}", "api_url")
    assert "Retrying" not in run.stderr
    assert "tries" not in last  # one try: no "after 1 tries"


@pytest.mark.parametrize("where", ["name", "refused"])
def test_a_sync_retries_a_host_that_cannot_be_reached_within_its_budget(
    tmp_path: Path, where: str
) -> None:
    """A sync retries a host it cannot connect to, but within the connect budget (30 s; 3 s
    here), whatever max_retries and max_retry_wait: then one line, exit 1, nothing archived,
    no bookmark moved."""
    host = NOWHERE if where == "name" else f"http://127.0.0.1:{_closed_port()}/v1"
    run = _cannot_connect(host, tmp_path, budget=3.0)
    seconds = run.seconds  # type: ignore[attr-defined]
    assert 3 <= seconds < 30, seconds
    last = assert_one_readable_line(
        run, f"Cannot reach {host.rsplit('/', 1)[0]}", "api_url", "over 3 s"
    )
    assert "Retrying" in run.stderr  # a sync does retry
    assert not any(run.records.values())
    bookmarks = (run.state or {}).get("bookmarks", {})
    assert not bookmarks.get("log_files", {}).get("partitions"), bookmarks
    assert "after" in last


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refused() -> requests.exceptions.ConnectionError:
    try:
        requests.get(f"http://127.0.0.1:{_closed_port()}/", timeout=5)
    except requests.exceptions.ConnectionError as exc:
        return exc
    raise AssertionError("a closed port answered")


def _waits(gen: Any, exc: BaseException, clock: _Clock) -> list[float]:
    """Return the waits of ``gen`` for ``exc`` failing every try, until it ends."""
    waits: list[float] = []
    next(gen)
    while len(waits) < 20:
        try:
            wait = gen.send(exc)
        except StopIteration:
            return waits
        waits.append(wait)
        clock.now += wait
    raise AssertionError(f"the retries never ended: {waits}")


def test_the_connect_budget_is_thirty_seconds_of_waits_whatever_max_retry_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Waits 1, 2, 4, 8, then what is left of 30 s; then the generator ends (backoff gives up).
    A 5xx is retried as before; the run's own "unreachable since" shortens the budget."""
    clock = _Clock()
    monkeypatch.setattr(retry.time, "monotonic", clock)
    refused = _refused()
    assert errors.never_connected(refused)
    assert not errors.never_connected(requests.exceptions.ReadTimeout())
    assert not errors.never_connected(requests.exceptions.ConnectionError("Connection aborted."))
    assert _waits(retry.wait_generator(max_wait=300), refused, clock) == [1, 2, 4, 8, 15]
    assert _waits(retry.wait_generator(max_wait=3), refused, clock) == [1, 2] + [3] * 9
    gen = retry.wait_generator(max_wait=300)
    next(gen)
    assert [gen.send(None) for _ in range(7)] == [1, 2, 4, 8, 16, 32, 64]  # not a connect error
    run = retry.Reachability()
    run.since()  # the run's first failure to connect, 25 s ago
    clock.now += 25
    gen = retry.wait_generator(max_wait=300, reachability=run)
    next(gen)
    assert gen.send(refused) == 1.0
    clock.now += 5
    with pytest.raises(StopIteration):
        gen.send(refused)
    answered = run.watch(lambda: "an answer")
    assert answered() == "an answer"  # any answer starts the budget again
    assert _waits(retry.wait_generator(300, run), refused, clock) == [1, 2, 4, 8, 15]
    run.budget = 0.0  # --test
    assert _waits(retry.wait_generator(300, run), refused, clock) == []


def test_a_connection_that_broke_is_not_called_unreachable() -> None:
    """A reset once connected read "Cannot reach … check api_url, DNS"; a TLS failure named no
    CA bundle. Each line now says what happened, and only a host never reached counts against
    the connect budget (a TLS handshake refused does: it is a setup, not a blip)."""
    refused = _refused()
    refused.tries, refused.elapsed = 6, 30.2  # type: ignore[attr-defined]
    line = errors.fatal_message(refused)
    assert "Cannot reach http://127.0.0.1:" in line
    assert "after 6 tries over 30 s" in line
    reset = requests.exceptions.ConnectionError(
        ("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    )
    assert not errors.never_connected(reset)
    line = errors.fatal_message(reset)
    assert "Cannot reach" not in line
    assert "broke before its answer (connection reset)" in line
    tls = requests.exceptions.SSLError("certificate verify failed")
    assert errors.never_connected(tls)
    assert "REQUESTS_CA_BUNDLE" in errors.fatal_message(tls)
