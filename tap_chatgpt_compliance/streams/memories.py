"""Memories of the workspace's users (reference §1A #10, §2.5), with their contexts and entries.

The workspace-wide list (``memories``: ascending by user id, ``limit`` at most 200,
``since_timestamp`` an inclusive integer) feeds both streams (each listing once per run):

* ``memories``: each user's whole Memory object as served (contexts and entries), listed without
  a filter and change-detected, keyed by the user id and the SHA-256 of the item, so a target
  keeps every distinct snapshot (a deleted entry leaves the next one);
* ``memory_entries``: one row per entry and ``updated_at`` (a changed entry is a new row).

Incremental: ``since_timestamp`` is the previous refresh's start (API clock) less the overlap,
rounded down to a whole second (the API takes an integer; RAPPDW had to fix sending a float).
The boundary is inclusive, so the overlap is read again: entries whose key (id and
``updated_at``) the previous refresh kept in the state are dropped, as are repeats in a run.
"""

from __future__ import annotations

import math
import typing as t

from tap_chatgpt_compliance.streams.gen1 import shared_listing
from tap_chatgpt_compliance.streams.served import item_key
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
        return shared_listing(
            self.tap,
            f"memories:{stamp}",
            lambda: list(self.iter_list("memories", {"since_timestamp": stamp}, limit=MEMORY_PAGE)),
        )


class MemoriesStream(_MemoryListing):
    """Each user's whole Memory object as served (contexts and their entries): a snapshot.

    Listed without ``since_timestamp`` (a filtered Memory holds only the changed entries, and
    a deleted entry just disappears): change detection emits the users whose memory changed,
    deletions included, so the latest snapshot of a user is their memory at the refresh.
    """

    name = "memories"
    primary_keys: t.ClassVar[list[str]] = ["id", "raw_sha256"]

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """List every user's memory; emit the buckets that changed."""
        rows = (self.row(item) for item in self.memory_items(None))
        yield from self.emit_changed(((str(row.get("id")), row) for row in rows), updates)


class MemoryEntriesStream(_MemoryListing):
    """One row per memory entry and ``updated_at``, with its user and context."""

    name = "memory_entries"
    primary_keys: t.ClassVar[list[str]] = ["id", "updated_at"]
    replication_key = None

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Emit the entries updated at or after the watermark, the overlap deduplicated.

        An entry (or context, or entry list) that is not of the served shape has no time: it is
        kept as served (``raw_item``, item null, keyed by its content) and counted, each refresh.
        """
        since = self.watermark()
        boundary = Boundary(self.stream_state.get("boundary"), since)
        for memory in self.memory_items(since):
            user_id = memory.get("id")
            for context_id, entry in _entries(memory.get("memory_contexts")):
                if not isinstance(entry, dict):
                    yield self.served(entry, user_id=user_id, memory_context_id=context_id)
                    continue
                when = to_datetime(entry.get("updated_at"))
                if not in_window(when, since):
                    continue
                # An entry without an id is keyed by its content, never by "None".
                key = f"{user_id}/{item_key(entry)}/{entry.get('updated_at')}"
                if boundary.fresh(key, when):
                    yield self.row(entry, user_id=user_id, memory_context_id=context_id)
        updates["boundary"] = boundary.keep(self.refresh_start())


def _entries(contexts: t.Any) -> Iterator[tuple[t.Any, t.Any]]:
    """Yield ``(context id, entry)`` of a Memory object's contexts, odd shapes included.

    Contexts that are not a list, a context that is not an object, or ``memory_entries``
    neither a list nor absent (null) are yielded whole as an entry: kept as served, never
    dropped.
    """
    if contexts is not None and not isinstance(contexts, list):
        yield None, contexts
        return
    for memory_context in contexts or ():
        if not isinstance(memory_context, dict):
            yield None, memory_context
            continue
        entries = memory_context.get("memory_entries")
        if entries is None:
            continue
        if not isinstance(entries, list):
            yield memory_context.get("id"), entries
            continue
        for entry in entries:
            yield memory_context.get("id"), entry
