"""The catalog is honoured (issue #7 item 7): a deselected stream emits no SCHEMA and no RECORD,
and bookmarks, incremental sync and resume work whatever is selected."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Quirks, Simulator
from tests.support.singer import bookmark, parse_singer
from tests.support.tap import TapRun, synced_env, tap_command, tap_config, tap_env

CM = "CONVERSATION_MESSAGE"
LOG_STREAMS = {"log_files", "messages", "conversations", "files", "file_parts", "events"}


@functools.cache
def _discovered(config_json: str) -> str:
    """Run --discover once per configuration (it never calls the API)."""
    with tempfile.TemporaryDirectory() as tmp:
        discovered = subprocess.run(
            [*tap_command(json.loads(config_json), None, Path(tmp)), "--discover"],
            capture_output=True,
            text=True,
            check=True,
            env=tap_env(),
        )
    return discovered.stdout


def _catalog(config: dict[str, Any], selected: set[str], workdir: Path) -> Path:
    """Discover the catalog and select exactly ``selected`` (every field of those streams)."""
    settings = {"api_key": "sk-discovery", "workspace_id": config["workspace_id"]}
    catalog = json.loads(_discovered(json.dumps(settings)))
    names = {stream["tap_stream_id"] for stream in catalog["streams"]}
    assert selected <= names, selected - names
    for stream in catalog["streams"]:
        keep = stream["tap_stream_id"] in selected
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = keep
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def _command(config: dict, state: dict | None, catalog: Path, workdir: Path) -> list[str]:
    return [*tap_command(config, state, workdir), "--catalog", str(catalog)]


def _schemas(stdout: str) -> set[str]:
    names = set()
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "SCHEMA":
            names.add(message["stream"])
    return names


class Selected:
    """Runs of the tap with one catalog."""

    def __init__(self, sim: Simulator, selected: set[str], **overrides: Any) -> None:
        self.sim = sim
        self.selected = selected
        self.config = tap_config(sim, **overrides)
        self._tmp = tempfile.TemporaryDirectory()
        self.workdir = Path(self._tmp.name)
        self.catalog = _catalog(self.config, selected, self.workdir)

    def run(self, state: dict | None = None) -> TapRun:
        result = subprocess.run(
            _command(self.config, state, self.catalog, self.workdir),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=synced_env(self.config, self.workdir),
        )
        assert self.config["api_key"] not in result.stdout + result.stderr
        assert result.returncode == 0, result.stderr[-3000:]
        records, states = parse_singer(result.stdout)
        run = TapRun(result.returncode, result.stdout, result.stderr, records, states)
        emitted = {name for name, rows in run.records.items() if rows}
        assert emitted <= self.selected, emitted - self.selected
        assert _schemas(result.stdout) <= self.selected, _schemas(result.stdout) - self.selected
        assert "bookmarks" in (run.state or {})
        return run

    def run_until_killed(self, state: dict | None, after_records: int) -> TapRun:
        """Run, SIGKILL after ``after_records`` RECORD messages, return what was written."""
        proc = subprocess.Popen(
            _command(self.config, state, self.catalog, self.workdir),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=synced_env(self.config, self.workdir),
        )
        assert proc.stdout is not None
        lines, seen = [], 0
        for line in proc.stdout:
            lines.append(line)
            if '"type":"RECORD"' in line.replace(" ", ""):
                seen += 1
                if seen >= after_records:
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(timeout=60)
        records, states = parse_singer("".join(lines))
        return TapRun(-9, "".join(lines), "", records, states)

    def close(self) -> None:
        self._tmp.cleanup()


@pytest.fixture
def selection(simulator_factory):
    opened: list[Selected] = []

    def make(selected: set[str], sim: Simulator | None = None, **overrides: Any) -> Selected:
        sim = sim or simulator_factory(
            seed=23, span_days=0.8, speed=60.0, attachment_rate=0.4, quirks=Quirks(late_rate=0.1)
        )
        runner = Selected(sim, selected, **overrides)
        opened.append(runner)
        return runner

    yield make
    for runner in opened:
        runner.close()


def test_only_messages_selected_then_incremental_runs(selection) -> None:
    """Nothing but messages is written (no manifest, no SCHEMA of others); the bookmarks move
    all the same, so the next runs get only what is new."""
    runner = selection({"messages"})
    sim = runner.sim
    first = runner.run()
    assert set(first.records) == {"messages"}
    assert first.ids("messages") == set(sim.ground_truth()["messages"])
    assert bookmark(first.state)["replication_key_value"]
    idle = runner.run(first.state)
    assert idle.records["messages"] == []
    sim.advance(timedelta(hours=3))
    second = runner.run(idle.state)
    truth = set(sim.ground_truth()["messages"])
    assert second.ids("messages") == truth - first.ids("messages")
    assert second.ids("messages"), "the simulator must produce new messages"


def test_only_files_selected_killed_then_resumed_loses_nothing(selection) -> None:
    runner = selection({"files"})
    sim = runner.sim
    full = runner.run()
    live = {k for k, v in sim.ground_truth()["attachments"].items() if not v["expired"]}
    archived = {r["id"] for r in full.records["files"] if r["status"] == "archived"}
    assert archived == live
    assert len(live) >= 6
    killed = runner.run_until_killed(None, len(full.records["files"]) // 2)
    assert set(killed.records) == {"files"}
    state = killed.states[-1]
    assert bookmark(state)["replication_key_value"]
    rerun = runner.run(state)
    assert killed.ids("files") | rerun.ids("files") == set(sim.ground_truth()["attachments"])
    # It resumed: what was written before the kill is not read again.
    assert len(rerun.records["files"]) < len(full.records["files"])


def test_only_events_selected(selection, simulator_factory) -> None:
    sim = simulator_factory(seed=4, span_days=1.0)
    runner = selection({"events"}, sim=sim, event_types=[CM, "AUTH_LOG"], file_content="none")
    first = runner.run()
    truth = sim.ground_truth()["events"]["AUTH_LOG"]
    assert first.ids("events", "event_id") == set(truth)
    partitions = first.state["bookmarks"]["log_files"]["partitions"]
    assert {p["context"]["event_type"] for p in partitions} == {CM, "AUTH_LOG"}
    sim.advance(timedelta(hours=12))
    second = runner.run(first.state)
    truth = sim.ground_truth()["events"]["AUTH_LOG"]
    assert second.ids("events", "event_id") == set(truth) - first.ids("events", "event_id")


@pytest.mark.parametrize(
    "selected",
    [
        pytest.param({"log_files"}, id="manifest-only"),
        pytest.param(LOG_STREAMS | {"unparsed_lines", "users", "gpts", "projects"}, id="all"),
        pytest.param({"users"}, id="no-log-stream"),
    ],
)
def test_any_selection_emits_exactly_what_is_selected(selection, selected: set[str]) -> None:
    runner = selection(selected, file_content="none")
    sim = runner.sim
    run = runner.run()
    truth = sim.ground_truth()
    if "messages" in selected:
        assert run.ids("messages") == set(truth["messages"])
    if "log_files" in selected:
        assert run.ids("log_files") == {f["id"] for f in truth["log_files"][CM]}
    if selected & LOG_STREAMS:
        assert bookmark(run.state)["replication_key_value"]
    else:  # nothing read from the logs is selected: the logs are not read, bookmarks stay
        assert not run.state["bookmarks"].get("log_files", {}).get("partitions")
        assert sim.request_count("/v1/compliance/workspaces/{workspace_id}/logs") == 0


def test_nothing_selected_fails_in_one_line_before_any_request(simulator_factory) -> None:
    """A `select` pattern that matches nothing (a typo) must not archive nothing every hour
    with exit 0: the run stops in one line naming `select`, and asks the API nothing."""
    sim = simulator_factory(seed=3, span_days=0.2)
    config = tap_config(sim)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        catalog = _catalog(config, set(), workdir)
        before = sim.request_count()
        result = subprocess.run(
            _command(config, None, catalog, workdir),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=synced_env(config, workdir),
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert '"type":"RECORD"' not in result.stdout.replace(" ", "")
    last = result.stderr.strip().splitlines()[-1]
    assert "select: the catalog selects no stream" in last
    assert "meltano select" in last
    assert sim.request_count() == before
