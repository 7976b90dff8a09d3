"""The Meltano project itself: schedules, tenants, plugin definitions (no servers needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.meltano import MELTANO, REPO_ROOT, TENANTS, clean_base_env

pytestmark = pytest.mark.e2e


def meltano(*args: str, tmp_path: Path) -> str:
    env = clean_base_env()
    env.update(
        {
            "MELTANO_PROJECT_ROOT": str(REPO_ROOT),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        }
    )
    proc = subprocess.run(
        [MELTANO, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())


def test_every_plugin_is_offline_installable(project):
    for kind in ("extractors", "loaders"):
        for p in project["plugins"][kind]:
            if "inherit_from" in p:
                continue
            for key in ("namespace", "pip_url", "executable"):
                assert p.get(key), (p["name"], key)
            assert "git+" not in p["pip_url"], p["name"]
    assert project["send_anonymous_usage_stats"] is False


def test_extractor_definition(project):
    tap = project["plugins"]["extractors"][0]
    assert set(tap["capabilities"]) >= {
        "state",
        "catalog",
        "discover",
        "about",
        "stream-maps",
        "schema-flattening",
        "structured-logging",
    }
    settings = {s["name"]: s for s in tap["settings"]}
    assert settings["api_key"]["kind"] == "password"
    assert settings["api_key"]["sensitive"]
    assert all("kind" in s for s in tap["settings"])
    assert ["api_key", "workspace_id"] in tap["settings_group_validation"]
    assert "*.*" in tap["select"] or any(s.startswith("files.") for s in tap["select"])
    assert not any(s.startswith(("!files", "!file_parts")) for s in tap["select"])


def test_hourly_schedule_per_tenant(tmp_path):
    out = meltano("schedule", "list", "--format=json", tmp_path=tmp_path)
    schedules = json.loads(out)
    jobs = {s["name"]: s for s in schedules["schedules"]["job"]}
    for tenant in TENANTS:
        s = jobs[f"archive-{tenant}-hourly"]
        assert s["interval"] == "@hourly"
        assert s["cron_interval"] == "0 * * * *"
        assert s["job"]["tasks"] == [f"tap-chatgpt-compliance--{tenant} target-s3"]


def test_tenants_read_their_own_key_from_the_environment(tmp_path):
    for tenant in TENANTS:
        out = meltano("config", "list", f"tap-chatgpt-compliance--{tenant}", tmp_path=tmp_path)
        assert f"TAP_CHATGPT_COMPLIANCE__{tenant.upper()}_API_KEY" in out
