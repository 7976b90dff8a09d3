"""`make bench-fleet`: what one more tenant costs in the Dagster fleet, at 20, 50 and 100 tenants.

Usage: python benchmarks/fleet.py [--quick] [--tenants 20,50,100] [--concurrency 2] [--passes 3]
                                  [--no-bytecode-cache] [--editable] [--json FILE]

For each fleet size N it builds a temporary Meltano project (this repository's ``meltano.yml``
with N generated ``tap-chatgpt-compliance--tNNN`` tenants instead of the example ones) and
installs the tap in it as a deployment does: from a wheel of this repository built once per
bench run (``uv build --wheel``; ``pip_url: tap-chatgpt-compliance[s3] @ file:///…whl``,
``meltano install extractor``), so Meltano caches each tenant's discovered catalog after its first
run; the installed loaders of ``.meltano/`` are linked, not copied. ``--editable`` links the
repository's installed extractor instead (``pip_url: -e .[s3,aws,postgres]``: Meltano never
caches the catalog of an editable install, so every run starts the tap once more for
``--discover``). The build and the install are set-up, not measured. It starts the simulator with N small workspaces and a local
S3 (moto), and runs the **real code location**: the ``archive_fleet`` job of
``orchestration.definitions`` through ``orchestration.local.run_fleet`` (``execute_job`` of the
reconstructable job, the multiprocess executor and its step processes, ``meltano run <tenant>
target-s3`` and the persisted-state read-back of every step, the run checks) with at most
``--concurrency`` tenant steps at once. Production differs only in who starts that run: the run
launcher starts one run worker (``dagster api execute_run``) per hourly run, which then does the
same; that is one process per run, not per tenant. The Dagster instance is SQLite in a
temporary folder here (PostgreSQL in production).

Pass 1 is each tenant's first sync of a small workspace ("light"), pass 2 the next hour with
nothing new ("idle"), pass 3 (``--passes 3``) a later hour after ``HOURLY_ADVANCE`` of new
activity in every workspace ("hourly": the steady state of an active tenant, a few new messages,
its catalog cached; the row says how many tenants had new messages). Each pass runs in a
process of its own and is measured whole:

- CPU: user + system time of that process and every process under it (the run coordinator,
  the forkserver, each step, Meltano, the tap, the target), from the kernel's accounting of
  reaped children (this process is made their sub-reaper, so nothing escapes); the simulator and
  the S3 server run elsewhere and are not counted.
- wall: the pass from start to end (Dagster start-up included), and tenants/hour from it.
- peak memory: sampled every 0.1 s, the largest sum over one tenant step's processes (the step
  and everything under it) and the largest sum over the whole pass, in PSS (each shared page
  split among the processes sharing it: forks share most of their pages), else RSS.

The machine is shared: the load average is printed beside each row. Bytecode is cached in a
temporary ``PYTHONPYCACHEPREFIX`` (as in a deployment image built with compiled bytecode) unless
``--no-bytecode-cache``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUCKET = "chatgpt-compliance-fleet-bench"
#: One small workspace per tenant: a light first sync, then idle runs.
SIM_KW: dict[str, Any] = {"seed": 20, "users": 1, "conversations": 2, "span_days": 0.25}
PR_SET_CHILD_SUBREAPER = 36
HOURLY_ADVANCE = timedelta(hours=4)
"""Simulated activity before the "hourly" pass: at SIM_KW's rate (8 new conversations a day and
half as many follow-ups) about 2 new conversations or follow-ups per workspace."""
PASSES = ("light", "idle", "hourly")


def build_wheel(out: Path) -> Path:
    """Build the tap's wheel from this repository into ``out`` (once per bench run)."""
    uv = BIN / "uv" if (BIN / "uv").exists() else Path(shutil.which("uv") or "uv")
    proc = subprocess.run(
        [str(uv), "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(out.glob("tap_chatgpt_compliance-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise SystemExit(f"bench-fleet: `uv build --wheel` failed:\n{proc.stderr[-2000:]}")
    return wheels[0]


def wheel_pip_url(wheel: Path) -> str:
    """The ``pip_url`` installing ``wheel`` with the ``s3`` extra, as a deployment does."""
    return shlex.quote(f"tap-chatgpt-compliance[s3] @ {wheel.resolve().as_uri()}")


def tenant_project(root: Path, tenants: int, wheel: Path | None = None) -> Path:
    """Write a Meltano project with ``tenants`` generated tenants; install or link the plugins.

    With ``wheel``, the base extractor's ``pip_url`` is that wheel with the ``s3`` extra and the
    extractor is installed into the project (``meltano install extractor``), as in a deployment:
    Meltano then caches each tenant's discovered catalog. Without it, the repository's installed
    extractor (``pip_url: -e .[…]``, editable: no catalog cache) is linked. The loaders are
    always linked (never copied or reinstalled).
    """
    import yaml

    data = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    extractors = [p for p in data["plugins"]["extractors"] if "inherit_from" not in p]
    if wheel is not None:
        for plugin in extractors:
            if plugin["name"] == "tap-chatgpt-compliance":
                plugin["pip_url"] = wheel_pip_url(wheel)
    for i in range(tenants):
        extractors.append(
            {
                "name": f"tap-chatgpt-compliance--t{i:03d}",
                "inherit_from": "tap-chatgpt-compliance",
                "load_schema": f"t{i:03d}",
            }
        )
    data["plugins"]["extractors"] = extractors
    data["plugins"].pop("utilities", None)  # dbt: not part of the fleet's step
    for key in ("jobs", "schedules"):
        data.pop(key, None)
    root.mkdir(parents=True, exist_ok=True)
    (root / "meltano.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (root / ".meltano").mkdir(exist_ok=True)
    for kind in ("loaders",) if wheel is not None else ("extractors", "loaders"):
        source = ROOT / ".meltano" / kind
        if not source.is_dir():
            raise SystemExit(f"bench-fleet: {source} is missing: run `meltano install` first")
        (root / ".meltano" / kind).symlink_to(source, target_is_directory=True)
    if wheel is not None:
        install_extractor(root)
    return root


def install_extractor(project: Path) -> None:
    """``meltano install extractor tap-chatgpt-compliance`` in ``project`` (its own venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_"))}
    env.update(
        {
            "MELTANO_PROJECT_ROOT": str(project),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    proc = subprocess.run(
        [str(BIN / "meltano"), "install", "extractor", "tap-chatgpt-compliance"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    venv = project / ".meltano" / "extractors" / "tap-chatgpt-compliance" / "venv"
    if proc.returncode != 0 or not (venv / "bin" / "tap-chatgpt-compliance").exists():
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"bench-fleet: installing the tap's wheel failed:\n{tail}")


def load_average() -> float:
    """The one-minute load average."""
    return os.getloadavg()[0]


class TreeSampler:
    """Sample the RSS of every process under this one: per tenant step and in total."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak_total = 0
        self.peak_step = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.1):
            try:
                procs = [p for p in me.children(recursive=True) if p.pid not in self.exclude]
            except psutil.Error:
                continue
            rss: dict[int, int] = {}
            parent: dict[int, int] = {}
            names: dict[int, str] = {}
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss[p.pid] = _pss(p)
                    parent[p.pid] = p.ppid()
                    names[p.pid] = " ".join(p.cmdline()[:4])
            self.peak_total = max(self.peak_total, sum(rss.values()))
            steps: dict[int, int] = {}
            for pid, size in rss.items():
                root = step_root(pid, parent, names)
                if root is not None:
                    steps[root] = steps.get(root, 0) + size
            if steps:
                self.peak_step = max(self.peak_step, *steps.values())


def _pss(proc: Any) -> int:
    """Proportional set size (shared pages split among their processes), else RSS.

    The steps are forks of one preloaded server and Meltano a fork of its step: their RSS
    would count the same shared pages once per process.
    """
    try:
        return int(proc.memory_full_info().pss)
    except (AttributeError, OSError):
        return int(proc.memory_info().rss)


def step_root(pid: int, parent: dict[int, int], names: dict[int, str]) -> int | None:
    """The tenant step process ``pid`` belongs to (itself or an ancestor), or None.

    Step processes are spawned by the run coordinator (``multiprocessing.spawn``) or forked by
    the executor's forkserver; everything under a step (Meltano, the tap, the target) is its.
    """
    chain = [pid]
    while chain[-1] in parent and len(chain) < 50:
        chain.append(parent[chain[-1]])
    mp = [p for p in chain if "multiprocessing" in names.get(p, "")]
    if not mp:
        return None
    top = mp[-1]  # the highest: a spawned step, or the forkserver
    if "forkserver" not in names.get(top, ""):
        return top
    index = chain.index(top)
    return chain[index - 1] if index > 0 else None


def reap_orphans(exclude: set[int], timeout: float = 10.0) -> None:
    """Wait for the orphans re-parented to this sub-reaper (their CPU then counts)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [p for p in psutil.Process().children() if p.pid not in exclude]
        if not kids:
            return
        for p in kids:
            with contextlib.suppress(ChildProcessError, psutil.Error):
                os.waitpid(p.pid, os.WNOHANG)
        time.sleep(0.05)


def children_cpu() -> float:
    """User + system CPU seconds of every reaped child of this process."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_pass(env: dict[str, str], out: Path, exclude: set[int]) -> dict[str, Any]:
    """Run one fleet pass in a process of its own; return its measurements."""
    cpu0, load0, t0 = children_cpu(), load_average(), time.monotonic()
    with TreeSampler(exclude) as sampler:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--pass-child", str(out)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    wall = time.monotonic() - t0
    reap_orphans(exclude)
    cpu = children_cpu() - cpu0
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise SystemExit("bench-fleet: the fleet pass failed:\n" + "\n".join(tail))
    child = json.loads(out.read_text())
    return {
        **child,
        "wall": wall,
        "cpu": cpu,
        "peak_step_rss": sampler.peak_step,
        "peak_total_rss": sampler.peak_total,
        "load": max(load0, load_average()),
    }


def pass_child(out: Path) -> int:
    """Inside a pass: run the hourly job once through the code location; write step facts."""
    from dagster import DagsterInstance

    from orchestration.local import run_fleet

    instance = DagsterInstance.from_config(os.environ["BENCH_DAGSTER_HOME"])
    result = run_fleet(instance, log_level="CRITICAL")
    steps: list[float] = []
    meltano: list[float] = []
    failed = 0
    failures: list[str] = []
    by_tenant: dict[str, int] = {}
    for event in result.all_events:
        kind = event.event_type_value
        if kind == "STEP_SUCCESS":
            steps.append(event.event_specific_data.duration_ms / 1000)
        elif kind == "STEP_FAILURE":
            failed += 1
            data = event.event_specific_data
            why = getattr(getattr(data, "user_failure_data", None), "description", None)
            why = why or getattr(getattr(data, "error", None), "message", "")
            failures.append(f"{event.step_key}: {str(why).strip()[:300]}")
        elif kind == "ASSET_MATERIALIZATION":
            meta = event.event_specific_data.materialization.metadata
            meltano.append(float(meta["seconds"].value))
            if "records/messages" in meta:
                by_tenant[str(meta["tenant"].value)] = int(meta["records/messages"].value)
    out.write_text(
        json.dumps(
            {
                "success": result.success,
                "failed_steps": failed,
                "steps": len(steps),
                "step_seconds": statistics.median(steps) if steps else None,
                "meltano_seconds": statistics.median(meltano) if meltano else None,
                "failures": failures,
                "messages": sum(by_tenant.values()),
                "messages_by_tenant": by_tenant,
            }
        )
    )
    instance.dispose()
    return 0


def bench_size(
    tenants: int,
    passes: int,
    concurrency: int,
    work: Path,
    bytecode: bool,
    wheel: Path | None = None,
) -> list[dict[str, Any]]:
    """Measure ``passes`` fleet runs of ``tenants`` tenants; one row per pass."""
    from chatgpt_compliance_simulator import Simulator
    from orchestration.local import TenantCredentials, local_env, prepare_meltano_database
    from orchestration.project import load_tenants
    from scripts.demo_services import s3_client, start_moto

    rows = []
    with ExitStack() as stack:
        project = tenant_project(work / "project", tenants, wheel)
        s3 = start_moto(stack, work, "bench-fleet")
        s3_client(s3, BUCKET)
        sim = stack.enter_context(Simulator(tenants=tenants, **SIM_KW))
        tenant_list = load_tenants(project)
        creds = [
            TenantCredentials(t, s.api_key, s.workspace_id)
            for t, s in zip(tenant_list, sim.tenants, strict=True)
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "FLEET_"))}
        env.update(local_env(sim.base_url, creds, s3, BUCKET, work))
        home = work / "dagster"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env.update(
            {
                "MELTANO_PROJECT_ROOT": str(project),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "FLEET_MAX_CONCURRENT": str(concurrency),
                "FLEET_RETRIES": "0",
                "FLEET_LOG_DIR": "",
                "DAGSTER_DISABLE_TELEMETRY": "1",
                "DAGSTER_HOME": str(home),
                "BENCH_DAGSTER_HOME": str(home),
            }
        )
        if bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(work.parent / "pycache")
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            prepare_meltano_database()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        exclude = {p.pid for p in _children()}
        for n in range(passes):
            pass_env, new = env, None
            if PASSES[n] == "hourly":
                pass_env, new = hourly_activity(sim, tenant_list, env)
            row = run_pass(pass_env, work / f"pass{n}.json", exclude)
            row.update({"tenants": tenants, "pass": PASSES[n]})
            rows.append(row)
            print(format_row(row), flush=True)
            if new is not None:
                row.update(new_messages_archived(new, row["messages_by_tenant"]))
                print(
                    f"  ({row['tenants_with_new']} of {tenants} tenants had new messages, "
                    f"{row['new_messages']} in all; {row['messages']} archived by the pass; "
                    f"tenants with fewer archived than new: {row['tenants_short']})",
                    flush=True,
                )
            for failure in row["failures"]:
                print(f"  FAILED {failure}", flush=True)
    return rows


def hourly_activity(
    sim: Any, tenant_list: list[Any], env: dict[str, str]
) -> tuple[dict[str, str], dict[str, int]]:
    """Move the simulator ``HOURLY_ADVANCE`` on; return the pass's environment, new messages.

    New messages by tenant name (published ones, as of the simulator's clock). The simulated
    clock is then that far ahead of this machine's, which the tap refuses unless told: the
    environment of this pass alone raises ``max_clock_skew_seconds`` (the tap's own times are
    the API's).
    """

    def published() -> list[int]:
        return [len(sim.ground_truth(ws.workspace_id)["messages"]) for ws in sim.tenants]

    before = published()
    sim.advance(HOURLY_ADVANCE)
    new = {
        tenant.name: after - was
        for tenant, was, after in zip(tenant_list, before, published(), strict=True)
    }
    skew = int((HOURLY_ADVANCE + timedelta(hours=1)).total_seconds())
    return {**env, "TAP_CHATGPT_COMPLIANCE_MAX_CLOCK_SKEW_SECONDS": str(skew)}, new


def new_messages_archived(new: dict[str, int], archived: dict[str, int]) -> dict[str, int]:
    """Compare, tenant by tenant, the messages that arrived with those a pass archived.

    A tenant may archive more than arrived (delivery is at least once: an older event delivered
    again is archived again), never fewer.
    """
    return {
        "tenants_with_new": sum(1 for count in new.values() if count),
        "new_messages": sum(new.values()),
        "tenants_short": sum(1 for name, count in new.items() if archived.get(name, 0) < count),
    }


def _children() -> list[Any]:
    import psutil

    return psutil.Process().children(recursive=True)


HEADER = (
    f"{'tenants':>7} {'pass':<6}{'wall s':>8}{'tenants/h':>10}{'CPU s/tenant':>13}"
    f"{'wall s/tenant':>14}{'step s (median)':>16}{'meltano run s':>14}"
    f"{'peak PSS/step MB':>17}{'peak PSS MB':>12}{'load':>6}"
)


def format_row(r: dict[str, Any]) -> str:
    """One table row."""
    n = r["tenants"]
    return (
        f"{n:>7} {r['pass']:<6}{r['wall']:>8.1f}{n / r['wall'] * 3600:>10.0f}"
        f"{r['cpu'] / n:>13.2f}{r['wall'] / n:>14.2f}{r['step_seconds'] or 0:>16.2f}"
        f"{r['meltano_seconds'] or 0:>14.2f}{r['peak_step_rss'] / 2**20:>17.0f}"
        f"{r['peak_total_rss'] / 2**20:>12.0f}{r['load']:>6.1f}"
    )


def fit(rows: list[dict[str, Any]], key: str) -> tuple[float, float] | None:
    """Least-squares ``key = a + b * tenants`` over the rows; None with fewer than 2 sizes."""
    xs = [float(r["tenants"]) for r in rows]
    if len(set(xs)) < 2:
        return None
    ys = [float(r[key]) for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - b * mx, b


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 and 6 tenants")
    ap.add_argument("--tenants", help="fleet sizes, comma-separated (default 20,50,100)")
    ap.add_argument("--concurrency", type=int, default=2, help="tenant steps at once (2)")
    ap.add_argument(
        "--passes",
        type=int,
        default=3,
        choices=(1, 2, 3),
        help="1: light only; 2: light then idle; 3: then hourly (default)",
    )
    ap.add_argument("--no-bytecode-cache", action="store_true")
    ap.add_argument(
        "--editable",
        action="store_true",
        help="link the repository's editable tap install (no catalog cache) instead of a wheel",
    )
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--pass-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pass_child:
        return pass_child(args.pass_child)
    sizes = [int(x) for x in (args.tenants or ("3,6" if args.quick else "20,50,100")).split(",")]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    print(
        f"bench-fleet: {os.cpu_count()} CPUs, load {load_average():.1f}; {args.concurrency} "
        f"tenant steps at once; sizes {sizes}; bytecode "
        f"{'not ' if args.no_bytecode_cache else ''}cached; tap "
        f"{'editable (linked)' if args.editable else 'from a wheel'}",
        flush=True,
    )
    print(HEADER, flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        wheel = None if args.editable else build_wheel(Path(tmp) / "wheel")
        for size in sizes:
            work = Path(tmp) / f"n{size}"
            work.mkdir()
            rows += bench_size(
                size, args.passes, args.concurrency, work, not args.no_bytecode_cache, wheel
            )
            shutil.rmtree(work, ignore_errors=True)
    print()
    for kind in PASSES:
        sel = [r for r in rows if r["pass"] == kind]
        cpu, wall = fit(sel, "cpu"), fit(sel, "wall")
        if cpu and wall:
            print(
                f"{kind}: CPU = {cpu[0]:.1f} s + {cpu[1]:.2f} s x tenants; wall = "
                f"{wall[0]:.1f} s + {wall[1]:.2f} s x tenants "
                f"(= {3600 / wall[1]:.0f} tenants/hour at the margin)"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    failed = [r for r in rows if not r["success"]]
    if failed:
        print(f"bench-fleet: {len(failed)} pass(es) had failed steps", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
