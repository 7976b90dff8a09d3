"""The run summary says what was durably written, even when a signal lands at the worst moment.

The bookmark of a log file moves in memory (the SDK's ``_increment_stream_state``) a little
before its STATE line is written (``LogFilesStream._file_written``). A SIGTERM in between stops
the run with the last STATE written before that file: the summary, which the fleet and
operators read, must report that bookmark, not the one held in memory.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tap_chatgpt_compliance.run.summary import JSON_PREFIX
from tap_chatgpt_compliance.timeparse import to_datetime
from tests.support.tap import run_tap, tap_config

HOOK = '''"""Test hook: SIGTERM the tap between a log file's bookmark and its STATE line."""
import os
import signal

from tap_chatgpt_compliance.streams import logs

_written = logs.LogFilesStream._file_written
_calls = []


def _file_written(self, *args, **kwargs):
    _calls.append(1)
    if len(_calls) == 2:  # the second file: its bookmark moved in memory, no STATE yet
        os.kill(os.getpid(), signal.SIGTERM)
    return _written(self, *args, **kwargs)


logs.LogFilesStream._file_written = _file_written
'''


def _second(value: Any) -> str | None:
    """Return a time to the second (the summary's precision), None if unset."""
    when = to_datetime(value)
    return None if when is None else when.replace(microsecond=0).isoformat()


def _bookmarks(state: dict[str, Any]) -> dict[str, str | None]:
    partitions = state.get("bookmarks", {}).get("log_files", {}).get("partitions", [])
    return {p["context"]["event_type"]: _second(p.get("replication_key_value")) for p in partitions}


def test_a_signal_between_bookmark_and_state_leaves_the_summary_true(
    simulator_factory, tmp_path: Path
) -> None:
    sim = simulator_factory(seed=5, span_days=1.0, conversations=10, attachment_rate=0.0)
    (tmp_path / "sitecustomize.py").write_text(HOOK)
    run = run_tap(
        tap_config(sim, file_content="none"), clock_offset=0, env={"PYTHONPATH": str(tmp_path)}
    )
    assert run.returncode == 128 + signal.SIGTERM, run.stderr[-3000:]
    assert len(run.records["log_files"]) >= 2, "the hook did not stop the run at the 2nd file"
    written = _bookmarks(run.states[-1])
    line = next(x for x in reversed(run.stderr.splitlines()) if JSON_PREFIX in x)
    summary = json.loads(line.split(JSON_PREFIX, 1)[1])
    said = {
        event_type: _second(value["end_time"]) for event_type, value in summary["bookmarks"].items()
    }
    assert said == written, (said, written)
