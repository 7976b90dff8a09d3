"""Simulated clock and time helpers (integer microseconds since the Unix epoch)."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86400 * US

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


class NaiveTimeError(ValueError):
    """An ISO 8601 string without a time zone."""


def to_us(dt: datetime) -> int:
    """Convert a tz-aware datetime to integer microseconds since the epoch."""
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def from_us(us: int) -> datetime:
    """Convert integer microseconds since the epoch to a tz-aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def iso_us(us: int) -> str:
    """Render as ISO 8601 UTC with microseconds and ``Z`` (event timestamps)."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_s(us: int) -> str:
    """Render as ISO 8601 UTC, whole seconds, with ``Z`` (file end times)."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_auto(us: int) -> str:
    """Render with ``Z``; microseconds only when not a whole second."""
    return iso_s(us) if us % US == 0 else iso_us(us)


def parse_iso(text: str) -> int:
    """Parse ISO 8601 with a time zone into microseconds.

    Raises NaiveTimeError if the zone is missing, ValueError if unparsable.
    """
    m = _ISO_RE.match(text.strip())
    if not m:
        raise ValueError(f"invalid datetime: {text!r}")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = (m.group(7) or "").ljust(6, "0")[:6]
    if not m.group(8) and not m.group(9):
        raise NaiveTimeError(f"datetime has no time zone: {text!r}")
    dt = datetime(year, month, day, hour, minute, second, int(frac), tzinfo=timezone.utc)
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        try:
            dt = dt - offset if m.group(9) == "+" else dt + offset
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00: out of range, not a crash
            raise ValueError(f"datetime out of range: {text!r}") from None
    return to_us(dt)


class Clock:
    """The simulated clock; it only moves when told to (or by auto-advance)."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime.now(timezone.utc).replace(microsecond=0)
        if start.tzinfo is None:
            raise ValueError("SimulatorConfig.start must be timezone-aware")
        self._us = to_us(start)
        self._lock = threading.Lock()

    @property
    def us(self) -> int:
        """Current simulated time in microseconds."""
        return self._us

    def now(self) -> datetime:
        """Return the current simulated time as a tz-aware UTC datetime."""
        return from_us(self._us)

    def set_us(self, us: int) -> None:
        """Move the clock to ``us`` (never backwards)."""
        with self._lock:
            self._us = max(self._us, us)
