"""Wait for what a process is observed doing, never for a fixed time (a busy machine is slow).

A test that signals or kills a run "in the middle" waits for a sign that the run is there (the
simulator saw its request, a line of its output, its thread blocked in a write), with a generous
timeout that fails naming what never happened.
"""

from __future__ import annotations

import platform
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from .singer import parse_message

T = TypeVar("T")

WRITE_SYSCALL = {"x86_64": 1, "aarch64": 64}
"""The number of ``write`` in /proc/<pid>/syscall, per machine."""


def wait_until(
    condition: Callable[[], T],
    what: str,
    *,
    proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None,
    timeout: float = 90.0,
) -> T:
    """Return ``condition()``'s first truthy value, polled every 20 ms.

    Fails with ``what`` when it does not come within ``timeout`` s, or at once when ``proc``
    (the run being watched) ended first.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)


def blocked_writing_stdout(pid: int) -> bool:
    """Whether a thread of process ``pid`` is in a ``write`` to its standard output (fd 1).

    Read from /proc/<pid>/task/*/syscall (Linux; the syscall number, then its arguments).
    """
    number = WRITE_SYSCALL[platform.machine()]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        if len(fields) > 1 and fields[0] == str(number) and int(fields[1], 16) == 1:
            return True
    return False


class OutputLines:
    """The lines of a run's output, read by a thread as they come (the pipe never fills)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._scanned = 0
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def has_record(self, stream: str) -> bool:
        """Whether a RECORD of ``stream`` was read (lines are scanned once)."""
        lines = self.lines[self._scanned :]
        self._scanned += len(lines)
        for line in lines:
            message = parse_message(line) if f'"{stream}"' in line else None
            if message and message.get("type") == "RECORD" and message.get("stream") == stream:
                return True
        return False

    def text(self, timeout: float = 60.0) -> str:
        """Return the whole output, once the run closed it."""
        self._reader.join(timeout)
        assert not self._reader.is_alive(), f"the output was still open after {timeout:.0f} s"
        return "".join(self.lines)
