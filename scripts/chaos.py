#!/usr/bin/env python
"""Run thousands of seeded fault schedules against the tap and the simulator.

    scripts/chaos.py --schedules 5000 [--seed S] [--jobs N] [--oddities]
    scripts/chaos.py --replay SEED [--start ISO] [--oddities] [--keep]
    scripts/chaos.py --storm [--seed S]

Schedule ``i`` of a batch has seed ``S + i``; each is a pure function of its seed (see
tests/chaos/schedule.py): the workspace, quirk rates, tap settings, clock advances, 429/5xx
bursts, resets, truncated bodies, expiring signed URLs, files sharing an end_time, listing pages
without a required field, a skewed API ``Date`` (ahead: refused; behind: trusted) and SIGKILLs
over several incremental runs, then a final clean run, then the union of all runs is checked
against the simulator's ground truth. About a third of the schedules also select the
workspace-object streams (issue 21: configurations, canvases and their versions, memories,
Codex tasks, library files, knowledge files) with faults on their routes, and reconcile them
with the inventory ground truth (tests/chaos/workspace.py). Every failing schedule prints its
description, what each run did, what failed, and a one-line replay command. Exit status 1 if
any schedule failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])  # noqa: S606

from tests.chaos import tapproc  # noqa: E402 (after the re-exec into the project's venv)
from tests.chaos.schedule import (  # noqa: E402
    TapCannotStart,
    default_start,
    generate,
    run_schedule,
)

PACKAGE = "tap_chatgpt_compliance"


def freeze_tap(tries: int = 10) -> str:
    """Copy the tap's package to a temporary folder and run every schedule against that copy.

    Several people edit the working tree: a batch of hours must test one version of the code,
    not whatever is on disk when each schedule starts. The copy must start (``--about``);
    a tree caught in the middle of an edit is copied again a few seconds later.
    """
    for attempt in range(tries):
        root = Path(tempfile.mkdtemp(prefix="chaos-tap-"))
        shutil.copytree(
            ROOT / PACKAGE, root / PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
        )
        digest = hashlib.sha256()
        for path in sorted((root / PACKAGE).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        env = {**os.environ, "PYTHONPATH": str(root)}
        probe = subprocess.run(
            [sys.executable, "-m", PACKAGE, "--about"],
            cwd=root,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if probe.returncode == 0:
            tapproc.TAP_ROOT = root
            return digest.hexdigest()[:12]
        shutil.rmtree(root, ignore_errors=True)
        print(
            f"chaos: the tap does not start (try {attempt + 1}), copying again in 10 s", flush=True
        )
        time.sleep(10)
    msg = "the tap in the working tree does not start"
    raise SystemExit(msg)


def _quiet_servers() -> None:
    """Silence the simulator's HTTP threads, which print a traceback per reset connection."""
    socketserver.BaseServer.handle_error = lambda self, request, client_address: None  # type: ignore[method-assign]


def _one(
    seed: int, oddities: bool, start: datetime
) -> tuple[int, bool, str, list[str], list[str], Counter[str]]:
    _quiet_servers()
    try:
        outcome = run_schedule(generate(seed, oddities=oddities), start=start)
    except TapCannotStart as exc:
        report = f"schedule seed={seed}: the tap cannot start:\n{exc}"
        return seed, False, report, ["tap cannot start"], [], Counter()
    counts: Counter[str] = Counter()
    for run in outcome.runs:
        counts["tap runs"] += 1
        counts["SIGKILLed runs" if run.killed else f"runs that exited {run.returncode}"] += 1
        counts["records"] += run.record_count
    for name in ("lines_checked", "archived_records_verified", "stored_objects_verified"):
        counts[name.replace("_", " ")] += outcome.verdict.stats.get(name, 0)
    counts["log files sharing an end_time"] += outcome.ties
    if outcome.schedule.workspace:
        counts["schedules with workspace streams"] += 1
        stats = outcome.verdict.stats
        counts["workspace items verified"] += sum(
            v for k, v in stats.items() if k.startswith("ws_") and k.endswith("_keys")
        )
    return (
        seed,
        outcome.ok,
        outcome.report(),
        outcome.verdict.failures,
        outcome.verdict.notes,
        counts,
    )


def _kind(line: str) -> str:
    """Return the class of a failure or note: its text before the first count or example."""
    for cut in (": ", " ("):
        if cut in line:
            line = line.split(cut, 1)[0]
    return line.replace("run ", "run#")[:110]


def _parse_start(text: str | None) -> datetime:
    if not text:
        return default_start()
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def batch(args: argparse.Namespace) -> int:
    """Run a batch of schedules; print each failure as it comes, then a summary."""
    start = _parse_start(args.start)
    base = args.seed if args.seed is not None else int(time.time()) % 1_000_000 * 1000
    seeds = range(base, base + args.schedules)
    if args.live_tree:
        code = f"the tap in {tapproc.TAP_ROOT}"
    else:
        code = f"a frozen copy of the tap ({freeze_tap()})"
    print(
        f"chaos: {args.schedules} schedules, seeds {seeds[0]}..{seeds[-1]}, "
        f"{'with' if args.oddities else 'without'} oddities, {args.jobs} jobs, "
        f"start {start:%Y-%m-%dT%H:%M:%SZ}, against {code}",
        flush=True,
    )
    began = time.monotonic()
    failed: list[int] = []
    kinds: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    done = 0
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=_quiet_servers) as pool:
        futures = [pool.submit(_one, seed, args.oddities, start) for seed in seeds]
        try:
            for future in as_completed(futures):
                seed, ok, report, failures, run_notes, counts = future.result()
                done += 1
                totals.update(counts)
                for note in run_notes:
                    notes[_kind(note)] += 1
                if not ok:
                    failed.append(seed)
                    for failure in failures:
                        kinds[_kind(failure)] += 1
                    frozen = "" if args.live_tree else f" --tap-root {tapproc.TAP_ROOT}"
                    print(f"\nFAILED schedule {seed}\n{report}{frozen}\n", flush=True)
                if done % args.progress == 0 or done == len(futures):
                    elapsed = time.monotonic() - began
                    print(
                        f"chaos: {done}/{len(futures)} done, {len(failed)} failed, "
                        f"{elapsed:.0f} s ({elapsed / done:.1f} s per schedule)",
                        flush=True,
                    )
                if args.max_failures and len(failed) >= args.max_failures:
                    print(f"chaos: stopping after {len(failed)} failures", flush=True)
                    for f in futures:
                        f.cancel()
                    break
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise
    print(f"\nchaos: {done} schedules run, {len(failed)} failed")
    print("  " + ", ".join(f"{n} {name}" for name, n in sorted(totals.items())))
    for kind, count in kinds.most_common():
        print(f"  {count:5d} x FAIL {kind}")
    for kind, count in notes.most_common(10):
        print(f"  {count:5d} x note {kind}")
    if failed:
        odd = " --oddities" if args.oddities else ""
        print("failing seeds: " + " ".join(map(str, sorted(failed))))
        print(
            f"replay one: scripts/chaos.py --replay {sorted(failed)[0]}{odd} "
            f"--start {start:%Y-%m-%dT%H:%M:%SZ}"
        )
        if not args.live_tree:
            print(
                f"  (add --tap-root {tapproc.TAP_ROOT} to replay against the code this batch ran)"
            )
    elif not args.live_tree:
        shutil.rmtree(tapproc.TAP_ROOT, ignore_errors=True)
    return 1 if failed else 0


def replay(args: argparse.Namespace) -> int:
    """Run one schedule and print its full report."""
    start = _parse_start(args.start)
    schedule = generate(args.replay, oddities=args.oddities)
    workdir = None
    if args.keep:
        workdir = Path(tempfile.mkdtemp(prefix=f"chaos-replay-{args.replay}-"))
    outcome = run_schedule(schedule, start=start, workdir=workdir)
    print(outcome.report())
    if workdir is not None:
        print(f"  kept: {workdir} (config, state, stderr of each run; the storage folder)")
    print(f"  stats: {outcome.verdict.stats}")
    print("OK" if outcome.ok else "FAILED")
    return 0 if outcome.ok else 1


def storm(args: argparse.Namespace) -> int:
    """Run the kill storm once."""
    from tests.chaos.storm import run_storm

    result = run_storm(seed=args.seed if args.seed is not None else 20261126, kills=args.kills)
    print(result.report())
    print(f"  {result.seconds:.0f} s")
    return 0 if result.verdict.ok and result.kill_count >= 20 else 1


def main() -> int:
    """Parse the command line and run a batch, a replay or the storm."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--schedules", type=int, default=100, help="how many schedules (default 100)"
    )
    parser.add_argument(
        "--seed", type=int, help="first seed of the batch (default: from the clock)"
    )
    parser.add_argument(
        "--jobs", type=int, default=max(1, (os.cpu_count() or 2)), help="parallel schedules"
    )
    parser.add_argument(
        "--oddities", action="store_true", help="switch on the simulator's Oddities"
    )
    parser.add_argument("--replay", type=int, metavar="SEED", help="run one schedule and report it")
    parser.add_argument("--start", help="simulated start (ISO, UTC); default: yesterday 00:00Z")
    parser.add_argument("--keep", action="store_true", help="with --replay: keep the work folder")
    parser.add_argument("--storm", action="store_true", help="run the kill storm instead")
    parser.add_argument("--kills", type=int, default=22, help="with --storm: SIGKILLs (default 22)")
    parser.add_argument("--progress", type=int, default=25, help="progress line every N schedules")
    parser.add_argument(
        "--tap-root",
        type=Path,
        help="run the tap package found in this folder (e.g. `git archive HEAD "
        "tap_chatgpt_compliance | tar -x -C DIR`) instead of the working tree's",
    )
    parser.add_argument(
        "--live-tree",
        action="store_true",
        help="batch: run the tap from the working tree as it changes (default: a frozen copy)",
    )
    parser.add_argument(
        "--max-failures", type=int, default=0, help="stop after N failures (0: never)"
    )
    args = parser.parse_args()
    _quiet_servers()
    if args.tap_root is not None:
        if not (args.tap_root / PACKAGE / "__init__.py").is_file():
            parser.error(f"--tap-root: no {PACKAGE}/ package in {args.tap_root}")
        tapproc.TAP_ROOT = args.tap_root.resolve()
        args.live_tree = True  # no frozen copy: the given folder is the code under test
    if args.storm:
        return storm(args)
    if args.replay is not None:
        return replay(args)
    return batch(args)


if __name__ == "__main__":
    sys.exit(main())
