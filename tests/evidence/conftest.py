"""Archives written by real tap runs against the simulator, laid out as target-jsonl does."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Oddities, Simulator, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tests.support.evidence import cli as cli  # re-exported: the evidence tests import them
from tests.support.evidence import verify_cli as verify_cli
from tests.support.evidence import write_jsonl
from tests.support.simulators import running
from tests.support.tap import TapRun, run_tap, tap_config

EVENT_TYPES = ["CONVERSATION_MESSAGE", "AUTH_LOG"]


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A small workspace with messages, attachments and AUTH_LOG files. No rate limit: a module
    runs the tap on it several times in a minute (pacing is tested in tests/tap)."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.6}, rate_limits=False
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def inline_run(sim: Simulator) -> TapRun:
    """A tap run with the defaults (file_content: inline)."""
    return ok(run_tap(tap_config(sim, event_types=EVENT_TYPES)))


@pytest.fixture(scope="module")
def inline_archive(inline_run: TapRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(inline_run.records, tmp_path_factory.mktemp("inline"))


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    """Return a fresh copy of an archive folder to tamper with."""

    def copy(folder: Path) -> Path:
        target = tmp_path / f"copy-{folder.name}"
        shutil.copytree(folder, target)
        return target

    return copy


@pytest.fixture(scope="module")
def nul_run() -> TapRun:
    """A tap run whose one user message holds a NUL in its text."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 43, "span_days": 0.3},
        oddities=Oddities(nul_in_message_text=True),
    )
    with running(config) as simulator:
        return ok(run_tap(tap_config(simulator, event_types=["CONVERSATION_MESSAGE"])))
