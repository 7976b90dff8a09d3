"""Download chat attachments and archive their bytes inline or in fsspec storage."""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import tempfile
import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

import fsspec

from tap_chatgpt_compliance.downloads import Unavailable, download
from tap_chatgpt_compliance.settings import DEFAULT_MAX_INLINE_FILE_BYTES

if t.TYPE_CHECKING:
    import requests

    from tap_chatgpt_compliance.client import ComplianceStream

LOGGER = logging.getLogger(__name__)
CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
STATUS_BY_HTTP = {410: "expired", 404: "not_found", 403: "forbidden"}


@dataclass
class AttachmentRef:
    """Where a message references a file."""

    file_id: str
    user_id: str | None
    conversation_id: str | None
    message_id: str | None
    event_id: str | None
    name: str | None
    mime_type: str | None


@dataclass
class Fetched:
    """What a download produced."""

    sha256: str
    size: int
    mime_type: str | None
    content: bytes | None = None
    """Inline mode: the whole content when it fits one record."""
    spool: t.IO[bytes] | None = None
    """Inline mode: the content of a larger file, to be cut into file_parts records."""
    storage_uri: str | None = None
    too_large: bool = False


class ContentStore:
    """Content-addressed object storage on any fsspec URL (``<root>/sha256/<aa>/<hex>``)."""

    def __init__(self, url: str, options: dict[str, t.Any] | None = None) -> None:
        """Open the filesystem of ``url`` with the given fsspec options."""
        self.url = url.rstrip("/")
        self._options = dict(options or {})

    @cached_property
    def _fs_and_root(self) -> tuple[t.Any, str]:
        fs, root = fsspec.core.url_to_fs(self.url, **self._options)
        return fs, root.rstrip("/")

    def uri_for(self, sha256: str) -> str:
        """Return the URI of the object holding content with this digest."""
        return f"{self.url}/sha256/{sha256[:2]}/{sha256}"

    def put(self, sha256: str, spool: t.IO[bytes]) -> str:
        """Write the spooled bytes unless an object with this digest already exists."""
        fs, root = self._fs_and_root
        path = f"{root}/sha256/{sha256[:2]}/{sha256}"
        if not fs.exists(path):
            parent = path.rsplit("/", 1)[0]
            fs.makedirs(parent, exist_ok=True)
            spool.seek(0)
            with fs.open(path, "wb") as target:
                shutil.copyfileobj(spool, target, CHUNK)
        return self.uri_for(sha256)


class AttachmentArchiver:
    """Fetch one attachment per call, following the ``file_content`` setting."""

    def __init__(self, stream: ComplianceStream) -> None:
        """Read the archiving settings of the stream's tap."""
        config = stream.config
        self.stream = stream
        self.mode = str(config.get("file_content") or "inline")
        self.max_inline = int(config.get("max_inline_file_bytes") or DEFAULT_MAX_INLINE_FILE_BYTES)
        self.max_file = int(config.get("max_file_bytes") or 0)
        self.store = (
            ContentStore(str(config["file_storage_url"]), config.get("file_storage_options"))
            if self.mode == "storage"
            else None
        )

    def archive(self, ref: AttachmentRef) -> tuple[dict[str, t.Any], t.IO[bytes] | None]:
        """Return the ``files`` record of one attachment, and a spool of its parts if any.

        Failures become a status with a reason, never a gap. The caller closes the spool.
        """
        record: dict[str, t.Any] = {
            "id": ref.file_id,
            "workspace_id": self.stream.workspace_id,
            "conversation_id": ref.conversation_id,
            "message_id": ref.message_id,
            "user_id": ref.user_id,
            "name": ref.name,
            "mime_type": ref.mime_type,
            "size": None,
            "sha256": None,
            "status": None,
            "status_reason": None,
            "archived_at": None,
            "storage_uri": None,
            "content_base64": None,
            "part_count": None,
            "event_id": ref.event_id,
        }
        if self.mode == "none":
            record.update(status="metadata_only", status_reason="file_content is 'none'")
            return record, None
        if not ref.user_id:
            record.update(status="not_found", status_reason="the event names no user to ask")
            return record, None
        workspace = f"/compliance/workspaces/{self.stream.workspace_id}"
        path = f"{workspace}/users/{ref.user_id}/files/{ref.file_id}"
        params = {"conversation_id": ref.conversation_id} if ref.conversation_id else None
        try:
            fetched = download(self.stream, path, self._consume, params)
        except Unavailable as exc:
            status = STATUS_BY_HTTP.get(exc.status, "not_found")
            record.update(status=status, status_reason=f"HTTP {exc.status}: {exc.detail}")
            return record, None
        record.update(
            size=fetched.size,
            sha256=fetched.sha256,
            mime_type=fetched.mime_type or ref.mime_type,
        )
        if fetched.too_large:
            record.update(
                status="too_large",
                status_reason=(
                    f"{fetched.size} bytes exceed max_file_bytes={self.max_file}; raise or unset "
                    "max_file_bytes to archive it"
                ),
            )
            return record, None
        record.update(
            status="archived",
            archived_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            storage_uri=fetched.storage_uri,
        )
        if fetched.content is not None:
            record["content_base64"] = base64.b64encode(fetched.content).decode("ascii")
        if fetched.spool is not None:
            record["part_count"] = -(-fetched.size // self.max_inline)
        return record, fetched.spool

    def _consume(self, response: requests.Response) -> Fetched:
        """Stream the body once: hash it, and keep it inline, spooled, or in storage."""
        digest = hashlib.sha256()
        size = 0
        mime_type = (response.headers.get("Content-Type") or "").split(";")[0].strip() or None
        spool: t.IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            for chunk in response.iter_content(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if not (self.max_file and size > self.max_file):  # past the cap: only hash
                    spool.write(chunk)
            sha256 = digest.hexdigest()
            if self.max_file and size > self.max_file:
                spool.close()
                return Fetched(sha256, size, mime_type, too_large=True)
            if self.store is not None:
                uri = self.store.put(sha256, spool)
                spool.close()
                return Fetched(sha256, size, mime_type, storage_uri=uri)
            spool.seek(0)
            if size <= self.max_inline:
                content = spool.read()
                spool.close()
                return Fetched(sha256, size, mime_type, content=content)
            return Fetched(sha256, size, mime_type, spool=spool)
        except BaseException:
            spool.close()
            raise


def iter_parts(spool: t.IO[bytes], part_size: int) -> t.Iterator[tuple[int, int, bytes]]:
    """Yield (index, offset, bytes) for consecutive parts of the spooled content."""
    spool.seek(0)
    index = offset = 0
    while chunk := spool.read(part_size):
        yield index, offset, chunk
        index += 1
        offset += len(chunk)
