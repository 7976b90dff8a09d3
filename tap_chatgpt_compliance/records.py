"""Turn Compliance Logs Platform events into stream records."""

from __future__ import annotations

import json
import typing as t

from tap_chatgpt_compliance.attachments import AttachmentRef
from tap_chatgpt_compliance.timeparse import to_iso

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_chatgpt_compliance.run import ConversationSeen

Event = dict[str, t.Any]


_EMPTY: dict[str, t.Any] = {}
"""Stands for a missing or malformed object (never modified)."""


def _dict(value: t.Any) -> dict[str, t.Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: t.Any) -> str | None:
    return value if isinstance(value, str) and value else None


def message_time(event: Event) -> tuple[str | None, str]:
    """Return the message time and where it came from (the event time stands in if needed)."""
    created = to_iso(_dict(event.get("message")).get("created_at"))
    if created is not None:
        return created, "message"
    return to_iso(event.get("timestamp")), "event_timestamp"


EventTimes = tuple["str | None", str, "str | None"]
"""(message time, where it came from, event time), as ISO 8601."""


def event_times(event: Event, times: dict[int, EventTimes] | None = None) -> EventTimes:
    """Return an event's message time, its source, and the event time (see message_time).

    ``times`` caches them by ``id(event)`` for the streams that read the same segment.
    """
    if times is not None:
        cached = times.get(id(event))
        if cached is not None:
            return cached
    event_at = to_iso(event.get("timestamp"))
    message = event.get("message")
    created_at = to_iso(message.get("created_at")) if type(message) is dict else None
    found: EventTimes = (
        (created_at, "message", event_at)
        if created_at is not None
        else (event_at, "event_timestamp", event_at)
    )
    if times is not None:
        times[id(event)] = found
    return found


def attachment_ids(message: dict[str, t.Any]) -> list[str]:
    """Return the ids of the files attached to a message, in order, without repeats."""
    ids: list[str] = []
    files = message.get("files")
    if isinstance(files, dict):  # Gen-1 style list object
        files = files.get("data")
    for item in files if isinstance(files, list) else []:
        file_id = item.get("id") if isinstance(item, dict) else item
        if isinstance(file_id, str) and file_id and file_id not in ids:
            ids.append(file_id)
    return ids


def message_record(
    event: Event,
    workspace_id: str,
    log_file_id: str,
    event_key: str | None = None,
    times: dict[int, EventTimes] | None = None,
) -> dict[str, t.Any]:
    """Build a ``messages`` record; the original event rides along unchanged.

    ``event_key`` is the key the tap gave the event when it is not its own ``event_id`` (none,
    or shared with a different event): it becomes ``event_id``, flagged ``event_id_derived``.
    The record's ``id`` is ``message.id``, or the event's key when that is missing or empty.
    ``times`` is the cache of :func:`event_times` shared with the conversation fold.
    """
    get = event.get
    message = get("message")
    if type(message) is not dict:
        message = _EMPTY
    mget = message.get
    author = mget("author")
    if type(author) is not dict:
        author = _EMPTY
    actor = get("actor")
    if type(actor) is not dict:
        actor = _EMPTY
    content = mget("content")
    if type(content) is not dict:
        content = _EMPTY
    value = content.get("value")
    raw_created = mget("created_at")
    created_at, source, event_at = event_times(event, times)
    annotations = content.get("annotations")
    event_id = event_key or get("event_id")
    conversation = get("conversation")
    conversation_id = conversation.get("id") if type(conversation) is dict else None
    message_id = mget("id")
    previous_id = get("previous_message_id")
    parent_id = mget("parent_id")
    return {
        "id": message_id if type(message_id) is str and message_id else event_id,
        "workspace_id": workspace_id,
        "conversation_id": conversation_id
        if type(conversation_id) is str and conversation_id
        else None,
        "previous_message_id": previous_id if type(previous_id) is str and previous_id else None,
        "parent_id": parent_id if type(parent_id) is str and parent_id else None,
        "created_at": created_at,
        "created_at_raw": None
        if raw_created is None
        else (raw_created if type(raw_created) is str else json.dumps(raw_created)),
        "created_at_source": source,
        "event_timestamp": event_at,
        "author_type": author.get("type") or author.get("role"),
        "author_model": author.get("model"),
        "author_client_type": author.get("client_type"),
        "author_tools_used": author.get("tools_used"),
        "author_skills_used": author.get("skills_used"),
        "actor_type": actor.get("type"),
        "actor_user_id": actor.get("user_id"),
        "actor_email": actor.get("user_email") or actor.get("email"),
        "content_type": content.get("type"),
        "content_text": value if type(value) is str else None,
        "content_json": None if value is None or type(value) is str else json.dumps(value),
        "content_annotations": annotations if type(annotations) is list else None,
        "attachment_ids": attachment_ids(message) if "files" in message else [],
        "event_id": event_id,
        "event_id_derived": event_key is not None,
        "log_file_id": log_file_id,
        "event": event,
    }


def conversation_fields(
    conversation: dict[str, t.Any], owner: dict[str, t.Any]
) -> tuple[t.Any, ...]:
    """Keep what a ``conversations`` record needs of an event (not the whole event).

    The conversation's id, title, created_at, is_pinned, is_temporary_chat, gpt_id, gpt_name,
    project_id, project_name and mode, then the owner's user id and email.
    """
    get = conversation.get
    return (
        get("id"),
        get("title"),
        get("created_at"),
        get("is_pinned"),
        get("is_temporary_chat"),
        get("gpt_id"),
        get("gpt_name"),
        get("project_id"),
        get("project_name"),
        get("mode"),
        owner.get("user_id"),
        owner.get("user_email") or owner.get("email"),
    )


def conversation_record(
    conversation: dict[str, t.Any] | tuple[t.Any, ...],
    owner: dict[str, t.Any] | None,
    seen: ConversationSeen,
    workspace_id: str,
    log_file_id: str,
) -> dict[str, t.Any]:
    """Build a ``conversations`` record from the latest event and what the run has seen.

    ``conversation`` is the event's ``conversation`` (with ``owner``, its actor), or what
    :func:`conversation_fields` kept of both.
    """
    fields = (
        conversation
        if isinstance(conversation, tuple)
        else conversation_fields(conversation, owner or {})
    )
    cid, title, created_at, pinned, temporary, gpt_id, gpt_name, project_id, project, mode = fields[
        :10
    ]
    return {
        "id": cid,
        "workspace_id": workspace_id,
        "title": seen.title if seen.title is not None else title,
        "title_seen_at": seen.title_at,
        "created_at": to_iso(created_at) or seen.created_at,
        "owner_user_id": fields[10],
        "owner_email": fields[11],
        "is_pinned": pinned,
        "is_temporary_chat": temporary,
        "gpt_id": gpt_id,
        "gpt_name": gpt_name,
        "project_id": project_id,
        "project_name": project,
        "mode": mode,
        "first_message_seen_at": seen.first_message_at,
        "last_message_seen_at": seen.last_message_at,
        "message_count_seen": seen.message_count,
        "log_file_id": log_file_id,
    }


def event_record(
    event: Event,
    workspace_id: str,
    organization_id: str | None,
    log_file_id: str,
    event_type: str,
    event_key: str | None = None,
) -> dict[str, t.Any]:
    """Build an ``events`` record for every event type other than CONVERSATION_MESSAGE.

    ``event_type`` is the event's ``type``, or its file's when it has none; ``event_key`` as in
    :func:`message_record`.
    """
    return {
        "event_id": event_key or event.get("event_id"),
        "event_id_derived": event_key is not None,
        "workspace_id": workspace_id,
        "organization_id": organization_id,
        "type": event_type,
        "timestamp": to_iso(event.get("timestamp")),
        "actor": event.get("actor") if isinstance(event.get("actor"), dict) else None,
        "log_file_id": log_file_id,
        "event": event,
    }


def attachment_refs(events: Iterable[dict[str, t.Any]]) -> Iterable[AttachmentRef]:
    """Yield every file a message of these events references."""
    for event in events:
        message = _dict(event.get("message"))
        files = message.get("files")
        if isinstance(files, dict):
            files = files.get("data")
        if not isinstance(files, list):
            continue
        actor = _dict(event.get("actor"))
        conversation = _dict(event.get("conversation"))
        for item in files:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            yield AttachmentRef(
                file_id=str(item["id"]),
                user_id=actor.get("user_id"),
                conversation_id=conversation.get("id"),
                message_id=message.get("id"),
                event_id=event.get("event_id"),
                name=item.get("name"),
                mime_type=item.get("mime_type"),
                event_time=event.get("timestamp"),
            )
