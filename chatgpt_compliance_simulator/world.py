"""The world model of one workspace: ids, users, GPTs, projects, conversations and uploads."""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

from .clock import DAY_US, HOUR_US, US
from .config import SimulatorConfig
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
from .rand import LOWER_ALNUM, Rngs, rand_token, rand_uuid
from .vocab import FIRST, LAST, LONE_SURROGATE, SENTENCES, TOPICS


class World:
    """The entities of one workspace and its organization (events live in the log streams)."""

    def __init__(self, cfg: SimulatorConfig, rngs: Rngs) -> None:
        self.cfg = cfg
        self.rng = rngs.main
        self.qrng = rngs.quirks
        self.id = rand_uuid(self.rng)
        self.org_id = "org-" + rand_token(self.rng, 24, LOWER_ALNUM)
        self.users: list[User] = []
        self.gpts: list[Container] = []
        self.projects: list[Container] = []
        self.conversations: list[Conversation] = []
        self.attachments: dict[str, Attachment] = {}

    # ------------------------------------------------------------------ lookups
    def user(self, user_id: str) -> User | None:
        """Return the user with this id, or None."""
        return next((u for u in self.users if u.id == user_id), None)

    def users_by_id(self) -> dict[str, User]:
        """Return every user by id."""
        return {u.id: u for u in self.users}

    def attachment(self, file_id: str, kind: str) -> Attachment | None:
        """Return the downloadable file ``file_id`` of ``kind``, or None."""
        a = self.attachments.get(file_id)
        return a if a is not None and a.kind == kind else None

    def attachments_of(self, kind: str) -> list[Attachment]:
        """Return the files of ``kind`` in creation order."""
        return [a for a in self.attachments.values() if a.kind == kind]

    # ------------------------------------------------------------------ users and containers
    def make_users(self, start_us: int) -> None:
        """Create the members, all created before ``start_us``."""
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
            if i % 13 == 9:  # §2.2: TSCLIENT (2026) also lists analytics-viewer (10+ members)
                role = "analytics-viewer"
            status = "inactive" if i > 0 and rng.random() < 0.1 else "active"
            self.users.append(
                User(
                    id="user-" + rand_token(rng, 24),
                    email=f"{local}@example.com",
                    name=f"{first} {last}"
                    + (LONE_SURROGATE if i == 0 and self.cfg.oddities.lone_surrogate_text else ""),
                    created_us=start_us - rng.randint(30 * DAY_US, 400 * DAY_US),
                    role=role,
                    status=status,
                )
            )

    def make_containers(self, start_us: int) -> None:
        """Create the GPTs and projects with their configuration versions and files."""
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
                    config_id = prefix + rand_token(rng, 24, LOWER_ALNUM)
                    tools += custom_action(self.id, config_id, t / US)
                    configs.append(
                        Config(
                            id=config_id,
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
                drawn = rng.choice(["invite-only", "workspace", "workspace-with-link"])
                out.append(
                    Container(
                        id=cid,
                        kind=kind,
                        name=name,
                        owner=owner,
                        created_us=created,
                        visibility=_visibility(self.id, cid, drawn) if kind == "gpt" else drawn,
                        shared_user_ids=shared,
                        configs=configs,
                    )
                )
        self.gpts.sort(key=lambda g: g.id)
        self.projects.sort(key=lambda p: p.id)

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

    # ------------------------------------------------------------------ conversations
    def new_conversation(self, t0: int) -> Conversation:
        """Start a conversation at ``t0`` (quirk ``untitled_first`` decided here)."""
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

    def upload(self, conv: Conversation, msg_id: str, ts: int) -> Attachment:
        """Create a chat upload of message ``msg_id`` (log-uniform size)."""
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

    def drop_attachment(self, file_id: str) -> None:
        """Forget an upload (its message turned out to have no id)."""
        del self.attachments[file_id]


def custom_action(workspace_id: str, config_id: str, at: float) -> list[dict[str, Any]]:
    """Return a ``custom_action`` tool for about a quarter of configurations (§2.4 tools).

    Decided by a hash of the ids (no generator draw, so nothing else of the world moves).
    """
    if _draw(workspace_id, "custom_action", config_id) >= 0.25:
        return []
    domain = f"api{int(_draw(config_id, 'domain') * 90) + 10}.example.com"
    return [
        {
            "type": "custom_action",
            "created_at": at,
            "action_domain": domain,
            "action_openapi_raw": json.dumps(
                {
                    "openapi": "3.1.0",
                    "info": {"title": "Lookup", "version": "1.0"},
                    "servers": [{"url": f"https://{domain}"}],
                    "paths": {"/lookup": {"get": {"operationId": "lookup"}}},
                },
                separators=(",", ":"),
            ),
            "action_privacy_policy_url": f"https://{domain}/privacy",
            "auth_type": "oauth" if _draw(config_id, "auth") < 0.5 else "none",
        }
    ]


def _visibility(workspace_id: str, gpt_id: str, drawn: str) -> str:
    """Return a GPT's sharing visibility: the drawn value, or a public one (one GPT in seven).

    §2.4's enum also has ``anyone-with-link`` and ``gpt-store``.
    """
    r = _draw(workspace_id, "visibility", gpt_id)
    if r < 1 / 14:
        return "anyone-with-link"
    if r < 1 / 7:
        return "gpt-store"
    return drawn


def _draw(*parts: object) -> float:
    """Return a stable number in [0, 1) from ``parts``.

    SHA-256: ids that differ little give unrelated numbers, which CRC-32 (``hash01``) does not.
    """
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
