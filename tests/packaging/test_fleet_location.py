"""The Dagster code location loads from outside the repository, finds the Meltano project by one
setting (MELTANO_PROJECT_ROOT, else the current folder), and fails loudly with no tenant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dagster")
pytestmark = pytest.mark.slow

PROJECT = """
plugins:
  extractors:
  - name: tap-chatgpt-compliance
    namespace: tap_chatgpt_compliance
    pip_url: tap-chatgpt-compliance
{tenants}
"""
TENANT = """  - name: tap-chatgpt-compliance--{name}
    inherit_from: tap-chatgpt-compliance
    load_schema: {name}
    config:
      workspace_id: 0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51
      api_key_secret_id: chatgpt-compliance/{name}
"""
LOAD = (
    "from orchestration.definitions import defs\n"
    "print(sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()))\n"
)


def _load(cwd: Path, root: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "FLEET_"))}
    if root is not None:
        env["MELTANO_PROJECT_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, "-c", LOAD],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _project(path: Path, *tenants: str) -> Path:
    path.mkdir()
    body = "".join(TENANT.format(name=t) for t in tenants)
    (path / "meltano.yml").write_text(PROJECT.format(tenants=body))
    return path


def test_loaded_from_the_users_project_folder(tmp_path):
    root = _project(tmp_path / "user", "umbrella")
    proc = _load(cwd=root, root=None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "chatgpt_compliance/umbrella/target_s3" in proc.stdout
    assert "acme" not in proc.stdout  # not the repository's own tenants


def test_zero_tenants_is_loud(tmp_path):
    root = _project(tmp_path / "empty")
    proc = _load(cwd=tmp_path, root=root)
    assert proc.returncode != 0
    assert "No tenant in" in proc.stderr
    assert str(root / "meltano.yml") in proc.stderr
    assert "MELTANO_PROJECT_ROOT" in proc.stderr


def test_a_wrong_project_root_is_named(tmp_path):
    proc = _load(cwd=tmp_path, root=tmp_path / "nowhere")
    assert proc.returncode != 0
    assert "MELTANO_PROJECT_ROOT=" in proc.stderr
    assert "no meltano.yml" in proc.stderr
