"""Everything the workspace holds (issue 21): the workspace-object streams against the simulator.

Every item and version the simulator's ground truth (``sim.inventory_truth``) holds must be in
the archive, byte for byte (``raw_item``), after a full run and across incremental runs, with
a state of fixed size and no request in a run that is not due.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import typing as t
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chatgpt_compliance_simulator import Simulator
from chatgpt_compliance_simulator.config import SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tap_chatgpt_compliance.logfiles import rest_chain
from tap_chatgpt_compliance.streams.workspace import BUCKETS, DIGITS, ChangeBuckets
from tap_chatgpt_compliance.streams.workspace_streams import WORKSPACE_OBJECT_STREAMS
from tap_chatgpt_compliance.workspace_rows import SCHEMAS, derive_row
from tests.support.clockskew import skewed_env
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, synced_env, tap_command, tap_config, tap_env
from tests.support.waiting import OutputLines, wait_until

ALL = frozenset(stream.name for stream in WORKSPACE_OBJECT_STREAMS)
WS = "/v1/compliance/workspaces/{workspace_id}"


@functools.cache
def _discovered() -> str:
    config = {"api_key": "sk-discovery", "workspace_id": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0"}
    with tempfile.TemporaryDirectory() as tmp:
        return subprocess.run(
            [*tap_command(config, None, Path(tmp)), "--discover"],
            capture_output=True,
            text=True,
            check=True,
            env=tap_env(),
        ).stdout


def selecting(selected: frozenset[str] | set[str]) -> dict[str, Any]:
    """Return the discovered catalog with exactly ``selected`` streams selected."""
    catalog = json.loads(_discovered())
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in selected
    return t.cast("dict[str, Any]", catalog)


def run_objects(
    sim: Simulator,
    selected: frozenset[str] | set[str] = ALL,
    state: dict[str, Any] | None = None,
    clock_offset: float | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    catalog: dict[str, Any] | None = None,
    **overrides: Any,
) -> TapRun:
    """Run the tap with exactly ``selected`` streams selected in its catalog.

    ``clock_offset``: seconds this machine's clock is off for the tap process; ``env``: extra
    environment variables; ``catalog``: this catalog instead (``selected`` is then unused).
    """
    catalog = catalog or selecting(selected)
    config = tap_config(sim, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.json").write_text(json.dumps(catalog))
        command = [*tap_command(config, state, folder), "--catalog", str(folder / "catalog.json")]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={
                **(
                    synced_env(config, folder)
                    if clock_offset is None
                    else skewed_env(tap_env(), clock_offset, folder / "site")
                ),
                **(env or {}),
            },
        )
    assert sim.api_key not in result.stdout + result.stderr
    records, states = parse_singer(result.stdout)
    return TapRun(result.returncode, result.stdout, result.stderr, records, states)


def make_sim(simulator_factory: Any, *, rate_limits: bool = True, **inventory: Any) -> Simulator:
    knobs = {"config_versions_per_day": 1.0, **inventory}
    config = SimulatorConfig(
        seed=2121,
        users=4,
        conversations=2,
        span_days=1.0,
        rate_limits=rate_limits,
        inventory=Inventory(**knobs),
    )
    return t.cast("Simulator", simulator_factory(config=config))


def raw(record: dict[str, Any]) -> Any:
    return json.loads(record["raw_item"])


def check_rows(run: TapRun) -> None:
    """Every row fits its SCHEMA and is re-derived from its raw_item and parent ids."""
    declared = {}
    for line in run.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            declared[message["stream"]] = message["schema"]
    for stream, records in run.records.items():
        if stream not in SCHEMAS:
            continue
        validator = jsonschema.Draft202012Validator(declared[stream])
        for record in records:
            assert [e.message for e in validator.iter_errors(record)] == [], (stream, record)
            parent = {k: record.get(k) for k in record if k.endswith("_id") or k == "textdoc_type"}
            derived = derive_row(stream, raw(record), record["workspace_id"], parent)
            assert derived == rest_chain.without_chain(record)
            assert record["chain_hash"] == rest_chain.chain_hash(
                record["chain_previous"], record, stream
            )


def archived(runs: list[TapRun], stream: str) -> list[dict[str, Any]]:
    return [record for run in runs for record in run.records[stream]]


def check_truth(sim: Simulator, runs: list[TapRun]) -> None:
    """Every item and version of the ground truth is archived, byte for byte."""
    truth = sim.inventory_truth()
    for kind, parent in (("gpt", "gpt_id"), ("project", "project_id")):
        got = {(r[parent], r["id"]): raw(r) for r in archived(runs, f"{kind}_configs")}
        want = {
            (cid, config["id"]): config
            for cid, configs in truth[f"{kind}_configs"].items()
            for config in configs
        }
        assert got == want, kind
        shares = {(r[parent], r["id"]) for r in archived(runs, f"{kind}_shared_users")}
        assert shares == {
            (cid, uid) for cid, uids in truth[f"{kind}_shared_users"].items() for uid in uids
        }
    versions = {(r["textdoc_id"], r["version"]): raw(r) for r in archived(runs, "canvas_versions")}
    want_versions = {
        (cid, v["version"]): v
        for cid, canvas in truth["canvases"].items()
        for v in canvas["versions"]
    }
    assert versions == want_versions
    assert {r["id"] for r in archived(runs, "canvases")} == set(truth["canvases"])
    # The current state of every object is archived (earlier versions only if a run saw them).
    for stream, key in (("automations", "automations"), ("codex_tasks", "codex_tasks")):
        got_items = {json.dumps(raw(r), sort_keys=True) for r in archived(runs, stream)}
        for oid, entry in truth[key].items():
            current = entry["item"] if stream == "codex_tasks" else entry["versions"][-1]
            assert json.dumps(current, sort_keys=True) in got_items, (stream, oid)
    details = {json.dumps(raw(r), sort_keys=True) for r in archived(runs, "codex_task_details")}
    for oid, entry in truth["codex_tasks"].items():
        assert json.dumps(entry["versions"][-1], sort_keys=True) in details, oid
    library = {json.dumps(raw(r), sort_keys=True) for r in archived(runs, "library_files")}
    for fid, entry in truth["library_files"].items():
        assert json.dumps(entry["versions"][-1], sort_keys=True) in library, fid
    recordings = {r["id"]: raw(r) for r in archived(runs, "recordings")}
    assert recordings == {rid: entry["item"] for rid, entry in truth["recordings"].items()}
    transcripts = {r["recording_id"]: raw(r) for r in archived(runs, "recording_transcripts")}
    for rid, entry in truth["recordings"].items():
        if entry["transcript"] is not None:
            got = dict(transcripts[rid])
            assert got.pop("summary", None) == entry["summary"]
            assert got == entry["transcript"], rid
    entries = {(r["id"], r["updated_at"]) for r in archived(runs, "memory_entries")}
    memories = archived(runs, "memories")
    latest = {r["id"]: raw(r) for r in memories}
    for eid, entry in truth["memory_entries"].items():
        if entry["deleted_at"] is None:
            current = entry["versions"][-1]
            when = derive_row("memory_entries", {"updated_at": current["updated_at"]}, "w")
            assert (eid, when["updated_at"]) in entries, eid
    for uid, memory in truth["memories"].items():
        assert latest[uid] == memory, uid


def test_full_refresh_archives_every_item_and_version(simulator_factory: Any) -> None:
    """One run: every config, share, canvas version, memory, automation, task, file listed."""
    sim = make_sim(simulator_factory)
    run = run_objects(sim)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in (*SCHEMAS, *FILE_STREAMS):
        assert run.records[stream], stream
    check_rows(run)
    check_truth(sim, [run])
    # Rate limits on: every request paced, at most 1% answered 429.
    pacing = re.search(r"Pacing: (\d+) API requests, (\d+) answered 429", run.stderr)
    assert pacing is not None, run.stderr[-2000:]
    assert int(pacing[2]) <= 0.01 * int(pacing[1])
    state = run.state["bookmarks"]
    buckets = state["gpt_shared_users"]["buckets"]
    assert isinstance(buckets, str)
    assert len(buckets) == BUCKETS * DIGITS
    assert len(json.dumps(run.state)) < 120_000


def test_not_due_sends_no_request_then_incremental(simulator_factory: Any) -> None:
    """Within directory_refresh_hours: nothing asked; after it: only what changed, all of it."""
    sim = make_sim(simulator_factory)
    first = run_objects(sim)
    assert first.returncode == 0, first.stderr[-3000:]
    sim.advance(timedelta(hours=2))
    sim.reset_counters()
    idle = run_objects(sim, state=first.state)
    assert idle.returncode == 0, idle.stderr[-3000:]
    assert sum(len(v) for v in idle.records.values()) == 0
    assert sim.request_count() == 0
    assert idle.state["bookmarks"] == first.state["bookmarks"]

    sim.advance(timedelta(days=3))
    second = run_objects(sim, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    check_rows(second)
    check_truth(sim, [first, second])
    # Nothing archived by the first run is sent again by the incremental streams.
    for stream, key in (
        ("canvas_versions", ("textdoc_id", "version")),
        ("gpt_configs", ("gpt_id", "id")),
        ("memory_entries", ("id", "updated_at")),
    ):
        before = {tuple(r[k] for k in key) for r in first.records[stream]}
        again = [r for r in second.records[stream] if tuple(r[k] for k in key) in before]
        assert again == [], stream
    # Change detection: the unchanged majority of canvases is not emitted again.
    assert len(second.records["canvases"]) < len(first.records["canvases"])


def test_every_run_with_zero_hours(simulator_factory: Any) -> None:
    """directory_refresh_hours=0 refreshes on each run; an unchanged workspace emits ~nothing."""
    sim = make_sim(simulator_factory, config_versions_per_day=0.0)
    first = run_objects(sim, directory_refresh_hours=0)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_objects(sim, state=first.state, directory_refresh_hours=0)
    assert second.returncode == 0, second.stderr[-3000:]
    for stream in ("canvases", "gpt_shared_users", "automations", "library_files", "codex_tasks"):
        assert second.records[stream] == [], stream
    for stream in ("canvas_versions", "gpt_configs", "memory_entries"):
        assert second.records[stream] == [], stream


@pytest.mark.parametrize(
    ("canvases", "versions", "rate_limits"),
    [
        pytest.param(60, 45, False, id="60x45"),
        pytest.param(300, 45, True, id="300x45-rate-limited", marks=pytest.mark.soak),
    ],
)
def test_user_with_hundreds_of_canvases_and_versions(
    simulator_factory: Any, canvases: int, versions: int, rate_limits: bool
) -> None:
    """A heavy user: every version of every canvas, pages of 30; long canvases in a bounded map."""
    sim = make_sim(
        simulator_factory,
        rate_limits=rate_limits,
        heavy_user_canvases=canvases,
        heavy_user_versions=versions,
        config_versions_per_day=0.0,
    )
    selected = {"canvases", "canvas_versions"}
    first = run_objects(sim, selected, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    truth = sim.inventory_truth()["canvases"]
    assert sum(len(c["versions"]) for c in truth.values()) > canvases * versions
    got = {(r["textdoc_id"], r["version"]) for r in first.records["canvas_versions"]}
    assert got == {(cid, v["version"]) for cid, c in truth.items() for v in c["versions"]}
    long_canvases = first.state["bookmarks"]["canvas_versions"]["long_canvases"]
    assert len(long_canvases) >= canvases
    sim.advance(timedelta(days=2))
    sim.reset_counters()
    second = run_objects(sim, selected, state=first.state, timeout=1800)
    assert second.returncode == 0, second.stderr[-3000:]
    for run in (first, second):  # paced: at most 1% of the requests answered 429
        pacing = re.search(r"Pacing: (\d+) API requests, (\d+) answered 429", run.stderr)
        assert pacing is not None
        assert int(pacing[2]) <= 0.01 * int(pacing[1])
    truth = sim.inventory_truth()["canvases"]
    got |= {(r["textdoc_id"], r["version"]) for r in second.records["canvas_versions"]}
    assert got == {(cid, v["version"]) for cid, c in truth.items() for v in c["versions"]}
    # One request per canvas (from its last version), not one per 30 versions.
    canvas_route = f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}"
    assert sim.request_count(canvas_route) <= 1.25 * len(truth)


def test_forbidden_route_skips_only_its_stream(simulator_factory: Any) -> None:
    """A 403 on one route: that stream is skipped and the run fails at its end; others archive."""
    sim = make_sim(simulator_factory)
    sim.inject(f"{WS}/codex_tasks", status=403, count=5)
    run = run_objects(sim, {"codex_tasks", "codex_task_details", "gpt_configs"})
    assert run.returncode == 1
    assert run.records["gpt_configs"]
    assert run.records["codex_tasks"] == []
    assert "codex_tasks" in run.stderr.splitlines()[-1]
    assert "refreshed_at" not in (run.state["bookmarks"].get("codex_tasks") or {})


@pytest.mark.parametrize("shape", ["null_data", "no_has_more", "empty_object"])
def test_broken_listing_page_is_not_read_as_empty(simulator_factory: Any, shape: str) -> None:
    """A broken page of a per-user list fails the stream; its state does not move."""
    from chatgpt_compliance_simulator.faults import BAD_SHAPES

    if shape not in BAD_SHAPES:
        pytest.skip(f"simulator has no {shape} shape")
    sim = make_sim(simulator_factory)
    sim.inject(f"{WS}/users/{{user_id}}/automations", shape=shape)
    run = run_objects(sim, {"automations"})
    assert run.returncode == 1
    assert "refreshed_at" not in (run.state["bookmarks"].get("automations") or {})


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_an_item_nested_too_deeply_fails_its_stream_loudly(
    simulator_factory: Any, depth: int
) -> None:
    """A per-user page whose one item nests ``depth`` arrays: the parse ended the run in
    "Unexpected error RecursionError". Now that stream is skipped with one line naming the
    page and why, the run fails at its end (exit 1), its state does not move; others archive."""
    sim = make_sim(simulator_factory)
    item = b'{"id":"deep","v":' + b"[" * depth + b"]" * depth + b"}"
    page = b'{"object":"list","data":[' + item + b'],"has_more":false,"last_id":"deep"}'
    sim.inject(f"{WS}/users/{{user_id}}/automations", body=page)
    run = run_objects(sim, {"automations", "gpt_configs"})
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "RecursionError" not in run.stderr
    last = run.stderr.splitlines()[-1]
    assert "automations" in last, last
    assert "nested too deeply" in last, last
    assert "refreshed_at" not in (run.state["bookmarks"].get("automations") or {})
    assert run.records["gpt_configs"]


def test_a_page_with_an_item_that_is_not_an_object_fails_its_stream(
    simulator_factory: Any,
) -> None:
    """``data: [1, "x", null, {…}]``: the three were dropped without a word (exit 0)."""
    sim = make_sim(simulator_factory)
    page = b'{"object":"list","data":[1,"x",null,{"id":"a"}],"has_more":false,"last_id":"a"}'
    sim.inject(f"{WS}/users/{{user_id}}/automations", body=page)
    run = run_objects(sim, {"automations", "gpt_configs"})
    assert run.returncode == 1
    last = run.stderr.splitlines()[-1]
    assert "automations" in last, last
    assert "not a JSON object (item 1 of 4" in last, last
    assert "refreshed_at" not in (run.state["bookmarks"].get("automations") or {})
    assert run.records["gpt_configs"]


def test_a_per_user_list_cycling_between_last_ids_fails_its_stream(
    simulator_factory: Any,
) -> None:
    """has_more=true with last_id a, b, a, b, …: only the same last_id twice in a row was
    seen, so the stream paged (and archived the same items) for as long as the API cycled."""
    sim = make_sim(simulator_factory)
    route = f"{WS}/users/{{user_id}}/automations"
    for index in range(40):
        last = b"a" if index % 2 == 0 else b"b"
        item = b'{"id":"' + last + b'"}'
        sim.inject(
            route, body=b'{"data":[' + item + b'],"has_more":true,"last_id":"' + last + b'"}'
        )
    run = run_objects(sim, {"automations"})
    assert run.returncode == 1
    last_line = run.stderr.splitlines()[-1]
    assert "automations" in last_line, last_line
    assert "again, after 3 pages" in last_line, last_line
    assert sim.request_count(route) == 3
    assert run.records["automations"] == []


@pytest.mark.parametrize("odd_id", ["12345678901234567890", "null", '""', '".."', '"user-\\ud83d"'])
def test_a_user_without_an_id_to_ask_for_fails_the_run_loudly(
    simulator_factory: Any, odd_id: str
) -> None:
    """A user listed without an id a URL can carry cannot be asked for its canvases,
    automations, …: it was left out without a word (exit 0), or (``..``, a lone surrogate)
    skipped the whole stream. The others are archived, then the run fails."""
    sim = make_sim(simulator_factory)
    first = run_objects(sim, {"automations"})
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.records["automations"]
    user = b'{"id":' + odd_id.encode() + b',"object":"compliance.workspace.user"}'
    real = b",".join(
        b'{"id":"' + uid.encode() + b'"}'
        for uid in sorted({r["user_id"] for r in first.records["automations"]})
    )
    sim.inject(
        f"{WS}/users", body=b'{"data":[' + user + b"," + real + b'],"has_more":false,"last_id":"z"}'
    )
    run = run_objects(sim, {"automations"})
    assert run.returncode == 1
    assert "users list holds 1 item(s) without an id a URL can carry" in run.stderr.splitlines()[-1]
    assert {r["id"] for r in run.records["automations"]} == {
        r["id"] for r in first.records["automations"]
    }


def test_retries_on_429_and_500(simulator_factory: Any) -> None:
    """Faults on the per-user routes are retried: nothing is lost."""
    sim = make_sim(simulator_factory)
    sim.inject(f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}", status=500, count=2)
    sim.inject(f"{WS}/memories", status=429, retry_after=1, count=1)
    run = run_objects(sim)
    assert run.returncode == 0, run.stderr[-3000:]
    check_truth(sim, [run])


def _row(key: str, content: str) -> dict[str, Any]:
    return derive_row("canvases", {"id": key, "x": content}, "w", {"user_id": "u"})


def test_change_buckets_state_is_fixed_and_emits_changed_buckets_only() -> None:
    """The state has the same size for 10 or 5,000 items; one change emits only its bucket."""
    small = ChangeBuckets(None)
    for i in range(10):
        small.add(f"k{i}", _row(f"k{i}", "a"))
    assert len(list(small.changed())) == 10
    big = ChangeBuckets(None)
    for i in range(5000):
        big.add(f"k{i}", _row(f"k{i}", "a"))
    assert len(list(big.changed())) == 5000
    assert len(small.state()) == len(big.state()) == BUCKETS * DIGITS
    again = ChangeBuckets(big.state())
    for i in range(5000):
        again.add(f"k{i}", _row(f"k{i}", "b" if i == 42 else "a"))
    emitted = list(again.changed())
    assert 1 <= len(emitted) <= 40
    assert "k42" in {r["id"] for r in emitted}
    gone = ChangeBuckets(big.state())
    for i in range(5000):
        if i != 7:
            gone.add(f"k{i}", _row(f"k{i}", "a"))
    assert 0 < len(list(gone.changed())) <= 40
    unchanged = ChangeBuckets(big.state())
    for i in range(5000):
        unchanged.add(f"k{i}", _row(f"k{i}", "a"))
    assert list(unchanged.changed()) == []


FILE_STREAMS = {"gpt_files", "project_files", "library_file_contents"}


def _parts(run: TapRun, stream: str) -> dict[str, bytes]:
    """Reassemble the inline parts of each file of a ``<stream>_parts`` stream."""
    found: dict[str, dict[int, bytes]] = {}
    for part in run.records[f"{stream}_parts"]:
        found.setdefault(part["file_id"], {})[part["part_index"]] = base64.b64decode(
            part["content_base64"]
        )
    return {fid: b"".join(p[i] for i in sorted(p)) for fid, p in found.items()}


def test_knowledge_and_library_files_archived_with_410_and_404(simulator_factory: Any) -> None:
    """Every knowledge/project/library file: bytes whose SHA-256 is the truth's, 410 → expired."""
    sim = make_sim(simulator_factory, expired_knowledge_file_rate=0.3, library_trash_rate=0.4)
    selected = {"gpt_configs", "project_configs", "library_files"} | FILE_STREAMS
    selected |= {f"{name}_parts" for name in FILE_STREAMS}
    run = run_objects(sim, selected, max_inline_file_bytes=1024)
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sim.inventory_truth()
    statuses: dict[str, int] = {}
    for stream, key in (("gpt_files", "gpt_files"), ("project_files", "project_files")):
        referenced = {
            fid for r in run.records[stream.replace("files", "configs")] for fid in r["file_ids"]
        }
        records = {r["id"]: r for r in run.records[stream]}
        assert set(records) == referenced, stream
        parts = _parts(run, stream)
        for fid, record in records.items():
            want = truth[key][fid]
            statuses[record["status"]] = statuses.get(record["status"], 0) + 1
            if want["expired"]:
                assert record["status"] == "expired", fid
                continue
            assert record["status"] == "archived", (fid, record["status_reason"])
            assert record["sha256"] == want["sha256"]
            content = (
                base64.b64decode(record["content_base64"])
                if record["content_base64"] is not None
                else parts[fid]
            )
            assert hashlib.sha256(content).hexdigest() == want["sha256"]
    assert statuses.get("expired")
    assert statuses.get("archived")
    library = {r["id"]: r for r in run.records["library_file_contents"]}
    assert set(library) == set(truth["library_files"])
    for fid, want in truth["library_files"].items():
        record = library[fid]
        if want["downloadable"]:
            assert record["status"] == "archived", (fid, record["status_reason"])
            assert record["sha256"] == want["sha256"]
        else:
            assert record["status"] == "expired", fid
    assert any(not w["downloadable"] for w in truth["library_files"].values())


def test_knowledge_file_not_found_is_recorded(simulator_factory: Any) -> None:
    """A 404 on a knowledge file is a not_found record, not a failed run."""
    sim = make_sim(simulator_factory)
    sim.inject(f"{WS}/gpt_files/{{file_id}}", status=404, count=1)
    run = run_objects(sim, {"gpt_configs", "gpt_files"}, file_content="none")
    assert run.returncode == 0, run.stderr[-3000:]
    assert {r["status"] for r in run.records["gpt_files"]} == {"metadata_only"}
    run = run_objects(sim, {"gpt_configs", "gpt_files"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "not_found" in {r["status"] for r in run.records["gpt_files"]}


def test_killed_during_a_refresh_refreshes_again(simulator_factory: Any) -> None:
    """SIGTERM in the middle of a refresh: its state does not move; the next run archives all."""
    sim = make_sim(
        simulator_factory,
        rate_limits=False,
        heavy_user_canvases=60,
        heavy_user_versions=45,
        config_versions_per_day=0.0,
    )
    selected = {"canvases", "canvas_versions", "memory_entries"}
    catalog = selecting(selected)
    config = tap_config(sim, max_requests_per_minute=40)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.json").write_text(json.dumps(catalog))
        command = [*tap_command(config, None, folder), "--catalog", str(folder / "catalog.json")]
        with (
            (folder / "stderr.log").open("w") as stderr,
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=synced_env(config, folder),
            ) as process,
        ):
            assert process.stdout is not None
            output = OutputLines(process.stdout)
            wait_until(
                lambda: output.has_record("canvas_versions"), "a canvas version", proc=process
            )
            process.send_signal(signal.SIGTERM)
            stdout = output.text()
            process.wait(timeout=60)
        assert process.returncode == 143, (folder / "stderr.log").read_text()[-3000:]
    records, states = parse_singer(stdout)
    assert records["canvas_versions"]
    killed_state = states[-1] if states else None
    bookmarks = (killed_state or {}).get("bookmarks", {})
    assert "refreshed_at" not in bookmarks.get("canvas_versions", {})
    rest = run_objects(sim, selected, state=killed_state)
    assert rest.returncode == 0, rest.stderr[-3000:]
    truth = sim.inventory_truth()["canvases"]
    got = {(r["textdoc_id"], r["version"]) for r in records["canvas_versions"]}
    got |= {(r["textdoc_id"], r["version"]) for r in rest.records["canvas_versions"]}
    assert got == {(cid, v["version"]) for cid, c in truth.items() for v in c["versions"]}


def test_the_workspace_memories_list_is_paced_at_half_rate() -> None:
    """The reference's 50 per minute for the workspace memories list; 100 for one user's."""
    from tap_chatgpt_compliance.http.pacing import route_rate, route_template

    workspace = route_template("/v1/compliance/workspaces/W/memories", "/v1")
    one_user = route_template("/v1/compliance/workspaces/W/users/U/memories", "/v1")
    canvas = route_template("/v1/compliance/workspaces/W/users/U/canvas/C", "/v1")
    assert route_rate(workspace, 100) == 50
    assert route_rate(one_user, 100) == 100
    assert route_rate(canvas, 100) == 100


def test_refresh_time_is_the_apis_clock(simulator_factory: Any) -> None:
    """This machine's clock 2 h ahead: refreshed_at is the API's time, so nothing is skipped."""
    sim = make_sim(simulator_factory)
    run = run_objects(sim, {"automations", "memory_entries"}, clock_offset=7200)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in ("automations", "memory_entries"):
        refreshed = datetime.fromisoformat(run.state["bookmarks"][stream]["refreshed_at"])
        assert abs((refreshed - sim.now()).total_seconds()) < 120, stream


def test_fault_schedule_every_item_archived_across_runs(simulator_factory: Any) -> None:
    """5xx bursts, resets, truncated bodies, expired signed URLs and broken pages: runs are
    repeated with their state (and time passing) until one succeeds; nothing is missing."""
    from chatgpt_compliance_simulator.config import Faults

    config = SimulatorConfig(
        seed=2122,
        users=4,
        conversations=2,
        span_days=1.0,
        rate_limits=False,
        inventory=Inventory(config_versions_per_day=1.0),
        faults=Faults(
            error_rate=0.05,
            reset_rate=0.03,
            truncate_rate=0.03,
            expired_signed_url_rate=0.1,
            bad_shape="null_data",
            bad_shape_rate=0.02,
        ),
    )
    sim = t.cast("Simulator", simulator_factory(config=config))
    runs: list[TapRun] = []
    state = None
    for _ in range(8):
        run = run_objects(sim, state=state, max_retry_wait=0.2, directory_refresh_hours=0)
        runs.append(run)
        state = run.state or state
        if run.returncode == 0:
            break
        assert "Traceback" not in run.stderr
        sim.advance(timedelta(hours=1))
    assert runs[-1].returncode == 0, runs[-1].stderr[-3000:]
    check_truth(sim, runs)


def test_failed_knowledge_file_is_fetched_again_by_the_next_run(simulator_factory: Any) -> None:
    """A file whose retries are spent fails the run and keeps its parent's state where it was:
    the next run (even within directory_refresh_hours) reads the configuration and the file."""
    sim = make_sim(simulator_factory)
    selected = {"gpt_configs", "gpt_files"}
    sim.inject(f"{WS}/gpt_files/{{file_id}}", status=500, count=3)
    first = run_objects(sim, selected, max_retries=2, max_retry_wait=0.1)
    assert first.returncode == 1
    failed = {r["id"] for r in first.records["gpt_files"] if r["status"] == "failed"}
    assert failed
    assert "gpt_files" in first.stderr.splitlines()[-1]
    assert "refreshed_at" not in first.state["bookmarks"].get("gpt_configs", {})
    second = run_objects(sim, selected, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    archived_ids = {r["id"] for r in second.records["gpt_files"] if r["status"] == "archived"}
    assert failed <= archived_ids
    assert "refreshed_at" in second.state["bookmarks"]["gpt_configs"]


def _verify(records: dict[str, list[dict[str, Any]]], folder: Path) -> tuple[int, dict]:
    """Write the records as target-jsonl does and run ``chatgpt-compliance verify`` on them."""
    folder.mkdir(parents=True, exist_ok=True)
    for stream, rows in records.items():
        with (folder / f"{stream}-20261205T120000.jsonl").open("w") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    report = folder.parent / f"{folder.name}-report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_chatgpt_compliance.evidence.cli",
            "verify",
            "--jsonl",
            str(folder),
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(report.read_text())


def test_verify_rederives_every_workspace_object_row(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """verify proves every row from its raw_item; an altered column is named."""
    sim = make_sim(simulator_factory)
    everything = {s["tap_stream_id"] for s in json.loads(_discovered())["streams"]}
    run = run_objects(sim, everything)
    assert run.returncode == 0, run.stderr[-3000:]
    code, report = _verify(run.records, tmp_path / "intact")
    assert code == 0, report["findings"][:5]
    rows = sum(len(run.records[s]) for s in SCHEMAS)
    assert report["counts"]["workspace_object_rows"] == rows
    assert report["counts"]["workspace_objects_proven"] == rows
    altered = json.loads(json.dumps(run.records))
    victim = altered["canvas_versions"][0]
    victim["content"] = "something else"
    code, report = _verify(altered, tmp_path / "altered")
    assert code == 1
    named = [f for f in report["findings"] if "canvas_versions" in f["item"]]
    assert named
    assert "column content" in named[0]["item"]
    assert victim["textdoc_id"] in named[0]["item"]


def test_missing_transcript_is_asked_again(simulator_factory: Any) -> None:
    """A transcript not there yet (404) is asked again by the next refresh, then archived.

    Every one of them answering 404 fails the run (test_audit_silent14), the retry list kept.
    """
    sim = make_sim(simulator_factory)
    recordings = sim.inventory_truth()["recordings"]
    assert recordings
    route = f"{WS}/users/{{user_id}}/recordings/{{recording_id}}/transcript"
    sim.inject(route, status=404, count=len(recordings))
    selected = {"recordings", "recording_transcripts"}
    first = run_objects(sim, selected, directory_refresh_hours=0)
    assert first.returncode == (1 if len(recordings) > 1 else 0), first.stderr[-3000:]
    assert first.records["recording_transcripts"] == []
    assert len(first.state["bookmarks"]["recordings"]["transcripts_missing"]) == len(recordings)
    second = run_objects(sim, selected, state=first.state, directory_refresh_hours=0)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {r["recording_id"] for r in second.records["recording_transcripts"]} == set(recordings)
    assert second.state["bookmarks"]["recordings"]["transcripts_missing"] == []
    third = run_objects(sim, selected, state=second.state, directory_refresh_hours=0)
    assert third.records["recordings"] == []


@pytest.mark.parametrize(
    ("selected", "allowed"),
    [
        pytest.param({"gpt_configs"}, {"gpts", "gpts/{gpt_id}/configs"}, id="gpt_configs"),
        pytest.param({"canvases"}, {"users", "users/{user_id}/canvases"}, id="canvases"),
        pytest.param(
            {"gpt_files"},
            {"gpts", "gpts/{gpt_id}/configs", "gpt_files/{file_id}"},
            id="child-only",
        ),
    ],
)
def test_a_deselected_stream_emits_nothing_and_asks_nothing(
    simulator_factory: Any, selected: set[str], allowed: set[str]
) -> None:
    """Only the selected streams write RECORDs; no route of a deselected stream is requested."""
    from chatgpt_compliance_simulator.routes import GET_ROUTES

    sim = make_sim(simulator_factory, rate_limits=False)
    run = run_objects(sim, selected)
    assert run.returncode == 0, run.stderr[-3000:]
    emitted = {stream for stream, records in run.records.items() if records}
    assert emitted == selected
    prefix = WS.format(workspace_id="{workspace_id}") + "/"
    asked = {
        route.removeprefix(prefix)
        for route in GET_ROUTES
        if route.startswith(prefix) and sim.request_count(route)
    }
    assert asked == allowed


def test_a_parent_synced_only_for_its_child_emits_everything_once_selected(
    simulator_factory: Any,
) -> None:
    """gpt_configs read only for gpt_files keeps no watermark that would skip its rows later."""
    sim = make_sim(simulator_factory, rate_limits=False)
    child_only = run_objects(sim, {"gpt_files"}, directory_refresh_hours=0)
    assert child_only.returncode == 0, child_only.stderr[-3000:]
    assert child_only.records["gpt_configs"] == []
    both = run_objects(
        sim, {"gpt_configs", "gpt_files"}, state=child_only.state, directory_refresh_hours=0
    )
    assert both.returncode == 0, both.stderr[-3000:]
    fresh = run_objects(sim, {"gpt_configs"}, directory_refresh_hours=0)
    key = ("gpt_id", "id")
    every = {tuple(r[k] for k in key) for r in fresh.records["gpt_configs"]}
    assert every
    assert {tuple(r[k] for k in key) for r in both.records["gpt_configs"]} == every


@pytest.mark.parametrize("stream", ["canvases", "memories", "gpt_configs"])
def test_a_lone_surrogate_in_a_served_item_is_archived_exactly(stream: str) -> None:
    """A served item holding a lone surrogate (JSON's ``\\ud83d``, half an emoji) is archived,
    not a crash: ``raw_item`` writes it as its escape (the same JSON value, valid UTF-8), its
    ``raw_sha256`` is stable, and the change buckets keep and give back the row exactly."""
    item = {"id": "item-\ud83d", "title": "lunch \ud83d plans", "note": "caf\u00e9 \U0001f600"}
    row = derive_row(stream, item, "w", {"user_id": "u", "gpt_id": "g", "project_id": "p"})
    assert "\\ud83d" in row["raw_item"]
    assert "\u00e9" in row["raw_item"]  # only the lone surrogate is escaped
    assert json.loads(row["raw_item"]) == item
    again = derive_row(stream, json.loads(row["raw_item"]), "w", {"user_id": "u", "gpt_id": "g"})
    assert again["raw_sha256"] == row["raw_sha256"]  # what verify re-derives
    plain_item = {"id": "x", "title": "caf\u00e9"}  # no surrogate: the text as before
    assert derive_row(stream, plain_item, "w")["raw_item"] == json.dumps(
        plain_item, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    buckets = ChangeBuckets(None)
    buckets.add(item["id"], row)
    assert list(buckets.changed()) == [row]


def test_a_lone_surrogate_in_a_directory_item_is_archived_exactly() -> None:
    """The directory streams' canonical text escapes a lone surrogate the same way."""
    from tap_chatgpt_compliance.directory_rows import derive_row as directory_row
    from tap_chatgpt_compliance.directory_rows import raw_item

    item = {"id": "user-1", "name": "Dana \ud83d", "email": "dana@example.com"}
    row = directory_row("users", item, "w")
    assert row["raw_item"] == raw_item(item)
    assert row["raw_item"].encode("utf-8")  # valid UTF-8: any target can hold it
    assert json.loads(row["raw_item"]) == item
