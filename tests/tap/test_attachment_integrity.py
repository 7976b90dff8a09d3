"""Attachments are never archived torn, and failures that can clear are retried by later runs.

Issue #7, items 1 and 2: a storage object is visible at its content-addressed path only once all
its bytes are there and verified; an object already there is trusted only if it hashes right; an
attachment that failed for a reason that can clear (403, 5xx, network, storage) stays in the
state and is retried by every later run until it is archived, the API says it is gone (404/410),
or its retry window ends (then it is given up loudly).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import threading
import time
from copy import deepcopy
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.attachments.archive import AttachmentRef, ContentStore, StorageError
from tap_chatgpt_compliance.attachments.pending import (
    MAX_PENDING,
    RETRY_WINDOW,
    STATE_KEY,
    PendingAttachments,
)
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, run_tap, tap_command, tap_config, tap_env

USER_FILE = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/files/{file_id}"
LOGS_SCOPE = "chatgpt.enterprise.compliance_logs_platform.read"


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _object(store: Path, sha256: str) -> Path:
    return store / "sha256" / sha256[:2] / sha256


def _pending(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    files = ((state or {}).get("bookmarks") or {}).get("files") or {}
    return list(files.get(STATE_KEY) or [])


def _live(sim: Simulator) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sim.ground_truth()["attachments"].items() if not v["expired"]}


def _latest_status(*runs: TapRun) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:
        for record in run.records["files"]:
            latest[record["id"]] = record
    return latest


def _assert_archived_objects_verify(store: Path, *runs: TapRun) -> int:
    """Every record that says archived points at bytes that hash to its sha256."""
    checked = 0
    for run in runs:
        for record in run.records["files"]:
            if record["status"] != "archived":
                continue
            path = _object(store, record["sha256"])
            assert record["storage_uri"].endswith(
                f"sha256/{record['sha256'][:2]}/{record['sha256']}"
            )
            assert path.is_file(), record["id"]
            assert path.stat().st_size == record["size"], record["id"]
            assert _sha(path) == record["sha256"], record["id"]
            checked += 1
    return checked


# --------------------------------------------------------------------------- 1. storage writes


def _torn_objects(store: Path, sizes: dict[str, int]) -> list[str]:
    """Files at a final content-addressed path whose bytes are not the whole object."""
    torn: list[str] = []
    root = store / "sha256"
    if not root.exists():
        return torn
    for path in root.glob("*/*"):
        expected = sizes.get(path.name)
        if path.is_file() and (path.stat().st_size != expected or _sha(path) != path.name):
            torn.append(path.name)
    return torn


def _write_in_progress(store: Path, sizes: dict[str, int]) -> bool:
    """True while some file under the store is being written (a partial or a short object).

    Files at the top of the store (such as a settings probe) are not attachments: ignored.
    """
    for dirpath, _, names in os.walk(store):
        if Path(dirpath) == store:
            continue
        for name in names:
            try:
                size = (Path(dirpath) / name).stat().st_size
            except FileNotFoundError:
                continue
            expected = sizes.get(name)
            if expected is None:  # not a final object: a temporary file being filled
                if size > 0:
                    return True
            elif size < expected:
                return True
    return False


def _run_killed_during_a_storage_write(
    config: dict[str, Any], store: Path, sizes: dict[str, int], workdir: Path
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], bool]:
    """Start the tap, SIGKILL it while an attachment is being written to the store."""
    proc = subprocess.Popen(
        tap_command(config, None, workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=tap_env(),
    )
    stdout = proc.stdout
    assert stdout is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(stdout.readline, b"")))
    reader.start()
    killed = False
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if _write_in_progress(store, sizes):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.001)
    if proc.poll() is None and not killed:
        proc.kill()
    proc.wait(timeout=60)
    reader.join(timeout=60)
    records, states = parse_singer(b"".join(chunks).decode("utf-8", "replace"))
    return records, states, killed


def test_sigkill_during_a_storage_write_then_resume_leaves_only_whole_objects(
    simulator_factory, tmp_path: Path
) -> None:
    """A kill -9 while a 20 to 30 MB attachment is written never leaves a torn object behind."""
    sim = simulator_factory(
        seed=11,
        users=2,
        conversations=3,
        messages_per_conversation=(2, 4),
        span_days=0.3,
        attachment_rate=0.5,
        attachment_size=(20_000_000, 30_000_000),
    )
    live = _live(sim)
    assert len(live) >= 2
    sizes = {v["sha256"]: v["size"] for v in live.values()}
    # The raw log files are content-addressed objects of the same store (issue #11).
    sizes.update({f["file_sha256"]: f["file_size"] for f in sim.log_files()})
    store = tmp_path / "archive"
    store.mkdir()
    config = tap_config(sim, file_content="storage", file_storage_url=str(store))
    records, states, killed = _run_killed_during_a_storage_write(config, store, sizes, tmp_path)
    assert killed, "the tap was never caught writing an attachment"
    # Nothing at a final path is torn, even right after the kill.
    assert _torn_objects(store, sizes) == []
    # The partial file left by the kill (unless the rename won the race with the kill) is
    # removed by the next run that writes, once it is old enough to belong to a dead run.
    partials = [p for p in store.rglob("*/*") if p.is_file() and p.name not in sizes]
    old = time.time() - 2 * 3600
    for path in partials:
        os.utime(path, (old, old))
    resumed = run_tap(config, state=states[-1] if states else None)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    seals = store / "seals"  # the run's seal (tap_chatgpt_compliance/logfiles/seals.py)
    leftovers = [p for p in store.rglob("*/*") if p.is_file() and p.name not in sizes]
    assert [p for p in leftovers if seals not in p.parents] == []
    killed_run = TapRun(-9, "", "", records, states)
    _assert_archived_objects_verify(store, killed_run, resumed)
    archived = {r["id"] for r in killed_run.records["files"] + resumed.records["files"]}
    assert archived == set(live)
    assert {r["status"] for r in resumed.records["files"]} == {"archived"}
    assert _torn_objects(store, sizes) == []


def test_a_torn_or_wrong_object_at_its_final_path_is_rewritten(
    simulator_factory, tmp_path: Path
) -> None:
    """An object already in the store is trusted only if its size and SHA-256 match."""
    sim = simulator_factory(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)
    live = list(_live(sim).values())
    assert len(live) >= 3
    store = tmp_path / "archive"
    truncated, same_size = live[0], live[1]
    for expected, content in (
        (truncated, b"\x00" * min(1024, truncated["size"] - 1)),
        (same_size, b"\x00" * same_size["size"]),
    ):
        path = _object(store, expected["sha256"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    good_path = _object(store, live[3]["sha256"])
    run_once = run_tap(tap_config(sim, file_content="storage", file_storage_url=str(store)))
    assert run_once.returncode == 0, run_once.stderr[-3000:]
    assert _assert_archived_objects_verify(store, run_once) == len(live)
    assert run_once.stderr.count("rewritten") >= 2, run_once.stderr[-3000:]
    # A sound object is kept as it is (same inode, not rewritten).
    inode = good_path.stat().st_ino
    again = run_tap(tap_config(sim, file_content="storage", file_storage_url=str(store)))
    assert again.returncode == 0
    assert good_path.stat().st_ino == inode
    assert "rewritten" not in again.stderr


def test_storage_on_s3_is_written_whole_and_verified(
    simulator_factory, s3_endpoint: str, s3_bucket: str, s3_client
) -> None:
    """On S3 each object is one atomic PUT (or multipart completion), verified after writing;
    a wrong object already at the key is rewritten."""
    sim = simulator_factory(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)
    live = _live(sim)
    bad = next(iter(live.values()))
    bad_key = f"archive/sha256/{bad['sha256'][:2]}/{bad['sha256']}"
    s3_client.put_object(Bucket=s3_bucket, Key=bad_key, Body=b"torn")
    options = {
        "endpoint_url": s3_endpoint,
        "key": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }
    config = tap_config(
        sim,
        file_content="storage",
        file_storage_url=f"s3://{s3_bucket}/archive",
        file_storage_options=options,
        seal_storage_url="none",  # no Object Lock on this bucket (seals: test_seals.py)
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rewritten" in run.stderr
    records = {r["id"]: r for r in run.records["files"]}
    assert set(records) == set(live)
    keys = set()
    for file_id, expected in live.items():
        record = records[file_id]
        assert record["status"] == "archived", record["status_reason"]
        key = f"archive/sha256/{expected['sha256'][:2]}/{expected['sha256']}"
        assert record["storage_uri"] == f"s3://{s3_bucket}/{key}"
        body = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == expected["sha256"]
        keys.add(key)
    for manifest in run.records["log_files"]:  # raw log files, same store (issue #11)
        key = manifest["raw_storage_uri"].removeprefix(f"s3://{s3_bucket}/")
        body = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == manifest["provider_sha256"]
        keys.add(key)
    listed = s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert {item["Key"] for item in listed} == keys  # no temporary objects
    # An upload that fails half-way, or bytes that do not match, never become an object.
    store = ContentStore(f"s3://{s3_bucket}/unit", options)
    content = os.urandom(2 * 1024 * 1024 + 5)
    sha = hashlib.sha256(content).hexdigest()
    with pytest.raises(StorageError, match="disk went away"):
        store.put(sha, len(content), _FailingSpool(content))
    with pytest.raises(StorageError, match="do not match"):
        store.put("0" * 64, len(content), io.BytesIO(content))
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="unit/").get("KeyCount") == 0
    assert store.put(sha, len(content), io.BytesIO(content)).written
    body = s3_client.get_object(Bucket=s3_bucket, Key=f"unit/sha256/{sha[:2]}/{sha}")["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == sha


class _FailingSpool(io.BytesIO):
    """A spool whose read fails after the first MiB (a disk error half-way through a copy)."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 1024 * 1024:
            raise OSError("disk went away")
        return super().read(size)


def test_content_store_never_shows_a_partial_object(tmp_path: Path) -> None:
    """A write that fails half-way leaves neither the object nor its temporary file."""
    content = os.urandom(3 * 1024 * 1024 + 17)
    sha = hashlib.sha256(content).hexdigest()
    store = ContentStore(str(tmp_path / "store"))
    with pytest.raises(StorageError, match="disk went away"):
        store.put(sha, len(content), _FailingSpool(content))
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
    stored = store.put(sha, len(content), io.BytesIO(content))
    assert stored.written
    assert stored.repaired is None
    assert _sha(_object(tmp_path / "store", sha)) == sha
    assert not store.put(sha, len(content), io.BytesIO(content)).written  # verified, kept
    # Bytes that do not match their digest are never stored under it.
    with pytest.raises(StorageError, match="do not match"):
        store.put("0" * 64, len(content), io.BytesIO(content))
    assert not _object(tmp_path / "store", "0" * 64).exists()


def _dead_and_live_partials(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A store's partial folder with a dead run's file (2 h old) and a live one (now)."""
    partial_dir = tmp_path / "store" / ".partial"
    partial_dir.mkdir(parents=True)
    dead, live = partial_dir / "aa.1.dead", partial_dir / "bb.2.live"
    dead.write_bytes(b"torn")
    live.write_bytes(b"being written")
    old = time.time() - 2 * 3600
    os.utime(dead, (old, old))
    return partial_dir, dead, live


def test_partial_files_of_dead_runs_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    _, dead, live = _dead_and_live_partials(tmp_path)
    content = b"attachment"
    ContentStore(str(tmp_path / "store")).put(
        hashlib.sha256(content).hexdigest(), len(content), io.BytesIO(content)
    )
    assert not dead.exists()
    assert live.exists()


@pytest.mark.parametrize("skew", [6 * 3600, -6 * 3600])
def test_a_skewed_clock_sweeps_no_live_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skew: int
) -> None:
    """The machine's clock 6 h off the storage's: partial files are judged by the storage's
    own time (a probe's mtime), so a live one is kept (6 h ahead swept every live partial
    file, a concurrent run's or the run's own) and a dead one still goes."""
    partial_dir, dead, live = _dead_and_live_partials(tmp_path)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + skew)
    content = b"attachment"
    ContentStore(str(tmp_path / "store")).put(
        hashlib.sha256(content).hexdigest(), len(content), io.BytesIO(content)
    )
    assert live.exists()
    assert not dead.exists()
    assert sorted(p.name for p in partial_dir.iterdir()) == ["bb.2.live"]  # no probe left


# --------------------------------------------------------------------------- 2. retries


@pytest.fixture
def fresh(simulator_factory) -> Simulator:
    """A small workspace whose attachments are all still downloadable (uploaded < 24 h ago)."""
    return simulator_factory(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)


def test_forbidden_attachments_are_archived_once_the_scope_is_granted(fresh: Simulator) -> None:
    """Export scope missing, then granted: the next run archives every attachment still live,
    although it lists no new log file."""
    key = fresh.issue_key(fresh.workspace_id, scopes={LOGS_SCOPE})
    first = run_tap(tap_config(fresh, api_key=key))
    live = _live(fresh)
    assert first.returncode == 1
    assert {r["status"] for r in first.records["files"]} == {"forbidden"}
    assert all(r["retry_until"] for r in first.records["files"])
    assert {e["id"] for e in _pending(first.state)} == set(live)
    assert "retried" in first.stderr.splitlines()[-1]
    # Run 2 splits content above 4 KiB into file_parts: the retry path writes them too.
    second = run_tap(tap_config(fresh, max_inline_file_bytes=4096), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.records["log_files"] == []  # nothing new was listed
    records = {r["id"]: r for r in second.records["files"]}
    assert set(records) == set(live)
    parts: dict[str, list[dict[str, Any]]] = {}
    for part in second.records["file_parts"]:
        parts.setdefault(part["file_id"], []).append(part)
    assert parts, "some attachments are larger than 4 KiB"
    for file_id, expected in live.items():
        record = records[file_id]
        assert record["status"] == "archived", record["status_reason"]
        assert record["sha256"] == expected["sha256"]
        assert record["retry_until"] is None
        assert record["message_id"] == expected["message_id"]
        if record["part_count"]:
            pieces = sorted(parts[file_id], key=lambda p: p["part_index"])
            content = b"".join(base64.b64decode(p["content_base64"]) for p in pieces)
        else:
            content = base64.b64decode(record["content_base64"])
        assert hashlib.sha256(content).hexdigest() == expected["sha256"]
    assert _pending(second.state) == []
    _assert_records_come_before_the_state_that_drops_them(second.stdout)


def _assert_records_come_before_the_state_that_drops_them(stdout: str) -> None:
    """An entry leaves the retry list only in a STATE written after the record settling it."""
    written: set[str] = set()
    pending_before: set[str] | None = None
    for line in stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] == "files":
            written.add(message["record"]["id"])
        elif message["type"] == "STATE":
            now_pending = {e["id"] for e in _pending(message["value"])}
            if pending_before is not None:
                dropped = pending_before - now_pending
                assert dropped <= written, f"dropped before their record: {dropped - written}"
            pending_before = now_pending


def test_server_errors_after_every_retry_are_retried_by_the_next_run(fresh: Simulator) -> None:
    """5xx beyond max_retries: the run archives everything else, fails at its end, and the next
    run archives the rest. After three such attachments in a row the run stops trying."""
    fresh.inject(USER_FILE, status=503, count=3)
    first = run_tap(tap_config(fresh, max_retries=0))
    live = _live(fresh)
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    assert first.ids("messages") == set(fresh.ground_truth()["messages"])
    statuses = {r["id"]: r for r in first.records["files"]}
    failed = {k for k, r in statuses.items() if r["status"] == "failed"}
    assert failed == set(live)  # three failed after retries, the rest were not tried
    reasons = [statuses[k]["status_reason"] for k in failed]
    assert sum(reason.startswith("HTTP 503") for reason in reasons) == 3
    assert sum(reason.startswith("not tried in this run") for reason in reasons) == len(live) - 3
    assert fresh.request_count(USER_FILE) == 3
    second = run_tap(tap_config(fresh, max_retries=0), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {r["id"] for r in second.records["files"] if r["status"] == "archived"} == set(live)
    assert _pending(second.state) == []


def test_storage_write_errors_are_retried_by_the_next_run(fresh: Simulator, tmp_path: Path) -> None:
    """A storage write that fails (here: a folder squats the object's path) is retried."""
    store = tmp_path / "archive"
    live = _live(fresh)
    blocked = sorted(live)[:2]
    for file_id in blocked:
        _object(store, live[file_id]["sha256"]).mkdir(parents=True)
    config = tap_config(fresh, file_content="storage", file_storage_url=str(store))
    first = run_tap(config)
    assert first.returncode == 1
    statuses = {r["id"]: r for r in first.records["files"]}
    assert {k for k, r in statuses.items() if r["status"] != "archived"} == set(blocked)
    assert all(statuses[k]["status"] == "failed" for k in blocked)
    assert all("storage" in statuses[k]["status_reason"] for k in blocked)
    assert {e["id"] for e in _pending(first.state)} == set(blocked)
    _assert_archived_objects_verify(store, first)
    for file_id in blocked:
        _object(store, live[file_id]["sha256"]).rmdir()
    second = run_tap(config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {r["id"] for r in second.records["files"]} == set(blocked)
    assert _assert_archived_objects_verify(store, second) == len(blocked)
    assert _pending(second.state) == []


def _age_pending(state: dict[str, Any], hours: float) -> dict[str, Any]:
    """Move every pending entry's message time back, as if ``hours`` had passed."""
    state = deepcopy(state)
    for entry in state["bookmarks"]["files"][STATE_KEY]:
        when = datetime.fromisoformat(entry["event_time"]) - timedelta(hours=hours)
        entry["event_time"] = when.isoformat()
    return state


def test_pending_attachments_are_given_up_loudly_after_the_retry_window(fresh: Simulator) -> None:
    """Entries older than the window are tried one last time, then dropped with a final record."""
    key = fresh.issue_key(fresh.workspace_id, scopes={LOGS_SCOPE})
    first = run_tap(tap_config(fresh, api_key=key))
    pending = _pending(first.state)
    assert pending
    assert first.state is not None
    state = _age_pending(first.state, RETRY_WINDOW.total_seconds() / 3600 + 1)
    second = run_tap(tap_config(fresh, api_key=key), state=state)
    assert second.returncode == 1
    records = {r["id"]: r for r in second.records["files"]}
    assert set(records) == {e["id"] for e in pending}
    for record in records.values():
        assert record["status"] == "gave_up"
        assert "forbidden" in record["status_reason"]
        assert record["retry_until"] is None
    assert _pending(second.state) == []
    assert "gave up" in second.stderr.splitlines()[-1]
    third = run_tap(tap_config(fresh), state=second.state)
    assert third.returncode == 0, third.stderr[-3000:]
    assert third.records["files"] == []


def test_a_pending_attachment_that_expired_at_the_api_leaves_the_list(
    simulator_factory,
) -> None:
    """The API's 410 ends the retries: the record says expired, the state forgets it."""
    sim = simulator_factory(
        seed=11,
        span_days=0.5,
        attachment_rate=0.4,
        speed=60.0,
        conversations=6,
        start=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=31),
    )
    key = sim.issue_key(sim.workspace_id, scopes={LOGS_SCOPE})
    first = run_tap(tap_config(sim, api_key=key))
    pending = {e["id"] for e in _pending(first.state)}
    assert pending
    sim.advance(timedelta(hours=30))  # chat uploads expire 24 h after upload
    second = run_tap(tap_config(sim), state=first.state)
    records = _latest_status(second)
    assert {records[k]["status"] for k in pending} == {"expired"}
    assert all("410" in records[k]["status_reason"] for k in pending)
    assert _pending(second.state) == []


def test_a_retry_that_fails_again_keeps_the_entry_without_repeating_the_record(
    fresh: Simulator,
) -> None:
    key = fresh.issue_key(fresh.workspace_id, scopes={LOGS_SCOPE})
    first = run_tap(tap_config(fresh, api_key=key))
    second = run_tap(tap_config(fresh, api_key=key), state=first.state)
    assert second.returncode == 1
    assert second.records["files"] == []  # same status as last time: no new record
    entries = _pending(second.state)
    assert {e["id"] for e in entries} == {e["id"] for e in _pending(first.state)}
    assert {e["attempts"] for e in entries} == {2}
    # in the summary: the first few by id, all of them counted
    assert second.stderr.count("Not archived: attachment") == min(len(entries), 5)
    summary = json.loads(second.stderr.splitlines()[-2].split("Run summary (json): ", 1)[1])
    assert summary["exit_code"] == 1
    assert sum(summary["attachments"].values()) == len(entries)


def test_the_retry_list_is_bounded() -> None:
    """At most MAX_PENDING entries; the oldest go first, and are handed back to be reported."""
    state: dict[str, Any] = {}
    pending = PendingAttachments(state)
    start = datetime(2026, 11, 26, tzinfo=timezone.utc)
    for index in range(MAX_PENDING + 3):
        ref = AttachmentRef(
            file_id=f"file-{index:04d}",
            user_id="user-1",
            conversation_id="c-1",
            message_id=f"m-{index}",
            event_id=f"e-{index}",
            name="a.txt",
            mime_type="text/plain",
            event_time=(start + timedelta(minutes=index)).isoformat(),
        )
        pending.record_failure(ref, "eclf_1", "forbidden", "HTTP 403: " + "x" * 1000, start)
    dropped = pending.overflow()
    assert [entry.id for entry in dropped] == ["file-0000", "file-0001", "file-0002"]
    pending.save()
    assert len(state[STATE_KEY]) == MAX_PENDING
    assert all(len(entry["reason"]) <= 200 for entry in state[STATE_KEY])
    assert len(str(state)) < MAX_PENDING * 700
    again = PendingAttachments(state)
    assert len(again) == MAX_PENDING
    kept = again.get("file-0003")
    assert kept is not None
    assert kept.retry_until == start + timedelta(minutes=3) + RETRY_WINDOW
