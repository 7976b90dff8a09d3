"""Waits between retries: the server's Retry-After first, else exponential backoff."""

from __future__ import annotations

import functools
import math
import threading
import time
import typing as t
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from tap_chatgpt_compliance.errors import never_connected

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

T = t.TypeVar("T")

CONNECT_RETRY_SECONDS = 30.0
"""How long requests that cannot connect at all (host name not found, connection refused, no
answer to connect) are retried, whatever max_retries: a host that is not there is not a 5xx
that clears in minutes. Counted from the start of the first try that failed so since the last
answer of the run (its own wait for a connection or a name lookup included)."""
CONNECT_TIMEOUT = 15.0
"""Longest wait for a connection to open (request_timeout if shorter): a host that drops the
connection attempt is not waited for for request_timeout at each try. The host name's lookup is
bounded alike (resolve.py): a resolver that never answers counts as a host not reached."""


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


def wait_generator(
    max_wait: float, reachability: Reachability | None = None
) -> Generator[float, BaseException | None, None]:
    """Yield the wait before each retry; ``backoff`` sends in the exception that failed.

    A response's Retry-After wins; otherwise 1, 2, 4, … seconds. Both are capped at max_wait.
    A failure to connect (:func:`never_connected`) is retried only within the budget of
    ``reachability`` (default CONNECT_RETRY_SECONDS) since the first one, of this request or of
    the run; then the generator ends, and ``backoff`` gives up.
    """
    reachability = reachability or Reachability()
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
            left = reachability.budget - (now - min(first, reachability.since()))
            if left <= 0:
                return
            wait = min(wait, left)
        exc = yield wait


class Reachability:
    """Since when the run's requests fail to connect; any answer (even an error) resets it.

    Shared by every request and thread of a run: once no host answered for ``budget`` seconds,
    a failure to connect is not retried any more, whatever request meets it.
    """

    def __init__(self, budget: float | None = None) -> None:
        """Retry failures to connect for ``budget`` seconds (default CONNECT_RETRY_SECONDS)."""
        self.budget = CONNECT_RETRY_SECONDS if budget is None else budget
        """0 for a connection test (``--test``): the first failure to connect ends it."""
        self._since: float | None = None
        self._lock = threading.Lock()

    def since(self) -> float:
        """Return since when requests fail to connect (now, at the first failure)."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
            return self._since

    def watch(self, func: Callable[..., T]) -> Callable[..., T]:
        """Wrap ``func`` (one try of a request): an answer, even an error, resets the clock."""

        @functools.wraps(func)
        def tried(*args: t.Any, **kwargs: t.Any) -> T:
            started = time.monotonic()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                if not never_connected(exc):  # a host answered (an error, but an answer)
                    self._since = None
                else:  # the try's own wait (a connect or lookup timeout) counts too
                    with self._lock:
                        self._since = started if self._since is None else self._since
                raise
            self._since = None
            return result

        return tried
