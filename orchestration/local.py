"""Run the fleet locally: the environment for the simulator + local S3, and in-process execution.

Used by ``make fleet-demo`` and tests/fleet; production sets the same variables by other means
(``TAP_CHATGPT_COMPLIANCE__<TENANT>_API_KEY`` from a secret store, real S3, ``prod``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    JobDefinition,
    JobExecutionResult,
    execute_job,
    reconstructable,
)

from .jobs import ARCHIVE_JOB, FRESHNESS_JOB, executor_config
from .project import REPO_ROOT, Tenant
from .settings import FleetSettings


@dataclass(frozen=True)
class TenantCredentials:
    """What one tenant's pipeline needs from the environment."""

    tenant: Tenant
    api_key: str
    workspace_id: str


def tenant_prefix(tenant: Tenant) -> str:
    """Meltano's environment prefix of the tenant's extractor (``TAP_CHATGPT_COMPLIANCE__ACME``)."""
    return tenant.env_prefix


def local_env(
    api_url: str,
    credentials: Iterable[TenantCredentials],
    s3_endpoint: str,
    bucket: str,
    workdir: Path,
) -> dict[str, str]:
    """Variables for ``meltano run`` against a simulator and a local S3 server (moto)."""
    env = {
        "MELTANO_PROJECT_ROOT": str(REPO_ROOT),
        "MELTANO_ENVIRONMENT": "local",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
        "MELTANO_STATE_BACKEND_URI": f"s3://{bucket}/meltano-state",
        "MELTANO_STATE_BACKEND_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "ARCHIVE_S3_BUCKET": bucket,
        "TAP_CHATGPT_COMPLIANCE_API_URL": api_url,
        "FLEET_LOG_DIR": str(workdir / "logs"),
    }
    for cred in credentials:
        prefix = tenant_prefix(cred.tenant)
        env[f"{prefix}_API_KEY"] = cred.api_key
        env[f"{prefix}_WORKSPACE_ID"] = cred.workspace_id
    return env


def prepare_meltano_database(timeout: float = 300) -> None:
    """Create Meltano's system database once (``meltano upgrade database``).

    Several first ``meltano run``s at once would all try to migrate a new database, and all but
    one fail (``MigrationError``): do it before the fleet's first run.
    """
    import subprocess

    from .project import project_root
    from .runner import meltano_executable

    proc = subprocess.run(
        [meltano_executable(), "upgrade", "database"],
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
        raise RuntimeError(f"meltano upgrade database failed: {' '.join(tail)}")


_JOBS: dict[tuple[Any, ...], JobDefinition] = {}


def _job(name: str) -> JobDefinition:
    """Build a job of the code location once per process and environment.

    Every step process reconstructs the job: built once in the executor's forkserver
    (``preload.py``), the steps forked from it find it here instead of reading ``meltano.yml``
    and building every tenant's asset again. A change of the project file or of a ``FLEET_*``
    variable builds it anew.
    """
    from .definitions import build_definitions  # its import builds the code location
    from .project import project_root

    root = project_root()
    stat = (root / "meltano.yml").stat()
    key = (
        name,
        str(root),
        stat.st_mtime_ns,
        stat.st_size,
        tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("FLEET_"))),
    )
    if key not in _JOBS:
        _JOBS[key] = build_definitions().resolve_job_def(name)
    return _JOBS[key]


def archive_fleet_job() -> JobDefinition:
    """Build the hourly job from the current environment (a ``reconstructable`` target)."""
    return _job(ARCHIVE_JOB)


def freshness_job() -> JobDefinition:
    """Build the freshness-check job from the current environment."""
    return _job(FRESHNESS_JOB)


def run_fleet(
    instance: DagsterInstance,
    env: Mapping[str, str] | None = None,
    assets: list[AssetKey] | None = None,
    log_level: str = "DEBUG",
) -> JobExecutionResult:
    """Materialise every tenant once (the hourly job), in this process, with step subprocesses.

    ``env`` is applied to ``os.environ`` first: the step processes inherit it.
    """
    os.environ.update(env or {})
    job = reconstructable(archive_fleet_job)
    return execute_job(
        job,
        instance=instance,
        raise_on_error=False,
        asset_selection=assets,
        run_config={**_console(log_level), **_execution()},
    )


def run_freshness(instance: DagsterInstance, log_level: str = "DEBUG") -> JobExecutionResult:
    """Run the freshness checks once."""
    return execute_job(
        reconstructable(freshness_job),
        instance=instance,
        raise_on_error=False,
        run_config={**_console(log_level), **_execution()},
    )


_FORKSERVER_ENV: list[dict[str, str]] = []


def _execution() -> dict[str, Any]:
    """Return the executor config of the current environment (``FLEET_MAX_CONCURRENT``).

    Dagster caches a reconstructed job per process, so a later change of the environment would
    not reach its default config: pass it as run config instead. The forkserver of the steps
    lives as long as this process and keeps the environment of its first run: a later run in
    another environment (a test, the demo) spawns its steps instead. A deployment starts a run
    worker per run, so every run has its own forkserver.
    """
    config = executor_config(FleetSettings.from_env())
    if "forkserver" in config["start_method"]:
        env = dict(os.environ)
        if not _FORKSERVER_ENV:
            _FORKSERVER_ENV.append(env)
        elif env != _FORKSERVER_ENV[0]:
            config["start_method"] = {"spawn": {}}
    return {"execution": {"config": config}}


def _console(level: str) -> dict[str, Any]:
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def check_results(result: JobExecutionResult) -> dict[tuple[str, str], Any]:
    """{(tenant, check name): AssetCheckEvaluation} of a run (the last evaluation wins)."""
    out: dict[tuple[str, str], Any] = {}
    for ev in result.get_asset_check_evaluations():
        out[(ev.asset_key.path[1], ev.check_name)] = ev
    return out
