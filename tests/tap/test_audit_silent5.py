"""Never silent (fifth round): lists that page without end, downloads and listings that lie.

Each fault is served by the simulator (``inject``) or raised in-process where no server can
(the disk filling): it ends as one readable line and exit 1, or is archived; the state never
holds more than what was emitted.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tap_chatgpt_compliance.errors import ListingError
from tap_chatgpt_compliance.http.pagination import MAX_EMPTY_PAGES, PageShapeError
from tap_chatgpt_compliance.sdk import LastLine, log_last_lines
from tap_chatgpt_compliance.tap import TapChatGPTCompliance
from tests.support.simulators import running, tiny_world
from tests.support.tap import assert_one_readable_line, run_tap, tap_config

WS = "/v1/compliance/workspaces/{workspace_id}"


@pytest.fixture(scope="module")
def sim() -> Any:
    config = SimulatorConfig(**tiny_world())
    with running(config) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _no_fault_left(sim: Simulator) -> Any:
    yield
    sim._faults.clear()  # a test that failed early leaves no queued page behind


def _empty_pages(sim: Simulator, route: str, count: int, cursor: str = "last_id") -> None:
    """Queue ``count`` pages of ``route`` with no item, has_more and a new cursor each."""
    for number in range(count):
        page = {"object": "list", "data": [], "has_more": True, cursor: f"next-{number}"}
        sim.inject(route, body=json.dumps(page).encode())


@pytest.mark.parametrize("kind", ["users", "gpts", "projects"])
def test_a_directory_list_of_empty_pages_without_end_fails_the_run(
    sim: Simulator, kind: str
) -> None:
    """300 pages of no item, each with has_more=true and a new last_id: the run asked for all
    300 (then the simulator's own answer ended the list) and exited 0; a server that never
    stops held the run forever. Now: 10 pages, one line naming the list, exit 1."""
    route = f"{WS}/{kind}"
    _empty_pages(sim, route, 300)
    sim.reset_counters()
    run = run_tap(tap_config(sim, event_types=["AUDIT_LOG"]))
    assert_one_readable_line(run, f"/{kind} answered {MAX_EMPTY_PAGES} pages in a row")
    assert sim.request_count(route) == MAX_EMPTY_PAGES
    assert not run.records.get(kind)


def _tap(sim: Simulator) -> TapChatGPTCompliance:
    return TapChatGPTCompliance(config=tap_config(sim), validate_config=False)


def test_a_per_user_or_cursor_list_of_empty_pages_without_end_fails_loudly(sim: Simulator) -> None:
    """The lists read by the workspace-object streams (``after=last_id``: canvases, memories,
    …; ``cursor``: Codex tasks, library files) paged empty pages without end alike."""
    tap = _tap(sim)
    canvases = tap.streams["canvases"]
    user = sorted(canvases.user_ids())[0]  # type: ignore[attr-defined]
    route = f"{WS}/users/{{user_id}}/canvases"
    _empty_pages(sim, route, 50)
    with pytest.raises(ListingError, match=f"{MAX_EMPTY_PAGES} pages in a row with no item"):
        list(canvases.iter_list(f"users/{user}/canvases", limit=30))  # type: ignore[attr-defined]
    codex = tap.streams["codex_tasks"]
    _empty_pages(sim, f"{WS}/codex_tasks", 50, cursor="cursor")
    sim.reset_counters()
    with pytest.raises(
        ListingError, match=f"codex_tasks answered {MAX_EMPTY_PAGES} pages in a row"
    ):
        list(codex.iter_cursor("codex_tasks", limit=30))  # type: ignore[attr-defined]
    assert sim.request_count(f"{WS}/codex_tasks") == MAX_EMPTY_PAGES


def test_a_cursor_page_saying_has_more_without_a_cursor_is_no_page(sim: Simulator) -> None:
    """A Codex tasks page with has_more=true and no cursor ended the list there: the tasks
    after it were never read, exit 0 (a Gen-1 page without last_id was already refused)."""
    codex = _tap(sim).streams["codex_tasks"]
    page = {"data": [{"id": "task-1", "title": "t"}], "has_more": True, "cursor": None}
    sim.inject(f"{WS}/codex_tasks", body=json.dumps(page).encode())
    with pytest.raises(PageShapeError, match="has_more=true without a 'cursor'"):
        list(codex.iter_cursor("codex_tasks", limit=30))  # type: ignore[attr-defined]


def test_a_log_listing_that_jumps_past_the_api_time_fails_before_skipping(sim: Simulator) -> None:
    """Empty log pages with has_more=true, each last_end_time a day later: past the API's time
    the listing ended "nothing_new", exit 0, no log file read, while the workspace had one
    (api_max_event_time said so). Now: the first page past the API's time fails the run in
    one line; no file, no bookmark."""
    route = f"{WS}/logs"
    config = tap_config(sim, event_types=["AUDIT_LOG"])
    start = datetime.fromisoformat(config["start_date"])
    for day in range(1, 300):
        when = (start + timedelta(days=day)).isoformat()
        page = {"data": [], "has_more": True, "last_end_time": when}
        sim.inject(route, body=json.dumps(page).encode())
    sim.reset_counters()
    run = run_tap(config)
    assert_one_readable_line(run, "AUDIT_LOG listing", "later than the API's time")
    assert sim.request_count(route) in (30, 31)  # 29 days back: the page of the day after now
    assert not run.records.get("log_files")
    partitions = (run.state or {}).get("bookmarks", {}).get("log_files", {}).get("partitions")
    assert not any("replication_key_value" in p for p in partitions or []), partitions


def _first_page(sim: Simulator, config: dict[str, Any]) -> dict[str, Any]:
    """Return the simulator's first CONVERSATION_MESSAGE listing page (not an empty one)."""
    for _ in range(3):  # the simulator's empty_pages quirk answers some pages empty, once
        answer = requests.get(
            f"{sim.base_url}/compliance/workspaces/{sim.workspace_id}/logs",
            params={"event_type": "CONVERSATION_MESSAGE", "after": config["start_date"]},
            headers={"Authorization": f"Bearer {sim.api_key}"},
            timeout=10,
        )
        page: dict[str, Any] = answer.json()
        if page["data"]:
            return page
    raise AssertionError("the simulator listed no log file")


def test_a_log_file_listed_twice_with_another_sha256_fails_the_run(sim: Simulator) -> None:
    """The same file listed again in one listing with another file_sha256: the second listing
    was skipped as a file already read, exit 0, the contradiction unseen. Now the file is
    archived as the bytes matching the first (the bookmark moves), and the run fails at its
    end in one line naming the file and both hashes."""
    config = tap_config(sim, file_content="none")
    page = _first_page(sim, config)
    first = page["data"][0]
    again = {**first, "file_sha256": "0" * 64}
    body = {**page, "data": [first, again, *page["data"][1:]]}
    sim.inject(f"{WS}/logs", body=json.dumps(body).encode())
    run = run_tap(config)
    assert_one_readable_line(run, f"Log file {first['id']} was listed twice", "0000000000000000")
    assert first["id"] in run.ids("log_files")
    assert len(run.records["log_files"]) == len(run.ids("log_files"))  # once
    partitions = (run.state or {})["bookmarks"]["log_files"]["partitions"]
    assert partitions[0].get("replication_key_value")


@pytest.mark.parametrize("bad_id", [12345, True])
def test_a_listed_log_file_whose_id_is_no_string_stops_before_it(
    sim: Simulator, bad_id: Any
) -> None:
    """An id 12345 was asked for as file "12345": "HTTP 404 … it may have just passed the 30-day
    retention", a wrong lead. Now it is an item without an id: one line, and the bookmark stays
    at the file before it."""
    config = tap_config(sim, file_content="none")
    page = _first_page(sim, config)
    if len(page["data"]) < 2:
        pytest.skip("one file listed: no file before the bad item")
    items = [dict(item) for item in page["data"]]
    items[1]["id"] = bad_id
    sim.inject(f"{WS}/logs", body=json.dumps({**page, "data": items}).encode())
    run = run_tap(config)
    assert_one_readable_line(run, "log listing holds an item without an id")
    assert run.ids("log_files") == {items[0]["id"]}
    bookmark = (run.state or {})["bookmarks"]["log_files"]["partitions"][0]
    assert bookmark["replication_key_value"].startswith(items[0]["end_time"].rstrip("Z"))


def test_nothing_is_logged_after_the_line_that_ends_the_run() -> None:
    """The filter behind it (sdk.LastLine): a thread logging after the last line is dropped."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        LastLine.open()
        logger = logging.getLogger("tap-chatgpt-compliance.test-last-line")
        logger.warning("before")
        log_last_lines(logger, ["one setting", "the last line"])
        late = threading.Thread(target=logger.warning, args=("a retry, after the end",))
        late.start()
        late.join()
        assert stream.getvalue().splitlines() == ["before", "one setting", "the last line"]
    finally:
        LastLine.closed = False
        logging.getLogger().removeHandler(handler)


def test_a_download_retried_ahead_never_logs_after_the_error_line(simulator_factory: Any) -> None:
    """Every signed URL answering 204: the file being read fails the run while the next one,
    read ahead on its own thread, is still retried; its "Retrying …" lines came after the
    error line in 3 runs of 6 (the error was then not the log's last line)."""
    files = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    config = tap_config(files, file_content="none", max_retries=2, max_retry_wait=0)
    files.inject("signed", body=b"", status=204, headers={}, count=1000)
    for _ in range(3):
        assert_one_readable_line(run_tap(config), "answered HTTP 204")


def test_a_line_past_the_filter_before_the_end_is_still_dropped() -> None:
    """The race behind a CI failure (a "Retrying …" WARNING after the error line): a thread's
    record passed the filters, then the main thread logged the last line before that record took
    the handler's lock. The check is made again under the handler's lock."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    passed = threading.Event()
    ended = threading.Event()

    class _Pause(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.getMessage() == "a retry":
                passed.set()
                ended.wait(5)
            return True

    logging.getLogger().addHandler(handler)
    try:
        LastLine.open()
        handler.addFilter(_Pause())  # after LastLine's: the record is past it when it pauses
        logger = logging.getLogger("tap-chatgpt-compliance.test-last-line-race")
        late = threading.Thread(target=logger.warning, args=("a retry",))
        late.start()
        assert passed.wait(5)
        log_last_lines(logger, ["the last line"])
        ended.set()
        late.join(5)
        assert stream.getvalue().splitlines() == ["the last line"]
    finally:
        LastLine.closed = False
        logging.getLogger().removeHandler(handler)
