"""One run per workspace: a second concurrent run is refused in one line; a killed holder's lease
is taken over at once (issue #17)."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tap_chatgpt_compliance.run.store import LEASE_PREFIX
from tests.support.tap import logged_seconds, run_tap, tap_command, tap_config, tap_env


def _wait_for_sync(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the tap has started syncing (its first STATE or record line)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "the first run ended early"
        if b'"type":"RECORD"' in line or b'"type":"STATE"' in line:
            return
    raise AssertionError("the first run did not start")


def test_a_second_run_of_the_workspace_is_refused_and_a_killed_holder_is_taken_over(
    simulator_factory,
) -> None:
    sim = simulator_factory(seed=5, span_days=0.5, speed=60.0)
    sim.config.faults.latency_ms = 150  # the first run lasts long enough
    config = tap_config(sim, file_content="none")
    with tempfile.TemporaryDirectory() as tmp:
        first = subprocess.Popen(
            tap_command(config, None, Path(tmp)),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=tap_env(),
        )
        try:
            _wait_for_sync(first)
            second = run_tap(config, timeout=60)
            took = logged_seconds(second.stderr)  # refused at once, not after a wait
            assert second.returncode == 1, second.stderr[-2000:]
            assert "Traceback" not in second.stderr
            last = second.stderr.strip().splitlines()[-1]
            assert "Another run of workspace" in last, last
            assert f"pid {first.pid}" in last, last
            assert LEASE_PREFIX in last, last
            assert not second.records, "the refused run wrote records"
            assert took < 20, took
            first.send_signal(signal.SIGKILL)  # a killed holder cannot release its lease
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    sim.config.faults.latency_ms = 0
    third = run_tap(config, timeout=120)
    assert third.returncode == 0, third.stderr[-3000:]
    assert third.records["messages"], "the run after the killed one archived nothing"


def test_the_same_workspace_behind_another_api_url_is_another_lease(simulator_factory) -> None:
    from tap_chatgpt_compliance.run.store import LeaseHeld, WorkspaceLease

    with tempfile.TemporaryDirectory() as tmp:
        one = WorkspaceLease("http://127.0.0.1:1/v1", "ws", tmp)
        one.acquire()
        other = WorkspaceLease("http://127.0.0.1:2/v1", "ws", tmp)
        other.acquire()  # another URL: another lease
        same = WorkspaceLease("http://127.0.0.1:1/v1/", "ws", tmp)
        with pytest.raises(LeaseHeld, match="Another run of workspace ws"):
            same.acquire()
        one.release()
        assert not one.path.exists(), "a released lease leaves no file behind"
        same.acquire()  # released: taken at once
        assert '"pid"' in same.path.read_text()
        same.release()
        other.release()
        assert not list(Path(tmp).iterdir())
