"""The fleet's checks and the run-summary parser as plain functions (no servers)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestration import checks
from orchestration.runner import RunOutcome
from orchestration.settings import FleetSettings
from orchestration.summary import RunSummary, parse_summary, tap_message

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
TAP = "tap-chatgpt-compliance--acme"


def outcome(summary: RunSummary, exit_code: int = 0, message: str | None = None) -> RunOutcome:
    return RunOutcome("acme", "target-s3", exit_code, 0.0, 1.0, "", summary, message, [], None)


def bookmark(days: float) -> dict:
    return {"CONVERSATION_MESSAGE": {"end_time": (NOW - timedelta(days=days)).isoformat()}}


@pytest.mark.parametrize(
    ("days", "passed", "severity"), [(1, True, "WARN"), (26, False, "WARN"), (31, False, "ERROR")]
)
def test_retention_warns_at_25_days_and_fails_at_30(days, passed, severity):
    verdict = checks.retention(outcome(RunSummary(bookmarks=bookmark(days))), FleetSettings(), NOW)
    assert (verdict.passed, verdict.severity) == (passed, severity)


def test_retention_thresholds_are_configurable(monkeypatch):
    monkeypatch.setenv("FLEET_RETENTION_WARN_DAYS", "2")
    verdict = checks.retention(
        outcome(RunSummary(bookmarks=bookmark(3))), FleetSettings.from_env(), NOW
    )
    assert (verdict.passed, verdict.severity) == (False, "WARN")


def test_attachments_not_archived_warn():
    summary = RunSummary(attachments={"archived": 3, "forbidden": 2, "expired": 1})
    verdict = checks.attachments(outcome(summary))
    assert not verdict.passed
    assert verdict.severity == "WARN"
    assert "1 expired, 2 forbidden" in verdict.description
    assert checks.attachments(outcome(RunSummary(attachments={"archived": 3}))).passed


def test_freshness_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("FLEET_FRESHNESS_HOURS", "0.5")
    settings = FleetSettings.from_env()
    assert checks.freshness(1000.0 - 1200, settings, 1000.0).passed
    assert not checks.freshness(1000.0 - 3600, settings, 1000.0).passed
    assert not checks.freshness(None, settings, 1000.0).passed


def test_the_last_summary_line_wins_and_the_tap_message_is_its_last_error():
    first = {"records": {"messages": 1}, "exit_code": 0}
    last = {
        "records": {"messages": 5},
        "log_files": 2,
        "attachments": {"archived": 1},
        "bookmarks": bookmark(0),
        "failures": ["HTTP 401 from the Compliance API: api_key is wrong or was revoked"],
        "exit_code": 1,
    }
    out = "\n".join(
        [
            f"2026-11-26T23:11:01.1Z [info     ] {TAP} Run summary (json): {json.dumps(first)}",
            f"2026-11-26T23:11:02.1Z [error    ] {TAP} HTTP 401 from the Compliance API: "
            "api_key is wrong or was revoked",
            f"2026-11-26T23:11:03.1Z [info     ] {TAP} Run summary (json): "
            f"{json.dumps(last, separators=(',', ':'))}",
            "2026-11-26T23:11:04.1Z [info     ] target-s3    Target completed",
            "2026-11-26T23:11:05.1Z [error    ] meltano      Extractor failed",
        ]
    )
    summary = parse_summary(out)
    assert summary is not None
    assert summary.records == {"messages": 5}
    assert summary.exit_code == 1
    assert summary.source == "summary"
    assert tap_message(out, TAP) == (
        "HTTP 401 from the Compliance API: api_key is wrong or was revoked"
    )
    assert parse_summary("no summary here") is None


def test_the_sample_dagster_yaml_loads_on_postgres(tmp_path: Path, pg_database, monkeypatch):
    """The production sample (minus the K8s launcher, not installed here) on the real PostgreSQL."""
    import yaml
    from dagster import DagsterInstance

    sample = Path(__file__).resolve().parents[2] / "orchestration" / "deploy" / "dagster.yaml"
    config = yaml.safe_load(sample.read_text())
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    del config["run_launcher"]
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    for key, name in (("host", "HOST"), ("port", "PORT"), ("user", "USER"),
                      ("password", "PASSWORD"), ("dbname", "DB")):  # fmt: skip
        monkeypatch.setenv(f"DAGSTER_PG_{name}", str(pg_database[key]))
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 50
        assert os.environ["DAGSTER_PG_DB"] == pg_database["dbname"]
    finally:
        instance.dispose()


def test_the_hourly_schedule_skips_while_a_fleet_run_is_in_progress():
    from dagster import (
        DagsterRunStatus,
        RunRequest,
        SkipReason,
        build_schedule_context,
        instance_for_test,
    )
    from dagster._core.test_utils import create_run_for_test

    from orchestration.definitions import build_definitions
    from orchestration.jobs import ARCHIVE_JOB

    hourly = build_definitions(FleetSettings()).resolve_schedule_def("archive_fleet_hourly")
    assert hourly.cron_schedule == "0 * * * *"
    with instance_for_test() as instance:
        assert isinstance(hourly(build_schedule_context(instance=instance)), RunRequest)
        create_run_for_test(instance, job_name=ARCHIVE_JOB, status=DagsterRunStatus.STARTED)
        skipped = hourly(build_schedule_context(instance=instance))
        assert isinstance(skipped, SkipReason)
        assert "still in progress" in skipped.skip_message


def test_without_a_summary_line_the_bookmarks_come_from_meltano_state():
    """The shape `meltano state get` prints for a tenant (taken from a real run)."""
    from orchestration.summary import bookmarks_from_state

    end = (NOW - timedelta(hours=2)).isoformat()
    state = {
        "singer_state": {
            "bookmarks": {
                "files": {},
                "log_files": {
                    "partitions": [
                        {
                            "context": {"event_type": "CONVERSATION_MESSAGE"},
                            "replication_key": "end_time",
                            "replication_key_value": end,
                            "boundary_end_time": end,
                            "boundary_file_ids": ["eclf_1b7101ad176d578ea40ecf04"],
                        }
                    ]
                },
            }
        }
    }
    assert bookmarks_from_state(state, NOW) == {
        "CONVERSATION_MESSAGE": {"end_time": end, "lag_seconds": 7200}
    }
    assert bookmarks_from_state({"completed": state}, NOW) == bookmarks_from_state(state, NOW)
