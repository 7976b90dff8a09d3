"""Deterministic generation of workspace data and log events (reference §2.2-2.9).

Everything comes from ``random.Random`` instances seeded by strings derived from the
configured seed, so the same configuration and the same sequence of ``advance`` calls
always produce the same bytes. Quirk decisions draw their random numbers whether or not
the quirk is enabled, so switching a quirk off does not reshuffle the rest of the data.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from typing import Any

from .clock import US, iso_s, iso_us, parse_iso
from .config import (
    GENERATED_WORKSPACE_TYPES,
    ORG_EVENT_TYPES,
    WORKSPACE_EVENT_TYPES,
    SimulatorConfig,
)
from .logfiles import LogFile, Stream
from .model import (
    FILE_KIND_WEIGHTS,
    FILE_KINDS,
    GPT_FILE,
    PROJECT_FILE,
    USER_FILE,
    Attachment,
    Config,
    Container,
    Conversation,
    User,
)

DAY_US = 86400 * US
HOUR_US = 3600 * US
ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits

FIRST = [
    "Dana",
    "Ravi",
    "Mei",
    "Lars",
    "Amara",
    "Jonas",
    "Sofia",
    "Kenji",
    "Leila",
    "Tomás",
    "Nadia",
    "Owen",
    "Priya",
    "Yusuf",
    "Elena",
    "Marco",
    "Ingrid",
    "Kwame",
    "Hana",
    "Luca",
]
LAST = [
    "Ito",
    "Patel",
    "Chen",
    "Berg",
    "Okafor",
    "Weber",
    "Rossi",
    "Tanaka",
    "Haddad",
    "García",
    "Novak",
    "Byrne",
    "Iyer",
    "Demir",
    "Petrova",
    "Silva",
    "Lund",
    "Mensah",
    "Kim",
    "Moretti",
]
TOPICS = [
    "Quarterly vendor summary",
    "Open items",
    "Travel policy question",
    "SQL query review",
    "Draft customer email",
    "Onboarding checklist",
    "Budget variance",
    "Release notes",
    "Contract clause comparison",
    "Python script bug",
    "Meeting recap",
    "Market sizing",
    "Translate product brief",
    "Incident postmortem",
    "Hiring plan",
    "Pricing table",
]
SENTENCES = [
    "Summarise the attached document in five bullet points.",
    "Can you rewrite this paragraph to sound more formal?",
    "Here are the three open items from yesterday's review.",
    "The main risk is the dependency on the upstream vendor.",
    "Let me know if you want a shorter version.",
    "Please check the numbers in the second table again.",
    "Ünïcödé and emoji are fine too: 📎 ✅ — “quoted” text.",
    "The query joins orders to customers on customer_id and filters by region.",
    "I would start with a small pilot before rolling it out to everyone.",
    "Here is a draft you can adapt:\n\n- point one\n- point two",
    "What is our policy on expenses above 500 EUR?",
    'Line one\nLine two with a tab\tand a backslash \\ and "quotes".',
    "The total comes to 12,480 after the discount is applied.",
    "Could you compare the two contract versions and list the differences?",
    "Sure — here is the corrected function with tests.",
    "The meeting is moved to Thursday at 10:00 CET.",
]
MODELS = ["gpt-5-5", "gpt-5-thinking", "gpt-4o", "o3"]
CLIENT_TYPES = ["desktop_web", "macos_app", "ios_app", "android_app", "windows_app", "unknown"]
URLS = ["https://example.org/status", "https://example.com/policy", "https://example.net/docs/api"]
AUDIT_ACTIONS = [
    "USER_ROLE_UPDATED",
    "WORKSPACE_TOGGLE_FEATURE",
    "INVITE_SEND",
    "ROLE_CREATED",
    "GROUP_MEMBER_ADDED",
    "LIST_WORKSPACE_LOG_FILES",
]
AUTH_ACTIONS = [
    "login_success",
    "native_login_success",
    "logout_success",
    "login_failed",
    "token_issued",
    "signup_success",
]
CODEX_EVENTS = [
    "PROMPT_SENT",
    "PROMPT_RESPONSE_RECEIVED",
    "TOOL_CALL_COMPLETED",
    "TOOL_CALL_FAILED",
    "TOOL_DECISION",
    "APP_MCP_CALL",
]
CODEX_CLIENTS = ["CODEX_CLI", "CODEX_WEB", "CODEX_IDE_VSCODE"]
#: ``client_ip_details`` of published samples: (country, city, region, code, asn, lat, lon).
PLACES = [
    ("DE", "Berlin", "Berlin", "BE", "3320", "52.52000", "13.40500"),
    ("US", "Ashburn", "Virginia", "VA", "14618", "39.04370", "-77.48750"),
    ("GB", "London", "England", "ENG", "5089", "51.50740", "-0.12780"),
    ("JP", "Tokyo", "Tokyo", "13", "2516", "35.68950", "139.69170"),
]
#: Non-object lines written by ``Oddities.non_object_lines`` (in turn).
NON_OBJECT_LINES = [b"not json at all %d", b"[1, 2]", b'"a string"']
#: Bytes that are not valid UTF-8, placed inside a string value (``invalid_utf8_lines``).
INVALID_UTF8 = b"invalid \xff\xfe bytes, latin-1 caf\xe9"
_PLACEHOLDER = "@@INVALID_UTF8@@"
#: ``end_time`` of the file listed in the future (``Oddities.future_end_time``).
FUTURE_END_TIME = "2099-01-01T00:00:00Z"
FUTURE_END_US = parse_iso(FUTURE_END_TIME)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def rand_uuid(rng: random.Random) -> str:
    """Draw a version-4 UUID from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_token(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    """``n`` characters drawn from ``alphabet``."""
    return "".join(rng.choices(alphabet, k=n))


def _filler(n: int) -> str:
    """Deterministic ASCII text of exactly ``n`` bytes."""
    unit = " ".join(x for x in SENTENCES if x.isascii()) + " "
    return (unit * (n // len(unit) + 1))[:n]


def _parse_object(line: bytes) -> dict[str, Any] | None:
    """Return the JSON object on ``line``, or None (not valid UTF-8 JSON of an object)."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        return None
    return obj if isinstance(obj, dict) else None


def _count(rng: random.Random, expected: float) -> int:
    base = int(expected)
    return base + (1 if rng.random() < expected - base else 0)


class Workspace:
    """One Enterprise workspace (and its organization) with all its generated data."""

    def __init__(self, cfg: SimulatorConfig, index: int, compliance_enabled: bool = True) -> None:
        self.cfg = cfg
        self.index = index
        self.compliance_enabled = compliance_enabled
        tag = f"{cfg.seed}:ws:{index}"
        self.rng = random.Random(tag)
        self.qrng = random.Random(tag + ":quirks")
        self.brng = random.Random(tag + ":background")
        # oddities, realism and extra types draw from their own generators, so switching
        # them does not reshuffle the conversations or the background streams
        self.orng = random.Random(tag + ":oddities")
        self.rrng = random.Random(tag + ":realism")
        self.xrng = random.Random(tag + ":extra")
        self.odd = cfg.oddities
        self.future_file_id: str | None = None
        self.huge_message_ids: list[str] = []
        self._huge_left = cfg.oddities.huge_message_bytes > 0
        self._clash_pool: list[str] = []
        self._clash_used: set[str] = set()
        self.id = rand_uuid(self.rng)
        self.org_id = "org-" + rand_token(self.rng, 24, LOWER_ALNUM)
        self.window_us = cfg.log_window_minutes * 60 * US
        self.users: list[User] = []
        self.gpts: list[Container] = []
        self.projects: list[Container] = []
        self.conversations: list[Conversation] = []
        self.attachments: dict[str, Attachment] = {}
        q = cfg.quirks
        rate = q.no_trailing_newline_rate if q.no_trailing_newline else 0.0
        names = q.offset_file_name_rate if q.offset_file_names else 0.0
        self.extra_types = tuple(
            t for t in dict.fromkeys(cfg.oddities.extra_event_types) if t not in ORG_EVENT_TYPES
        )
        self.streams: dict[str, Stream] = {
            t: Stream(self.id, t, cfg.seed, self.window_us, cfg.max_log_file_bytes, rate, names)
            for t in dict.fromkeys(WORKSPACE_EVENT_TYPES + self.extra_types)
        }
        self.org_streams: dict[str, Stream] = {
            t: Stream(self.org_id, t, cfg.seed, self.window_us, cfg.max_log_file_bytes, rate, names)
            for t in ORG_EVENT_TYPES
        }
        self.files_by_id: dict[str, LogFile] = {}
        self.org_files_by_id: dict[str, LogFile] = {}

    # ------------------------------------------------------------------ population
    def populate(self, now_us: int) -> None:
        """Create users, GPTs, projects and the initial history ``[now - span, now]``."""
        cfg = self.cfg
        span_us = int(cfg.span_days * DAY_US)
        start_us = now_us - span_us
        self._make_users(start_us)
        self._make_containers(start_us)
        if not self.compliance_enabled:
            return
        convs = []
        for _ in range(cfg.conversations):
            n = self.rng.randint(*cfg.messages_per_conversation)
            gaps = self._gaps(n)
            duration = sum(gaps)
            lo = start_us
            hi = max(lo, now_us - duration)
            t0 = self.rng.randint(lo, hi)
            convs.append((t0, n, gaps))
        convs.sort(key=lambda c: c[0])
        for t0, n, gaps in convs:
            conv = self._new_conversation(t0)
            self._run_messages(conv, t0, gaps[:n], now_us)
        self._background(start_us, now_us)
        self._odd_lines()
        self.cut(now_us)
        cm = self.streams["CONVERSATION_MESSAGE"].files
        if self.odd.future_end_time and cm:
            self.future_file_id = cm[-1].id
        self._huge_left = False

    def advance(self, from_us: int, to_us: int) -> None:
        """Generate activity with timestamps in ``(from_us, to_us]`` and cut complete windows."""
        if not self.compliance_enabled or to_us <= from_us:
            return
        cfg = self.cfg
        days = (to_us - from_us) / DAY_US
        per_day = cfg.conversations / max(cfg.span_days, 1e-9)
        starts = sorted(
            self.rng.randint(from_us + 1, to_us) for _ in range(_count(self.rng, per_day * days))
        )
        n_continue = _count(self.rng, 0.5 * per_day * days)
        cont_times = sorted(self.rng.randint(from_us + 1, to_us) for _ in range(n_continue))
        events: list[tuple[int, int, Any]] = []
        for t in starts:
            events.append((t, 0, None))
        for t in cont_times:
            events.append((t, 1, None))
        events.sort(key=lambda e: (e[0], e[1]))
        for t, kind, _ in events:
            if kind == 0:
                n = self.rng.randint(*cfg.messages_per_conversation)
                conv = self._new_conversation(t)
                self._run_messages(conv, t, self._gaps(n), to_us)
            else:
                convs = self.conversations
                pick = None
                for _ in range(5):
                    c = convs[self.rng.randrange(len(convs))] if convs else None
                    if c is not None and c.last_us < t and not c.is_temporary:
                        pick = c
                        break
                if pick is None:
                    continue
                conv = pick
                gaps = [0, self.rng.randint(2 * US, 60 * US)]
                self._run_messages(conv, t, gaps, to_us, continuing=True)
        self._background(from_us, to_us)
        self.cut(to_us)

    def cut(self, now_us: int) -> list[LogFile]:
        """Cut files for complete windows in every stream."""
        new: list[LogFile] = []
        for s in self.streams.values():
            for f in s.cut(now_us):
                self.files_by_id[f.id] = f
                new.append(f)
        for s in self.org_streams.values():
            for f in s.cut(now_us):
                self.org_files_by_id[f.id] = f
                new.append(f)
        return new

    # ------------------------------------------------------------------ entities
    def _make_users(self, start_us: int) -> None:
        rng = self.rng
        used: set[str] = set()
        for i in range(self.cfg.users):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = f"{first}.{last}".lower().replace("á", "a").replace("í", "i")
            while local in used:
                local += str(rng.randint(0, 9))
            used.add(local)
            role = (
                "account-owner" if i == 0 else ("account-admin" if i % 7 == 1 else "standard-user")
            )
            status = "inactive" if i > 0 and rng.random() < 0.1 else "active"
            self.users.append(
                User(
                    id="user-" + rand_token(rng, 24),
                    email=f"{local}@example.com",
                    name=f"{first} {last}",
                    created_us=start_us - rng.randint(30 * DAY_US, 400 * DAY_US),
                    role=role,
                    status=status,
                )
            )

    def _static_file(self, kind: str, t_us: int) -> Attachment:
        ext, mime, _ = FILE_KINDS[self.rng.choices(range(8), weights=FILE_KIND_WEIGHTS[:8])[0]]
        lo, hi = self.cfg.attachment_size
        a = Attachment(
            id="file-" + rand_token(self.rng, 24),
            name=f"{rand_token(self.rng, 6, string.ascii_lowercase)}.{ext}",
            mime_type=mime,
            size=self.rng.randint(lo, hi),
            kind=kind,
            uploaded_us=t_us,
            content_seed=self.rng.getrandbits(64),
        )
        self.attachments[a.id] = a
        return a

    def _make_containers(self, start_us: int) -> None:
        rng = self.rng
        n_gpts = self.cfg.gpts if self.cfg.gpts is not None else max(2, self.cfg.users // 2)
        n_proj = self.cfg.projects if self.cfg.projects is not None else max(2, self.cfg.users // 2)
        for kind, n, out in (("gpt", n_gpts, self.gpts), ("project", n_proj, self.projects)):
            for _ in range(n):
                owner = rng.choice(self.users)
                created = start_us - rng.randint(DAY_US, 200 * DAY_US)
                cid = ("g-" if kind == "gpt" else "g-p-") + rand_token(
                    rng, 9 if kind == "gpt" else 32
                )
                name = rng.choice(TOPICS).split()[0] + (" Helper" if kind == "gpt" else " Project")
                configs = []
                t = created
                for _ in range(rng.randint(1, 3)):
                    t += rng.randint(HOUR_US, 20 * DAY_US)
                    t = min(t, start_us)
                    prefix = "gzm_cnf_" if kind == "gpt" else "pr_cnf_"
                    files = [
                        self._static_file(GPT_FILE if kind == "gpt" else PROJECT_FILE, t)
                        for _ in range(rng.randint(0, 2))
                    ]
                    tools = [
                        {"type": tt, "created_at": t / US}
                        for tt in rng.sample(["code_interpreter", "browser", "dall-e", "memory"], 2)
                    ]
                    configs.append(
                        Config(
                            id=prefix + rand_token(rng, 24, LOWER_ALNUM),
                            name=name,
                            description=f"Helps with {name.lower()} tasks",
                            instructions=rng.choice(SENTENCES),
                            created_us=t,
                            author=rng.choice(self.users),
                            conversation_starters=rng.sample(SENTENCES, 2),
                            categories=[],
                            tools=tools,
                            files=files,
                        )
                    )
                configs.sort(key=lambda c: c.created_us, reverse=True)
                shared = sorted(u.id for u in rng.sample(self.users, min(len(self.users), 2)))
                out.append(
                    Container(
                        id=cid,
                        kind=kind,
                        name=name,
                        owner=owner,
                        created_us=created,
                        visibility=rng.choice(["invite-only", "workspace", "workspace-with-link"]),
                        shared_user_ids=shared,
                        configs=configs,
                    )
                )
        self.gpts.sort(key=lambda g: g.id)
        self.projects.sort(key=lambda p: p.id)

    def _new_conversation(self, t0: int) -> Conversation:
        rng = self.rng
        user = rng.choice(self.users)
        gpt = rng.choice(self.gpts) if self.gpts and rng.random() < 0.2 else None
        project = rng.choice(self.projects) if self.projects and rng.random() < 0.15 else None
        untitled = self.qrng.random() < 0.5
        conv = Conversation(
            id=rand_uuid(rng),
            user=user,
            title=rng.choice(TOPICS),
            created_us=t0,
            gpt=gpt,
            project=project,
            is_pinned=rng.random() < 0.05,
            is_temporary=rng.random() < 0.05,
            mode=rng.choice(["chat", "chat", "work", None]),
            untitled_until=2 if (untitled and self.cfg.quirks.untitled_first) else 0,
        )
        self.conversations.append(conv)
        return conv

    def _gaps(self, n: int) -> list[int]:
        """Gaps before each of ``n`` messages (the first is 0)."""
        rng = self.rng
        gaps = [0]
        for i in range(1, n):
            gaps.append(
                rng.randint(20 * US, 1200 * US) if i % 2 == 0 else rng.randint(2 * US, 60 * US)
            )
        return gaps

    # ------------------------------------------------------------------ messages
    def _run_messages(
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
            self._emit_message(conv, role, t)

    def _emit_message(self, conv: Conversation, role: str, ts: int) -> None:
        rng, q, quirks = self.rng, self.qrng, self.cfg.quirks
        msg_id = rand_uuid(rng)
        idx = conv.n_messages
        author: dict[str, Any]
        if role == "user":
            author = {
                "type": "user",
                "client_type": rng.choice(CLIENT_TYPES),
                "tools_used": [],
                "skills_used": [],
            }
        elif role == "assistant":
            tools = ["browser"] if rng.random() < 0.2 else []
            author = {
                "type": "assistant",
                "model": rng.choice(MODELS),
                "tools_used": tools,
                "skills_used": [],
            }
        else:
            author = {
                "type": "tool",
                "tools_used": [rng.choice(["python", "browser", "dalle"])],
                "skills_used": [],
            }
        text = " ".join(rng.choices(SENTENCES, k=rng.randint(1, 4)))
        content: dict[str, Any] | None
        if role == "tool":
            r = q.random()
            if quirks.tool_content and r < 0.4:
                content = None
            elif quirks.tool_content and r < 0.7:
                content = {
                    "type": "tool_result",
                    "value": {"status": "ok", "rows": q.randint(0, 99), "stdout": text[:40]},
                    "annotations": [],
                }
            elif quirks.tool_content:
                content = {
                    "type": "text",
                    "value": [text[:30], q.randint(0, 9)],
                    "annotations": [],
                }
            else:
                content = {"type": "text", "value": text, "annotations": []}
        else:
            ctype = "text"
            if role == "assistant":
                r = rng.random()
                ctype = "code" if r < 0.1 else ("multimodal_text" if r < 0.15 else "text")
            annotations = (
                [{"type": "url_citation", "urls": [rng.choice(URLS)]}]
                if role == "assistant" and rng.random() < 0.2
                else []
            )
            content = {"type": ctype, "value": text, "annotations": annotations}
        odd, o = self.odd, self.orng
        empty_id = o.random() < odd.empty_message_id_rate
        huge = self._huge_left and role == "user"
        if huge:
            self._huge_left = False
            empty_id = False
            self.huge_message_ids.append(msg_id)
            content = {
                "type": "text",
                "value": _filler(odd.huge_message_bytes),
                "annotations": [],
            }
        files: list[dict[str, Any]] = []
        if role == "user" and rng.random() < self.cfg.attachment_rate:
            for _ in range(2 if rng.random() < 0.1 else 1):
                a = self._upload(conv, msg_id, ts)
                entry: dict[str, Any] = {
                    "id": a.id,
                    "object": "compliance.workspace.conversation.message.file",
                    "name": a.name,
                    "created_at": a.uploaded_us / US,
                }
                if rng.random() < 0.9:
                    entry["mime_type"] = a.mime_type
                files.append(entry)
        if empty_id:  # a message without id carries no uploads (nothing could point at them)
            for entry in files:
                del self.attachments[entry["id"]]
            files = []
        created_at: str | None = iso_us(ts)
        r = q.random()
        bad = quirks.bad_created_at and r < quirks.bad_created_at_rate
        message: dict[str, Any] = {"id": "" if empty_id else msg_id}
        if not bad:
            message["created_at"] = created_at
        else:
            variant = q.randrange(4)
            if variant == 1:
                message["created_at"] = iso_us(ts).replace("T", " ")[:19]
            elif variant == 2:
                message["created_at"] = f"{ts / US:.6f}"
            elif variant == 3:
                message["created_at"] = ""
        message["parent_id"] = conv.last_message_id
        message["author"] = author
        message["content"] = content
        message["files"] = files
        gpt, project = conv.gpt, conv.project
        conversation: dict[str, Any] = {
            "id": conv.id,
            "title": "" if idx < conv.untitled_until else conv.title,
            "created_at": iso_us(conv.created_us),
            "is_pinned": conv.is_pinned,
            "is_temporary_chat": conv.is_temporary,
        }
        sparse = quirks.sparse_conversation_fields
        if gpt or not sparse:
            conversation["gpt_id"] = gpt.id if gpt else None
            conversation["gpt_name"] = gpt.name if gpt else None
        if project or not sparse:
            conversation["project_id"] = project.id if project else None
            conversation["project_name"] = project.name if project else None
        if conv.mode is not None:
            conversation["mode"] = conv.mode
        ev: dict[str, Any] = {
            "event_id": rand_uuid(rng),
            "type": "CONVERSATION_MESSAGE",
            "timestamp": self._timestamp(ts),
            "principal": {"id": self.id, "type": "CHATGPT_WORKSPACE"},
            "actor": {
                "type": "ACCOUNT_USER",
                "user_id": conv.user.id,
                "user_email": conv.user.email,
            },
        }
        r = q.random()
        if conv.last_message_id is not None:
            ev["previous_message_id"] = conv.last_message_id
        elif quirks.empty_previous_message_id and r < 0.5:
            ev["previous_message_id"] = ""
        ev["message"] = message
        ev["conversation"] = conversation
        stream = self.streams["CONVERSATION_MESSAGE"]
        line = self._finish(ev, may_lose_id=not (empty_id or huge))
        if ev.get("event_id"):
            self._clash_pool.append(ev["event_id"])
            if len(self._clash_pool) > 4000:
                del self._clash_pool[:2000]
        self._deliver(stream, ts, line)
        if o.random() < odd.foreign_events_rate:
            stream.deliver(ts, ts, _dumps(self._foreign_event(conv, ts)))
        conv.n_messages += 1
        conv.last_us = ts
        if empty_id:
            return  # later messages point at the last message that has an id
        conv.last_message_id = msg_id
        if role == "user":
            conv.last_user_message_id = msg_id

    def _upload(self, conv: Conversation, msg_id: str, ts: int) -> Attachment:
        rng = self.rng
        ext, mime, _ = FILE_KINDS[rng.choices(range(len(FILE_KINDS)), weights=FILE_KIND_WEIGHTS)[0]]
        lo, hi = self.cfg.attachment_size
        # log-uniform sizes: many small files, a few large ones
        size = round(lo * (hi / lo) ** rng.random()) if lo > 0 and hi > lo else rng.randint(lo, hi)
        a = Attachment(
            id="file-" + rand_token(rng, 24),
            name=f"{rand_token(rng, 8, string.ascii_lowercase)}.{ext}",
            mime_type=mime,
            size=max(lo, min(hi, size)),
            kind=USER_FILE,
            uploaded_us=ts - rng.randint(US, 30 * US),
            content_seed=rng.getrandbits(64),
            user_id=conv.user.id,
            conversation_id=conv.id,
            message_id=msg_id,
        )
        self.attachments[a.id] = a
        return a

    def _timestamp(self, ts: int) -> str:
        """Event ``timestamp``: microseconds, or sometimes whole seconds (published samples)."""
        quirks = self.cfg.quirks
        whole = self.rrng.random() < quirks.whole_second_rate
        return iso_s(ts) if quirks.whole_second_timestamps and whole else iso_us(ts)

    def _finish(self, ev: dict[str, Any], may_lose_id: bool = True) -> bytes:
        """Apply ``missing_event_id_rate`` (unless exempt) and serialise the event."""
        r, half = self.orng.random(), self.orng.random()
        if may_lose_id and r < self.odd.missing_event_id_rate:
            if half < 0.5:
                del ev["event_id"]
            else:
                ev["event_id"] = ""
        return _dumps(ev)

    def _clash_id(self) -> str | None:
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

    def _foreign_event(self, conv: Conversation, ts: int) -> dict[str, Any]:
        """Build an AUDIT_LOG-shaped event to write into a CONVERSATION_MESSAGE file."""
        o = self.orng
        ev = self._envelope("AUDIT_LOG", ts, self._user_actor(conv.user), rng=o)
        ev["request_metadata"] = self._request_metadata(o)
        ev.update(
            {
                "action": o.choice(AUDIT_ACTIONS[:-1]),
                "action_result": "SUCCESS",
                "action_privilege": "ADMIN",
                "action_data": {"target_user_id": conv.user.id, "new_role": "standard-user"},
            }
        )
        return ev

    def _odd_lines(self) -> None:
        """Add ``invalid_utf8_lines`` and ``non_object_lines`` to pending CM deliveries."""
        n_bad, n_non = self.odd.invalid_utf8_lines, self.odd.non_object_lines
        stream = self.streams["CONVERSATION_MESSAGE"]
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
                new = _dumps(ev).replace(_PLACEHOLDER.encode(), INVALID_UTF8)
            else:
                j = i - n_bad
                new = NON_OBJECT_LINES[j % 3]
                if b"%d" in new:
                    new = new % (j // 3 + 1)
            stream.deliver(deliver, ts, new)

    def _deliver(self, stream: Stream, ts: int, line: bytes, base_delay: int = 0) -> None:
        q, quirks, w = self.qrng, self.cfg.quirks, self.window_us
        r_late, late_by = q.random(), q.randint(w, 3 * w)
        r_dup, dup_by = q.random(), q.randint(w, 5 * w)
        deliver = ts + base_delay
        if quirks.late_events and r_late < quirks.late_rate:
            deliver += late_by
        stream.deliver(deliver, ts, line)
        if quirks.duplicate_events and r_dup < quirks.duplicate_rate:
            stream.deliver(deliver + dup_by, ts, line)

    # ------------------------------------------------------------------ other event types
    def _envelope(
        self, etype: str, ts: int, actor: dict[str, Any], rng: random.Random | None = None
    ) -> dict[str, Any]:
        return {
            "event_id": rand_uuid(rng or self.brng),
            "type": etype,
            "timestamp": self._timestamp(ts),
            "principal": {"id": self.id, "type": "CHATGPT_WORKSPACE"},
            "actor": actor,
        }

    def _user_actor(self, u: User) -> dict[str, Any]:
        return {"type": "ACCOUNT_USER", "user_id": u.id, "user_email": u.email}

    def _request_metadata(self, rng: random.Random | None = None) -> dict[str, Any]:
        r = rng or self.brng
        details: dict[str, Any]
        if self.cfg.quirks.string_ip_details:
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

    def _times(
        self, rate_per_day: float, from_us: int, to_us: int, rng: random.Random | None = None
    ) -> list[int]:
        r = rng or self.brng
        n = _count(r, rate_per_day * (to_us - from_us) / DAY_US)
        return sorted(r.randint(from_us + 1, to_us) for _ in range(n))

    def _background(self, from_us: int, to_us: int) -> None:
        r = self.brng
        users = self.users
        for ts in self._times(len(users) * 2.0, from_us, to_us):
            u = r.choice(users)
            ev = self._envelope("AUTH_LOG", ts, self._user_actor(u))
            ev["request_metadata"] = self._request_metadata()
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
            clash = self._clash_id()
            if clash:
                ev["event_id"] = clash
            self._deliver(self.streams["AUTH_LOG"], ts, self._finish(ev, not clash))
        for ts in self._times(max(2.0, len(users) * 0.5), from_us, to_us):
            u = r.choice(users)
            action = r.choice(AUDIT_ACTIONS)
            if action == "LIST_WORKSPACE_LOG_FILES":
                actor = {"type": "API_KEY", "redacted_id": "sk-..." + rand_token(r, 4)}
                data: dict[str, Any] = {
                    "limit": "100",
                    "after": iso_us(ts - HOUR_US),
                    "event_type": "AUDIT_LOG",
                }
            else:
                actor = self._user_actor(u)
                data = {"target_user_id": r.choice(users).id, "new_role": "standard-user"}
            ev = self._envelope("AUDIT_LOG", ts, actor)
            ev["request_metadata"] = self._request_metadata()
            ev.update(
                {
                    "action": action,
                    "action_result": r.choices(["SUCCESS", "BLOCKED", "ERROR"], [90, 5, 5])[0],
                    "action_privilege": "ADMIN",
                    "action_data": data,
                }
            )
            clash = self._clash_id()
            if clash:
                ev["event_id"] = clash
            self._deliver(self.streams["AUDIT_LOG"], ts, self._finish(ev, not clash))
        per_day = self.cfg.conversations / max(self.cfg.span_days, 1e-9)
        for ts in self._times(max(1.0, per_day * 0.1), from_us, to_us):
            u = r.choice(users)
            ev = self._envelope("APP_LOG", ts, self._user_actor(u))
            convs = self.conversations
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
            self._deliver(self.streams["APP_LOG"], ts, self._finish(ev))
        for ts in self._times(len(users) * 1.0, from_us, to_us):
            u = r.choice(users)
            ev = self._envelope("CODEX_LOG", ts, self._user_actor(u))
            ev.update(
                {
                    "event_type": r.choice(CODEX_EVENTS),
                    "client_id": r.choice(CODEX_CLIENTS),
                    "workspace_id": self.id,
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
            self._deliver(self.streams["CODEX_LOG"], ts, self._finish(ev))
        self._extra_events(from_us, to_us)
        # COSTS (org-scoped): hourly aggregates, delivered 3-5 h late (reference §3.2)
        first_hour = from_us // HOUR_US + 1
        last_hour = to_us // HOUR_US
        for h in range(first_hour, last_hour + 1):
            hour_start = h * HOUR_US
            for u in users:
                if r.random() >= 0.3:
                    continue
                ts = hour_start
                credits = round(r.uniform(0.5, 40.0), 3)
                ev = {
                    "event_id": rand_uuid(r),
                    "type": "COSTS",
                    "timestamp": iso_us(ts)[:-8] + "Z",
                    "principal": {"id": self.org_id, "type": "OPENAI_ORGANIZATION"},
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
                self._deliver(self.org_streams["COSTS"], ts, self._finish(ev), base_delay=delay)

    def _extra_events(self, from_us: int, to_us: int) -> None:
        """Generate a few events a day of each ``Oddities.extra_event_types``."""
        x = self.xrng
        for etype in self.extra_types:
            kind = etype.rsplit("_", 1)[-1].lower()
            for ts in self._times(max(2.0, len(self.users) * 0.5), from_us, to_us, rng=x):
                u = x.choice(self.users)
                ev = self._envelope(etype, ts, self._user_actor(u), rng=x)
                ev["request_metadata"] = self._request_metadata(x)
                convs = self.conversations
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
                self.streams[etype].deliver(ts, ts, self._finish(ev))

    # ------------------------------------------------------------------ ground truth
    def ground_truth(self, now_us: int, published_only: bool = True) -> dict[str, Any]:
        """Everything that exists (published in a log file, unless ``published_only=False``)."""
        events: dict[str, dict[str, dict[str, Any]]] = {}
        without_id: dict[str, dict[bytes, dict[str, Any]]] = {}
        foreign: dict[str, dict[str, Any]] = {}
        raw_lines: list[dict[str, Any]] = []
        distinct: dict[str, dict[bytes, str]] = {}  # event_id -> {line: type}
        streams = list(self.streams.values()) + list(self.org_streams.values())
        for s in streams:
            bucket = events.setdefault(s.event_type, {})
            no_id = without_id.setdefault(s.event_type, {})
            sources: list[tuple[str | None, bytes]] = [(f.id, f.body) for f in s.files]
            if not published_only:
                sources.extend((None, p[2]) for p in sorted(s.pending))
            for fid, body in sources:
                for n, line in enumerate(body.split(b"\n"), 1):
                    if not line:
                        continue
                    ev = _parse_object(line)
                    if ev is None:
                        raw_lines.append(
                            {
                                "log_file_id": fid,
                                "event_type": s.event_type,
                                "line_number": n if fid is not None else None,
                                "bytes": line,
                            }
                        )
                        continue
                    eid = ev.get("event_id")
                    if not isinstance(eid, str) or not eid:
                        no_id.setdefault(line, ev)
                        continue
                    distinct.setdefault(eid, {}).setdefault(line, str(ev.get("type")))
                    if s.event_type == "CONVERSATION_MESSAGE" and ev.get("type") != s.event_type:
                        foreign.setdefault(eid, ev)
                    else:
                        bucket.setdefault(eid, ev)
        for t in GENERATED_WORKSPACE_TYPES:
            events.setdefault(t, {})
            without_id.setdefault(t, {})
        clashes = {
            eid: sorted(by_line.values()) for eid, by_line in distinct.items() if len(by_line) > 1
        }
        messages: dict[str, dict[str, Any]] = {}
        messages_without_id: dict[str, dict[str, Any]] = {}
        conversations: dict[str, dict[str, Any]] = {}
        latest: dict[str, int] = {}
        cm_events = list(events["CONVERSATION_MESSAGE"].values())
        cm_events += [
            e
            for e in without_id["CONVERSATION_MESSAGE"].values()
            if e.get("type") == "CONVERSATION_MESSAGE"
        ]
        for ev in sorted(cm_events, key=lambda e: parse_iso(e["timestamp"])):
            m, c = ev["message"], ev["conversation"]
            raw = m.get("created_at")
            try:
                created: str | None = iso_us(parse_iso(raw)) if raw else None
            except ValueError:
                created = None
            entry = {
                "conversation_id": c["id"],
                "event_id": ev.get("event_id"),
                "author_type": m["author"]["type"],
                "created_at": created,
                "timestamp": ev["timestamp"],
                "content": m["content"],
                "file_ids": [f["id"] for f in m["files"]],
                "user_id": ev["actor"]["user_id"],
            }
            if m.get("id"):
                messages.setdefault(m["id"], entry)
            else:
                messages_without_id.setdefault(str(ev.get("event_id")), entry)
            conv = conversations.setdefault(
                c["id"],
                {
                    "title": c["title"],
                    "created_at": c["created_at"],
                    "user_id": ev["actor"]["user_id"],
                    "message_ids": [],
                },
            )
            ts = parse_iso(ev["timestamp"])
            if ts >= latest.get(c["id"], ts):
                latest[c["id"]] = ts
                conv["title"] = c["title"]
            if m.get("id") and m["id"] not in conv["message_ids"]:
                conv["message_ids"].append(m["id"])
        retention_h = self.cfg.attachment_retention_hours
        expire_before = now_us - int(retention_h * HOUR_US)
        attachments = {}
        for a in self.attachments.values():
            if a.kind != USER_FILE or a.message_id not in messages:
                continue
            attachments[a.id] = {
                "sha256": a.sha256,
                "size": a.size,
                "name": a.name,
                "mime_type": a.mime_type,
                "user_id": a.user_id,
                "conversation_id": a.conversation_id,
                "message_id": a.message_id,
                "uploaded_at": iso_us(a.uploaded_us),
                "expired": self.cfg.quirks.expired_attachments and a.uploaded_us < expire_before,
                "needs_conversation_id": a.needs_conversation_id,
            }
        retention_us = int(self.cfg.retention_days * DAY_US)
        log_files = {
            s.event_type: [f.metadata() for f in s.visible(now_us, retention_us)] for s in streams
        }
        return {
            "workspace_id": self.id,
            "organization_id": self.org_id,
            "as_of": iso_us(now_us),
            "messages": messages,
            "messages_without_id": messages_without_id,
            "conversations": conversations,
            "attachments": attachments,
            "events": events,
            "events_without_id": {t: list(v.values()) for t, v in without_id.items()},
            "foreign_events": foreign,
            "raw_lines": raw_lines,
            "clashes": clashes,
            "oddities": {
                "future_end_time_files": [self.future_file_id] if self.future_file_id else [],
                "huge_message_ids": list(self.huge_message_ids),
            },
            "log_files": log_files,
            "users": [u.to_json() for u in self.users],
            "gpts": [{"id": g.id, "name": g.name, "owner_id": g.owner.id} for g in self.gpts],
            "projects": [
                {"id": p.id, "name": p.name, "owner_id": p.owner.id} for p in self.projects
            ],
            "gpt_files": {
                a.id: {"sha256": a.sha256, "size": a.size, "name": a.name}
                for a in self.attachments.values()
                if a.kind == GPT_FILE
            },
            "project_files": {
                a.id: {"sha256": a.sha256, "size": a.size, "name": a.name}
                for a in self.attachments.values()
                if a.kind == PROJECT_FILE
            },
        }
