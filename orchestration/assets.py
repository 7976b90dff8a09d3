"""The fleet's assets: one per tenant and destination, materialised by its ``meltano run``."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from . import checks
from .asset_checks import check_result
from .project import Tenant, identifier
from .runner import RunOutcome, run_pipeline, state_id
from .settings import FleetSettings
from .summary import is_transient_refusal

GROUP = "chatgpt_compliance"
#: Op tag limited by the executor's ``tag_concurrency_limits`` (the in-run cap).
RUN_TAG = "chatgpt_compliance/meltano_run"
#: Op tag naming the tenant: one `meltano run` per tenant at a time.
TENANT_TAG = "chatgpt_compliance/tenant"
#: The checks each asset's own run evaluates (``checks.py`` holds their logic).
RUN_CHECKS = ("retention_horizon", "attachments_archived", "api_key_and_scopes")


def asset_key(tenant: Tenant, loader: str) -> AssetKey:
    """``chatgpt_compliance/<tenant>/<loader>`` (names made Dagster-safe)."""
    return AssetKey([GROUP, identifier(tenant.name), identifier(loader)])


def asset_keys(tenants: list[Tenant], settings: FleetSettings) -> list[AssetKey]:
    """Every tenant's key for every destination, in the order of :func:`build_assets`."""
    return [asset_key(t, d) for t in tenants for d in settings.destinations]


def run_metadata(outcome: RunOutcome, tenant: Tenant, loader: str) -> dict[str, Any]:
    """Return the run summary, exit code, state id and log tail as the asset's metadata."""
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


def previous_bookmarks(context: AssetExecutionContext, key: AssetKey) -> dict[str, str]:
    """{event_type: end_time} of the asset's last materialisation (its ``bookmark/…`` values)."""
    event = context.instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return {}
    return {
        name.split("/", 1)[1]: str(value.value)
        for name, value in materialization.metadata.items()
        if name.startswith("bookmark/") and str(value.value) not in ("", "None")
    }


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
        previous = previous_bookmarks(context, key)
        outcome = run_pipeline(tenant, loader, log_dir=log_dir, timeout=settings.run_timeout)
        verdicts = {
            "retention_horizon": checks.retention(outcome, settings, previous=previous),
            "attachments_archived": checks.attachments(outcome),
            "api_key_and_scopes": checks.credentials(outcome),
        }
        for verdict in verdicts.values():  # alerts name the tenant as meltano.yml does
            verdict.metadata["tenant"] = tenant.name
        results = [check_result(key, name, v) for name, v in verdicts.items()]
        meta = run_metadata(outcome, tenant, loader)
        context.log.info(
            f"meltano run {tenant.extractor} {loader}: exit {outcome.exit_code} "
            f"in {outcome.seconds:.1f} s"
        )
        if outcome.ok:
            yield MaterializeResult(metadata=meta, check_results=results)
            return
        yield from results
        # A revoked key, a missing scope, a configuration or key secret the tap refused: a
        # person must act (unless the secret store failed for a passing reason). After a
        # possible gap the tap already archived everything still there: a retry would only
        # hide the failed check.
        passing = outcome.refused and is_transient_refusal(outcome.message)
        permanent = (not verdicts["api_key_and_scopes"].passed and not passing) or any(
            "Possible gap" in line for line in [*outcome.summary.failures, outcome.message or ""]
        )
        raise Failure(
            description=f"{tenant.name} -> {loader}: "
            f"{outcome.message or f'meltano run exited {outcome.exit_code}'}",
            metadata=meta,
            allow_retries=not permanent,
        )

    return _archive


def build_assets(tenants: list[Tenant], settings: FleetSettings) -> list[AssetsDefinition]:
    """One asset per tenant and destination (``FLEET_DESTINATIONS``)."""
    return [build_tenant_asset(t, d, settings) for t in tenants for d in settings.destinations]
