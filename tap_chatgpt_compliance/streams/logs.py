"""The log file manifest and the streams read from each file in the same pass."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.client import ComplianceStream, OncePerRunSchema
from tap_chatgpt_compliance.errors import describe_http_error
from tap_chatgpt_compliance.logfiles import LogFile, drop_seen_events, fetch_log_file
from tap_chatgpt_compliance.pagination import LogFilesPaginator
from tap_chatgpt_compliance.records import (
    conversation_record,
    event_record,
    message_record,
    message_time,
)
from tap_chatgpt_compliance.run import ConversationSeen
from tap_chatgpt_compliance.settings import RETENTION, event_scope, parse_start_date
from tap_chatgpt_compliance.timeparse import api_time, to_datetime, to_iso

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import Catalog

CONVERSATION_MESSAGE = "CONVERSATION_MESSAGE"
PAGE_SIZE = 100
RETENTION_WARNING = timedelta(days=25)
ONE_MICROSECOND = timedelta(microseconds=1)


class LogFilesStream(ComplianceStream):
    """One record per log file processed: the chain of custody, and the parent of the pass.

    Each file is listed once, downloaded once, verified against ``file_sha256``, and held in
    memory while the child streams (messages, conversations, files, events) read it. Its
    record, and with it the bookmark (its ``end_time``, per event type), is written only
    after every child record of the file: a run stopped mid-file resumes at that file.
    """

    name = "log_files"
    path = "/compliance/workspaces/{workspace_id}/logs"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "end_time"
    is_sorted = True
    schema: t.ClassVar[dict] = schemas.LOG_FILE

    _listing_after: str = ""
    _current_event_type: str | None = None

    def apply_catalog(self, catalog: Catalog) -> None:
        """Keep the manifest and all its fields selected whatever the catalog says.

        The bookmarks live on this stream (the SDK moves them only for selected streams), and its
        records are the chain of custody: deselecting it would silently stop incremental sync.
        """
        super().apply_catalog(catalog)
        entries = self.metadata.values()
        if any(entry.selected is False for entry in entries):
            self.logger.warning(
                "The log_files manifest (or a field of it) was deselected: it is always synced "
                "in full, because it carries the bookmarks and the chain of custody."
            )
        for entry in entries:
            if entry.selected is False:
                entry.selected = True
        self.selected = True

    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        """One partition (and one bookmark) per configured event type."""
        event_types = self.config.get("event_types") or [CONVERSATION_MESSAGE]
        return [{"event_type": event_type} for event_type in dict.fromkeys(event_types)]

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: bookmarks are the server's own end times, never the local clock."""
        return

    def scope_path(self, event_type: str) -> str:
        """Return the workspace or organization prefix for an event type."""
        if event_scope(event_type) == "organization":
            return f"/compliance/organizations/{self.config['organization_id']}"
        return f"/compliance/workspaces/{self.workspace_id}"

    def get_url(self, context: Context | None) -> str:
        """List the files of the partition's scope."""
        return f"{self.url_base}{self.scope_path(self._event_type(context))}/logs"

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Ask for one event type after the cursor (a LogCursor), a full page at a time."""
        return {
            "event_type": self._event_type(context),
            "after": next_page_token.after,
            "limit": PAGE_SIZE,
        }

    def get_new_paginator(self) -> LogFilesPaginator:
        """Page by ``last_end_time``."""
        return LogFilesPaginator(self._listing_after)

    def describe_error(self, response: requests.Response) -> str:
        """Name the event type's scope in 403 messages."""
        return describe_http_error(
            response, workspace_id=self.workspace_id, event_type=self._current_event_type
        )

    @staticmethod
    def _event_type(context: Context | None) -> str:
        return str((context or {}).get("event_type") or CONVERSATION_MESSAGE)

    def _start(self, context: Context | None) -> tuple[datetime, bool]:
        """Return where to list from, and whether it is a bookmark (inclusive) or not."""
        state = self.get_context_state(context)
        now = datetime.now(timezone.utc)
        bookmark = to_datetime(state.get("replication_key_value"))
        if bookmark is None:
            configured = parse_start_date(self.config.get("start_date"), now)
            if configured < now - RETENTION:
                self.logger.warning(
                    "start_date %s is older than the API's 30-day retention: log files before "
                    "%s no longer exist at OpenAI.",
                    configured.isoformat(),
                    (now - RETENTION).isoformat(),
                )
            return configured, False
        if bookmark < now - RETENTION:
            message = (
                f"Possible gap: the {self._event_type(context)} bookmark {bookmark.isoformat()} is "
                f"older than the API's 30-day retention, so log files between it and "
                f"{(now - RETENTION).isoformat()} may have expired unarchived. Everything still "
                "available is archived in this run; run the tap at least daily."
            )
            self.logger.error(message)
            self.sync_run.failures.append(message)
        elif bookmark < now - RETENTION_WARNING:
            self.logger.warning(
                "The %s bookmark %s is close to the 30-day retention: run the tap more often or "
                "files will expire unarchived.",
                self._event_type(context),
                bookmark.isoformat(),
            )
        return bookmark, True

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """List, download and verify each new file, then hand it to the child streams."""
        event_type = self._event_type(context)
        self._current_event_type = event_type
        start, inclusive = self._start(context)
        # Files whose end_time equals the bookmark are asked for again and recognised by id,
        # so that two files sharing an end_time are never skipped.
        self._listing_after = api_time(start - ONE_MICROSECOND if inclusive else start)
        run = self.sync_run
        boundary = set(self.get_context_state(context).get("boundary_file_ids") or [])
        for meta in self.request_records(context):
            file_id = str(meta.get("id"))
            if file_id in boundary or file_id in run.seen_log_file_ids:
                run.counts["log_files_skipped"] += 1
                continue
            log_file = fetch_log_file(self, self.scope_path(event_type), meta)
            run.seen_log_file_ids.add(file_id)
            drop_seen_events(log_file, run.seen_event_ids)
            record = self._manifest_record(log_file, event_type)
            run.open_files[file_id] = log_file
            try:
                yield record  # children are written before this record and its bookmark
            finally:
                run.open_files.pop(file_id, None)
            self._remember_boundary(context, record)
            run.counts["log_files"] += 1
            run.counts["events"] += len(log_file.events)
            run.counts["duplicates"] += log_file.duplicates
            if log_file.malformed_lines:
                run.note_problem(
                    f"log file {file_id}: {len(log_file.malformed_lines)} lines are not JSON "
                    "objects (kept verbatim in log_files.malformed_lines)"
                )
            self._write_state_message()

    def _remember_boundary(self, context: Context | None, record: dict[str, t.Any]) -> None:
        """Keep the ids of the files at the bookmark's end_time beside the bookmark."""
        state = self.get_context_state(context)
        end_time = record["end_time"].isoformat(timespec="microseconds")
        ids = state.get("boundary_file_ids") or []
        if state.get("boundary_end_time") != end_time:
            ids = []
        state["boundary_end_time"] = end_time
        state["boundary_file_ids"] = [*ids, record["id"]]
        self.state_manager.is_flushed = False

    def _manifest_record(self, log_file: LogFile, event_type: str) -> dict[str, t.Any]:
        meta = log_file.meta
        scope = event_scope(event_type)
        return {
            "id": log_file.id,
            "workspace_id": self.workspace_id,
            "organization_id": self.config.get("organization_id")
            if scope == "organization"
            else None,
            "scope": scope,
            "event_type": meta.get("event_type") or event_type,
            "end_time": to_datetime(meta.get("end_time")),
            "file_name": meta.get("file_name"),
            "file_size": meta.get("file_size"),
            "provider_sha256": meta.get("file_sha256"),
            "verified_sha256": log_file.sha256,
            "bytes_downloaded": log_file.size,
            "download_attempts": log_file.attempts,
            "line_count": log_file.line_count,
            "event_count": len(log_file.events),
            "duplicates_dropped": log_file.duplicates,
            "malformed_lines": log_file.malformed_lines,
            "processed_at": datetime.now(timezone.utc),
        }

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Children get the file id only; the events stay in the run's memory."""
        return {"log_file_id": record["id"]}


class LogFileChildStream(OncePerRunSchema, ComplianceStream):
    """A stream read from the log file its parent is processing (no HTTP of its own)."""

    parent_stream_type = LogFilesStream
    state_partitioning_keys: t.ClassVar[list[str]] = []
    path = ""
    # Records are built from plain JSON values and ISO strings: only the top level needs checking.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    reads_event_type: str | None = CONVERSATION_MESSAGE
    """The event type this stream reads; None reads every other type."""

    def log_file(self, context: Context | None) -> LogFile | None:
        """Return the parent's current file if this stream reads its event type."""
        log_file = self.sync_run.open_files.get(str((context or {}).get("log_file_id")))
        if log_file is None:
            return None
        is_message_file = log_file.event_type == CONVERSATION_MESSAGE
        wanted = self.reads_event_type == CONVERSATION_MESSAGE
        return log_file if is_message_file == wanted else None


class MessagesStream(LogFileChildStream):
    """Every CONVERSATION_MESSAGE event, deduplicated by event_id within the run."""

    name = "messages"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = schemas.MESSAGE

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield one record per event of the file."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        workspace_id = self.workspace_id
        for event in log_file.events:
            record = message_record(event, workspace_id, log_file.id)
            if record["id"] is None:  # keep it under its event id rather than lose it
                record["id"] = event.get("event_id")
                self.sync_run.note_problem(
                    f"event {event.get('event_id')} in log file {log_file.id} has no message.id"
                )
            self.sync_run.counts["messages"] += 1
            yield record


class ConversationsStream(LogFileChildStream):
    """One record per conversation touched by the file, with what the run has seen of it."""

    name = "conversations"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = schemas.CONVERSATION

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Fold the file's events into per-conversation summaries, then yield them."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        seen_by_id = self.sync_run.conversations
        latest: dict[str, tuple[dict[str, t.Any], dict[str, t.Any]]] = {}
        for event in sorted(log_file.events, key=lambda e: str(e.get("timestamp") or "")):
            conversation = event.get("conversation")
            if not isinstance(conversation, dict) or not conversation.get("id"):
                continue
            conversation_id = str(conversation["id"])
            seen = seen_by_id.setdefault(conversation_id, ConversationSeen())
            seen.add(
                conversation.get("title"), message_time(event)[0], to_iso(event.get("timestamp"))
            )
            actor = _as_dict(event.get("actor"))
            latest[conversation_id] = (conversation, actor)
        for conversation_id, (conversation, actor) in latest.items():
            yield conversation_record(
                conversation, actor, seen_by_id[conversation_id], self.workspace_id, log_file.id
            )


class EventsStream(LogFileChildStream):
    """Events of every other configured type (AUDIT_LOG, AUTH_LOG, …, COSTS), as delivered."""

    name = "events"
    primary_keys: t.ClassVar[list[str]] = ["event_id"]
    schema: t.ClassVar[dict] = schemas.EVENT
    reads_event_type = None

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield one record per event of the file."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        org = self.config.get("organization_id")
        for event in log_file.events:
            if not event.get("event_id"):
                self.sync_run.note_problem(f"an event in log file {log_file.id} has no event_id")
                continue
            yield event_record(event, self.workspace_id, org, log_file.id)


def _as_dict(value: t.Any) -> dict[str, t.Any]:
    return value if isinstance(value, dict) else {}
