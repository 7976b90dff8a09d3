"""Background event streams: AUTH, AUDIT, APP, APP_AUTH, CODEX logs and turns, COSTS, extras."""

from __future__ import annotations

import random
import string
from typing import Any

from .clock import DAY_US, HOUR_US, iso_us
from .config import SimulatorConfig
from .delivery import Delivery
from .events import EventShapes, dumps, user_actor
from .logfiles import LogStore
from .rand import Rngs, rand_count, rand_token, rand_uuid
from .vocab import AUDIT_ACTIONS, AUTH_ACTIONS, CODEX_CLIENTS, CODEX_EVENTS, SENTENCES, TOPICS
from .world import World


class BackgroundActivity:
    """Generates the non-conversation events of one workspace and its organization."""

    def __init__(
        self,
        cfg: SimulatorConfig,
        rngs: Rngs,
        world: World,
        shapes: EventShapes,
        delivery: Delivery,
        logs: LogStore,
    ) -> None:
        self.cfg = cfg
        self.brng = rngs.background
        self.xrng = rngs.extra
        self.trng = rngs.turns
        self.world = world
        self.shapes = shapes
        self.delivery = delivery
        self.logs = logs

    def _times(
        self, rate_per_day: float, from_us: int, to_us: int, rng: random.Random | None = None
    ) -> list[int]:
        r = rng or self.brng
        n = rand_count(r, rate_per_day * (to_us - from_us) / DAY_US)
        return sorted(r.randint(from_us + 1, to_us) for _ in range(n))

    def advance(self, from_us: int, to_us: int) -> None:
        """Generate every background event with a timestamp in ``(from_us, to_us]``."""
        self._auth(from_us, to_us)
        self._audit(from_us, to_us)
        self._app(from_us, to_us)
        self._codex(from_us, to_us)
        self._app_auth(from_us, to_us)
        self._codex_turns(from_us, to_us)
        self._extra(from_us, to_us)
        self._costs(from_us, to_us)

    def _auth(self, from_us: int, to_us: int) -> None:
        r, shapes, users = self.brng, self.shapes, self.world.users
        for ts in self._times(len(users) * 2.0, from_us, to_us):
            u = r.choice(users)
            ev = shapes.envelope("AUTH_LOG", ts, user_actor(u))
            ev["request_metadata"] = shapes.request_metadata()
            action_data = {
                "action": r.choice(AUTH_ACTIONS),
                "role": u.role,
                "auth_provider_name": r.choice(["password", "google", "saml"]),
                "client_id": "app_" + rand_token(r, 16),
                "application_name": "ChatGPT",
                "granted_scopes": ["openid", "email", "profile"],
            }
            if self.cfg.quirks.short_auth_action_data:
                action_data = {"action": action_data["action"], "role": u.role}
            ev["action_data"] = action_data
            self._deliver_maybe_clashing("AUTH_LOG", ts, ev)

    def _audit(self, from_us: int, to_us: int) -> None:
        r, shapes, users = self.brng, self.shapes, self.world.users
        for ts in self._times(max(2.0, len(users) * 0.5), from_us, to_us):
            u = r.choice(users)
            action = r.choice(AUDIT_ACTIONS)
            data: dict[str, Any]
            if action == "LIST_WORKSPACE_LOG_FILES":
                actor = {"type": "API_KEY", "redacted_id": "sk-..." + rand_token(r, 4)}
                data = {"limit": "100", "after": iso_us(ts - HOUR_US), "event_type": "AUDIT_LOG"}
            else:
                actor = user_actor(u)
                data = {"target_user_id": r.choice(users).id, "new_role": "standard-user"}
            ev = shapes.envelope("AUDIT_LOG", ts, actor)
            ev["request_metadata"] = shapes.request_metadata()
            ev.update(
                {
                    "action": action,
                    "action_result": r.choices(["SUCCESS", "BLOCKED", "ERROR"], [90, 5, 5])[0],
                    "action_privilege": "ADMIN",
                    "action_data": data,
                }
            )
            self._deliver_maybe_clashing("AUDIT_LOG", ts, ev)

    def _deliver_maybe_clashing(self, event_type: str, ts: int, ev: dict[str, Any]) -> None:
        """Deliver ``ev``, sometimes under a reused CONVERSATION_MESSAGE event id."""
        d = self.delivery
        clash = d.clash_id()
        if clash:
            ev["event_id"] = clash
        d.deliver(self.logs.streams[event_type], ts, d.finish(ev, not clash))

    def _app(self, from_us: int, to_us: int) -> None:
        r, d, w = self.brng, self.delivery, self.world
        per_day = self.cfg.conversations / max(self.cfg.span_days, 1e-9)
        for ts in self._times(max(1.0, per_day * 0.1), from_us, to_us):
            u = r.choice(w.users)
            ev = self.shapes.envelope("APP_LOG", ts, user_actor(u))
            convs = w.conversations
            ev.update(
                {
                    "app_id": "asdk_app_" + rand_token(r, 12),
                    "app_name": "Jira",
                    "app_type": r.choice(["MCP", "SERVICE"]),
                    "conversation_id": r.choice(convs).id if convs and r.random() < 0.7 else None,
                    "log_type": r.choice(["request", "response"]),
                    "input": {"tool": "search_issues", "query": "status = open"},
                    "output": [{"type": "text", "text": "3 issues found"}],
                }
            )
            d.deliver(self.logs.streams["APP_LOG"], ts, d.finish(ev))

    def _codex(self, from_us: int, to_us: int) -> None:
        r, d, users = self.brng, self.delivery, self.world.users
        for ts in self._times(len(users) * 1.0, from_us, to_us):
            u = r.choice(users)
            ev = self.shapes.envelope("CODEX_LOG", ts, user_actor(u))
            ev.update(
                {
                    "event_type": r.choice(CODEX_EVENTS),
                    "client_id": r.choice(CODEX_CLIENTS),
                    "workspace_id": self.world.id,
                    "event_details": {
                        "detail_type": "prompt",
                        "session_id": rand_uuid(r),
                        "prompt_text": r.choice(SENTENCES),
                        "response_text": r.choice(SENTENCES),
                        "model": "gpt-5-codex",
                        "token_usage": {
                            "input_tokens": r.randint(100, 9000),
                            "output_tokens": r.randint(10, 2000),
                            "cached_input_tokens": r.randint(0, 500),
                            "reasoning_output_tokens": r.randint(0, 800),
                        },
                    },
                }
            )
            d.deliver(self.logs.streams["CODEX_LOG"], ts, d.finish(ev))

    def _own_envelope(self, etype: str, ts: int, actor: dict[str, Any]) -> dict[str, Any]:
        """Return the envelope of an event drawn from ``turns`` only (no other generator moves)."""
        return {
            "event_id": rand_uuid(self.trng),
            "type": etype,
            "timestamp": iso_us(ts),
            "principal": {"id": self.world.id, "type": "CHATGPT_WORKSPACE"},
            "actor": actor,
        }

    def _app_auth(self, from_us: int, to_us: int) -> None:
        """Generate APP_AUTH_LOG events, a few a day.

        Reference §2.9 (ELASTIC): ``app_id`` (nullable), ``link_id``, ``action`` link|unlink.
        """
        r, users = self.trng, self.world.users
        for ts in self._times(max(1.0, len(users) * 0.3), from_us, to_us, rng=r):
            ev = self._own_envelope("APP_AUTH_LOG", ts, user_actor(r.choice(users)))
            ev.update(
                {
                    "app_id": None if r.random() < 0.2 else "asdk_app_" + rand_token(r, 12),
                    "link_id": "link_" + rand_token(r, 20),
                    "action": r.choice(["link", "unlink"]),
                }
            )
            self.logs.streams["APP_AUTH_LOG"].deliver(ts, ts, dumps(ev))

    def _codex_turns(self, from_us: int, to_us: int) -> None:
        """Generate CODEX_TURN events, one a day per member.

        Reference §2.9 (TSCLIENT): ``payload{product_client_id, model, session_id|thread_id,
        token_usage{…}, cost_usd, estimated_cost_usd, credits}``.
        """
        r, users = self.trng, self.world.users
        for ts in self._times(len(users) * 1.0, from_us, to_us, rng=r):
            uncached, cached, output = r.randint(100, 9000), r.randint(0, 500), r.randint(10, 2000)
            cost = round((uncached + cached / 10 + output * 4) / 1_000_000, 6)
            thread = "thread_id" if r.random() < 0.5 else "session_id"
            ev = self._own_envelope("CODEX_TURN", ts, user_actor(r.choice(users)))
            ev["payload"] = {
                "product_client_id": r.choice(CODEX_CLIENTS),
                "model": "gpt-5-codex",
                thread: rand_uuid(r),
                "token_usage": {
                    "uncached_input_tokens": uncached,
                    "cached_input_tokens": cached,
                    "output_tokens": output,
                },
                "cost_usd": cost,
                "estimated_cost_usd": cost,
                "credits": round(cost * 25, 4),
            }
            self.logs.streams["CODEX_TURN"].deliver(ts, ts, dumps(ev))

    def _extra(self, from_us: int, to_us: int) -> None:
        """Generate a few events a day of each ``Oddities.extra_event_types`` (own generator)."""
        x, shapes, w = self.xrng, self.shapes, self.world
        for etype in self.logs.extra_types:
            kind = etype.rsplit("_", 1)[-1].lower()
            for ts in self._times(max(2.0, len(w.users) * 0.5), from_us, to_us, rng=x):
                u = x.choice(w.users)
                ev = shapes.envelope(etype, ts, user_actor(u), rng=x)
                ev["request_metadata"] = shapes.request_metadata(x)
                convs = w.conversations
                ev.update(
                    {
                        "action": f"{kind.upper()}_{x.choice(['CREATED', 'UPDATED', 'EXPORTED'])}",
                        "action_result": "SUCCESS",
                        "action_data": {
                            f"{kind}_id": f"{kind[:3]}_{rand_token(x, 20)}",
                            "title": x.choice(TOPICS),
                            "conversation_id": x.choice(convs).id if convs else None,
                            "file_name": f"{rand_token(x, 8, string.ascii_lowercase)}.{kind[:4]}",
                        },
                    }
                )
                self.logs.streams[etype].deliver(ts, ts, self.delivery.finish(ev))
        for etype in self.logs.extra_org_types:
            self._extra_org(etype, from_us, to_us)

    def _extra_org(self, etype: str, from_us: int, to_us: int) -> None:
        """Generate an organization-scoped extra type (APP_ORGANIZATION_LOG, …): app events.

        The org principal as COSTS has it, the member and the workspace named; drawn from the
        extra generator after the workspace's extras (nothing else moves).
        """
        x, w = self.xrng, self.world
        for ts in self._times(max(2.0, len(w.users) * 0.5), from_us, to_us, rng=x):
            ev = {
                "event_id": rand_uuid(x),
                "type": etype,
                "timestamp": iso_us(ts),
                "principal": {"id": w.org_id, "type": "OPENAI_ORGANIZATION"},
                "actor": user_actor(x.choice(w.users)),
                "workspace_id": w.id,
                "app_id": "asdk_app_" + rand_token(x, 12),
                "app_name": x.choice(["Jira", "GitHub", "Salesforce"]),
                "action": x.choice(["link", "unlink", "request", "response"]),
            }
            self.logs.org_streams[etype].deliver(ts, ts, dumps(ev))

    def _costs(self, from_us: int, to_us: int) -> None:
        """Org COSTS: hourly aggregates per active user, delivered 3-5 h late (§3.2)."""
        r, d, w = self.brng, self.delivery, self.world
        first_hour = from_us // HOUR_US + 1
        last_hour = to_us // HOUR_US
        for h in range(first_hour, last_hour + 1):
            hour_start = h * HOUR_US
            for u in w.users:
                if r.random() >= 0.3:
                    continue
                ts = hour_start
                credits = round(r.uniform(0.5, 40.0), 3)
                ev = {
                    "event_id": rand_uuid(r),
                    "type": "COSTS",
                    "timestamp": iso_us(ts)[:-8] + "Z",
                    "principal": {"id": w.org_id, "type": "OPENAI_ORGANIZATION"},
                    "payload": {
                        "identity": {
                            "user_id": u.id,
                            "email": u.email,
                            "name": u.name,
                            "groups": [],
                            "agent": None,
                        },
                        "billing": [
                            {
                                "sku": r.choice(["chatgpt_messages", "codex_tasks"]),
                                "quantity": {"value": r.randint(1, 60), "unit": "requests"},
                                "cost": {"value": credits, "unit": "CREDITS"},
                                "estimated_cost_usd": round(credits * 0.04, 4),
                            }
                        ],
                        "day": iso_us(ts)[:10],
                        "hour": (ts // HOUR_US) % 24,
                        "product": "chatgpt",
                    },
                }
                delay = r.randint(3 * HOUR_US, 5 * HOUR_US)
                d.deliver(self.logs.org_streams["COSTS"], ts, d.finish(ev), base_delay=delay)
