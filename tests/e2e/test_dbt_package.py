"""The dbt models travel (issue 18): a second dbt project lists `transform/` in its packages.yml,
sets the source schema by a var, parses, and can ref the package's models."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = REPO_ROOT / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "dbt"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_parsed_from_a_second_dbt_project(tmp_path):
    if not DBT.exists():
        pytest.skip("the dbt-postgres utility is not installed: run the suite through `make test`")
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text(
        "name: my_warehouse\nversion: '1.0.0'\nconfig-version: 2\nprofile: my_warehouse\n"
        "vars:\n  chatgpt_compliance_source_schema: umbrella\n"
    )
    (tmp_path / "packages.yml").write_text(f"packages:\n  - local: {REPO_ROOT / 'transform'}\n")
    (tmp_path / "profiles.yml").write_text(
        "my_warehouse:\n  target: dev\n  outputs:\n    dev: {type: postgres, host: 127.0.0.1, "
        "port: 5432, user: u, password: p, dbname: d, schema: analytics, threads: 1}\n"
    )
    (tmp_path / "models" / "per_conversation.sql").write_text(
        "select conversation_id, count(*) as n from {{ ref('transcripts') }} group by 1\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    for step in (["deps"], ["parse"]):
        proc = subprocess.run(
            [str(DBT), *step, "--profiles-dir", str(tmp_path)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert {s["schema"] for s in manifest["sources"].values()} == {"umbrella"}
    mine = manifest["nodes"]["model.my_warehouse.per_conversation"]
    assert "model.chatgpt_compliance_archive.transcripts" in mine["depends_on"]["nodes"]
    assert any(k.startswith("model.chatgpt_compliance_archive.") for k in manifest["nodes"])
