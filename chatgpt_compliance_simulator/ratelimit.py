"""Token buckets per (API key, route template or shared bucket) (reference §3.4, §6 #17)."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """``per_minute`` requests per minute per bucket; the window is scaled by ``speed``."""

    def __init__(self, speed: float = 1.0, enabled: bool = True) -> None:
        self.speed = max(speed, 1e-9)
        self.enabled = enabled
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, route: str, per_minute: int) -> int | None:
        """Take one token; return None if allowed, else the ``Retry-After`` seconds (≥ 1)."""
        if not self.enabled:
            return None
        refill = per_minute / 60.0 * self.speed  # tokens per real second
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((key, route), (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * refill)
            if tokens >= 1.0:
                self._buckets[(key, route)] = (tokens - 1.0, now)
                return None
            self._buckets[(key, route)] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / refill))

    def reset(self) -> None:
        """Refill every bucket."""
        with self._lock:
            self._buckets.clear()
