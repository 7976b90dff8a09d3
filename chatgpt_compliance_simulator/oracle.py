"""The ground-truth oracle: what a perfect archiver could have collected from a workspace.

It reads only what the workspace published (the bytes of its log files, optionally the
lines still pending) and its world model; see docs/simulator.md for the output.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .clock import HOUR_US, iso_us, parse_iso
from .config import GENERATED_WORKSPACE_TYPES
from .generator import Workspace
from .logfiles import Stream
from .model import GPT_FILE, PROJECT_FILE, USER_FILE
from .world import World


def _finite(text: str) -> float:
    """Return a JSON number's float; ValueError beyond a double (an archiver keeps the line)."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(text)
    return value


def _parse_object(line: bytes) -> dict[str, Any] | None:
    """Return the JSON object on ``line``, or None (not valid UTF-8 JSON of an object).

    A number beyond a double (``1e400``) or nesting too deep to parse is not an object either.
    """
    try:
        obj = json.loads(line.decode("utf-8"), parse_float=_finite)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        return None
    if _depth(obj) > MAX_DEPTH:
        return None
    return obj if isinstance(obj, dict) else None


MAX_DEPTH = 128
"""Lines nesting arrays and objects deeper are kept raw by a client (the tap's documented limit:
parsers and writers give up at different depths beyond)."""


def _depth(value: Any) -> int:
    """Return how deep arrays and objects nest in a parsed value (a scalar is 0)."""
    depth = 0
    level = [value] if isinstance(value, (dict, list)) else []
    while level:
        depth += 1
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
    return depth


@dataclass
class _Lines:
    """Every line of a set of streams, each in exactly one place."""

    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    without_id: dict[str, dict[bytes, dict[str, Any]]] = field(default_factory=dict)
    foreign: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw_lines: list[dict[str, Any]] = field(default_factory=list)
    distinct: dict[str, dict[bytes, str]] = field(default_factory=dict)
    """event_id -> {line: type}"""


def _scan(streams: list[Stream], published_only: bool) -> _Lines:
    """Sort the lines of the files (and, unless ``published_only``, the pending lines)."""
    out = _Lines()
    for s in streams:
        bucket = out.events.setdefault(s.event_type, {})
        no_id = out.without_id.setdefault(s.event_type, {})
        sources: list[tuple[str | None, bytes]] = [(f.id, f.body) for f in s.files]
        if not published_only:
            sources.extend((None, p[2]) for p in sorted(s.pending))
        for fid, body in sources:
            for n, line in enumerate(body.split(b"\n"), 1):
                if not line:
                    continue
                ev = _parse_object(line)
                if ev is None:
                    out.raw_lines.append(
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
                out.distinct.setdefault(eid, {}).setdefault(line, str(ev.get("type")))
                if s.event_type == "CONVERSATION_MESSAGE" and ev.get("type") != s.event_type:
                    out.foreign.setdefault(eid, ev)
                else:
                    bucket.setdefault(eid, ev)
    for t in GENERATED_WORKSPACE_TYPES:
        out.events.setdefault(t, {})
        out.without_id.setdefault(t, {})
    return out


def _fold_messages(
    lines: _Lines,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Return (messages, messages_without_id, conversations) from the CONVERSATION_MESSAGEs."""
    messages: dict[str, dict[str, Any]] = {}
    messages_without_id: dict[str, dict[str, Any]] = {}
    conversations: dict[str, dict[str, Any]] = {}
    latest: dict[str, int] = {}
    cm_events = list(lines.events["CONVERSATION_MESSAGE"].values())
    cm_events += [
        e
        for e in lines.without_id["CONVERSATION_MESSAGE"].values()
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
            "author_type": m["author"].get("type") or m["author"].get("role"),
            "created_at": created,
            "timestamp": ev["timestamp"],
            "content": m["content"],
            "file_ids": _file_ids(m),
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
    return messages, messages_without_id, conversations


def _file_ids(message: dict[str, Any]) -> list[str]:
    """Return the uploads a message references: ``files``, then those its content names.

    ``content.annotations[].files[].id`` and ``content.file_id``
    (``Oddities.file_refs_in_content_rate``).
    """
    ids = [f["id"] for f in message["files"]]
    content = message.get("content")
    if isinstance(content, dict):
        for note in content.get("annotations") or []:
            if isinstance(note, dict):
                ids += [f["id"] for f in note.get("files") or [] if f["id"] not in ids]
        if content.get("file_id") and content["file_id"] not in ids:
            ids.append(content["file_id"])
    return ids


def _uploads(
    world: World, messages: dict[str, Any], expire_before: int | None
) -> dict[str, dict[str, Any]]:
    """Chat uploads of published messages (``expire_before`` None: nothing expires)."""
    out = {}
    for a in world.attachments_of(USER_FILE):
        if a.message_id not in messages:
            continue
        out[a.id] = {
            "sha256": a.sha256,
            "size": a.size,
            "name": a.name,
            "mime_type": a.mime_type,
            "user_id": a.user_id,
            "conversation_id": a.conversation_id,
            "message_id": a.message_id,
            "uploaded_at": iso_us(a.uploaded_us),
            "expired": expire_before is not None and a.uploaded_us < expire_before,
            "needs_conversation_id": a.needs_conversation_id,
        }
    return out


def _static_files(world: World, kind: str) -> dict[str, dict[str, Any]]:
    return {
        a.id: {"sha256": a.sha256, "size": a.size, "name": a.name}
        for a in world.attachments_of(kind)
    }


def ground_truth(ws: Workspace, now_us: int, published_only: bool = True) -> dict[str, Any]:
    """Return everything in ``ws`` as of ``now_us`` (see docs/simulator.md).

    Only what was published in a log file, unless ``published_only=False``.
    """
    cfg, world, logs = ws.cfg, ws.world, ws.logs
    streams = logs.all_streams()
    lines = _scan(streams, published_only)
    clashes = {
        eid: sorted(by_line.values()) for eid, by_line in lines.distinct.items() if len(by_line) > 1
    }
    messages, messages_without_id, conversations = _fold_messages(lines)
    expire_before = (
        now_us - int(cfg.attachment_retention_hours * HOUR_US)
        if cfg.quirks.expired_attachments
        else None
    )
    return {
        "workspace_id": ws.id,
        "organization_id": ws.org_id,
        "as_of": iso_us(now_us),
        "messages": messages,
        "messages_without_id": messages_without_id,
        "conversations": conversations,
        "attachments": _uploads(world, messages, expire_before),
        "events": lines.events,
        "events_without_id": {t: list(v.values()) for t, v in lines.without_id.items()},
        "foreign_events": lines.foreign,
        "raw_lines": lines.raw_lines,
        "clashes": clashes,
        "oddities": {
            "future_end_time_files": [ws.future_file_id] if ws.future_file_id else [],
            "huge_message_ids": list(ws.huge_message_ids),
        },
        "log_files": {
            s.event_type: [f.metadata() for f in s.visible(now_us, logs.retention_us)]
            for s in streams
        },
        "users": [u.to_json() for u in world.users],
        "gpts": [{"id": g.id, "name": g.name, "owner_id": g.owner.id} for g in world.gpts],
        "projects": [{"id": p.id, "name": p.name, "owner_id": p.owner.id} for p in world.projects],
        "gpt_files": _static_files(world, GPT_FILE),
        "project_files": _static_files(world, PROJECT_FILE),
    }
