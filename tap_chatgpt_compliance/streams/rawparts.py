"""Raw log file bytes in base64 parts (``file_content: inline``; see :mod:`rawlogs`)."""

from __future__ import annotations

import base64
import hashlib
import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatgpt_compliance.attachments.archive import iter_parts
from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.logfiles.rawlogs import LOG_FILE_PART, STREAM
from tap_chatgpt_compliance.sdk import override
from tap_chatgpt_compliance.streams.logs import LogFileChildStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

    from tap_chatgpt_compliance.logfiles.logfile import Segment


class LogFilePartsStream(LogFileChildStream):
    """The raw bytes of each log file in consecutive base64 parts (``file_content: inline``).

    Written with the file's last segment, before its manifest record; the parts are hashed as
    they are encoded and must give the file's SHA-256, else the run fails there.
    """

    name = STREAM
    primary_keys: t.ClassVar[list[str]] = ["log_file_id", "part_index"]
    schema: t.ClassVar[dict] = LOG_FILE_PART
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def log_file(self, context: Context | None) -> Segment | None:
        """Return the parent's file at its last segment, when its raw bytes are kept inline."""
        segment = self.open_segment(context)
        if segment is None or not segment.last or segment.log_file.raw is None:
            return None
        return segment

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield the file's parts, then check they hash to the file's SHA-256."""
        segment = self.log_file(context)
        if segment is None:
            return
        log_file = segment.log_file
        raw = log_file.raw
        if raw is None:
            return
        part_bytes = self.settings.max_inline_file_bytes
        count = -(-log_file.size // part_bytes)
        digest = hashlib.sha256()
        total = 0
        try:
            for index, offset, chunk in iter_parts(raw, part_bytes):
                digest.update(chunk)
                total += len(chunk)
                content = base64.b64encode(chunk).decode("ascii")
                record = {
                    "log_file_id": log_file.id,
                    "part_index": index,
                    "workspace_id": self.workspace_id,
                    "event_type": log_file.event_type,
                    "part_count": count,
                    "offset": offset,
                    "size": len(chunk),
                    "sha256": log_file.sha256,
                    "content_base64": content,
                }
                self._verbatim = (record, ("content_base64", ('"', content, '"')))
                yield record
                self._verbatim = None
        finally:
            self._verbatim = None
        if total != log_file.size or digest.hexdigest() != log_file.sha256:
            msg = (
                f"Log file {log_file.id}: its raw parts ({total} bytes, SHA-256 "
                f"{digest.hexdigest()}) do not match the download ({log_file.size} bytes, "
                f"{log_file.sha256}); stopping without advancing state past it."
            )
            raise ComplianceAPIError(msg)
