"""Kill storm over the workspace-object streams (issue 21): SIGKILLs during refreshes.

A workspace with a heavy canvas user (hundreds of versions), new GPT/project configurations,
memory changes, Codex tasks and library files; every workspace stream selected (knowledge
files to a local ``file_content: storage`` folder), ``directory_refresh_hours: 0`` so that each
resumed run refreshes again. Each run is SIGKILLed at a point drawn from
``random.Random(seed)`` (after N records, N stdout bytes, N seconds after the first output
line, or as a knowledge file appears in the storage folder) and resumes from the last complete
STATE line; the clock moves on between some runs; a final clean run follows. Then
``workspace.check_workspace`` reconciles every run with the ground truth.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tests.support.tap import follow

from .archive import Verdict, _check_keys, run_notes, state_size
from .schedule import STATE_LIMIT, TapCannotStart, cannot_start, default_start
from .tapproc import Kill, TapRun, run_tap
from .workspace import WORKSPACE_STREAMS, catalog, check_workspace

RUN_TIMEOUT = 90.0


@dataclass
class WorkspaceStormResult:
    """Every run of the storm and the verdict on their union."""

    seed: int
    runs: list[TapRun] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    seconds: float = 0.0
    sim: Simulator | None = None
    """The (stopped) simulator: its ground truth stays readable."""
    sim_times: list[datetime] = field(default_factory=list)
    """The simulated time during each run."""

    @property
    def kill_count(self) -> int:
        """Runs that really died of SIGKILL."""
        return sum(1 for run in self.runs if run.killed and not run.timed_out)

    def report(self) -> str:
        """Human-readable account of the storm."""
        lines = [
            f"workspace kill storm seed={self.seed}: {self.kill_count} SIGKILLs, "
            f"{len(self.runs)} runs, {self.seconds:.0f} s"
        ]
        for run, plan in zip(self.runs, self.plans, strict=False):
            lines.append(
                f"  {run.label}: {plan} -> {run.outcome()}, {run.record_count} records, "
                f"{len(run.states)} states"
            )
        lines += [f"  note: {n}" for n in self.verdict.notes]
        lines += [f"  FAIL: {f}" for f in self.verdict.failures]
        lines.append(f"  stats: {self.verdict.stats}")
        return "\n".join(lines)


def storm_simulator(seed: int, heavy: int) -> Simulator:
    """A small workspace whose objects change fast, with one heavy canvas user."""
    return Simulator(
        SimulatorConfig(
            seed=seed,
            users=3,
            conversations=2,
            span_days=0.5,
            rate_limits=False,
            start=default_start() - timedelta(days=1),
            inventory=Inventory(
                heavy_user_canvases=heavy,
                heavy_user_versions=35,
                canvas_versions_per_day=3.0,
                config_versions_per_day=3.0,
                memory_changes_per_user_day=4.0,
                codex_tasks_per_day=6.0,
                library_files_per_user_day=1.0,
                automation_changes_per_day=1.0,
            ),
        )
    )


def _plan(rng: random.Random, ahead: int) -> Kill:
    roll = rng.random()
    if roll < 0.1:
        return Kill("storage", 1)
    if roll < 0.3:
        return Kill("time", round(rng.uniform(0.0, 0.8), 2))
    if roll < 0.45:
        return Kill("bytes", rng.randint(2_000, 60_000 + 400 * ahead))
    return Kill("records", rng.randint(1, max(2, ahead)))


def run_workspace_storm(
    seed: int = 20261205,
    kills: int = 4,
    heavy: int = 12,
    max_runs: int | None = None,
    workdir: Path | None = None,
    faults: bool = False,
) -> WorkspaceStormResult:
    """SIGKILL the tap ``kills`` times during workspace refreshes, resuming each time, then run
    clean and reconcile. ``faults``: each killed run also meets 5xx bursts, connection resets
    and truncated bodies at random rates (the final run none)."""
    started = time.monotonic()
    rng = random.Random(f"chaos-workspace-storm:{seed}")
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="chaos-ws-storm-")) if own else workdir
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    sim = follow(storm_simulator(seed, heavy).start())
    result = WorkspaceStormResult(seed, sim=sim)
    sim_times = result.sim_times
    state: dict[str, Any] | None = None
    selected = WORKSPACE_STREAMS
    chosen = catalog(selected, defaults=False)
    limit = max_runs if max_runs is not None else 3 * kills + 4
    try:
        config = {
            "api_key": sim.api_key,
            "workspace_id": sim.workspace_id,
            "api_url": sim.base_url,
            "start_date": (sim.now() - timedelta(days=2)).isoformat(),
            "directory_refresh_hours": 0,
            "file_content": "storage",
            "file_storage_url": str(storage),
            "max_retries": 3,
            "max_retry_wait": 0.3,
            "request_timeout": 20,
        }
        # A full first refresh writes this many records; later ones far fewer.
        ahead = 40 * heavy + 200
        index = 0
        kill: Kill | None
        while index < limit:
            index += 1
            final = result.kill_count >= kills or index == limit
            plan = ""
            if index > 1 and (result.runs[-1].returncode == 0 or rng.random() < 0.3):
                minutes = rng.choice([60, 180, 360])
                # never past this machine's clock (the tap refuses an API Date far ahead)
                room = (datetime.now(timezone.utc) - sim.now()).total_seconds() / 60 - 10
                minutes = max(0, min(minutes, int(room)))
                if minutes:
                    sim.advance(timedelta(minutes=minutes))
                    plan = f"advance {minutes} min; "
                    ahead = 60
            kill = None if final else _plan(rng, ahead)
            if faults:
                rates = (0.0, 0.0, 0.0) if final else tuple(rng.uniform(0, 0.06) for _ in "ert")
                sim.config.faults.error_rate, sim.config.faults.reset_rate = rates[:2]
                sim.config.faults.truncate_rate = rates[2]
                if not final:
                    plan += "faults error/reset/truncate " + "/".join(f"{r:.3f}" for r in rates)
                    plan += "; "
            result.plans.append(plan + ("final clean run" if kill is None else kill.describe()))
            sim_times.append(sim.now())
            run = run_tap(
                config,
                state,
                workdir / f"run-{index}",
                label=f"run {index}",
                kill=kill,
                timeout=RUN_TIMEOUT,
                watch_dir=storage,
                catalog=chosen,
            )
            result.runs.append(run)
            if run.state is not None:
                state = run.state
            if run.timed_out:
                result.verdict.fail(f"{run.label} hung for {RUN_TIMEOUT:.0f} s")
                break
            if cannot_start(run):
                raise TapCannotStart(run.stderr_tail(6))
            if final:
                break
        last = result.runs[-1]
        if last.killed or last.returncode != 0:
            result.verdict.fail(
                f"the final clean run exited {last.outcome()}: {last.stderr_tail(4)!r}"
            )
        if state_size(state) > STATE_LIMIT:
            result.verdict.fail(f"the state grew to {state_size(state)} bytes")
        _check_keys(result.runs, result.verdict)
        check_workspace(sim, result.runs, sim_times, result.verdict, selected)
        result.verdict.notes += run_notes(result.runs)
        for run in result.runs:
            for line in run.bad_lines:
                result.verdict.fail(
                    f"{run.label}: stdout line that is not a Singer message: {line!r}"
                )
    finally:
        sim.stop()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result
