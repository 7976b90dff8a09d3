"""Attachments referenced by messages, downloaded in the same run (they expire after ~24 h)."""

from __future__ import annotations

import typing as t
from functools import cached_property

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.attachments import AttachmentArchiver, AttachmentRef
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
            record = self.archiver.archive(ref)
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
            yield record


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
