"""Client-side pacing of the Compliance API: one token bucket per route template.

The API limits each route ("per workspace per method and route", reference §3.4) to about 100
requests per minute, and every 429 is a failed request against the workspace's budget. The tap
therefore never relies on 429s to find the limit: before each request it takes a token from the
bucket of the request's route template (``/compliance/workspaces/{}/logs/{}`` …), refilled at
``max_requests_per_minute`` (half of it for the Gen-1 list routes users, GPTs and projects, which
are documented at 50/min). A bucket holds one minute of requests at the documented rate (100,
or 50 for the Gen-1 lists; less when ``max_requests_per_minute`` is lower), as the API's own does:
a higher setting raises the rate, not the burst, which the API does not document.

It adapts when the API disagrees: a 429 empties the route's bucket and blocks the route for the
``Retry-After`` the API asked for; the first 429 also sizes the route's burst to what the API
actually held (the tap's bucket had the same refills, capped the same way: the API's burst is
the tap's less the tokens the tap still had), and any later 429 lowers the route's rate by 20%
(logged once), for workspaces whose limit is lower than configured. A 429 answering a request
sent before the previous 429 of its route was noted (requests in flight together) only counts.
Routes are independent: log downloads and attachment downloads proceed in parallel, each at its
own rate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from tap_chatgpt_compliance.settings import DEFAULT_REQUESTS_PER_MINUTE

LOGGER = logging.getLogger(__name__)

GEN1_LISTS = frozenset({"users", "gpts", "projects", "configs", "shared_users"})
"""Gen-1 list routes, documented at 50 requests per minute: paced at half the setting."""
GEN1_LIST_ROUTES = frozenset({"/compliance/workspaces/{}/memories"})
"""Gen-1 lists at 50 per minute named by their whole template: the workspace's memories list
(``users/{}/memories`` of one user is 100 per minute)."""
SLOWDOWN = 0.8
"""Factor applied to a route's rate at each 429 received while it was already paced evenly."""
MIN_RATE_PER_MINUTE = 1.0
_ONE = 1.0 - 1e-9
"""A whole token, give or take the rounding of refills."""
RESERVE_SECONDS = 0.25
"""Tokens worth this much time (at least one) are never used: requests reach the API a few
milliseconds apart from when they were paced, and the API's bucket must not be empty then."""


def route_template(path: str, base_path: str = "") -> str:
    """Return the route template of an API path: ids replaced by ``{}``.

    ``/v1/compliance/workspaces/W/users/U/files/F`` gives
    ``/compliance/workspaces/{}/users/{}/files/{}`` (``base_path`` ``/v1`` removed). Under
    ``/compliance`` the segments alternate between a collection and an id.
    """
    path = path.split("?", 1)[0]
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :]
    parts = path.strip("/").split("/")
    if not parts or parts[0] != "compliance":
        return "/" + "/".join(parts)
    return "/" + "/".join(
        "{}" if index >= 2 and index % 2 == 0 else part for index, part in enumerate(parts)
    )


def route_rate(template: str, per_minute: float) -> float:
    """Return the requests per minute allowed on a route template."""
    last = template.rsplit("/", 1)[-1]
    return per_minute / 2 if last in GEN1_LISTS or template in GEN1_LIST_ROUTES else per_minute


@dataclass
class _Bucket:
    per_minute: float
    tokens: float
    capacity: float
    updated: float
    blocked_until: float = 0.0
    learned: bool = False
    """True once a 429 showed that the API's burst is smaller than assumed."""
    throttled_at: float = float("-inf")
    """When the last 429 of the route was noted."""

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.per_minute / 60.0

    @property
    def reserve(self) -> float:
        """Tokens kept unused (at most half of the burst beyond one request)."""
        return min(max(1.0, self.rate * RESERVE_SECONDS), (self.capacity - 1.0) / 2)

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now


@dataclass
class PacingStats:
    """What the pacer did, for the run summary and the benchmark."""

    requests: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    """429 answers per route template."""
    waited: float = 0.0
    """Seconds spent waiting for a token, summed over threads."""


class Pacer:
    """Token buckets per route template, shared by every thread of a run.

    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        *,
        max_wait: float = math.inf,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        """Pace every route at ``per_minute`` (Gen-1 lists at half).

        ``max_wait``: the longest a 429's Retry-After blocks a route (``max_retry_wait``).
        """
        self.per_minute = float(per_minute)
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.stats = PacingStats()

    def _bucket(self, route: str, now: float) -> _Bucket:
        bucket = self._buckets.get(route)
        if bucket is None:
            rate = route_rate(route, self.per_minute)
            burst = min(rate, route_rate(route, DEFAULT_REQUESTS_PER_MINUTE))
            bucket = _Bucket(per_minute=rate, tokens=burst, capacity=burst, updated=now)
            self._buckets[route] = bucket
        return bucket

    def acquire(self, route: str) -> float:
        """Wait until the route may be called, take its token; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                bucket = self._bucket(route, now)
                bucket.refill(now)
                wait = bucket.blocked_until - now
                needed = 1.0 + bucket.reserve
                if wait <= 0 and bucket.tokens >= needed - 1.0 + _ONE:
                    bucket.tokens -= 1.0
                    self.stats.requests[route] += 1
                    self.stats.waited += waited
                    return waited
                if wait <= 0:
                    wait = (needed - bucket.tokens) / bucket.rate
            # Others may take the token first: check again after the wait.
            self._sleep(wait)
            waited += wait

    def now(self) -> float:
        """Return the pacer's clock (a request's send time, for :meth:`throttled`)."""
        return self._clock()

    def throttled(
        self, route: str, retry_after: float | None, sent_at: float | None = None
    ) -> None:
        """Note a 429 on a route: block it for Retry-After, then pace it evenly (or slower).

        ``sent_at`` (:meth:`now` when the request was sent): a 429 to a request sent before the
        route's previous 429 was noted was in flight with it, and tells nothing new.
        """
        with self._lock:
            now = self._clock()
            bucket = self._bucket(route, now)
            bucket.refill(now)
            self.stats.throttled[route] += 1
            if sent_at is not None and sent_at < bucket.throttled_at:
                pass  # in flight with the 429 already noted: only its Retry-After counts
            elif bucket.learned:
                slower = max(MIN_RATE_PER_MINUTE, bucket.per_minute * SLOWDOWN)
                if bucket.per_minute == route_rate(route, self.per_minute):
                    LOGGER.warning(
                        "The API answered 429 on %s although the tap paced it at %.0f "
                        "requests per minute: pacing it slower. Set max_requests_per_minute "
                        "to the workspace's limit to avoid these retries.",
                        route,
                        bucket.per_minute,
                    )
                bucket.per_minute = slower
                bucket.capacity = max(1.0, bucket.capacity / 2)
            else:
                # The API's bucket is empty while the tap's, refilled and capped alike, still
                # holds ``tokens``: the API's burst is smaller by that much (and by the token
                # of this request, which the API did not serve).
                held = bucket.capacity - max(0.0, bucket.tokens) - 1.0
                bucket.capacity = max(1.0, min(bucket.capacity, held))
                bucket.learned = True
            bucket.throttled_at = now
            bucket.tokens = min(bucket.tokens, 0.0)
            wait = retry_after if retry_after is not None else 60.0 / bucket.per_minute
            wait = min(wait, self.max_wait)  # a Retry-After of hours must not hang the run
            bucket.blocked_until = max(bucket.blocked_until, now + wait)

    def summary(self) -> str:
        """Return one line: requests and 429s per route, and the time spent waiting."""
        stats = self.stats
        total = sum(stats.requests.values())
        throttled = sum(stats.throttled.values())
        return (
            f"Pacing: {total} API requests, {throttled} answered 429 "
            f"({100.0 * throttled / total if total else 0.0:.2f}%), "
            f"{stats.waited:.1f} s waited for the rate limit (max_requests_per_minute "
            f"{self.per_minute:g} per route)."
        )
