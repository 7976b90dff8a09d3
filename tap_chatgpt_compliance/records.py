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
    event: Event, workspace_id: str, log_file_id: str, event_key: str | None = None
) -> dict[str, t.Any]:
    """Build a ``messages`` record; the original event rides along unchanged.

    ``event_key`` is the key the tap gave the event when it is not its own ``event_id`` (none,
    or shared with a different event): it becomes ``event_id``, flagged ``event_id_derived``.
    The record's ``id`` is ``message.id``, or the event's key when that is missing or empty.
    """
    message = _dict(event.get("message"))
    author = _dict(message.get("author"))
    actor = _dict(event.get("actor"))
    content = message.get("content")
    content_dict = _dict(content)
    value = content_dict.get("value")
    created_at, source = message_time(event)
    raw_created = message.get("created_at")
    annotations = content_dict.get("annotations")
    event_id = event_key or event.get("event_id")
    return {
        "id": _str_or_none(message.get("id")) or event_id,
        "workspace_id": workspace_id,
        "conversation_id": _str_or_none(_dict(event.get("conversation")).get("id")),
        "previous_message_id": _str_or_none(event.get("previous_message_id")),
        "parent_id": _str_or_none(message.get("parent_id")),
        "created_at": created_at,
        "created_at_raw": None
        if raw_created is None
        else (raw_created if isinstance(raw_created, str) else json.dumps(raw_created)),
        "created_at_source": source,
        "event_timestamp": to_iso(event.get("timestamp")),
        "author_type": author.get("type") or author.get("role"),
        "author_model": author.get("model"),
        "author_client_type": author.get("client_type"),
        "author_tools_used": author.get("tools_used"),
        "author_skills_used": author.get("skills_used"),
        "actor_type": actor.get("type"),
        "actor_user_id": actor.get("user_id"),
        "actor_email": actor.get("user_email") or actor.get("email"),
        "content_type": content_dict.get("type"),
        "content_text": value if isinstance(value, str) else None,
        "content_json": None if value is None or isinstance(value, str) else json.dumps(value),
        "content_annotations": annotations if isinstance(annotations, list) else None,
        "attachment_ids": attachment_ids(message),
        "event_id": event_id,
        "event_id_derived": event_key is not None,
        "log_file_id": log_file_id,
        "event": event,
    }


def conversation_record(
    conversation: dict[str, t.Any],
    owner: dict[str, t.Any],
    seen: ConversationSeen,
    workspace_id: str,
    log_file_id: str,
) -> dict[str, t.Any]:
    """Build a ``conversations`` record from the latest event and what the run has seen."""
    return {
        "id": conversation.get("id"),
        "workspace_id": workspace_id,
        "title": seen.title if seen.title is not None else conversation.get("title"),
        "title_seen_at": seen.title_at,
        "created_at": to_iso(conversation.get("created_at")) or seen.created_at,
        "owner_user_id": owner.get("user_id"),
        "owner_email": owner.get("user_email") or owner.get("email"),
        "is_pinned": conversation.get("is_pinned"),
        "is_temporary_chat": conversation.get("is_temporary_chat"),
        "gpt_id": conversation.get("gpt_id"),
        "gpt_name": conversation.get("gpt_name"),
        "project_id": conversation.get("project_id"),
        "project_name": conversation.get("project_name"),
        "mode": conversation.get("mode"),
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
