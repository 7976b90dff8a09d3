"""Domain objects of a simulated workspace and their Gen-1 JSON shapes (reference §2.1-2.4)."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .clock import US

#: Kinds of downloadable files.
USER_FILE = "user"
GPT_FILE = "gpt"
PROJECT_FILE = "project"

#: (extension, mime type, magic header) for generated uploads.
FILE_KINDS: list[tuple[str, str, bytes]] = [
    ("pdf", "application/pdf", b"%PDF-1.7\n"),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ("jpg", "image/jpeg", b"\xff\xd8\xff\xe0"),
    ("txt", "text/plain", b""),
    ("csv", "text/csv", b"id,name,amount\n"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04",
    ),
    ("json", "application/json", b""),
    ("mp3", "audio/mpeg", b"ID3\x04"),
    ("m4a", "audio/mp4", b"\x00\x00\x00\x20ftypM4A "),
    ("mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42"),
]
FILE_KIND_WEIGHTS = [20, 15, 10, 12, 10, 8, 8, 5, 4, 2, 6]
#: Upload bytes are generated and served in chunks of this size (a multiple of 4, for base64).
CHUNK = 1 << 20


def is_audio_video(mime_type: str) -> bool:
    """Whether a download of this type needs ``conversation_id`` (reference §1A #9)."""
    return mime_type.startswith(("audio/", "video/"))


@dataclass
class User:
    """A workspace member (reference §2.2)."""

    id: str
    email: str
    name: str
    created_us: int
    role: str
    status: str

    def to_json(self) -> dict[str, Any]:
        """Gen-1 ``compliance.workspace.user``."""
        return {
            "object": "compliance.workspace.user",
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "created_at": self.created_us / US,
            "role": self.role,
            "status": self.status,
        }


@dataclass
class Attachment:
    """A downloadable file: a chat upload, a GPT file or a project file."""

    id: str
    name: str
    mime_type: str
    size: int
    kind: str
    uploaded_us: int
    content_seed: int
    user_id: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    _sha256: str | None = None

    def iter_body(self) -> Iterator[bytes]:
        """Yield the file's bytes in chunks of at most :data:`CHUNK` (deterministic, any size).

        A magic header, then chunk ``k`` of the payload derived from ``(content_seed, k)``
        alone, so no more than one chunk is ever in memory.
        """
        ext = self.name.rsplit(".", 1)[-1]
        header = next((h for e, _, h in FILE_KINDS if e == ext), b"")[: self.size]
        if header:
            yield header
        left = self.size - len(header)
        text = self.mime_type.startswith("text/") or self.mime_type == "application/json"
        k = 0
        while left > 0:
            rnd = random.Random(f"{self.content_seed}:{k}")
            n = min(CHUNK, left)
            yield base64.b64encode(rnd.randbytes(n * 3 // 4 + 3))[:n] if text else rnd.randbytes(n)
            left -= CHUNK
            k += 1

    def body(self) -> bytes:
        """Return the file's bytes at once (small files; large ones: :meth:`iter_body`)."""
        return b"".join(self.iter_body())

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes (computed by streaming, cached)."""
        if self._sha256 is None:
            h = hashlib.sha256()
            for chunk in self.iter_body():
                h.update(chunk)
            self._sha256 = h.hexdigest()
        return self._sha256

    @property
    def needs_conversation_id(self) -> bool:
        """Audio and video uploads need ``conversation_id`` to be downloaded."""
        return self.kind == USER_FILE and is_audio_video(self.mime_type)

    def gen1_file(self, prefix: str, download_url: str | None) -> dict[str, Any]:
        """Gen-1 GPT/project file object (``file_format=url``) or file info (``id``)."""
        if download_url is None:
            return {"object": f"{prefix}.file_info", "id": self.id, "name": self.name}
        return {
            "object": f"{prefix}.file",
            "id": self.id,
            "name": self.name,
            "created_at": self.uploaded_us / US,
            "download_url": download_url,
        }


@dataclass
class Config:
    """A GPT or project configuration version (reference §2.4)."""

    id: str
    name: str
    description: str
    instructions: str
    created_us: int
    author: User
    conversation_starters: list[str]
    categories: list[str]
    tools: list[dict[str, Any]]
    files: list[Attachment] = field(default_factory=list)


@dataclass
class Container:
    """A GPT (``g-…``) or a project (``g-p-…``)."""

    id: str
    kind: str  # "gpt" | "project"
    name: str
    owner: User
    created_us: int
    visibility: str
    shared_user_ids: list[str]
    configs: list[Config]  # newest first (descending by updated time)

    @property
    def prefix(self) -> str:
        """Object-name prefix, e.g. ``compliance.workspace.gpt``."""
        return f"compliance.workspace.{self.kind}"


@dataclass
class Conversation:
    """The running state of one conversation (messages themselves live in events)."""

    id: str
    user: User
    title: str
    created_us: int
    gpt: Container | None
    project: Container | None
    is_pinned: bool
    is_temporary: bool
    mode: str | None
    untitled_until: int  # messages with index < this carry title ""
    n_messages: int = 0
    last_message_id: str | None = None
    last_user_message_id: str | None = None
    last_us: int = 0


def list_object(items: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    """Gen-1 list envelope ``{object, data, has_more, last_id}``."""
    return {
        "object": "list",
        "data": items,
        "has_more": has_more,
        "last_id": items[-1].get("id") if items else None,
    }
