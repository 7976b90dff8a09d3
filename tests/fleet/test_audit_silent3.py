"""A bad day for the fleet, round 4: runs that end green with less archived than was there.

``meltano`` is replaced by canned answers of ``runner._run``, with the lines the real CLI printed
(Meltano 4.4.1, reproduced against the simulator and moto): the path from a run's output to the
asset, its checks and its retry is the production one (``run_pipeline``, ``build_tenant_asset``).
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from orchestration import checks, runner
from orchestration.assets import build_tenant_asset
from orchestration.project import Tenant
from orchestration.settings import FleetSettings

TENANT = Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)
TAP = TENANT.extractor
T = "2026-12-07T03:20:25.773794Z"

# A loader that exits 0 after 5 lines while the tap waits for the API: Meltano stops the tap,
# "pretends the producer finished successfully" and exits 0 (0 of 139 messages archived).
LOADER_ENDED_FIRST = f"""\
{T} [info     ] meltano      Running job with name 'local:{TAP}-to-target-s3' and run ID 'x'
{T} [warning  ] meltano      No state was found, complete import.
{T} [info     ] {TAP} tap-chatgpt-compliance v0.1.0, Meltano SDK v0.54.9
{T} [info     ] {TAP} Beginning sync of 'automations' in full_table mode
{T} [info     ] meltano      Incremental state has been updated at 2026-12-07 03:20:25+00:00.
{T} [info     ] {TAP} Beginning sync of 'canvas_versions' in full_table mode
{T} [info     ] target-s3    fake target: stopping after 5 lines
{T} [info     ] meltano      Block run completed
{T} [info     ] meltano      Run completed
"""

SUMMARY_143 = json.dumps(
    {"records": {"users": 3}, "log_files": 0, "attachments": {}, "bookmarks": {},
     "failures": ["Stopped by SIGTERM (exit code 143)"], "exit_code": 143},
    separators=(",", ":"),
)  # fmt: skip
TAP_STOPPED = f"""\
{T} [info     ] {TAP} Beginning sync of 'users' in full_table mode
{T} [info     ] target-s3    fake target: stopping after 5 lines
{T} [info     ] {TAP} Run summary (json): {SUMMARY_143}
{T} [error    ] {TAP} Stopped by SIGTERM (exit code 143)
{T} [info     ] meltano      Run completed
"""


def refused(line: str) -> str:
    """What ``meltano run`` printed when the tap refused its configuration (exit 1)."""
    return f"""\
{T} [info     ] {TAP} tap-chatgpt-compliance v0.1.0, Meltano SDK v0.54.9
{T} [info     ] {TAP} Skipping parse of env var settings...
{T} [error    ] {TAP} {line}
{T} [info     ] target-s3    Target 'target-s3' completed reading 0 lines of input (0 schemas, 0 records, 0 batch manifests, 0 state messages).
{T} [warning  ] meltano      Received empty state, incremental state has not been updated
{T} [error    ] meltano      Extractor failed
{T} [error    ] meltano      Block run completed
{T} [info     ] meltano      Run completed
"""  # noqa: E501


BAD_WORKSPACE = (
    "workspace_id 'not-a-uuid' is not a UUID: copy the Workspace ID from chatgpt.com/admin → "
    "Workspace details (it looks like f7f33107-5fb9-4ee1-8922-3eae76b5b5a0)."
)
SECRET_DELETED = (
    "AWS Secrets Manager secret 'chatgpt-compliance/acme' (api_key_secret_id) was not found in "
    "region us-east-1: check the name or ARN and aws_region."
)


def canned(run_output: str, code: int, state: dict[str, Any] | None = None) -> Any:
    """Answer ``meltano run`` with ``run_output`` and ``meltano state get`` with ``state``."""

    def run(args: list[str], timeout: float, tenant: Tenant) -> subprocess.CompletedProcess[str]:
        if args[0] == "state":
            return subprocess.CompletedProcess(args, 0, json.dumps(state or {}), "")
        return subprocess.CompletedProcess(args, code, "", run_output)

    return run


def materialize(
    monkeypatch: pytest.MonkeyPatch, output: str, code: int, instance: Any = None
) -> Any:
    """Run the tenant's asset in process (2 retries, no delay) on a canned ``meltano run``."""
    from dagster import DagsterInstance, materialize

    monkeypatch.setattr(runner, "_run", canned(output, code))
    asset = build_tenant_asset(TENANT, "target-s3", FleetSettings(retries=2, retry_delay=0))
    if instance is not None:
        return materialize([asset], instance=instance, raise_on_error=False)
    with DagsterInstance.ephemeral() as ephemeral:
        return materialize([asset], instance=ephemeral, raise_on_error=False)


@pytest.mark.parametrize("output", [LOADER_ENDED_FIRST, TAP_STOPPED])
def test_a_run_meltano_calls_a_success_without_the_tap_s_summary_fails(
    monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    """The loader ended (exit 0) before the tap: Meltano stopped the tap and exited 0, with
    nothing archived; the asset was materialised green, every check passing."""
    monkeypatch.setattr(runner, "_run", canned(output, 0))
    outcome = runner.run_pipeline(TENANT, "target-s3")
    assert not outcome.ok
    assert outcome.message is not None
    assert outcome.message.startswith("meltano run exited 0, but the tap")
    assert "\n" not in outcome.message
    result = materialize(monkeypatch, output, 0)
    assert not result.success
    assert result.get_asset_materialization_events() == []
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == 2  # the loader may have died of something passing: retried


def test_meltano_runs_at_info_level_at_least(monkeypatch: pytest.MonkeyPatch) -> None:
    """At MELTANO_CLI_LOG_LEVEL=warning Meltano drops the tap's run summary (an info line;
    reproduced with Meltano 4.4.1: 2 lines of output, no summary, exit 0): every run would fail
    as unfinished, and the retention check would not see how far behind the API it is."""
    for level, expected in (("warning", "info"), ("ERROR", "info"), ("debug", "debug")):
        monkeypatch.setenv("MELTANO_CLI_LOG_LEVEL", level)
        assert runner._environment(TENANT)["MELTANO_CLI_LOG_LEVEL"] == expected


@pytest.mark.parametrize("line", [BAD_WORKSPACE, SECRET_DELETED])
def test_a_tap_that_refused_to_start_fails_its_key_check_and_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    """No request reached the API, yet ``api_key_and_scopes`` passed ("the API accepted the
    key") and the step was retried three times with backoff (about 7 minutes by default) for a
    configuration that fails the same way every time."""
    monkeypatch.setattr(runner, "_run", canned(refused(line), 1))
    verdict = checks.credentials(runner.run_pipeline(TENANT, "target-s3"))
    assert (verdict.passed, verdict.severity, verdict.description) == (False, "ERROR", line)
    result = materialize(monkeypatch, refused(line), 1)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["api_key_and_scopes"].passed
    assert evaluations["api_key_and_scopes"].description == line
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []


def test_a_secret_store_failing_for_a_passing_reason_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = (
        "AWS Secrets Manager secret 'chatgpt-compliance/acme' (api_key_secret_id) cannot be "
        "read (InternalServiceError)."
    )
    result = materialize(monkeypatch, refused(line), 1)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["api_key_and_scopes"].passed  # no request reached the API
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 2


def test_a_run_that_failed_after_syncing_does_not_blame_or_praise_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = "Log file eclf_1 failed its SHA-256 check 2 times"
    summary = {"records": {}, "log_files": 0, "failures": [line], "exit_code": 1}
    output = f"{T} [info     ] {TAP} Run summary (json): {json.dumps(summary)}\n" + refused(line)
    monkeypatch.setattr(runner, "_run", canned(output, 1))
    outcome = runner.run_pipeline(TENANT, "target-s3")
    assert not outcome.refused
    verdict = checks.credentials(outcome)
    assert verdict.passed
    assert "accepted" not in verdict.description


def test_alerts_the_webhook_could_not_take_fail_the_tick_and_are_sent_later(
    monkeypatch: pytest.MonkeyPatch, webhook: dict[str, Any]
) -> None:
    """The webhook down: the sensor logged one line per alert, ended its tick as a skip ("3
    alert(s) sent, 3 failed to send") and moved its cursor past the failed run: its alerts were
    never sent, not even once the webhook was back."""
    from dagster import DagsterInstance, build_sensor_context

    from orchestration.assets import asset_key
    from orchestration.sensors import build_alert_sensor

    settings = FleetSettings(alert_webhook=webhook["url"])
    sensor = build_alert_sensor(settings, [asset_key(TENANT, "target-s3")])
    with DagsterInstance.ephemeral() as instance:
        assert not materialize(monkeypatch, refused(BAD_WORKSPACE), 1, instance).success
        down = build_sensor_context(instance=instance, cursor=None)
        with pytest.raises(Exception, match="could not be delivered") as failed:
            sensor(down)
        assert "HTTPError" in str(failed.value)
        assert "T0KEN" not in str(failed.value)
        assert down.cursor is None  # the failed run is still ahead of the cursor

        webhook["status"] = 204
        up = build_sensor_context(instance=instance, cursor=down.cursor)
        sensor(up)
        kinds = sorted(a["kind"] for a in webhook["received"])
        assert kinds == ["check_failed", "run_failed", "step_failed"], webhook["received"]
        assert webhook["received"][0]["description"] == BAD_WORKSPACE
        webhook["received"].clear()
        sensor(build_sensor_context(instance=instance, cursor=up.cursor))
        assert webhook["received"] == []  # sent once delivered, never again


def summary_run(started_from: str, end_time: str) -> tuple[str, dict[str, Any]]:
    """A successful ``meltano run`` (the tap's summary) and the state Meltano then holds."""
    bookmark = {"end_time": end_time, "lag_seconds": 600, "listing": "read",
                "behind_api_seconds": 0, "started_from": started_from}  # fmt: skip
    summary = {"records": {"messages": 3}, "log_files": 1, "attachments": {}, "failures": [],
               "bookmarks": {"CONVERSATION_MESSAGE": bookmark}, "exit_code": 0}  # fmt: skip
    partition = {"context": {"event_type": "CONVERSATION_MESSAGE"},
                 "replication_key": "end_time", "replication_key_value": end_time}  # fmt: skip
    state = {"singer_state": {"bookmarks": {"log_files": {"partitions": [partition]}}}}
    line = f"Run summary (json): {json.dumps(summary, separators=(',', ':'))}"
    return f"{T} [info     ] {TAP} {line}\n{T} [info     ] meltano      Run completed\n", state


def test_a_state_lost_between_two_runs_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Meltano's state emptied between two hourly runs (a bucket lifecycle rule, `meltano state
    clear`, a new MELTANO_STATE_BACKEND_URI): the tap read everything again from start_date and
    every check passed, as on a tenant's first run."""
    from dagster import DagsterInstance, materialize

    asset = build_tenant_asset(TENANT, "target-s3", FleetSettings(retries=0))
    now = datetime.now(timezone.utc)
    verdicts = []
    with DagsterInstance.ephemeral() as instance:
        for started_from, age in (("start_date", 2), ("bookmark", 1), ("start_date", 0)):
            end = (now - timedelta(hours=age)).isoformat()
            output, state = summary_run(started_from, end)
            monkeypatch.setattr(runner, "_run", canned(output, 0, state))
            result = materialize([asset], instance=instance, raise_on_error=False)
            assert result.success
            checks_ = {e.check_name: e for e in result.get_asset_check_evaluations()}
            verdicts.append(checks_["retention_horizon"])
    first, hourly, lost = verdicts
    assert first.passed  # a tenant's first run: no earlier bookmark, nothing lost
    assert hourly.passed
    assert (lost.passed, lost.severity.value) == (False, "WARN")
    assert "the state was lost or cleared" in lost.description
    assert (now - timedelta(hours=1)).isoformat()[:19] in lost.description


def test_a_retry_refused_by_meltano_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant's step SIGKILLed (OOM): its `meltano run` goes on in its own process group and
    Meltano refuses the retry; the step failed with "meltano run exited 1" and nothing else."""
    running = (
        f"{T} [error    ] meltano      Another 'local:{TAP}-to-target-s3' pipeline is already "
        "running which started at 2026-12-07 03:25:46.343109+00:00. Wait until 2026-12-07 "
        "03:30:53.564212+00:00 when the job will be automatically cancelled if stale, or "
        "ignore this check using the '--force' option.\n"
        f"{T} [error    ] meltano      Block run completed\n"
        f"{T} [info     ] meltano      Run completed\n"
    )
    monkeypatch.setattr(runner, "_run", canned(running, 1))
    outcome = runner.run_pipeline(TENANT, "target-s3")
    assert outcome.message is not None
    assert outcome.message.startswith(
        "another run of tap-chatgpt-compliance--acme target-s3 is in progress (started at "
        "2026-12-07 03:25:46+00:00: a run by hand"
    )
