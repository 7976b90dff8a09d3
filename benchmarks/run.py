"""Issue #8's goals measured in one run: throughput (P1), pacing (P3), memory (P4), requests (P2).

Usage: python benchmarks/run.py [--quick] [--out docs/benchmarks.md] [--only P1,P3]
       python benchmarks/run.py --only P1 --p1-none --repeats 3   (P1's ratio alone, ~1 min)

``--only`` runs some parts and prints their measurements as JSON, without writing the report.
``--p1-none`` measures P1 in ``file_content: none`` only (not inline and storage beside it);
``--repeats`` sets how many runs of the bare client and of the tap alternate (default 2).

Everything is measured in the same run on this machine, against the project's simulator over
loopback, so the ratios hold even on a noisy machine:

- P1, throughput: the tap against the bare client of ``benchmarks/bare_client.py`` (lists and
  downloads every log file, parses each line, builds a message dict and ``json.dumps`` it), in
  records per second on the 100k-message workspace with ``file_content: none``; both write to
  a file and run as processes of their own, twice each, interleaved, the best of each counting.
  The ratio counts the tap's ``messages`` records only (the bare client writes one record per
  line it reads); the ratio counting all the tap's records is shown beside. Goal ≥ 0.5. Inline
  and storage modes are reported beside (the bare client downloads no attachment, so those are
  not ratios to it).
- P3, pacing: a backfill of ≥ 1,000 log files and ≥ 2,000 attachments under the simulator's
  rate limits (its ``speed`` scales time, so the tap is given the matching
  ``max_requests_per_minute``); the time from the first to the last request against the floor
  the limits impose, and the share of 429 answers. Goals ≤ 1.10 and ≤ 1 %.
- P4, memory: peak RSS of the tap process alone (VmHWM from /proc, sampled while it runs)
  at 10k and 1M messages (``--quick``: 100k), goal < 1.2x; a 1 GiB attachment archived to
  storage (goal < 100 MB) and a 256 MiB one inline (goal: a small multiple of
  ``max_inline_file_bytes``).
- P2, requests: the full run sends the minimum (one list page per 100 files, one download per
  file and per attachment, one page per directory list); an idle incremental run sends one list
  request per event type plus the directory lists.

The results are printed and written to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from chatgpt_compliance_simulator import Quirks, Simulator
from chatgpt_compliance_simulator.routes import GET_ROUTES
from tests.chaos.workspace import WORKSPACE_STREAMS
from tests.chaos.workspace import catalog as workspace_catalog
from tests.support.simulators import one_log_file_world
from tests.support.tap import tap_command, tap_config, tap_env

ROOT = Path(__file__).resolve().parents[1]

WS = "/v1/compliance/workspaces/{workspace_id}"
LIST = f"{WS}/logs"
DOWNLOAD = f"{WS}/logs/{{log_file_id}}"
USER_FILE = f"{WS}/users/{{user_id}}/files/{{file_id}}"
DIRECTORY = (f"{WS}/users", f"{WS}/gpts", f"{WS}/projects")
SIM_RATE = 100  # the simulator's limit per route and (simulated) minute for these routes
SIM_BURST = 100  # its bucket capacity
FAST = 10_000.0  # simulator speed when the rate limit is not what is measured
REPEATS = 2  # P1: runs of the bare client and of the tap, interleaved; the best of each counts


@dataclass
class Proc:
    """What one process of a benchmark did."""

    seconds: float
    records: int = 0
    messages: int = 0
    peak_rss: int = 0
    state: dict | None = None
    stderr: str = ""
    first_request_at: float | None = None
    by_stream: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    """User + system CPU seconds of the process (less sensitive to a loaded machine)."""
    returncode: int = 0


def children_cpu() -> float:
    """Return the CPU seconds of the processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss(pid: int) -> int:
    """Return a process's peak resident set size (VmHWM) in bytes, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_process(
    command: list[str], env: dict[str, str], sim: Simulator | None = None
) -> tuple[Proc, Path, tempfile.TemporaryDirectory]:
    """Run a process with stdout to a file; sample its VmHWM, and the first API request."""
    tmp = tempfile.TemporaryDirectory()
    out = Path(tmp.name) / "out.jsonl"
    err = Path(tmp.name) / "err.log"
    peak = 0
    first: list[float] = []
    start = time.perf_counter()
    cpu_before = children_cpu()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.02):
                peak = max(peak, peak_rss(proc.pid))
                if sim is not None and not first and sim.request_count() > 0:
                    first.append(time.perf_counter())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - start
    result = Proc(elapsed, peak_rss=peak, stderr=err.read_text(errors="replace"))
    result.cpu_s = children_cpu() - cpu_before
    result.returncode = code
    result.first_request_at = first[0] - start if first else None
    if code != 0:
        raise SystemExit(f"{command[:3]} failed ({code}):\n{result.stderr[-3000:]}")
    return result, out, tmp


def count_output(result: Proc, out: Path) -> None:
    """Count the RECORD lines by stream, and keep the last STATE."""
    by_stream: dict[str, int] = {}
    with out.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"type":"RECORD"'):
                stream = line[27 : line.index(b'"', 27)].decode()
                by_stream[stream] = by_stream.get(stream, 0) + 1
            elif line.startswith(b'{"type":"STATE"'):
                result.state = json.loads(line)["value"]
    result.by_stream = by_stream
    result.records = sum(by_stream.values())
    result.messages = by_stream.get("messages", 0)


def run_tap(
    sim: Simulator,
    config: dict,
    state: dict | None = None,
    *,
    count: bool = True,
    catalog: dict | None = None,
) -> Proc:
    """Run the tap as its own process against the simulator (with ``catalog``, if given)."""
    with tempfile.TemporaryDirectory() as work:
        command = tap_command(config, state, Path(work))
        if catalog is not None:
            (Path(work) / "catalog.json").write_text(json.dumps(catalog))
            command += ["--catalog", str(Path(work) / "catalog.json")]
        sim.reset_counters()  # the first request is watched for
        result, out, tmp = run_process(command, tap_env(), sim)
        with tmp:
            if count:
                count_output(result, out)
    return result


def run_bare(sim: Simulator, after: str) -> Proc:
    """Run the bare client as its own process against the simulator."""
    env = {**tap_env(), "BARE_API_KEY": sim.api_key}
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "bare_client.py"),
        sim.base_url,
        sim.workspace_id,
        after,
    ]
    sim.reset_counters()
    result, out, tmp = run_process(command, env, sim)
    with tmp, out.open("rb") as lines:
        result.records = result.messages = sum(1 for _ in lines)  # one record per line
    return result


def pacing_line(stderr: str) -> tuple[int, int]:
    """Return (API requests, 429 answers) from the tap's pacing summary line."""
    match = re.search(r"Pacing: (\d+) API requests, (\d+) answered 429", stderr)
    if not match:
        raise SystemExit("the tap logged no pacing summary")
    return int(match.group(1)), int(match.group(2))


def workspace(conversations: int, **overrides: object) -> Simulator:
    """Generate and start a workspace of ``conversations`` x 8-12 messages over 3 days."""
    options: dict[str, object] = {
        "seed": 1,
        "conversations": conversations,
        "messages_per_conversation": (8, 12),
        "span_days": 3.0,
        "speed": FAST,
    }
    options.update(overrides)
    return Simulator(**options).start()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- P1/P2


def bench_throughput(
    results: dict, conversations: int, repeats: int = REPEATS, other_modes: bool = True
) -> None:
    """P1 (none, and inline and storage unless ``other_modes`` is False) on one workspace."""
    started = time.perf_counter()
    sim = workspace(conversations, attachment_size=(200, 20_000))
    generated = time.perf_counter() - started
    try:
        messages = len(sim.ground_truth()["messages"])
        files = len(sim.log_files())
        jsonl = sum(f["file_size"] for f in sim.log_files())
        config = tap_config(sim, file_content="none")
        # Best of two each, interleaved: a burst of load on the machine hits one run, not the
        # ratio.
        bares, taps = [], []
        for _ in range(repeats):
            bares.append(run_bare(sim, config["start_date"]))
            taps.append(run_tap(sim, config))
            print(
                f"  bare {bares[-1].seconds:.1f} s ({bares[-1].cpu_s:.1f} s CPU), "
                f"tap {taps[-1].seconds:.1f} s ({taps[-1].cpu_s:.1f} s CPU)",
                flush=True,
            )
        bare = min(bares, key=lambda run: run.seconds)
        tap = min(taps, key=lambda run: run.seconds)
        bare_cpu = min(run.cpu_s for run in bares)
        tap_cpu = min(run.cpu_s for run in taps)
        inline = storage = None
        if other_modes:
            inline = run_tap(sim, tap_config(sim, file_content="inline"))
            with tempfile.TemporaryDirectory() as store:
                config = tap_config(sim, file_content="storage", file_storage_url=store)
                storage = run_tap(sim, config)
    finally:
        sim.stop()
    results["workspace"] = {
        "messages": messages,
        "log_files": files,
        "jsonl_mb": jsonl / 1e6,
        "generated_s": generated,
    }
    results["P1"] = p1 = {
        "bare_s": bare.seconds,
        "bare_records": bare.records,
        "bare_rps": bare.records / bare.seconds,
        "tap_s": tap.seconds,
        "tap_records": tap.records,
        "tap_messages": tap.messages,
        "tap_first_request_s": tap.first_request_at,
        "ratio": (tap.messages / tap.seconds) / (bare.records / bare.seconds),
        "ratio_all_records": (tap.records / tap.seconds) / (bare.records / bare.seconds),
        "bare_cpu_s": bare_cpu,
        "tap_cpu_s": tap_cpu,
        "ratio_cpu": (tap.messages / tap_cpu) / (bare.records / bare_cpu),
        "repeats": repeats,
        "tap_rss": tap.peak_rss,
    }
    if inline is not None and storage is not None:
        p1["inline"] = {"s": inline.seconds, "records": inline.records, "rss": inline.peak_rss}
        p1["storage"] = {"s": storage.seconds, "records": storage.records, "rss": storage.peak_rss}


def bench_requests(results: dict) -> None:
    """P2: the requests of a full and of an idle run, against the minimum.

    The simulator's quirks that cost requests by design (empty pages, short Gen-1 pages) are
    off, so that the minimum is exact: one list page per 100 files and event type, one download
    per file and per attachment, one page per directory list.
    """
    sim = workspace(
        300,
        span_days=1.0,
        attachment_rate=0.3,
        attachment_size=(200, 2_000),
        quirks=Quirks(empty_pages=False, short_pages=False, expired_attachments=False),
    )
    event_types = ["CONVERSATION_MESSAGE", "AUDIT_LOG"]
    try:
        config = tap_config(sim, file_content="inline", event_types=event_types)
        files = {kind: len(sim.log_files(event_type=kind)) for kind in event_types}
        attachments = len(sim.ground_truth()["attachments"])
        sim.reset_counters()
        full = run_tap(sim, config)
        full_requests = {
            "list": sim.request_count(LIST),
            "download": sim.request_count(DOWNLOAD),
            "attachment": sim.request_count(USER_FILE),
            "directory": sum(sim.request_count(route) for route in DIRECTORY),
            "all": sim.request_count(),
        }
        sim.reset_counters()
        idle = run_tap(sim, config, full.state)
        idle_requests = sim.request_count()
        idle_lists = sim.request_count(LIST)
    finally:
        sim.stop()
    minimum = {
        # pages of 100 files (the listing of a first run starts at start_date)
        "list": sum(max(1, math.ceil(n / 100)) for n in files.values()),
        "download": sum(files.values()),
        "directory": len(DIRECTORY),
    }
    results["P2"] = {
        "files": files,
        "attachments": attachments,
        "full": full_requests,
        "minimum": minimum,
        "idle_requests": idle_requests,
        "idle_list_requests": idle_lists,
        "event_types": len(event_types),
        "idle_records": idle.by_stream,
    }


# -------------------------------------------------------------------------------------------- P3


def bench_pacing(results: dict, speed: float, conversations: int) -> None:
    """P3: a backfill under the simulator's rate limits, against the floor they impose."""
    sim = workspace(
        conversations,
        messages_per_conversation=(4, 8),
        span_days=7.5,
        attachment_rate=0.6,
        attachment_size=(200, 4_000),
        speed=speed,
        quirks=Quirks(expired_attachments=False),
    )
    try:
        truth = sim.ground_truth()
        files = len(sim.log_files())
        config = tap_config(sim, file_content="inline")
        sim.reset_counters()
        tap = run_tap(sim, config, count=False)
        counts = {
            "list": sim.request_count(LIST),
            "download": sim.request_count(DOWNLOAD),
            "attachment": sim.request_count(USER_FILE),
            "directory": sum(sim.request_count(route) for route in DIRECTORY),
            "all": sim.request_count(),
        }
    finally:
        sim.stop()
    requests, throttled = pacing_line(tap.stderr)
    rate = SIM_RATE / 60.0 * speed  # requests per real second per route
    routes = {"download": counts["download"], "attachment": counts["attachment"]}
    # Each route is its own bucket: no client can do better than its busiest route allows.
    floors = {name: max(0, n - SIM_BURST) / rate for name, n in routes.items()}
    floor = max(floors.values())
    busy = tap.seconds - (tap.first_request_at or 0.0)
    results["P3"] = {
        "speed": speed,
        "log_files": files,
        "attachments": len(truth.get("attachments", {})) or counts["attachment"],
        "requests": counts,
        "tap_requests": requests,
        "throttled": throttled,
        "throttled_share": throttled / max(1, requests),
        "floor_s": floor,
        "floors": floors,
        "tap_s": tap.seconds,
        "startup_s": tap.first_request_at,
        "busy_s": busy,
        "ratio": busy / floor if floor else float("nan"),
    }


def bench_workspace_pacing(results: dict, speed: float, users: int) -> None:
    """P5 (issue 21): every workspace-object stream selected with the log sync, rate limits on.

    Per-user routes multiply requests by the users, per-canvas ones by the canvases: the floor
    is the busiest route's requests beyond its bucket at its refill rate (each route template
    has its own bucket and limit, GET_ROUTES: the workspace memories list allows half).
    """
    sim = Simulator(
        seed=2,
        users=users,
        conversations=users,
        messages_per_conversation=(2, 4),
        span_days=1.0,
        attachment_rate=0.0,
        speed=speed,
    ).start()
    try:
        config = tap_config(sim, file_content="none", directory_refresh_hours=0)
        chosen = workspace_catalog(WORKSPACE_STREAMS)
        sim.reset_counters()
        tap = run_tap(sim, config, catalog=chosen)
        counts = {route: sim.request_count(route) for route in GET_ROUTES}
    finally:
        sim.stop()
    if tap.returncode != 0:
        raise SystemExit(f"P5: the tap failed: {tap.stderr[-2000:]}")
    requests, throttled = pacing_line(tap.stderr)
    floors = {
        route: max(0, n - GET_ROUTES[route][1]) / (GET_ROUTES[route][1] / 60.0 * speed)
        for route, n in counts.items()
        if n
    }
    busiest = max(floors, key=lambda route: floors[route])
    floor = floors[busiest]
    busy = tap.seconds - (tap.first_request_at or 0.0)
    results["P5"] = {
        "speed": speed,
        "users": users,
        "records": tap.by_stream,
        "requests": {route: n for route, n in counts.items() if n},
        "tap_requests": requests,
        "throttled": throttled,
        "throttled_share": throttled / max(1, requests),
        "busiest_route": busiest,
        "floor_s": floor,
        "tap_s": tap.seconds,
        "busy_s": busy,
        "ratio": busy / floor if floor else float("nan"),
    }


# -------------------------------------------------------------------------------------------- P4


def bench_memory(results: dict, small: int, large: int, large_s_hint: str) -> None:
    """P4: peak RSS at two workspace sizes, and with one huge attachment."""
    peaks = {}
    for conversations in (small, large):
        started = time.perf_counter()
        sim = workspace(conversations)
        generated = time.perf_counter() - started
        try:
            messages = len(sim.ground_truth()["messages"])
            tap = run_tap(sim, tap_config(sim, file_content="none"), count=False)
        finally:
            sim.stop()
        peaks[messages] = {"rss": tap.peak_rss, "s": tap.seconds, "generated_s": generated}
    (m_small, p_small), (m_large, p_large) = sorted(peaks.items())
    results["P4"] = {
        "small": {"messages": m_small, **p_small},
        "large": {"messages": m_large, **p_large},
        "ratio": p_large["rss"] / p_small["rss"],
        "large_hint": large_s_hint,
    }
    results["P4"]["one_file"] = _one_big_log_file(400_000 if large_s_hint == "full" else 100_000)
    gib = 1 << 30
    results["P4"]["attachment_storage"] = _one_attachment(gib, "storage")
    results["P4"]["attachment_inline"] = _one_attachment(gib // 4, "inline")


def _one_big_log_file(lines: int) -> dict:
    """Peak RSS of a run whose messages all come in ONE log file of about ``lines`` lines."""
    # One user, one closed whole-day window: about 10 messages per conversation.
    sim = Simulator(**one_log_file_world(lines // 10, speed=FAST)).start()
    try:
        messages = len(sim.ground_truth()["messages"])
        tap = run_tap(sim, tap_config(sim, file_content="none"), count=False)
    finally:
        sim.stop()
    return {"lines": messages, "rss": tap.peak_rss, "s": tap.seconds}


def _one_attachment(size: int, mode: str) -> dict:
    sim = Simulator(
        seed=3,
        conversations=1,
        messages_per_conversation=(1, 1),
        attachment_rate=1.0,
        attachment_size=(size, size),
        span_days=0.2,
        speed=FAST,
        quirks=Quirks(expired_attachments=False),
    ).start()
    try:
        with tempfile.TemporaryDirectory() as store:
            options = {"file_storage_url": store} if mode == "storage" else {}
            config = tap_config(sim, file_content=mode, **options)
            tap = run_tap(sim, config, count=False)
            stored = sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())
    finally:
        sim.stop()
    return {
        "size": size,
        "mode": mode,
        "rss": tap.peak_rss,
        "s": tap.seconds,
        "stored_bytes": stored,
        "max_inline_file_bytes": 8 * 1024 * 1024,
    }


# ----------------------------------------------------------------------------------------- report


def report(results: dict, quick: bool) -> str:
    """Return the Markdown report (also printed)."""
    p1, p2, p3, p4 = results["P1"], results["P2"], results["P3"], results["P4"]
    p5 = results["P5"]
    ws = results["workspace"]
    ok = lambda good: "met" if good else "NOT met"  # noqa: E731
    mb = 1e6
    storage_rss = p4["attachment_storage"]["rss"]
    inline = p4["attachment_inline"]
    base = p4["small"]["rss"]
    inline_multiple = (inline["rss"] - base) / inline["max_inline_file_bytes"]
    p2_ok = (
        p2["full"]["list"] == p2["minimum"]["list"]
        and p2["full"]["download"] == p2["minimum"]["download"]
        and p2["full"]["attachment"] == p2["attachments"]
        and p2["full"]["directory"] == p2["minimum"]["directory"]
        and p2["idle_list_requests"] == p2["event_types"]
        and p2["idle_requests"] == p2["event_types"] + p2["minimum"]["directory"]
    )
    lines = [
        "# Benchmarks (issue #8)",
        "",
        f"Measured by `make bench` ({'--quick, ' if quick else ''}one run) on "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; simulator and processes on loopback.",
        "",
        "| goal | measured | ratio | target | |",
        "|---|---|---|---|---|",
        f"| P1 throughput (`file_content: none`) | tap {p1['tap_messages'] / p1['tap_s']:,.0f} "
        f"messages/s ({p1['tap_records'] / p1['tap_s']:,.0f} records/s), bare client "
        f"{p1['bare_rps']:,.0f} records/s | **{p1['ratio']:.2f}x** wall, "
        f"**{p1['ratio_cpu']:.2f}x** CPU ({p1['ratio_all_records']:.2f}x counting all the "
        f"tap's records) | ≥ 1.0x wall and CPU (issue #20) | "
        f"{ok(p1['ratio'] >= 1.0 and p1['ratio_cpu'] >= 1.0)} |",
        f"| P3 pacing | {p3['busy_s']:.1f} s for {p3['requests']['download']} log files and "
        f"{p3['requests']['attachment']} attachments, floor {p3['floor_s']:.1f} s; "
        f"{p3['throttled']} x 429 of {p3['tap_requests']} requests | **{p3['ratio']:.2f}x**, "
        f"429s **{100 * p3['throttled_share']:.2f}%** | ≤ 1.10x, ≤ 1% | "
        f"{ok(p3['ratio'] <= 1.10 and p3['throttled_share'] <= 0.01)} |",
        f"| P5 workspace objects paced (issue #21) | {p5['busy_s']:.1f} s, {p5['users']} users, "
        f"every workspace stream with the log sync; busiest route `{p5['busiest_route']}` "
        f"{p5['requests'][p5['busiest_route']]} requests, floor {p5['floor_s']:.1f} s; "
        f"{p5['throttled']} x 429 of {p5['tap_requests']} requests | **{p5['ratio']:.2f}x**, "
        f"429s **{100 * p5['throttled_share']:.2f}%** | ≤ 1.10x, ≤ 1% | "
        f"{ok(p5['ratio'] <= 1.10 and p5['throttled_share'] <= 0.01)} |",
        f"| P4 memory | peak RSS {p4['small']['rss'] / mb:.1f} MB at "
        f"{p4['small']['messages']:,} messages, {p4['large']['rss'] / mb:.1f} MB at "
        f"{p4['large']['messages']:,} | **{p4['ratio']:.2f}x** | < 1.2x | "
        f"{ok(p4['ratio'] < 1.2)} |",
        f"| P4 one log file of {p4['one_file']['lines']:,} lines | peak RSS "
        f"{p4['one_file']['rss'] / mb:.1f} MB | | < 150 MB | "
        f"{ok(p4['one_file']['rss'] < 150 * mb)} |",
        f"| P4 1 GiB attachment to storage | peak RSS {storage_rss / mb:.1f} MB | | < 100 MB | "
        f"{ok(storage_rss < 100 * mb)} |",
        f"| P4 256 MiB attachment inline | peak RSS {inline['rss'] / mb:.1f} MB, "
        f"{(inline['rss'] - base) / mb:.0f} MB above the small run's | "
        f"{inline_multiple:.1f}x max_inline_file_bytes (8 MiB) | a small multiple (≤ 8x) | "
        f"{ok(inline_multiple <= 8)} |",
        f"| P2 requests | full run: {p2['full']['list']} list pages, "
        f"{p2['full']['download']} log downloads, {p2['full']['attachment']} attachment "
        f"downloads, {p2['full']['directory']} directory pages (minimum "
        f"{p2['minimum']['list']}, {p2['minimum']['download']}, {p2['attachments']}, "
        f"{p2['minimum']['directory']}); idle run: {p2['idle_list_requests']} list requests "
        f"for {p2['event_types']} event types, {p2['idle_requests']} requests in all | "
        f"{p2['idle_list_requests'] / p2['event_types']:.0f} list/event type | the minimum; "
        f"1 list per event type (+ directory) | "
        f"{ok(p2_ok)} |",
        "",
        "Details:",
        f"- Workspace of P1/P2: {ws['messages']:,} messages in {ws['log_files']} log files, "
        f"{ws['jsonl_mb']:.0f} MB of JSONL (generated in {ws['generated_s']:.0f} s). Bare client "
        f"{p1['bare_s']:.1f} s for {p1['bare_records']:,} records (best of {p1['repeats']}); tap "
        f"{p1['tap_s']:.1f} s for "
        f"{p1['tap_records']:,} records ({p1['tap_messages']:,} messages), first request "
        f"after {p1['tap_first_request_s'] or 0:.1f} s, peak RSS {p1['tap_rss'] / mb:.0f} MB. "
        f"In CPU time (user + system, which a loaded machine skews less): bare client "
        f"{p1['bare_cpu_s']:.1f} s, tap {p1['tap_cpu_s']:.1f} s, ratio "
        f"{p1['ratio_cpu']:.2f}x.",
        f"- Other modes on the same workspace (attachments of 0.2-20 kB): inline "
        f"{p1['inline']['s']:.1f} s for {p1['inline']['records']:,} records "
        f"({p1['inline']['records'] / p1['inline']['s']:,.0f} records/s, peak RSS "
        f"{p1['inline']['rss'] / mb:.0f} MB); storage {p1['storage']['s']:.1f} s for "
        f"{p1['storage']['records']:,} records "
        f"({p1['storage']['records'] / p1['storage']['s']:,.0f} records/s, peak RSS "
        f"{p1['storage']['rss'] / mb:.0f} MB).",
        f"- P3: simulator at speed {p3['speed']:g} (its 100 requests/min per route are "
        f"{100 * p3['speed']:g} per real minute; the tap gets `max_requests_per_minute: "
        f"{100 * p3['speed']:g}`), {p3['log_files']} log files, "
        f"{p3['requests']['attachment']} attachment downloads, {p3['requests']['all']} requests "
        f"in all. Floor = the busiest route's requests beyond the bucket's {SIM_BURST} at the "
        f"refill rate (log downloads {p3['floors']['download']:.1f} s, attachments "
        f"{p3['floors']['attachment']:.1f} s). Measured from the tap's first request to its "
        f"exit ({p3['tap_s']:.1f} s in all, of which {p3['startup_s'] or 0:.1f} s of start-up "
        "before the first request; the first request is seen by sampling every 20 ms).",
        f"- P4: tap alone, `file_content: none`, VmHWM sampled every 20 ms; "
        f"{p4['large']['messages']:,} messages took {p4['large']['s']:.0f} s "
        f"(+ {p4['large']['generated_s']:.0f} s to generate the workspace). The attachment "
        f"runs archive every upload of a one-message workspace: "
        f"{p4['attachment_storage']['stored_bytes'] / (1 << 30):.2f} GiB stored to a local "
        f"folder in {p4['attachment_storage']['s']:.0f} s; 256 MiB uploads inline (32 "
        f"file_parts records of 8 MiB each) in {inline['s']:.0f} s.",
        f"- P2: {sum(p2['files'].values())} log files of 2 event types and "
        f"{p2['attachments']} attachments, with the simulator's request-costing quirks off "
        "(empty pages, short Gen-1 pages) so that the minimum is exact.",
    ]
    return "\n".join(lines) + "\n"


def write_report(path: Path, text: str) -> None:
    """Put ``text`` in place of the report's own section (the file's head, up to the first
    ``## `` heading); the hand-written sections after it (export, verify, attachments, fleet,
    the P1 profile) are kept."""
    old = path.read_text() if path.exists() else ""
    at = old.find("\n## ")
    rest = old[at + 1 :] if at >= 0 else ""
    path.write_text(text.rstrip("\n") + "\n\n" + rest if rest else text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="P4 at 100k messages, not 1M")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--conversations", type=int, default=10_000, help="P1 workspace")
    parser.add_argument("--pacing-speed", type=float, default=30.0)
    parser.add_argument("--pacing-conversations", type=int, default=1100)
    parser.add_argument(
        "--only", default="", help="comma-separated parts (P1 to P5): print JSON, no report"
    )
    parser.add_argument("--workspace-speed", type=float, default=10.0, help="P5")
    parser.add_argument("--workspace-users", type=int, default=300, help="P5")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="P1: runs of each")
    parser.add_argument(
        "--p1-none", action="store_true", help="P1 without the inline and storage runs"
    )
    args = parser.parse_args()
    only = {part.strip().upper() for part in args.only.split(",") if part.strip()}
    started = time.perf_counter()
    results: dict = {}
    large = 10_000 if args.quick else 100_000
    parts = {
        "P1": (
            "P1: throughput against the bare client …",
            lambda: bench_throughput(
                results, args.conversations, args.repeats, other_modes=not args.p1_none
            ),
        ),
        "P2": ("P2: requests of a full and an idle run …", lambda: bench_requests(results)),
        "P3": (
            "P3: pacing under the simulator's rate limits …",
            lambda: bench_pacing(results, args.pacing_speed, args.pacing_conversations),
        ),
        "P5": (
            "P5: the workspace-object streams under the simulator's rate limits …",
            lambda: bench_workspace_pacing(results, args.workspace_speed, args.workspace_users),
        ),
        "P4": (
            f"P4: peak RSS at 1k and {large // 1000}k conversations …",
            lambda: bench_memory(results, 1_000, large, "quick" if args.quick else "full"),
        ),
    }
    for name, (title, bench) in parts.items():
        if not only or name in only:
            print(title, flush=True)
            bench()
    if only:
        print(json.dumps(results, indent=2, default=str))
        return
    text = report(results, args.quick)
    text += f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s.\n"
    print(text)
    write_report(Path(args.out), text)
    (Path(args.out).with_suffix(".json")).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
