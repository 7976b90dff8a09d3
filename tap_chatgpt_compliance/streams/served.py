"""Rows of the workspace-object streams from the items as served, and the ids children ask for.

Every item is kept: one without a string id is keyed by its content (``sha256:<hash of
raw_item>``, workspace_rows.derive_row) and counted; an answer that is not an object is kept
as served in ``raw_item``. A child stream (a transcript, a task's details, a file's bytes)
cannot ask for what such an item holds: the run fails, loudly, and the refresh is not recorded.
"""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance.directory_rows import content_key, has_id, raw_item
from tap_chatgpt_compliance.streams.gen1 import SharedListings
from tap_chatgpt_compliance.workspace_rows import ID_FROM_PARENT, KEYED_BY_ID, derive_row


class ServedRows(SharedListings):
    """Rows derived from served items (see the module docstring)."""

    def row(self, item: t.Mapping[str, t.Any], **parent: t.Any) -> dict[str, t.Any]:
        """Return the row of one served item (workspace_rows.derive_row).

        An item without a string id is keyed by its content (``sha256:<hash of raw_item>``):
        written, counted in the run summary and said, never merged with another.
        """
        if self.name in KEYED_BY_ID and self.name not in ID_FROM_PARENT and not has_id(item):
            self.sync_run.counts.items_without_id += 1
            self.logger.warning(
                "Stream '%s': an item without a string id (id %s): written keyed by its content "
                "(sha256:<hash of raw_item>).",
                self.name,
                "missing" if "id" not in item else repr(item["id"])[:40],
            )
        return derive_row(self.name, item, self.workspace_id, parent)

    def child_id(self, record: dict[str, t.Any], child: str) -> str | None:
        """Return the id a child stream asks for, or None (said, failing the run) if none.

        A row keyed by its content (its item had no string id) names nothing to ask for:
        ``child`` (its transcript, details, bytes) is not archived, so the run fails loudly and
        this stream's refresh is not recorded (the next run asks again).
        """
        if has_id(record.get("item") or {}):
            return str(record["id"])
        if not self.children_wanted():
            return None
        msg = (
            f"stream '{self.name}': an item listed without an id ({record['id']}): its {child} "
            "cannot be asked for and is not archived; the refresh is not recorded. Report it "
            "to OpenAI support."
        )
        self.sync_run.fail_at_end(self.logger, msg)
        self._incomplete_listing = True
        return None

    def served(self, value: t.Any, **parent: t.Any) -> dict[str, t.Any]:
        """Return the row of a detail answer, whatever JSON it is (an object is expected).

        Another shape (a list, a string, null) is kept as served in ``raw_item`` with ``item``
        null, counted and said: never dropped, never taken for "not there".
        """
        if not isinstance(value, dict):
            self.sync_run.counts.unexpected_shapes += 1
            self.logger.warning(
                "Stream '%s': the API answered %s with JSON %s, not an object: kept as served "
                "in raw_item (item null).",
                self.name,
                ", ".join(f"{key} {ident}" for key, ident in parent.items()),
                "null" if value is None else type(value).__name__,
            )
        return derive_row(self.name, value, self.workspace_id, parent)

    def children_wanted(self) -> bool:
        """Whether a child stream of this one (or one of its descendants) is selected."""
        return any(c.selected or c.has_selected_descendents for c in self.child_streams)


def item_key(item: t.Mapping[str, t.Any]) -> str:
    """Return an item's id, or its content key when it has no string id (as its row is keyed)."""
    return str(item["id"]) if has_id(item) else content_key(raw_item(item))
