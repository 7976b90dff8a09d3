"""A bad day for the fleet: runs that exit 0 although the archive is behind (no servers).

``meltano`` is replaced by canned answers of ``runner._run``, as the real CLI prints them: the
whole path from a run's output to the checks is the production one (``run_pipeline``).
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from orchestration import checks, runner
from orchestration.project import Tenant
from orchestration.settings import FleetSettings

TENANT = Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)
END = (datetime.now(timezone.utc) - timedelta(minutes=30)).isoformat()


def _meltano(tap_bookmark: dict[str, Any]) -> Any:
    """Answer ``meltano run`` (exit 0, the tap's summary line) and ``meltano state get``."""
    summary = {
        "records": {"messages": 3},
        "log_files": 1,
        "attachments": {},
        "bookmarks": {
            "CONVERSATION_MESSAGE": {"end_time": END, "lag_seconds": 1800, **tap_bookmark}
        },
        "failures": [],
        "exit_code": 0,
    }
    state = {
        "singer_state": {
            "bookmarks": {
                "log_files": {
                    "partitions": [
                        {
                            "context": {"event_type": "CONVERSATION_MESSAGE"},
                            "replication_key": "end_time",
                            "replication_key_value": END,
                        }
                    ]
                }
            }
        }
    }

    def run(args: list[str], timeout: float, tenant: Tenant) -> subprocess.CompletedProcess[str]:
        if args[0] == "state":
            return subprocess.CompletedProcess(args, 0, json.dumps(state), "")
        line = f"Run summary (json): {json.dumps(summary, separators=(',', ':'))}"
        err = f"2026-11-26T23:11:21.513257Z [info     ] {TENANT.extractor} {line}\n"
        return subprocess.CompletedProcess(args, 0, "", err)

    return run


@pytest.mark.parametrize(
    ("tap_bookmark", "says"),
    [
        ({"listing": "read", "behind_api_seconds": 9 * 3600}, "9.0 h behind the API's newest"),
        ({"listing": "could_not_read", "behind_api_seconds": None}, "could not read"),
    ],
)
def test_a_run_far_behind_the_api_fails_its_retention_check(
    monkeypatch: pytest.MonkeyPatch, tap_bookmark: dict[str, Any], says: str
) -> None:
    """The tap says how far its bookmark is behind the API's newest; the check read the
    bookmarks read back from Meltano's state instead, which never say it: it passed."""
    monkeypatch.setattr(runner, "_run", _meltano(tap_bookmark))
    outcome = runner.run_pipeline(TENANT, "target-s3")
    assert outcome.ok
    assert outcome.summary.source == "summary"
    verdict = checks.retention(outcome, FleetSettings())
    assert (verdict.passed, verdict.severity) == (False, "ERROR"), verdict
    assert says in verdict.description


def test_a_run_that_caught_up_passes_its_retention_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_run", _meltano({"listing": "read", "behind_api_seconds": 0}))
    verdict = checks.retention(runner.run_pipeline(TENANT, "target-s3"), FleetSettings())
    assert verdict.passed, verdict
    assert verdict.metadata["behind_api_hours/CONVERSATION_MESSAGE"] == 0
