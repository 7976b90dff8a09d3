"""Items of the REST lists the tap used to drop without a word (canvases, files, entries).

Each shape is served by the simulator (``inject``; the reference does not allow these shapes,
so they are test-only served overrides, not fault knobs). An item is kept as served and
counted, or, when its id is needed to ask for what it holds, the run fails in one readable
line and the refresh is not recorded; never exit 0 with less archived and nothing said.
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
from tests.support.simulators import running
from tests.support.tap import assert_one_readable_line, tap_config
from tests.tap.test_workspace_objects import _verify, run_objects

WS = "/v1/compliance/workspaces/{workspace_id}"
CANVASES = f"{WS}/users/{{user_id}}/canvases"
CONFIGS = f"{WS}/gpts/{{gpt_id}}/configs"
MEMORIES = f"{WS}/memories"
RECORDINGS = f"{WS}/users/{{user_id}}/recordings"
LOGS = ["AUDIT_LOG"]


@pytest.fixture(scope="module")
def sim() -> Any:
    """A workspace with canvases, GPT configurations with files, memories and recordings."""
    config = SimulatorConfig(
        seed=2121,
        users=3,
        conversations=2,
        span_days=1.0,
        rate_limits=False,
        inventory=Inventory(config_versions_per_day=1.0, recordings_per_user_day=0.5),
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _no_fault_left(sim: Simulator) -> Any:
    yield
    sim._faults.clear()


def _page(data: list[Any], last_id: Any = None) -> bytes:
    body = {"object": "list", "data": data, "has_more": False, "last_id": last_id}
    return json.dumps(body).encode()


def _listed(sim: Simulator, path: str, **params: Any) -> list[dict[str, Any]]:
    """Return a Gen-1 list as the API serves it (in this process)."""
    tap = TapChatGPTCompliance(config=tap_config(sim), validate_config=False)
    stream = tap.streams["automations"]
    return list(stream.iter_list(path, params, limit=30))  # type: ignore[attr-defined]


def _key(item: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(item).encode()).hexdigest()


def _user_with(sim: Simulator, route: str) -> tuple[str, list[dict[str, Any]]]:
    """Return the first user (as listed) and their items of ``route``: the one injected."""
    user = _listed(sim, "users")[0]["id"]
    return user, _listed(sim, f"users/{user}/{route}")


ODD = [
    {"title": "no id"},
    {"id": None, "title": "null id"},
    {"id": 7, "title": "a number"},
]


# --------------------------------------------------------------------------- canvases


def test_canvases_without_a_string_id_are_kept_keyed_by_their_content(sim: Simulator) -> None:
    """Canvases listed without a string id (none, null, 7) were dropped by ``canvas_ids``:
    no row, exit 0, nothing said. Now each is a row keyed ``sha256:<hash of raw_item>``, the
    item as served, counted in the run summary."""
    user, canvases = _user_with(sim, "canvases")
    assert canvases, "the seed must give the first user a canvas"
    sim.inject(CANVASES, body=_page([*ODD, *canvases], canvases[-1]["id"]))
    run = run_objects(sim, {"canvases"}, event_types=LOGS, directory_refresh_hours=0)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r["id"]: r for r in run.records["canvases"] if r["user_id"] == user}
    assert set(rows) == {c["id"] for c in canvases} | {_key(item) for item in ODD}
    for item in ODD:
        assert rows[_key(item)]["raw_item"] == canonical_json(item)
    assert "3 directory item(s) without a string id" in run.stderr


def test_a_canvas_without_an_id_fails_canvas_versions_loudly(sim: Simulator) -> None:
    """Its versions cannot be asked for: they were missing while the run said it succeeded.
    The other canvases' versions are archived; the run fails in one line, not recorded."""
    _user, canvases = _user_with(sim, "canvases")
    sim.inject(CANVASES, body=_page([ODD[0], *canvases], canvases[-1]["id"]))
    run = run_objects(sim, {"canvas_versions"}, event_types=LOGS, directory_refresh_hours=0)
    assert_one_readable_line(run, "canvas")
    assert "1 canvas(es) listed without an id" in run.stderr, run.stderr[-3000:]
    assert "refreshed_at" not in (run.state["bookmarks"].get("canvas_versions") or {})
    assert {c["id"] for c in canvases} <= {r["textdoc_id"] for r in run.records["canvas_versions"]}


# --------------------------------------------------------------------------- knowledge files


@pytest.mark.parametrize(
    ("configs", "files"), [("gpt_configs", "gpt_files"), ("project_configs", "project_files")]
)
def test_knowledge_files_carry_the_name_their_configuration_lists(
    sim: Simulator, configs: str, files: str
) -> None:
    """``name`` was null in every gpt_files/project_files record although the configuration
    lists each file's name (``files.data[].name``)."""
    run = run_objects(sim, {configs, files}, event_types=LOGS, file_content="none")
    assert run.returncode == 0, run.stderr[-3000:]
    listed = {
        info["id"]: info["name"]
        for row in run.records[configs]
        for info in row["item"]["files"]["data"]
    }
    assert run.records[files]
    assert {r["id"]: r["name"] for r in run.records[files]} == {
        file_id: listed[file_id] for file_id in {r["id"] for r in run.records[files]}
    }
    assert all(r["name"] for r in run.records[files])


def test_a_config_file_without_an_id_fails_gpt_files_loudly(sim: Simulator) -> None:
    """A knowledge file listed without an id was left out of ``file_ids``: its bytes were
    never asked for, exit 0, nothing said. The configuration row keeps it as served; the
    file cannot be fetched: one readable line, and the configurations' refresh not recorded
    (the next run reads them again)."""
    gpt = _listed(sim, "gpts", file_format="id")[0]["id"]
    config = _listed(sim, f"gpts/{gpt}/configs", file_format="id")[0]
    files = config["files"]
    files["data"] = [*files["data"], {"object": "compliance.workspace.gpt.file_info", "name": "x"}]
    sim.inject(CONFIGS, body=_page([config], config["id"]))
    run = run_objects(sim, {"gpt_configs", "gpt_files"}, event_types=LOGS, file_content="none")
    assert_one_readable_line(run, "gpt_files", "without an id")
    assert "refreshed_at" not in (run.state["bookmarks"].get("gpt_configs") or {})
    row = next(r for r in run.records["gpt_configs"] if r["id"] == config["id"])
    assert row["item"]["files"]["data"][-1] == {
        "object": "compliance.workspace.gpt.file_info",
        "name": "x",
    }


def test_a_config_files_list_with_more_to_come_fails_gpt_files_loudly(sim: Simulator) -> None:
    """A configuration's ``files`` list with ``has_more: true`` (documented as always false,
    with no route to page it) was read as complete: the files past it were never asked for,
    exit 0, nothing said. Now one readable line, and the refresh not recorded."""
    gpt = _listed(sim, "gpts", file_format="id")[0]["id"]
    config = _listed(sim, f"gpts/{gpt}/configs", file_format="id")[0]
    config["files"]["has_more"] = True
    sim.inject(CONFIGS, body=_page([config], config["id"]))
    run = run_objects(sim, {"gpt_configs", "gpt_files"}, event_types=LOGS, file_content="none")
    assert_one_readable_line(run, "gpt_files", "has_more=true")
    assert "refreshed_at" not in (run.state["bookmarks"].get("gpt_configs") or {})
    listed = {info["id"] for info in config["files"]["data"]}
    assert listed <= {r["id"] for r in run.records["gpt_files"]}


# --------------------------------------------------------------------------- memory entries


def test_memory_entries_that_are_not_objects_or_lack_an_id_are_kept(
    sim: Simulator, tmp_path: Path
) -> None:
    """An entry that is not an object (``"oops"``, ``7``) was dropped by ``_list``; one
    without an id was written with ``id`` null (a target keyed on id merges such rows).
    verify proves the rows kept from their raw_item, and names one altered."""
    memories = _listed(sim, "memories")
    memory = json.loads(json.dumps(memories[0]))
    context = memory["memory_contexts"][0]
    odd_entry = {"content": "no id", "updated_at": 1_700_000_000.5}
    twin = {"content": "no id either", "updated_at": 1_700_000_000.5}  # the same key, before
    context["memory_entries"] = [*context["memory_entries"], "oops", 7, odd_entry, twin]
    sim.inject(MEMORIES, body=_page([memory, *memories[1:]], memories[-1]["id"]))
    selected = {"memory_entries", "log_files", "events"}  # verify knows the archive by its logs
    run = run_objects(sim, selected, event_types=LOGS, directory_refresh_hours=0)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r["raw_item"]: r for r in run.records["memory_entries"]}
    for odd in ("oops", 7):
        row = rows[canonical_json(odd)]
        assert row["item"] is None
        assert row["id"] == _key(odd)
        assert row["user_id"] == memory["id"]
    assert rows[canonical_json(odd_entry)]["id"] == _key(odd_entry)
    assert rows[canonical_json(twin)]["id"] == _key(twin)
    assert "2 answer(s) that are not JSON objects" in run.stderr
    assert "2 directory item(s) without a string id" in run.stderr
    code, report = _verify(run.records, tmp_path / "intact")
    assert code == 0, report["findings"][:5]
    assert report["counts"]["workspace_objects_proven"] == report["counts"]["workspace_object_rows"]
    altered = json.loads(json.dumps(run.records))
    victim = next(r for r in altered["memory_entries"] if r["raw_item"] == canonical_json("oops"))
    victim["raw_item"] = canonical_json("oops!")
    code, report = _verify(altered, tmp_path / "altered")
    assert code == 1
    assert any("memory_entries" in finding["item"] for finding in report["findings"])


# --------------------------------------------------------------------------- recordings


def test_a_recording_without_an_id_is_kept_and_its_transcript_fails_loudly(
    sim: Simulator,
) -> None:
    """A recording without an id was written with ``id`` null, and its transcript asked for
    at ``recordings/None/transcript``: a 404 taken for "not there yet", exit 0."""
    user, recordings = _user_with(sim, "recordings")
    odd = {"title": "no id", "created_at": 1_700_000_000}
    last = recordings[-1]["id"] if recordings else None
    sim.inject(RECORDINGS, body=_page([odd, *recordings], last))
    sim.reset_counters()
    run = run_objects(
        sim, {"recordings", "recording_transcripts"}, event_types=LOGS, directory_refresh_hours=0
    )
    assert_one_readable_line(run, "recording")
    assert _key(odd) in {r["id"] for r in run.records["recordings"] if r["user_id"] == user}
    assert sim.request_count(f"{WS}/users/{{user_id}}/recordings/{{recording_id}}/transcript") == (
        len(run.records["recordings"]) - 1
    )
    assert "refreshed_at" not in (run.state["bookmarks"].get("recordings") or {})
