"""Delivery of event lines into the log streams, with the quirks and oddities of delivery.

Quirks: late and duplicate deliveries. Oddities: events without ``event_id``, event ids
reused across types, foreign events inside CONVERSATION_MESSAGE files, and lines that are
not valid UTF-8 JSON objects. Each decision draws from the quirk or oddity generator
whether or not it is switched on.
"""

from __future__ import annotations

import json
from typing import Any

from .config import SimulatorConfig
from .events import EventShapes, dumps, user_actor
from .logfiles import Stream
from .model import User
from .rand import Rngs, rand_uuid
from .vocab import AUDIT_ACTIONS

#: Non-object lines written by ``Oddities.non_object_lines`` (in turn).
NON_OBJECT_LINES = [b"not json at all %d", b"[1, 2]", b'"a string"']
#: Bytes that are not valid UTF-8, placed inside a string value (``invalid_utf8_lines``).
INVALID_UTF8 = b"invalid \xff\xfe bytes, latin-1 caf\xe9"
_PLACEHOLDER = "@@INVALID_UTF8@@"


class Delivery:
    """Serialises events and queues their lines in the streams of one workspace."""

    def __init__(
        self, cfg: SimulatorConfig, rngs: Rngs, shapes: EventShapes, window_us: int
    ) -> None:
        self.quirks = cfg.quirks
        self.odd = cfg.oddities
        self.qrng = rngs.quirks
        self.orng = rngs.oddities
        self.shapes = shapes
        self.window_us = window_us
        self._clash_pool: list[str] = []
        self._clash_used: set[str] = set()

    def deliver(self, stream: Stream, ts: int, line: bytes, base_delay: int = 0) -> None:
        """Queue ``line`` at ``ts + base_delay``; sometimes late, sometimes again later."""
        q, quirks, w = self.qrng, self.quirks, self.window_us
        r_late, late_by = q.random(), q.randint(w, 3 * w)
        r_dup, dup_by = q.random(), q.randint(w, 5 * w)
        deliver = ts + base_delay
        if quirks.late_events and r_late < quirks.late_rate:
            deliver += late_by
        stream.deliver(deliver, ts, line)
        if quirks.duplicate_events and r_dup < quirks.duplicate_rate:
            stream.deliver(deliver + dup_by, ts, line)

    def finish(self, ev: dict[str, Any], may_lose_id: bool = True) -> bytes:
        """Apply ``missing_event_id_rate`` (unless exempt) and serialise the event."""
        r, half = self.orng.random(), self.orng.random()
        if may_lose_id and r < self.odd.missing_event_id_rate:
            if half < 0.5:
                del ev["event_id"]
            else:
                ev["event_id"] = ""
        return dumps(ev)

    def remember(self, ev: dict[str, Any]) -> None:
        """Offer the id of a finished CONVERSATION_MESSAGE event for later clashes."""
        if ev.get("event_id"):
            self._clash_pool.append(ev["event_id"])
            if len(self._clash_pool) > 4000:
                del self._clash_pool[:2000]

    def clash_id(self) -> str | None:
        """Pick a CONVERSATION_MESSAGE event id to reuse (``event_id_clash_rate``), or None."""
        o = self.orng
        r, pick = o.random(), o.random()
        if r >= self.odd.event_id_clash_rate:
            return None
        pool = [e for e in self._clash_pool[-200:] if e not in self._clash_used]
        if not pool:
            return None
        eid = pool[int(pick * len(pool))]
        self._clash_used.add(eid)
        return eid

    def maybe_foreign(self, stream: Stream, user: User, ts: int) -> None:
        """Sometimes (``foreign_events_rate``) add an AUDIT_LOG-shaped event to ``stream``."""
        o = self.orng
        if o.random() >= self.odd.foreign_events_rate:
            return
        shapes = self.shapes
        ev = shapes.envelope("AUDIT_LOG", ts, user_actor(user), rng=o)
        ev["request_metadata"] = shapes.request_metadata(o)
        ev.update(
            {
                "action": o.choice(AUDIT_ACTIONS[:-1]),
                "action_result": "SUCCESS",
                "action_privilege": "ADMIN",
                "action_data": {"target_user_id": user.id, "new_role": "standard-user"},
            }
        )
        stream.deliver(ts, ts, dumps(ev))

    def odd_lines(self, stream: Stream) -> None:
        """Add ``invalid_utf8_lines`` and ``non_object_lines`` to the pending lines."""
        n_bad, n_non = self.odd.invalid_utf8_lines, self.odd.non_object_lines
        base = [p for p in stream.pending if b'"type":"CONVERSATION_MESSAGE"' in p[2][:400]]
        total = n_bad + n_non
        if not total or not base:
            return
        o = self.orng
        if total <= len(base):
            picks = o.sample(range(len(base)), total)
        else:
            picks = [o.randrange(len(base)) for _ in range(total)]
        for i, idx in enumerate(picks):
            deliver, ts, line = base[idx]
            if i < n_bad:
                ev = json.loads(line)
                ev["event_id"] = rand_uuid(o)
                msg = dict(ev["message"])
                msg.update(
                    id=rand_uuid(o),
                    content={"type": "text", "value": _PLACEHOLDER, "annotations": []},
                    files=[],
                )
                ev["message"] = msg
                new = dumps(ev).replace(_PLACEHOLDER.encode(), INVALID_UTF8)
            else:
                j = i - n_bad
                new = NON_OBJECT_LINES[j % 3]
                if b"%d" in new:
                    new = new % (j // 3 + 1)
            stream.deliver(deliver, ts, new)
