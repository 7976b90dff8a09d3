"""A bad day for the REST lists ("directory"): users, GPTs, projects and the workspace objects.

Each fault is served by the simulator (``inject``): it is archived as served and counted, or
it ends in one readable line and exit 1; never exit 0 with less archived than available and
nothing said, and a refresh that could not read everything is never recorded as done.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tap_chatgpt_compliance.directory_rows import canonical_json
from tap_chatgpt_compliance.tap import TapChatGPTCompliance
from tests.support.simulators import running, tiny_world
from tests.support.tap import TapRun, assert_one_readable_line, run_tap, tap_config
from tests.tap.test_workspace_objects import _verify, run_objects

WS = "/v1/compliance/workspaces/{workspace_id}"
USERS = f"{WS}/users"


@pytest.fixture(scope="module")
def sim() -> Any:
    with running(SimulatorConfig(**tiny_world())) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def objects() -> Any:
    """A workspace with GPT configurations, recordings and Codex tasks (no rate limits)."""
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
def _no_fault_left(request: pytest.FixtureRequest) -> Any:
    yield
    for name in ("sim", "objects"):
        if name in request.fixturenames:
            request.getfixturevalue(name)._faults.clear()


def _page(data: list[Any], has_more: bool, last_id: Any) -> bytes:
    body = {"object": "list", "data": data, "has_more": has_more, "last_id": last_id}
    return json.dumps(body).encode()


def _users(sim: Simulator) -> list[dict[str, Any]]:
    """Return the users as the API lists them (first page: the tiny world has two)."""
    tap = TapChatGPTCompliance(config=tap_config(sim), validate_config=False)
    stream = tap.streams["automations"]
    return list(stream.iter_list("users", limit=200))  # type: ignore[attr-defined]


def _directory_run(sim: Simulator) -> TapRun:
    return run_tap(tap_config(sim, event_types=["AUDIT_LOG"], file_content="none"))


# --------------------------------------------------------------------------- users, gpts, projects


def test_a_page_repeating_the_previous_pages_items_writes_them_once(sim: Simulator) -> None:
    """Page 2 served page 1's user again: the user was written twice, exit 0, nothing said."""
    first, second = _users(sim)
    sim.inject(USERS, body=_page([first], True, first["id"]))
    sim.inject(USERS, body=_page([first, second], False, second["id"]))
    run = _directory_run(sim)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(r["id"] for r in run.records["users"]) == sorted([first["id"], second["id"]])
    assert "1 directory item(s) served again" in run.stderr


@pytest.mark.parametrize("last_id", [["a", "b"], {"id": "a"}, 12345, True])
def test_a_last_id_that_is_no_string_is_one_line(sim: Simulator, last_id: Any) -> None:
    """``last_id: ["a", "b"]`` ended the run in "Unexpected error TypeError: unhashable type";
    a number was sent back as ``after`` as if it were an id."""
    first, second = _users(sim)
    sim.inject(USERS, body=_page([first], True, last_id))
    sim.inject(USERS, body=_page([second], False, second["id"]))
    run = _directory_run(sim)
    assert_one_readable_line(run, "users", "'last_id'", "not a string")
    assert run.records["gpts"]
    assert "Unexpected error" not in run.stderr


def test_a_last_id_that_is_not_the_last_items_id_is_one_line(sim: Simulator) -> None:
    """``last_id`` naming the page's first item: paging on from it served the second user again
    (or, naming an id further on, would skip users): exit 0, nothing said."""
    first, second = _users(sim)
    sim.inject(USERS, body=_page([first, second], True, first["id"]))
    sim.inject(USERS, body=_page([second], False, second["id"]))
    run = _directory_run(sim)
    assert_one_readable_line(run, "users", "not its last item's id")


def test_a_list_cycling_between_last_ids_is_one_line(sim: Simulator) -> None:
    """A → B → A: already refused by the paginator (kept here end to end)."""
    first, second = _users(sim)
    for index in range(6):
        item, last = (first, "A") if index % 2 == 0 else (second, "B")
        sim.inject(USERS, body=_page([{**item, "id": last}], True, last))
    run = _directory_run(sim)
    assert_one_readable_line(run, "users", "last_id A again")


@pytest.mark.parametrize("odd_id", ["missing", None, 7, ""])
def test_an_item_without_a_string_id_is_kept_keyed_by_its_content(
    sim: Simulator, odd_id: Any
) -> None:
    """A user without an id (or a number) was written with ``id`` null (or 7) against a schema
    that declares a required string: a target keyed on id merges or refuses them. Now its row
    is keyed ``sha256:<hash of raw_item>``, the item kept as served, and counted."""
    first, _ = _users(sim)
    odd = {"object": "compliance.workspace.user", "email": "odd@example.invalid"}
    if odd_id != "missing":
        odd["id"] = odd_id
    sim.inject(USERS, body=_page([odd, first], False, first["id"]))
    run = _directory_run(sim)
    assert run.returncode == 0, run.stderr[-3000:]
    raw = canonical_json(odd)
    expected = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    rows = {r["id"]: r for r in run.records["users"]}
    assert set(rows) == {first["id"], expected}
    assert rows[expected]["raw_item"] == raw
    assert "1 directory item(s) without a string id" in run.stderr


# --------------------------------------------------------------------------- Gen-1 lists in-process


def test_a_per_user_list_repeating_items_yields_them_once(sim: Simulator) -> None:
    """The lists of the workspace-object streams: a repeated item was yielded (emitted) twice."""
    tap = TapChatGPTCompliance(config=tap_config(sim), validate_config=False)
    stream = tap.streams["automations"]
    item = {"id": "auto-1", "title": "t"}
    route = f"{WS}/users/{{user_id}}/automations"
    sim.inject(route, body=_page([item], True, "auto-1"))
    sim.inject(route, body=_page([item, {"id": "auto-2"}], False, "auto-2"))
    user = _users(sim)[0]["id"]
    got = list(stream.iter_list(f"users/{user}/automations"))  # type: ignore[attr-defined]
    assert [i["id"] for i in got] == ["auto-1", "auto-2"]
    assert tap.sync_run.counts.repeated_items == 1  # type: ignore[attr-defined]


def test_a_null_page_is_not_read_as_a_missing_list(sim: Simulator) -> None:
    """A 200 whose body is ``null`` was taken for a 404 (``missing_ok``): the user's list read
    as empty, exit 0. It is no page."""
    from tap_chatgpt_compliance.http.pagination import PageShapeError

    tap = TapChatGPTCompliance(config=tap_config(sim), validate_config=False)
    stream = tap.streams["automations"]
    sim.inject(f"{WS}/users/{{user_id}}/automations", body=b"null")
    user = _users(sim)[0]["id"]
    with pytest.raises(PageShapeError, match="JSON NoneType"):
        list(stream.iter_list(f"users/{user}/automations", missing_ok=True))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- sub-lists: 404 vs 403


CONFIGS = f"{WS}/gpts/{{gpt_id}}/configs"
GPT = f"{WS}/gpts/{{gpt_id}}"


def test_a_404_for_the_configs_of_a_gpt_still_there_fails_the_refresh(objects: Simulator) -> None:
    """One GPT's configurations answered 404 while the GPT is there: its configurations were
    left out, exit 0, and the refresh recorded: the next refresh skipped the GPT (its latest
    configuration older than the watermark), so they were never archived."""
    sim = objects
    full = run_objects(sim, {"gpt_configs"}, event_types=["AUDIT_LOG"])
    assert full.returncode == 0, full.stderr[-3000:]
    sim.inject(CONFIGS, status=404)
    run = run_objects(sim, {"gpt_configs"}, event_types=["AUDIT_LOG"])
    last = assert_one_readable_line(run, "gpt_configs", "404")
    assert "is listed" in last, last
    assert "refreshed_at" not in (run.state["bookmarks"].get("gpt_configs") or {})
    assert {r["gpt_id"] for r in run.records["gpt_configs"]} < {
        r["gpt_id"] for r in full.records["gpt_configs"]
    }


def test_a_404_for_a_gpt_deleted_since_it_was_listed_is_churn(objects: Simulator) -> None:
    """The GPT itself answers 404 too: deleted between the list and its detail, normal."""
    sim = objects
    sim.inject(f"{WS}/gpts/{{gpt_id}}/shared_users", status=404)
    sim.inject(GPT, status=404)
    run = run_objects(sim, {"gpt_shared_users"}, event_types=["AUDIT_LOG"])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "deleted since" in run.stderr
    assert "refreshed_at" in run.state["bookmarks"]["gpt_shared_users"]


def test_a_404_for_every_gpts_shared_users_is_not_an_empty_archive(objects: Simulator) -> None:
    """Every GPT's shared users answered 404 (a route gone): 0 records, exit 0, refreshed."""
    sim = objects
    sim.inject(f"{WS}/gpts/{{gpt_id}}/shared_users", status=404, count=100)
    run = run_objects(sim, {"gpt_shared_users"}, event_types=["AUDIT_LOG"])
    assert_one_readable_line(run, "gpt_shared_users", "404")
    assert "refreshed_at" not in (run.state["bookmarks"].get("gpt_shared_users") or {})


def test_a_403_on_a_sub_list_is_said_once(objects: Simulator) -> None:
    """A key without the scope: the stream stops at the first 403, said once (not per GPT)."""
    sim = objects
    sim.inject(CONFIGS, status=403, count=100)
    sim.reset_counters()
    run = run_objects(sim, {"gpt_configs"}, event_types=["AUDIT_LOG"])
    assert_one_readable_line(run, "gpt_configs", "403")
    assert sim.request_count(CONFIGS) == 1
    assert sum("Stream 'gpt_configs' skipped" in line for line in run.stderr.splitlines()) == 1


# ------------------------------------------------------------------------- details of other shapes


@pytest.mark.parametrize(
    ("route", "selected", "stream"),
    [
        (
            f"{WS}/codex_tasks/{{task_id}}",
            {"codex_tasks", "codex_task_details"},
            "codex_task_details",
        ),
        (
            f"{WS}/users/{{user_id}}/recordings/{{recording_id}}/transcript",
            {"recordings", "recording_transcripts"},
            "recording_transcripts",
        ),
    ],
)
def test_a_detail_served_as_a_list_is_kept_as_served(
    objects: Simulator, route: str, selected: set[str], stream: str, tmp_path: Path
) -> None:
    """A Codex task detail (a transcript) served as a JSON list: dropped without a word (the
    transcript taken for "not there yet", asked again every run), exit 0."""
    sim = objects
    baseline = run_objects(sim, selected, event_types=["AUDIT_LOG"], directory_refresh_hours=0)
    served = [{"id": "x", "weird": True}]
    sim.inject(route, body=json.dumps(served).encode())
    logs = {"log_files", "events"}  # what verify needs to know the archive as this tap's
    run = run_objects(sim, selected | logs, event_types=["AUDIT_LOG"], directory_refresh_hours=0)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records[stream]) == len(baseline.records[stream])
    odd = [r for r in run.records[stream] if r["raw_item"] == canonical_json(served)]
    assert len(odd) == 1
    assert odd[0]["item"] is None
    assert "1 answer(s) that are not JSON objects" in run.stderr
    if stream == "codex_task_details":
        assert odd[0]["id"] == odd[0]["task_id"]
        assert {r["task_id"] for r in run.records[stream]} == {
            r["id"] for r in run.records["codex_tasks"]
        }
    # verify proves the row from its raw_item; an altered one is named.
    code, report = _verify(run.records, tmp_path / "intact")
    assert code == 0, report["findings"][:5]
    assert report["counts"]["workspace_objects_proven"] == report["counts"]["workspace_object_rows"]
    altered = json.loads(json.dumps(run.records))
    victim = next(r for r in altered[stream] if r["item"] is None)
    victim["raw_item"] = canonical_json([{"id": "x", "weird": False}])
    code, report = _verify(altered, tmp_path / "altered")
    assert code == 1
    assert any(stream in finding["item"] for finding in report["findings"])


# --------------------------------------------------------------------------- refresh bookkeeping


def test_a_refresh_that_could_not_ask_for_a_user_is_not_recorded(objects: Simulator) -> None:
    """A user listed without an id: the run failed (said), but the automations refresh was
    recorded, so the next run (within directory_refresh_hours) did not retry it."""
    sim = objects
    good = _users(sim)
    odd = {"object": "compliance.workspace.user", "email": "odd@example.invalid"}
    sim.inject(USERS, body=_page([odd, *good], False, good[-1]["id"]))
    run = run_objects(sim, {"automations"}, event_types=["AUDIT_LOG"])
    assert run.returncode == 1
    assert "refreshed_at" not in (run.state["bookmarks"].get("automations") or {})
    again = run_objects(sim, {"automations"}, event_types=["AUDIT_LOG"], state=run.state)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "refreshed_at" in again.state["bookmarks"]["automations"]


def test_a_404_for_every_users_list_is_not_an_empty_archive(objects: Simulator) -> None:
    """Every user's recordings answered 404 (a route gone, not users deleted): 0 records, exit
    0, the refresh recorded. One user's 404 stays churn (a user deleted since listed)."""
    sim = objects
    route = f"{WS}/users/{{user_id}}/recordings"
    sim.inject(route, status=404)
    churn = run_objects(sim, {"recordings"}, event_types=["AUDIT_LOG"])
    assert churn.returncode == 0, churn.stderr[-3000:]
    assert "refreshed_at" in churn.state["bookmarks"]["recordings"]
    sim.inject(route, status=404, count=100)
    run = run_objects(sim, {"recordings"}, event_types=["AUDIT_LOG"])
    assert_one_readable_line(run, "recordings", "404", "every user")
    assert "refreshed_at" not in (run.state["bookmarks"].get("recordings") or {})
