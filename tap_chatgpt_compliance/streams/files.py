"""Attachments referenced by messages, downloaded in the same run (they expire after ~24 h)."""

from __future__ import annotations

import base64
import typing as t
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.attachments import AttachmentArchiver, AttachmentRef, iter_parts
from tap_chatgpt_compliance.client import ComplianceStream, OncePerRunSchema
from tap_chatgpt_compliance.settings import DEFAULT_MAX_INLINE_FILE_BYTES
from tap_chatgpt_compliance.streams.logs import LogFileChildStream, _as_dict

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class FilesStream(LogFileChildStream):
    """One record per attachment id per run: archived bytes, or the reason they are missing."""

    name = "files"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = schemas.FILE

    @cached_property
    def archiver(self) -> AttachmentArchiver:
        """Return the archiver configured by ``file_content``."""
        return AttachmentArchiver(self)

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Download each attachment of the file not yet handled in this run."""
        log_file = self.log_file(context)
        if log_file is None:
            return
        run = self.sync_run
        for ref in attachment_refs(log_file.events):
            if ref.file_id in run.handled_attachment_ids:
                continue
            run.handled_attachment_ids.add(ref.file_id)
            record, spool = self.archiver.archive(ref)
            record["log_file_id"] = log_file.id
            if record["status"] in ("archived", "metadata_only"):
                run.counts["attachments_archived"] += record["status"] == "archived"
            else:
                run.counts["attachments_not_archived"] += 1
                line = (
                    f"attachment {ref.file_id} of message {ref.message_id}: {record['status']} "
                    f"({record['status_reason']})"
                )
                self.logger.warning("Attachment not archived: %s", line)
                run.note_problem(line)
            if spool is None:
                yield record
                continue
            run.open_spools[ref.file_id] = spool
            try:
                yield record  # its file_parts records are written before it
            finally:
                run.open_spools.pop(ref.file_id, None)
                spool.close()

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """file_parts needs the file id only; the bytes stay in the run's spool."""
        return {
            "file_id": record["id"],
            "sha256": record["sha256"],
            "part_count": record["part_count"],
        }


class FilePartsStream(OncePerRunSchema, ComplianceStream):
    """Inline content of attachments larger than max_inline_file_bytes, in consecutive parts."""

    name = "file_parts"
    parent_stream_type = FilesStream
    state_partitioning_keys: t.ClassVar[list[str]] = []
    primary_keys: t.ClassVar[list[str]] = ["file_id", "part_index"]
    schema: t.ClassVar[dict] = schemas.FILE_PART
    path = ""
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Cut the spooled attachment into base64 parts."""
        if not context or (spool := self.sync_run.open_spools.get(context["file_id"])) is None:
            return
        file_id = context["file_id"]
        part_size = int(self.config.get("max_inline_file_bytes") or DEFAULT_MAX_INLINE_FILE_BYTES)
        for index, offset, chunk in iter_parts(spool, part_size):
            yield {
                "file_id": file_id,
                "part_index": index,
                "workspace_id": self.workspace_id,
                "part_count": context["part_count"],
                "offset": offset,
                "size": len(chunk),
                "sha256": context["sha256"],
                "content_base64": base64.b64encode(chunk).decode("ascii"),
            }


def attachment_refs(events: Iterable[dict[str, t.Any]]) -> Iterable[AttachmentRef]:
    """Yield every file a message of these events references."""
    for event in events:
        message = _as_dict(event.get("message"))
        files = message.get("files")
        if isinstance(files, dict):
            files = files.get("data")
        if not isinstance(files, list):
            continue
        actor = _as_dict(event.get("actor"))
        conversation = _as_dict(event.get("conversation"))
        for item in files:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            yield AttachmentRef(
                file_id=str(item["id"]),
                user_id=actor.get("user_id"),
                conversation_id=conversation.get("id"),
                message_id=message.get("id"),
                event_id=event.get("event_id"),
                name=item.get("name"),
                mime_type=item.get("mime_type"),
            )
