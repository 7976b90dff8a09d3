"""Keep every downloaded log file's bytes exactly as OpenAI delivered them (issue #11).

Where they go follows ``file_content``, like attachment bytes:

- ``storage``: the content store (``<file_storage_url>/sha256/<aa>/<sha256>``, addressed by the
  file's SHA-256, which is OpenAI's ``file_sha256``), written atomically and read back
  (:class:`~tap_chatgpt_compliance.attachments.archive.ContentStore`) on the download thread, before
  the file is parsed;
- ``inline``: ``log_file_parts`` records (base64, ``max_inline_file_bytes`` a part), written
  before the file's manifest record, their bytes hashed as they are encoded;
- ``none``: not kept (``verify`` then says it cannot prove byte-exactness).

The manifest record says the raw file is kept (``raw_content``) only once its bytes are
verifiably stored: a storage failure, or parts that do not hash to the file's SHA-256, fail the
run before the manifest record and the bookmark are written.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_chatgpt_compliance.attachments.archive import ContentStore, StorageError
from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.storage_faults import storage_fix

if t.TYPE_CHECKING:
    from tap_chatgpt_compliance.logfiles.logfile import LogFile
    from tap_chatgpt_compliance.settings import Settings

STREAM = "log_file_parts"
STORAGE, INLINE, NONE = "storage", "inline", "none"

LOG_FILE_PART = th.PropertiesList(
    th.Property("log_file_id", th.StringType, required=True),
    th.Property("part_index", th.IntegerType, required=True, description="0-based."),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("event_type", th.StringType),
    th.Property("part_count", th.IntegerType),
    th.Property("offset", th.IntegerType, description="Byte offset of the part in the file."),
    th.Property("size", th.IntegerType),
    th.Property(
        "sha256", th.StringType, description="SHA-256 of the whole log file (not of the part)."
    ),
    th.Property(
        "content_base64",
        th.CustomType({"type": ["string"], "contentEncoding": "base64"}),
        description="The part's bytes, exactly as delivered.",
    ),
).to_dict()


class RawLogKeeper:
    """Keep the raw bytes of each log file where ``file_content`` says (see the module)."""

    def __init__(self, settings: Settings, inline_selected: bool) -> None:
        """Follow ``file_content``; inline needs the log_file_parts stream selected."""
        mode = settings.file_content
        if mode == INLINE and not inline_selected:
            mode = NONE
        self.mode = mode
        self.part_bytes = settings.max_inline_file_bytes
        self.store = (
            ContentStore(str(settings.file_storage_url), settings.file_storage_options)
            if mode == STORAGE
            else None
        )

    def keep(self, log_file: LogFile) -> None:
        """Store a verified file's bytes (storage), or keep them open for their parts (inline).

        Runs on the download thread, before the file is parsed; the body is rewound after.
        """
        body = log_file.body
        if body is None:
            return
        if self.store is not None:
            try:
                stored = self.store.put(log_file.sha256, log_file.size, body)
            except StorageError as exc:
                body.close()
                msg = (
                    f"Log file {log_file.id}: its raw bytes could not be archived ({exc}); "
                    "stopping without advancing state past it. "
                    f"{storage_fix(exc, 'file_storage_url')}"
                )
                raise ComplianceAPIError(msg) from exc
            body.seek(0)
            log_file.raw_storage_uri = stored.uri
        elif self.mode == INLINE:
            log_file.raw = body

    def part_count(self, log_file: LogFile) -> int:
        """Return the number of parts of a file kept inline."""
        return -(-log_file.size // self.part_bytes)

    def manifest_fields(self, log_file: LogFile) -> dict[str, t.Any]:
        """Return the manifest's raw_content, raw_storage_uri and raw_part_count."""
        if log_file.raw_storage_uri:
            return {
                "raw_content": STORAGE,
                "raw_storage_uri": log_file.raw_storage_uri,
                "raw_part_count": None,
            }
        if self.mode == INLINE and log_file.raw is not None:
            return {
                "raw_content": INLINE,
                "raw_storage_uri": None,
                "raw_part_count": self.part_count(log_file),
            }
        return {"raw_content": NONE, "raw_storage_uri": None, "raw_part_count": None}
