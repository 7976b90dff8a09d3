"""Meltano in the tests: real `meltano run` subprocesses in the repository's Meltano project
(plugins installed once by `make test`), against the in-process simulator, the moto S3 server and
the private PostgreSQL cluster started by scripts/services.sh; and the loaders' output read back.

The fixtures ``sim2`` and ``meltano`` are registered for every folder by ``tests/conftest.py``
(the end-to-end, evidence and fleet tests use them).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MELTANO = str(Path(sys.executable).with_name("meltano"))
TAP = "tap-chatgpt-compliance"
TENANTS = ("acme", "globex")
STREAMS = ("log_files", "conversations", "messages", "files", "events", "users")
PRIMARY_KEY = {"events": "event_id"}

# Small scale keeps each `meltano run` to a few seconds.
SIM_KW: dict[str, Any] = {
    "seed": 11,
    "users": 3,
    "conversations": 6,
    "span_days": 1.0,
    # Two days back: the tests advance the simulated clock by up to ~30 h, and the tap refuses
    # an API Date far ahead of this machine's clock (issue 17); behind it is trusted.
    "start": datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2),
}


def pk(stream: str) -> str:
    return PRIMARY_KEY.get(stream, "id")


def tenant_env(tenant: str) -> str:
    """Meltano's env-var prefix of a tenant's inherited extractor."""
    return f"TAP_CHATGPT_COMPLIANCE__{tenant.upper()}"


@dataclass
class MeltanoProject:
    """Runs the real Meltano CLI in the repository project with per-test isolation.

    Isolation per test: own system DB (sqlite in tmp), own S3 bucket for archives and state,
    own PostgreSQL database, own JSONL folder. Nothing in meltano.yml is changed: everything
    test-specific comes from the environment, as it would in production.
    """

    tmp: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def run(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        check: bool = True,
        timeout: int = 300,
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.run(
            [MELTANO, *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.outputs.append(proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-6000:]
            pytest.fail(f"meltano {' '.join(args)} exited {proc.returncode}:\n{tail}")
        return proc

    def elt(self, tenant: str, loader: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """`meltano run tap-chatgpt-compliance--<tenant> <loader>`."""
        extra = dict(kw.pop("extra_env", None) or {})
        if loader == "target-jsonl":
            dest = self.tmp / "jsonl" / tenant
            dest.mkdir(parents=True, exist_ok=True)  # target-jsonl needs an existing folder
            extra.setdefault("TARGET_JSONL_DESTINATION_PATH", str(dest))
        args = ["run", f"{TAP}--{tenant}", loader, *kw.pop("flags", ())]
        return self.run(*args, extra_env=extra, **kw)

    def all_output(self) -> str:
        return "\n".join(self.outputs)


def clean_base_env() -> dict[str, str]:
    """The caller's environment minus anything that could configure the plugins."""
    drop = ("TAP_", "TARGET_", "MELTANO_", "ARCHIVE_S3_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture
def sim2(simulator_factory):
    """A two-tenant simulator (acme = tenants[0], globex = tenants[1])."""
    return simulator_factory(tenants=2, **SIM_KW)


@pytest.fixture
def meltano(
    tmp_path: Path, sim2, s3_endpoint: str, s3_bucket: str, pg_database: dict[str, str]
) -> MeltanoProject:
    env = clean_base_env()
    env.update(
        {
            "MELTANO_PROJECT_ROOT": str(REPO_ROOT),
            "MELTANO_ENVIRONMENT": "local",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "MELTANO_STATE_BACKEND_URI": f"s3://{s3_bucket}/meltano-state",
            "MELTANO_STATE_BACKEND_S3_ENDPOINT_URL": s3_endpoint,
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "ARCHIVE_S3_BUCKET": s3_bucket,
            "TARGET_POSTGRES_HOST": pg_database["host"],
            "TARGET_POSTGRES_PORT": str(pg_database["port"]),
            "TARGET_POSTGRES_USER": pg_database["user"],
            "TARGET_POSTGRES_PASSWORD": pg_database["password"],
            "TARGET_POSTGRES_DATABASE": pg_database["dbname"],
            # The tap: one API URL for all tenants (inherited), one key + workspace per tenant.
            "TAP_CHATGPT_COMPLIANCE_API_URL": sim2.base_url,
        }
    )
    for name, tenant in zip(TENANTS, sim2.tenants, strict=False):
        env[f"{tenant_env(name)}_API_KEY"] = tenant.api_key
        env[f"{tenant_env(name)}_WORKSPACE_ID"] = tenant.workspace_id
        if getattr(tenant, "organization_id", None):
            env[f"{tenant_env(name)}_ORGANIZATION_ID"] = tenant.organization_id
    return MeltanoProject(tmp=tmp_path, env=env)


# ----------------------------------------------------------------------------- readers
def parse_jsonl(data: bytes, key: str = "") -> list[dict[str, Any]]:
    if key.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def s3_objects(s3_client, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    """key -> {etag, body} for every object under prefix."""
    out: dict[str, dict[str, Any]] = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"]] = {"etag": obj["ETag"], "body": body}
    return out


def s3_records(objects: dict[str, dict[str, Any]], tenant: str) -> dict[str, list[dict]]:
    """stream -> records, from target-s3 keys chatgpt-compliance/<tenant>/<stream>/YYYY/..."""
    base = f"chatgpt-compliance/{tenant}/"
    out: dict[str, list[dict]] = {}
    for key, obj in objects.items():
        if not key.startswith(base):
            continue
        stream = key[len(base) :].split("/", 1)[0]
        out.setdefault(stream, []).extend(parse_jsonl(obj["body"], key))
    return out


def jsonl_records(folder: Path) -> dict[str, list[dict]]:
    """stream -> records, from target-jsonl files <stream>[-timestamp].jsonl."""
    out: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        # <stream>-<YYYYMMDDTHHMMSS>.jsonl with do_timestamp_file
        stream = path.stem.rsplit("-", 1)[0] if "-" in path.stem else path.stem
        out.setdefault(stream, []).extend(parse_jsonl(path.read_bytes()))
    return out


def ids(records: Iterable[dict], stream: str) -> set[str]:
    return {r[pk(stream)] for r in records}


# ----------------------------------------------------------------------------- ground truth
def expected(sim, tenant_index: int) -> dict[str, set[str]]:
    """Distinct primary keys the archive must hold, per stream, from the simulator's truth."""
    ws = sim.tenants[tenant_index].workspace_id
    gt = sim.ground_truth(workspace_id=ws)
    att = gt["attachments"]
    logs = gt["log_files"]
    log_ids = {f["id"] for f in logs.get("CONVERSATION_MESSAGE", [])}
    return {
        "messages": set(gt["messages"]),
        "conversations": set(gt["conversations"]),
        "files_live": {fid for fid, a in att.items() if not a.get("expired")},
        "files_all": set(att),
        "log_files": log_ids,
        "attachments": att,
        "workspace_id": {ws},
    }
