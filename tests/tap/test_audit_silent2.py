"""A bad day in production, round 2: attachments, state and resumption.

Each test meets a fault an hourly ``meltano run`` can meet and checks that it never ends with
exit 0 and a record saying more than is there (docs/architecture.md, "never silent").
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.attachments.archive import AttachmentArchiver, AttachmentRef
from tap_chatgpt_compliance.http.transport import Transport
from tap_chatgpt_compliance.settings import Settings
from tests.support.tap import run_tap, tap_config
from tests.tap.test_selection import Selected
from tests.tap.test_workspace_objects import make_sim, run_objects

WS = "/v1/compliance/workspaces/{workspace_id}"
USER_FILE = f"{WS}/users/{{user_id}}/files/{{file_id}}"
LOG_DOWNLOAD = f"{WS}/logs/{{log_file_id}}"
PROXY_PAGE = "<html><body><h1>Access denied</h1>Contact your IT department.</body></html>"


@pytest.fixture
def fresh(simulator_factory) -> Simulator:
    """A small workspace whose attachments are all still downloadable (uploaded < 24 h ago)."""
    return simulator_factory(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)


def _live(sim: Simulator) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sim.ground_truth()["attachments"].items() if not v["expired"]}


def _archiver(sim: Simulator, **overrides: Any) -> AttachmentArchiver:
    settings = Settings.from_config(tap_config(sim, max_retries=0, **overrides))
    logger = logging.getLogger("test-audit-silent2")
    return AttachmentArchiver(settings, Transport(settings, logger), logger)


# --------------------------------------------------------------------------- 1. attachments


@pytest.mark.parametrize(
    "file_id",
    ["../../../users", "../../../gpts", "x/../../../projects", "..", "file-x#frag", "a?b=c"],
)
def test_an_attachment_id_with_path_characters_never_fetches_another_route(
    fresh: Simulator, file_id: str
) -> None:
    """An id from a log event is one path segment: ``../../../users`` once made the tap GET the
    users list (with the API key) and archive it as the attachment, status ``archived``."""
    info = next(iter(_live(fresh).values()))
    ref = AttachmentRef(file_id, info["user_id"], info["conversation_id"], None, None, None, None)
    fresh.reset_counters()
    outcome = _archiver(fresh).fetch(ref)
    assert outcome.status == "not_found", outcome
    assert outcome.fetched is None
    for route in (f"{WS}/users", f"{WS}/gpts", f"{WS}/projects"):
        assert fresh.request_count(route) == 0, route
    assert fresh.request_count() == fresh.request_count(USER_FILE)


def test_a_user_id_with_path_characters_never_fetches_another_route(fresh: Simulator) -> None:
    file_id, info = next(iter(_live(fresh).items()))
    ref = AttachmentRef(file_id, "../..", info["conversation_id"], None, None, None, None)
    fresh.reset_counters()
    outcome = _archiver(fresh).fetch(ref)
    assert outcome.status == "not_found", outcome
    assert fresh.request_count(f"{WS}/gpt_files/{{file_id}}") == 0
    assert fresh.request_count() == fresh.request_count(USER_FILE)


def test_an_html_page_instead_of_the_redirect_is_never_archived(fresh: Simulator) -> None:
    """A proxy or gateway answering the download route 200 with its own page: the API answers
    a download with a 307 only. The page was archived as every attachment, exit 0."""
    live = _live(fresh)
    page_sha = hashlib.sha256(PROXY_PAGE.encode()).hexdigest()
    fresh.inject(USER_FILE, page=PROXY_PAGE, count=1000)
    run = run_tap(tap_config(fresh, max_retries=0, max_retry_wait=0))
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    records = run.records["files"]
    assert {r["id"] for r in records} == set(live)
    assert all(r["status"] != "archived" for r in records)
    assert all(r["sha256"] != page_sha for r in records)
    failed = [r for r in records if r["status"] == "failed"]
    assert failed
    assert "200" in failed[0]["status_reason"]
    assert "text/html" in failed[0]["status_reason"]
    pending = run.state["bookmarks"]["files"]["pending_attachments"]  # retried by later runs
    assert {e["id"] for e in pending} == set(live)


def test_an_html_page_instead_of_a_log_file_redirect_fails_in_one_line(
    fresh: Simulator,
) -> None:
    fresh.inject(LOG_DOWNLOAD, page=PROXY_PAGE, count=1000)
    run = run_tap(tap_config(fresh, file_content="none", max_retries=0, max_retry_wait=0))
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "text/html" in last, last
    assert "Traceback" not in run.stderr
    assert run.records["log_files"] == []


@pytest.mark.parametrize("route", [f"{WS}/logs", f"{WS}/users"])
def test_an_html_page_instead_of_a_listing_page_says_what_answered(
    fresh: Simulator, route: str
) -> None:
    """A proxy's page (HTTP 200, text/html) on a listing route: one line saying a body that is
    not JSON came, with its type (it read "The connection ... failed (JSONDecodeError)", which
    sends one looking at the network), and nothing is skipped."""
    fresh.inject(route, page=PROXY_PAGE, count=1000)
    run = run_tap(tap_config(fresh, file_content="none", max_retries=0, max_retry_wait=0))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    said = run.stderr + run.stdout
    assert "is not JSON (text/html" in said, said[-3000:]
    assert "Access denied" not in said  # the page itself is never echoed
    if route.endswith("/logs"):
        assert run.records["log_files"] == []


def test_store_keeps_nothing_but_content_addresses(fresh: Simulator, tmp_path: Path) -> None:
    """An attachment id never names a path in the store: only SHA-256 digests do."""
    store = tmp_path / "store"
    info = next(iter(_live(fresh).values()))
    ref = AttachmentRef(
        "../../escape", info["user_id"], info["conversation_id"], None, None, None, None
    )
    archiver = _archiver(fresh, file_content="storage", file_storage_url=str(store))
    archiver.fetch(ref)
    assert not (tmp_path / "escape").exists()
    assert [p for p in tmp_path.rglob("*") if "escape" in p.name] == []


def test_files_selected_without_file_parts_never_says_archived_without_the_bytes(
    simulator_factory,
) -> None:
    """Meltano ``select: [files.*]`` leaves ``file_parts`` out: an attachment larger than
    max_inline_file_bytes was recorded ``archived`` with a ``part_count`` and no part anywhere,
    exit 0 (as ``log_file_parts`` deselected gives ``raw_content: none``)."""
    sim = simulator_factory(seed=23, span_days=0.8, speed=60.0, attachment_rate=0.4)
    runner = Selected(sim, {"files"}, max_inline_file_bytes=4096)
    try:
        run = runner.run()  # exit 0: a choice of the catalog, said in each record
    finally:
        runner.close()
    live = _live(sim)
    records = {r["id"]: r for r in run.records["files"]}
    large = {k for k, v in live.items() if v["size"] > 4096}
    small = set(live) - large
    assert large
    assert small
    for file_id in large:  # its bytes are nowhere in the output: not archived
        record = records[file_id]
        assert record["status"] == "metadata_only", record
        assert (record["part_count"], record["archived_at"]) == (None, None)
        assert record["sha256"] == live[file_id]["sha256"]
        assert "file_parts" in record["status_reason"]
    for file_id in small:  # inline in the record itself: archived
        assert records[file_id]["status"] == "archived"
        assert records[file_id]["content_base64"]
    assert "file_parts" in run.stderr


def test_knowledge_files_selected_without_their_parts_never_say_archived(
    simulator_factory,
) -> None:
    """The same for ``gpt_files`` without ``gpt_files_parts``."""
    sim = make_sim(simulator_factory)
    run = run_objects(sim, {"gpt_configs", "gpt_files"}, max_inline_file_bytes=120_000)
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sim.inventory_truth()["gpt_files"]
    records = run.records["gpt_files"]
    large = [r for r in records if r["size"] and r["size"] > 120_000]
    assert large
    for record in large:
        assert record["status"] == "metadata_only", record
        assert record["sha256"] == truth[record["id"]]["sha256"]
        assert "gpt_files_parts" in record["status_reason"]
    assert any(r["status"] == "archived" and r["content_base64"] for r in records)


@pytest.mark.parametrize("hostile", ["../../gpts", "..", "x#y", "a?limit=1"])
def test_a_served_id_is_one_path_segment_in_every_workspace_route(
    simulator_factory: Any, hostile: str
) -> None:
    """The workspace-object streams build routes from ids the API served (users, GPTs,
    projects, canvases, recordings, Codex tasks): each id is one path segment, so a hostile one
    never sends the key to another route nor reads another route's answer as its own; an id no
    segment can hold (``..``) is refused without a request."""
    from tap_chatgpt_compliance.http.transport import BadPathSegment
    from tap_chatgpt_compliance.tap import TapChatGPTCompliance

    sim = simulator_factory(seed=5, span_days=0.3)
    tap = TapChatGPTCompliance(config=tap_config(sim), validate_config=False)
    canvases = tap.streams["canvases"]
    versions = tap.streams["canvas_versions"]
    configs = tap.streams["gpt_configs"]
    transcripts = tap.streams["recording_transcripts"]
    details = tap.streams["codex_task_details"]
    sim.reset_counters()
    calls = [
        lambda: canvases.listed_canvases(hostile),  # type: ignore[attr-defined]
        lambda: list(versions._versions(hostile, hostile, None)),  # type: ignore[attr-defined]
        lambda: list(
            transcripts.refresh({"user_id": hostile, "recording_id": hostile}, {})  # type: ignore[attr-defined]
        ),
        lambda: list(details.refresh({"task_id": hostile}, {})),  # type: ignore[attr-defined]
    ]
    for call in calls:
        try:
            assert not call()  # the encoded route names nothing: 404, no rows
        except BadPathSegment:
            assert hostile == ".."
    configs.containers = lambda kind: [{"id": hostile}]  # type: ignore[attr-defined]
    try:
        assert not list(configs.refresh(None, {}))  # type: ignore[attr-defined]
    except BadPathSegment:
        assert hostile == ".."
    expected = [
        f"{WS}/users/{{user_id}}/canvases",
        f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}",
        f"{WS}/users/{{user_id}}/recordings/{{recording_id}}/transcript",
        f"{WS}/codex_tasks/{{task_id}}",
        f"{WS}/gpts/{{gpt_id}}/configs",
        f"{WS}/gpts/{{gpt_id}}",  # its configs answered 404: is the GPT itself gone?
    ]
    asked = [sim.request_count(route) for route in expected]
    assert sim.request_count("unmatched") == 0  # a path resolved elsewhere, or cut at # or ?
    assert sim.request_count() == sum(asked)  # every request went to the route meant
    assert all(asked) or hostile == ".."  # each one asked, the id encoded in its segment
