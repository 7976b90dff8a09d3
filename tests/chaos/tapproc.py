"""Run ``python -m tap_chatgpt_compliance`` as a real process and SIGKILL it at a chosen point.

The parent reads the tap's stdout as Meltano does: a line counts only once it is complete (ends
with a newline), lines written before the kill are still drained from the pipe, a torn last line
is dropped, and the state to resume from is the last complete STATE line.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import tap as support_tap
from tests.support.clockskew import skewed_env
from tests.support.singer import parse_message

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where ``python -m tap_chatgpt_compliance`` is run from (its package is imported from there):
#: the working tree, or a frozen copy of the package for long batches (``scripts/chaos.py``),
#: so that edits made meanwhile in a shared tree do not change the code under test mid-batch.
TAP_ROOT: Path = REPO_ROOT
#: REST list streams (full table each run): a ``records`` kill counts only the other streams'.
DIRECTORY_STREAMS = frozenset({"users", "gpts", "projects"})


@dataclass(frozen=True)
class Kill:
    """Where to SIGKILL a run: after N complete RECORD lines of the log-file streams (the
    directory streams ``users``, ``gpts``, ``projects`` are not counted), N stdout bytes, N
    seconds after the first output line, or as the N-th new file appears in the storage
    folder."""

    kind: str  # "records" | "bytes" | "time" | "storage"
    at: float

    def describe(self) -> str:
        """Return e.g. ``kill -9 after 37 records``."""
        if self.kind == "time":
            return f"kill -9 {self.at:.2f} s after the first output line"
        if self.kind == "storage":
            return f"kill -9 as new storage file #{int(self.at)} appears (mid-write)"
        if self.kind == "records":
            return f"kill -9 after {int(self.at)} log records"
        return f"kill -9 after {int(self.at)} {self.kind}"

    def to_json(self) -> list[Any]:
        """Return ``[kind, at]``."""
        return [self.kind, self.at]


@dataclass
class TapRun:
    """What one tap process wrote (complete lines only) and how it ended."""

    label: str
    returncode: int | None
    killed: bool
    timed_out: bool
    duration: float
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    key_properties: dict[str, list[str]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    stdout_bytes: int = 0
    record_count: int = 0
    log_record_count: int = 0
    torn_tail: int = 0
    bad_lines: list[str] = field(default_factory=list)
    stderr: str = ""

    @property
    def state(self) -> dict[str, Any] | None:
        """The last STATE the process emitted (complete line), if any."""
        return self.states[-1] if self.states else None

    def stderr_tail(self, lines: int = 15) -> str:
        """Return the last lines of stderr, for reports."""
        return "\n".join(self.stderr.strip().splitlines()[-lines:])

    def outcome(self) -> str:
        """Return a short description: exit code, killed or timed out."""
        if self.timed_out:
            return "TIMED OUT (killed)"
        if self.killed:
            return "killed (-9)"
        return f"exit {self.returncode}"


def tap_env() -> dict[str, str]:
    """Return the tests' tap environment, unbuffered, importing the tap from ``TAP_ROOT``."""
    env = support_tap.tap_env()
    env["PYTHONUNBUFFERED"] = "1"
    if TAP_ROOT != REPO_ROOT:
        env["PYTHONPATH"] = str(TAP_ROOT)
    return env


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None,
    workdir: Path,
    *,
    label: str = "run",
    kill: Kill | None = None,
    timeout: float = 120.0,
    watch_dir: Path | None = None,
    catalog: dict[str, Any] | None = None,
) -> TapRun:
    """Run the tap once; SIGKILL it at ``kill`` (or at ``timeout``); return its complete lines.

    ``catalog``: run with this catalog (``--catalog``), e.g. to select the workspace streams.

    A ``storage`` kill watches ``watch_dir`` (the local file storage folder) every 2 ms and
    kills the tap as soon as the N-th file that was not there before appears: usually while
    its bytes are still being written.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    command = support_tap.tap_command(config, state, workdir)
    if catalog is not None:
        (workdir / "catalog.json").write_text(json.dumps(catalog))
        command += ["--catalog", str(workdir / "catalog.json")]
    stderr_path = workdir / "stderr.log"
    run = TapRun(label=label, returncode=None, killed=False, timed_out=False, duration=0.0)
    started = time.monotonic()
    with stderr_path.open("wb") as stderr_file:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env=skewed_env(tap_env(), support_tap.synced_offset(config), workdir / "site"),
            cwd=TAP_ROOT,
        )
        try:
            _pump(proc, run, kill, started, timeout, watch_dir)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
    run.duration = time.monotonic() - started
    run.returncode = proc.returncode
    run.killed = run.killed and proc.returncode == -signal.SIGKILL
    run.stderr = stderr_path.read_text(errors="replace")
    if config.get("api_key") and config["api_key"] in run.stderr:
        run.bad_lines.append("the API key appears in stderr")
    return run


def _files(folder: Path | None) -> set[Path]:
    if folder is None or not folder.exists():
        return set()
    return {p for p in folder.rglob("*") if p.is_file()}


def _pump(
    proc: subprocess.Popen[bytes],
    run: TapRun,
    kill: Kill | None,
    started: float,
    timeout: float,
    watch_dir: Path | None,
) -> None:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pending = bytearray()
    deadline = started + timeout
    timed_kill = kill is not None and kill.kind == "time"
    kill_deadline: float | None = None  # set when the first output arrives (start-up is slow)
    watching = kill is not None and kill.kind == "storage"
    before = _files(watch_dir) if watching else set()

    def do_kill() -> None:
        if not run.killed and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            run.killed = True

    while True:
        if watching and not run.killed and len(_files(watch_dir) - before) >= kill.at:  # type: ignore[union-attr]
            do_kill()
            watching = False
        now = time.monotonic()
        if kill_deadline is not None and now >= kill_deadline:
            do_kill()
            kill_deadline = None
        if now >= deadline and not run.killed:
            proc.send_signal(signal.SIGKILL)
            run.timed_out = True
            run.killed = True
        limit = deadline if kill_deadline is None else min(deadline, kill_deadline)
        wait = max(0.0, limit - now) if not run.killed else 30.0
        if watching:
            wait = min(wait, 0.002)
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            if run.killed:  # a killed process that does not close its pipe: give up
                break
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        if timed_kill and kill_deadline is None and run.stdout_bytes == 0:
            kill_deadline = time.monotonic() + kill.at  # type: ignore[union-attr]
        run.stdout_bytes += len(chunk)
        pending += chunk
        start = 0
        while (newline := pending.find(b"\n", start)) >= 0:
            _take_line(run, bytes(pending[start:newline]))
            start = newline + 1
            if (
                kill is not None
                and kill.kind == "records"
                and run.log_record_count >= kill.at
                and not run.killed
            ):
                do_kill()
        del pending[:start]
        if kill is not None and kill.kind == "bytes" and run.stdout_bytes >= kill.at:
            do_kill()
    run.torn_tail = len(pending)


def _take_line(run: TapRun, line: bytes) -> None:
    if not line.strip():
        return
    message = parse_message(line)
    if message is None:
        run.bad_lines.append(line[:200].decode("utf-8", "replace"))
        return
    kind = message.get("type")
    if kind == "RECORD":
        run.records[message["stream"]].append(message["record"])
        run.record_count += 1
        if message["stream"] not in DIRECTORY_STREAMS:
            run.log_record_count += 1
    elif kind == "STATE":
        run.states.append(message["value"])
    elif kind == "SCHEMA":
        run.key_properties[message["stream"]] = list(message.get("key_properties") or [])
