"""CONVERSATION_MESSAGE activity: when conversations happen, and the event of each message.

Message-level quirks (``tool_content``, ``bad_created_at``, ``empty_previous_message_id``,
``sparse_conversation_fields``) and oddities (``empty_message_id_rate``,
``huge_message_bytes``, ``nul_in_message_text``) are decided here; delivery-level ones in
:mod:`.delivery`.
"""

from __future__ import annotations

from typing import Any

from .clock import DAY_US, US, iso_us
from .config import SimulatorConfig
from .delivery import Delivery
from .events import EventShapes
from .logfiles import Stream
from .model import Conversation
from .rand import Rngs, hash01, rand_count, rand_uuid
from .vocab import CLIENT_TYPES, LONE_SURROGATE, MODELS, SENTENCES, URLS, filler
from .world import World


class ConversationActivity:
    """Generates the conversations of one workspace and the events of their messages."""

    def __init__(
        self,
        cfg: SimulatorConfig,
        rngs: Rngs,
        world: World,
        shapes: EventShapes,
        delivery: Delivery,
        stream: Stream,
    ) -> None:
        self.cfg = cfg
        self.quirks = cfg.quirks
        self.odd = cfg.oddities
        self.rng, self.qrng, self.orng = rngs.main, rngs.quirks, rngs.oddities
        self.world = world
        self.shapes = shapes
        self.delivery = delivery
        self.stream = stream
        self.huge_message_ids: list[str] = []
        """Messages made huge by ``Oddities.huge_message_bytes`` (at most one)."""
        self._huge_left = cfg.oddities.huge_message_bytes > 0
        self._nul_left = cfg.oddities.nul_in_message_text
        self._surrogate_left = cfg.oddities.lone_surrogate_text
        self.seed_tag = f"{cfg.seed}:{world.id}"
        """Salt of the decisions taken by hash (:func:`.rand.hash01`), per workspace."""

    # ------------------------------------------------------------------ schedule
    def initial(self, start_us: int, now_us: int) -> None:
        """Generate ``cfg.conversations`` conversations in ``[start_us, now_us]``."""
        cfg, rng = self.cfg, self.rng
        convs = []
        for _ in range(cfg.conversations):
            n = rng.randint(*cfg.messages_per_conversation)
            gaps = self._gaps(n)
            duration = sum(gaps)
            lo = start_us
            hi = max(lo, now_us - duration)
            t0 = rng.randint(lo, hi)
            convs.append((t0, n, gaps))
        convs.sort(key=lambda c: c[0])
        for t0, n, gaps in convs:
            conv = self.world.new_conversation(t0)
            self._run(conv, t0, gaps[:n], now_us)

    def end_initial(self) -> None:
        """Mark the initial history complete (no huge message is made after it)."""
        self._huge_left = False

    def advance(self, from_us: int, to_us: int) -> None:
        """Generate new conversations and 2-message follow-ups in ``(from_us, to_us]``."""
        cfg, rng = self.cfg, self.rng
        days = (to_us - from_us) / DAY_US
        per_day = cfg.conversations / max(cfg.span_days, 1e-9)
        starts = sorted(
            rng.randint(from_us + 1, to_us) for _ in range(rand_count(rng, per_day * days))
        )
        n_continue = rand_count(rng, 0.5 * per_day * days)
        cont_times = sorted(rng.randint(from_us + 1, to_us) for _ in range(n_continue))
        events = [(t, 0) for t in starts] + [(t, 1) for t in cont_times]
        events.sort()
        convs = self.world.conversations
        for t, kind in events:
            if kind == 0:
                n = rng.randint(*cfg.messages_per_conversation)
                conv = self.world.new_conversation(t)
                self._run(conv, t, self._gaps(n), to_us)
                continue
            pick = None
            for _ in range(5):
                c = convs[rng.randrange(len(convs))] if convs else None
                if c is not None and c.last_us < t and not c.is_temporary:
                    pick = c
                    break
            if pick is None:
                continue
            gaps = [0, rng.randint(2 * US, 60 * US)]
            self._run(pick, t, gaps, to_us, continuing=True)

    def _gaps(self, n: int) -> list[int]:
        """Gaps before each of ``n`` messages (the first is 0)."""
        rng = self.rng
        gaps = [0]
        for i in range(1, n):
            gaps.append(
                rng.randint(20 * US, 1200 * US) if i % 2 == 0 else rng.randint(2 * US, 60 * US)
            )
        return gaps

    def _run(
        self, conv: Conversation, t0: int, gaps: list[int], until_us: int, continuing: bool = False
    ) -> None:
        t = t0
        for i, gap in enumerate(gaps):
            t += gap + self.rng.randint(0, 999_999)
            if t > until_us:
                return
            if continuing:
                role = "user" if i == 0 else "assistant"
            else:
                role = "user" if i % 2 == 0 else "assistant"
                if role == "assistant" and self.rng.random() < 0.15:
                    role = "tool"
            self._emit(conv, role, t)

    # ------------------------------------------------------------------ one message
    def _emit(self, conv: Conversation, role: str, ts: int) -> None:
        """Build, serialise and deliver the event of one message (draw order matters)."""
        rng, q, quirks = self.rng, self.qrng, self.quirks
        msg_id = rand_uuid(rng)
        idx = conv.n_messages
        author = self._author(role)
        text = " ".join(rng.choices(SENTENCES, k=rng.randint(1, 4)))
        content = self._content(role, text)
        empty_id = self.orng.random() < self.odd.empty_message_id_rate
        huge = self._huge_left and role == "user"
        if huge:
            self._huge_left = False
            empty_id = False
            self.huge_message_ids.append(msg_id)
            content = {
                "type": "text",
                "value": filler(self.odd.huge_message_bytes),
                "annotations": [],
            }
        elif self._nul_left and role == "user" and content is not None:
            self._nul_left = False
            half = len(text) // 2
            content = {**content, "value": f"{text[:half]}\u0000{text[half:]}"}
        elif self._surrogate_left and role == "user" and content is not None:
            self._surrogate_left = False
            content = {**content, "value": f"{text}{LONE_SURROGATE}"}
            conv.title += LONE_SURROGATE  # from this message on (titles change)
        files = self._files(conv, role, msg_id, ts)
        if empty_id:  # a message without id carries no uploads (nothing could point at them)
            for entry in files:
                self.world.drop_attachment(entry["id"])
            files = []
        message: dict[str, Any] = {"id": "" if empty_id else msg_id}
        message.update(self._created_at(ts))
        message["parent_id"] = conv.last_message_id
        if hash01(self.seed_tag, "author_role", msg_id) < self.odd.author_role_rate:
            author = {"role": author["type"], **{k: v for k, v in author.items() if k != "type"}}
        message["author"] = author
        if files and content is not None:
            content, files = self._refs_in_content(msg_id, content, files)
        message["content"] = content
        message["files"] = files
        ev: dict[str, Any] = {
            "event_id": rand_uuid(rng),
            "type": "CONVERSATION_MESSAGE",
            "timestamp": self.shapes.timestamp(ts),
            "principal": {"id": self.world.id, "type": "CHATGPT_WORKSPACE"},
            "actor": {
                "type": "ACCOUNT_USER",
                "user_id": conv.user.id,
                "user_email": conv.user.email,
            },
        }
        if self._actorless(conv, msg_id, files, content):
            ev["actor"]["user_id"] = None
        r = q.random()
        if conv.last_message_id is not None:
            ev["previous_message_id"] = conv.last_message_id
        elif quirks.empty_previous_message_id and r < 0.5:
            ev["previous_message_id"] = ""
        ev["message"] = message
        ev["conversation"] = self._conversation(conv, idx)
        line = self.delivery.finish(ev, may_lose_id=not (empty_id or huge))
        self.delivery.remember(ev)
        self.delivery.deliver(self.stream, ts, line)
        self.delivery.maybe_foreign(self.stream, conv.user, ts)
        conv.n_messages += 1
        conv.last_us = ts
        if empty_id:
            return  # later messages point at the last message that has an id
        conv.last_message_id = msg_id
        if role == "user":
            conv.last_user_message_id = msg_id

    def _actorless(self, conv: Conversation, msg_id: str, files: list[Any], content: Any) -> bool:
        """Oddities ``actorless_upload_rate``/``actorless_conversation_rate``: no actor user id.

        Decided by hashes of the message and conversation ids (no generator draw).
        """
        if hash01(self.seed_tag, "actorless_conversation", conv.id) < (
            self.odd.actorless_conversation_rate
        ):
            return True
        has_uploads = bool(files) or (
            isinstance(content, dict)
            and (
                content.get("file_id")
                or any(a.get("type") == "file" for a in content.get("annotations") or [])
            )
        )
        return has_uploads and (
            hash01(self.seed_tag, "actorless_upload", msg_id) < self.odd.actorless_upload_rate
        )

    def _refs_in_content(
        self, msg_id: str, content: dict[str, Any], files: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Oddity ``file_refs_in_content_rate``: the uploads referenced from the content only.

        Decided by a hash of the message id (no generator draw, so nothing else moves).
        """
        r = hash01(self.seed_tag, "file_refs_in_content", msg_id)
        if r >= self.odd.file_refs_in_content_rate:
            return content, files
        if len(files) == 1 and r < self.odd.file_refs_in_content_rate / 2:
            return {**content, "file_id": files[0]["id"]}, []
        note = {"type": "file", "files": [{"id": f["id"]} for f in files]}
        return {**content, "annotations": [*content.get("annotations", []), note]}, []

    def _author(self, role: str) -> dict[str, Any]:
        rng = self.rng
        if role == "user":
            return {
                "type": "user",
                "client_type": rng.choice(CLIENT_TYPES),
                "tools_used": [],
                "skills_used": [],
            }
        if role == "assistant":
            tools = ["browser"] if rng.random() < 0.2 else []
            return {
                "type": "assistant",
                "model": rng.choice(MODELS),
                "tools_used": tools,
                "skills_used": [],
            }
        return {
            "type": "tool",
            "tools_used": [rng.choice(["python", "browser", "dalle"])],
            "skills_used": [],
        }

    def _content(self, role: str, text: str) -> dict[str, Any] | None:
        rng, q, quirks = self.rng, self.qrng, self.quirks
        if role == "tool":
            r = q.random()
            if quirks.tool_content and r < 0.4:
                return None
            if quirks.tool_content and r < 0.7:
                return {
                    "type": "tool_result",
                    "value": {"status": "ok", "rows": q.randint(0, 99), "stdout": text[:40]},
                    "annotations": [],
                }
            if quirks.tool_content:
                return {"type": "text", "value": [text[:30], q.randint(0, 9)], "annotations": []}
            return {"type": "text", "value": text, "annotations": []}
        ctype = "text"
        if role == "assistant":
            r = rng.random()
            ctype = "code" if r < 0.1 else ("multimodal_text" if r < 0.15 else "text")
        annotations = (
            [{"type": "url_citation", "urls": [rng.choice(URLS)]}]
            if role == "assistant" and rng.random() < 0.2
            else []
        )
        return {"type": ctype, "value": text, "annotations": annotations}

    def _files(self, conv: Conversation, role: str, msg_id: str, ts: int) -> list[dict[str, Any]]:
        rng = self.rng
        files: list[dict[str, Any]] = []
        if role == "user" and rng.random() < self.cfg.attachment_rate:
            for _ in range(2 if rng.random() < 0.1 else 1):
                a = self.world.upload(conv, msg_id, ts)
                entry: dict[str, Any] = {
                    "id": a.id,
                    "object": "compliance.workspace.conversation.message.file",
                    "name": a.name,
                    "created_at": a.uploaded_us / US,
                }
                if rng.random() < 0.9:
                    entry["mime_type"] = a.mime_type
                files.append(entry)
        return files

    def _created_at(self, ts: int) -> dict[str, str]:
        """``{"created_at": …}``, or (quirk ``bad_created_at``) malformed or missing."""
        q, quirks = self.qrng, self.quirks
        r = q.random()
        if not (quirks.bad_created_at and r < quirks.bad_created_at_rate):
            return {"created_at": iso_us(ts)}
        variant = q.randrange(4)
        if variant == 1:
            return {"created_at": iso_us(ts).replace("T", " ")[:19]}
        if variant == 2:
            return {"created_at": f"{ts / US:.6f}"}
        if variant == 3:
            return {"created_at": ""}
        return {}

    def _conversation(self, conv: Conversation, idx: int) -> dict[str, Any]:
        gpt, project = conv.gpt, conv.project
        conversation: dict[str, Any] = {
            "id": conv.id,
            "title": "" if idx < conv.untitled_until else conv.title,
            "created_at": iso_us(conv.created_us),
            "is_pinned": conv.is_pinned,
            "is_temporary_chat": conv.is_temporary,
        }
        sparse = self.quirks.sparse_conversation_fields
        if gpt or not sparse:
            conversation["gpt_id"] = gpt.id if gpt else None
            conversation["gpt_name"] = gpt.name if gpt else None
        if project or not sparse:
            conversation["project_id"] = project.id if project else None
            conversation["project_name"] = project.name if project else None
        if conv.mode is not None:
            conversation["mode"] = conv.mode
        return conversation
