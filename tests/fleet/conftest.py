"""Fixtures of the Dagster fleet tests: a three-workspace simulator, the moto S3 and PostgreSQL of
`make test` (scripts/services.sh), and a Dagster instance stored in that PostgreSQL."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orchestration.local import TenantCredentials, local_env, prepare_meltano_database
from orchestration.project import load_tenants

# Small workspaces keep each `meltano run` to a few seconds.
SIM_KW: dict[str, Any] = {"seed": 5, "users": 2, "conversations": 3, "span_days": 0.5}


@pytest.fixture(scope="module")
def fleet_pg(pg_params: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database for the module's Dagster instance."""
    import psycopg

    name = f"dagster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**pg_params, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield {**pg_params, "dbname": name}
    with psycopg.connect(**pg_params, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def dagster_instance(tmp_path_factory: pytest.TempPathFactory, fleet_pg: dict[str, str]):
    """A Dagster instance whose runs, events and schedules live in PostgreSQL (dagster-postgres)."""
    from dagster import DagsterInstance

    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text(
        f"""
storage:
  postgres:
    postgres_db:
      hostname: {fleet_pg["host"]}
      port: {fleet_pg["port"]}
      username: {fleet_pg["user"]}
      password: {fleet_pg["password"]}
      db_name: {fleet_pg["dbname"]}
telemetry:
  enabled: false
"""
    )
    instance = DagsterInstance.from_config(str(home))
    yield instance
    instance.dispose()


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, simulator_factory_module, s3_endpoint: str, s3_client
) -> Iterator[dict[str, Any]]:
    """Simulator with one workspace per tenant of meltano.yml, a bucket, and the environment."""
    tenants = load_tenants()
    sim = simulator_factory_module(tenants=len(tenants), **SIM_KW)
    bucket = f"fleet-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    workdir = tmp_path_factory.mktemp("fleet")
    creds = [
        TenantCredentials(t, s.api_key, s.workspace_id)
        for t, s in zip(tenants, sim.tenants, strict=True)
    ]
    env = local_env(sim.base_url, creds, s3_endpoint, bucket, workdir)
    env.update({"FLEET_RETRIES": "1", "FLEET_RETRY_DELAY": "0.5", "DAGSTER_DISABLE_TELEMETRY": "1"})
    drop = [k for k in os.environ if k.startswith(("TAP_", "TARGET_", "MELTANO_", "FLEET_"))]
    with pytest.MonkeyPatch.context() as mp:
        for k in drop:
            mp.delenv(k)
        for k, v in env.items():
            mp.setenv(k, v)
        prepare_meltano_database()  # parallel first runs would race on its migrations
        yield {"sim": sim, "tenants": tenants, "bucket": bucket, "workdir": workdir, "mp": mp}


@pytest.fixture
def webhook() -> Iterator[dict[str, Any]]:
    """A local webhook answering ``status`` (503: down behind its load balancer; 204: up)."""
    hook: dict[str, Any] = {"status": 503, "received": []}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hook["status"] < 300:
                hook["received"].append(json.loads(body))
            self.send_response(hook["status"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook["url"] = f"http://127.0.0.1:{server.server_address[1]}/hook?token=T0KEN"
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MELTANO_PROJECT_ROOT", "TAP_CHATGPT_COMPLIANCE_WORKSPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ACME", "GLOBEX", "INITECH"):
        monkeypatch.delenv(f"TAP_CHATGPT_COMPLIANCE__{name}_WORKSPACE_ID", raising=False)
    return monkeypatch


def intervals(result) -> dict[str, tuple[float, float]]:
    """{tenant: (started_at, finished_at)} of each `meltano run`, from materialisations and
    failures alike (both carry the run's metadata)."""
    out: dict[str, tuple[float, float]] = {}
    for event in result.all_events:
        meta = None
        if event.event_type_value == "ASSET_MATERIALIZATION":
            meta = event.event_specific_data.materialization.metadata
        elif event.event_type_value in ("STEP_FAILURE", "STEP_UP_FOR_RETRY"):
            user = getattr(event.event_specific_data, "user_failure_data", None)
            meta = user.metadata if user else None
        if meta and "started_at" in meta:
            out[meta["tenant"].value] = (meta["started_at"].value, meta["finished_at"].value)
    return out


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """Most runs in progress at the same instant."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


__all__ = ["Path", "intervals", "max_overlap", "wait_for"]
