"""What the tests of a user's own Meltano project share (tests/e2e/test_own_project.py): where
the tools are, the Hub's target-jsonl definition, and a user's shell environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
