"""The tap on a bad day of the network and of the API's answers (HTTP, REST pages).

Hostile answers are served over HTTP by the simulator (``inject(route, body=…)``): every one
ends as one readable line and exit 1, or is archived; never a traceback, never silent.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.exceptions import LocationParseError

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tap_chatgpt_compliance import errors
from tap_chatgpt_compliance.http import resolve, retry
from tap_chatgpt_compliance.http.pacing import Pacer
from tap_chatgpt_compliance.http.pagination import NestedTooDeeply, api_json
from tap_chatgpt_compliance.http.transport import PacedSession, SignedSession
from tap_chatgpt_compliance.jsondepth import MAX_DEPTH
from tests.support.simulators import running, tiny_world
from tests.support.singer import parse_singer
from tests.support.tap import (
    TapRun,
    assert_one_readable_line,
    logged_seconds,
    run_tap,
    tap_config,
    tap_env,
)
from tests.support.waiting import wait_until

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
HUNG_RESOLVER = """
import os, pathlib, socket, sys, threading
import tap_chatgpt_compliance.http.retry as retry
import tap_chatgpt_compliance.http.transport as transport
looked_up = socket.getaddrinfo
def hung(host, *args, **kwargs):
    if str(host).endswith(".invalid"):  # a resolver that never answers; no lookup leaves
        if os.environ.get("HUNG_LOOKUP_MARK"):
            pathlib.Path(os.environ["HUNG_LOOKUP_MARK"]).touch()
        threading.Event().wait()
    return looked_up(host, *args, **kwargs)
socket.getaddrinfo = hung
retry.CONNECT_RETRY_SECONDS = float(sys.argv.pop(1))
retry.CONNECT_TIMEOUT = transport.CONNECT_TIMEOUT = float(sys.argv.pop(1))
from tap_chatgpt_compliance.tap import TapChatGPTCompliance
sys.argv = ["tap-chatgpt-compliance", *sys.argv[1:]]
TapChatGPTCompliance.cli()
"""
"""The tap whose resolver never answers for ``.invalid`` names, with a connect budget (first
argument) and a connect timeout (second) of its own; it creates the file named by the
environment's ``HUNG_LOOKUP_MARK`` (if any) as a lookup starts to wait."""


@pytest.fixture(scope="module")
def sim() -> Any:
    config = SimulatorConfig(**tiny_world())
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


def _workspace() -> str:
    """Return a workspace id of its own: runs of one workspace and URL share a lease (one run
    at a time), and these tests run in parallel."""
    return str(uuid.uuid4())


def _cannot_connect(
    api_url: str,
    tmp_path: Path,
    *args: str,
    budget: float = 30.0,
    connect_timeout: float | None = None,
    timeout: float = 120,
) -> TapRun:
    """Run the tap aimed at ``api_url`` with the default retries (8, up to 300 s each).

    ``connect_timeout``: the run's resolver never answers for ``.invalid`` names
    (:data:`HUNG_RESOLVER`), and this is its connect timeout.
    """
    config = {
        "api_key": "sk-test-not-a-key",
        "workspace_id": _workspace(),
        "api_url": api_url,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [
        sys.executable,
        "-c",
        BUDGETED if connect_timeout is None else HUNG_RESOLVER,
        str(budget),
        *([] if connect_timeout is None else [str(connect_timeout)]),
        "--config",
        str(tmp_path / "config.json"),
    ]
    result = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=tap_env(),
    )
    records, states = parse_singer(result.stdout)
    run = TapRun(result.returncode, result.stdout, result.stderr, records, states)
    run.seconds = logged_seconds(result.stderr)  # type: ignore[attr-defined]
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


@pytest.mark.parametrize("mode", ["--test", "sync"])
def test_a_resolver_that_never_answers_is_bounded_by_the_connect_timeout(
    tmp_path: Path, mode: str
) -> None:
    """The name lookup had no timeout: a resolver that never answers held ``--test`` and a
    sync forever (killed at 40 s, by SIGTERM, in the reproduction), outside the 15 s connect
    timeout and the 30 s connect budget. Now the lookup waits at most the connect timeout (1 s
    here, budget 3 s): one line naming api_url, exit 1, nothing archived, no bookmark."""
    args = ("--test",) if mode == "--test" else ()
    try:
        run = _cannot_connect(NOWHERE, tmp_path, *args, budget=3.0, connect_timeout=1.0, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the run still waited for the resolver after 30 s")
    seconds = run.seconds  # type: ignore[attr-defined]
    assert seconds < 12, seconds
    last = assert_one_readable_line(
        run, "Cannot reach https://api.nothing.invalid", "no answer within 1 s", "api_url"
    )
    if mode == "sync":
        assert "Retrying" in run.stderr
        assert "after 2 tries" in last  # the budget counts the first lookup's own second
    assert not any(run.records.values())
    bookmarks = (run.state or {}).get("bookmarks", {})
    assert not bookmarks.get("log_files", {}).get("partitions"), bookmarks


def test_a_lookup_waits_its_timeout_once_per_host_then_connects_where_it_resolved(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bounded lookup (http/resolve.py): a resolver that does not answer fails each request
    within its timeout with ``EAI_AGAIN``, one lookup thread for the host whatever the
    requests; once it answers, the sessions connect to the address found (the simulator, on
    loopback: no lookup or request leaves the machine) and the request names the host."""
    answer = threading.Event()
    calls: list[str] = []
    port = int(sim.base_url.split(":")[2].split("/")[0])
    looked_up = socket.getaddrinfo

    def slow(host: str, *args: Any, **kwargs: Any) -> Any:
        if not str(host).endswith(".invalid"):
            return looked_up(host, *args, **kwargs)
        calls.append(host)
        answer.wait(10)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(socket.gaierror, match=r"no answer within 0\.2 s"):
            resolve.resolve("api.sim.invalid", port, 0.2)
        assert time.monotonic() - started < 1.5
    assert calls == ["api.sim.invalid"]  # the second request waited for the same lookup
    url = sim.base_url.replace("127.0.0.1", "api.sim.invalid") + "/compliance/workspaces"
    with (
        PacedSession(Pacer(1_000_000.0), "/v1") as session,
        pytest.raises(requests.exceptions.ConnectionError, match=r"no answer within 0\.3 s"),
    ):
        session.get(url, timeout=0.3)
    answer.set()
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    for session in (PacedSession(Pacer(1_000_000.0), "/v1"), SignedSession()):
        with session:
            response = session.get(f"{url}/{sim.workspace_id}/users", headers=headers, timeout=5)
        assert response.status_code == 200, response.text[:300]
        assert response.json()["data"]


def test_a_host_name_no_resolver_can_take_fails_as_urllib3_fails_it() -> None:
    """A label longer than 63 characters cannot be looked up: urllib3 raises LocationParseError
    before its lookup; the bounded lookup (http/resolve.py) let the resolver's bare UnicodeError
    through instead. Both sessions of the run raise urllib3's again, and nothing is looked up."""
    url = f"https://{'a' * 64}.invalid/v1/compliance/workspaces"
    for session in (PacedSession(Pacer(1_000_000.0), "/v1"), SignedSession()):
        with session, pytest.raises(LocationParseError, match="label empty or too long"):
            session.get(url, timeout=1)


def test_a_connection_test_stopped_while_it_waits_says_so_in_one_line(tmp_path: Path) -> None:
    """SIGTERM while ``--test`` waits (here for a resolver) ended in a traceback of the
    ``Interrupted`` raised by the tap's own handler, exit 1. Now its one line and exit 143."""
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"api_key": "sk-test-not-a-key", "workspace_id": _workspace(), "api_url": NOWHERE}
        )
    )
    config = str(tmp_path / "config.json")
    command = [sys.executable, "-c", HUNG_RESOLVER, "30", "30", "--config", config, "--test"]
    mark = tmp_path / "lookup-started"
    env = {**tap_env(), "HUNG_LOOKUP_MARK": str(mark)}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        wait_until(mark.exists, "the connection test's lookup (which waits 30 s)", proc=process)
        process.terminate()
        stdout, stderr = process.communicate(timeout=20)
    run = TapRun(process.returncode, stdout, stderr)
    assert run.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "Stopped by SIGTERM" in stderr.splitlines()[-1]


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


def test_the_connect_budget_counts_from_the_start_of_the_first_try_that_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A try that waited 15 s for its connection (or its name lookup) before failing: its 15 s
    count against the 30 s (they did not: a sync failed after 48 s, not 31 s)."""
    clock = _Clock()
    monkeypatch.setattr(retry.time, "monotonic", clock)
    refused = _refused()
    run = retry.Reachability()

    def a_slow_try() -> None:
        clock.now += 15
        raise refused

    start = clock.now
    with pytest.raises(requests.exceptions.ConnectionError):
        run.watch(a_slow_try)()
    assert run.since() == start
    assert _waits(retry.wait_generator(300, run), refused, clock) == [1, 2, 4, 8]


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
