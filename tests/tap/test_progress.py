"""Progress lines (issue #9): one INFO line per event type at a steady cadence, never per record."""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tap_chatgpt_compliance.run.progress import Progress
from tap_chatgpt_compliance.settings import INTERVAL_VARIABLE
from tap_chatgpt_compliance.tap import METRICS_LOG_LEVEL
from tap_chatgpt_compliance.timeparse import duration
from tests.support.singer import parse_singer
from tests.support.tap import tap_command, tap_config, tap_env

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
LINE = re.compile(
    r"Progress (\w+): ([\d,]+) of ([\d,]+) log files listed so far done; end_time (\S+); "
    r"(.+?) behind now; ([\d,]+) records, ([\d,]+) attachments; ([\d,.]+) files/s, "
    r"([\d,]+) records/s; (.+)\.$"
)
"""A progress line; its numbers carry thousands separators (``1,242 records/s``)."""


def num(text: str) -> float:
    """Return the number of a progress line's field (``1,242.5`` -> 1242.5)."""
    return float(text.replace(",", ""))


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_lines_come_at_the_interval_one_per_event_type_that_moved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    totals = {"records": 0, "attachments": 0}
    progress = Progress(
        interval=15.0,
        clock=clock,
        now=lambda: NOW,
        logger=logging.getLogger("test.progress"),
        records_total=lambda: totals["records"],
        attachments_total=lambda: totals["attachments"],
    )
    caplog.set_level(logging.INFO, logger="test.progress")
    progress.begin("CONVERSATION_MESSAGE")
    start = NOW - timedelta(days=10)
    for i in range(10):  # 10 files in 10 s: no line yet
        progress.listed()
        clock.value += 1.0
        totals["records"] += 7
        totals["attachments"] += 1
        progress.file_done(start + timedelta(hours=i))
    assert caplog.messages == []
    for _ in range(10):  # 20 s in: one line, at 15 s
        progress.listed()
    clock.value += 5.0
    progress.file_done(start + timedelta(hours=10))
    assert len(caplog.messages) == 1
    match = LINE.match(caplog.messages[0])
    assert match, caplog.messages[0]
    event_type, done, listed, end_time, lag, records, attachments, files_s, _, estimate = (
        match.groups()
    )
    assert (event_type, num(done), num(listed)) == ("CONVERSATION_MESSAGE", 11, 20)
    assert end_time == (start + timedelta(hours=10)).isoformat()
    assert lag == duration(timedelta(days=9, hours=14).total_seconds()) == "9 d 14 h"
    assert (num(records), num(attachments)) == (70, 10)
    assert num(files_s) == pytest.approx(11 / 15, abs=0.05)
    # 10 hours of end_time covered in 14 s since the first file: 230 hours left take 322 s.
    assert estimate == f"about {duration(230 * 14 / 10)} to the end of the listing (estimate)"
    # Nothing moved: no line, however much time passes.
    clock.value += 60.0
    progress.tick()
    assert len(caplog.messages) == 1
    progress.end()  # the pass ends after a line was logged for it: a last line says so
    assert caplog.messages[-1].endswith("listing done.")
    # A second event type moves: only its line is logged, and a short pass logs nothing.
    progress.begin("AUDIT_LOG")
    progress.listed()
    progress.file_done(NOW - timedelta(minutes=3))
    progress.end()
    assert len(caplog.messages) == 2
    progress.begin("AUTH_LOG")
    progress.listed()
    clock.value += 15.0
    progress.file_done(NOW - timedelta(minutes=3))
    assert [LINE.match(m).group(1) for m in caplog.messages[2:]] == ["AUTH_LOG"]  # type: ignore[union-attr]


def test_a_real_run_shows_progress_lines_that_add_up(simulator_factory) -> None:
    """With a short interval, a real backfill prints progress lines ending at the last file.

    The SDK's METRIC lines, quiet by default (test_summary.py), come back when asked for.
    """
    sim = simulator_factory(seed=11, span_days=3.0, conversations=40)
    config = tap_config(sim)
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            tap_command(config, None, Path(tmp)),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**tap_env(), INTERVAL_VARIABLE: "0.05", METRICS_LOG_LEVEL: "INFO"},
        )
    assert result.returncode == 0, result.stderr[-3000:]
    records, _ = parse_singer(result.stdout)
    lines = [m for line in result.stderr.splitlines() if (m := LINE.search(line))]
    assert len(lines) >= 2, result.stderr[-3000:]
    done = [num(m.group(2)) for m in lines]
    assert done == sorted(done)  # never backwards
    assert all(num(m.group(2)) <= num(m.group(3)) for m in lines)
    last = lines[-1]
    assert last.group(10) == "listing done", result.stderr[-3000:]
    assert num(last.group(2)) == len(records["log_files"])
    written = sum(len(rows) for stream, rows in records.items() if stream not in {"users"})
    assert num(last.group(6)) <= written
    assert num(last.group(7)) == len(records["files"])
    # One line per interval at most, not one per file or record.
    assert len(lines) < len(records["log_files"])
    assert '"metric":"record_count"' in result.stderr
