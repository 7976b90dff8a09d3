"""Reconciliation: what the tap emitted over several runs equals the simulator's ground truth."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Quirks, Simulator
from tests.support.singer import parse_singer
from tests.support.tap import run_tap, tap_command, tap_config, tap_env


def _assert_archive_matches(sim: Simulator, outputs: list) -> None:
    truth = sim.ground_truth()
    messages = set().union(*(run.ids("messages") for run in outputs))
    assert messages == set(truth["messages"])
    # The documented downstream rule: per conversation, the title seen at the latest time wins.
    titled: dict[str, tuple[str, str]] = {}
    for run in outputs:
        for record in run.records["conversations"]:
            if record["title"]:
                candidate = (record["title_seen_at"] or "", record["title"])
                titled[record["id"]] = max(titled.get(record["id"], candidate), candidate)
    titles = {conversation_id: title for conversation_id, (_, title) in titled.items()}
    for conversation_id, expected in truth["conversations"].items():
        if expected["title"]:
            assert titles.get(conversation_id) == expected["title"], conversation_id
    files: dict[str, list[dict]] = {}
    for run in outputs:
        for record in run.records["files"]:
            files.setdefault(record["id"], []).append(record)
    assert set(files) == set(truth["attachments"])
    for file_id, expected in truth["attachments"].items():
        archived = [r for r in files[file_id] if r["status"] == "archived"]
        if archived:
            assert {r["sha256"] for r in archived} == {expected["sha256"]}
        else:
            assert expected["expired"], file_id
            assert {r["status"] for r in files[file_id]} == {"expired"}
    assert sim.non_get_count == 0


def test_initial_then_three_incremental_syncs_equal_ground_truth(simulator_factory) -> None:
    """New conversations, new messages, late events, duplicates and attachments between runs."""
    sim = simulator_factory(
        seed=31,
        span_days=1.5,
        attachment_rate=0.4,
        speed=60.0,
        quirks=Quirks(duplicate_rate=0.1, late_rate=0.1),
    )
    outputs = []
    state = None
    for step in range(4):
        if step:
            sim.advance(timedelta(hours=3))
        run = run_tap(tap_config(sim), state=state)
        assert run.returncode == 0, run.stderr[-3000:]
        outputs.append(run)
        state = run.state
    assert all(run.records["messages"] for run in outputs[1:]), "each increment brings messages"
    _assert_archive_matches(sim, outputs)


def _run_until_killed(config: dict, state: dict | None, kill_after_records: int) -> tuple:
    """Start the tap, SIGKILL it after N records have been written, return what it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [*tap_command(config, state, Path(tmp))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=tap_env(),
        )
        assert proc.stdout is not None
        lines = []
        seen = 0
        for line in proc.stdout:
            lines.append(line)
            if '"type":"RECORD"' in line.replace(" ", ""):
                seen += 1
                if seen >= kill_after_records:
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(timeout=60)
    return parse_singer("".join(lines))


@pytest.mark.parametrize(
    "fraction",
    # One kill point in `make test` (the chaos kill storm kills 20+ more); all in `make soak`.
    [
        pytest.param(0.02, marks=pytest.mark.soak),
        0.35,
        pytest.param(0.7, marks=pytest.mark.soak),
        pytest.param(0.97, marks=pytest.mark.soak),
    ],
)
def test_sigkill_anywhere_then_rerun_with_last_state_loses_nothing(
    simulator_factory, fraction: float
) -> None:
    """Kill -9 at several points; the rerun from the last emitted STATE misses nothing.

    The full run that counts the records runs against a twin (same seed): on ``sim`` itself it
    would spend the simulated rate limit (100 a minute at speed 1), and the runs under test
    would wait for it (~14 s)."""
    kw = {"seed": 41, "conversations": 40, "span_days": 0.8, "attachment_rate": 0.3}
    sim, twin = simulator_factory(**kw), simulator_factory(**kw)
    assert [f["id"] for f in twin.log_files()] == [f["id"] for f in sim.log_files()]
    full = run_tap(tap_config(twin))
    assert full.returncode == 0, full.stderr[-3000:]
    config = tap_config(sim)
    total = sum(len(records) for records in full.records.values())
    records, states = _run_until_killed(config, None, max(1, int(total * fraction)))
    state = states[-1] if states else None
    rerun = run_tap(config, state=state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    truth = sim.ground_truth()
    got = {r["id"] for r in records.get("messages", [])} | rerun.ids("messages")
    assert got == set(truth["messages"])
    files = {r["id"] for r in records.get("files", [])} | rerun.ids("files")
    assert files == set(truth["attachments"])
    if fraction > 0.3:  # it resumed: files fully emitted before the kill are not read again
        assert len(rerun.records["log_files"]) < len(full.records["log_files"])
    if state is not None:
        assert json.dumps(state).count("partitions") == 1
