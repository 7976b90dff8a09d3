"""Throughput and memory of the tap against the simulator, printed as ratios.

Usage: python benchmarks/run.py [--conversations 10000] [--file-content none|inline]

Everything is measured in one run on this machine, so the ratios hold even when the machine is
noisy. Goals (checked by eye, not by a timed test):
  - the tap, not the simulator, is the bottleneck: tap time / raw download time well above 1;
  - memory does not grow with the workspace: peak RSS / JSONL bytes well below 1;
  - an idle incremental run costs one list request per event type.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatgpt_compliance_simulator import Simulator  # noqa: E402
from tests.tap.harness import tap_command, tap_config, tap_env  # noqa: E402

LIST = "/v1/compliance/workspaces/{workspace_id}/logs"


def raw_download(sim: Simulator) -> tuple[float, int]:
    """List and download every log file with a bare requests session: the serving floor."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.api_key}"
    start = time.perf_counter()
    total = 0
    for meta in sim.log_files():
        url = f"{sim.base_url}/compliance/workspaces/{sim.workspace_id}/logs/{meta['id']}"
        location = session.get(url, allow_redirects=False).headers["Location"]
        total += len(requests.get(location, timeout=60).content)
    return time.perf_counter() - start, total


def _peak_rss(pid: int) -> int:
    """Return the process's peak resident set size (VmHWM) in bytes, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_tap(config: dict, state: dict | None = None) -> tuple[float, int, dict | None, int]:
    """Run the tap process; return seconds, records, last state and its peak RSS.

    The peak is read from /proc while the tap runs (getrusage would count the memory of this
    process, which holds the simulator, in every forked child).
    """
    records = 0
    last_state = None
    peak = 0
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.Popen(
            tap_command(config, state, Path(tmp)),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=tap_env(),
        )
        assert proc.stdout is not None
        for count, line in enumerate(proc.stdout):
            if line.startswith(b'{"type":"RECORD"'):
                records += 1
            elif line.startswith(b'{"type":"STATE"'):
                last_state = json.loads(line)["value"]
            if count % 2000 == 0:
                peak = max(peak, _peak_rss(proc.pid))
        peak = max(peak, _peak_rss(proc.pid))
        if proc.wait() != 0:
            raise SystemExit(f"the tap failed with exit code {proc.returncode}")
        elapsed = time.perf_counter() - start
    return elapsed, records, last_state, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--file-content", default="none", choices=["none", "inline"])
    args = parser.parse_args()

    start = time.perf_counter()
    sim = Simulator(
        seed=1,
        conversations=args.conversations,
        messages_per_conversation=(8, 12),
        span_days=3.0,
        speed=10_000.0,
    ).start()
    generated = time.perf_counter() - start
    try:
        messages = len(sim.ground_truth()["messages"])
        raw_seconds, jsonl_bytes = raw_download(sim)
        config = tap_config(sim, file_content=args.file_content)
        tap_seconds, records, state, peak_rss = run_tap(config)
        sim.reset_counters()
        idle_seconds, idle_records, _, _ = run_tap(config, state)
        idle_lists = sim.request_count(LIST)
    finally:
        sim.stop()

    print(
        f"workspace: {messages} messages in {len(sim.log_files())} log files, "
        f"{jsonl_bytes / 1e6:.1f} MB of JSONL, generated in {generated:.1f} s"
    )
    print(f"raw list+download of every file: {raw_seconds:.2f} s")
    print(
        f"tap full sync (file_content={args.file_content}): {tap_seconds:.1f} s, "
        f"{records} records, {messages / tap_seconds:,.0f} messages/s"
    )
    print(
        f"tap idle incremental run: {idle_seconds:.1f} s, {idle_records} records, "
        f"{idle_lists} list request(s)"
    )
    print("ratios:")
    print(
        f"  tap time / raw download time   = {tap_seconds / raw_seconds:6.1f}  (simulator is "
        "not the bottleneck when >> 1)"
    )
    print(
        f"  tap peak RSS / JSONL bytes     = {peak_rss / jsonl_bytes:6.2f}  (memory does not "
        f"grow with the workspace when << 1 at scale; peak {peak_rss / 1e6:.0f} MB)"
    )
    print(f"  idle list requests / event type = {idle_lists / 1:5.1f}  (goal: 1)")


if __name__ == "__main__":
    main()
