"""The run summary (issue #9): one short block, its last line one line of JSON for orchestrators.

Each test runs the tap as a real process against the simulator over loopback HTTP.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from chatgpt_compliance_simulator import Oddities
from tap_chatgpt_compliance.run.summary import JSON_PREFIX
from tap_chatgpt_compliance.run.sync import EXAMPLES
from tap_chatgpt_compliance.timeparse import to_datetime
from tests.support.singer import bookmark
from tests.support.tap import TapRun, run_tap, tap_config

SUMMARY_KEYS = {
    "records",
    "log_files",
    "attachments",
    "bookmarks",
    "clock",
    "failures",
    "exit_code",
}


def summary_block(run: TapRun) -> tuple[list[str], dict[str, Any]]:
    """Return the summary's lines (from 'Run summary:' to the JSON line) and the JSON."""
    lines = run.stderr.splitlines()
    end = max(i for i, line in enumerate(lines) if JSON_PREFIX in line)
    start = max(i for i, line in enumerate(lines[:end]) if "| Run summary: " in line)
    parsed = json.loads(lines[end].split(JSON_PREFIX, 1)[1])
    assert set(parsed) == SUMMARY_KEYS
    return lines[start : end + 1], parsed


def test_summary_is_short_and_its_json_line_matches_the_output(simulator_factory) -> None:
    """Many expired attachments: a few named, all counted; counts agree with the records."""
    sim = simulator_factory(seed=11, span_days=3.0, conversations=40, attachment_rate=0.5)
    config = tap_config(sim, event_types=["CONVERSATION_MESSAGE", "AUDIT_LOG"])
    started = datetime.now(timezone.utc)
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    block, summary = summary_block(run)
    assert run.stderr.splitlines()[-1] == block[-1]  # the JSON line is the last line of all

    statuses = Counter(record["status"] for record in run.records["files"])
    assert statuses["expired"] > EXAMPLES  # enough to show that only a few are named
    assert summary["records"] == {stream: len(rows) for stream, rows in run.records.items()}
    assert summary["log_files"] == len(run.records["log_files"])
    assert summary["attachments"] == dict(statuses)
    assert summary["failures"] == []
    assert summary["exit_code"] == 0

    # The bookmark of each event type is the state's, and its lag is measured from now.
    assert run.state is not None
    for index, event_type in enumerate(["CONVERSATION_MESSAGE", "AUDIT_LOG"]):
        reached = summary["bookmarks"][event_type]
        state_end = to_datetime(bookmark(run.state, index)["replication_key_value"])
        assert state_end is not None
        assert to_datetime(reached["end_time"]) == state_end.replace(microsecond=0)
        lag = (started - state_end).total_seconds()
        # The tap measures from the API's Date (whole seconds) and rounds down: up to 2 s less.
        assert lag - 2 <= reached["lag_seconds"] <= lag + 120

    # A person reads at most ~30 lines, however many attachments expired.
    assert len(block) <= 30
    assert sum("Not archived: attachment" in line for line in block) == EXAMPLES
    assert run.stderr.count("Attachment not archived") == EXAMPLES  # the WARNINGs too
    assert f"expired {statuses['expired']:,}" in "\n".join(block)
    assert "Bookmark AUDIT_LOG: " in "\n".join(block)
    assert "METRIC" not in run.stderr  # the SDK's metric lines are quiet by default
    assert len(run.stderr.splitlines()) < 40


def test_a_fatal_run_prints_the_summary_before_its_one_line_error(simulator_factory) -> None:
    """A listing stuck on has_more: exit 1; the JSON line says why, the error line is last."""
    sim = simulator_factory(seed=11, span_days=0.8, oddities=Oddities(stuck_listing=True))
    run = run_tap(tap_config(sim, max_retries=2, max_retry_wait=0, file_content="none"))
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert "ERROR" in lines[-1]
    assert "Traceback" not in run.stderr
    assert JSON_PREFIX in lines[-2]
    _, summary = summary_block(run)
    assert summary["exit_code"] == 1
    assert len(summary["failures"]) == 1
    assert "stuck" in summary["failures"][0]
    assert summary["failures"][0][:80] in lines[-1]
    assert summary["log_files"] == len(run.records["log_files"]) > 0
    assert summary["records"]["messages"] == len(run.records["messages"])
    assert config_secret_absent(run, sim.api_key)


def config_secret_absent(run: TapRun, secret: str) -> bool:
    """Return whether the secret is absent from the summary block."""
    block, _ = summary_block(run)
    return all(secret not in line for line in block)
