"""Fault injection: latency, 5xx bursts, connection resets, truncated bodies (deterministic)."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

from .config import Faults

RESET = "reset"
TRUNCATE = "truncate"
STATUS = "status"


@dataclass
class FaultAction:
    """What to do to one request instead of (or on top of) answering it normally."""

    kind: str  # STATUS | RESET | TRUNCATE
    status: int = 500
    retry_after: int | None = None


class FaultEngine:
    """Decides, request by request, which fault applies. Deterministic for a given order."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(f"{seed}:faults")
        self._lock = threading.Lock()
        self._queues: dict[str, deque[FaultAction]] = {}
        self._bursts: dict[str, int] = {}

    def inject(self, route: str, action: FaultAction, count: int) -> None:
        """Queue ``action`` for the next ``count`` requests to ``route``."""
        with self._lock:
            q = self._queues.setdefault(route, deque())
            for _ in range(count):
                q.append(action)

    def clear(self) -> None:
        """Drop queued faults and running bursts."""
        with self._lock:
            self._queues.clear()
            self._bursts.clear()

    def next_action(self, route: str) -> FaultAction | None:
        """Return the fault for this request to ``route`` (a route template, or ``"signed"``)."""
        f = self.faults
        with self._lock:
            q = self._queues.get(route)
            if q:
                return q.popleft()
            r_err, r_reset, r_trunc = self.rng.random(), self.rng.random(), self.rng.random()
            status = self.rng.choice((500, 502, 503))
            left = self._bursts.get(route, 0)
            if left > 0:
                self._bursts[route] = left - 1
                return FaultAction(STATUS, status)
            if r_err < f.error_rate:
                self._bursts[route] = max(0, f.error_burst - 1)
                return FaultAction(STATUS, status)
            if r_reset < f.reset_rate:
                return FaultAction(RESET)
            if r_trunc < f.truncate_rate:
                return FaultAction(TRUNCATE)
        return None
