"""Waits between retries: the server's Retry-After first, else exponential backoff."""

from __future__ import annotations

import math
import typing as t
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Generator


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header given in seconds or as an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" and "nan" are no number of seconds
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def wait_generator(max_wait: float) -> Generator[float, BaseException | None, None]:
    """Yield the wait before each retry; ``backoff`` sends in the exception that failed.

    A response's Retry-After wins; otherwise 1, 2, 4, … seconds. Both are capped at max_wait.
    """
    attempt = 0
    exc = yield 0.0  # primed by backoff with send(None)
    while True:
        attempt += 1
        response = getattr(exc, "response", None)
        header = response.headers.get("Retry-After") if response is not None else None
        server_wait = retry_after_seconds(header)
        wait = server_wait if server_wait is not None else float(2 ** (attempt - 1))
        exc = yield min(wait, max_wait)
