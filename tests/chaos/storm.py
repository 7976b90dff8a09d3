"""Kill storm: many SIGKILLs of a real tap process, each run resuming from the last STATE.

The simulator keeps its default quirks (duplicates, late events, boundary re-return, empty
pages, expiring attachments), attachments up to a few MB go to a local ``file_content: storage``
folder, AUDIT_LOG and AUTH_LOG are archived beside the messages, and the simulated clock moves
on between some runs. Kill points are drawn from ``random.Random(seed)``: after N records,
after N stdout bytes, after N seconds, or as a new file appears in the storage folder (mid-write).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from chatgpt_compliance_simulator import Quirks, Simulator, SimulatorConfig
from tests.support.tap import follow

from .archive import RunView, Verdict, log_bodies, run_notes, state_size, verify_archive
from .schedule import STATE_LIMIT, TapCannotStart, cannot_start, default_start
from .tapproc import Kill, TapRun, run_tap

EVENT_TYPES = ["CONVERSATION_MESSAGE", "AUDIT_LOG", "AUTH_LOG"]
RUN_TIMEOUT = 90.0


@dataclass
class StormResult:
    """Every run of the storm and the verdict on their union."""

    seed: int
    runs: list[TapRun] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    seconds: float = 0.0

    @property
    def kill_count(self) -> int:
        """Runs that really died of SIGKILL."""
        return sum(1 for run in self.runs if run.killed and not run.timed_out)

    def report(self) -> str:
        """Human-readable account of the storm."""
        lines = [f"kill storm seed={self.seed}: {self.kill_count} SIGKILLs, {len(self.runs)} runs"]
        for run, plan in zip(self.runs, self.kills, strict=False):
            lines.append(
                f"  {run.label}: {plan} -> {run.outcome()}, {run.record_count} records, "
                f"{len(run.states)} states"
            )
        lines += [f"  note: {n}" for n in self.verdict.notes]
        lines += [f"  FAIL: {f}" for f in self.verdict.failures]
        lines.append(f"  stats: {self.verdict.stats}")
        return "\n".join(lines)


def storm_simulator(seed: int) -> Simulator:
    """A small workspace with attachments up to 6 MB and the default quirks."""
    return Simulator(
        SimulatorConfig(
            seed=seed,
            users=4,
            conversations=24,
            messages_per_conversation=(2, 6),
            attachment_rate=0.45,
            attachment_size=(200, 6_000_000),
            span_days=1.3,
            log_window_minutes=10,
            quirks=Quirks(duplicate_rate=0.1, late_rate=0.1, empty_page_rate=0.2),
            rate_limits=False,
            start=default_start(),
        )
    )


def _plan(rng: random.Random, pending_lines: int, pending_attachments: int) -> Kill:
    """A kill point inside the work the run has ahead of it (so that it really kills)."""
    roll = rng.random()
    if roll < 0.15 and pending_attachments:
        return Kill("storage", rng.randint(1, min(3, pending_attachments)))
    if roll < 0.3:
        return Kill("time", round(rng.uniform(0.0, 0.2 + 0.01 * pending_lines), 2))
    if roll < 0.45:
        return Kill("bytes", rng.randint(2_000, 20_000 + 700 * pending_lines))
    return Kill("records", rng.randint(1, max(1, pending_lines)))


def _pending(sim: Simulator, runs: list[TapRun]) -> tuple[int, int]:
    """Lines of log files not yet in any run's log_files, and live attachments not archived."""
    done = {r.get("id") for run in runs for r in run.records.get("log_files", [])}
    archived = {
        r.get("id")
        for run in runs
        for r in run.records.get("files", [])
        if r.get("status") == "archived"
    }
    truth = sim.ground_truth()
    lines = 0
    for event_type in EVENT_TYPES:
        for meta in truth["log_files"].get(event_type, []):
            if meta["id"] not in done:
                lines += sim.log_file_bytes(meta["id"]).count(b"\n") + 1
    live = {fid for fid, a in truth["attachments"].items() if not a["expired"]}
    return lines, len(live - archived)


def run_storm(
    seed: int = 20261126, kills: int = 22, max_runs: int = 40, workdir: Path | None = None
) -> StormResult:
    """SIGKILL the tap ``kills`` times (resuming each time), then run clean and verify.

    Before each run the work ahead is estimated (lines of log files no run has finished, live
    attachments not archived yet); when little is left the clock moves on 1-4 hours so that
    there is new activity to archive, and the kill point is drawn inside that work.
    """
    started = time.monotonic()
    rng = random.Random(f"chaos-storm:{seed}")
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="chaos-storm-")) if own else workdir
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    sim = follow(storm_simulator(seed).start())
    result = StormResult(seed)
    views: list[RunView] = []
    state: dict[str, Any] | None = None
    try:
        config = {
            "api_key": sim.api_key,
            "workspace_id": sim.workspace_id,
            "api_url": sim.base_url,
            "start_date": (sim.now() - timedelta(days=2.5)).isoformat(),
            "event_types": EVENT_TYPES,
            "file_content": "storage",
            "file_storage_url": str(storage),
            "max_retries": 3,
            "max_retry_wait": 0.5,
            "request_timeout": 20,
        }
        index = 0
        while result.kill_count < kills and index < max_runs:
            index += 1
            lines, attachments = _pending(sim, result.runs)
            plan = ""
            if lines < 15 or rng.random() < 0.1:
                minutes = rng.choice([60, 120, 240])
                sim.advance(timedelta(minutes=minutes))
                lines, attachments = _pending(sim, result.runs)
                plan = f"advance {minutes} min; "
            kill = _plan(rng, lines, attachments)
            result.kills.append(f"{plan}{lines} lines ahead; {kill.describe()}")
            state = _one_run(sim, config, state, workdir, index, kill, result, views, storage)
            if result.runs[-1].timed_out:
                result.verdict.fail(f"{result.runs[-1].label} hung for {RUN_TIMEOUT:.0f} s")
                break
            if cannot_start(result.runs[-1]):
                raise TapCannotStart(result.runs[-1].stderr_tail(6))
        index += 1
        result.kills.append("final clean run")
        state = _one_run(sim, config, state, workdir, index, None, result, views, storage)
        final = result.runs[-1]
        if final.returncode != 0:
            result.verdict.fail(
                f"the final clean run exited {final.outcome()}: {final.stderr_tail(4)!r}"
            )
        if state_size(state) > STATE_LIMIT:
            result.verdict.fail(f"the state grew to {state_size(state)} bytes")
        truth = sim.ground_truth()
        checked = verify_archive(
            truth,
            views,
            event_types=EVENT_TYPES,
            storage_dir=storage,
            bodies=log_bodies(sim, truth, EVENT_TYPES),
        )
        result.verdict.failures += checked.failures
        result.verdict.notes += checked.notes + run_notes(result.runs)
        result.verdict.stats = checked.stats
    finally:
        sim.stop()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def _one_run(
    sim: Simulator,
    config: dict[str, Any],
    state: dict[str, Any] | None,
    workdir: Path,
    index: int,
    kill: Kill | None,
    result: StormResult,
    views: list[RunView],
    storage: Path,
) -> dict[str, Any] | None:
    attachments = sim.ground_truth()["attachments"]
    live = {fid for fid, a in attachments.items() if not a["expired"]}
    run = run_tap(
        config,
        state,
        workdir / f"run-{index}",
        label=f"run {index}",
        kill=kill,
        timeout=RUN_TIMEOUT,
        watch_dir=storage,
    )
    result.runs.append(run)
    views.append(RunView(run, live, set(attachments) - live))
    return run.state if run.state is not None else state
