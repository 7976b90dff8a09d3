"""Attachments referenced by messages, downloaded in the same run (they expire after ~24 h).

An attachment that fails for a reason that can clear (403, retries spent on 5xx/timeouts/network
errors, a storage error) still gets its ``files`` record in that run, and is kept in the state's
retry list (:mod:`tap_chatgpt_compliance.attachments.pending`); every later run retries the
list before it reads any log file, until the attachment is archived, the API says it is gone,
or its retry window ends.
"""

from __future__ import annotations

import base64
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.attachments.archive import (
    NO_USER,
    AttachmentRef,
    base_record,
    iter_parts,
    parts_not_selected,
)
from tap_chatgpt_compliance.attachments.pending import (
    MAX_PENDING,
    RETRY_WINDOW,
    RETRYABLE,
    Pending,
    PendingAttachments,
)
from tap_chatgpt_compliance.client import ComplianceStream
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.records import attachment_refs
from tap_chatgpt_compliance.sdk import OncePerRunSchema, override
from tap_chatgpt_compliance.streams.logs import LogFileChildStream, segment_key

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_chatgpt_compliance.attachments.pipeline import AttachmentPipeline
    from tap_chatgpt_compliance.run.sync import SyncRun

EVERY_ONE_MISSING = 2
"""Attachments of a run that, all answering 404, are a route gone (or a fault), not churn."""
RETRY_CONTEXT = "retry_pending_attachments"
"""Context key of the sync that retries the attachments earlier runs could not archive."""


class AttachmentLedger(LogFileChildStream):
    """What the files stream keeps across runs: the retry list and the files chain.

    Both live in the stream's bookmark and are made final together (:meth:`commit_staged`)
    just before a STATE moves past the log file that referenced the attachments.
    """

    _pending_changed = False
    """The retry list changed for attachments of the log file being read (saved at commit)."""

    @property
    def attachments(self) -> AttachmentPipeline:
        """Return the run's attachment pipeline (fetched ahead, handed back in order)."""
        return t.cast("AttachmentPipeline", self.tap.attachments)  # type: ignore[attr-defined]

    @cached_property
    def pending(self) -> PendingAttachments:
        """Return the retry list kept in this stream's bookmark."""
        return PendingAttachments(self.stream_state, self.transport.clock)

    @cached_property
    def chain(self) -> chain.StagedChain:
        """Return the files chain, its head in this stream's bookmark (chain.py)."""
        return chain.StagedChain(self.stream_state, chain.FILES)

    @override
    def commit_staged(self) -> bool:
        """Make this stream's links and retry list final.

        Called just before a STATE that moves a bookmark past the log file that referenced the
        attachments. Until then the STATE messages carry the head and the retry list of before
        the file: a run killed before its bookmark moves reads the file again from that head.
        """
        changed = self._pending_changed
        if changed:
            self.pending.save()
            self.sync_run.counts.attachments_pending_retry = len(self.pending)
            self._pending_changed = False
        if "chain" in self.__dict__:
            changed = self.chain.commit() or changed
        if changed:
            self.state_changed()
        return changed

    def retry_pending_attachments(self) -> None:
        """Retry what earlier runs could not archive; called by the tap before anything else.

        The records are written as ordinary ``files`` (and ``file_parts``) records; the STATE
        that drops an entry from the list comes after the record that settles it.
        """
        if not self.selected or not len(self.pending):
            return
        self.logger.info(
            "Retrying %d attachment(s) that earlier runs could not archive.", len(self.pending)
        )
        self.sync(context={RETRY_CONTEXT: True})


class FilesStream(AttachmentLedger):
    """One record per attachment id per run: archived bytes, or the reason they are missing."""

    name = "files"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = schemas.FILE

    _failure_index: int | None = None
    _open_spool: tuple[str, t.IO[bytes]] | None = None
    """The attachment whose file_parts records are being written, and its bytes."""

    def open_spool(self, context: Context | None) -> t.IO[bytes] | None:
        """Return the spooled bytes of ``context``'s attachment while its parts are written."""
        held = self._open_spool
        if held is None or not context or held[0] != context.get("file_id"):
            return None
        return held[1]

    @cached_property
    def _tally(self) -> NotArchived:
        """The attachments of this run left not archived, for the run's failure line."""
        return NotArchived()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Download each attachment of the file not yet handled in this run."""
        if context and context.get(RETRY_CONTEXT):
            yield from self._retry_pending()
            return
        log_file = self.log_file(context)
        if log_file is None:
            return
        pipeline = self.attachments
        key = segment_key(log_file)
        pipeline.plan(key, attachment_refs(log_file.messages))  # once, if not planned yet
        for ref, outcome in pipeline.results(key):
            record, spool = pipeline.archiver.finish(ref, outcome)
            yield from self._settle(ref, record, spool, log_file.id, refused=outcome.refused)

    def _retry_pending(self) -> Iterator[dict[str, t.Any]]:
        pipeline = self.attachments
        entries = {entry.id: entry for entry in self.pending.entries()}
        pipeline.plan(RETRY_CONTEXT, [entry.ref() for entry in entries.values()])
        for ref, outcome in pipeline.results(RETRY_CONTEXT):
            entry = entries[ref.file_id]
            record, spool = pipeline.archiver.finish(ref, outcome)
            yield from self._settle(
                ref,
                record,
                spool,
                entry.log_file_id,
                previous=entry,
                staged=False,
                refused=outcome.refused,
            )
            self.commit_staged()  # a retried attachment is not read again from a log file
            if self.pending.get(entry.id) is None:  # settled: it leaves the list at once
                self.write_state()

    def _settle(
        self,
        ref: AttachmentRef,
        record: dict[str, t.Any],
        spool: t.IO[bytes] | None,
        log_file_id: str | None,
        previous: Pending | None = None,
        *,
        staged: bool = True,
        refused: int | None = None,
    ) -> Iterator[dict[str, t.Any]]:
        """Write the record of one attempt, then update the retry list (in that order).

        ``staged``: the attempt belongs to a log file whose bookmark has not moved yet: the
        changes to the retry list are saved with the chain head, at the file's commit.
        ``refused``: the HTTP status with which the API refused the attachment's request (the
        run's last line names it).
        """
        run = self.sync_run
        pending = self.pending
        previous = previous or pending.get(ref.file_id)
        record["log_file_id"] = log_file_id
        if spool is not None and not self.tap.streams[FilePartsStream.name].selected:
            spool = parts_not_selected(record, spool, FilePartsStream.name)
            self._not_archived(record, "metadata_only")
        status = record["status"]
        now = self.transport.clock.now()  # the API's time, never this machine's (clock.py)
        emit = True
        if status in RETRYABLE:
            entry = pending.record_failure(ref, log_file_id, status, record["status_reason"], now)
            self._tally.name(record, refused)  # in the run's failure line, given up or not
            if now >= entry.retry_until:
                pending.remove(ref.file_id)
                record.update(status="gave_up", status_reason=_gave_up_reason(entry))
                self._not_archived(record, "gave_up")
            else:
                record["retry_until"] = entry.retry_until.isoformat(timespec="microseconds")
                suffix = f"; retried by later runs until {entry.retry_until.isoformat()}"
                self._not_archived(record, status, suffix)
                # A retry that fails the same way again adds nothing downstream.
                emit = previous is None or previous.status != status
            overflow = pending.overflow()
        else:
            if previous is not None:
                pending.remove(ref.file_id)
            overflow = []
            if status in ("archived", "metadata_only"):
                run.counts.attachments_archived += status == "archived"
            else:
                self._not_archived(record, status)
        run.attachment_statuses[record["status"]] += 1
        if emit:
            self.chain.link(record)
            yield from self._emit(record, spool)
        elif spool is not None:
            spool.close()
        yield from self._give_up(overflow)
        if overflow or previous is not None or status in RETRYABLE:
            self._retry_list_changed(staged=staged)

    def _give_up(self, overflow: list[Pending]) -> Iterator[dict[str, t.Any]]:
        """Write a gave_up record for each entry dropped to make room in the retry list."""
        for dropped in overflow:  # the oldest entries make room: they are given up, loudly
            gave_up = base_record(dropped.ref(), self.workspace_id)
            gave_up.update(
                log_file_id=dropped.log_file_id,
                status="gave_up",
                status_reason=_gave_up_reason(dropped, full=True),
            )
            self._not_archived(gave_up, "gave_up")
            self.sync_run.attachment_statuses["gave_up"] += 1
            self.chain.link(gave_up)
            yield gave_up

    def _retry_list_changed(self, *, staged: bool) -> None:
        """Save the retry list now, or at the file's commit when the attempt is ``staged``."""
        if staged:
            self._pending_changed = True
            return
        self.pending.save()
        self.sync_run.counts.attachments_pending_retry = len(self.pending)
        self.state_changed()

    def _emit(
        self, record: dict[str, t.Any], spool: t.IO[bytes] | None
    ) -> Iterator[dict[str, t.Any]]:
        if spool is None:
            content = record.get("content_base64")
            if isinstance(content, str):  # base64 needs no escaping: written as it is
                self._verbatim = (record, ("content_base64", ('"', content, '"')))
            try:
                yield record
            finally:
                self._verbatim = None
            return
        self._open_spool = (record["id"], spool)
        try:
            yield record  # its file_parts records are written before it
        finally:
            self._open_spool = None
            spool.close()

    def _not_archived(self, record: dict[str, t.Any], outcome: str, suffix: str = "") -> None:
        """Warn, keep a summary line, and fail the run at its end when it can be fixed."""
        run = self.sync_run
        run.counts.attachments_not_archived += 1
        line = (
            f"attachment {record['id']} of message {record['message_id']}: {record['status']} "
            f"({record['status_reason']}){suffix}"
        )
        if run.note_problem(line):  # the first few only: every one is in the files records
            self.logger.warning("Attachment not archived: %s", line)
        else:
            self.logger.debug("Attachment not archived: %s", line)
        if outcome not in RETRYABLE and outcome != "gave_up":
            return
        self._tally.outcomes[outcome] += 1
        message = self._tally.message()
        if self._failure_index is None:
            self._failure_index = len(run.failures)
            run.failures.append(message)
        else:
            run.failures[self._failure_index] = message

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """file_parts needs the file id only; the bytes stay in the run's spool."""
        return {
            "file_id": record["id"],
            "sha256": record["sha256"],
            "part_count": record["part_count"],
        }


def say_if_every_one_missing(run: SyncRun, logger: logging.Logger) -> None:
    """Fail the run, loudly, when every attachment it asked for is ``not_found``.

    One upload answering 404 is that file (recorded ``not_found``); every one of at least
    :data:`EVERY_ONE_MISSING` is the file route gone (as ``GET /conversations`` went in 2026)
    or a fault, never a run that succeeded (an id no URL can carry is ``not_found`` too: lost
    as well). Called once the streams are synced.
    """
    statuses = run.attachment_statuses
    asked = sum(statuses.values())
    if asked < EVERY_ONE_MISSING or statuses["not_found"] != asked:
        return
    msg = (
        f"Every attachment this run asked for answered 404 ({asked} attachments, not_found): "
        "the API's file route (users/{user_id}/files/{file_id}) looks gone, or a fault, not "
        "every upload deleted. They are recorded not_found (the files records); uploads last "
        "about 24 h: check the API's status now, and report it to OpenAI support if it persists."
    )
    run.fail_at_end(logger, msg)


@dataclass
class NotArchived:
    """What a run's attachments left not archived that fails the run: the failure line."""

    outcomes: Counter[str] = field(default_factory=Counter)
    """Statuses of the attempts that can clear (retried by later runs), and ``gave_up``."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(id, reason) of the attachments whose request the API refused (400, 422, …)."""
    ownerless: list[str] = field(default_factory=list)
    """Ids of the attachments no event names a user for (the upload route needs one)."""

    def name(self, record: dict[str, t.Any], refused: int | None) -> None:
        """Keep an attachment the failure line names: refused by the API, or with no user."""
        if refused is not None:
            self.refused.append((record["id"], record["status_reason"] or ""))
        elif not record["user_id"]:
            self.ownerless.append(record["id"])

    def message(self) -> str:
        """Return the run's failure line about its attachments."""
        parts = [self._refused_line()] if self.refused else []
        if self.ownerless:
            parts.append(self._ownerless_line())
        retrying = {s: n for s, n in sorted(self.outcomes.items()) if s in RETRYABLE and n}
        if retrying:
            by_status = ", ".join(f"{status}: {n}" for status, n in retrying.items())
            hours = int(RETRY_WINDOW.total_seconds() // 3600)
            parts.append(
                f"{sum(retrying.values())} attachment(s) could not be archived ({by_status}): "
                f"they are kept in the state and retried by every later run for up to {hours} h "
                "after their message; fix the cause (key scope, storage, network) before then"
            )
        if self.outcomes["gave_up"]:
            parts.append(
                f"{self.outcomes['gave_up']} attachment(s) gave up after the retry window or "
                "because the retry list was full: they are not archived"
            )
        return "; ".join(parts) + " (see 'Not archived' in the run summary)."

    def _ownerless_line(self) -> str:
        """Name the attachment (the first of several) no event names a user to ask for."""
        first = self.ownerless[0]
        which = (
            f"attachment {first}"
            if len(self.ownerless) == 1
            else f"{len(self.ownerless)} attachments (first: {first})"
        )
        return (
            f"{which} could not be downloaded: {NO_USER}; recorded failed and kept in the retry "
            "list (an upload lasts about 24 h): report the event to OpenAI support"
        )

    def _refused_line(self) -> str:
        """Name the attachment (the first of several) whose request the API refused."""
        file_id, reason = self.refused[0]
        which = (
            f"attachment {file_id}"
            if len(self.refused) == 1
            else f"{len(self.refused)} attachments (first: {file_id})"
        )
        return (
            f"the API refused the download of {which} ({reason[:300]}): recorded failed (or "
            "gave_up past its retry window), the rest of the archive went on; report it to "
            "OpenAI support if it persists"
        )


def _gave_up_reason(entry: Pending, *, full: bool = False) -> str:
    why = (
        f"the retry list is full (at most {MAX_PENDING} entries, the oldest go first)"
        if full
        else f"its retry window ended at {entry.retry_until.isoformat()}"
    )
    return (
        f"last try: {entry.status} ({entry.reason}); {entry.attempts} tries since "
        f"{entry.first_failed_at}; not retried any more: {why}"
    )


class FilePartsStream(OncePerRunSchema, ComplianceStream):
    """Inline content of attachments larger than max_inline_file_bytes, in consecutive parts."""

    name = "file_parts"
    parent_stream_type = FilesStream
    state_partitioning_keys: t.ClassVar[list[str]] = []
    primary_keys: t.ClassVar[list[str]] = ["file_id", "part_index"]
    schema: t.ClassVar[dict] = schemas.FILE_PART
    path = ""
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    @property
    def files_stream(self) -> FilesStream:
        """Return the parent stream, which holds the attachment being written."""
        return t.cast("FilesStream", self.tap.streams[FilesStream.name])

    @override
    def may_have_records(self, context: Context | None) -> bool:
        """Only an attachment whose bytes are spooled for parts has any."""
        return self.files_stream.open_spool(context) is not None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Cut the spooled attachment into base64 parts."""
        if not context or (spool := self.files_stream.open_spool(context)) is None:
            return
        file_id = context["file_id"]
        part_size = self.settings.max_inline_file_bytes
        try:
            for index, offset, size, content in _base64_parts(spool, part_size):
                record = {
                    "file_id": file_id,
                    "part_index": index,
                    "workspace_id": self.workspace_id,
                    "part_count": context["part_count"],
                    "offset": offset,
                    "size": size,
                    "sha256": context["sha256"],
                    "content_base64": content,
                }
                self._verbatim = (record, ("content_base64", ('"', content, '"')))
                yield record  # written before the generator resumes
                self._verbatim = None
                del record, content
        finally:
            self._verbatim = None


def _base64_parts(spool: t.IO[bytes], part_size: int) -> t.Iterator[tuple[int, int, int, str]]:
    """Yield (index, offset, size, base64 text) of consecutive parts, one part in memory."""
    for index, offset, chunk in iter_parts(spool, part_size):
        size = len(chunk)
        content = base64.b64encode(chunk).decode("ascii")
        del chunk
        yield index, offset, size, content
