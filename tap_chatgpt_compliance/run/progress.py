"""Progress a person can follow: one INFO line per event type every ~15 seconds.

A line says how many log files are done of those listed so far, the ``end_time`` reached and how
far behind now it is, the records and attachments written so far, the rate, and an estimate of
the time left to the end of the listing (from how fast ``end_time`` has been catching up with
now). Lines are logged at a steady cadence, never per record or per file; a run shorter than
the interval prints none.
"""

from __future__ import annotations

import logging
import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tap_chatgpt_compliance.settings import interval_seconds
from tap_chatgpt_compliance.timeparse import duration


@dataclass
class _TypeProgress:
    """What one event type's pass has done so far."""

    event_type: str
    started: float
    records_at_start: int
    attachments_at_start: int
    listed: int = 0
    done: int = 0
    end_time: datetime | None = None
    first_end_time: datetime | None = None
    """The end_time of the first file done, and when (the base of the estimate)."""
    first_done_at: float = 0.0
    changed: bool = True
    logged: bool = False


@dataclass
class Progress:
    """The run's progress, logged every ``interval`` seconds (see the module docstring)."""

    interval: float = field(default_factory=interval_seconds)
    clock: t.Callable[[], float] = time.monotonic
    now: t.Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    records_total: t.Callable[[], int] = lambda: 0
    attachments_total: t.Callable[[], int] = lambda: 0
    types: dict[str, _TypeProgress] = field(default_factory=dict)
    current: _TypeProgress | None = None
    last_logged: float = field(init=False)

    def __post_init__(self) -> None:
        """Start the cadence now: the first line comes one interval into the run."""
        self.last_logged = self.clock()

    def begin(self, event_type: str) -> None:
        """Start (or resume) the pass over one event type's listing."""
        entry = self.types.get(event_type)
        if entry is None:
            entry = self.types[event_type] = _TypeProgress(
                event_type,
                self.clock(),
                self.records_total(),
                self.attachments_total(),
            )
        self.current = entry

    def listed(self) -> None:
        """Count one log file listed to be read."""
        if self.current is not None:
            self.current.listed += 1
            self.current.changed = True

    def file_done(self, end_time: datetime) -> None:
        """Count one log file archived; its bookmark is now ``end_time``. Log if it is time."""
        entry = self.current
        if entry is None:
            return
        entry.done += 1
        entry.end_time = end_time
        if entry.first_end_time is None:
            entry.first_end_time, entry.first_done_at = end_time, self.clock()
        entry.changed = True
        self.tick()

    def end(self) -> None:
        """End the current pass; log its last line if lines were logged for it."""
        entry = self.current
        self.current = None
        if entry is None:
            return
        if entry.logged:
            self.logger.info("%s", self.line(entry, final=True))
        entry.changed = False  # a pass that ended prints nothing more

    def tick(self) -> None:
        """Log one line per event type that moved, if the interval has passed."""
        if not self.interval:
            return
        mono = self.clock()
        if mono - self.last_logged < self.interval:
            return
        self.last_logged = mono
        for entry in self.types.values():
            if entry.changed:
                self.logger.info("%s", self.line(entry))
                entry.changed = False
                entry.logged = True

    def line(self, entry: _TypeProgress, *, final: bool = False) -> str:
        """Return the progress line of one event type."""
        elapsed = max(self.clock() - entry.started, 1e-6)
        records = self.records_total() - entry.records_at_start
        attachments = self.attachments_total() - entry.attachments_at_start
        now = self.now()
        parts = [
            f"Progress {entry.event_type}: {entry.done:,} of {entry.listed:,} log files listed "
            "so far done"
        ]
        if entry.end_time is not None:
            lag = (now - entry.end_time).total_seconds()
            parts.append(f"end_time {entry.end_time.isoformat(timespec='seconds')}")
            parts.append(f"{duration(lag)} behind now")
        parts.append(f"{records:,} records, {attachments:,} attachments")
        parts.append(f"{entry.done / elapsed:,.1f} files/s, {records / elapsed:,.0f} records/s")
        parts.append("listing done" if final else self._estimate(entry, now))
        return "; ".join(parts) + "."

    def _estimate(self, entry: _TypeProgress, now: datetime) -> str:
        """Estimate the time to the end of the listing from how fast end_time catches up.

        The speed is measured from the first file done (the start date or bookmark may lie
        long before the first file).
        """
        unknown = "time to the end of the listing not known yet"
        if entry.end_time is None or entry.first_end_time is None:
            return unknown
        covered = (entry.end_time - entry.first_end_time).total_seconds()
        spent = self.clock() - entry.first_done_at
        if covered <= 0 or spent <= 0:
            return unknown
        left = max(0.0, (now - entry.end_time).total_seconds())
        return f"about {duration(left * spent / covered)} to the end of the listing (estimate)"
