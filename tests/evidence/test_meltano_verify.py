"""``verify`` on what the project's shipped target-postgres stream maps load.

``verify`` on what real ``meltano run``s wrote into target-jsonl, target-postgres and target-s3,
then tampered with where it lives, is tested on the runs of tests/e2e/test_meltano_e2e.py (one
set of `meltano run`s for both).
"""

from __future__ import annotations

import json
import subprocess
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.support.evidence import postgres_dsn
from tests.support.meltano import REPO_ROOT
from tests.support.tap import TapRun

from .conftest import verify_cli

pytestmark = pytest.mark.e2e


def _findings(report: Path) -> list[str]:
    data = json.loads(report.read_text())
    return [f"{f['check']}: {f['item']}: {f['detail']}" for f in data["findings"]]


def _shipped_loader(name: str) -> dict[str, t.Any]:
    """The loader as the project's meltano.yml defines it."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    (loader,) = (p for p in project["plugins"]["loaders"] if p["name"] == name)
    return t.cast("dict[str, t.Any]", loader)


TARGET_POSTGRES_BIN = REPO_ROOT / ".meltano/loaders/target-postgres/venv/bin"
TARGET_POSTGRES = TARGET_POSTGRES_BIN / _shipped_loader("target-postgres")["executable"]
"""target-postgres as ``meltano install`` installs it and ``meltano run`` runs it."""
UPSTREAM_TARGET_POSTGRES = TARGET_POSTGRES_BIN / "target-postgres"
"""meltanolabs-target-postgres's own command, without the project's loaders/ wrapper."""


def shipped_stream_maps() -> dict[str, dict[str, str]]:
    """The target-postgres ``stream_maps`` of the project's meltano.yml (NUL -> U+FFFD inside
    JSON columns: without it, jsonb refuses ``\\u0000`` and the load fails)."""
    return t.cast(
        "dict[str, dict[str, str]]", _shipped_loader("target-postgres")["config"]["stream_maps"]
    )


def load_postgres(
    singer: str,
    pg_database: dict[str, str],
    folder: Path,
    target: Path = TARGET_POSTGRES,
) -> subprocess.CompletedProcess[str]:
    """Load Singer output into schema ``acme`` with target-postgres, configured as meltano.yml
    configures it (NUL sanitised, record metadata, the shipped stream maps)."""
    config = {
        "host": pg_database["host"],
        "port": int(pg_database["port"]),
        "user": pg_database["user"],
        "password": pg_database["password"],
        "database": pg_database["dbname"],
        "default_target_schema": "acme",
        "sanitize_null_text_characters": True,
        "add_record_metadata": True,
        "stream_maps": shipped_stream_maps(),
    }
    path = folder / "target.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [str(target), "--config", str(path)],
        input=singer,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_postgres_with_a_nul_in_a_message_verifies_with_a_note(
    nul_run: TapRun, pg_database: dict[str, str], tmp_path: Path
) -> None:
    """target-postgres (as meltano installs it, configured as in meltano.yml, stream map included)
    stores the NUL as U+FFFD: verify finds the archive intact and says so in a note."""
    assert "\\u0000" in nul_run.stdout
    load = load_postgres(nul_run.stdout, pg_database, tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    dsn = postgres_dsn(pg_database)
    report = tmp_path / "report.json"
    done = verify_cli("--postgres", dsn, "--schema", "acme", "--report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    assert data["counts"]["events_nul_replaced"] == 1
    assert any("U+FFFD" in note for note in data["notes"])
    assert "note: 1 events hold NUL" in done.stdout
