"""The alert sensor: failed checks, steps and runs, and tenants gone, to the webhook/command."""

import json
import time
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Any

from dagster import (
    AssetKey,
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
from .project import ANNOTATION, BASE_EXTRACTOR, TENANT_PREFIX, Retired
from .settings import FleetSettings

#: Alerts about assets the instance has run that the code location no longer defines.
GONE_KINDS = ("tenant_gone", "destination_gone")


def _value(metadata: Any, name: str, fallback: str | None) -> str | None:
    """Return the text of an event's metadata entry ``name``, else ``fallback``."""
    value = (metadata or {}).get(name)
    return fallback if value is None else str(getattr(value, "value", value))


def _tenant(metadata: Any, fallback: str | None) -> str | None:
    """Return the tenant's name from an event's metadata (``tenant``), else ``fallback``."""
    return _value(metadata, "tenant", fallback)


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
        batches.append((json.dumps({**state, "after": after, "seen": sorted(seen)}), alerts))
    return batches


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat() if timestamp else None


def gone_alert(
    instance: DagsterInstance, keys: list[AssetKey], tenant_defined: bool
) -> dict[str, Any]:
    """Return the alert for one tenant's assets no longer defined: which, since when, the fix.

    Names come from the assets' last materialisations (``meltano.yml``'s ``acme--eu``,
    ``target-postgres``), else from their keys.
    """
    events = [instance.get_latest_materialization_event(k) for k in keys]
    metadata = [
        e.asset_materialization.metadata if e and e.asset_materialization else None for e in events
    ]
    tenant = next((t for m in metadata if (t := _tenant(m, None))), keys[0].path[1])
    destinations = sorted(
        str(_value(m, "destination", k.path[2])) for k, m in zip(keys, metadata, strict=True)
    )
    last = _iso(max((e.timestamp for e in events if e), default=None))
    assets = sorted(k.to_user_string() for k in keys)
    what = f"{', '.join(assets)} (last materialised {last or 'never'}) no longer in Dagster"
    retire = f"annotate {BASE_EXTRACTOR} in meltano.yml: annotations: {{{ANNOTATION}: "
    if tenant_defined:
        listed = ", ".join(destinations)
        description = (
            f"tenant {tenant} is no longer archived to {listed}: {what}. Restore {listed} in "
            f"FLEET_DESTINATIONS, or, if it was retired on purpose, {retire}"
            f"{{retired_destinations: [{listed}]}}}}"
        )
    else:
        description = (
            f"tenant {tenant} is gone from the fleet and its workspace no longer archived: "
            f"{what}. Restore {TENANT_PREFIX}{tenant} in meltano.yml (a block lost in a merge, "
            "a misspelt name, MELTANO_PROJECT_ROOT naming another project), or, if it was "
            f"retired on purpose, {retire}{{retired_tenants: [{tenant}]}}}}"
        )
    return {
        "kind": "destination_gone" if tenant_defined else "tenant_gone",
        "run_id": None,
        "job": None,
        "timestamp": time.time(),
        "tenant": tenant,
        "assets": assets,
        "destinations": destinations,
        "last_materialized": last,
        "description": description,
    }


def collect_gone_batches(
    instance: DagsterInstance, defined: Collection[AssetKey], retired: Retired, cursor: str | None
) -> list[tuple[str, list[dict[str, Any]]]]:
    """One alert per tenant with assets gone since ``cursor``, each with the cursor after it.

    Gone: an asset under ``chatgpt_compliance/`` that the instance has run (materialised, or
    tried to) and the code location no longer defines, unless :class:`Retired`. The cursor
    keeps the gone assets already alerted (``gone``): each is alerted once; one defined or
    retired again is forgotten, so it is alerted again if it goes again. The last batch always
    carries the cursor (with no alert when nothing new is gone).
    """
    state = json.loads(cursor) if cursor else {}
    known = set(defined)
    gone = {
        k
        for k in instance.get_asset_keys(prefix=[GROUP])
        if len(k.path) == 3 and k not in known and not retired.covers(k.path[1], k.path[2])
    }
    alerted = set(state.get("gone", [])) & {k.to_user_string() for k in gone}
    by_tenant: dict[str, list[AssetKey]] = {}
    for key in sorted(gone, key=AssetKey.to_user_string):
        if key.to_user_string() not in alerted:
            by_tenant.setdefault(key.path[1], []).append(key)
    tenants_defined = {k.path[1] for k in known}
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    for tenant, keys in by_tenant.items():
        alerted |= {k.to_user_string() for k in keys}
        alert = gone_alert(instance, keys, tenant in tenants_defined)
        batches.append((json.dumps({**state, "gone": sorted(alerted)}), [alert]))
    return batches or [(json.dumps({**state, "gone": sorted(alerted)}), [])]


class AlertDeliveryError(Exception):
    """Alerts could not be delivered: the sensor's tick fails, and they are sent again."""


def build_alert_sensor(
    settings: FleetSettings, defined: Collection[AssetKey], retired: Retired | None = None
) -> SensorDefinition:
    """Call the webhook / command for every failed check, step and run, and for what is gone.

    Once for every tenant (or destination) whose assets are no longer in ``defined``
    (:func:`collect_gone_batches`).

    An alert that cannot be delivered fails the tick (Dagster shows the sensor failing) and
    keeps the cursor before it, so it is sent again at the next tick (with the other alerts of
    its run): an alert may arrive twice, never not at all.
    """
    retired = retired or Retired()

    @sensor(
        name="fleet_alerts",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="FLEET_ALERT_WEBHOOK (POST JSON) / FLEET_ALERT_COMMAND (JSON on stdin) "
        "for every failed check, tenant step and run, and every tenant or destination gone "
        "from the fleet.",
    )
    def _alerts(context: SensorEvaluationContext) -> SkipReason:
        batches = collect_alert_batches(context.instance, context.cursor)
        after_runs = batches[-1][0] if batches else context.cursor
        batches += collect_gone_batches(context.instance, defined, retired, after_runs)
        gone = [a for _, alerts in batches for a in alerts if a["kind"] in GONE_KINDS]
        if not (settings.alert_webhook or settings.alert_command):
            for alert in gone:
                context.log.warning(alert["description"])
            context.update_cursor(batches[-1][0])
            count = sum(len(alerts) for _, alerts in batches)
            if count:
                names = f"; gone: {', '.join(a['tenant'] for a in gone)}" if gone else ""
                return SkipReason(
                    f"{count} alert(s), but no FLEET_ALERT_WEBHOOK/COMMAND set{names}"
                )
            return SkipReason("0 alert(s) sent, 0 failed to send")
        sent = 0
        for cursor, alerts in batches:
            for alert in alerts:
                errors = send_alert(alert, settings.alert_webhook, settings.alert_command)
                if errors:
                    for error in errors:
                        context.log.error(error)
                    # The cursor stays before this alert's batch (a run's alerts, or one gone
                    # tenant): they are all sent again at the next tick (some perhaps twice,
                    # none lost); the earlier batches stay sent.
                    source = (
                        f"tenant {alert['tenant']} gone"
                        if alert["kind"] in GONE_KINDS
                        else f"run {alert['run_id']}"
                    )
                    text = (
                        f"an alert of {source} could not be delivered ({'; '.join(errors)}): "
                        "it is sent again at the next tick"
                    )
                    if sent:
                        return SkipReason(f"{sent} alert(s) sent; then {text}")
                    raise AlertDeliveryError(text)
                sent += 1
            context.update_cursor(cursor)
        return SkipReason(f"{sent} alert(s) sent, 0 failed to send")

    return _alerts
