"""Memories of the workspace's users (reference §1A #10, §2.5), with their contexts and entries.

One workspace-wide list (``memories``: ascending by user id, ``limit`` at most 200,
``since_timestamp`` an inclusive integer) is read once per run and shared by both streams:

* ``memories``: each Memory object as served (a user's contexts and entries), keyed by the user
  id and the SHA-256 of the item, so a target keeps every distinct answer;
* ``memory_entries``: one row per entry and ``updated_at`` (a changed entry is a new row).

Incremental: ``since_timestamp`` is the previous refresh's start (API clock) less the overlap,
rounded down to a whole second (the API takes an integer; RAPPDW had to fix sending a float).
The boundary is inclusive, so the overlap is read again: entries whose key (id and
``updated_at``) the previous refresh kept in the state are dropped, as are repeats in a run.
"""

from __future__ import annotations

import math
import typing as t

from tap_chatgpt_compliance.streams.workspace import (
    Boundary,
    WorkspaceObjectStream,
    in_window,
)
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from singer_sdk.helpers.types import Context

MEMORY_PAGE = 200
"""The API's default and largest page (more is a 422)."""


class _MemoryListing(WorkspaceObjectStream):
    """Reads the workspace's memory list since a watermark, once per run and watermark."""

    def memory_items(self, since: datetime | None) -> list[dict[str, t.Any]]:
        """Return the Memory objects changed at or after ``since`` (None: all)."""
        stamp = None if since is None else math.floor(since.timestamp())
        cache = self._cache()
        key = f"memories:{stamp}"
        if key not in cache:
            cache[key] = list(
                self.iter_list("memories", {"since_timestamp": stamp}, limit=MEMORY_PAGE)
            )
        return t.cast("list[dict[str, t.Any]]", cache[key])


class MemoriesStream(_MemoryListing):
    """Each user's Memory object as served (contexts with their entries)."""

    name = "memories"
    primary_keys: t.ClassVar[list[str]] = ["id", "raw_sha256"]

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Emit every Memory object listed since the watermark, once per distinct item."""
        boundary = Boundary(self.stream_state.get("boundary"), self.watermark())
        for item in self.memory_items(self.watermark()):
            row = self.row(item)
            if boundary.fresh(f"{row['id']}/{row['raw_sha256']}", None):
                yield row


class MemoryEntriesStream(_MemoryListing):
    """One row per memory entry and ``updated_at``, with its user and context."""

    name = "memory_entries"
    primary_keys: t.ClassVar[list[str]] = ["id", "updated_at"]
    replication_key = None

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Emit the entries updated at or after the watermark, the overlap deduplicated."""
        since = self.watermark()
        boundary = Boundary(self.stream_state.get("boundary"), since)
        for memory in self.memory_items(since):
            user_id = memory.get("id")
            for memory_context in _list(memory.get("memory_contexts")):
                context_id = memory_context.get("id")
                for entry in _list(memory_context.get("memory_entries")):
                    when = to_datetime(entry.get("updated_at"))
                    if not in_window(when, since):
                        continue
                    key = f"{user_id}/{entry.get('id')}/{entry.get('updated_at')}"
                    if boundary.fresh(key, when):
                        yield self.row(entry, user_id=user_id, memory_context_id=context_id)
        updates["boundary"] = boundary.keep(self.transport.clock.now())


def _list(value: t.Any) -> list[dict[str, t.Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []
