"""Turn Compliance Logs Platform events into stream records."""

from __future__ import annotations

import json
import typing as t
from datetime import datetime, timezone

from tap_chatgpt_compliance.attachments.archive import AttachmentRef
from tap_chatgpt_compliance.logfiles.listed import listed_file_size
from tap_chatgpt_compliance.logfiles.logfile import EventTimes, event_times
from tap_chatgpt_compliance.run.sync import ConversationSeen
from tap_chatgpt_compliance.settings import event_scope
from tap_chatgpt_compliance.timeparse import to_iso

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from tap_chatgpt_compliance.logfiles.logfile import LogFile
    from tap_chatgpt_compliance.run.store import SpillMap

Event = dict[str, t.Any]

ARCHIVED = "archived"
UNAVAILABLE = "unavailable"
"""A log file refused for good, acknowledged in ``unavailable_log_file_ids``."""
EXPIRED = "expired"
"""A log file refused until it left the listing (its retention ended)."""

_EMPTY: dict[str, t.Any] = {}
"""Stands for a missing or malformed object (never modified)."""
_CONTENT_FRAME = frozenset({"object", "type", "value", "annotations"})
"""Keys of a content object that carry no content of their own."""


def _dict(value: t.Any) -> dict[str, t.Any]:
    return value if isinstance(value, dict) else {}


def file_items(message: dict[str, t.Any]) -> list[t.Any]:
    """Return the items naming the files of a message: ``files``, then its content's.

    Reference §6 #13: file ids come from ``message.files[].id`` "(or annotations
    files[].id)"; PSOXY also shows ``content.file_id`` (§2.9). A file named only by the content
    is an upload all the same (~24 h before it expires), so it is downloaded like the others.
    Items are objects with an ``id``, or bare ids.
    """
    files = message.get("files")
    if isinstance(files, dict):  # Gen-1 style list object
        files = files.get("data")
    items = list(files) if isinstance(files, list) else []
    content = message.get("content")
    if type(content) is dict:
        notes = content.get("annotations")
        for note in notes if type(notes) is list else ():
            named = note.get("files") if type(note) is dict else None
            items += named if type(named) is list else ()
        if content.get("file_id"):
            items.append({"id": content["file_id"]})
    return items


def attachment_ids(message: dict[str, t.Any], *, content_named: bool = True) -> list[str]:
    """Return the ids of the files attached to a message, in order, without repeats.

    ``content_named=False``: only those of ``message.files`` (what taps before 2026-12 stored
    in ``attachment_ids``; evidence/verify.py accepts both).
    """
    ids: list[str] = []
    if content_named:
        items = file_items(message)
    else:
        files = message.get("files") if "files" in message else None
        files = files.get("data") if isinstance(files, dict) else files
        items = list(files) if isinstance(files, list) else []
    for item in items:
        file_id = item.get("id") if isinstance(item, dict) else item
        if isinstance(file_id, str) and file_id and file_id not in ids:
            ids.append(file_id)
    return ids


def _object(value: t.Any) -> dict[str, t.Any]:
    """Return ``value`` when it is an object, else an empty one (never to be modified)."""
    return value if type(value) is dict else _EMPTY


def _text_or_none(value: t.Any) -> str | None:
    """Return ``value`` when it is a non-empty string, else None."""
    return value if type(value) is str and value else None


def _content(message: dict[str, t.Any]) -> tuple[dict[str, t.Any], str | None, t.Any]:
    """Return a message's content object (empty when it has none), its text, its JSON value.

    The JSON value is ``content.value`` when that is an object; the whole content object when
    its value is an array, number or boolean, or it has other fields but no value; a bare
    non-text content is wrapped as ``{"value": …}``.
    """
    content = message.get("content")
    if type(content) is dict:
        value = content.get("value")
        if type(value) is str:
            return content, value, None
        if type(value) is dict:
            return content, None, value
        if value is not None or content.keys() - _CONTENT_FRAME:
            return content, None, content
        return content, None, None
    if type(content) is str:
        return _EMPTY, content, None  # a bare text instead of a content object
    return _EMPTY, None, None if content is None else {"value": content}


def message_record(
    event: Event,
    workspace_id: str,
    log_file_id: str,
    event_key: str | None = None,
    times: EventTimes | None = None,
) -> dict[str, t.Any]:
    """Build a ``messages`` record; the original event rides along unchanged.

    ``event_key`` is the key the tap gave the event when it is not its own ``event_id`` (none,
    or shared with a different event): it becomes ``event_id``, flagged ``event_id_derived``.
    The record's ``id`` is ``message.id``, or the event's key when that is missing or empty.
    ``times`` is the event's :func:`event_times` when already computed (Segment.message_times).
    """
    get = event.get
    message = _object(get("message"))
    author = _object(message.get("author"))
    actor = _object(get("actor"))
    content, text, structured = _content(message)
    raw_created = message.get("created_at")
    created_at, source, event_at = times or event_times(event)
    annotations = content.get("annotations")
    event_id = event_key or get("event_id")
    return {
        "id": _text_or_none(message.get("id")) or event_id,
        "workspace_id": workspace_id,
        "conversation_id": _text_or_none(_object(get("conversation")).get("id")),
        "previous_message_id": _text_or_none(get("previous_message_id")),
        "parent_id": _text_or_none(message.get("parent_id")),
        "created_at": created_at,
        "created_at_raw": raw_created
        if raw_created is None or type(raw_created) is str
        else json.dumps(raw_created),
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
        "content_text": text,
        "content_json": structured,
        "content_annotations": annotations if type(annotations) is list else None,
        "attachment_ids": attachment_ids(message),
        "event_id": event_id,
        "event_id_derived": event_key is not None,
        "log_file_id": log_file_id,
        "event": event,
    }


def lacks_message_id(event: Event) -> bool:
    """Return whether a message event has no usable ``message.id`` (absent, empty, not text).

    Its ``messages`` record is then keyed by the event's key (see :func:`message_record`).
    """
    message = event.get("message")
    if type(message) is not dict:
        return True
    message_id = message.get("id")
    return type(message_id) is not str or not message_id


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
        "log_file_id": log_file_id,
    }


_Title = tuple[str, int, t.Any, "str | None"]
"""A title an event gives its conversation: (event timestamp, order in the file, title, event
time)."""


class _Folded:
    """What the events of one conversation in one log file contribute, in a few values.

    The run's view (:class:`~tap_chatgpt_compliance.run.sync.ConversationSeen`) is updated as if the
    events were applied one by one in the order of their timestamps (file order for equal
    ones); only what can still change the result is kept, so memory is per conversation, not
    per event: the first ``created_at``, and the titles no later event makes irrelevant (a
    title is dropped once an event later in that order has an event time at least as recent).
    """

    __slots__ = ("created", "first", "titles")

    def __init__(self, first: tuple[str, int]) -> None:
        self.first = first
        """The conversation's first event in the order (its records come in this order)."""
        self.created: tuple[str, int, str] | None = None
        self.titles: list[_Title] = []

    def add(self, key: tuple[str, int], title: t.Any, event_at: str | None, created: t.Any) -> None:
        if key < self.first:
            self.first = key
        if created is not None and (self.created is None or key < self.created[:2]):
            created_at = to_iso(created)  # only for an event earlier than the one kept
            if created_at is not None:
                self.created = (*key, created_at)
        if not title:
            return
        titles = self.titles
        if event_at is not None and titles:
            for sort_key, order, _, at in titles:
                if at is not None and (sort_key, order) > key and at >= event_at:
                    return  # a later event, at least as recent, decides over this one
            titles[:] = [
                entry
                for entry in titles
                if entry[3] is None or (entry[0], entry[1]) > key or entry[3] > event_at
            ]
        titles.append((*key, title, event_at))

    def apply(self, seen: ConversationSeen) -> None:
        """Update the run's view of the conversation as the events one by one would."""
        if self.created is not None:
            seen.add(None, None, None if seen.created_at else self.created[2])
        for _, _, title, event_at in sorted(self.titles, key=lambda entry: entry[:2]):
            seen.add(title, event_at)


RECORDS_BATCH = 2_000
"""Conversations whose run view is read, updated and written together at the end of a file."""


class ConversationFold:
    """The ``conversations`` records of one log file, folded a segment at a time.

    What each conversation's message events contribute is folded as they come (a few values
    per conversation, whatever the number of events: see :class:`_Folded`), and only the
    latest event of each conversation is kept whole (as :func:`conversation_fields`). The
    records are built with the file's last segment, from the run's view of each conversation
    (``store``): the title of its latest event, its first ``created_at``.
    """

    def __init__(self, log_file_id: str) -> None:
        """Start the fold of one log file."""
        self.log_file_id = log_file_id
        self._count = 0
        self._folded: dict[str, _Folded] = {}
        self._latest: dict[str, tuple[tuple[str, int], tuple[t.Any, ...]]] = {}
        """Conversation id → (order key, :func:`conversation_fields`) of its latest event."""

    def add(self, events: Sequence[Event], times: Sequence[EventTimes] | None = None) -> None:
        """Fold in one segment's message events (``times``: their event_times, same index)."""
        folded = self._folded
        latest = self._latest
        newest: dict[str, tuple[tuple[str, int], dict[str, t.Any], Event]] = {}
        if times is None:
            times = [event_times(event) for event in events]
        for event, (_, _, event_at) in zip(events, times, strict=True):
            conversation = event.get("conversation")
            if type(conversation) is not dict or not conversation.get("id"):
                continue
            conversation_id = str(conversation["id"])
            sort_key = str(event.get("timestamp") or "")
            order = self._count
            self._count += 1
            key = (sort_key, order)
            entry = folded.get(conversation_id)
            if entry is None:
                entry = folded[conversation_id] = _Folded(key)
            entry.add(
                key,
                conversation.get("title"),
                event_at,
                conversation.get("created_at"),
            )
            best = newest.get(conversation_id)
            if best is None or key >= best[0]:
                newest[conversation_id] = (key, conversation, event)
        # Only what the latest event of each conversation says is kept past the segment.
        for conversation_id, (key, conversation, event) in newest.items():
            kept = latest.get(conversation_id)
            if kept is None or key >= kept[0]:
                fields = conversation_fields(conversation, _dict(event.get("actor")))
                latest[conversation_id] = (key, fields)

    def records(
        self, store: SpillMap[str, ConversationSeen], workspace_id: str
    ) -> Iterator[dict[str, t.Any]]:
        """Update the run's view of each conversation, then yield the file's records."""
        folded, latest = self._folded, self._latest
        self._folded, self._latest, self._count = {}, {}, 0
        written = sorted(folded, key=lambda conversation_id: folded[conversation_id].first)
        for start in range(0, len(written), RECORDS_BATCH):  # the run's view, a batch at a time
            batch = written[start : start + RECORDS_BATCH]
            seen_by_id = store.get_many(batch)
            for conversation_id in batch:
                seen = seen_by_id.get(conversation_id)
                if seen is None:
                    seen = seen_by_id[conversation_id] = ConversationSeen()
                folded.pop(conversation_id).apply(seen)
            store.set_many(seen_by_id)
            for conversation_id in batch:
                yield conversation_record(
                    latest.pop(conversation_id)[1],
                    None,
                    seen_by_id[conversation_id],
                    workspace_id,
                    self.log_file_id,
                )


def _as_listed(
    file_id: str,
    meta: dict[str, t.Any],
    event_type: str,
    times: tuple[datetime, str, bool],
    workspace_id: str,
    organization_id: str | None,
) -> dict[str, t.Any]:
    """Return the ``log_files`` columns every record has: the file as listed, where it belongs.

    ``times``: the end_time, where it came from and whether the bookmark was capped.
    """
    end_time, source, capped = times
    scope = event_scope(event_type)
    return {
        "id": file_id,
        "workspace_id": workspace_id,
        "organization_id": organization_id if scope == "organization" else None,
        "scope": scope,
        "event_type": event_type,
        "end_time": end_time,
        "end_time_source": source,
        "bookmark_capped": capped,
        "file_name": meta.get("file_name"),
        "listing_item": meta,
        "file_size": listed_file_size(meta),
        "provider_sha256": meta.get("file_sha256"),
    }


def manifest_record(
    log_file: LogFile,
    end_time: datetime,
    source: str,
    capped: bool,
    workspace_id: str,
    organization_id: str | None,
) -> dict[str, t.Any]:
    """Build a ``log_files`` record: the file as listed, verified and parsed.

    ``end_time`` is the listed one (or where it came from: ``source``); ``capped`` says the
    bookmark did not follow it because it lies in the future.
    """
    lines = log_file.totals
    return {
        **_as_listed(
            log_file.id,
            log_file.meta,
            log_file.event_type,
            (end_time, source, capped),
            workspace_id,
            organization_id,
        ),
        "verified_sha256": log_file.sha256,
        "bytes_downloaded": log_file.size,
        "download_attempts": log_file.attempts,
        "line_count": lines.line_count,
        "event_count": log_file.event_count,
        "duplicates_dropped": lines.duplicates,
        "unparsed_lines": log_file.unparsed_total,
        "blank_lines": lines.blank_lines,
        "events_without_id": lines.without_id,
        "id_clashes": lines.clashes,
        "foreign_events": lines.foreign,
        "processed_at": datetime.now(timezone.utc),
        "download_status": ARCHIVED,
        "download_error": None,
    }


def missing_manifest_record(
    meta: dict[str, t.Any],
    event_type: str,
    end_time: datetime,
    source: str,
    capped: bool,
    status: str,
    error: str,
    workspace_id: str,
    organization_id: str | None,
) -> dict[str, t.Any]:
    """Build the ``log_files`` record of a listed file whose bytes the tap could not get.

    ``status`` is UNAVAILABLE (refused for good, acknowledged by the operator) or EXPIRED
    (refused until it left the listing). Nothing of it was downloaded: ``verified_sha256``,
    ``bytes_downloaded`` and the counts are null, which its chain link proves.
    """
    return {
        **_as_listed(
            str(meta["id"]),
            meta,
            event_type,
            (end_time, source, capped),
            workspace_id,
            organization_id,
        ),
        "verified_sha256": None,
        "bytes_downloaded": None,
        "download_attempts": None,
        "line_count": None,
        "event_count": None,
        "duplicates_dropped": None,
        "unparsed_lines": None,
        "blank_lines": None,
        "events_without_id": None,
        "id_clashes": None,
        "foreign_events": None,
        "processed_at": datetime.now(timezone.utc),
        "download_status": status,
        "download_error": error,
        "raw_content": "none",
        "raw_storage_uri": None,
        "raw_part_count": None,
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


def attachment_refs(
    events: Iterable[dict[str, t.Any]], owners: t.Mapping[str, str] | None = None
) -> Iterable[AttachmentRef]:
    """Yield every file a message of these events references, with the user to ask for it.

    The upload route (reference §2 #9) needs the owner's user id. Taken from the first that
    names one: the file item's own ``user_id`` (ConversationFileInfo, §2.3), the event's
    ``actor.user_id`` (§6 #13), the event's ``conversation.user_id`` (the conversation's owner,
    §2.3), then another event of the same conversation: ``owners`` (conversation id → user) when
    given, else :func:`conversation_users` of ``events``. None when no source names a user (the
    files stream then records it loudly and keeps it for a retry, see FilesStream).
    """
    events = events if isinstance(events, list) else list(events)
    for event in events:
        message = _dict(event.get("message"))
        files = file_items(message)
        if not files:  # most messages attach nothing
            continue
        conversation = _dict(event.get("conversation"))
        event_user = _text_or_none(_dict(event.get("actor")).get("user_id")) or _text_or_none(
            conversation.get("user_id")
        )
        for item in files:  # an object with an id, or a bare id (as attachment_ids reads it)
            named = _object(item)
            file_id = named.get("id") if named else item if type(item) is str else None
            if not file_id:
                continue
            user_id = _text_or_none(named.get("user_id")) or event_user
            if user_id is None and conversation.get("id") is not None:
                if owners is None:
                    owners = conversation_users(events)
                user_id = owners.get(str(conversation["id"]))
            yield AttachmentRef(
                file_id=str(file_id),
                user_id=user_id,
                conversation_id=conversation.get("id"),
                message_id=message.get("id"),
                event_id=event.get("event_id"),
                name=named.get("name"),
                mime_type=named.get("mime_type"),
                event_time=event.get("timestamp"),
            )


def conversation_users(events: Iterable[dict[str, t.Any]]) -> dict[str, str]:
    """Map each conversation id to the user its events name (a user's own message first)."""
    by_author: dict[str, str] = {}
    any_actor: dict[str, str] = {}
    for event in events:
        conversation_id = _dict(event.get("conversation")).get("id")
        user_id = _text_or_none(_dict(event.get("actor")).get("user_id"))
        if conversation_id is None or user_id is None:
            continue
        key = str(conversation_id)
        any_actor.setdefault(key, user_id)
        author = _dict(_dict(event.get("message")).get("author"))
        if (author.get("type") or author.get("role")) == "user":
            by_author.setdefault(key, user_id)
    return {**any_actor, **by_author}


def conversation_user_ids(events: Iterable[dict[str, t.Any]]) -> dict[str, list[str]]:
    """Map each conversation id to every user id its events' actors name, in order."""
    users: dict[str, dict[str, None]] = {}
    for event in events:
        conversation_id = _dict(event.get("conversation")).get("id")
        user_id = _text_or_none(_dict(event.get("actor")).get("user_id"))
        if conversation_id is not None and user_id is not None:
            users.setdefault(str(conversation_id), {})[user_id] = None
    return {key: list(found) for key, found in users.items()}
