"""Parts shared by every generated event: envelope, actor, request metadata, timestamp."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from .clock import iso_s, iso_us
from .config import SimulatorConfig
from .model import User
from .rand import Rngs, rand_uuid
from .vocab import PLACES

_SURROGATES = re.compile("[\ud800-\udfff]")


def dumps(obj: Any) -> bytes:
    r"""Serialise an event as one compact JSONL line (UTF-8, without newline).

    Non-ASCII text is written as itself; a lone surrogate, which UTF-8 cannot hold, as its
    JSON escape (``\ud83d``).
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():
        text = _SURROGATES.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
    return text.encode("utf-8")


def user_actor(u: User) -> dict[str, Any]:
    """``actor`` of an event caused by a member."""
    return {"type": "ACCOUNT_USER", "user_id": u.id, "user_email": u.email}


class EventShapes:
    """Builds the common parts of the events of one workspace.

    The realism quirks (``whole_second_timestamps``, ``string_ip_details``) draw from the
    workspace's realism generator, whether or not they are on.
    """

    def __init__(self, cfg: SimulatorConfig, workspace_id: str, rngs: Rngs) -> None:
        self.quirks = cfg.quirks
        self.workspace_id = workspace_id
        self.brng = rngs.background
        self.rrng = rngs.realism

    def timestamp(self, ts: int) -> str:
        """Event ``timestamp``: microseconds, or sometimes whole seconds (published samples)."""
        quirks = self.quirks
        whole = self.rrng.random() < quirks.whole_second_rate
        return iso_s(ts) if quirks.whole_second_timestamps and whole else iso_us(ts)

    def envelope(
        self, etype: str, ts: int, actor: dict[str, Any], rng: random.Random | None = None
    ) -> dict[str, Any]:
        """``event_id, type, timestamp, principal, actor`` of a workspace event."""
        return {
            "event_id": rand_uuid(rng or self.brng),
            "type": etype,
            "timestamp": self.timestamp(ts),
            "principal": {"id": self.workspace_id, "type": "CHATGPT_WORKSPACE"},
            "actor": actor,
        }

    def request_metadata(self, rng: random.Random | None = None) -> dict[str, Any]:
        """``request_metadata`` (client IP, its details, user agent, TLS fingerprints)."""
        r = rng or self.brng
        details: dict[str, Any]
        if self.quirks.string_ip_details:
            country, city, region, code, asn, lat, lon = self.rrng.choice(PLACES)
            blank = self.rrng.random() < 0.2
            details = {
                "country": country,
                "city": city,
                "region": region,
                "region_code": code,
                "asn": "" if blank else asn,
                "latitude": "" if blank else lat,
                "longitude": "" if blank else lon,
            }
        else:
            details = {
                "country": "DE",
                "city": "Berlin",
                "region": "Berlin",
                "region_code": "BE",
                "asn": 3320,
                "latitude": 52.52,
                "longitude": 13.405,
            }
        return {
            "client_ip": f"203.0.113.{r.randint(1, 254)}",
            "client_ip_details": details,
            "client_user_agent": r.choice(["Mozilla/5.0 (Macintosh)", "ChatGPT/1.2025 (iOS)"]),
            "client_ja3": f"{r.getrandbits(128):032x}",
            "client_ja4": f"t13d1516h2_{r.getrandbits(48):012x}",
            "destination_hostname": "chatgpt.com",
        }
