"""The log file manifest and the streams read from each file in the same pass."""

from __future__ import annotations

import base64
import hashlib
import typing as t
from datetime import datetime, timedelta
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.attachments.pipeline import ReadAhead, one_ahead
from tap_chatgpt_compliance.client import ComplianceStream
from tap_chatgpt_compliance.http.pagination import PageShapeError
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.logfile import (
    CONVERSATION_MESSAGE,
    LogFile,
    Segment,
)
from tap_chatgpt_compliance.logfiles.rawlogs import STREAM as RAW_PARTS_STREAM
from tap_chatgpt_compliance.logfiles.rawlogs import RawLogKeeper
from tap_chatgpt_compliance.logfiles.records import (
    ConversationFold,
    attachment_refs,
    event_record,
    lacks_message_id,
    manifest_record,
    message_record,
)
from tap_chatgpt_compliance.sdk import OncePerRunSchema, override
from tap_chatgpt_compliance.streams.gaps import GapListing, MissingFile
from tap_chatgpt_compliance.streams.listing import ListingRejected, PlannedFile
from tap_chatgpt_compliance.timeparse import api_time

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context, Record

ONE_MICROSECOND = timedelta(microseconds=1)


class LogFilesStream(GapListing):
    """One record per log file processed: the chain of custody, and the parent of the pass.

    Each file is listed once, downloaded once, verified against ``file_sha256``, and held in
    memory while the child streams (messages, conversations, files, events, unparsed_lines)
    read it. Its record, and with it the bookmark (its ``end_time``, per event type), is
    written only after every child record of the file: a run stopped mid-file resumes at that
    file.

    The stream runs whenever it or any of its children is selected (the bookmarks live here),
    but writes its SCHEMA and RECORD messages only when the catalog selects it.
    """

    name = "log_files"
    path = "/compliance/workspaces/{workspace_id}/logs"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "end_time"
    is_sorted = True
    schema: t.ClassVar[dict] = schemas.LOG_FILE

    _segment_record: dict[str, t.Any] | None = None
    """The stand-in record of a segment before a file's last: not written, no bookmark."""
    _open_segment: Segment | None = None
    """The segment whose records the child streams are writing (:meth:`open_segment`)."""

    def open_segment(self, context: Context | None) -> Segment | None:
        """Return the segment the children are writing, if it is of ``context``'s log file."""
        segment = self._open_segment
        if segment is None or segment.id != str((context or {}).get("log_file_id")):
            return None
        return segment

    # Selection: read whenever something downstream is selected, emit only when selected.
    runs_for_selected_children = True

    @property
    @override
    def emits_records(self) -> bool:
        """Return whether the catalog selects the manifest itself."""
        return bool(self.mask.get((), True))

    @override
    def writes_record(self, record: Record) -> bool:
        """Return False for the stand-in record of a segment before a file's last."""
        return record is not self._segment_record

    @override
    def bookmark_record(self, latest_record: Record) -> Record:
        """Move the bookmark to the value chosen in get_records, never past the current time."""
        bookmark = (
            self._bookmark if self._bookmark is not None else latest_record[self.replication_key]
        )
        return {self.replication_key: bookmark}

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """List, download and verify each new file, then hand it to the child streams.

        The listing is read defensively: an item without ``event_type`` is of the type asked
        for; an item without ``end_time`` takes the page's ``last_end_time`` when it is the
        page's last item, else the end_time of the file before it (so the bookmark never passes
        a file not yet read); a page out of order stops the run before any of its files is read
        (ComplianceStream.parse_response). A file whose end_time is later than the current time
        is archived, but the bookmark stays where it was; its id is kept in the state
        (future_file_ids), so the next run, which lists it again, does not read it again.
        """
        event_type = self._event_type(context)
        self._current_event_type = event_type
        listing = self._listing(event_type)
        listing["status"] = "could_not_read"  # until the listing ends
        self._freshness(event_type)
        start, inclusive = self._start(context)
        # Files whose end_time equals the bookmark are asked for again and recognised by id,
        # so that two files sharing an end_time are never skipped.
        self._listing_after = api_time(start - ONE_MICROSECOND if inclusive else start)
        run = self.sync_run
        state = self.get_context_state(context)
        planned, future = self._plan(context, event_type, start, state)
        run.progress.now = self.clock.now  # "behind now" in the API's time, as everything else
        run.progress.begin(event_type)
        segments = self._segments(self._stopping(ReadAhead(planned, self._read), state))
        try:
            # Each segment's records are written by the child streams, synced for a stand-in
            # record written nowhere; the manifest record and its bookmark come after the last
            # segment's records. The next segment is parsed (and its attachments queued) before
            # the current one's records are written.
            for plan, log_file, segment in one_ahead(segments):
                if isinstance(log_file, MissingFile) or segment is None:  # a gap (gaps.py)
                    yield from self._missing(plan, t.cast("MissingFile", log_file), state, future)
                    continue
                self._open_segment = segment
                record = self._manifest_record(log_file, plan.end_time, plan.source, plan.capped)
                if not segment.last:
                    self._segment_record = record
                    try:
                        yield record
                    finally:
                        self._segment_record = None
                    continue
                self._bookmark = plan.floor
                chain.link(record, state)
                try:
                    yield record  # children are written before this record and its bookmark
                finally:
                    self._open_segment = None
                    self._bookmark = None
                    log_file.close_raw()
                self._file_written(plan, log_file, record, state, future)
                listing["files_read"] = listing.get("files_read", 0) + 1
            listing["status"] = "read" if listing.get("files_read") else "nothing_new"
        except (ListingRejected, PageShapeError) as exc:
            run.fail_at_end(self.logger, str(exc))
        finally:
            run.progress.end()

    def _file_written(
        self,
        plan: PlannedFile,
        log_file: LogFile,
        record: dict[str, t.Any],
        state: dict,
        future: dict[str, str],
    ) -> None:
        """Move the state past a file whose records are all written, and write it."""
        self._advance(plan, record, state, future)
        self._count(log_file)
        self.write_state()
        self.sync_run.progress.file_done(plan.floor)

    def _read(self, plan: PlannedFile) -> LogFile | MissingFile:
        """Download and verify a file, and keep its raw bytes (on the read-ahead thread)."""
        log_file = self._fetch(plan)
        if isinstance(log_file, LogFile):
            self.raw_keeper.keep(log_file)
        return log_file

    @cached_property
    def raw_keeper(self) -> RawLogKeeper:
        """Return what keeps the raw bytes of each log file (rawlogs.py)."""
        parts = self.tap.streams.get(RAW_PARTS_STREAM)
        return RawLogKeeper(self.settings, parts is not None and parts.selected)

    def _segments(
        self, files: Iterable[tuple[PlannedFile, LogFile | MissingFile]]
    ) -> Iterator[tuple[PlannedFile, LogFile | MissingFile, Segment | None]]:
        """Parse each file a segment at a time, in order; queue each segment's attachments."""
        seen = self.sync_run.seen_events
        streams = self.tap.streams
        files_stream = streams.get("files")
        fetch = files_stream is not None and (
            files_stream.selected or files_stream.has_selected_descendents
        )
        for plan, log_file in files:
            if isinstance(log_file, MissingFile):
                yield plan, log_file, None
                continue
            try:
                while (segment := log_file.next_segment(seen)) is not None:
                    if fetch and segment.messages:
                        self.tap.attachments.plan(  # type: ignore[attr-defined]
                            segment_key(segment), attachment_refs(segment.messages)
                        )
                    yield plan, log_file, segment
            finally:
                log_file.close()

    def _count(self, log_file: LogFile) -> None:
        log_file.count_into(self.sync_run.counts)
        if log_file.unparsed_total:
            numbers = log_file.unparsed_numbers
            self.logger.warning(
                "Log file %s: %d lines are not valid UTF-8 or not JSON objects (lines %s): kept "
                "byte for byte in unparsed_lines.",
                log_file.id,
                log_file.unparsed_total,
                ", ".join(str(n) for n in numbers[:10]) + (", …" if len(numbers) > 10 else ""),
            )

    def _manifest_record(
        self, log_file: LogFile, end_time: datetime, source: str, capped: bool
    ) -> dict[str, t.Any]:
        record = manifest_record(
            log_file, end_time, source, capped, self.workspace_id, self.settings.organization_id
        )
        record.update(self.raw_keeper.manifest_fields(log_file))
        return record

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Children get the file id only; the events stay in the run's memory."""
        return {"log_file_id": record["id"]}


def segment_key(segment: Segment) -> str:
    """Return the key of a file's segment (attachments are planned per segment)."""
    return f"{segment.id}#{segment.index}"


class LogFileChildStream(OncePerRunSchema, ComplianceStream):
    """A stream read from the log file its parent is processing (no HTTP of its own)."""

    parent_stream_type = LogFilesStream
    state_partitioning_keys: t.ClassVar[list[str]] = []
    path = ""
    # Records are built from plain JSON values and ISO strings: only the top level needs checking.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    reads_event_type: str | None = CONVERSATION_MESSAGE
    """CONVERSATION_MESSAGE reads the file's message events; None reads all its other events."""

    @property
    def log_files_stream(self) -> LogFilesStream:
        """Return the parent stream, whose open segment this stream reads."""
        return t.cast("LogFilesStream", self.tap.streams[LogFilesStream.name])

    def open_segment(self, context: Context | None) -> Segment | None:
        """Return the parent's segment of ``context``'s log file, if it is being written."""
        return self.log_files_stream.open_segment(context)

    def log_file(self, context: Context | None) -> Segment | None:
        """Return the parent's current file if it holds events this stream reads."""
        log_file = self.open_segment(context)
        if log_file is None:
            return None
        if self.reads_event_type == CONVERSATION_MESSAGE:
            return log_file if log_file.messages else None
        return log_file if log_file.other_events else None


class MessagesStream(LogFileChildStream):
    """Every CONVERSATION_MESSAGE event, deduplicated by event key within the run."""

    name = "messages"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = schemas.MESSAGE

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield one record per message event of the file."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        workspace_id = self.workspace_id
        file_id = log_file.id
        lines = log_file.lines
        counts = self.sync_run.counts
        without_id = written = 0
        try:
            for event, key, raw, times in zip(
                lines.messages,
                lines.message_keys,
                lines.message_lines,
                log_file.message_times,
                strict=True,
            ):
                record = message_record(event, workspace_id, file_id, key, times)
                if lacks_message_id(event):
                    without_id += 1
                self._verbatim = None if raw is None else (record, ("event", (raw,)))
                yield record  # written before the generator resumes
                written += 1
        finally:
            self._verbatim = None
            counts.messages_without_id += without_id
            counts.messages += written


class ConversationsStream(LogFileChildStream):
    """One record per conversation touched by the file, with what the run has seen of it.

    The file's message events are folded in the order of their timestamps (file order for
    equal ones), a segment at a time: what each contributes is kept in a few values per event,
    and the records are written with the file's last segment.
    """

    name = "conversations"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = schemas.CONVERSATION

    _fold: ConversationFold | None = None
    """The fold of the log file being read (records.ConversationFold)."""

    def log_file(self, context: Context | None) -> Segment | None:
        """Return the parent's current file if it has messages, or ends a file with some."""
        log_file = self.open_segment(context)
        if log_file is None:
            return None
        if log_file.messages:
            return log_file
        fold = self._fold
        folding = fold is not None and fold.log_file_id == log_file.id
        return log_file if log_file.last and folding else None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Fold the segment's message events; with the file's last, yield its conversations."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        fold = self._fold
        if fold is None or fold.log_file_id != log_file.id:
            fold = self._fold = ConversationFold(log_file.id)
        fold.add(log_file.messages, log_file.message_times)
        if not log_file.last:
            return
        self._fold = None
        yield from fold.records(self.sync_run.conversations, self.workspace_id)


class EventsStream(LogFileChildStream):
    """Events of every other type (AUDIT_LOG, AUTH_LOG, …, COSTS, types new to the tap)."""

    name = "events"
    primary_keys: t.ClassVar[list[str]] = ["event_id", "type"]
    schema: t.ClassVar[dict] = schemas.EVENT
    reads_event_type = None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield one record per event of the file that is not a message."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        org = self.settings.organization_id
        workspace_id = self.workspace_id
        file_type = log_file.event_type
        lines = log_file.lines
        for event, key in zip(lines.others, lines.other_keys, strict=True):
            event_type = event.get("type")
            if type(event_type) is not str or not event_type:
                event_type = file_type
            yield event_record(event, workspace_id, org, log_file.id, event_type, key)


class UnparsedLinesStream(LogFileChildStream):
    """Lines that are not valid UTF-8 or not JSON objects, byte for byte (base64)."""

    name = "unparsed_lines"
    primary_keys: t.ClassVar[list[str]] = ["log_file_id", "line_number"]
    schema: t.ClassVar[dict] = schemas.UNPARSED_LINE

    def log_file(self, context: Context | None) -> Segment | None:
        """Return the parent's current file if it has unparsed lines."""
        log_file = self.open_segment(context)
        return log_file if log_file is not None and log_file.lines.unparsed else None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield one record per unparsed line of the file."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        for line in log_file.lines.unparsed:
            yield {
                "log_file_id": log_file.id,
                "line_number": line.line_number,
                "workspace_id": self.workspace_id,
                "event_type": log_file.event_type,
                "reason": line.reason,
                "error": line.error,
                "byte_count": len(line.raw),
                "sha256": hashlib.sha256(line.raw).hexdigest(),
                "content_base64": base64.b64encode(line.raw).decode("ascii"),
            }
