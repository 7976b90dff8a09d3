"""The fleet-wide asset check: ``freshness`` of every asset (its own job and schedule).

The per-run checks (retention, attachments, key and scopes) are evaluated by each asset's run
(``assets.py``); their logic, as plain functions, is in ``checks.py``.
"""

import time
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    multi_asset_check,
)

from . import checks
from .settings import FleetSettings

FRESHNESS_CHECK = "freshness"


def check_result(key: AssetKey, name: str, verdict: checks.Verdict) -> AssetCheckResult:
    """Return Dagster's result of one check from its :class:`checks.Verdict`."""
    return AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=verdict.passed,
        severity=AssetCheckSeverity(verdict.severity),
        description=verdict.description,
        metadata=verdict.metadata,
    )


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
            verdict = checks.freshness(event.timestamp if event else None, settings, now)
            yield check_result(check_key.asset_key, FRESHNESS_CHECK, verdict)

    return _freshness
