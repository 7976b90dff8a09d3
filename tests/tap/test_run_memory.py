"""Memory stays flat (issue #8, P4): run-wide maps spill to a temporary SQLite file, log files are
parsed a segment at a time, and nothing changes in what is written: duplicates are still dropped
across the whole run, conversations still carry what the whole run has seen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Oddities, Quirks, Simulator
from tap_chatgpt_compliance.logfiles.logfile import parse_lines
from tap_chatgpt_compliance.run.store import RUN_FILE_PREFIX, HashedKeys, RunFile, SpillMap
from tests.support.simulators import tiny_world
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, run_tap, tap_config, tap_env

CM = "CONVERSATION_MESSAGE"
WS_FILE = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/files/{file_id}"


@pytest.mark.parametrize("limit", [1_000, 2])
def test_spill_map_keeps_its_entries(limit: int) -> None:
    run_file = RunFile()
    spill: SpillMap[str, Any] = SpillMap("t", run_file, limit=limit)
    spill.set_many({"a": 1, "b": [1, 2], "c": "x"})
    spill.set_many({"b": [3], "d": None})
    assert spill.spilled == (limit == 2)
    assert spill.get_many(["a", "b", "c", "d", "zz"]) == {"a": 1, "b": [3], "c": "x", "d": None}
    assert spill.add_new(["a", "e", "e", "f"], 7) == ["e", "f"]
    spill.discard_many(["a", "zz"])
    assert spill.get_many(["a", "e", "f"]) == {"e": 7, "f": 7}
    assert len(spill) == 5
    path = run_file.path
    run_file.close()
    assert path is None or not Path(path).exists()


@pytest.mark.parametrize("filtered", [False, True])
def test_spilled_map_gathers_its_writes_and_matches_a_dict(filtered: bool) -> None:
    """Once spilled, writes wait in a dict of ``limit`` entries, then go to the table in key
    order, and a key filter may answer for new keys: reads, overwrites and deletes see the same
    map as a plain dict at every step."""
    import random

    rng = random.Random(8)
    run_file = RunFile()
    spill: SpillMap[int, Any] = SpillMap("t", run_file, limit=50)
    spill.filtered = filtered
    model: dict[int, Any] = {}
    flushed = 0
    for step in range(400):
        keys = [rng.randrange(3_000) for _ in range(rng.randint(1, 40))]
        if step % 7 == 3:
            spill.discard_many(keys[:5])
            for key in keys[:5]:
                model.pop(key, None)
        else:
            items = {key: rng.choice([step, [step, key], None, f"s{key}"]) for key in keys}
            spill.set_many(items)
            model.update(items)
        wanted = [rng.randrange(3_000) for _ in range(60)] + keys
        assert spill.get_many(wanted) == {k: model[k] for k in wanted if k in model}
        assert len(spill._writes) < 50  # never more than the limit in memory
        flushed += not spill._writes
    assert spill.spilled
    assert flushed > 5
    assert len(spill) == len(model)  # counting writes the rest
    assert spill.get_many(list(model)) == model
    run_file.close()


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_duplicates_are_dropped_across_the_whole_run_once_spilled() -> None:
    """The dedupe window is the run: an event delivered again many files later is dropped."""
    run_file = RunFile()
    seen = HashedKeys(SpillMap("events", run_file, limit=3))
    first = [{"event_id": f"e{n}", "type": CM, "n": n} for n in range(10)]
    parsed = parse_lines(b"\n".join(_line(e) for e in first), CM, seen)
    assert len(parsed.messages) == 10
    assert seen.store.spilled
    for n in range(20):  # other files in between
        parse_lines(_line({"event_id": f"x{n}", "type": CM}), CM, seen)
    again = parse_lines(b"\n".join(_line(e) for e in [first[0], first[9]]), CM, seen)
    assert again.duplicates == 2
    assert again.messages == []
    changed = {**first[3], "n": "changed"}  # same id, other content: a clash, kept
    clash = parse_lines(_line(changed), CM, seen)
    assert clash.clashes == 1
    assert len(clash.messages) == 1
    run_file.close()


TINY = """
import sys
import tap_chatgpt_compliance.logfiles.logfile as logfiles
import tap_chatgpt_compliance.run.sync as run
logfiles.SEGMENT_BYTES = 1500
run.EVENTS_IN_MEMORY = 7
run.CONVERSATIONS_IN_MEMORY = 3
run.ATTACHMENTS_IN_MEMORY = 2
from tap_chatgpt_compliance.tap import TapChatGPTCompliance
sys.argv = ["tap-chatgpt-compliance", *sys.argv[1:]]
TapChatGPTCompliance.cli()
"""


def _run_tiny(config: dict[str, Any], tmp_path: Path) -> TapRun:
    """Run the tap with tiny segments and maps that spill at once (and a private TMPDIR)."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    temp = tmp_path / "temp"
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", TINY, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**tap_env(), "TMPDIR": str(temp)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    leftovers = list(temp.iterdir())
    assert leftovers == [], leftovers  # the run's temporary files are gone
    records, states = parse_singer(result.stdout)
    return TapRun(result.returncode, result.stdout, result.stderr, records, states)


def _stable(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    volatile = {"processed_at", "archived_at", "retry_until"}
    return {
        stream: [{k: v for k, v in r.items() if k not in volatile} for r in rows]
        for stream, rows in records.items()
        if stream not in ("gpts", "projects")  # their items carry fresh signed URLs
    }


def test_segments_and_spilled_maps_change_nothing_written(simulator_factory, tmp_path) -> None:
    """Tiny segments and maps spilled from the start write exactly what the defaults write."""
    sim: Simulator = simulator_factory(
        seed=17,
        span_days=0.6,
        speed=60.0,
        attachment_rate=0.5,
        quirks=Quirks(duplicate_rate=0.2, late_rate=0.1),
        oddities=Oddities(missing_event_id_rate=0.05, non_object_lines=2, event_id_clash_rate=0.2),
    )
    config = tap_config(
        sim,
        event_types=[CM, "AUDIT_LOG"],
        file_content="inline",
        max_inline_file_bytes=2048,
    )
    default = run_tap(config)
    assert default.returncode == 0, default.stderr[-3000:]
    tiny = _run_tiny(config, tmp_path)
    assert _stable(tiny.records) == _stable(default.records)
    truth = sim.ground_truth()
    # At-least-once duplicates were dropped across the whole run, with the maps on disk.
    ids = [m["id"] for m in tiny.records["messages"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(truth["messages"])
    duplicates = sum(f["duplicates_dropped"] for f in tiny.records["log_files"])
    assert duplicates > 0
    # One conversations record per conversation touched (the folds spilled to disk included).
    last = {c["id"]: c for c in tiny.records["conversations"]}
    assert set(last) == {m["conversation_id"] for m in tiny.records["messages"]} - {None}


def test_a_killed_runs_file_is_removed_by_the_next_run(tmp_path) -> None:
    """A SIGKILLed run cannot delete its spill file: the next run that spills deletes it."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    stale = tmp_path / f"{RUN_FILE_PREFIX}{dead}-abc.sqlite"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f"{RUN_FILE_PREFIX}{os.getpid()}-def.sqlite"  # a run still going
    live.write_bytes(b"y")
    other = tmp_path / "unrelated.sqlite"
    other.write_bytes(b"z")
    run_file = RunFile(str(tmp_path))
    spilled: SpillMap[str, int] = SpillMap("keys", run_file, limit=1)
    spilled.set_many({"a": 1, "b": 2})
    assert run_file.path is not None
    assert Path(run_file.path).exists()
    assert Path(run_file.path).name.startswith(f"{RUN_FILE_PREFIX}{os.getpid()}-")
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
    run_file.close()


LONE = ("c-\ud83d", "c-\udc00x", "\ud800", "c-\ufffd", "c-\\ud83d", "c-\u00e9")
"""Ids with a lone surrogate (JSON's ``\\ud83d``), and the ids they could be mistaken for."""


@pytest.mark.parametrize("limit", [1, 1_000])
def test_a_key_or_value_with_a_lone_surrogate_round_trips_once_spilled(limit: int) -> None:
    """SQLite cannot hold a lone surrogate as text: such a key (a served id) and such a value
    failed the spill (UnicodeEncodeError, then every later write: a transaction left open).
    They go in as bytes and come back exactly, never equal to another key."""
    run_file = RunFile()
    spill: SpillMap[str, Any] = SpillMap("t", run_file, limit=limit)
    items = {key: [index, key] for index, key in enumerate(LONE)}
    spill.set_many({"plain": "v-\udfff"})
    spill.set_many(items)
    assert spill.spilled == (limit == 1)
    assert spill.get_many([*LONE, "plain", "c-"]) == {**items, "plain": "v-\udfff"}
    assert len(spill) == len(LONE) + 1
    assert spill.add_new([LONE[0], "c-\ud83e"], [9]) == ["c-\ud83e"]
    spill.discard_many([LONE[0], LONE[3]])
    assert spill.get_many(LONE) == {k: v for k, v in items.items() if k not in (LONE[0], LONE[3])}
    run_file.close()


def test_ids_with_a_lone_surrogate_are_archived_with_the_maps_spilled(
    simulator_factory, tmp_path
) -> None:
    """A log file whose conversation, event and attachment ids hold a lone surrogate, read with
    maps that spill at once: the run ended "Unexpected error UnicodeEncodeError" (exit 1, the
    bookmark stuck before the file, run after run). Every message and conversation is archived
    with its id exact; an attachment whose id no URL can carry is ``not_found``, saying why,
    without a request."""
    sim: Simulator = simulator_factory(**tiny_world(attachment_rate=1.0))
    lines = sim.log_file_bytes(sim.log_files()[0]["id"]).decode().splitlines()
    events = []
    for n, line in enumerate(lines * 3):
        event = json.loads(line)
        event["event_id"] = f"ev-\ud83d-{n}"
        event["conversation"]["id"] = f"c-\ud83d-{n}"
        for k, file in enumerate(event["message"].get("files") or []):
            file["id"] = f"file-\udc00-{n}-{k}"
        events.append(event)
    assert any(e["message"].get("files") for e in events)
    sim.publish_log_file("".join(json.dumps(e) + "\n" for e in events).encode())
    before = sim.request_count(WS_FILE)
    run = _run_tiny(tap_config(sim, file_content="inline"), tmp_path)
    odd = {f"c-\ud83d-{n}" for n in range(len(events))}
    assert {m["conversation_id"] for m in run.records["messages"]} >= odd
    assert {c["id"] for c in run.records["conversations"]} >= odd
    files = {f["id"]: f for f in run.records["files"] if "\udc00" in f["id"]}
    wanted = {f["id"] for e in events for f in e["message"].get("files") or []}
    assert set(files) == wanted
    assert {f["status"] for f in files.values()} == {"not_found"}
    assert all("lone surrogate" in f["status_reason"] for f in files.values())
    assert sim.request_count(WS_FILE) - before == len(
        {f["id"] for f in run.records["files"]} - wanted
    )  # only the other attachments were asked for
