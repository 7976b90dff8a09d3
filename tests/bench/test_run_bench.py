"""`make bench` (benchmarks/run.py) in a short mode still runs and measures (issue #20), and its
report replaces only its own section of docs/benchmarks.md.

Not timed tests: they assert that the parts complete, count what they should, and that the
hand-written sections of the document survive a new report.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("bench_run", None)
    return module


@pytest.mark.bench
def test_p1_and_p2_run_in_a_short_mode() -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--only", "P1,P2"]
    command += ["--p1-none", "--conversations", "150", "--repeats", "1"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout[proc.stdout.index("\n{") :])
    p1, p2 = results["P1"], results["P2"]
    assert p1["tap_messages"] == results["workspace"]["messages"] > 1000
    assert p1["ratio"] > 0
    assert p1["ratio_cpu"] > 0
    assert p2["full"]["download"] == p2["minimum"]["download"]
    assert p2["full"]["attachment"] == p2["attachments"] > 0
    assert p2["idle_list_requests"] == p2["event_types"]


@pytest.mark.bench
def test_p5_runs_in_a_short_mode() -> None:
    """The workspace-object streams selected with the log sync: every one archives rows and
    the floor is computed over the routes (speed not asserted)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--only", "P5"]
    command += ["--workspace-users", "20", "--workspace-speed", "60"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    p5 = json.loads(proc.stdout[proc.stdout.index("\n{") :])["P5"]
    for stream in ("canvas_versions", "memories", "gpt_configs", "library_files", "users"):
        assert p5["records"].get(stream, 0) > 0, p5["records"]
    assert p5["throttled"] <= 0.01 * p5["tap_requests"]
    # Per-user routes are asked for every user (at least one page each): P5 counts them.
    automations = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/automations"
    assert p5["requests"][automations] >= 20
    assert p5["floor_s"] >= 0


def test_the_report_keeps_the_hand_written_sections(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nold table\n\n## Fleet\nkept\n\n## Export\nkept too\n")
    _run_module().write_report(doc, "# Benchmarks\n\nnew table\n")
    assert doc.read_text() == "# Benchmarks\n\nnew table\n\n## Fleet\nkept\n\n## Export\nkept too\n"
    fresh = tmp_path / "fresh.md"
    _run_module().write_report(fresh, "# Benchmarks\n\nnew table\n")
    assert fresh.read_text() == "# Benchmarks\n\nnew table\n"
