"""Fault injection: latency, 5xx, resets, truncated or trickled bodies, bad listing shapes."""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from dataclasses import dataclass

from .config import BAD_SHAPES, Faults
from .responses import Response

RESET = "reset"
TRUNCATE = "truncate"
STATUS = "status"
SHAPE = "shape"
TRICKLE = "trickle"
REDIRECT = "redirect"
PAGE = "page"
BODY = "body"
LISTING_HANDLERS = frozenset(
    {
        "list_logs",
        "list_users",
        "list_gpts",
        "list_projects",
        "list_memories",
        "list_canvases",
        "list_automations",
        "list_recordings",
        "list_codex_tasks",
        "list_library_files",
    }
)
"""Routes whose answer is a listing page (a broken shape applies to them only)."""


@dataclass
class FaultAction:
    """What to do to one request instead of (or on top of) answering it normally."""

    kind: str  # STATUS | RESET | TRUNCATE | SHAPE | TRICKLE | REDIRECT | PAGE | BODY
    status: int = 500
    retry_after: int | None = None
    shape: str = ""
    """SHAPE: one of :data:`~.config.BAD_SHAPES`."""
    trickle_bytes: int = 1
    trickle_interval: float = 2.0
    """TRICKLE: the body goes out ``trickle_bytes`` every ``trickle_interval`` seconds."""
    location: str = ""
    """REDIRECT: the request is answered 307 to this ``Location`` (an odd signed URL)."""
    page: str = ""
    """PAGE: the request is answered 200 with this HTML page (a proxy or gateway answering for
    the host: a login, block or maintenance page)."""
    body: bytes = b""
    """BODY: the request is answered with exactly these bytes (hostile or broken JSON)."""
    headers: tuple[tuple[str, str], ...] = ()
    """BODY: the answer's headers (Content-Length is always the body's length)."""


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

    def next_action(self, route: str, listing: bool = False) -> FaultAction | None:
        """Return the fault for this request to ``route`` (a route template, or ``"signed"``).

        ``listing``: the route answers listing pages (``bad_shape_rate`` applies). The draws of
        the shape and trickle faults happen only when their rate is set, so that switching them
        on changes nothing else for a seed that does not use them.
        """
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
            if listing and f.bad_shape_rate > 0 and self.rng.random() < f.bad_shape_rate:
                return FaultAction(SHAPE, shape=f.bad_shape or "empty_object")
            if f.trickle_rate > 0 and self.rng.random() < f.trickle_rate:
                return FaultAction(
                    TRICKLE,
                    trickle_bytes=max(1, f.trickle_bytes),
                    trickle_interval=max(0.0, f.trickle_interval_ms) / 1000.0,
                )
        return None


def reshape(resp: Response, shape: str) -> Response:
    """Return a listing page broken as ``shape`` (non-JSON or error answers are left alone)."""
    if shape not in BAD_SHAPES:
        raise ValueError(f"unknown listing shape {shape!r}: one of {', '.join(BAD_SHAPES)}")
    if resp.status != 200 or resp.chunks is not None:
        return resp
    try:
        body = json.loads(resp.body)
    except ValueError:
        return resp
    if not isinstance(body, dict):
        return resp
    if shape == "empty_object":
        body = {}
    elif shape == "null_data":
        body["data"] = None
    elif shape == "no_data":
        body.pop("data", None)
    elif shape == "data_not_list":
        body["data"] = {"items": body.get("data")}
    else:
        body.pop(shape.removeprefix("no_"), None)
    resp.body = json.dumps(body, separators=(",", ":")).encode()
    return resp
