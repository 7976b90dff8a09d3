"""Events become records without losing anything (reference §2.9)."""

from __future__ import annotations

import json

from tap_chatgpt_compliance.records import attachment_ids, message_record, message_time
from tap_chatgpt_compliance.run import ConversationSeen

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
    assert json.loads(record["content_json"]) == {"rows": [1, 2]}
    assert record["attachment_ids"] == ["file-a", "file-b"]
    assert record["event"]["message"]["something_new"] == 1


def test_message_time_prefers_message_created_at() -> None:
    event = {**EVENT, "message": {"created_at": "2026-07-15T15:00:00Z"}}
    assert message_time(event) == ("2026-07-15T15:00:00.000000+00:00", "message")


def test_attachment_ids_accepts_list_objects() -> None:
    assert attachment_ids({"files": {"object": "list", "data": [{"id": "file-x"}]}}) == ["file-x"]
    assert attachment_ids({"files": None}) == []


def test_latest_non_empty_title_wins() -> None:
    seen = ConversationSeen()
    seen.add("", "2026-01-01T00:00:02+00:00", "2026-01-01T00:00:02+00:00")
    seen.add("Quarterly plan", "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:05+00:00")
    seen.add("", "2026-01-01T00:00:03+00:00", "2026-01-01T00:00:06+00:00")
    seen.add("Old name", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:04+00:00")  # late event
    assert seen.title == "Quarterly plan"
    assert seen.title_at == "2026-01-01T00:00:05+00:00"
    assert seen.first_message_at == "2026-01-01T00:00:00+00:00"
    assert seen.last_message_at == "2026-01-01T00:00:03+00:00"
    assert seen.message_count == 4
