"""A bad day in production: a listing and downloads that lie in ways not covered elsewhere.

Each fault is served by the simulator (``inject``) to one tap process: it ends as one readable
line and exit 1 with the state no further than what was archived, or it is archived, and what
the tap wrote then verifies (``verify`` says intact about the honest archive, FAILED about an
altered one).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tests.support.simulators import EPOCH_AFTER, running, tiny_world
from tests.support.singer import parse_singer
from tests.support.tap import (
    TapRun,
    assert_one_readable_line,
    run_tap,
    tap_command,
    tap_config,
    tap_env,
)

WS = "/v1/compliance/workspaces/{workspace_id}"
LOGS = f"{WS}/logs"


@pytest.fixture(scope="module")
def sim() -> Any:
    with running(SimulatorConfig(**tiny_world())) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _no_fault_left(sim: Simulator) -> Any:
    yield
    sim._faults.clear()  # a test that failed early leaves no queued answer behind


def _page(sim: Simulator) -> dict[str, Any]:
    """Return the first CONVERSATION_MESSAGE listing page with files, as the API serves it."""
    url = f"{sim.base_url}/compliance/workspaces/{sim.workspace_id}/logs"
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    params = {"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER}
    for _ in range(5):  # the empty_pages quirk answers a listing once with nothing
        page: dict[str, Any] = requests.get(url, params=params, headers=headers, timeout=10).json()
        if page["data"]:
            return page
    raise AssertionError("the simulator listed no log file")


def _serve_page(sim: Simulator, page: dict[str, Any], **changes: Any) -> None:
    sim.inject(LOGS, body=json.dumps({**page, **changes}).encode())


def _config(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    return tap_config(sim, event_types=["CONVERSATION_MESSAGE"], **overrides)


def _bookmark(run: TapRun) -> str | None:
    partitions = (run.state or {}).get("bookmarks", {}).get("log_files", {}).get("partitions")
    return (partitions or [{}])[0].get("replication_key_value")


def _verify(run: TapRun, records: dict[str, list[dict[str, Any]]] | None = None) -> Report:
    anchor = anchor_from_state(run.state or {}, "state")
    return verify(sources.Archive("test", tables=records or run.records), anchor, None)


# --------------------------------------------------------------------------- listing pages


@pytest.mark.parametrize(
    "last_end_time",
    ["garbage", {"at": 1}, "2026-01-01T00:00:00", "later"],
    ids=["text", "object", "no-time-zone", "unix-seconds"],
)
def test_a_last_end_time_that_is_no_time_is_not_paged_on(
    sim: Simulator, last_end_time: Any
) -> None:
    """``has_more: true`` with a ``last_end_time`` that is no ISO 8601 time with a zone: the
    tap sent it back as ``after`` and the API's 422 ended the run with "the Compliance API
    rejected the listing of event_type 'CONVERSATION_MESSAGE' … remove it from event_types",
    a wrong lead (a Unix number later than the files was sent as is too). Now the page is
    refused before any of its files is read, in one line naming the field."""
    page = _page(sim)
    if last_end_time == "later":
        last_end_time = int(datetime.fromisoformat(page["data"][-1]["end_time"]).timestamp()) + 60
    _serve_page(sim, page, has_more=True, last_end_time=last_end_time)
    run = run_tap(_config(sim, file_content="none"))
    last = assert_one_readable_line(run, "'last_end_time'", "not a time")
    assert "event_types" not in last, last
    assert run.records.get("log_files", []) == []
    assert _bookmark(run) is None


# --------------------------------------------------------------------------- file_size


def test_a_listed_file_size_other_than_the_bytes_is_archived_and_verifies(sim: Simulator) -> None:
    """The listing's ``file_size`` 7 bytes off the file whose bytes hash to its ``file_sha256``:
    the tap archived it without a word, and ``verify`` then said FAILED about the honest
    archive ("column file_size: says …"). Now the tap warns, keeps the listing's value (on the
    chain, so that it cannot be altered either) and verify says intact."""
    page = _page(sim)
    listed = dict(page["data"][0])
    served = listed["file_size"]
    listed["file_size"] = served + 7
    _serve_page(sim, page, data=[listed, *page["data"][1:]])
    run = run_tap(_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Log file {listed['id']}: the listing says file_size {served + 7:,}" in run.stderr
    record = next(r for r in run.records["log_files"] if r["id"] == listed["id"])
    assert (record["file_size"], record["bytes_downloaded"]) == (served + 7, served)
    report = _verify(run)
    assert report.status == "intact", [f.line() for f in report.findings]
    # The listing's value is chained: altered in the archive, it is a finding.
    altered = {**run.records, "log_files": [dict(r) for r in run.records["log_files"]]}
    next(r for r in altered["log_files"] if r["id"] == listed["id"])["file_size"] = served
    assert _verify(run, altered).status == "FAILED"


@pytest.mark.parametrize("size", ["abc", -5, True, 1.5])
def test_a_listed_file_size_that_is_no_byte_count_is_left_empty(sim: Simulator, size: Any) -> None:
    """``file_size: "abc"`` went into the integer column as is (a typed target refuses the
    row) and verify said FAILED about the honest archive. Now the column is empty, the tap
    says why, and the archive verifies."""
    page = _page(sim)
    listed = {**page["data"][0], "file_size": size}
    _serve_page(sim, page, data=[listed, *page["data"][1:]])
    run = run_tap(_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Log file {listed['id']} was listed with file_size {size!r}" in run.stderr
    record = next(r for r in run.records["log_files"] if r["id"] == listed["id"])
    assert record["file_size"] is None
    assert record["bytes_downloaded"] > 0
    report = _verify(run)
    assert report.status == "intact", [f.line() for f in report.findings]


def test_without_file_sha256_a_size_other_than_listed_is_not_archived(sim: Simulator) -> None:
    """A file listed without ``file_sha256`` is checked against its ``file_size``: bytes of
    another size (a body cut where its Content-Length says) are never archived as the file."""
    page = _page(sim)
    listed = {k: v for k, v in page["data"][0].items() if k != "file_sha256"}
    _serve_page(sim, page, data=[listed], has_more=False)
    body = sim.log_file_bytes(listed["id"])
    sim.inject("signed", body=body[: len(body) // 2], count=5)
    run = run_tap(_config(sim, file_content="none"))
    assert_one_readable_line(run, f"Log file {listed['id']}", "file_size")
    assert run.records.get("log_files", []) == []
    assert _bookmark(run) is None


# --------------------------------------------------------------------------- downloads


def test_a_download_serving_another_listed_file_is_never_archived(sim: Simulator) -> None:
    """The signed URL answers 200 with the bytes of another file of the same listing (its
    SHA-256 listed too): never archived as the file asked for; one line, bookmark unmoved."""
    page = _page(sim)
    asked, other = page["data"][0], page["data"][-1]
    if asked["file_sha256"] == other["file_sha256"]:
        pytest.skip("one file listed: no other file to serve")
    sim.inject("signed", body=sim.log_file_bytes(other["id"]), count=10)
    run = run_tap(_config(sim, file_content="none"))
    assert_one_readable_line(run, f"Log file {asked['id']}", "SHA-256")
    assert run.records.get("log_files", []) == []
    assert _bookmark(run) is None


def test_a_gzip_content_encoding_is_archived_as_the_file(sim: Simulator) -> None:
    """An object store serving the file with ``Content-Encoding: gzip``: the decoded bytes are
    the file (they hash to the listed SHA-256), archived byte for byte."""
    page = _page(sim)
    first = page["data"][0]
    body = sim.log_file_bytes(first["id"])
    headers = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
    sim.inject("signed", body=gzip.compress(body), headers=headers)
    run = run_tap(_config(sim, file_content="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    record = next(r for r in run.records["log_files"] if r["id"] == first["id"])
    assert record["verified_sha256"] == first["file_sha256"]
    assert record["bytes_downloaded"] == len(body)


def test_a_listed_file_sha256_that_is_no_sha256_is_named(sim: Simulator) -> None:
    """``file_sha256: 12345``: the file was downloaded twice, then "failed its SHA-256 check 2
    times … report the file id": now the line says the listing's value is no SHA-256, before
    any download of it."""
    page = _page(sim)
    listed = {**page["data"][0], "file_sha256": 12345}
    _serve_page(sim, page, data=[listed, *page["data"][1:]])
    sim.reset_counters()
    run = run_tap(_config(sim, file_content="none"))
    assert_one_readable_line(run, f"Log file {listed['id']}", "file_sha256 12345", "no SHA-256")
    assert sim.request_count(f"{WS}/logs/{{log_file_id}}") == 0
    assert _bookmark(run) is None


def test_a_file_listed_twice_in_one_page_is_archived_once(sim: Simulator) -> None:
    """The same item twice on a page (same SHA-256): read once, counted as skipped, exit 0."""
    page = _page(sim)
    first = page["data"][0]
    _serve_page(sim, page, data=[first, first, *page["data"][1:]])
    run = run_tap(_config(sim, file_content="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [r["id"] for r in run.records["log_files"]]
    assert ids.count(first["id"]) == 1
    assert set(ids) == {item["id"] for item in page["data"]}


def test_a_key_revoked_between_two_listings_keeps_what_was_archived(sim: Simulator) -> None:
    """HTTP 401 on the second event type's listing, after the first type's files were read:
    one line naming api_key, exit 1, and the last STATE keeps the first type's bookmark."""
    page = _page(sim)
    _serve_page(sim, page)  # the CONVERSATION_MESSAGE listing, as served
    sim.inject(LOGS, status=401)  # then the AUDIT_LOG listing
    config = tap_config(sim, file_content="none", event_types=["CONVERSATION_MESSAGE", "AUDIT_LOG"])
    run = run_tap(config)
    assert_one_readable_line(run, "HTTP 401", "api_key")
    assert {r["id"] for r in run.records["log_files"]} == {item["id"] for item in page["data"]}
    newest = max(item["end_time"] for item in page["data"])
    assert (_bookmark(run) or "").startswith(newest.rstrip("Z"))


def test_output_closed_by_the_target_is_one_line_and_exit_1(sim: Simulator) -> None:
    """The target stops reading (EPIPE on the tap's stdout) after three lines: exit 1, one
    line saying so, no traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        command = tap_command(_config(sim, file_content="inline"), None, Path(tmp))
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tap_env()
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        for _ in range(3):
            assert proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert code == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert "ERROR" in last, last
    assert "broken pipe" in last, last


class _Slow(BaseHTTPRequestHandler):
    """A signed host that sends 100 kB at 5 kB/s (an attachment download in progress)."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.send_header("Content-Type", "application/pdf")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(100):
                self.wfile.write(b"x" * 1000)
                self.wfile.flush()
                time.sleep(0.2)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_sigterm_during_an_attachment_download_loses_nothing(tmp_path: Path) -> None:
    """SIGTERM while an attachment streams into the content store: exit 143 in one line, no
    record says ``archived`` for what did not arrive, and a rerun from the last STATE archives
    every attachment."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    world = tiny_world(attachment_rate=0.9, attachment_size=(2_000, 20_000), conversations=3)
    try:
        with running(SimulatorConfig(**world)) as files_sim:
            route = f"{WS}/users/{{user_id}}/files/{{file_id}}"
            files_sim.inject(route, redirect=f"http://127.0.0.1:{server.server_port}/slow")
            config = _config(
                files_sim, file_content="storage", file_storage_url=str(tmp_path / "store")
            )
            proc = subprocess.Popen(
                tap_command(config, None, tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=tap_env(),
            )
            out: list[bytes] = []
            reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))  # type: ignore[union-attr]
            reader.start()
            deadline = time.monotonic() + 30
            while not _Slow.hits and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _Slow.hits, "no attachment was downloaded: the test proves nothing"
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
            code = proc.wait(timeout=60)
            reader.join(timeout=10)
            records, states = parse_singer(out[0].decode())
            first = TapRun(code, "", stderr, records, states)
            rerun = run_tap(config, first.state)
            truth = files_sim.ground_truth()["attachments"]
    finally:
        server.shutdown()
        server.server_close()
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Stopped by SIGTERM" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    for record in first.records.get("files", []):
        if record["status"] == "archived":
            assert record["sha256"] == truth[record["id"]]["sha256"], record["id"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    archived = {
        r["id"] for run in (first, rerun) for r in run.records["files"] if r["status"] == "archived"
    }
    assert archived == set(truth), set(truth) - archived


@pytest.mark.parametrize("listed", [7, "AUDIT_LOG"])
def test_a_file_listed_with_another_event_type_stays_on_its_listings_chain(
    sim: Simulator, listed: Any
) -> None:
    """A CONVERSATION_MESSAGE listing item saying ``event_type: 7`` (or AUDIT_LOG): the file
    was archived as of that type without a word, on no chain the state anchors, and verify
    said FAILED about the honest archive ("manifest record missing", "state has no head for
    7"). Now it is archived as the type asked for, with a warning, and verifies."""
    page = _page(sim)
    item = {**page["data"][0], "event_type": listed}
    _serve_page(sim, page, data=[item, *page["data"][1:]])
    run = run_tap(_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    said = f"Log file {item['id']} was listed with event_type {listed!r} by the CONVERSATION_"
    assert said in run.stderr
    record = next(r for r in run.records["log_files"] if r["id"] == item["id"])
    assert record["event_type"] == "CONVERSATION_MESSAGE"
    report = _verify(run)
    assert report.status == "intact", [f.line() for f in report.findings]


def _cut_host() -> tuple[socket.socket, str]:
    """A signed host answering 1,000 bytes without Content-Length, then closing: a body cut
    short that no framing tells from a whole one."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nConnection: close\r\n"
                conn.sendall(head + b"\r\n" + b"%PDF" + b"y" * 996)

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/cut"


def test_an_attachment_body_without_framing_is_never_called_archived() -> None:
    """A signed host (or a proxy) answering an attachment without Content-Length or chunked
    encoding, closing after 1,000 of its 4,631 bytes: the tap archived the 1,000 bytes as the
    attachment (``archived``, exit 0). Nothing can tell such a body whole (attachments have
    no listed SHA-256): it is now a failed try, left for the next run, which archives it."""
    listener, url = _cut_host()
    world = tiny_world(attachment_rate=0.9, attachment_size=(2_000, 20_000), conversations=3)
    try:
        with running(SimulatorConfig(**world)) as files_sim:
            files_sim.inject(f"{WS}/users/{{user_id}}/files/{{file_id}}", redirect=url, count=2)
            config = _config(files_sim, file_content="inline", max_retries=1, max_retry_wait=0)
            first = run_tap(config)
            rerun = run_tap(config, first.state)
            truth = files_sim.ground_truth()["attachments"]
    finally:
        listener.close()
    records = first.records["files"]
    failed = [r for r in records if r["status"] == "failed"]
    assert failed, [(r["id"], r["status"], r.get("size")) for r in records]
    assert all("Content-Length" in r["status_reason"] for r in failed), failed[0]["status_reason"]
    for record in records:
        if record["status"] == "archived":
            assert record["sha256"] == truth[record["id"]]["sha256"], record["id"]
    assert first.returncode == 1, first.stderr[-3000:]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert {r["id"] for r in rerun.records["files"] if r["status"] == "archived"} == {
        r["id"] for r in failed
    }
