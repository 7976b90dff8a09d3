"""The fleet's jobs, both on the capped multiprocess executor.

``archive_fleet``: every tenant's asset and its run checks; ``fleet_freshness``: the freshness
checks.
"""

from typing import Any

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    define_asset_job,
    multiprocess_executor,
)

from .assets import RUN_CHECKS, RUN_TAG, TENANT_TAG
from .settings import FleetSettings

ARCHIVE_JOB = "archive_fleet"
FRESHNESS_JOB = "fleet_freshness"


#: Imported once by the executor's forkserver: Dagster, this code location and the Meltano CLI.
PRELOAD = f"{__package__}.preload"


def executor_config(settings: FleetSettings) -> dict[str, Any]:
    """Multiprocess executor config: at most ``max_concurrent`` tenant steps at once.

    Steps start as forks of a forkserver that has imported Dagster, the code location and the
    Meltano CLI once (``preload.py``), not as new interpreters that import them again per
    tenant; ``FLEET_START_METHOD=spawn`` turns that off.
    """
    start: dict[str, Any] = (
        {"spawn": {}}
        if settings.start_method == "spawn"
        else {"forkserver": {"preload_modules": [PRELOAD]}}
    )
    return {
        "max_concurrent": settings.max_concurrent,
        "start_method": start,
        "tag_concurrency_limits": [
            {"key": RUN_TAG, "value": "true", "limit": settings.max_concurrent},
            # Two loaders of one tenant at once would share Meltano's per-plugin run folder
            # (.meltano/run/<extractor>/: config, catalog, state): one at a time per tenant.
            {"key": TENANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        ],
    }


def _default_config(settings: FleetSettings) -> dict[str, Any]:
    # The cap is the job's default run config, so a launch can also set it (run_config).
    return {"execution": {"config": executor_config(settings)}}


def build_archive_job(keys: list[AssetKey], settings: FleetSettings) -> Any:
    """Every tenant and destination with its run checks (not the freshness checks)."""
    return define_asset_job(
        ARCHIVE_JOB,
        selection=AssetSelection.assets(*keys).without_checks()
        | AssetSelection.checks(*[AssetCheckKey(k, n) for k in keys for n in RUN_CHECKS]),
        executor_def=multiprocess_executor,
        config=_default_config(settings),
        description="Every tenant and destination: one `meltano run` each, capped by "
        "FLEET_MAX_CONCURRENT; one tenant's failure never stops the others.",
    )


def build_freshness_job(freshness: Any, settings: FleetSettings) -> Any:
    """Check the freshness of every asset."""
    return define_asset_job(
        FRESHNESS_JOB,
        selection=AssetSelection.checks(freshness),
        executor_def=multiprocess_executor,
        config=_default_config(settings),
    )
