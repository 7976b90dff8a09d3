"""A bad day in production, round 3: the state a run starts from.

A run trusts its state (docs/architecture.md, "State, duplicates and guarantees"): a state it
cannot use must stop it in one line naming the problem and the fix, before any request, never
end in an unexpected error at every rerun, and never be used wrongly (skip a workspace's log
files, continue a chain from junk, forget an attachment it owes).
"""

from __future__ import annotations

import copy
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tests.support.tap import (
    TapRun,
    assert_one_readable_line,
    run_tap,
    tap_command,
    tap_config,
    tap_env,
)

State = dict[str, Any]


@pytest.fixture(scope="module")
def workspace(simulator_factory_module) -> Simulator:
    """A small workspace, read once by :func:`archived` (its state is what is attacked)."""
    return simulator_factory_module(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)


@pytest.fixture(scope="module")
def archived(workspace: Simulator) -> TapRun:
    run = run_tap(tap_config(workspace, file_content="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def _partition(state: State) -> State:
    return state["bookmarks"]["log_files"]["partitions"][0]


def _refused_before_any_request(sim: Simulator, run: TapRun, *fragments: str) -> str:
    line = assert_one_readable_line(run, "state", *fragments)
    assert "meltano state clear" in line, line
    assert sim.request_count() == 0
    assert run.records == {}
    return line


def test_a_state_written_for_another_workspace_is_refused_before_any_request(
    workspace: Simulator, archived: TapRun, simulator_factory
) -> None:
    """A tenant re-pointed at another workspace with the same state ID (or a state copied
    between tenants): its bookmarks skipped every log file of the new workspace, exit 0."""
    other: Simulator = simulator_factory(seed=12, span_days=0.8, speed=60.0)
    assert other.workspace_id != workspace.workspace_id
    assert archived.state is not None
    other.reset_counters()
    run = run_tap(tap_config(other, file_content="none"), state=archived.state)
    _refused_before_any_request(other, run, workspace.workspace_id, other.workspace_id)


def test_a_state_is_stamped_with_its_workspace_and_resumes(
    workspace: Simulator, archived: TapRun
) -> None:
    """Every STATE names its workspace, a state without one (an older tap) is used as it is."""
    assert archived.state is not None
    stamped = archived.state["bookmarks"]["log_files"]["workspace_id"]
    assert stamped == workspace.workspace_id
    older = copy.deepcopy(archived.state)
    del older["bookmarks"]["log_files"]["workspace_id"]
    run = run_tap(tap_config(workspace, file_content="none"), state=older)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records.get("log_files", []) == []  # resumed at the bookmark: nothing new
    assert run.state is not None
    assert run.state["bookmarks"]["log_files"]["workspace_id"] == workspace.workspace_id


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[State], None]:
    def change(state: State) -> None:
        target: Any = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


PARTITION = ("bookmarks", "log_files", "partitions", 0)
BROKEN: dict[str, tuple[Callable[[State], None], str]] = {
    "bookmark as a number": (_set((*PARTITION, "replication_key_value"), 12345), "12345"),
    "bookmark not a time": (_set((*PARTITION, "replication_key_value"), "yesterday"), "yesterday"),
    "chain_seq as text": (_set((*PARTITION, "chain_seq"), "abc"), "chain_seq"),
    "chain_head no hash": (_set((*PARTITION, "chain_head"), 5), "chain_head"),
    "files chain_seq as text": (_set(("bookmarks", "files", "chain_seq"), "x"), "chain_seq"),
    "boundary ids as text": (_set((*PARTITION, "boundary_file_ids"), "eclf_1"), "boundary"),
    "future ids as a list": (_set((*PARTITION, "future_file_ids"), ["a"]), "future_file_ids"),
    "partitions as an object": (_set(("bookmarks", "log_files", "partitions"), {}), "partitions"),
    "partitions null": (_set(("bookmarks", "log_files", "partitions"), None), "partitions"),
    "a partition as a list": (_set(PARTITION, [1]), "partitions[0]"),
    "bookmarks as a list": (_set(("bookmarks",), []), "bookmarks"),
    "bookmarks null": (_set(("bookmarks",), None), "bookmarks"),
    "a stream's bookmark as a list": (_set(("bookmarks", "files"), []), "bookmarks.files"),
    "retry list as an object": (
        _set(("bookmarks", "files", "pending_attachments"), {"file-1": {}}),
        "pending_attachments",
    ),
    "retry entry without an id": (
        _set(("bookmarks", "files", "pending_attachments"), [{"name": "a.pdf"}]),
        "pending_attachments[0]",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_state_of_the_wrong_shape_is_one_line_before_any_request(
    workspace: Simulator, archived: TapRun, case: str
) -> None:
    """Each once ended in ``Unexpected error TypeError`` (a traceback for some) at every rerun,
    or was used: a chain continued from junk, a retry entry dropped with a warning, exit 0."""
    change, named = BROKEN[case]
    state = copy.deepcopy(archived.state)
    change(state)
    workspace.reset_counters()
    run = run_tap(tap_config(workspace, file_content="none"), state=state)
    _refused_before_any_request(workspace, run, named)


@pytest.mark.parametrize(
    ("text", "named"), [('{"bookmarks": {"log_files": {"parti', "not JSON"), ("[1, 2]", "list")]
)
def test_a_state_file_cut_short_is_one_line_before_any_request(
    workspace: Simulator, text: str, named: str
) -> None:
    config = tap_config(workspace, file_content="none")
    workspace.reset_counters()
    with tempfile.TemporaryDirectory() as tmp:
        command = tap_command(config, {}, Path(tmp))
        (Path(tmp) / "state.json").write_text(text)
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, env=tap_env()
        )
    run = TapRun(result.returncode, result.stdout, result.stderr)
    line = _refused_before_any_request(workspace, run, named)
    assert "state.json" in line


def test_a_summary_that_cannot_be_built_logs_no_traceback(
    workspace: Simulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The summary's warning carried the whole traceback (``exc_info``) at WARNING: a state of
    the wrong shape printed two tracebacks before the run's one line."""
    from tap_chatgpt_compliance.run.summary import RunSummary
    from tap_chatgpt_compliance.tap import TapChatGPTCompliance

    def broken(self: RunSummary) -> list[str]:
        raise KeyError("partitions")

    monkeypatch.setattr(RunSummary, "lines", broken)
    tap = TapChatGPTCompliance(config=tap_config(workspace, file_content="none"))
    with caplog.at_level("DEBUG"):
        tap.log_summary()
    shown = [r for r in caplog.records if r.levelno > 10]
    assert [r.getMessage() for r in shown] == [
        "The run summary could not be built (KeyError: 'partitions')."
    ]
    assert all(r.exc_info is None for r in shown)
