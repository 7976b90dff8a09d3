"""Export attacked as an adversary would (audit): each defect found, one test each.

Rows forged outside what verify checks, hostile text that must stay exact and safe, a custodian
whose email names two users.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.support.tap import TapRun

from .conftest import cli, write_jsonl


def _records(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(run.records)


def _forged_message(records: dict[str, list[dict[str, Any]]], **row: Any) -> dict[str, Any]:
    """A messages row of an archived conversation that no raw line backs."""
    forged = copy.deepcopy(records["messages"][0])
    event = forged["event"]
    event["event_id"] = "ev-forged"
    event["message"]["id"] = "msg-forged"
    event["message"]["content"]["value"] = "FORGED MESSAGE TEXT"
    forged.update(id="msg-forged", event_id="ev-forged", content_text="FORGED MESSAGE TEXT", **row)
    return forged


def test_a_row_without_a_log_file_is_never_produced_as_proven(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """A messages row added with no log_file_id (null): the slice verify must still name it
    (a row pointing to no manifest record), so the export refuses instead of showing it."""
    records = _records(inline_run)
    forged = _forged_message(records, log_file_id=None)
    records["messages"].append(forged)
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--conversation",
        forged["conversation_id"],
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stdout
    assert "FINDING manifest: log file None" in done.stderr
    assert not out.exists()
