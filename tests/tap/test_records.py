"""Events become records without losing anything (reference §2.9)."""

from __future__ import annotations

import typing as t

import jsonschema
import pytest

from tap_chatgpt_compliance.logfiles.logfile import event_times
from tap_chatgpt_compliance.logfiles.records import (
    ConversationFold,
    attachment_ids,
    lacks_message_id,
    message_record,
)
from tap_chatgpt_compliance.run.sync import ConversationSeen, SyncRun
from tap_chatgpt_compliance.schemas import MESSAGE

EVENT = {
    "event_id": "0c6f9a52-3e1b-4d7a-a8c4-5f2e9b1d7e33",
    "type": "CONVERSATION_MESSAGE",
    "timestamp": "2026-07-15T15:29:05.746561Z",
    "actor": {"type": "ACCOUNT_USER", "user_id": "user-1", "user_email": "a@example.com"},
    "previous_message_id": "",
    "message": {
        "id": "m-1",
        "created_at": "not a time",
        "author": {"role": "tool"},
        "content": {"type": "code", "value": {"rows": [1, 2]}, "annotations": []},
        "files": [{"id": "file-a"}, {"id": "file-a"}, {"id": "file-b"}],
        "something_new": 1,
    },
    "conversation": {"id": "c-1", "title": ""},
}


def test_malformed_created_at_falls_back_to_event_time_and_keeps_raw() -> None:
    record = message_record(EVENT, "ws", "eclf_1")
    assert record["created_at"] == "2026-07-15T15:29:05.746561+00:00"
    assert record["created_at_source"] == "event_timestamp"
    assert record["created_at_raw"] == "not a time"
    assert record["previous_message_id"] is None
    assert record["author_type"] == "tool"
    assert record["content_text"] is None
    assert record["content_json"] == {"rows": [1, 2]}  # structured: a JSON value, not text
    assert record["attachment_ids"] == ["file-a", "file-b"]
    assert record["event"]["message"]["something_new"] == 1


def test_message_time_prefers_message_created_at() -> None:
    event = {**EVENT, "message": {"created_at": "2026-07-15T15:00:00Z"}}
    assert event_times(event)[:2] == ("2026-07-15T15:00:00.000000+00:00", "message")


def test_attachment_ids_accepts_list_objects() -> None:
    assert attachment_ids({"files": {"object": "list", "data": [{"id": "file-x"}]}}) == ["file-x"]
    assert attachment_ids({"files": None}) == []


def test_latest_non_empty_title_wins() -> None:
    seen = ConversationSeen()
    seen.add("", "2026-01-01T00:00:02+00:00")
    seen.add("Quarterly plan", "2026-01-01T00:00:05+00:00")
    seen.add("", "2026-01-01T00:00:06+00:00")
    seen.add("Old name", "2026-01-01T00:00:04+00:00")  # late event
    assert seen.title == "Quarterly plan"
    assert seen.title_at == "2026-01-01T00:00:05+00:00"


@pytest.mark.parametrize(
    ("content", "text", "structured"),
    [
        ({"type": "text", "value": "hello", "annotations": []}, "hello", None),
        ({"type": "code", "value": {"status": "ok", "rows": 3}}, None, {"status": "ok", "rows": 3}),
        ({"type": "text", "value": ["a", 1]}, None, {"type": "text", "value": ["a", 1]}),
        ({"type": "text", "value": 42}, None, {"type": "text", "value": 42}),
        ({"type": "text", "value": False}, None, {"type": "text", "value": False}),
        (
            {"type": "multimodal_text", "parts": [{"asset": "x"}, "caption"]},
            None,
            {"type": "multimodal_text", "parts": [{"asset": "x"}, "caption"]},
        ),
        ("bare text", "bare text", None),
        ([{"part": 1}], None, {"value": [{"part": 1}]}),
        (None, None, None),
        ({"type": "text", "value": None, "annotations": []}, None, None),
    ],
)
def test_every_content_is_kept_as_text_or_structured(
    content: object, text: str | None, structured: object
) -> None:
    """Text goes to content_text, anything else to content_json as a JSON object (jsonb)."""
    event = {**EVENT, "message": {**t.cast("dict", EVENT["message"]), "content": content}}
    record = message_record(event, "ws", "eclf_1")
    assert record["content_text"] == text
    assert record["content_json"] == structured
    assert type(record["content_json"]) is type(structured)
    if structured is not None:
        validator = jsonschema.Draft7Validator(MESSAGE["properties"]["content_json"])
        validator.validate(record["content_json"])


def _message_event(timestamp: str, title: str, actor: str = "user-1") -> dict[str, t.Any]:
    return {
        "timestamp": timestamp,
        "actor": {"user_id": actor},
        "conversation": {"id": "c-1", "title": title, "created_at": "2026-01-01T00:00:00Z"},
        "message": {"id": f"m-{timestamp}"},
    }


def test_conversation_fold_spans_segments_and_the_run() -> None:
    """One record per conversation and file; the latest event's title and owner win."""
    run = SyncRun()
    try:
        fold = ConversationFold("eclf_1")
        fold.add(
            [
                _message_event("2026-01-01T00:00:05Z", "New name"),
                _message_event("2026-01-01T00:00:01Z", "Old name", actor="user-0"),
            ]
        )
        fold.add([_message_event("2026-01-01T00:00:03Z", "", actor="user-2")])  # next segment
        (record,) = fold.records(run.conversations, "ws")
        assert record["title"] == "New name"
        assert record["title_seen_at"] == "2026-01-01T00:00:05.000000+00:00"
        assert record["owner_user_id"] == "user-1"
        assert record["created_at"] == "2026-01-01T00:00:00.000000+00:00"
        assert record["log_file_id"] == "eclf_1"
        assert not {"message_count_seen", "first_message_seen_at"} & set(record)
        # A later file with a late event: the run's view keeps the newer title.
        late = ConversationFold("eclf_2")
        late.add([_message_event("2026-01-01T00:00:04Z", "Late name")])
        (again,) = late.records(run.conversations, "ws")
        assert (again["title"], again["log_file_id"]) == ("New name", "eclf_2")
    finally:
        run.close()


def test_lacks_message_id() -> None:
    assert lacks_message_id({"message": {"id": ""}})
    assert lacks_message_id({"message": {"id": 7}})
    assert lacks_message_id({"message": None})
    assert not lacks_message_id({"message": {"id": "m-1"}})


OUT_OF_RANGE = ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00")
"""Zoned times whose UTC instant leaves the years 1-9999: `astimezone` raised OverflowError."""


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_a_time_outside_the_calendar_in_utc_is_a_malformed_time_not_a_crash(when: str) -> None:
    """Such a time in `message.created_at`, `timestamp` or `conversation.created_at` raised
    OverflowError out of `message_record` and the fold (the tap, verify and export build
    their rows with them). It is a malformed time now: kept raw, never a crash."""
    from tap_chatgpt_compliance.logfiles.chain import canonical_time
    from tap_chatgpt_compliance.timeparse import to_datetime, to_iso

    assert to_datetime(when) is None
    assert to_iso(when) is None
    assert canonical_time(when) == when  # kept as written
    assert to_iso("2026-07-15T10:29:05-05:00") == "2026-07-15T15:29:05.000000+00:00"
    event = {
        **EVENT,
        "message": {**EVENT["message"], "created_at": when},
        "conversation": {"id": "c-1", "title": "T", "created_at": when},
    }
    record = message_record(event, "ws", "eclf_1")
    assert record["created_at"] == "2026-07-15T15:29:05.746561+00:00"  # the event's time
    assert (record["created_at_source"], record["created_at_raw"]) == ("event_timestamp", when)
    both = {**event, "timestamp": when}
    record = message_record(both, "ws", "eclf_1")
    assert record["created_at"] is None
    assert record["created_at_raw"] == when
    run = SyncRun()
    try:
        fold = ConversationFold("eclf_1")
        fold.add([event, both])
        (conversation,) = fold.records(run.conversations, "ws")
        assert conversation["created_at"] is None
        assert conversation["title"] == "T"
    finally:
        run.close()
