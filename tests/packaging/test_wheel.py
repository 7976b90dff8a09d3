"""`uv build` makes an sdist and a wheel; a clone installs by its path into a clean venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = str(Path(sys.executable).with_name("uv"))

pytestmark = pytest.mark.slow


def test_build_and_install_wheel_in_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [UV, "build", "--out-dir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1
    assert len(sdists) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any(n.startswith("tap_chatgpt_compliance/") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    # the Dagster code location travels under its own name ([fleet] extra)
    assert "chatgpt_compliance_fleet/definitions.py" in names
    assert not any(n.startswith("orchestration/") for n in names)
    with tarfile.open(sdists[0]) as tar:
        assert any(n.endswith("/pyproject.toml") for n in tar.getnames())

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    subprocess.run(
        [UV, "venv", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    subprocess.run(
        # Install paths (README "Install"): the wheel is installed by the quick-start test
        # (tests/e2e/test_own_project.py); here the other one, a local path (a clone).
        [UV, "pip", "install", "--python", str(venv / "bin" / "python"), str(ROOT)],
        check=True,
        capture_output=True,
        env=env,
        timeout=600,
    )
    out = subprocess.run(
        [str(venv / "bin" / "tap-chatgpt-compliance"), "--about", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    ).stdout
    about = json.loads(out)
    assert about["name"] == "tap-chatgpt-compliance"
    assert {"api_key", "workspace_id"} <= set(about["settings"]["properties"])
    # The evidence console script (issue #11) is installed with the wheel.
    helped = subprocess.run(
        [str(venv / "bin" / "chatgpt-compliance"), "verify", "--help"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    ).stdout
    assert "--jsonl" in helped
