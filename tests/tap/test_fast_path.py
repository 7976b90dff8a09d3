"""The tap's fast record path (sdk.py, output.py) writes what the SDK's path writes, and steps
aside when selection or stream maps need the SDK: property selection and stream maps work."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Oddities, Quirks, Simulator
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, run_tap, tap_command, tap_config, tap_env

from .test_selection import _discovered

VOLATILE = {"processed_at", "archived_at", "retry_until"}


@pytest.fixture(scope="module")
def sim() -> Simulator:
    with Simulator(
        seed=31,
        span_days=0.6,
        speed=60.0,
        attachment_rate=0.4,
        quirks=Quirks(late_rate=0.1),
        oddities=Oddities(missing_event_id_rate=0.05, foreign_events_rate=0.05, non_object_lines=2),
    ) as started:
        yield started


def _config(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    return tap_config(
        sim,
        event_types=["CONVERSATION_MESSAGE", "AUDIT_LOG"],
        max_inline_file_bytes=4096,
        **overrides,
    )


def _stable(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    assert run.returncode == 0, run.stderr[-3000:]
    return {
        stream: [{k: v for k, v in record.items() if k not in VOLATILE} for record in records]
        for stream, records in run.records.items()
        if stream not in ("gpts", "projects")  # their items carry fresh signed URLs
    }


def test_fast_path_writes_what_the_sdk_path_writes(sim: Simulator) -> None:
    """A stream map that changes nothing sends every stream through the SDK's path."""
    fast = run_tap(_config(sim))
    through_sdk = {
        name: {"__alias__": name}
        for name in (
            "log_files",
            "messages",
            "conversations",
            "files",
            "file_parts",
            "events",
            "unparsed_lines",
            "log_file_parts",
            "users",
        )
    }
    slow = run_tap(_config(sim, stream_maps=through_sdk))
    fast_records, slow_records = _stable(fast), _stable(slow)
    assert fast_records == slow_records
    assert fast_records["messages"]
    assert fast_records["file_parts"]
    assert fast_records["log_file_parts"]
    assert fast_records["unparsed_lines"]
    # Every line is ASCII, as the SDK's writer makes it, the spliced events included.
    assert fast.stdout.isascii()


def test_stream_maps_apply(sim: Simulator) -> None:
    """Stream maps transform and filter records exactly as configured."""
    maps = {
        "messages": {
            "content_text": "__NULL__",
            "author_upper": "author_type.upper() if author_type else None",
        },
        "conversations": {"__filter__": "id < '8'"},
        "events": "__NULL__",
    }
    run = run_tap(_config(sim, stream_maps=maps))
    assert run.returncode == 0, run.stderr[-3000:]
    messages = run.records["messages"]
    assert messages
    assert all("content_text" not in m for m in messages)
    assert {m["author_upper"] for m in messages} >= {"USER"}
    assert all(
        m["event"]["event_id"] == m["event_id"] for m in messages if not m["event_id_derived"]
    )
    conversations = run.records["conversations"]
    assert conversations
    assert all(c["id"] < "8" for c in conversations)
    assert not run.records.get("events")


def _catalog_without(config: dict[str, Any], stream: str, fields: set[str], path: Path) -> Path:
    settings = {"api_key": "sk-discovery", "workspace_id": config["workspace_id"]}
    catalog = json.loads(_discovered(json.dumps(settings)))
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            breadcrumb = item["breadcrumb"]
            item["metadata"]["selected"] = not (
                entry["tap_stream_id"] == stream
                and len(breadcrumb) == 2
                and breadcrumb[1] in fields
            )
    path.write_text(json.dumps(catalog))
    return path


def test_deselected_properties_are_not_written(sim: Simulator) -> None:
    """Property selection: deselected fields are absent; the others are intact."""
    config = _config(sim)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = _catalog_without(
            config, "messages", {"content_text", "event"}, Path(tmp) / "catalog.json"
        )
        result = subprocess.run(
            [*tap_command(config, None, Path(tmp)), "--catalog", str(catalog)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=tap_env(),
        )
    assert result.returncode == 0, result.stderr[-3000:]
    records, _ = parse_singer(result.stdout)
    messages = records["messages"]
    assert messages
    for message in messages:
        assert "content_text" not in message
        assert "event" not in message
        assert message["id"]
        assert "created_at" in message
    assert records["conversations"]
    assert all("title" in c for c in records["conversations"])
