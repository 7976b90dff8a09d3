"""Singer output of the tap: parse lines and whole outputs, read and rewind bookmarks."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

Records = dict[str, list[dict[str, Any]]]


def parse_message(line: str | bytes) -> dict[str, Any] | None:
    """Return one Singer message, or None for a line that is not a JSON object (torn, blank)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def parse_singer(stdout: str) -> tuple[Records, list[dict[str, Any]]]:
    """Split Singer output into records by stream and states, ignoring a torn last line."""
    records: Records = defaultdict(list)
    states: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        message = parse_message(line)
        if message is None:
            continue
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
        elif message["type"] == "STATE":
            states.append(message["value"])
    return records, states


def bookmark(state: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """Return the log_files partition state of one event type (the first by default)."""
    return state["bookmarks"]["log_files"]["partitions"][index]


def rewind_bookmark(state: dict[str, Any], when: datetime) -> dict[str, Any]:
    """Move the first event type's bookmark back to ``when`` (forgetting its boundary files)."""
    partition = bookmark(state)
    partition["replication_key_value"] = when.isoformat()
    partition["boundary_file_ids"] = []
    return state
