"""The Dagster code location: one asset per tenant and destination, checks, schedules, alerts.

    dagster definitions validate -m orchestration.definitions
    dagster dev -m orchestration.definitions

Tenants are the ``tap-chatgpt-compliance--<tenant>`` extractors of ``meltano.yml``; destinations
the loaders in ``FLEET_DESTINATIONS`` (default ``target-s3``). Each asset is materialised by
``meltano run <tenant extractor> <loader>``; the tap's run summary becomes its metadata.
"""

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Backoff,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    Failure,
    Jitter,
    JobDefinition,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    multi_asset_check,
    multiprocess_executor,
    schedule,
    sensor,
)
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from . import checks
from .alerts import send_alert
from .project import Tenant, identifier, load_tenants
from .runner import RunOutcome, run_pipeline, state_id
from .settings import FleetSettings

GROUP = "chatgpt_compliance"
#: Op tag limited by the executor's ``tag_concurrency_limits`` (the in-run cap).
RUN_TAG = "chatgpt_compliance/meltano_run"
#: Op tag naming the tenant: one `meltano run` per tenant at a time.
TENANT_TAG = "chatgpt_compliance/tenant"
RUN_CHECKS = ("retention_horizon", "attachments_archived", "api_key_and_scopes")
FRESHNESS_CHECK = "freshness"
ARCHIVE_JOB = "archive_fleet"
FRESHNESS_JOB = "fleet_freshness"


def asset_key(tenant: Tenant, loader: str) -> AssetKey:
    """``chatgpt_compliance/<tenant>/<loader>`` (names made Dagster-safe)."""
    return AssetKey([GROUP, identifier(tenant.name), identifier(loader)])


def _metadata(outcome: RunOutcome, tenant: Tenant, loader: str) -> dict[str, Any]:
    s = outcome.summary
    meta: dict[str, Any] = {
        "tenant": tenant.name,
        "destination": loader,
        "state_id": state_id(tenant, loader),
        "exit_code": outcome.exit_code,
        "seconds": round(outcome.seconds, 2),
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "summary_source": s.source,
        "records_total": sum(s.records.values()),
        "summary": MetadataValue.json(
            {
                "records": s.records,
                "log_files": s.log_files,
                "attachments": s.attachments,
                "bookmarks": s.bookmarks,
                "failures": s.failures,
                "exit_code": s.exit_code,
            }
        ),
    }
    if s.log_files is not None:
        meta["log_files"] = s.log_files
    meta.update({f"records/{k}": v for k, v in s.records.items()})
    meta.update({f"attachments/{k}": v for k, v in s.attachments.items()})
    for event_type, bookmark in s.bookmarks.items():
        meta[f"bookmark/{event_type}"] = str(bookmark.get("end_time"))
        if bookmark.get("lag_seconds") is not None:
            meta[f"bookmark_lag_hours/{event_type}"] = round(
                float(bookmark["lag_seconds"]) / 3600, 2
            )
    if outcome.message:
        meta["tap_message"] = outcome.message
    if outcome.log_path:
        meta["log_path"] = MetadataValue.path(str(outcome.log_path))
    tail = "\n".join(outcome.output.splitlines()[-40:])
    meta["log_tail"] = MetadataValue.md(f"```\n{tail}\n```")
    return meta


def build_tenant_asset(tenant: Tenant, loader: str, settings: FleetSettings) -> AssetsDefinition:
    """Build the asset of one tenant and destination, with its three run checks."""
    key = asset_key(tenant, loader)

    @asset(
        key=key,
        name=None,
        group_name=GROUP,
        description=f"`meltano run {tenant.extractor} {loader}`: workspace "
        f"{tenant.workspace_id or '(from the environment)'} archived to {loader}.",
        kinds={"meltano"},
        tags={"tenant": identifier(tenant.name), "destination": identifier(loader)},
        op_tags={RUN_TAG: "true", TENANT_TAG: identifier(tenant.name)},
        pool=settings.pool,
        retry_policy=RetryPolicy(
            max_retries=settings.retries,
            delay=settings.retry_delay,
            backoff=Backoff.EXPONENTIAL,
            jitter=Jitter.PLUS_MINUS,
        ),
        check_specs=[AssetCheckSpec(name, asset=key) for name in RUN_CHECKS],
    )
    def _archive(context: AssetExecutionContext) -> Iterator[Any]:
        log_dir = Path(settings.log_dir) if settings.log_dir else None
        outcome = run_pipeline(tenant, loader, log_dir=log_dir, timeout=settings.run_timeout)
        verdicts = {
            "retention_horizon": checks.retention(outcome, settings),
            "attachments_archived": checks.attachments(outcome),
            "api_key_and_scopes": checks.credentials(outcome),
        }
        results = [
            AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=v.passed,
                severity=AssetCheckSeverity(v.severity),
                description=v.description,
                metadata=v.metadata,
            )
            for name, v in verdicts.items()
        ]
        meta = _metadata(outcome, tenant, loader)
        context.log.info(
            f"meltano run {tenant.extractor} {loader}: exit {outcome.exit_code} "
            f"in {outcome.seconds:.1f} s"
        )
        if outcome.ok:
            yield MaterializeResult(metadata=meta, check_results=results)
            return
        yield from results
        # A revoked key or missing scope needs a person; after a possible gap the tap already
        # archived everything still there: a retry would only hide the failed check.
        permanent = not verdicts["api_key_and_scopes"].passed or any(
            "Possible gap" in line for line in [*outcome.summary.failures, outcome.message or ""]
        )
        raise Failure(
            description=f"{tenant.name} -> {loader}: "
            f"{outcome.message or f'meltano run exited {outcome.exit_code}'}",
            metadata=meta,
            allow_retries=not permanent,
        )

    return _archive


def build_freshness_checks(keys: list[AssetKey], settings: FleetSettings) -> Any:
    """One ``freshness`` check per asset: the last successful run is recent enough."""

    @multi_asset_check(
        specs=[AssetCheckSpec(FRESHNESS_CHECK, asset=k) for k in keys],
        name="fleet_freshness_checks",
        can_subset=True,
    )
    def _freshness(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        now = time.time()
        for check_key in context.selected_asset_check_keys:
            event = context.instance.get_latest_materialization_event(check_key.asset_key)
            v = checks.freshness(event.timestamp if event else None, settings, now)
            yield AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=FRESHNESS_CHECK,
                passed=v.passed,
                severity=AssetCheckSeverity(v.severity),
                description=v.description,
                metadata=v.metadata,
            )

    return _freshness


def _alert(entry: Any) -> dict[str, Any] | None:
    """Return the alert for one failed check, step or run event, or None."""
    event = entry.dagster_event
    if event is None:
        return None
    base = {"run_id": entry.run_id, "job": entry.job_name, "timestamp": entry.timestamp}
    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        ev = event.event_specific_data
        if ev is None or ev.passed:
            return None
        path = ev.asset_key.path
        return {
            **base,
            "kind": "check_failed",
            "asset": ev.asset_key.to_user_string(),
            "tenant": path[1] if len(path) > 1 else None,
            "check": ev.check_name,
            "severity": ev.severity.value,
            "description": ev.description,
        }
    if event.event_type == DagsterEventType.STEP_FAILURE:
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        err = getattr(data, "error", None)
        parts = str(event.step_key or "").split("__")
        return {
            **base,
            "kind": "step_failed",
            "step": event.step_key,
            "tenant": parts[1] if len(parts) == 3 and parts[0] == GROUP else None,
            "description": getattr(user, "description", None)
            or (err.message.strip() if err else event.message),
        }
    return {**base, "kind": "run_failed", "description": event.message}


def collect_alerts(
    instance: DagsterInstance, cursor: str | None, limit: int = 200
) -> tuple[list[dict[str, Any]], str]:
    """Failed checks, steps and runs of the runs that finished since ``cursor``.

    Works on every instance storage (PostgreSQL, and the run-sharded SQLite of ``dagster dev``):
    the cursor is the last finished run's update time plus the runs seen at that time.
    """
    state = json.loads(cursor) if cursor else {}
    after = float(state.get("after", 0.0))
    seen = set(state.get("seen", []))
    records = instance.get_run_records(
        filters=RunsFilter(
            statuses=[
                DagsterRunStatus.SUCCESS,
                DagsterRunStatus.FAILURE,
                DagsterRunStatus.CANCELED,
            ],
            updated_after=datetime.fromtimestamp(after, tz=timezone.utc) if after else None,
        ),
        limit=limit,
        order_by="update_timestamp",
        ascending=True,
    )
    alerts: list[dict[str, Any]] = []
    kinds = {
        DagsterEventType.ASSET_CHECK_EVALUATION,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RUN_FAILURE,
    }
    for record in records:
        run_id = record.dagster_run.run_id
        updated = record.update_timestamp.timestamp()
        if run_id in seen and updated <= after:
            continue
        if updated > after:
            after, seen = updated, set()
        seen.add(run_id)
        for entry in instance.all_logs(run_id, of_type=kinds):
            alert = _alert(entry)
            if alert:
                alerts.append(alert)
    return alerts, json.dumps({"after": after, "seen": sorted(seen)})


def build_alert_sensor(settings: FleetSettings) -> SensorDefinition:
    """Call the webhook / command for every failed check, step and run."""

    @sensor(
        name="fleet_alerts",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="FLEET_ALERT_WEBHOOK (POST JSON) / FLEET_ALERT_COMMAND (JSON on stdin) "
        "for every failed check, tenant step and run.",
    )
    def _alerts(context: SensorEvaluationContext) -> SkipReason:
        alerts, newest = collect_alerts(context.instance, context.cursor)
        failed = 0
        for alert in alerts:
            errors = send_alert(alert, settings.alert_webhook, settings.alert_command)
            for error in errors:
                context.log.error(error)
            failed += bool(errors)
        context.update_cursor(newest)
        if alerts and not (settings.alert_webhook or settings.alert_command):
            return SkipReason(f"{len(alerts)} alert(s), but no FLEET_ALERT_WEBHOOK/COMMAND set")
        return SkipReason(f"{len(alerts)} alert(s) sent, {failed} failed to send")

    return _alerts


def build_hourly_schedule(job: Any, settings: FleetSettings) -> ScheduleDefinition:
    """Hourly run of the fleet, skipped while the previous one still runs.

    Two runs of one tenant at once would race on its Meltano state; the next tick catches up
    (each run resumes from its bookmarks).
    """

    @schedule(
        name="archive_fleet_hourly",
        job=job,
        cron_schedule=settings.schedule,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def _hourly(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        busy = context.instance.get_run_records(
            filters=RunsFilter(job_name=ARCHIVE_JOB, statuses=IN_PROGRESS_RUN_STATUSES), limit=1
        )
        if busy:
            run_id = busy[0].dagster_run.run_id
            return SkipReason(f"{ARCHIVE_JOB} run {run_id} is still in progress")
        return RunRequest()

    return _hourly


def executor_config(settings: FleetSettings) -> dict[str, Any]:
    """Multiprocess executor config: at most ``max_concurrent`` tenant steps at once."""
    return {
        "max_concurrent": settings.max_concurrent,
        "tag_concurrency_limits": [
            {"key": RUN_TAG, "value": "true", "limit": settings.max_concurrent},
            # Two loaders of one tenant at once would share Meltano's per-plugin run folder
            # (.meltano/run/<extractor>/: config, catalog, state): one at a time per tenant.
            {"key": TENANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        ],
    }


def build_definitions(
    settings: FleetSettings | None = None, tenants: list[Tenant] | None = None
) -> Definitions:
    """Every asset, check, job, schedule and sensor of the fleet."""
    settings = settings or FleetSettings.from_env()
    tenants = load_tenants(required=True) if tenants is None else tenants
    assets = [build_tenant_asset(t, d, settings) for t in tenants for d in settings.destinations]
    keys = [asset_key(t, d) for t in tenants for d in settings.destinations]
    freshness = build_freshness_checks(keys, settings)
    # The cap is the job's default run config, so a launch can also set it (run_config).
    default_config = {"execution": {"config": executor_config(settings)}}
    archive = define_asset_job(
        ARCHIVE_JOB,
        selection=AssetSelection.assets(*keys).without_checks()
        | AssetSelection.checks(*[AssetCheckKey(k, n) for k in keys for n in RUN_CHECKS]),
        executor_def=multiprocess_executor,
        config=default_config,
        description="Every tenant and destination: one `meltano run` each, capped by "
        "FLEET_MAX_CONCURRENT; one tenant's failure never stops the others.",
    )
    fresh_job = define_asset_job(
        FRESHNESS_JOB,
        selection=AssetSelection.checks(freshness),
        executor_def=multiprocess_executor,
        config=default_config,
    )
    return Definitions(
        assets=assets,
        asset_checks=[freshness],
        jobs=[archive, fresh_job],
        schedules=[
            build_hourly_schedule(archive, settings),
            ScheduleDefinition(
                name="fleet_freshness_checks",
                job=fresh_job,
                cron_schedule=settings.freshness_schedule,
                default_status=DefaultScheduleStatus.RUNNING,
            ),
        ],
        sensors=[build_alert_sensor(settings)],
    )


def archive_fleet_job() -> JobDefinition:
    """Build the hourly job from the current environment (a ``reconstructable`` target)."""
    return build_definitions().resolve_job_def(ARCHIVE_JOB)


def freshness_job() -> JobDefinition:
    """Build the freshness-check job from the current environment."""
    return build_definitions().resolve_job_def(FRESHNESS_JOB)


defs = build_definitions()
