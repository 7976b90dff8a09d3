"""Workspace directory lists that are still plain REST: users, GPTs, projects."""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.directory_rows import derive_row, has_id
from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.http.pagination import LastIdPaginator, PageShapeError
from tap_chatgpt_compliance.logfiles.rest_chain import with_chain_columns
from tap_chatgpt_compliance.sdk import override
from tap_chatgpt_compliance.streams.chained import ChainedRows
from tap_chatgpt_compliance.streams.repeats import RepeatedItems

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context


class DirectoryStream(ChainedRows):
    """A full-table Gen-1 list paged by ``after=last_id``, its records on the stream's chain."""

    primary_keys: t.ClassVar[list[str]] = ["id"]
    page_size: int = 200
    _repeats: RepeatedItems

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the list; a 403 or a broken page skips this stream but fails the run at its end.

        A key without the export scope must not stop the archive of conversations. The
        chain head moves after the last record written (also when the list broke after some).
        """
        self._repeats = RepeatedItems(self.name, self.sync_run.counts, self.logger)
        try:
            yield from super().get_records(context)
        except (_Forbidden, PageShapeError) as exc:
            self.logger.warning(
                "Stream '%s' skipped: %s. The run goes on, and fails at its end.", self.name, exc
            )
            self.sync_run.failures.append(str(exc))
        self.commit_chain()

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Mark 403 answers, so that they skip the stream instead of ending the run."""
        if response.status_code == 403:
            raise _Forbidden(self.describe_error(response))
        super().validate_response(response)

    @override
    def get_new_paginator(self) -> LastIdPaginator:
        """Page by ``last_id`` while ``has_more``."""
        return LastIdPaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Ask for a full page after the previous page's last id."""
        return {"limit": self.page_size, "after": next_page_token}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Derive the record from the item as delivered (directory_rows.derive_row).

        ``raw_item`` keeps the item as canonical JSON text and ``item`` as an object; beside
        them only declared fields are kept (fields the tap does not know yet are in both, so
        nothing is dropped), with the workspace id added and ``created_at`` turned from Unix
        seconds into ISO 8601. ``chatgpt-compliance verify`` derives the row again from
        ``raw_item``. An item a later page serves again is written once (repeats.py); an item
        without a string id is keyed by its content (directory_rows.content_key), counted.
        """
        if not self._repeats.first_time(row):
            return None
        if not has_id(row):
            self.sync_run.counts.items_without_id += 1
            self.logger.warning(
                "Stream '%s': an item without a string id (id %s): written keyed by its content "
                "(sha256:<hash of raw_item>).",
                self.name,
                "missing" if "id" not in row else repr(row["id"])[:40],
            )
        return self.chain_link(derive_row(self.name, row, self.workspace_id))


class UsersStream(DirectoryStream):
    """Workspace members: the identities behind message actors."""

    name = "users"
    path = "/compliance/workspaces/{workspace_id}/users"
    schema: t.ClassVar[dict] = with_chain_columns(schemas.USER)


class GPTsStream(DirectoryStream):
    """Custom GPTs of the workspace, with their latest configuration."""

    name = "gpts"
    path = "/compliance/workspaces/{workspace_id}/gpts"
    schema: t.ClassVar[dict] = with_chain_columns(schemas.GPT)
    page_size = 20


class ProjectsStream(DirectoryStream):
    """Projects of the workspace, with their latest configuration."""

    name = "projects"
    path = "/compliance/workspaces/{workspace_id}/projects"
    schema: t.ClassVar[dict] = with_chain_columns(schemas.PROJECT)
    page_size = 20


class _Forbidden(ComplianceAPIError):
    """The key may not read this list."""
