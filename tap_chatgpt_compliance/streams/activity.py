"""Automations, recordings and transcripts, Codex tasks, library files (§1A #20-#24, #26).

The reference is unsure of most of these shapes: the rows keep the item as served and derive
only ids and times. None has a filter the tap can trust (automations take ``since_timestamp``
in one client only, MED), so each refresh lists them in full and emits only the items whose
change bucket changed (workspace.ChangeBuckets); the listing costs at least one request per user
either way. Transcripts and Codex task details are child streams: fetched for each recording
or task the parent emits (new or changed), never for the unchanged ones.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

from tap_chatgpt_compliance.http.transport import path_segment
from tap_chatgpt_compliance.streams.gen1 import (
    MISSING,
    RouteMissing,
    every_one_missing,
    failed_parents,
    run_cache,
)
from tap_chatgpt_compliance.streams.workspace import (
    ChildObjectStream,
    WorkspaceObjectStream,
)
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

MAX_MISSING_TRANSCRIPTS = 1000
"""Recordings without a transcript yet that the state keeps, to ask again (the newest ids)."""
PER_USER_PAGE = 200
"""Page size of the per-user lists (the simulator clamps at 200)."""
CODEX_PAGE = 30
"""The API's default and largest page of Codex tasks (more is a 422)."""
TRANSCRIPT_SLACK = timedelta(hours=1)
"""A recording made longer ago than this has had time for its transcript to be made."""
EVERY_TRANSCRIPT_MISSING = 2
"""Recordings asked for the first time, made long enough ago, that all answering 404 (and
none found) are the transcript route gone or a fault, not transcripts still being made."""


class _PerUserStream(WorkspaceObjectStream):
    """A list per user, refreshed in full, changed buckets emitted."""

    route = ""
    cursor_paging = False

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """List every user's items; emit the buckets that changed."""
        yield from self.emit_changed(self._keyed_rows(), updates, self.again())

    def _keyed_rows(self) -> Iterator[tuple[str, dict[str, t.Any]]]:
        """Yield every user's items; a 404 is a user deleted since listed, unless all are.

        Every user's list answering 404 is a route gone (or a fault), not every user deleted:
        :class:`RouteMissing`, the stream fails loudly and its refresh is not recorded.
        """
        users = self.user_ids()
        missing = 0
        for user_id in users:
            path = f"users/{path_segment(user_id)}/{self.route}"
            pages = (
                self.iter_cursor(path, limit=PER_USER_PAGE)
                if self.cursor_paging
                else self.iter_list(path, limit=PER_USER_PAGE)
            )
            try:
                for item in pages:
                    row = self.row(item, user_id=user_id)
                    yield f"{user_id}/{row.get('id')}", row
            except RouteMissing:
                missing += 1
        if users and missing == len(users):
            raise every_one_missing(f"{self.route} list", missing, "user")

    def again(self) -> set[str]:
        """Return keys (``user/id``) to emit again although unchanged."""
        return set()


class AutomationsStream(_PerUserStream):
    """Scheduled tasks of each user (``users/{id}/automations``)."""

    name = "automations"
    primary_keys: t.ClassVar[list[str]] = ["id", "raw_sha256"]
    route = "automations"


class RecordingsStream(_PerUserStream):
    """Recordings of each user (``users/{id}/recordings``); transcripts are a child stream."""

    name = "recordings"
    primary_keys: t.ClassVar[list[str]] = ["id", "raw_sha256"]
    route = "recordings"

    def again(self) -> set[str]:
        """Return the recordings whose transcript answered 404: emitted again, asked again."""
        pending = self.stream_state.get("transcripts_missing")
        return {str(key) for key in pending} if isinstance(pending, list) else set()

    def after_refresh(self, updates: dict[str, t.Any]) -> None:
        """Keep the recordings still without a transcript in the state.

        Known once the child stream ran for every recording emitted: after the last record.
        """
        missing = missing_transcripts(self.tap)
        updates["transcripts_missing"] = sorted(missing)[-MAX_MISSING_TRANSCRIPTS:]
        self._say_if_every_transcript_missing()

    def _say_if_every_transcript_missing(self) -> None:
        """Fail the run, loudly, when no transcript was found and several ought to have been.

        That is: at least EVERY_TRANSCRIPT_MISSING recordings asked for the first time, made
        more than TRANSCRIPT_SLACK ago, answered 404. One transcript answering 404 is one not
        made yet (asked again by later refreshes); every one of them, for recordings old enough
        to have one, is the route gone or a fault. Recordings asked again (404 in an earlier
        run) do not count: a recording that never gets a transcript would fail every run. The
        recordings stay in the retry list (``transcripts_missing``): the refresh is recorded,
        and every later one asks again.
        """
        asked, found, unexpected = transcripts_asked(self.tap)
        if found or unexpected < EVERY_TRANSCRIPT_MISSING:
            return
        hours = int(TRANSCRIPT_SLACK.total_seconds() // 3600)
        msg = (
            "stream 'recording_transcripts': the transcript of every recording asked for "
            f"answered 404 ({asked} recordings, {unexpected} of them asked for the first time "
            f"and made more than {hours} h ago): the route looks gone, or a fault, not "
            "transcripts still being made; none is archived in this run. The recordings stay "
            "in the state (transcripts_missing) and every later refresh asks again; report it "
            "to OpenAI support if it persists."
        )
        self.sync_run.fail_at_end(self.logger, msg)

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Name the recording whose transcript to fetch (None: listed without an id, said).

        With when it was made, and whether an earlier run found no transcript for it.
        """
        recording_id = self.child_id(record, "transcript")
        item = record.get("item")
        return {
            "user_id": record["user_id"],
            "recording_id": recording_id,
            "created_at": item.get("created_at") if isinstance(item, dict) else None,
            "asked_before": f"{record['user_id']}/{recording_id}" in self.again(),
        }


class RecordingTranscriptsStream(ChildObjectStream):
    """The transcript (with its summary) of each new or changed recording."""

    name = "recording_transcripts"
    primary_keys: t.ClassVar[list[str]] = ["recording_id", "raw_sha256"]
    parent_stream_type = RecordingsStream

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Fetch one transcript; a recording without one (404) has no row."""
        if not context or context.get("recording_id") is None:
            return
        user_id, recording_id = context["user_id"], context["recording_id"]
        item = self.fetch(
            f"users/{path_segment(user_id)}/recordings/{path_segment(recording_id)}/transcript",
            {"include_summary": "true"},
            missing_ok=True,
        )
        counts = transcripts_asked(self.tap)
        counts[0] += 1
        if item is MISSING:  # not (yet) there: the recording is emitted again by the next refresh
            missing_transcripts(self.tap).add(f"{user_id}/{recording_id}")
            made = to_datetime(context.get("created_at"))
            settled = made is not None and made <= self.transport.clock.now() - TRANSCRIPT_SLACK
            counts[2] += settled and not context.get("asked_before")
            return
        counts[1] += 1
        yield self.served(item, user_id=user_id, recording_id=recording_id)


class CodexTasksStream(WorkspaceObjectStream):
    """Codex tasks of the workspace (``codex_tasks``: newest first, ``cursor`` paging)."""

    name = "codex_tasks"
    primary_keys: t.ClassVar[list[str]] = ["id", "raw_sha256"]

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """List every task (an old task can change: no early stop); emit changed buckets."""
        rows = (self.row(item) for item in self.iter_cursor("codex_tasks", limit=CODEX_PAGE))
        yield from self.emit_changed(((str(row.get("id")), row) for row in rows), updates)

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Name the task whose details to fetch (None: listed without an id, said)."""
        return {"task_id": self.child_id(record, "details")}

    def after_refresh(self, updates: dict[str, t.Any]) -> None:
        """Fail the refresh, loudly, when every task asked for its details answered 404.

        One task gone between the list and its details is churn; every one of them is a route
        gone or a fault: the refresh is not recorded, so the next run emits the tasks again and
        asks for their details (their change buckets would otherwise say nothing changed).
        """
        asked, missing = details_asked(self.tap)
        if asked and missing == asked:
            msg = f"stream 'codex_task_details': {every_one_missing('details', asked, 'task')}"
            self.sync_run.fail_at_end(self.logger, msg)
            failed_parents(self.tap).add(self.name)


class CodexTaskDetailsStream(ChildObjectStream):
    """Details of each new or changed Codex task (``codex_tasks/{id}``)."""

    name = "codex_task_details"
    primary_keys: t.ClassVar[list[str]] = ["id", "raw_sha256"]
    parent_stream_type = CodexTasksStream

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Fetch one task; a task gone since it was listed (404) has no row."""
        if not context or context.get("task_id") is None:
            return
        task_id = context["task_id"]
        item = self.fetch(f"codex_tasks/{path_segment(task_id)}", missing_ok=True)
        counts = details_asked(self.tap)
        counts[0] += 1
        if item is MISSING:
            counts[1] += 1
        else:
            yield self.served(item, task_id=task_id)


class LibraryFilesStream(_PerUserStream):
    """Library files of each user (``users/{id}/library_files``: newest first, ``cursor``)."""

    name = "library_files"
    primary_keys: t.ClassVar[list[str]] = ["user_id", "id", "raw_sha256"]
    route = "library_files"
    cursor_paging = True

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Name the library file whose bytes to fetch (knowledge.py), with its state."""
        return {
            "owner_id": record["user_id"],
            "file_id": self.child_id(record, "bytes"),
            "name": record.get("name"),
            "mime_type": record.get("mime_type"),
            "state": record.get("state"),
            "trashed_at": record.get("trashed_at"),
        }


def missing_transcripts(tap: t.Any) -> set[str]:
    """Return the recordings (``user/id``) of this run whose transcript answered 404."""
    return t.cast("set[str]", run_cache(tap).setdefault("transcripts_missing", set()))


def transcripts_asked(tap: t.Any) -> list[int]:
    """Return [transcripts asked for in this run, found, unexpected 404s].

    An unexpected 404: for a recording asked the first time, made more than TRANSCRIPT_SLACK
    ago.
    """
    return t.cast("list[int]", run_cache(tap).setdefault("transcripts_asked", [0, 0, 0]))


def details_asked(tap: t.Any) -> list[int]:
    """Return [Codex tasks asked for their details in this run, of which answered 404]."""
    return t.cast("list[int]", run_cache(tap).setdefault("codex_details_asked", [0, 0]))
