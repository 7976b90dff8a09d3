"""Under the real Meltano CLI (issue #17): a state backend failing mid-run fails the fleet's run
(Meltano itself exits 0); a signalled tap ends `meltano run` non-zero; two `meltano run --force`
of one tenant: the second is refused by the workspace lease, without a JSONDecodeError."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from orchestration import runner
from orchestration.project import Tenant
from tests.support.meltano import (
    MELTANO,
    REPO_ROOT,
    TAP,
    MeltanoProject,
    expected,
    ids,
    jsonl_records,
)

TENANT = Tenant(name="acme", extractor=f"{TAP}--acme", load_schema="acme", workspace_id=None)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def wait_for_tap_sync(root: int, timeout: float = 120) -> int:
    """Return the pid of the tap syncing (not discovering) under the process ``root``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in _descendants(root):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"tap-chatgpt-compliance" in cmd and b"--catalog" in cmd:
                return pid
        time.sleep(0.05)
    raise AssertionError("the tap did not start")


@pytest.fixture
def slow_sim(sim2):
    sim2.config.faults.latency_ms = 60  # a run of several seconds: time to act during it
    yield sim2
    sim2.config.faults.latency_ms = 0


def test_a_state_backend_failing_mid_run_fails_the_fleet_run(
    meltano: MeltanoProject, slow_sim, s3_client, s3_bucket, monkeypatch
) -> None:
    for key in list(os.environ):
        if key.startswith(("TAP_", "TARGET_", "MELTANO_")):
            monkeypatch.delenv(key)
    dest = meltano.tmp / "jsonl"
    dest.mkdir()
    for key, value in {**meltano.env, "TARGET_JSONL_DESTINATION_PATH": str(dest)}.items():
        monkeypatch.setenv(key, value)

    def break_the_backend() -> None:
        wait_for_tap_sync(os.getpid())
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket):
            for obj in page.get("Contents", []):
                s3_client.delete_object(Bucket=s3_bucket, Key=obj["Key"])
        s3_client.delete_bucket(Bucket=s3_bucket)
        slow_sim.config.faults.latency_ms = 0  # broken: the rest of the run need not be slow

    breaker = threading.Thread(target=break_the_backend, daemon=True)
    breaker.start()
    outcome = runner.run_pipeline(TENANT, "target-jsonl", timeout=300)
    breaker.join(timeout=10)
    assert "Failed to persist incremental state" in outcome.output  # what Meltano logs...
    assert not outcome.ok, outcome.output[-3000:]  # ...though it exits 0
    assert outcome.message is not None
    assert "failed to persist the incremental state" in outcome.message
    assert outcome.summary.tap_bookmarks, "the tap reported no bookmark: nothing was tested"
    assert outcome.summary.bookmarks == {}  # not what the tap reached: nothing was persisted
    assert any("persist" in f for f in outcome.summary.failures)


def _start_jsonl_run(meltano: MeltanoProject) -> tuple[subprocess.Popen[str], Path]:
    """Start `meltano run` of acme into target-jsonl; return it and its output folder."""
    dest = meltano.tmp / "jsonl" / "acme"
    dest.mkdir(parents=True)
    env = {**meltano.env, "TARGET_JSONL_DESTINATION_PATH": str(dest)}
    proc = subprocess.Popen(
        [MELTANO, "run", f"{TAP}--acme", "target-jsonl"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, dest


def test_a_signalled_tap_ends_meltano_run_non_zero(meltano: MeltanoProject, slow_sim) -> None:
    proc, _ = _start_jsonl_run(meltano)
    tap = wait_for_tap_sync(proc.pid)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # signal the tap once it is syncing (its handler installed)
        lines.append(line)
        if "Beginning sync of 'log_files'" in line:
            break
    time.sleep(0.5)
    os.kill(tap, signal.SIGTERM)
    output = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output[-3000:]
    assert "Stopped by SIGTERM (exit code 143)" in output, output[-3000:]
    assert "Extractor failed" in output, output[-3000:]


def test_a_loader_killed_mid_stream_fails_the_run_and_the_next_run_recovers_all(
    meltano: MeltanoProject, slow_sim
) -> None:
    """The loader OOM-killed while the tap streams: `meltano run` exits non-zero, Meltano's
    state holds no more than the loader confirmed, and the next run archives everything."""
    proc, dest = _start_jsonl_run(meltano)
    wait_for_tap_sync(proc.pid)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # kill the loader once log files stream through it
        lines.append(line)
        if "Beginning sync of 'log_files'" in line:
            break
    time.sleep(0.5)
    target = next(
        pid
        for pid in _descendants(proc.pid)
        if b"bin/target-jsonl" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    os.kill(target, signal.SIGKILL)
    output = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output[-3000:]
    # Meltano says so, or (a race in Meltano 4.4: its write to the dead loader's stdin comes
    # first) stops on its own BrokenPipeError; either way the run failed loudly.
    assert "Loader failed" in output or "BrokenPipeError" in output, output[-3000:]
    state = meltano.run("state", "get", f"local:{TAP}--acme-to-target-jsonl", check=False)
    assert "replication_key_value" not in state.stdout  # target-jsonl confirms only at its end

    slow_sim.config.faults.latency_ms = 0
    meltano.elt("acme", "target-jsonl")
    recs = jsonl_records(dest)
    assert ids(recs["messages"], "messages") == expected(slow_sim, 0)["messages"]


@pytest.mark.soak  # about 50 s: two Meltano runs, the first slowed down to hold its lease
def test_two_forced_meltano_runs_of_one_tenant_the_second_is_refused(
    meltano: MeltanoProject, slow_sim
) -> None:
    def start(name: str) -> subprocess.Popen[str]:
        dest = meltano.tmp / "jsonl" / name
        dest.mkdir(parents=True)
        return subprocess.Popen(
            [MELTANO, "run", "--force", f"{TAP}--acme", "target-jsonl"],
            cwd=REPO_ROOT,
            env={**meltano.env, "TARGET_JSONL_DESTINATION_PATH": str(dest)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    slow_sim.config.faults.latency_ms = 1000  # the first run holds the lease meanwhile
    first = start("first")
    wait_for_tap_sync(first.pid)
    second = start("second")
    second_out = second.communicate(timeout=300)[0]
    slow_sim.config.faults.latency_ms = 0
    first_out = first.communicate(timeout=300)[0]
    assert first.returncode == 0, first_out[-3000:]
    assert second.returncode != 0, second_out[-3000:]
    assert "Another run of workspace" in second_out, second_out[-3000:]
    assert "JSONDecodeError" not in second_out + first_out
