"""Waits between retries: the server's Retry-After first, else exponential backoff."""

from __future__ import annotations

import math
import time
import typing as t
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import ConnectTimeoutError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

CONNECT_RETRY_SECONDS = 30.0
"""How long requests that cannot connect at all (host name not found, connection refused, no
answer to connect) are retried, whatever max_retries: a host that is not there is not a 5xx
that clears in minutes. Counted from the first such failure since the last answer of the run."""
CONNECT_TIMEOUT = 15.0
"""Longest wait for a connection to open (request_timeout if shorter): a host that drops the
connection attempt is not waited for for request_timeout at each try."""


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


def never_connected(exc: BaseException | None) -> bool:
    """Whether a request failed before reaching any server (name, refused, connect timeout).

    ``requests`` raises a ConnectionError around urllib3's NewConnectionError (a name that does
    not resolve, a refused connection; a ConnectTimeoutError) or ConnectTimeout; a proxy that
    cannot be reached is a ProxyError. A reset or a timeout once connected is none of these.
    """
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError)):
        return True
    return any(isinstance(getattr(arg, "reason", arg), ConnectTimeoutError) for arg in exc.args)


def wait_generator(
    max_wait: float,
    unreachable_since: Callable[[BaseException | None], float | None] | None = None,
    connect_budget: float = CONNECT_RETRY_SECONDS,
) -> Generator[float, BaseException | None, None]:
    """Yield the wait before each retry; ``backoff`` sends in the exception that failed.

    A response's Retry-After wins; otherwise 1, 2, 4, … seconds. Both are capped at max_wait.
    A failure to connect (:func:`never_connected`) is retried only within ``connect_budget``
    seconds of the first one (of this request, or of the run: ``unreachable_since``); then the
    generator ends, and ``backoff`` gives up.
    """
    attempt = 0
    first: float | None = None
    exc = yield 0.0  # primed by backoff with send(None)
    while True:
        attempt += 1
        response = getattr(exc, "response", None)
        header = response.headers.get("Retry-After") if response is not None else None
        server_wait = retry_after_seconds(header)
        wait = min(server_wait if server_wait is not None else float(2 ** (attempt - 1)), max_wait)
        if never_connected(exc):
            now = time.monotonic()
            first = now if first is None else first
            since = unreachable_since(exc) if unreachable_since is not None else None
            left = connect_budget - (now - min(first, since if since is not None else first))
            if left <= 0:
                return
            wait = min(wait, left)
        exc = yield wait
