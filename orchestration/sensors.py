"""The alert sensor: every failed check, tenant step and run to the webhook and/or command."""

import json
from datetime import datetime, timezone
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from .alerts import send_alert
from .assets import GROUP
from .settings import FleetSettings


def alert_of(entry: Any) -> dict[str, Any] | None:
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
            alert = alert_of(entry)
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
