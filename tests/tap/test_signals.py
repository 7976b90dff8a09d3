"""SIGTERM/SIGINT: exit 143/130, every stdout line whole, a final STATE of what was written.

Each scenario runs the tap as a real process against the simulator and signals it part way. The
SDK's own handler exited 0 after writing the state of the moment in the middle of a line; and
Python's buffered stdout loses the rest of a write a signal interrupts while the pipe is full
(the reader slow), so the tests signal the tap while nobody reads its output.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import SIGNED_ROUTE, Simulator
from tap_chatgpt_compliance.timeparse import to_datetime
from tests.support.tap import run_tap, tap_command, tap_config, tap_env
from tests.support.waiting import blocked_writing_stdout, wait_until

SIM = {"seed": 23, "span_days": 1.0, "speed": 60.0, "users": 4, "conversations": 14}


def start_tap(config: dict[str, Any], state: dict[str, Any] | None, workdir: Path):
    return subprocess.Popen(
        tap_command(config, state, workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=tap_env(),
    )


def every_line(stdout: bytes) -> list[dict[str, Any]]:
    """Parse EVERY line of the output: a torn or empty line fails the test."""
    text = stdout.decode("utf-8")
    assert text.endswith("\n"), f"the output ends inside a line: …{text[-200:]!r}"
    messages = []
    for number, line in enumerate(text.split("\n")[:-1], 1):
        try:
            messages.append(json.loads(line))
        except ValueError:
            pytest.fail(f"line {number} of the output is not JSON: {line[:200]!r}…{line[-200:]!r}")
    return messages


def bookmarks(state: dict[str, Any]) -> dict[str, datetime | None]:
    partitions = state.get("bookmarks", {}).get("log_files", {}).get("partitions", [])
    return {
        p["context"]["event_type"]: to_datetime(p.get("replication_key_value")) for p in partitions
    }


def assert_final_state_covers_only_what_was_written(messages: list[dict[str, Any]]) -> dict:
    """The last line is a STATE; each bookmark is the end_time of a log file written before."""
    assert messages, "no output"
    assert messages[-1]["type"] == "STATE", messages[-1]
    final = messages[-1]["value"]
    written = {
        to_datetime(m["record"]["end_time"])
        for m in messages[:-1]
        if m["type"] == "RECORD" and m["stream"] == "log_files"
    }
    for event_type, when in bookmarks(final).items():
        assert when is None or when in written, (event_type, when, sorted(written)[-3:])
    return final


def signal_run(
    sim: Simulator, signum: int, *, after_lines: int, read_output: bool, **config: Any
) -> tuple[int, list[dict[str, Any]], str, float]:
    """Run the tap, signal it once ``after_lines`` lines were written (or, without a reader,
    once its output pipe is full); return the exit code, the messages, stderr, and the seconds
    from the signal to the exit."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_tap(tap_config(sim, **config), None, Path(tmp))
        chunks: list[bytes] = []
        err: list[bytes] = []
        err_reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        err_reader.start()
        assert proc.stdout is not None
        if read_output:
            lines = 0
            while lines < after_lines:
                line = proc.stdout.readline()
                assert line, "the run ended before the signal"
                chunks.append(line)
                lines += 1
        else:  # the tap fills the pipe (64 KiB) and blocks in a write
            wait_until(
                lambda: blocked_writing_stdout(proc.pid),
                "the tap blocked in a write to its full output pipe",
                proc=proc,
            )
        proc.send_signal(signum)
        signalled = time.monotonic()
        if not read_output:
            time.sleep(0.5)  # the tap stays blocked in its write a while after the signal
        chunks.append(proc.stdout.read())
        code = proc.wait(timeout=60)
        took = time.monotonic() - signalled
        err_reader.join(timeout=10)
    return code, every_line(b"".join(chunks)), b"".join(err).decode(), took


@pytest.fixture(scope="module")
def sim():
    with Simulator(attachment_rate=0.3, attachment_size=(300_000, 600_000), **SIM) as simulator:
        yield simulator


def assert_stopped(code: int, stderr: str, signum: int) -> None:
    name = signal.Signals(signum).name
    assert code == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert f"Stopped by {name}" in last, last
    assert "ERROR" in last, last
    summary = next(line for line in reversed(stderr.splitlines()) if "Run summary (json): " in line)
    data = json.loads(summary.split("Run summary (json): ", 1)[1])
    assert data["exit_code"] == 128 + signum, data


@pytest.mark.parametrize(
    ("signum", "content"),
    [(signal.SIGTERM, "inline"), (signal.SIGINT, "none")],
    ids=["SIGTERM-large-lines", "SIGINT"],
)
def test_signal_while_the_output_pipe_is_full(sim: Simulator, signum: int, content: str) -> None:
    """Large inline lines (base64 attachments, written by pieces) and small ones, pipe full."""
    code, messages, stderr, took = signal_run(
        sim, signum, after_lines=0, read_output=False, file_content=content
    )
    assert_stopped(code, stderr, signum)
    assert_final_state_covers_only_what_was_written(messages)
    assert took < 15, took


def test_sigterm_mid_run_then_rerun_loses_nothing(sim: Simulator) -> None:
    code, messages, stderr, _ = signal_run(
        sim, signal.SIGTERM, after_lines=60, read_output=True, file_content="none"
    )
    assert_stopped(code, stderr, signal.SIGTERM)
    final = assert_final_state_covers_only_what_was_written(messages)
    first = {
        m["record"]["id"] for m in messages if m["type"] == "RECORD" and m["stream"] == "messages"
    }
    rerun = run_tap(tap_config(sim, file_content="none"), final)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    truth = set(sim.ground_truth(workspace_id=sim.workspace_id)["messages"])
    assert first | rerun.ids("messages") == truth
    assert first, "the signal came before any message: the test proves nothing"


def test_signal_while_waiting_on_a_stalled_download(simulator_factory) -> None:
    """The main thread waits on a download that trickles: the signal still ends the run."""
    sim = simulator_factory(**SIM)
    sim.inject("signed", trickle=(1, 1.0), count=50)
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_tap(tap_config(sim, file_content="none"), None, Path(tmp))
        wait_until(
            lambda: sim.request_count(SIGNED_ROUTE), "the tap's first (stalled) download", proc=proc
        )
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - start
    assert_stopped(proc.returncode, err.decode(), signal.SIGTERM)
    if out:
        every_line(out)
    assert took < 10, took
