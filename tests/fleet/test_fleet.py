"""Issue #10: the Dagster code location runs every tenant of meltano.yml with real `meltano run`
pipelines against the simulator, the moto S3 and a PostgreSQL-backed Dagster instance."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.meltano import s3_objects, s3_records

from .conftest import intervals, max_overlap

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_from_meltano_yml():
    import yaml

    from orchestration.assets import RUN_CHECKS, RUN_TAG, TENANT_TAG
    from orchestration.definitions import build_definitions
    from orchestration.jobs import executor_config
    from orchestration.settings import FleetSettings

    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-m",
            "orchestration.definitions",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful" in proc.stdout + proc.stderr

    # The tenants are exactly the inherited extractors of meltano.yml, nowhere else.
    extractors = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())["plugins"]["extractors"]
    tenants = {
        p["name"].split("--", 1)[1]
        for p in extractors
        if p.get("inherit_from") == "tap-chatgpt-compliance"
    }
    defs = build_definitions(FleetSettings(destinations=["target-s3", "target-postgres"]))
    graph = defs.resolve_asset_graph()
    keys = {k.path[1] + "/" + k.path[2] for k in graph.get_all_asset_keys()}
    assert keys == {f"{t}/{d}" for t in tenants for d in ("target_s3", "target_postgres")}
    checks = {(k.asset_key.path[1], k.name) for k in graph.asset_check_keys}
    for t in tenants:
        for name in (*RUN_CHECKS, "freshness"):
            assert (t, name) in checks
    schedule = defs.resolve_schedule_def("archive_fleet_hourly")
    assert schedule.cron_schedule == "0 * * * *"
    assert defs.resolve_sensor_def("fleet_alerts")
    node = defs.resolve_job_def("archive_fleet").nodes[0].definition
    assert node.retry_policy.max_retries == 3
    assert node.retry_policy.backoff.value == "EXPONENTIAL"
    assert node.pool == "chatgpt_compliance_meltano"
    # The cap, and one `meltano run` per tenant at a time (its loaders share .meltano/run/<tap>).
    limits = executor_config(FleetSettings(max_concurrent=7))["tag_concurrency_limits"]
    assert {"key": RUN_TAG, "value": "true", "limit": 7} in limits
    assert {"key": TENANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert node.tags[TENANT_TAG] in tenants


@pytest.fixture(scope="module")
def first_run(fleet, dagster_instance):
    """Every tenant once, up to three at a time."""
    from orchestration.local import run_fleet

    fleet["mp"].setenv("FLEET_MAX_CONCURRENT", "3")
    return run_fleet(dagster_instance)


def test_every_tenant_lands_in_s3_with_its_own_state(fleet, first_run, s3_client, fleet_pg):
    import psycopg

    from orchestration.local import check_results

    assert first_run.success
    sim, bucket = fleet["sim"], fleet["bucket"]
    objects = s3_objects(s3_client, bucket, "chatgpt-compliance/")
    materialised = {e.asset_key.path[1]: e for e in first_run.get_asset_materialization_events()}
    assert set(materialised) == {t.name for t in fleet["tenants"]}
    for index, tenant in enumerate(fleet["tenants"]):
        truth = sim.ground_truth(workspace_id=sim.tenants[index].workspace_id)
        records = s3_records(objects, tenant.load_schema)
        assert {r["id"] for r in records["messages"]} == set(truth["messages"]), tenant
        assert {r["workspace_id"] for r in records["messages"]} == {sim.tenants[index].workspace_id}
        meta = materialised[tenant.name].event_specific_data.materialization.metadata
        # The tap's run summary is the asset's metadata.
        assert meta["summary_source"].value == "summary"
        assert meta["records/messages"].value == len(truth["messages"])
        assert meta["bookmark/CONVERSATION_MESSAGE"].value.startswith("20")
        assert "attachments/archived" in meta or "attachments" in meta["summary"].value
    state_keys = list(s3_objects(s3_client, bucket, "meltano-state/"))
    for tenant in fleet["tenants"]:
        assert sum(f"{tenant.extractor}-to-target-s3" in k for k in state_keys) >= 1, state_keys
    results = check_results(first_run)
    assert {(t, c) for (t, c), ev in results.items() if not ev.passed} == set()
    # Three tenants ran side by side (the cap was 3), and Dagster kept it all in PostgreSQL.
    assert max_overlap(list(intervals(first_run).values())) >= 2
    with psycopg.connect(**fleet_pg) as conn:
        (runs,) = conn.execute("SELECT count(*) FROM runs").fetchone()
        (evals,) = conn.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION'"
        ).fetchone()
    assert runs >= 1
    assert evals >= 9


def set_stale_bookmark(tenant, days: float = 31) -> None:
    """`meltano state set` the tenant's CONVERSATION_MESSAGE bookmark ``days`` back."""
    from orchestration.runner import meltano_executable, state_id

    old = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    partition = {
        "context": {"event_type": "CONVERSATION_MESSAGE"},
        "replication_key": "end_time",
        "replication_key_value": old,
    }
    state = {"singer_state": {"bookmarks": {"log_files": {"partitions": [partition]}}}}
    subprocess.run(
        [
            meltano_executable(),
            *("state", "set", "--force", state_id(tenant, "target-s3"), json.dumps(state)),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def revoked_run(fleet, first_run, dagster_instance):
    """The next hourly run, one tenant at a time (cap 1): globex's key revoked, initech's
    bookmark 31 days old, acme healthy."""
    from orchestration.local import run_fleet

    sim = fleet["sim"]
    tenants = {t.name: t for t in fleet["tenants"]}
    sim.revoke_key(sim.tenants[1].api_key)  # globex = second tenant of meltano.yml
    set_stale_bookmark(tenants["initech"])
    fleet["mp"].setenv("FLEET_MAX_CONCURRENT", "1")
    return run_fleet(dagster_instance)


def test_a_revoked_key_fails_only_its_tenant_and_its_check(revoked_run):
    from orchestration.local import check_results

    assert not revoked_run.success
    failures = {e.step_key: e.message for e in revoked_run.get_step_failure_events()}
    assert set(failures) == {
        "chatgpt_compliance__globex__target_s3",  # revoked key
        "chatgpt_compliance__initech__target_s3",  # possible gap (next test)
    }, failures
    assert {e.asset_key.path[1] for e in revoked_run.get_asset_materialization_events()} == {"acme"}
    # A revoked key is not retried: a person has to act.
    retried = [
        e.step_key for e in revoked_run.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert retried == [], retried  # neither a revoked key nor a possible gap is retried
    results = check_results(revoked_run)
    check = results[("globex", "api_key_and_scopes")]
    assert not check.passed
    assert check.severity.value == "ERROR"
    assert "HTTP 401" in check.description
    assert "\n" not in check.description
    assert results[("acme", "api_key_and_scopes")].passed
    assert results[("initech", "api_key_and_scopes")].passed


def test_the_concurrency_cap_holds(revoked_run):
    spans = intervals(revoked_run)
    assert set(spans) == {"acme", "globex", "initech"}
    assert max_overlap(list(spans.values())) == 1


def test_freshness_and_the_alert_webhook(fleet, revoked_run, dagster_instance):
    from dagster import build_sensor_context

    from orchestration.definitions import build_definitions
    from orchestration.local import check_results, run_freshness
    from orchestration.sensors import GONE_KINDS
    from orchestration.settings import FleetSettings

    # Every tenant succeeded within the last 2 hours (globex at the first run).
    fresh = check_results(run_freshness(dagster_instance))
    assert {t for (t, c), ev in fresh.items() if c == "freshness" and ev.passed} == {
        "acme",
        "globex",
        "initech",
    }

    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=secret"
        defs = build_definitions(FleetSettings(alert_webhook=url))
        sensor = defs.resolve_sensor_def("fleet_alerts")
        ctx = build_sensor_context(instance=dagster_instance, cursor=None)
        sensor(ctx)
        checks = {(a["tenant"], a["check"]): a for a in received if a["kind"] == "check_failed"}
        assert set(checks) == {("globex", "api_key_and_scopes"), ("initech", "retention_horizon")}
        assert "HTTP 401" in checks[("globex", "api_key_and_scopes")]["description"]
        steps = sorted(a["tenant"] for a in received if a["kind"] == "step_failed")
        assert steps == ["globex", "initech"]
        assert any(a["kind"] == "run_failed" for a in received)
        assert not [a for a in received if a["kind"] in GONE_KINDS]  # every tenant defined
        # The cursor moved: nothing is sent twice.
        received.clear()
        sensor(build_sensor_context(instance=dagster_instance, cursor=ctx.cursor))
        assert received == []
        # acme gone from meltano.yml (a bad merge): the next tick says so, once.
        others = [t for t in fleet["tenants"] if t.name != "acme"]
        gone_defs = build_definitions(FleetSettings(alert_webhook=url), others)
        sensor = gone_defs.resolve_sensor_def("fleet_alerts")
        sensor(gone := build_sensor_context(instance=dagster_instance, cursor=ctx.cursor))
        assert [(a["kind"], a["tenant"]) for a in received] == [("tenant_gone", "acme")]
        assert received[0]["assets"] == ["chatgpt_compliance/acme/target_s3"]
        received.clear()
        sensor(build_sensor_context(instance=dagster_instance, cursor=gone.cursor))
        assert received == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_stale_bookmark_fails_the_retention_check(revoked_run):
    """initech's bookmark was 31 days old: the tap archives what is left and says `Possible gap`;
    the retention check fails with that line, and the others' checks pass."""
    from orchestration.local import check_results

    results = check_results(revoked_run)
    check = results[("initech", "retention_horizon")]
    assert not check.passed
    assert check.severity.value == "ERROR"
    assert check.description.startswith("Possible gap")
    assert results[("acme", "retention_horizon")].passed
