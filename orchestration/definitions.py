"""The Dagster code location: one asset per tenant and destination, checks, schedules, alerts.

    dagster definitions validate -m orchestration.definitions
    dagster dev -m orchestration.definitions

Tenants are the ``tap-chatgpt-compliance--<tenant>`` extractors of ``meltano.yml``; destinations
the loaders in ``FLEET_DESTINATIONS`` (default ``target-s3``). Each asset is materialised by
``meltano run <tenant extractor> <loader>``; the tap's run summary becomes its metadata. This
module only assembles: ``assets``, ``asset_checks``, ``jobs``, ``schedules``, ``sensors``.
"""

from dagster import Definitions

from .asset_checks import build_freshness_checks
from .assets import asset_keys, build_assets
from .jobs import build_archive_job, build_freshness_job
from .project import Retired, Tenant, load_retired, load_tenants
from .schedules import build_freshness_schedule, build_hourly_schedule
from .sensors import build_alert_sensor
from .settings import FleetSettings


def build_definitions(
    settings: FleetSettings | None = None,
    tenants: list[Tenant] | None = None,
    retired: Retired | None = None,
) -> Definitions:
    """Every asset, check, job, schedule and sensor (tenants, retirements: meltano.yml's)."""
    settings = settings or FleetSettings.from_env()
    if tenants is None:
        tenants, retired = load_tenants(required=True), retired or load_retired()
    keys = asset_keys(tenants, settings)
    freshness = build_freshness_checks(keys, settings)
    archive = build_archive_job(keys, settings)
    fresh_job = build_freshness_job(freshness, settings)
    return Definitions(
        assets=build_assets(tenants, settings),
        asset_checks=[freshness],
        jobs=[archive, fresh_job],
        schedules=[
            build_hourly_schedule(archive, settings),
            build_freshness_schedule(fresh_job, settings),
        ],
        sensors=[build_alert_sensor(settings, keys, retired)],
    )


defs = build_definitions()
