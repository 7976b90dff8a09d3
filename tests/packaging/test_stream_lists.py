"""The README's streams table and the Hub definition's usage name every stream the tap
discovers (issue 21), and name nothing else; the table says which are selected by default."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.tap import TAP

ROOT = Path(__file__).resolve().parents[2]
STREAM_NAME = re.compile(r"`([a-z][a-z0-9_]*)`")


@pytest.fixture(scope="module")
def discovered() -> dict[str, bool]:
    """stream id -> selected by default, from ``--discover``."""
    catalog = subprocess.run(
        [*TAP, "--discover", "--config", "ENV"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "TAP_CHATGPT_COMPLIANCE_API_KEY": "sk-discovery",
            "TAP_CHATGPT_COMPLIANCE_WORKSPACE_ID": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0",
        },
    ).stdout
    out = {}
    for stream in json.loads(catalog)["streams"]:
        (meta,) = [e["metadata"] for e in stream["metadata"] if e["breadcrumb"] == []]
        out[stream["tap_stream_id"]] = bool(meta.get("selected-by-default"))
    return out


def test_readme_streams_table_lists_every_stream(discovered: dict[str, bool]) -> None:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (yes|no)\b([^|]*)\| ([^\n]*)\|$", text, re.M)
    assert len(rows) == 2, rows
    listed = {kind: set(STREAM_NAME.findall(streams)) for kind, _, streams in rows}
    assert listed["yes"] == {s for s, default in discovered.items() if default}
    assert listed["no"] == {s for s, default in discovered.items() if not default}


def test_hub_usage_lists_every_stream(discovered: dict[str, bool]) -> None:
    hub = yaml.safe_load((ROOT / "hub" / "tap-chatgpt-compliance.yml").read_text())
    (bullet,) = [b for b in hub["usage"].split("\n- ") if b.startswith("Streams")]
    named = set(STREAM_NAME.findall(bullet)) - {"directory_refresh_hours"}
    assert named == set(discovered)
