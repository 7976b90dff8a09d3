"""Issue 17 item 3: bounded waits: a total deadline per body, stalls named, a heartbeat.

Each HTTP test runs the tap as a real process against the simulator over loopback; the
simulator trickles bodies (docs/simulator.md, ``inject(route, trickle=(bytes, seconds))``).
"""

from __future__ import annotations

import time

import pytest
import requests

from chatgpt_compliance_simulator import SIGNED_ROUTE
from tap_chatgpt_compliance.errors import fatal_message
from tap_chatgpt_compliance.http.pacing import Pacer
from tap_chatgpt_compliance.http.transport import PacedSession, Watchdog
from tests.support.tap import logged_seconds, run_tap, tap_config
from tests.support.waiting import wait_until

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
FAST_RATE = 1_000_000  # bytes/s: the deadline is about request_timeout


def test_a_trickled_log_file_is_a_stall_named_in_one_line(simulator_factory) -> None:
    """One byte a second, forever: the run ends at the deadline, naming host, file, bytes."""
    sim = simulator_factory(seed=5, span_days=0.5, speed=60.0)
    config = tap_config(
        sim,
        file_content="none",
        request_timeout=2,
        max_retries=1,
        max_retry_wait=0.1,
        min_download_bytes_per_second=FAST_RATE,
    )
    sim.inject(SIGNED_ROUTE, trickle=(1, 1.0), count=100)
    run = run_tap(config, timeout=90)
    assert logged_seconds(run.stderr) < 45
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = run.stderr.splitlines()[-1]
    assert "Stalled: log file eclf_" in last
    host = sim.signed_base_url.split("//", 1)[1]
    assert f"from {host}" in last
    assert "bytes in" in last
    assert "Cannot reach" not in last


def test_a_heartbeat_names_what_is_in_flight(simulator_factory) -> None:
    """A slow but moving body: a heartbeat line every interval while it is in flight."""
    sim = simulator_factory(seed=5, span_days=0.5, speed=60.0)
    first = sim.log_files()[0]
    size = len(sim.log_file_bytes(first["id"]))
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    sim.inject(SIGNED_ROUTE, trickle=(max(1, size // 4), 0.8))
    run = run_tap(config, env={"TAP_CHATGPT_COMPLIANCE_PROGRESS_SECONDS": "0.5"})
    assert run.returncode == 0, run.stderr[-3000:]
    beats = [line for line in run.stderr.splitlines() if "Heartbeat:" in line]
    assert beats, run.stderr[-3000:]
    named = [line for line in beats if f"log file {first['id']}" in line]
    assert named, beats
    # The trickled body is a transfer in flight (a beat may also fall when only a request
    # waits for its token, on a loaded machine: that beat names no transfer).
    assert all("transfer(s) in flight" in line for line in named), named


def test_a_trickled_listing_is_a_stall_too(simulator_factory) -> None:
    """The listing body has a deadline as well (read at once, but watched)."""
    sim = simulator_factory(seed=5, span_days=0.5, speed=60.0)
    config = tap_config(
        sim,
        file_content="none",
        request_timeout=1,
        max_retries=0,
        min_download_bytes_per_second=FAST_RATE,
    )
    sim.inject(LOGS, trickle=(1, 0.6), count=10)
    run = run_tap(config, timeout=90)
    assert run.returncode == 1
    last = run.stderr.splitlines()[-1]
    assert "Stalled: the answer of" in last
    assert "/logs" in last


def test_a_read_timeout_mid_body_is_not_called_unreachable() -> None:
    """requests reports a read timeout while streaming as a bare ConnectionError."""
    exc = requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=1): Read timed out."
    )
    message = fatal_message(exc)
    assert "Cannot reach" not in message
    assert "answered, then sent nothing for request_timeout" in message


class _Lines:
    """A logger keeping each info line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


def test_the_heartbeat_names_a_request_still_waiting_for_its_answer() -> None:
    """Before any byte of the answer: the heartbeat still says what is in flight."""
    lines: list[str] = []
    watchdog = Watchdog(_Lines(lines), interval=0.2)  # type: ignore[arg-type]
    with watchdog.waiting("the request of /v1/x/logs", "127.0.0.1:1"):
        wait_until(lambda: watchdog.heartbeats >= 2, "two heartbeats", timeout=30)
    assert watchdog.heartbeats >= 2
    assert all("the request of /v1/x/logs on 127.0.0.1:1: no answer yet" in line for line in lines)
    assert all(line.startswith("Heartbeat: 1 request(s) waiting: ") for line in lines), lines


def test_the_heartbeat_names_a_wait_for_the_rate_limit() -> None:
    """A request held back by the pacer (a 429's Retry-After, or the rate) is named too."""
    lines: list[str] = []

    class Held(Pacer):
        def acquire(self, route: str) -> float:
            wait_until(lambda: watchdog.heartbeats >= 2, "two heartbeats", timeout=30)
            raise requests.ConnectionError("stop before sending")

    watchdog = Watchdog(_Lines(lines), interval=0.2)  # type: ignore[arg-type]
    session = PacedSession(Held(), "/v1", watchdog=watchdog)
    with pytest.raises(requests.ConnectionError):
        session.get("http://127.0.0.1:9/v1/compliance/workspaces/w/users")
    assert watchdog.heartbeats >= 2
    assert lines
    assert all(
        "the request of /v1/compliance/workspaces/w/users on 127.0.0.1:9: waiting for the rate "
        "limit" in line
        for line in lines
    ), lines


def test_the_heartbeat_names_a_retry_wait_until_it_is_over() -> None:
    """A retry's wait (a 5xx's or 429's Retry-After, up to max_retry_wait) is named too."""
    lines: list[str] = []
    watchdog = Watchdog(_Lines(lines), interval=0.2)  # type: ignore[arg-type]
    watchdog.sleeping("a request of stream 'users'", 1.0)
    time.sleep(2.0)
    beats = watchdog.heartbeats
    assert 2 <= beats <= 6
    assert all("a request of stream 'users': " in line for line in lines), lines
    assert "s of 1 s waited before its retry" in lines[0]
    # nothing is being transferred: the line says a request waits, not a transfer in flight
    assert all(line.startswith("Heartbeat: 1 request(s) waiting: ") for line in lines), lines
    time.sleep(1.0)
    assert watchdog.heartbeats == beats  # the wait is over: no more heartbeats


def test_a_retry_wait_is_named_by_the_running_tap(simulator_factory) -> None:
    """A 503 with Retry-After 3: the tap's heartbeat names the wait while it sleeps."""
    sim = simulator_factory(seed=5, span_days=0.2)
    sim.inject(LOGS, status=503, retry_after=3, count=1)
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE"])
    run = run_tap(config, env={"TAP_CHATGPT_COMPLIANCE_PROGRESS_SECONDS": "0.5"})
    assert run.returncode == 0, run.stderr[-3000:]
    beats = [line for line in run.stderr.splitlines() if "Heartbeat:" in line]
    assert any("s of 3 s waited before its retry" in line for line in beats), run.stderr[-3000:]
