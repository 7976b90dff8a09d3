"""Every fatal path ends with one readable line and exit 1, never a traceback (issue #7).

Each scenario runs the tap as a real process against the simulator, and checks that the
bookmark never moves past a log file that was not fully archived, then (where the fault can
clear) that a rerun from the last STATE loses nothing.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError

from chatgpt_compliance_simulator import Faults, Oddities, Simulator
from tap_chatgpt_compliance.errors import ListingError, fatal_message
from tap_chatgpt_compliance.http.pagination import check_listing_order
from tap_chatgpt_compliance.timeparse import to_datetime
from tests.support.singer import bookmark, rewind_bookmark
from tests.support.tap import TapRun, assert_one_readable_line, run_tap, tap_config

DOWNLOAD = "/v1/compliance/workspaces/{workspace_id}/logs/{log_file_id}"
LIST = "/v1/compliance/workspaces/{workspace_id}/logs"
MIB = 1024 * 1024
FAST_FAIL = {"max_retries": 2, "max_retry_wait": 0, "file_content": "none"}


def bookmark_value(run: TapRun) -> datetime | None:
    """Return the CONVERSATION_MESSAGE bookmark of the last STATE, None if there is none."""
    if run.state is None or not run.state.get("bookmarks", {}).get("log_files", {}).get(
        "partitions"
    ):
        return None
    return to_datetime(bookmark(run.state).get("replication_key_value"))


def messages_by_run(*runs: TapRun) -> set[str]:
    ids: set[str] = set()
    for run in runs:
        ids |= run.ids("messages")
    return ids


@pytest.fixture
def archived(simulator_factory) -> tuple[Simulator, dict[str, Any]]:
    """A simulator and the state of a first run, rewound by 12 hours (files left to archive)."""
    sim = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    first = run_tap(tap_config(sim, file_content="none"))
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.state is not None
    return sim, rewind_bookmark(first.state, sim.now() - timedelta(hours=12))


def test_retries_exhausted_on_5xx(archived: tuple[Simulator, dict[str, Any]]) -> None:
    sim, state = archived
    before = to_datetime(bookmark(state)["replication_key_value"])
    assert before is not None
    sim.inject(DOWNLOAD, status=503, count=3)
    run = run_tap(tap_config(sim, **FAST_FAIL), state=state)
    assert_one_readable_line(run, "HTTP 503", "still failing after 3 tries", "max_retries")
    assert run.records["log_files"] == []
    assert bookmark_value(run) == before
    rerun = run_tap(tap_config(sim, **FAST_FAIL), state=run.state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    pending = {f["id"] for f in sim.log_files() if (to_datetime(f["end_time"]) or before) > before}
    assert pending <= rerun.ids("log_files")


def test_unreachable_api(simulator: Simulator) -> None:
    """Connection refused on a closed loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tap_config(simulator, api_url=f"http://127.0.0.1:{port}/v1", **FAST_FAIL)
    run = run_tap(config)
    last = assert_one_readable_line(run, f"Cannot reach http://127.0.0.1:{port}", "api_url")
    assert "refused" in last.lower()
    assert "after 3 tries" in last
    assert bookmark_value(run) is None


def test_an_unreachable_download_host_is_named_as_such(simulator_factory) -> None:
    """The API answers, its redirect points to a host that refuses connections: the line names
    that host as the signed download's, not api_url (which works)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sim: Simulator = simulator_factory(seed=11, span_days=0.8)
    sim.inject(DOWNLOAD, redirect=f"http://127.0.0.1:{port}/o/file.jsonl", count=20)
    run = run_tap(tap_config(sim, **FAST_FAIL))
    last = assert_one_readable_line(
        run, f"Cannot reach http://127.0.0.1:{port}, the download host the API redirected to"
    )
    assert "api_url" not in last
    assert bookmark_value(run) is None


def test_a_signed_url_answering_204_is_one_sentence(simulator_factory) -> None:
    """The signed host answers 204 (no body): retried, then one line (not "204.: still")."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8)
    sim.inject("signed", status=204, count=20)
    run = run_tap(tap_config(sim, **FAST_FAIL))
    assert_one_readable_line(
        run, "The signed download URL answered HTTP 204: still failing after 3 tries"
    )
    assert bookmark_value(run) is None


def test_signed_urls_always_expired(simulator_factory) -> None:
    sim = simulator_factory(seed=11, span_days=0.8, faults=Faults(expired_signed_url_rate=1.0))
    run = run_tap(tap_config(sim, **FAST_FAIL))
    assert_one_readable_line(run, "signed download URLs in a row were expired", "clock")
    assert run.records["log_files"] == []
    assert run.records["messages"] == []
    assert bookmark_value(run) is None


def test_listing_out_of_order_fails_before_any_file(simulator_factory) -> None:
    sim = simulator_factory(seed=11, span_days=0.8, oddities=Oddities(out_of_order_listing=True))
    run = run_tap(tap_config(sim, **FAST_FAIL))
    assert_one_readable_line(run, "CONVERSATION_MESSAGE listing is out of order")
    assert sim.request_count(DOWNLOAD) == 0
    assert run.records["log_files"] == []
    assert bookmark_value(run) is None


def test_listing_out_of_order_across_pages_is_caught() -> None:
    """An item earlier than the ``after`` asked for would be behind the bookmark: fail."""
    page = [{"id": "b", "end_time": "2026-07-27T10:00:00Z"}]
    with pytest.raises(ListingError, match="file b"):
        check_listing_order(page, key="end_time", after="2026-07-27T11:00:00Z", what="x")
    same: list[dict[str, Any]] = [
        {"id": "c", "end_time": "2026-07-27T11:00:00Z"},
        {"id": "d", "end_time": None},
    ]
    check_listing_order(same, key="end_time", after="2026-07-27T11:00:00Z", what="x")


def test_stuck_listing_fails_the_run_and_keeps_what_was_archived(simulator_factory) -> None:
    """has_more forever without advancing: exit 1 (a scheduler alerts); processed files kept."""
    sim = simulator_factory(seed=11, span_days=0.8, oddities=Oddities(stuck_listing=True))
    run = run_tap(tap_config(sim, **FAST_FAIL))
    assert_one_readable_line(run, "kept answering has_more=true without advancing", "stuck")
    listed = sim.log_files()
    assert run.ids("log_files") == {f["id"] for f in listed}  # the first page was archived
    assert run.ids("messages") == set(sim.ground_truth()["messages"])
    assert bookmark_value(run) == to_datetime(listed[-1]["end_time"])
    downloads = sim.request_count(DOWNLOAD)
    again = run_tap(tap_config(sim, **FAST_FAIL), state=run.state)
    assert_one_readable_line(again, "stuck")
    assert sim.request_count(DOWNLOAD) == downloads  # nothing archived twice, nothing lost
    assert bookmark_value(again) == bookmark_value(run)


def test_a_line_above_max_record_bytes_fails_then_a_rerun_archives_it(simulator_factory) -> None:
    """A 3 MiB message with a 2 MiB limit: a clear line naming both settings, nothing lost."""
    size = 3 * MIB
    sim = simulator_factory(seed=11, span_days=0.8, oddities=Oddities(huge_message_bytes=size))
    config = tap_config(sim, file_content="none", max_record_bytes=2 * MIB)
    run = run_tap(config)
    last = assert_one_readable_line(
        run, "The messages record", "max_record_bytes", "MELTANO_ELT_BUFFER_SIZE", "elt.buffer_size"
    )
    assert max(len(line) for line in run.stdout.splitlines()) <= 2 * MIB
    assert all(len(r.get("content_text") or "") < size for r in run.records["messages"])
    huge_file = last.split("log file ")[1].split(")")[0]
    assert huge_file not in run.ids("log_files")
    huge_end = next(to_datetime(f["end_time"]) for f in sim.log_files() if f["id"] == huge_file)
    reached = bookmark_value(run)
    assert huge_end is not None
    assert reached is None or reached < huge_end
    rerun = run_tap({**config, "max_record_bytes": 8 * MIB}, state=run.state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert any(len(r.get("content_text") or "") == size for r in rerun.records["messages"])
    assert messages_by_run(run, rerun) == set(sim.ground_truth()["messages"])


@pytest.mark.parametrize(
    ("exc", "fragments"),
    [
        (RetriableAPIError("HTTP 502 Bad Gateway for path /v1/x"), ["HTTP 502", "max_retries"]),
        (requests.exceptions.ReadTimeout("read timed out"), ["request_timeout"]),
        (requests.exceptions.ChunkedEncodingError("broken"), ["failed while reading"]),
        (OSError(28, "No space left on device"), ["No space left", "file_storage_url"]),
        (BrokenPipeError(32, "Broken pipe"), ["broken pipe"]),
        (RuntimeError("boom\nsecond line"), ["Unexpected error RuntimeError: boom second line"]),
    ],
)
def test_every_exception_becomes_one_line(exc: BaseException, fragments: list[str]) -> None:
    line = fatal_message(exc)
    assert "\n" not in line
    for fragment in fragments:
        assert fragment in line
