"""Attachments into a local folder in one pass (issue #20, item 2).

The body is streamed once: hashed once and written once, straight into the store's partial
file (no spool, no copy, no read-back); the partial file is flushed to disk while the download
goes on, fsynced before its rename, and renamed into place only when it is the whole, verified
content. Every fault of the store's disk fails that attachment alone (``storage: …``) and
leaves nothing behind. In-process: a real Transport against the simulator.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chatgpt_compliance_simulator import Quirks, Simulator
from tap_chatgpt_compliance.attachments import archive
from tap_chatgpt_compliance.attachments.archive import (
    AttachmentArchiver,
    AttachmentRef,
    AttachmentsClosed,
    ContentStore,
    Outcome,
    StorageError,
)
from tap_chatgpt_compliance.http.transport import Transport
from tap_chatgpt_compliance.settings import Settings
from tests.support.tap import tap_config

MIB = 1 << 20
SIZE = 6 * MIB + 12_345


@pytest.fixture(scope="module")
def one_attachment() -> Any:
    """A workspace with one message and one live attachment of SIZE bytes."""
    sim = Simulator(
        seed=1,
        users=1,
        conversations=1,
        messages_per_conversation=(1, 1),
        attachment_rate=1.0,
        attachment_size=(SIZE, SIZE),
        span_days=0.2,
        speed=10_000.0,
        quirks=Quirks(expired_attachments=False),
    ).start()
    try:
        ((file_id, info),) = sim.ground_truth()["attachments"].items()
        yield sim, file_id, info
    finally:
        sim.stop()


def _archiver(sim: Simulator, store: Path, **overrides: Any) -> AttachmentArchiver:
    config = tap_config(
        sim, file_content="storage", file_storage_url=str(store), max_retries=0, **overrides
    )
    settings = Settings.from_config(config)
    logger = logging.getLogger("test-single-pass")
    return AttachmentArchiver(settings, Transport(settings, logger), logger)


def _fetch(archiver: AttachmentArchiver, file_id: str, info: dict[str, Any]) -> Outcome:
    ref = AttachmentRef(
        file_id, info["user_id"], info["conversation_id"], info["message_id"], None, None, None
    )
    return archiver.fetch(ref)


def _object(store: Path, sha256: str) -> Path:
    return store / "sha256" / sha256[:2] / sha256


def _files(store: Path) -> list[Path]:
    return sorted(p for p in store.rglob("*") if p.is_file())


class _CountingHash:
    """hashlib.sha256, counting the bytes it is given."""

    hashed = 0

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, data: bytes) -> None:
        _CountingHash.hashed += len(data)
        self._digest.update(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def test_a_stored_attachment_is_hashed_once_written_once_and_never_read_back(
    one_attachment: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, file_id, info = one_attachment
    store = tmp_path / "store"
    final = _object(store, info["sha256"])
    monkeypatch.setattr(archive, "SYNC_EVERY", MIB, raising=False)
    _CountingHash.hashed = 0
    monkeypatch.setattr(archive, "hashlib", SimpleNamespace(sha256=_CountingHash))

    def no_spool(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a storage download went through a spool")

    monkeypatch.setattr(archive.tempfile, "SpooledTemporaryFile", no_spool)
    reads: list[str] = []
    real_open = archive.LocalFileSystem.open

    def spy_open(self: Any, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "r" in mode:
            reads.append(path)
        return real_open(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(archive.LocalFileSystem, "open", spy_open)
    events: list[tuple[str, int, bool]] = []
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def fdatasync(fd: int) -> None:
        events.append(("fdatasync", os.fstat(fd).st_size, final.exists()))
        real_fdatasync(fd)

    def fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_size, final.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)

    outcome = _fetch(_archiver(sim, store), file_id, info)

    assert outcome.status is None, outcome.reason
    assert outcome.stored is not None
    assert outcome.stored.written
    assert outcome.fetched is not None
    assert outcome.fetched.sha256 == info["sha256"]
    assert outcome.stored.uri.endswith(f"sha256/{info['sha256'][:2]}/{info['sha256']}")
    assert _CountingHash.hashed == SIZE  # hashed once (not once more for a copy, a read-back)
    assert reads == []  # never read back
    assert _files(store) == [final]  # no partial file left
    assert hashlib.sha256(final.read_bytes()).hexdigest() == info["sha256"]
    # Durable: flushed while the download went on, and fsynced before the name appeared.
    flushes = [size for name, size, _ in events if name == "fdatasync"]
    assert flushes, events
    assert min(flushes) < SIZE, events
    fsyncs = [(size, placed) for name, size, placed in events if name == "fsync"]
    assert (SIZE, False) in fsyncs, events
    assert not any(t.name.startswith("tap-attachment-") for t in threading.enumerate())


def test_a_sound_object_is_kept_and_a_torn_one_is_replaced(
    one_attachment: Any, tmp_path: Path
) -> None:
    sim, file_id, info = one_attachment
    store = tmp_path / "store"
    first = _fetch(_archiver(sim, store), file_id, info)
    assert first.stored is not None
    assert first.stored.written
    final = _object(store, info["sha256"])
    inode = final.stat().st_ino
    again = _fetch(_archiver(sim, store), file_id, info)
    assert again.stored is not None
    assert not again.stored.written
    assert final.stat().st_ino == inode
    assert _files(store) == [final]
    with final.open("r+b") as handle:  # same size, one byte changed
        handle.seek(SIZE // 2)
        handle.write(b"\x00" if handle.read(1) != b"\x00" else b"\x01")
    repaired = _fetch(_archiver(sim, store), file_id, info)
    assert repaired.stored is not None
    assert repaired.stored.written
    assert repaired.stored.repaired
    assert "hash to" in repaired.stored.repaired
    assert hashlib.sha256(final.read_bytes()).hexdigest() == info["sha256"]


@pytest.mark.parametrize("where", ["write", "fdatasync", "fsync"])
def test_a_disk_fault_fails_that_attachment_and_leaves_nothing(
    one_attachment: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    sim, file_id, info = one_attachment
    store = tmp_path / "store"
    monkeypatch.setattr(archive, "SYNC_EVERY", MIB, raising=False)
    real = getattr(os, where)
    code = {"write": errno.ENOSPC, "fdatasync": errno.EIO, "fsync": errno.EIO}[where]

    def failing(fd: int, *args: Any) -> Any:
        if where != "write" or os.fstat(fd).st_size > 2 * MIB:
            raise OSError(code, os.strerror(code))
        return real(fd, *args)

    monkeypatch.setattr(os, where, failing)
    outcome = _fetch(_archiver(sim, store), file_id, info)
    assert outcome.status == "failed"
    assert outcome.streak == "fail"  # counted among the failures in a row
    assert outcome.reason is not None
    assert outcome.reason.startswith("storage: ")
    assert errno.errorcode[code] in outcome.reason
    assert str(sim.api_key) not in outcome.reason
    assert not _object(store, info["sha256"]).exists()
    assert _files(store) == []
    assert not any(t.name.startswith("tap-attachment-") for t in threading.enumerate())


def test_an_attachment_past_max_file_bytes_is_hashed_not_stored(
    one_attachment: Any, tmp_path: Path
) -> None:
    sim, file_id, info = one_attachment
    store = tmp_path / "store"
    outcome = _fetch(_archiver(sim, store, max_file_bytes=2 * MIB), file_id, info)
    assert outcome.fetched is not None
    assert outcome.fetched.too_large
    assert outcome.fetched.sha256 == info["sha256"]
    assert outcome.fetched.size == SIZE
    assert outcome.stored is None
    assert _files(store) == []


def test_a_run_that_ends_mid_download_leaves_no_partial_file(
    one_attachment: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, file_id, info = one_attachment
    store = tmp_path / "store"
    archiver = _archiver(sim, store)
    real_write = archive.PartialObject.write

    def write_then_close(self: archive.PartialObject, data: bytes) -> None:
        real_write(self, data)
        archiver.closing = True

    monkeypatch.setattr(archive.PartialObject, "write", write_then_close)
    workspace = f"/compliance/workspaces/{archiver.workspace_id}"
    with pytest.raises(AttachmentsClosed):
        archiver.download(f"{workspace}/users/{info['user_id']}/files/{file_id}")
    assert _files(store) == []


def test_commit_refuses_bytes_that_are_not_the_download(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "store"))
    content = os.urandom(3 * MIB + 1)
    sha = hashlib.sha256(content).hexdigest()
    partial = store.open_partial()
    partial.write(content)
    with pytest.raises(StorageError, match="does not hold"):
        partial.commit(sha, len(content) + 1)
    assert _files(tmp_path / "store") == []
    # The log files' path (ContentStore.put, a known digest) still verifies what it stores.
    assert store.put(sha, len(content), io.BytesIO(content)).written
    assert hashlib.sha256(_object(tmp_path / "store", sha).read_bytes()).hexdigest() == sha
