"""Hostile or odd log-file content, served as a listed log file and archived by a real tap run.

Each line the tap cannot keep as an event is an ``unparsed_lines`` row, byte-exact and counted
in the manifest; the run goes on (exit 0), and ``verify`` re-derives every row from the raw
bytes: intact (docs/architecture.md, "Every line of every log file ends up somewhere").
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tests.support.evidence import verify_cli, write_jsonl
from tests.support.simulators import running, tiny_world
from tests.support.tap import TapRun, run_tap, tap_config

TYPE = "AUDIT_LOG"
GOOD = b'{"event_id":"ok-1","type":"AUDIT_LOG","timestamp":"2026-12-01T00:00:00Z"}'


@pytest.fixture
def sim() -> Any:
    config = SimulatorConfig(**tiny_world())
    with running(config) as simulator:
        yield simulator


def _archive(sim: Simulator, body: bytes) -> tuple[TapRun, dict[str, Any]]:
    """Publish ``body`` as an AUDIT_LOG file, run the tap on it; return the run and its file."""
    meta = sim.publish_log_file(body, TYPE)
    run = run_tap(tap_config(sim, event_types=[TYPE]))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    copies = [r for r in run.records["log_files"] if r["id"] == meta["id"]]
    (record,) = {json.dumps(r, sort_keys=True): r for r in copies}.values()
    return run, record


def _unparsed(run: TapRun, file_id: str) -> list[dict[str, Any]]:
    return [u for u in run.records.get("unparsed_lines", []) if u["log_file_id"] == file_id]


def _verify(run: TapRun, tmp_path: Path) -> str:
    folder = write_jsonl(run.records, tmp_path / "archive")
    state = tmp_path / "state.json"
    state.write_text(json.dumps(run.state))
    result = verify_cli("--jsonl", str(folder), "--state", str(state))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
    assert "VERDICT: intact" in result.stdout
    return result.stdout


def test_an_empty_log_file_verifies_intact(sim: Simulator, tmp_path: Path) -> None:
    """A log file of 0 bytes is archived with no raw part; verify said 'raw file incomplete:
    log_file_parts [] of 0 missing' (FAILED) on the genuine archive."""
    run, record = _archive(sim, b"")
    assert (record["line_count"], record["event_count"], record["unparsed_lines"]) == (0, 0, 0)
    _verify(run, tmp_path)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1E+999"])
def test_a_number_beyond_a_double_is_kept_unparsed_not_archived_as_null(
    sim: Simulator, tmp_path: Path, number: bytes
) -> None:
    """``1e400`` is a JSON number no double holds: the event was archived with ``null`` in its
    place (and ``-1e400`` likewise: two different lines, one value), and verify FAILED the
    genuine archive (``column event: differs from its raw line``)."""
    odd = b'{"event_id":"big-1","type":"AUDIT_LOG","x":' + number + b"}"
    run, record = _archive(sim, GOOD + b"\n" + odd + b"\n")
    (row,) = _unparsed(run, record["id"])
    assert base64.b64decode(row["content_base64"]) == odd
    assert (row["line_number"], row["reason"]) == (2, "invalid_json")
    assert (record["line_count"], record["event_count"], record["unparsed_lines"]) == (2, 1, 1)
    assert not [e for e in run.records["events"] if e["event_id"] == "big-1"]
    _verify(run, tmp_path)


def _nested(depth: int, event_id: bool = True) -> bytes:
    """An AUDIT_LOG event whose ``x`` nests ``depth`` - 1 arrays (the event is one level)."""
    head = b'{"event_id":"deep-1",' if event_id else b"{"
    return head + b'"type":"AUDIT_LOG","x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        _nested(129),
        _nested(1_000),  # orjson parses it, Python's encoder and decoder give up near there
        _nested(1_020, event_id=False),  # its derived key is Python's canonical JSON
    ],
    ids=["list-10k", "object-100k", "event-129", "event-1000", "no-id-1020"],
)
def test_a_deeply_nested_line_is_kept_unparsed_and_the_run_goes_on(
    sim: Simulator, tmp_path: Path, line: bytes
) -> None:
    """The standard decoder raised RecursionError: the run ended 'Unexpected error
    RecursionError' with exit 1, and every rerun did the same (the archive stuck forever)."""
    run, record = _archive(sim, line + b"\n" + GOOD + b"\n")
    (row,) = _unparsed(run, record["id"])
    assert base64.b64decode(row["content_base64"]) == line
    assert (row["line_number"], row["reason"]) == (1, "invalid_json")
    assert "nested" in row["error"]
    assert (record["line_count"], record["event_count"], record["unparsed_lines"]) == (2, 1, 1)
    _verify(run, tmp_path)


def test_a_line_nested_to_the_limit_is_an_event(sim: Simulator, tmp_path: Path) -> None:
    """128 levels (the limit, docs/architecture.md) is still an event, written and verified."""
    line = _nested(128)
    run, record = _archive(sim, line + b"\n")
    assert not _unparsed(run, record["id"])
    assert [e["event_id"] for e in run.records["events"] if e["event_id"] == "deep-1"]
    _verify(run, tmp_path)
