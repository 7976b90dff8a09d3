"""Shared fixtures for the real servers started by ``make test`` (scripts/services.sh).

``scripts/test.sh`` exports TEST_PG_* (a private PostgreSQL cluster) and TEST_S3_ENDPOINT (a moto
S3 server), both on free loopback ports. Outside ``make test`` the tests that need them are
skipped, except under CI (CI=true), where a missing server is an error.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.meltano import meltano, sim2  # noqa: F401 (fixtures of every folder)
from tests.support.simulators import Simulators

REPO_ROOT = Path(__file__).resolve().parent.parent


def _require_env(*names: str) -> dict[str, str]:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        msg = f"{', '.join(missing)} not set: run the suite through `make test`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return {n: os.environ[n] for n in names}


# `make test` runs in two phases (scripts/test.sh): modules that drive the Meltano CLI or Dagster
# share one project folder (.meltano/run, the system database) and run alone (`serial`); every
# other module runs on two workers, one module per worker at a time (`xdist_group`), so
# module-scoped servers and fixtures are started once. Serial: every module of the end-to-end
# and fleet folders, and any other whose text shows it runs Meltano or Dagster (the `meltano`
# fixture, a `meltano` executable, Dagster, the fleet's runner). A module missed here would be
# the only Meltano runner of its phase: the shared folder's conflicts need two at once.
_SERIAL_FOLDERS = ("tests/e2e/", "tests/fleet/")
_DRIVES_MELTANO_OR_DAGSTER = re.compile(
    r"MeltanoProject|meltano_preloaded|bin/meltano|[\"']meltano[\"']|\bdagster\b"
    r"|orchestration\.(?:local|definitions|jobs|assets|runner|sensors|schedules)|run_pipeline"
    r"|[(,]\s*meltano\b|\bmeltano\s*[,):]",
    re.IGNORECASE,
)


def _module_name(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def _serial(path: Path) -> bool:
    if _module_name(path).startswith(_SERIAL_FOLDERS):
        return True
    text = path.read_text(encoding="utf-8", errors="replace")
    return _DRIVES_MELTANO_OR_DAGSTER.search(text) is not None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test ``serial`` or put it in its module's ``xdist_group``."""
    serial: dict[Path, bool] = {}
    for item in items:
        path = item.path
        if path not in serial:
            serial[path] = _serial(path)
        if serial[path]:
            item.add_marker(pytest.mark.serial)
        else:
            item.add_marker(pytest.mark.xdist_group(_module_name(path)))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="module")
def simulator_factory_module() -> Iterator[Simulators]:
    """Like the plugin's ``simulator_factory`` (``make(**kw) -> Simulator``), for a module."""
    make = Simulators()
    try:
        yield make
    finally:
        make.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """URL of the moto S3 server started by scripts/services.sh."""
    return _require_env("TEST_S3_ENDPOINT")["TEST_S3_ENDPOINT"]


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


@pytest.fixture
def s3_bucket(s3_client) -> str:
    """A fresh, empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def pg_params() -> dict[str, str]:
    """Connection parameters of the private PostgreSQL cluster (trust auth)."""
    env = _require_env("TEST_PG_HOST", "TEST_PG_PORT")
    return {
        "host": env["TEST_PG_HOST"],
        "port": env["TEST_PG_PORT"],
        "user": os.environ.get("TEST_PG_USER", "postgres"),
        "password": os.environ.get("TEST_PG_PASSWORD", "postgres"),
        "dbname": os.environ.get("TEST_PG_DATABASE", "postgres"),
    }


@pytest.fixture
def pg_database(pg_params: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh database for one test; yields its connection parameters."""
    from tests.support.evidence import temporary_database

    with temporary_database(pg_params) as database:
        yield database


@pytest.fixture
def pg_query(pg_database: dict[str, str]) -> Callable[[str], list[tuple]]:
    """Run one SQL query against the test database and return all rows."""
    import psycopg

    def query(sql: str, *args: object) -> list[tuple]:
        with psycopg.connect(**pg_database) as conn:
            return conn.execute(sql, args or None).fetchall()

    return query
