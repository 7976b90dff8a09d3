"""Configuration history and shares of GPTs and projects (reference §1A #6, #7, #17, #18).

These streams iterate the GPT (project) ids themselves instead of being SDK child streams of
``gpts``/``projects``: the directory streams are full snapshots read on every run, while these
follow ``directory_refresh_hours``; a child stream would also be synced once per parent record
(one SCHEMA and state lookup per GPT) and could not skip a GPT before any request. The GPT
listing is read once per run and shared by the streams (``file_format=id``: no signed URL, so
the items are byte-stable from run to run).
"""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance.streams.served import item_key
from tap_chatgpt_compliance.streams.workspace import (
    Boundary,
    WorkspaceObjectStream,
    in_window,
)
from tap_chatgpt_compliance.timeparse import to_datetime
from tap_chatgpt_compliance.workspace_rows import config_files, config_files_cut

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from singer_sdk.helpers.types import Context


def latest_config_time(container: t.Mapping[str, t.Any]) -> datetime | None:
    """Return the ``created_at`` of the newest configuration in a GPT's ``latest_config``."""
    latest = container.get("latest_config")
    data = latest.get("data") if isinstance(latest, dict) else latest
    if not isinstance(data, list):
        return None
    times = [to_datetime(c.get("created_at")) for c in data if isinstance(c, dict)]
    known = [when for when in times if when is not None]
    return max(known) if known else None


class _ConfigsStream(WorkspaceObjectStream):
    """Every configuration version of each GPT (project), newest first in the API.

    The first refresh pages every list to its end. Later ones skip a GPT whose
    ``latest_config`` is older than the watermark (no request), and stop paging a list at the
    first configuration older than it: the list is newest first, so the rest was archived by an
    earlier refresh. Configurations are immutable (a change is a new id): the overlap re-read is
    dropped by the keys kept in the state (a bounded list).
    """

    kind = "gpts"
    parent_key = "gpt_id"

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Read the new configurations of every GPT (project)."""
        since = self.watermark()
        boundary = Boundary(self.stream_state.get("boundary"), since)
        skipped = 0
        for container in self.containers(self.kind):
            cid = str(container["id"])
            latest = latest_config_time(container)
            if since is not None and latest is not None and latest < since:
                skipped += 1
                continue
            for item in self.container_list(self.kind, cid, "configs", {"file_format": "id"}):
                when = to_datetime(item.get("created_at"))
                if not in_window(when, since):
                    break  # newest first: everything after this was read before
                # A configuration without an id is keyed by its content, never by "None".
                if boundary.fresh(f"{cid}/{item_key(item)}", when):
                    yield self.row(item, **{self.parent_key: cid})
        if skipped:
            self.logger.info(
                "Stream '%s': %d of %d %s unchanged since the last refresh (no request).",
                self.name,
                skipped,
                len(self.containers(self.kind)),
                self.kind,
            )
        self.say_gone()
        updates["boundary"] = boundary.keep(self.refresh_start())

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Name the knowledge files of a new configuration, with their names (knowledge.py).

        A file listed without an id, or past a ``files`` list that says ``has_more``, cannot be
        asked for: said, the run fails and the refresh is not recorded (the configuration row
        keeps the list as served).
        """
        item = record.get("item")
        files, unnamed = config_files(item)
        if (unnamed or config_files_cut(item)) and self.children_wanted():
            child = next(iter(self.child_streams)).name
            owner = f"{self.kind[:-1]} {record[self.parent_key]}"
            where = f"configuration {record.get('id')} of {owner}"
            what = (
                f"{unnamed} file(s) of {where} listed without an id a URL can carry: their bytes"
                if unnamed
                else f"{where} lists {len(files)} file(s) with has_more=true (documented as "
                "always false, with no route to page it): the bytes of the files past them"
            )
            msg = (
                f"stream '{child}': {what} cannot be asked for and are not archived ({self.name} "
                "keeps the list as served); the refresh is not recorded. Report it to OpenAI "
                "support."
            )
            self.sync_run.fail_at_end(self.logger, msg)
            self._incomplete_listing = True
        return {"owner_id": record[self.parent_key], "files": files}


class GPTConfigsStream(_ConfigsStream):
    """GPT configuration history (``gpts/{id}/configs``): instructions, files, tools."""

    name = "gpt_configs"
    primary_keys: t.ClassVar[list[str]] = ["gpt_id", "id"]


class ProjectConfigsStream(_ConfigsStream):
    """Project configuration history (``projects/{id}/configs``)."""

    name = "project_configs"
    primary_keys: t.ClassVar[list[str]] = ["project_id", "id"]
    kind = "projects"
    parent_key = "project_id"


class _SharedUsersStream(WorkspaceObjectStream):
    """Who a GPT (project) is shared with: full refresh, only changed buckets emitted."""

    kind = "gpts"
    parent_key = "gpt_id"

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """List the shares of every GPT (project); emit the buckets that changed."""
        yield from self.emit_changed(self._keyed_rows(), updates)

    def _keyed_rows(self) -> Iterator[tuple[str, dict[str, t.Any]]]:
        for container in self.containers(self.kind):
            cid = str(container["id"])
            for item in self.container_list(self.kind, cid, "shared_users"):
                row = self.row(item, **{self.parent_key: cid})
                yield f"{cid}/{row.get('id')}", row
        self.say_gone()


class GPTSharedUsersStream(_SharedUsersStream):
    """Users a GPT is shared with (``gpts/{id}/shared_users``)."""

    name = "gpt_shared_users"
    primary_keys: t.ClassVar[list[str]] = ["gpt_id", "id"]


class ProjectSharedUsersStream(_SharedUsersStream):
    """Users a project is shared with (``projects/{id}/shared_users``)."""

    name = "project_shared_users"
    primary_keys: t.ClassVar[list[str]] = ["project_id", "id"]
    kind = "projects"
    parent_key = "project_id"
