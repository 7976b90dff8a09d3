"""Download chat attachments and archive their bytes inline or in fsspec storage."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
import queue
import tempfile
import threading
import typing as t
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import fsspec
import requests
from fsspec.implementations.local import LocalFileSystem
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.errors import shown_host
from tap_chatgpt_compliance.http.transport import (
    BadPathSegment,
    Refused,
    Unavailable,
    path_segment,
    url_text,
)
from tap_chatgpt_compliance.run.sync import RunCounts

if t.TYPE_CHECKING:
    from tap_chatgpt_compliance.http.transport import Transport
    from tap_chatgpt_compliance.settings import Settings

LOGGER = logging.getLogger(__name__)
CHUNK = 1024 * 1024
BLOCK = 8 * 1024 * 1024
"""Block size of the store's files: the parts of an object store's multipart upload (8 MiB:
objects up to 80 GiB in 10,000 parts) and its ranged reads; fsspec's S3 default of 50 MiB
costs ~120 MB more memory per object in flight. (moto copies the whole object for each ranged
read: there a read-back in 8 MiB ranges is about 2x slower than in 50 MiB ones.)"""
SPOOL_IN_MEMORY = 256 * 1024
"""A downloaded attachment stays in memory up to this size, then goes to a temporary file: the
attachments fetched ahead of the records hold little memory."""
NO_USER = (
    "no user to ask for it (the upload route needs its owner's user id): neither the file, "
    "the event's actor, its conversation nor another message of the conversation near it in "
    "its log file names one"
)
"""Why an attachment whose owner no source names is not archived (recorded ``failed``)."""
STATUS_BY_HTTP = {410: "expired", 404: "not_found", 403: "forbidden"}
FAILED = "failed"
"""Status of an attempt that failed after every retry (5xx, timeouts, network) or in storage."""
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetriableAPIError,
    requests.exceptions.RequestException,
    ConnectionError,
)
"""What ``download`` raises once its retries are spent on an error that can clear."""
FAILURES_BEFORE_PAUSE = 3
"""After this many attachments in a row failed (retries spent, or storage), a run stops trying."""

OBJECT_STORE_PROTOCOLS = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "oci", "cos", "tos"}
)
"""Stores where an object appears only once its upload completes (one PUT, or the completion of
a multipart/resumable upload): objects are written in place. Elsewhere (local folders, SFTP, …)
they are written under PARTIAL_DIR and renamed into place."""
PARTIAL_DIR = ".partial"
STALE_PARTIAL_SECONDS = 3600
"""A partial file untouched this long belongs to a run that died: it is deleted."""


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
    event_time: str | None = None
    """Timestamp of the referencing event (≈ upload time): starts the retry window."""


@dataclass
class Fetched:
    """What a download produced."""

    sha256: str
    size: int
    mime_type: str | None
    spool: t.IO[bytes] | None = None
    """The content (until it is stored, or written to records)."""
    too_large: bool = False
    partial: PartialObject | None = None
    """The content already written to the store's partial file (local folders), to commit."""


class StorageError(Exception):
    """An object could not be written to the store, or did not read back as written."""


@dataclass
class Stored:
    """The outcome of :meth:`ContentStore.put`."""

    uri: str
    written: bool
    """False when a sound object with this digest was already there (it was re-hashed)."""
    repaired: str | None = None
    """What was wrong with the object found at the path before it was rewritten."""


class ContentStore:
    """Content-addressed object storage on any fsspec URL (``<root>/sha256/<aa>/<hex>``).

    An object is never visible at its path before all its bytes are there: object stores get
    one upload whose completion is atomic; other file systems get a file written under
    ``<root>/.partial/`` and renamed into place. An object already at the path is kept only if
    its size and SHA-256 match; after a write the object is read back and verified.
    """

    def __init__(self, url: str, options: dict[str, t.Any] | None = None) -> None:
        """Open the filesystem of ``url`` with the given fsspec options."""
        self.url = url.rstrip("/")
        self._options = dict(options or {})
        self._partials_swept = False

    @cached_property
    def _fs_and_root(self) -> tuple[t.Any, str]:
        fs, root = fsspec.core.url_to_fs(self.url, **self._options)
        return fs, root.rstrip("/")

    @property
    def writes_in_place(self) -> bool:
        """True for object stores, where an upload becomes visible only once complete."""
        fs, _ = self._fs_and_root
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        return bool(OBJECT_STORE_PROTOCOLS & set(protocols))

    @property
    def streams_to_disk(self) -> bool:
        """True for a local folder: a download is written straight into its partial file."""
        fs, _ = self._fs_and_root
        return isinstance(fs, LocalFileSystem) and not self.writes_in_place

    def open_partial(self) -> PartialObject:
        """Open a new partial file to write a download into (``streams_to_disk`` stores)."""
        fs, root = self._fs_and_root
        partial_dir = f"{root}/{PARTIAL_DIR}"
        try:
            if not self._partials_swept:
                self._partials_swept = True
                self._sweep_partials(fs, partial_dir)
            Path(partial_dir).mkdir(parents=True, exist_ok=True)
            return PartialObject(self, root, partial_dir)
        except OSError as exc:
            raise StorageError(_os_error(f"cannot write in {self.url}/{PARTIAL_DIR}", exc)) from exc

    def uri_for(self, sha256: str) -> str:
        """Return the URI of the object holding content with this digest."""
        return f"{self.url}/sha256/{sha256[:2]}/{sha256}"

    def put(self, sha256: str, size: int, spool: t.IO[bytes]) -> Stored:
        """Store the spooled bytes under their digest, unless a sound copy is already there.

        Raises StorageError when the object cannot be written, or does not read back as
        ``size`` bytes hashing to ``sha256``: nothing unverified is ever reported as stored.
        """
        uri = self.uri_for(sha256)
        try:
            return self._put(sha256, size, spool, uri)
        except StorageError:
            raise
        except Exception as exc:  # any error of any fsspec backend
            msg = f"cannot write {uri}: {type(exc).__name__}: {exc}"
            raise StorageError(" ".join(msg.split())) from exc

    def _put(self, sha256: str, size: int, spool: t.IO[bytes], uri: str) -> Stored:
        fs, root = self._fs_and_root
        path = f"{root}/sha256/{sha256[:2]}/{sha256}"
        problem = self._check(fs, path, size, sha256)
        if problem is None:
            return Stored(uri, written=False)
        if self.writes_in_place:
            self._write_in_place(fs, path, spool, sha256, size)
        else:
            self._write_and_rename(fs, root, path, sha256, size, spool)
        after = self._check(fs, path, size, sha256)
        if after is not None:
            msg = f"the object written at {uri} does not match its digest: {after}"
            raise StorageError(msg)
        return Stored(uri, written=True, repaired=None if problem == _MISSING else problem)

    @staticmethod
    def _check(fs: t.Any, path: str, size: int, sha256: str) -> str | None:
        """Return None if the object at ``path`` is sound, else what is wrong with it."""
        with contextlib.suppress(Exception):
            fs.invalidate_cache(path)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return _MISSING
        if info.get("type") != "file":
            return f"a {info.get('type') or 'non-file'} is in its place"
        if info.get("size") != size:
            return f"it holds {info.get('size')} bytes, not {size}"
        digest = hashlib.sha256()
        with fs.open(path, "rb", block_size=BLOCK) as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        found = digest.hexdigest()
        return None if found == sha256 else f"its bytes hash to {found}"

    @staticmethod
    def _write_in_place(fs: t.Any, path: str, spool: t.IO[bytes], sha256: str, size: int) -> None:
        """Upload to an object store: the object appears when the upload completes, or never."""
        target = fs.open(path, "wb", block_size=BLOCK)
        try:
            _copy_verified(spool, target, sha256, size)
        except BaseException:
            with contextlib.suppress(Exception):
                target.discard()  # abort the multipart upload
            with contextlib.suppress(Exception):
                target.closed = True  # so that closing never completes a partial upload
            raise
        target.close()

    def _write_and_rename(
        self, fs: t.Any, root: str, path: str, sha256: str, size: int, spool: t.IO[bytes]
    ) -> None:
        """Write under PARTIAL_DIR, then rename into place (atomic on one file system)."""
        partial_dir = f"{root}/{PARTIAL_DIR}"
        if not self._partials_swept:
            self._partials_swept = True
            self._sweep_partials(fs, partial_dir)
        partial = f"{partial_dir}/{sha256}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        parent = path.rsplit("/", 1)[0]
        local = isinstance(fs, LocalFileSystem)
        try:
            if local:
                Path(partial_dir).mkdir(parents=True, exist_ok=True)
                with Path(partial).open("wb") as target:
                    _copy_verified(spool, target, sha256, size)
                    target.flush()
                    os.fsync(target.fileno())  # the bytes are on disk before the name is
                Path(parent).mkdir(parents=True, exist_ok=True)
                Path(partial).replace(path)
                _fsync_dir(parent)
            else:
                fs.makedirs(partial_dir, exist_ok=True)
                with fs.open(partial, "wb") as target:
                    _copy_verified(spool, target, sha256, size)
                fs.makedirs(parent, exist_ok=True)
                fs.mv(partial, path)
        except BaseException:
            with contextlib.suppress(Exception):
                if local:
                    Path(partial).unlink()
                else:
                    fs.rm_file(partial)
            raise

    def _sweep_partials(self, fs: t.Any, partial_dir: str) -> None:
        """Delete partial files left by runs that were killed while writing."""
        try:
            listing = fs.ls(partial_dir, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return
        except Exception as exc:  # never fail a run over housekeeping
            LOGGER.warning("Cannot list %s/%s: %s", self.url, PARTIAL_DIR, exc)
            return
        now = storage_now(fs, partial_dir, self.url)
        if now is None:
            return
        cutoff = now - STALE_PARTIAL_SECONDS
        removed = 0
        for info in listing:
            mtime = info.get("mtime")
            if info.get("type") != "file" or not isinstance(mtime, (int, float)):
                continue
            if f".{os.getpid()}." in str(info["name"]).rsplit("/", 1)[-1]:
                continue  # this process's own partial file, being written
            if mtime < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(info["name"])
                    removed += 1
        if removed:
            LOGGER.warning(
                "Removed %d partial file(s) left in %s/%s by interrupted runs (never visible as "
                "archived objects).",
                removed,
                self.url,
                PARTIAL_DIR,
            )


def storage_now(fs: t.Any, partial_dir: str, url: str) -> float | None:
    """Return the storage's own time (a probe file's mtime), None when it gives none.

    Partial files are judged stale by the storage's clock, not this machine's: a machine
    whose clock runs an hour ahead of a remote file system's (or a test's skewed clock)
    took every live partial file for a dead run's, its own included.
    """
    probe = f"{partial_dir}/.clock.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    try:
        fs.pipe_file(probe, b"")
        mtime = fs.info(probe).get("mtime")
    except Exception as exc:  # never fail a run over housekeeping
        LOGGER.warning("Cannot probe the time of %s/%s: %s", url, PARTIAL_DIR, exc)
        return None
    finally:
        with contextlib.suppress(Exception):
            fs.rm_file(probe)
    return float(mtime) if isinstance(mtime, (int, float)) else None


_MISSING = "missing"
SYNC_EVERY = 16 * 1024 * 1024
"""A partial file being written is flushed to disk (fdatasync, on a thread of its own) each
time this many more bytes were written: the disk works while the download goes on, and the
fsync before the rename has only the last few MiB left to write."""


class PartialObject:
    """A download written straight into ``<root>/.partial/`` of a local folder, then committed.

    Single pass: the bytes handed to :meth:`write` are the ones hashed by the caller and
    written once. Past :data:`SYNC_EVERY` bytes they are written by a thread of their own
    (at most WRITE_QUEUE chunks behind, so the next chunk is received and hashed meanwhile), and
    another flushes the written bytes to disk while more arrive (and drops them from the page
    cache). :meth:`commit` fsyncs the rest, then renames the file to its content-addressed
    path, unless a sound object is already there; :meth:`abort` removes it. Errors of the disk
    raise :class:`StorageError`.
    """

    def __init__(self, store: ContentStore, root: str, partial_dir: str) -> None:
        """Create the partial file (exclusively) under ``partial_dir``."""
        self.store = store
        self.root = root
        self.path = f"{partial_dir}/download.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        self.fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644
        )
        self.size = 0
        self._syncer: _Syncer | None = None
        self._writer: _Writer | None = None

    def write(self, data: bytes) -> None:
        """Append ``data`` (all of it; past SYNC_EVERY bytes, on the writing thread)."""
        fd = self.fd
        if fd is None:
            msg = "the partial file is closed"
            raise StorageError(msg)
        try:
            if self._writer is not None:
                self._writer.put(data)
            elif self.size + len(data) < SYNC_EVERY:
                _write_all(fd, data)
            else:
                self._syncer = _Syncer(fd)
                self._writer = _Writer(fd, self.size, self._syncer.wrote)
                self._writer.put(data)
        except OSError as exc:
            raise StorageError(_os_error(f"cannot write {self.path}", exc)) from exc
        self.size += len(data)

    def abort(self) -> None:
        """Close and remove the partial file (never raises)."""
        with contextlib.suppress(Exception):
            self._close()
        with contextlib.suppress(OSError):
            Path(self.path).unlink()

    def commit(self, sha256: str, size: int) -> Stored:
        """Make the bytes durable and visible at their content-addressed path.

        ``sha256`` and ``size`` are those of the bytes handed to :meth:`write`. Raises
        StorageError if they cannot be made durable, or if the path does not then hold this
        very file with ``size`` bytes: nothing unverified is ever reported as stored.
        """
        uri = self.store.uri_for(sha256)
        path = f"{self.root}/sha256/{sha256[:2]}/{sha256}"
        try:
            return self._commit(sha256, size, uri, path)
        except StorageError:
            self.abort()
            raise
        except Exception as exc:
            self.abort()
            raise StorageError(_os_error(f"cannot write {uri}", exc)) from exc

    def _commit(self, sha256: str, size: int, uri: str, path: str) -> Stored:
        fd = self.fd
        if fd is None or self.size != size:
            msg = f"the partial file of {uri} does not hold the {size} bytes downloaded"
            raise StorageError(msg)
        if self._writer is not None:
            self._writer.finish()
        if self._syncer is not None:
            self._syncer.finish()
        os.fsync(fd)  # the bytes are on disk before the name is
        written = os.fstat(fd)
        self._close()
        if written.st_size != size:
            msg = f"the partial file of {uri} holds {written.st_size} bytes, not {size}"
            raise StorageError(msg)
        fs, _ = self.store._fs_and_root
        problem = ContentStore._check(fs, path, size, sha256)
        if problem is None:  # a sound copy is already there: keep it as it is
            Path(self.path).unlink()
            return Stored(uri, written=False)
        parent = path.rsplit("/", 1)[0]
        Path(parent).mkdir(parents=True, exist_ok=True)
        Path(self.path).replace(path)
        _fsync_dir(parent)
        placed = Path(path).stat()
        if (placed.st_dev, placed.st_ino, placed.st_size) != (
            written.st_dev,
            written.st_ino,
            size,
        ):
            msg = f"the object at {uri} is not the file just written"
            raise StorageError(msg)
        return Stored(uri, written=True, repaired=None if problem == _MISSING else problem)

    def _close(self) -> None:
        fd, self.fd = self.fd, None
        try:
            if self._writer is not None:
                self._writer.stop()
            if self._syncer is not None:
                self._syncer.stop()
        finally:
            if fd is not None:
                os.close(fd)


WRITE_QUEUE = 4
"""Chunks (of CHUNK bytes) received and hashed ahead of the writing thread at most."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Writer:
    """Writes a file's chunks on a thread of its own, in order, at most WRITE_QUEUE behind."""

    def __init__(self, fd: int, offset: int, wrote: t.Callable[[int], None]) -> None:
        self.fd = fd
        self.written = offset
        self.wrote = wrote
        self.error: OSError | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(WRITE_QUEUE)
        self._thread = threading.Thread(target=self._run, name="tap-attachment-write", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        """Queue ``data``; raise the error a write met, if any."""
        if self.error is not None:
            raise self.error
        self._queue.put(data)

    def finish(self) -> None:
        """Wait until every chunk is written; raise the error a write met, if any."""
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Let the thread write what is queued, and end."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drained: put() and finish() raise the error
            try:
                _write_all(self.fd, data)
                self.written += len(data)
                self.wrote(self.written)
            except OSError as exc:
                self.error = exc
            except Exception as exc:  # never die with chunks queued: put() would block
                self.error = OSError(errno.EIO, f"{type(exc).__name__}: {exc}")


class _Syncer:
    """Flushes a file's written bytes to disk on a thread of its own while more are written."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0
        self.synced = 0
        self.error: OSError | None = None
        self._stop = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="tap-attachment-sync", daemon=True)
        self._thread.start()

    def wrote(self, total: int) -> None:
        """Note that ``total`` bytes are written; wake the thread every SYNC_EVERY bytes."""
        with self._wake:
            self.written = total
            if total - self.synced >= SYNC_EVERY:
                self._wake.notify()

    def finish(self) -> None:
        """Stop the thread; raise the error a flush met, if any."""
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Stop the thread (after its flush in progress)."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stop and self.written - self.synced < SYNC_EVERY:
                    self._wake.wait()
                if self._stop:
                    return
                upto = self.written
            try:
                os.fdatasync(self.fd)
            except OSError as exc:  # raised by finish(), before the rename
                self.error = exc
                return
            with contextlib.suppress(OSError, AttributeError):  # clean now: leave the cache
                os.posix_fadvise(self.fd, 0, upto, os.POSIX_FADV_DONTNEED)
            with self._wake:
                self.synced = upto


def _os_error(what: str, exc: BaseException) -> str:
    """One line: what failed, with the errno's name when there is one."""
    if isinstance(exc, OSError) and exc.errno:
        code = errno.errorcode.get(exc.errno, str(exc.errno))
        text = f"{what}: {code} ({exc.strerror or exc})"
    else:
        text = f"{what}: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _copy_verified(spool: t.IO[bytes], target: t.IO[bytes], sha256: str, size: int) -> None:
    """Copy the spool to ``target``; raise before it is placed if it is not the expected bytes."""
    spool.seek(0)
    digest = hashlib.sha256()
    copied = 0
    while chunk := spool.read(CHUNK):
        digest.update(chunk)
        copied += len(chunk)
        target.write(chunk)
    if copied != size or digest.hexdigest() != sha256:
        msg = (
            f"the bytes to store ({copied} bytes, SHA-256 {digest.hexdigest()}) do not match "
            f"the download ({size} bytes, {sha256}); nothing was stored"
        )
        raise StorageError(msg)


def _fsync_dir(path: str) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def attachment_path(workspace_id: str, ref: AttachmentRef) -> str:
    """Return the API path of an attachment; raise BadPathSegment when there is none."""
    if not ref.user_id:
        raise BadPathSegment(NO_USER)
    user, file = path_segment(ref.user_id), path_segment(ref.file_id)
    return f"/compliance/workspaces/{workspace_id}/users/{user}/files/{file}"


def parts_not_selected(
    record: dict[str, t.Any], spool: t.IO[bytes], parts_stream: str
) -> t.IO[bytes] | None:
    """Drop bytes only the deselected ``parts_stream`` would carry; return no spool.

    The record says ``metadata_only``, never ``archived`` without its bytes in the output (its
    size and SHA-256 stay: they were computed from the download).
    """
    spool.close()
    record.update(
        status="metadata_only",
        archived_at=None,
        part_count=None,
        status_reason=(
            f"{record['size']} bytes are more than max_inline_file_bytes and the stream "
            f"{parts_stream} is not selected: select it (or use file_content 'storage') to "
            "archive the bytes"
        ),
    )
    return None


def base_record(ref: AttachmentRef, workspace_id: str) -> dict[str, t.Any]:
    """Return the ``files`` record of an attachment before any download."""
    return {
        "id": ref.file_id,
        "workspace_id": workspace_id,
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
        "retry_until": None,
        "event_id": ref.event_id,
    }


@dataclass
class Outcome:
    """What fetching one attachment gave (any thread); the record is built from it later."""

    status: str | None = None
    """None when the bytes were fetched (and stored); else the status of the record."""
    reason: str | None = None
    fetched: Fetched | None = None
    stored: Stored | None = None
    streak: str | None = None
    """``fail`` for a failure that can clear (retries spent, storage), ``reset`` for an answer of
    the API (even 404/410): what it does to the count of failures in a row (see _failed)."""
    refused: int | None = None
    """The HTTP status with which the API refused this object's request (400, 422, …): no
    retry in this run changes it, but a later run may get the object (status ``failed``)."""

    def close(self) -> None:
        """Release the spooled bytes, if any."""
        if self.fetched is not None and self.fetched.spool is not None:
            self.fetched.spool.close()


class AttachmentArchiver:
    """Fetch attachments following the ``file_content`` setting, and build their records.

    :meth:`fetch` (download, hash, spool, store) is safe to run on several threads at once;
    :meth:`finish` (the record) runs on the thread that writes records, in reference order.
    """

    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        logger: logging.Logger,
        counts: RunCounts | None = None,
    ) -> None:
        """Keep the archiving settings of the run (``counts``: the run's counters)."""
        self.settings = settings
        self.counts = RunCounts() if counts is None else counts
        self.transport = transport
        self.logger = logger
        self.workspace_id = settings.workspace_id
        self.mode = settings.file_content
        self.max_inline = settings.max_inline_file_bytes
        self.max_file = settings.max_file_bytes
        self.store = (
            ContentStore(str(settings.file_storage_url), settings.file_storage_options)
            if self.mode == "storage"
            else None
        )
        self.closing = False
        """Set at the end of a run: downloads not started are not started, running ones stop."""
        self._failures_in_a_row = 0
        self._paused_because: str | None = None

    @property
    def downloads(self) -> bool:
        """Whether attachments are downloaded at all (not with file_content ``none``)."""
        return self.mode != "none"

    def archive(self, ref: AttachmentRef) -> tuple[dict[str, t.Any], t.IO[bytes] | None]:
        """Fetch one attachment and return its record (see :meth:`finish`)."""
        return self.finish(ref, self.fetch(ref))

    def fetch(self, ref: AttachmentRef) -> Outcome:
        """Download (and store) one attachment; failures become a status, never a gap.

        ``forbidden`` (403) and ``failed`` (retries spent on 5xx, timeouts or network errors; a
        storage error; a request the API refused: 400, 422, …) are retried by later runs;
        ``expired`` (410) and ``not_found`` (404) are final.
        """
        if self.mode == "none":
            return Outcome("metadata_only", "file_content is 'none'")
        try:
            path = attachment_path(self.workspace_id, ref)
            conversation = ref.conversation_id and url_text(ref.conversation_id, "conversation id")
        except BadPathSegment as exc:  # no user to ask: kept for a retry (the upload may be there)
            return Outcome("not_found" if ref.user_id else FAILED, str(exc))
        if self._paused_because or self.closing:
            why = self._paused_because or "the run is ending"
            return Outcome(FAILED, f"not tried in this run: {why}")
        return self.download(path, {"conversation_id": conversation} if conversation else None)

    def download(
        self, path: str, params: dict[str, t.Any] | None = None, *, what: str = "stream 'files'"
    ) -> Outcome:
        """Download ``path``, hash and store it (also for streams/knowledge.py's files)."""
        store = self.store
        direct = store is not None and store.streams_to_disk
        consume = self._consume_into_store if direct else self._consume
        try:
            fetched = self.transport.download(path, consume, params, logger=self.logger, what=what)
        except (Unavailable, Refused) as exc:
            return answered(exc)
        except TRANSIENT_ERRORS as exc:
            return Outcome(FAILED, describe_failure(exc, self.settings.max_retries), streak="fail")
        except StorageError as exc:  # the store's disk refused the partial file's bytes
            return Outcome(FAILED, f"storage: {exc}", streak="fail")
        except OSError as exc:  # the spool's disk refused a write (EFBIG, ENOSPC, EDQUOT, …)
            return Outcome(FAILED, spool_reason(exc), streak="fail")
        outcome = Outcome(fetched=fetched, streak="reset")
        if fetched.partial is not None:
            partial, fetched.partial = fetched.partial, None
            try:
                outcome.stored = partial.commit(fetched.sha256, fetched.size)
            except StorageError as exc:
                return Outcome(FAILED, f"storage: {exc}", fetched=fetched, streak="fail")
            return outcome
        if fetched.too_large or self.store is None or fetched.spool is None:
            return outcome
        try:
            outcome.stored = self.store.put(fetched.sha256, fetched.size, fetched.spool)
        except StorageError as exc:
            return Outcome(FAILED, f"storage: {exc}", fetched=fetched, streak="fail")
        finally:
            fetched.spool.close()
            fetched.spool = None
        return outcome

    def finish(
        self, ref: AttachmentRef, outcome: Outcome
    ) -> tuple[dict[str, t.Any], t.IO[bytes] | None]:
        """Return the ``files`` record of one attachment, and a spool of its parts if any.

        The caller closes the spool.
        """
        record = base_record(ref, self.workspace_id)
        fetched = outcome.fetched
        if fetched is not None:
            record.update(
                size=fetched.size,
                sha256=fetched.sha256,
                mime_type=fetched.mime_type or ref.mime_type,
            )
        reason = outcome.reason
        if outcome.streak == "fail":
            reason = self._failed(reason)
        elif outcome.streak == "reset":
            self._failures_in_a_row = 0
        if outcome.status is not None or fetched is None:
            record.update(status=outcome.status or FAILED, status_reason=reason)
            outcome.close()
            return record, None
        if fetched.too_large:
            record.update(
                status="too_large",
                status_reason=(
                    f"{fetched.size} bytes exceed max_file_bytes={self.max_file}; raise or unset "
                    "max_file_bytes to archive it"
                ),
            )
            return record, None
        stored = outcome.stored
        if stored is not None:
            record["storage_uri"] = stored.uri
            if stored.repaired:
                LOGGER.warning(
                    "Stored object %s of attachment %s was damaged (%s): rewritten and verified.",
                    stored.uri,
                    ref.file_id,
                    stored.repaired,
                )
                self.counts.stored_objects_repaired += 1
        record.update(
            status="archived",
            archived_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        )
        spool = fetched.spool
        if spool is not None and fetched.size <= self.max_inline:
            with spool:
                record["content_base64"] = base64.b64encode(spool.read()).decode("ascii")
            fetched.spool = spool = None
        if spool is not None:
            record["part_count"] = -(-fetched.size // self.max_inline)
        return record, spool

    def _failed(self, reason: str | None) -> str:
        """Count a failure that can clear; after several in a row, stop trying in this run."""
        reason = reason or "failed"
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= FAILURES_BEFORE_PAUSE and not self._paused_because:
            self._paused_because = (
                f"{self._failures_in_a_row} attachments in a row failed (last: {reason[:150]})"
            )
            LOGGER.warning(
                "%d attachments in a row could not be archived: the other attachments of this "
                "run are not tried, and are left for the next run to retry.",
                self._failures_in_a_row,
            )
        return reason

    def _consume(self, response: requests.Response) -> Fetched:
        """Stream the body once: hash it and spool it (in memory only while it is small)."""
        spool: t.IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            sha256, size, too_large = read_body(response, spool.write, self.max_file, self)
        except BaseException:
            spool.close()
            raise
        if too_large:
            spool.close()
            return Fetched(sha256, size, _mime_type(response), too_large=True)
        spool.seek(0)
        return Fetched(sha256, size, _mime_type(response), spool=spool)

    def _consume_into_store(self, response: requests.Response) -> Fetched:
        """Stream the body once into the store's partial file: hashed once, written once.

        The caller commits the partial file; a failure here removes it (a retry starts anew).
        """
        assert self.store is not None
        partial = self.store.open_partial()
        try:
            sha256, size, too_large = read_body(response, partial.write, self.max_file, self)
        except BaseException:
            partial.abort()
            raise
        if too_large:
            partial.abort()
            return Fetched(sha256, size, _mime_type(response), too_large=True)
        return Fetched(sha256, size, _mime_type(response), partial=partial)


def answered(exc: Unavailable | Refused) -> Outcome:
    """Return the outcome of a download the API answered with an error of its own.

    403, 404 and 410 say what became of the file; any other refusal (400, 422, …) is this
    file's request only: ``failed``, retried by later runs, and the other files go on.
    """
    reason = f"HTTP {exc.status}: {exc.detail}"
    if isinstance(exc, Refused):
        return Outcome(FAILED, reason, streak="reset", refused=exc.status)
    return Outcome(STATUS_BY_HTTP.get(exc.status, "not_found"), reason, streak="reset")


def read_body(
    response: requests.Response,
    write: t.Callable[[bytes], t.Any],
    max_file: int | None,
    run: AttachmentArchiver,
) -> tuple[str, int, bool]:
    """Stream the body once: hash every byte, ``write`` them up to ``max_file`` bytes.

    Returns (SHA-256, size, whether the body was past ``max_file``: then only hashed). Raises
    AttachmentsClosed as soon as the run is ending (``run.closing``), and RetriableAPIError for
    a body whose end cannot be told (:func:`check_framed`).
    """
    check_framed(response)
    digest = hashlib.sha256()
    size = 0
    keeping = True
    for chunk in response.iter_content(CHUNK):
        if run.closing:
            msg = "the run is ending"
            raise AttachmentsClosed(msg)
        digest.update(chunk)
        size += len(chunk)
        if keeping and max_file and size > max_file:  # past the cap: only hash
            keeping = False
        if keeping:
            write(chunk)
    return digest.hexdigest(), size, not keeping


def check_framed(response: requests.Response) -> None:
    """Raise RetriableAPIError unless the body says where it ends (Content-Length, or chunked).

    An attachment has no listed SHA-256: only its framing tells a whole body from one cut
    short. A body that ends where the connection closes (no Content-Length, not chunked) could
    be either, so it is never archived; the try fails and is retried (then by the next run).
    """
    length = (response.headers.get("Content-Length") or "").strip()
    encoding = (response.headers.get("Transfer-Encoding") or "").lower()
    if length.isdigit() or "chunked" in encoding:
        return
    msg = (
        f"The signed download URL answered HTTP {response.status_code} without Content-Length "
        "or chunked encoding: a body cut short could not be told from a whole one (a proxy "
        "between the tap and the download host?)"
    )
    raise RetriableAPIError(msg, response)


def _mime_type(response: requests.Response) -> str | None:
    return (response.headers.get("Content-Type") or "").split(";")[0].strip() or None


def describe_failure(exc: BaseException, max_retries: int) -> str:
    """Say why a download failed after its retries, without any URL (signed URLs)."""
    tries = getattr(exc, "tries", None) or max_retries + 1
    if isinstance(exc, RetriableAPIError):
        text = str(exc)
    elif isinstance(exc, requests.exceptions.Timeout):
        text = f"no answer within request_timeout ({type(exc).__name__})"
    else:
        request = getattr(exc, "request", None)
        host = shown_host(str(getattr(request, "url", "") or ""))
        where = f" with {host}" if host else ""
        text = f"connection failed{where} ({type(exc).__name__})"
    return f"{text}, after {tries} tries"


def spool_reason(exc: OSError) -> str:
    """Say why an attachment could not be spooled to disk, and what fixes it."""
    code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return (
        f"spool: {code} ({exc.strerror or exc}) writing the download to the temporary folder "
        f"{tempfile.gettempdir()}: free space there, raise the file size limit, or set TMPDIR "
        "to a larger disk; the next run retries it"
    )


class AttachmentsClosed(Exception):
    """A download stopped because the run is ending (after a failure elsewhere)."""


def iter_parts(spool: t.IO[bytes], part_size: int) -> t.Iterator[tuple[int, int, bytes]]:
    """Yield (index, offset, bytes) for consecutive parts of the spooled content."""
    spool.seek(0)
    index = offset = 0
    while chunk := spool.read(part_size):
        yield index, offset, chunk
        index += 1
        offset += len(chunk)
