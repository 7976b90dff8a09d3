"""The code location uses Dagster's public API only, and ``definitions.py`` only assembles.

Fast (no servers): the import check reads the sources; the assembly is built from a tenant list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytest.importorskip("dagster")

ORCHESTRATION = Path(__file__).resolve().parents[2] / "orchestration"
PRIVATE = re.compile(r"\bdagster[\w]*\._")


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [f"{path.name}:{node.lineno}: {n}" for n in names if n.startswith("dagster")]
    return [f for f in found if PRIVATE.search(f.split(": ", 1)[1])]


def test_no_private_dagster_import_in_orchestration():
    sources = sorted(ORCHESTRATION.rglob("*.py"))
    assert len(sources) >= 10
    bad = [hit for path in sources for hit in _private_imports(path)]
    assert bad == []
    # Nor in the sample deployment config (it names classes by module).
    for path in ORCHESTRATION.rglob("*.yaml"):
        assert not PRIVATE.search(path.read_text()), path


def test_the_private_import_check_can_fail(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import dagster\nfrom dagster import asset\n"
        "from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES\n"
        "import dagster_k8s._private\n"
    )
    assert [h.split(": ")[1] for h in _private_imports(sample)] == [
        "dagster._core.storage.dagster_run",
        "dagster._core.storage.dagster_run.IN_PROGRESS_RUN_STATUSES",
        "dagster_k8s._private",
    ]


def test_definitions_is_a_short_assembly():
    source = (ORCHESTRATION / "definitions.py").read_text()
    assert len(source.splitlines()) <= 50
    tree = ast.parse(source)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["build_definitions"]
    imported = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert {"asset_checks", "assets", "jobs", "schedules", "sensors"} <= imported


def test_the_definitions_load_from_a_tenant_list():
    from orchestration.assets import RUN_CHECKS
    from orchestration.definitions import build_definitions
    from orchestration.project import Tenant
    from orchestration.settings import FleetSettings

    tenants = [
        Tenant("a-1", "tap-chatgpt-compliance--a-1", "a_1", None),
        Tenant("b", "x", "b", "w"),
    ]
    defs = build_definitions(FleetSettings(destinations=["target-s3", "target-jsonl"]), tenants)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        f"chatgpt_compliance/{t}/{d}" for t in ("a_1", "b") for d in ("target_s3", "target_jsonl")
    }
    checks = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    assert checks == {(k, c) for k in keys for c in (*RUN_CHECKS, "freshness")}
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"archive_fleet", "fleet_freshness"}
    assert defs.resolve_schedule_def("fleet_freshness_checks").cron_schedule == "*/15 * * * *"
    assert defs.resolve_sensor_def("fleet_alerts").minimum_interval_seconds == 60


def test_in_progress_statuses_are_dagsters_own():
    """Canary: the schedule's public list equals Dagster's private one (same behaviour)."""
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    from orchestration.schedules import IN_PROGRESS_STATUSES

    assert set(IN_PROGRESS_STATUSES) == set(IN_PROGRESS_RUN_STATUSES)
