"""A user's own Meltano project, made from zero as the README's quick start says (issue 18):
`meltano init` in an empty folder, the tap added `--from-ref` the Hub definition with its
`pip_url` pointing at a wheel built from this clone (standing in for PyPI), installed,
configured against the simulator. Built once per test session and shared by the modules that
use it (the wheel install is the slow part)."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from chatgpt_compliance_simulator import Simulator, SimulatorConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_FILE = REPO_ROOT / "hub" / "tap-chatgpt-compliance.yml"
BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano")
TAP = "tap-chatgpt-compliance"
# Meltano Hub's target-jsonl (andyh1203), as a local definition: the tests run offline, where
# `meltano add loader target-jsonl` cannot reach the Hub.
TARGET_JSONL = {
    "name": "target-jsonl",
    "namespace": "target_jsonl",
    "variant": "andyh1203",
    "pip_url": "target-jsonl==0.1.4",
    "executable": "target-jsonl",
    "settings": [
        {"name": "destination_path", "kind": "string", "value": "output"},
        {"name": "do_timestamp_file", "kind": "boolean"},
        {"name": "custom_name", "kind": "string"},
    ],
}


def clean_env() -> dict[str, str]:
    """The environment of a user's shell: nothing of this repository's Meltano project."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MELTANO_", "TAP_CHATGPT", "TARGET_", "DBT_", "VIRTUAL_ENV"))
    }
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


@dataclass
class FreshProject:
    root: Path
    wheel: Path
    sim: Simulator
    steps: list[str]

    def meltano(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [MELTANO, *args],
            cwd=self.root,
            env={**clean_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"meltano {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
            )
        return proc


_PROJECT: FreshProject | None = None


def run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def fresh_project(tmp_root: Path) -> FreshProject:
    """Build (once) and return the user's project."""
    global _PROJECT
    if _PROJECT is not None:
        return _PROJECT
    steps: list[str] = []
    # 1. The distribution, as the release workflow builds it (PyPI's stand-in).
    dist = tmp_root / "dist"
    run([str(BIN / "uv"), "build", "--out-dir", str(dist), str(REPO_ROOT)], cwd=tmp_root)
    (wheel,) = dist.glob("*.whl")
    twine = run(
        [
            str(BIN / "twine"),
            "check",
            "--strict",
            *map(str, sorted(dist.glob("tap_chatgpt_compliance-*"))),
        ],
        cwd=dist,
    )
    steps.append(twine.stdout)
    # 2. `meltano init` in an empty folder.
    run([MELTANO, "init", "my-archive", "--no-usage-stats"], cwd=tmp_root)
    root = tmp_root / "my-archive"
    sim = Simulator(
        SimulatorConfig(seed=18, users=3, conversations=5, messages_per_conversation=(2, 4))
    ).start()
    project = FreshProject(root=root, wheel=wheel, sim=sim, steps=steps)
    # 3. The tap from its Hub definition, pip_url pointing at the wheel (README: "until the
    #    first release").
    project.meltano("add", TAP, "--from-ref", str(HUB_FILE), "--no-install")
    data = yaml.safe_load((root / "meltano.yml").read_text())
    (tap,) = data["plugins"]["extractors"]
    tap["pip_url"] = f"{wheel}[s3]"
    (root / "meltano.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    ref = tmp_root / "target-jsonl.yml"
    ref.write_text(yaml.safe_dump(TARGET_JSONL, sort_keys=False))
    project.meltano("add", "--plugin-type", "loader", "target-jsonl", "--from-ref", str(ref))
    # 4. install, 5. configure.
    project.meltano("install", timeout=900)
    for name, value in (
        ("api_url", sim.base_url),
        ("workspace_id", sim.workspace_id),
        ("api_key", sim.api_key),
    ):
        project.meltano("config", "set", TAP, name, value)
    (root / "output").mkdir(exist_ok=True)
    _PROJECT = project
    atexit.register(stop)  # shared by every module of the session
    return project


def stop() -> None:
    global _PROJECT
    if _PROJECT is not None:
        _PROJECT.sim.stop()
        _PROJECT = None
