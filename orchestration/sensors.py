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


def _tenant(metadata: Any, fallback: str | None) -> str | None:
    """Return the tenant's name from an event's metadata (``tenant``), else ``fallback``."""
    value = (metadata or {}).get("tenant")
    return fallback if value is None else str(getattr(value, "value", value))


def _step_tenant(step_key: str) -> str | None:
    """Return the tenant of step ``chatgpt_compliance__<tenant>__<loader>`` (may hold ``__``)."""
    group, _, rest = step_key.partition("__")
    return rest.rsplit("__", 1)[0] if group == GROUP and "__" in rest else None


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
            "tenant": _tenant(ev.metadata, path[1] if len(path) > 1 else None),
            "check": ev.check_name,
            "severity": ev.severity.value,
            "description": ev.description,
        }
    if event.event_type == DagsterEventType.STEP_FAILURE:
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        err = getattr(data, "error", None)
        return {
            **base,
            "kind": "step_failed",
            "step": event.step_key,
            "tenant": _tenant(
                getattr(user, "metadata", None), _step_tenant(str(event.step_key or ""))
            ),
            "description": getattr(user, "description", None)
            or (err.message.strip() if err else event.message),
        }
    return {**base, "kind": "run_failed", "description": event.message}


def collect_alert_batches(
    instance: DagsterInstance, cursor: str | None, limit: int = 200
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Failed checks, steps and runs of the runs finished since ``cursor``, run by run.

    Each run's alerts come with the cursor that marks that run as done. Works on every
    instance storage (PostgreSQL, and the run-sharded SQLite of ``dagster dev``): the cursor is
    the last finished run's update time plus the runs seen at that time.
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
    kinds = {
        DagsterEventType.ASSET_CHECK_EVALUATION,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RUN_FAILURE,
    }
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    for record in records:
        run_id = record.dagster_run.run_id
        updated = record.update_timestamp.timestamp()
        if run_id in seen and updated <= after:
            continue
        if updated > after:
            after, seen = updated, set()
        seen.add(run_id)
        alerts = [a for e in instance.all_logs(run_id, of_type=kinds) if (a := alert_of(e))]
        batches.append((json.dumps({"after": after, "seen": sorted(seen)}), alerts))
    return batches


def collect_alerts(
    instance: DagsterInstance, cursor: str | None, limit: int = 200
) -> tuple[list[dict[str, Any]], str]:
    """Every alert of the runs finished since ``cursor``, and the cursor after them."""
    batches = collect_alert_batches(instance, cursor, limit)
    alerts = [alert for _, run_alerts in batches for alert in run_alerts]
    return alerts, batches[-1][0] if batches else (cursor or json.dumps({"after": 0.0}))


class AlertDeliveryError(Exception):
    """Alerts could not be delivered: the sensor's tick fails, and they are sent again."""


def build_alert_sensor(settings: FleetSettings) -> SensorDefinition:
    """Call the webhook / command for every failed check, step and run.

    An alert that cannot be delivered fails the tick (Dagster shows the sensor failing) and
    keeps the cursor before its run, so the run's alerts are sent again at the next tick: an
    alert may arrive twice, never not at all.
    """

    @sensor(
        name="fleet_alerts",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="FLEET_ALERT_WEBHOOK (POST JSON) / FLEET_ALERT_COMMAND (JSON on stdin) "
        "for every failed check, tenant step and run.",
    )
    def _alerts(context: SensorEvaluationContext) -> SkipReason:
        if not (settings.alert_webhook or settings.alert_command):
            alerts, newest = collect_alerts(context.instance, context.cursor)
            context.update_cursor(newest)
            if alerts:
                return SkipReason(f"{len(alerts)} alert(s), but no FLEET_ALERT_WEBHOOK/COMMAND set")
            return SkipReason("0 alert(s) sent, 0 failed to send")
        sent = 0
        for cursor, alerts in collect_alert_batches(context.instance, context.cursor):
            for alert in alerts:
                errors = send_alert(alert, settings.alert_webhook, settings.alert_command)
                if errors:
                    for error in errors:
                        context.log.error(error)
                    # The cursor stays before this run: its alerts are all sent again at the
                    # next tick (some perhaps twice, none lost); those of earlier runs stay sent.
                    text = (
                        f"an alert of run {alert['run_id']} could not be delivered "
                        f"({'; '.join(errors)}): this run's alerts are sent again at the next tick"
                    )
                    if sent:
                        return SkipReason(f"{sent} alert(s) sent; then {text}")
                    raise AlertDeliveryError(text)
                sent += 1
            context.update_cursor(cursor)
        return SkipReason(f"{sent} alert(s) sent, 0 failed to send")

    return _alerts
