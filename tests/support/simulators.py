"""Simulators for tests: started for a block or a test module, always stopped; a small HTTP
client of the simulator (the simulator's own tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from chatgpt_compliance_simulator import Simulator

#: A fixed simulated start (determinism) and an ``after`` before everything.
START = datetime(2026, 7, 1, 12, 0, 3, tzinfo=timezone.utc)
EPOCH_AFTER = "2020-01-01T00:00:00Z"


def tiny_world(**kw: Any) -> dict[str, Any]:
    """Simulator settings of a tiny workspace (2 users, 2 conversations of 2-3 messages, no
    attachments, no rate limits): the audits' fault tests, fast. ``kw`` overrides any."""
    return {
        "seed": 5,
        "users": 2,
        "conversations": 2,
        "messages_per_conversation": (2, 3),
        "span_days": 0.2,
        "attachment_rate": 0.0,
        "rate_limits": False,
        **kw,
    }


def one_log_file_world(conversations: int, **kw: Any) -> dict[str, Any]:
    """Simulator settings whose messages all land in ONE closed log file, whatever the hour.

    One user, whole-day windows, no size cut; the simulated clock starts one second after
    today's UTC midnight (behind the wall clock: the tap follows the API's Date), so the
    0.9-day history lies in yesterday's window, already closed and listed.
    """
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "seed": 3,
        "users": 1,
        "conversations": conversations,
        "messages_per_conversation": (8, 12),
        "attachment_rate": 0.0,
        "span_days": 0.9,
        "speed": 60.0,
        "log_window_minutes": 60 * 24,
        "max_log_file_bytes": 1 << 40,
        "start": midnight + timedelta(seconds=1),
        **kw,
    }


class Simulators:
    """``make(config_or_kwargs) -> Simulator`` (started); :meth:`stop` stops every one."""

    def __init__(self) -> None:
        self.started: list[Simulator] = []

    def __call__(self, *args: Any, **kw: Any) -> Simulator:
        sim = Simulator(*args, **kw).start()
        self.started.append(sim)
        return sim

    def stop(self) -> None:
        """Stop every simulator started."""
        while self.started:
            self.started.pop().stop()


@contextmanager
def running(*args: Any, **kw: Any) -> Iterator[Simulator]:
    """``with running(config) as sim:`` a started simulator, stopped at the end of the block."""
    sim = Simulator(*args, **kw).start()
    try:
        yield sim
    finally:
        sim.stop()


class Client:
    """A tiny client of the simulator used by the tests (real HTTP on loopback)."""

    def __init__(self, sim: Simulator, key: str | None = None) -> None:
        self.sim = sim
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key or sim.api_key}"

    def ws(self, suffix: str = "", ws: str | None = None) -> str:
        return f"{self.sim.base_url}/compliance/workspaces/{ws or self.sim.workspace_id}{suffix}"

    def org(self, suffix: str = "", org: str | None = None) -> str:
        return (
            f"{self.sim.base_url}/compliance/organizations/"
            f"{org or self.sim.organization_id}{suffix}"
        )

    def get(self, url: str, **kw: Any) -> requests.Response:
        kw.setdefault("allow_redirects", False)
        return self.s.get(url, **kw)

    def list_page(self, event_type: str | list[str] = "CONVERSATION_MESSAGE", **params: Any):
        params.setdefault("after", EPOCH_AFTER)
        return self.get(self.ws("/logs"), params={"event_type": event_type, **params})

    def list_all(
        self, event_type: str = "CONVERSATION_MESSAGE", org: bool = False, limit: int = 100
    ) -> list[dict]:
        """Page with last_end_time until has_more is false; dedupe by id."""
        after = EPOCH_AFTER
        out: dict[str, dict] = {}
        url = self.org("/logs") if org else self.ws("/logs")
        for _ in range(10_000):
            r = self.get(url, params={"event_type": event_type, "after": after, "limit": limit})
            assert r.status_code == 200, r.text
            body = r.json()
            for f in body["data"]:
                out.setdefault(f["id"], f)
            if body["last_end_time"] is not None:
                after = body["last_end_time"]
            if not body["has_more"]:
                break
        return sorted(out.values(), key=lambda f: (f["end_time"], f["id"]))

    def download(self, file_id: str, org: bool = False) -> bytes:
        r = self.get((self.org if org else self.ws)(f"/logs/{file_id}"))
        assert r.status_code == 307, r.text
        got = requests.get(r.headers["Location"], timeout=10)
        assert got.status_code == 200
        return got.content


def events_of(body: bytes) -> list[dict]:
    """Return the events of a downloaded log file (one JSON object a line)."""
    return [json.loads(line) for line in body.split(b"\n") if line.strip()]
