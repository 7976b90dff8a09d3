"""Kill storm over the workspace-object streams (issue 21): SIGKILLs of a real tap process in
the middle of refreshes of canvases and their versions, memories, GPT/project configurations
(and their knowledge files), automations, Codex tasks and library files, each run resuming from
the last complete STATE line, the clock moving on between some runs, then a final clean run.

Every item and version of the ground truth must be archived (byte for byte), records sent again
must be identical, and no state may record a refresh whose items were not all written (see
``workspace.py``). The checks are shown to fail on a planted loss.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from .archive import Verdict
from .workspace import check_workspace
from .workspace_storm import WorkspaceStormResult, run_workspace_storm

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@pytest.fixture(scope="module")
def storm() -> WorkspaceStormResult:
    return run_workspace_storm(seed=20261205, kills=5, heavy=10)


def test_workspace_kill_storm_loses_nothing(storm: WorkspaceStormResult) -> None:
    assert storm.kill_count >= 5, storm.report()
    assert storm.verdict.ok, "\n" + storm.report()
    stats = storm.verdict.stats
    assert stats["ws_canvas_versions_keys"] > 300, storm.report()
    for stream in ("gpt_configs", "memory_entries", "codex_tasks", "library_files"):
        assert stats[f"ws_{stream}_keys"] > 0, stream
    # killed mid-refresh: the resumed runs sent some versions again (idempotently)
    assert stats["ws_canvas_versions_sent"] > stats["ws_canvas_versions_keys"]


def test_the_reconciliation_catches_a_lost_version(storm: WorkspaceStormResult) -> None:
    """A canvas version dropped from every run's output is reported: by the run whose state
    recorded the refresh (watermark past an unwritten row) and by the final check."""
    runs = copy.deepcopy(storm.runs)
    victim = runs[0].records["canvas_versions"][0]
    key = (victim["textdoc_id"], victim["version"])
    for run in runs:
        run.records["canvas_versions"] = [
            r for r in run.records["canvas_versions"] if (r["textdoc_id"], r["version"]) != key
        ]
    verdict = Verdict()
    assert storm.sim is not None
    check_workspace(storm.sim, runs, storm.sim_times, verdict)
    text = "\n".join(verdict.failures)
    assert "recorded a refresh" in text, text
    assert "not archived after the final run" in text, text
    assert str(key[0]) in text


@pytest.mark.soak
@pytest.mark.parametrize(("seed", "faults"), [(1, False), (2, True), (3, True)])
def test_workspace_kill_storm_soak(seed: int, faults: bool, tmp_path: Path) -> None:
    """More kills, a heavier canvas user, more seeds; 5xx, resets and truncated bodies too."""
    result = run_workspace_storm(seed=seed, kills=24, heavy=40, workdir=tmp_path, faults=faults)
    assert result.kill_count >= 20, result.report()
    assert result.verdict.ok, "\n" + result.report()
