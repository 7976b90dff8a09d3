"""The run's one clock: the API's ``Date``, checked against this machine's clock.

Every decision of a run that depends on "now" (the default ``start_date``, the 30-day retention
and its gap check, a future ``end_time``, the attachment retry window, the lag in the summary)
reads :meth:`RunClock.now`: this machine's clock corrected by the offset of the API's ``Date``
header, as last seen on an answer of the API host (never the signed download host). Without a
``Date`` it is this machine's clock.

A ``Date`` more than ``max_clock_skew_seconds`` ahead of this machine's clock is refused: one
of the two clocks is wrong, and trusting a future ``Date`` would let a future ``end_time``
become a bookmark, after which every run reads nothing. The run stops with one line
(:class:`ClockSkewError`), before anything moves. A ``Date`` behind this machine's clock is
trusted (the API's time is what its files are dated by): the summary names both clocks.
"""

from __future__ import annotations

import threading
import time
import typing as t
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.timeparse import duration

DEFAULT_MAX_SKEW_SECONDS = 300.0
"""How far the API's ``Date`` may be ahead of this machine's clock (and an ``end_time`` ahead
of the API's time) before it is refused."""
DATE_RESOLUTION = 1.0
"""The ``Date`` header has whole seconds: it reads up to a second behind the instant."""


class ClockSkewError(ComplianceAPIError):
    """The API's Date is too far ahead of this machine's clock to be trusted."""


def local_time() -> float:
    """Return this machine's clock, in Unix seconds (the one place it is read)."""
    return time.time()


def http_date(value: str | None) -> datetime | None:
    """Parse an HTTP ``Date`` header; None when missing or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    """Return a time as ISO 8601 UTC, whole seconds."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


class RunClock:
    """The API's time as seen by one run (see the module docstring). Thread-safe."""

    def __init__(
        self,
        max_skew_seconds: float = DEFAULT_MAX_SKEW_SECONDS,
        local: t.Callable[[], float] = local_time,
    ) -> None:
        """Start with no ``Date`` seen: :meth:`now` is this machine's clock until one is."""
        self.max_skew = timedelta(seconds=max_skew_seconds)
        self._local = local
        self._offset: float | None = None
        self._lock = threading.Lock()
        self._synced = threading.Event()

    @property
    def synced(self) -> bool:
        """Return whether a ``Date`` of the API was seen in this run."""
        return self._offset is not None

    @property
    def offset_seconds(self) -> float | None:
        """Return the API's time minus this machine's clock, in seconds (None: no Date seen)."""
        return self._offset

    def local_now(self) -> datetime:
        """Return this machine's clock."""
        return datetime.fromtimestamp(self._local(), tz=timezone.utc)

    def now(self) -> datetime:
        """Return the API's time: this machine's clock corrected by the last Date seen."""
        return datetime.fromtimestamp(self._local() + (self._offset or 0.0), tz=timezone.utc)

    def observe(self, date: str | None, host: str = "the Compliance API") -> None:
        """Take the ``Date`` of an answer of the API; refuse one too far ahead (one line)."""
        api = http_date(date)
        if api is None:
            return
        local = self._local()
        offset = api.timestamp() - local
        if offset > self.max_skew.total_seconds() + DATE_RESOLUTION:
            local_at = datetime.fromtimestamp(local, tz=timezone.utc)
            msg = (
                f"Clock skew: {host} answered with Date {iso(api)}, {_span(offset)} ahead of "
                f"this machine's clock ({iso(local_at)}); more than max_clock_skew_seconds "
                f"({self.max_skew.total_seconds():g}). One of the two clocks is wrong, so no "
                "time of this run can be trusted and nothing was read: check this machine's "
                "time synchronisation (NTP), or any proxy rewriting Date. No bookmark moved."
            )
            raise ClockSkewError(msg)
        with self._lock:
            self._offset = offset
        self._synced.set()

    def wait_synced(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ``Date`` of the API; return :attr:`synced`."""
        return self._synced.wait(timeout)

    def ahead(self, moment: datetime) -> bool:
        """Return whether ``moment`` is more than the allowed skew ahead of the API's time."""
        return moment > self.now() + self.max_skew

    def skew_line(self) -> str | None:
        """Return the summary line naming both clocks, when they differ by more than the skew."""
        offset = self._offset
        if offset is None or abs(offset) <= self.max_skew.total_seconds() + DATE_RESOLUTION:
            return None
        local = self.local_now()
        api = local + timedelta(seconds=offset)
        return (
            f"Clocks: the API's Date says {iso(api)}, this machine's clock {iso(local)} "
            f"({_span(abs(offset))} {'ahead' if offset < 0 else 'behind'}): every time of "
            "this run follows the API's; fix this machine's time synchronisation (NTP)."
        )

    def as_json(self) -> dict[str, t.Any]:
        """Return both clocks for the summary's JSON line."""
        local = self.local_now()
        offset = self._offset
        return {
            "api_now": None if offset is None else iso(local + timedelta(seconds=offset)),
            "local_now": iso(local),
            "offset_seconds": None if offset is None else round(offset),
        }


def _span(seconds: float) -> str:
    return duration(abs(seconds))
