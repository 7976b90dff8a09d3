"""Never silent (thirteenth round): a route of the workspace objects gone for every object.

A 404 for one object is churn (a user, canvas or Codex task deleted since it was listed). A 404
for every one of them is a route gone or a fault: before, the canvases of every user, the
versions of every canvas and the details of every Codex task answering 404 ended in exit 0 with
nothing of them archived, the refresh recorded (canvas versions older than its watermark were
never read again; the Codex tasks' change buckets kept, so their details were never asked
again). Now: one readable line naming the stream and the 404, exit 1, the refresh not recorded,
and the next run reads them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tests.support.simulators import running, tiny_world
from tests.support.tap import assert_one_readable_line, run_tap, tap_config
from tests.tap.test_workspace_objects import run_objects

WS = "/v1/compliance/workspaces/{workspace_id}"
CANVASES = f"{WS}/users/{{user_id}}/canvases"
CANVAS = f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}"
TASK = f"{WS}/codex_tasks/{{task_id}}"


@pytest.fixture(scope="module")
def objects() -> Any:
    """A workspace with canvases (on several users) and Codex tasks (no rate limits)."""
    config = SimulatorConfig(
        seed=2121,
        users=4,
        conversations=2,
        span_days=1.0,
        rate_limits=False,
        inventory=Inventory(config_versions_per_day=1.0),
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _no_fault_left(objects: Simulator) -> Any:
    yield
    objects._faults.clear()


def _refreshed(state: dict[str, Any] | None, stream: str) -> bool:
    assert state is not None
    return "refreshed_at" in (state["bookmarks"].get(stream) or {})


def test_a_404_for_every_users_canvases_is_not_an_empty_archive(objects: Simulator) -> None:
    """Every user's canvas list answered 404: exit 0 with no canvas and no version, refreshed."""
    truth = objects.inventory_truth()["canvases"]
    assert len({canvas["user_id"] for canvas in truth.values()}) > 1
    objects.inject(CANVASES, status=404, count=100)
    run = run_objects(objects, {"canvases", "canvas_versions"})
    last = assert_one_readable_line(run, "404", "every user")
    assert "canvases" in last
    assert not run.records["canvases"]
    assert not run.records["canvas_versions"]
    assert not _refreshed(run.state, "canvases")
    assert not _refreshed(run.state, "canvas_versions")
    # The next run (the route back) archives them all.
    objects._faults.clear()
    again = run_objects(objects, {"canvases", "canvas_versions"}, state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {row["id"] for row in again.records["canvases"]} == set(truth)


def test_a_404_for_one_users_canvases_is_churn(objects: Simulator) -> None:
    """One user's canvas list answered 404 (a user deleted since listed): exit 0."""
    objects.inject(CANVASES, status=404, count=1)
    run = run_objects(objects, {"canvases"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert _refreshed(run.state, "canvases")


def test_a_404_for_every_canvas_versions_is_not_an_empty_archive(objects: Simulator) -> None:
    """Every canvas answered 404 for its versions while listed: exit 0, no version, and the
    watermark moved past them (an incremental refresh never read them again)."""
    truth = objects.inventory_truth()["canvases"]
    versions = {(cid, v["version"]) for cid, c in truth.items() for v in c["versions"]}
    objects.inject(CANVAS, status=404, count=1000)
    run = run_objects(objects, {"canvases", "canvas_versions"})
    last = assert_one_readable_line(run, "canvas_versions", "404", "every canvas")
    assert f"{len(truth)} canvases" in last
    assert len(run.records["canvases"]) == len(truth)  # the list itself is archived
    assert not run.records["canvas_versions"]
    assert not _refreshed(run.state, "canvas_versions")
    objects._faults.clear()
    again = run_objects(objects, {"canvases", "canvas_versions"}, state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    got = {(row["textdoc_id"], row["version"]) for row in again.records["canvas_versions"]}
    assert got == versions


def test_a_404_for_one_canvas_is_churn(objects: Simulator) -> None:
    """One canvas's versions answered 404 (deleted since listed): exit 0."""
    objects.inject(CANVAS, status=404, count=1)
    run = run_objects(objects, {"canvas_versions"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert _refreshed(run.state, "canvas_versions")


def test_a_404_for_every_codex_task_detail_is_not_an_empty_archive(objects: Simulator) -> None:
    """Every listed Codex task answered 404 for its details: exit 0, no detail, and the tasks'
    change buckets recorded, so no later run asked for those details again."""
    tasks = objects.inventory_truth()["codex_tasks"]
    assert len(tasks) > 1
    objects.inject(TASK, status=404, count=1000)
    run = run_objects(objects, {"codex_tasks", "codex_task_details"})
    last = assert_one_readable_line(run, "codex_task_details", "404", "every")
    assert f"{len(tasks)} tasks" in last
    assert len(run.records["codex_tasks"]) == len(tasks)
    assert not run.records["codex_task_details"]
    assert not _refreshed(run.state, "codex_tasks")
    objects._faults.clear()
    again = run_objects(objects, {"codex_tasks", "codex_task_details"}, state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {row["id"] for row in again.records["codex_task_details"]} == set(tasks)


def test_a_404_for_one_codex_task_detail_is_churn(objects: Simulator) -> None:
    """One task gone between the list and its details: exit 0, the refresh recorded."""
    objects.inject(TASK, status=404, count=1)
    run = run_objects(objects, {"codex_tasks", "codex_task_details"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert _refreshed(run.state, "codex_tasks")


# --------------------------------------------------------------------------- a watermark ahead


WATERMARKED = {"canvases", "canvas_versions", "memories", "memory_entries", "gpt_configs"}


def test_a_refresh_time_later_than_the_apis_is_set_aside_loudly(objects: Simulator) -> None:
    """A state whose ``refreshed_at`` lies two days ahead of the API's time (written by a run
    that trusted a wrong clock, or edited): the incremental streams read only what changed at
    or after it, so nothing; exit 0, and the refresh recorded at the true time, so what changed
    before was never read again. Now: set aside in one line (like a log bookmark ahead), every
    version and entry read, exit 1."""
    first = run_objects(objects, WATERMARKED)  # what a run without a state archives
    assert first.returncode == 0, first.stderr[-2000:]
    ahead = (objects.now() + timedelta(days=2)).isoformat(timespec="seconds")
    names = ("canvas_versions", "memory_entries", "gpt_configs")
    state = {"bookmarks": {name: {"refreshed_at": ahead} for name in names}}
    run = run_objects(objects, WATERMARKED, state=state)
    last = assert_one_readable_line(run, "refreshed_at", ahead, "later than the API's time")
    for name in names:
        assert f"stream '{name}'" in last
        assert run.records[name]
        assert {row["raw_sha256"] for row in run.records[name]} == {
            row["raw_sha256"] for row in first.records[name]
        }
    assert run.state is not None
    for name in names:  # the next refresh starts from this run's (true) time
        assert run.state["bookmarks"][name]["refreshed_at"] < ahead


# --------------------------------------------------------------------------- organization_id


def test_an_organization_id_of_another_organization_is_named(objects: Simulator) -> None:
    """A well-formed ``organization_id`` that is not the workspace's organization: the API
    answers 404 on the organization's logs. The line said "workspace_id … was not found … Check
    workspace_id" (the one setting that was right); it names organization_id now."""
    wrong = "org-" + "q" * 24
    config = tap_config(objects, event_types=["COSTS"], organization_id=wrong)
    run = run_tap(config)
    last = assert_one_readable_line(run, "HTTP 404", f"organization_id {wrong}")
    assert "Check workspace_id" not in last
    assert not run.records.get("log_files")


def test_a_key_of_another_organization_is_named(objects: Simulator) -> None:
    """A 403 on the organization's logs named the workspace the key may belong to."""
    objects.inject("/v1/compliance/organizations/{organization_id}/logs", status=403, count=20)
    config = tap_config(objects, event_types=["COSTS"], organization_id=objects.organization_id)
    last = assert_one_readable_line(run_tap(config), "HTTP 403", "organization_id")
    assert "another workspace" not in last


# --------------------------------------------------------------------------- chat uploads

UPLOAD = f"{WS}/users/{{user_id}}/files/{{file_id}}"


@pytest.fixture(scope="module")
def uploads() -> Any:
    """A tiny workspace whose messages carry several chat uploads."""
    config = SimulatorConfig(
        **tiny_world(attachment_rate=0.6, conversations=3, attachment_size=(200, 2000))
    )
    with running(config) as simulator:
        yield simulator
        simulator._faults.clear()


@pytest.fixture
def clean_uploads(uploads: Simulator) -> Any:
    """The uploads simulator, its queued faults dropped at the end of the test."""
    yield uploads
    uploads._faults.clear()


def test_a_404_for_every_attachment_of_a_run_is_said(clean_uploads: Simulator) -> None:
    """Every chat upload of the run answered 404 (the Gen-1 file route gone, as GET
    /conversations went in 2026, or a fault): each was recorded not_found, a warning each, exit
    0. Now the run ends in one line naming the 404 of every attachment, exit 1; the records are
    kept as they were."""
    clean_uploads.inject(UPLOAD, status=404, count=1000)
    run = run_tap(tap_config(clean_uploads))
    files = run.records["files"]
    assert len(files) >= 2
    assert {row["status"] for row in files} == {"not_found"}
    last = assert_one_readable_line(run, "Every attachment", "404", f"({len(files)} attachments")
    assert "users/{user_id}/files/{file_id}" in last


def test_a_404_for_one_attachment_is_churn(clean_uploads: Simulator) -> None:
    """One upload answering 404 among others archived is that file, not the route: exit 0."""
    clean_uploads.inject(UPLOAD, status=404, count=1)
    run = run_tap(tap_config(clean_uploads))
    assert run.returncode == 0, run.stderr[-2000:]
    statuses = [row["status"] for row in run.records["files"]]
    assert statuses.count("not_found") == 1
    assert "archived" in statuses


# --------------------------------------------------------------------------- knowledge files

GPT_FILE = f"{WS}/gpt_files/{{file_id}}"


def test_a_404_for_every_knowledge_file_is_said(objects: Simulator) -> None:
    """Every GPT knowledge file of the new configurations answered 404 (files the reference
    says are kept indefinitely): each recorded not_found, exit 0. Now one line naming the
    stream, exit 1; the records are kept as they were."""
    objects.inject(GPT_FILE, status=404, count=1000)
    run = run_objects(objects, {"gpt_configs", "gpt_files"})
    files = run.records["gpt_files"]
    assert len(files) >= 2
    assert {row["status"] for row in files} == {"not_found"}
    assert_one_readable_line(run, "gpt_files", "404", f"({len(files)} files")


def test_a_404_for_one_knowledge_file_is_that_file(objects: Simulator) -> None:
    """One knowledge file answering 404 among others archived: that file, exit 0."""
    objects.inject(GPT_FILE, status=404, count=1)
    run = run_objects(objects, {"gpt_configs", "gpt_files"})
    assert run.returncode == 0, run.stderr[-2000:]
    statuses = [row["status"] for row in run.records["gpt_files"]]
    assert statuses.count("not_found") == 1
