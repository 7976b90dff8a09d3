"""A bad day for the fleet, round 7: a tenant gone from the fleet's configuration went silent.

A tenant dropped from ``meltano.yml`` (a bad merge, a misspelt extractor name), or a destination
dropped from ``FLEET_DESTINATIONS``, took its asset, its checks and its freshness check with it:
no step failed, no check failed, no alert fired, and its workspace was no longer archived. Now
the alert sensor compares the assets the instance holds under ``chatgpt_compliance/`` with
those defined, and alerts once per vanished tenant, unless ``meltano.yml`` says it was retired.

``meltano`` is replaced by canned answers of ``runner._run`` (tests/fleet/test_audit_silent3.py);
the Dagster path (definitions, assets, sensor, webhook) is the production one, in process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestration import runner
from orchestration.settings import FleetSettings

from .test_audit_config import meltano_by_tenant, write_project
from .test_audit_fleet17 import GLOBEX_WS, tenants_yml

EVERY = tenants_yml(GLOBEX_WS)  # acme, globex, initech, each with its own workspace
BOTH = ["target-s3", "target-postgres"]


def without(tenant: str, tenants: str = EVERY) -> str:
    """``tenants`` without ``tenant``'s block (a bad merge)."""
    blocks = tenants.split("  - name: ")
    return "  - name: ".join(
        b for b in blocks if not b.startswith(f"tap-chatgpt-compliance--{tenant}\n")
    )


def retire(project: Path, annotation: str) -> None:
    """Annotate the base extractor of ``project`` with the fleet's ``annotation``."""
    path = project / "meltano.yml"
    text = path.read_text()
    line = "    load_schema: chatgpt_compliance\n"
    path.write_text(
        text.replace(line, f"{line}    annotations: {{chatgpt_compliance_fleet: {annotation}}}\n")
    )


@pytest.fixture
def fleet_instance(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, webhook: dict[str, Any]
) -> Iterator[Any]:
    """A Dagster instance where acme, globex and initech were each archived once (to target-s3
    and target-postgres); the webhook up."""
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import build_definitions

    webhook["status"] = 204
    clean_env.setenv("MELTANO_PROJECT_ROOT", str(write_project(tmp_path, EVERY)))
    clean_env.setattr(runner, "_run", meltano_by_tenant([]))
    defs = build_definitions(FleetSettings(destinations=BOTH, retries=0))
    with DagsterInstance.ephemeral() as instance:
        assert materialize(list(defs.assets or []), instance=instance).success
        yield instance


def tick(
    instance: Any,
    webhook: dict[str, Any],
    cursor: str | None,
    destinations: list[str] = BOTH,
) -> tuple[list[dict[str, Any]], str | None]:
    """One tick of the alert sensor of the code location as loaded now (``MELTANO_PROJECT_ROOT``):
    (the alerts the webhook received, the sensor's cursor)."""
    from dagster import build_sensor_context

    from orchestration.definitions import build_definitions

    defs = build_definitions(FleetSettings(destinations=destinations, alert_webhook=webhook["url"]))
    context = build_sensor_context(instance=instance, cursor=cursor)
    defs.resolve_sensor_def("fleet_alerts")(context)
    received = list(webhook["received"])
    webhook["received"].clear()
    return received, context.cursor


def test_a_tenant_gone_from_meltano_yml_alerts_once_naming_it_and_the_fix(
    tmp_path: Path, fleet_instance: Any, webhook: dict[str, Any]
) -> None:
    """globex's block lost in a merge: its workspace was no longer archived, and nothing said so."""
    received, cursor = tick(fleet_instance, webhook, None)
    assert received == []  # every tenant archived and defined: nothing to say

    write_project(tmp_path, without("globex"))
    received, cursor = tick(fleet_instance, webhook, cursor)
    assert [(a["kind"], a["tenant"]) for a in received] == [("tenant_gone", "globex")], received
    alert = received[0]
    assert alert["assets"] == [
        "chatgpt_compliance/globex/target_postgres",
        "chatgpt_compliance/globex/target_s3",
    ]
    assert alert["last_materialized"].startswith("20")
    line = alert["description"]
    assert "\n" not in line
    assert "tap-chatgpt-compliance--globex" in line
    assert "no longer archived" in line
    assert "retired_tenants: [globex]" in line

    # Once: the next ticks are quiet while it stays gone.
    received, cursor = tick(fleet_instance, webhook, cursor)
    assert received == []

    # Restored, then lost again: a new alert.
    write_project(tmp_path, EVERY)
    received, cursor = tick(fleet_instance, webhook, cursor)
    assert received == []
    write_project(tmp_path, without("globex"))
    received, cursor = tick(fleet_instance, webhook, cursor)
    assert [(a["kind"], a["tenant"]) for a in received] == [("tenant_gone", "globex")]


def test_a_misspelt_extractor_name_and_a_dropped_destination_alert_too(
    tmp_path: Path, fleet_instance: Any, webhook: dict[str, Any]
) -> None:
    """``tap-chatgpt-compliance-initech`` (one dash) is no tenant; ``FLEET_DESTINATIONS`` without
    target-postgres drops every tenant's second archive."""
    write_project(tmp_path, EVERY.replace("compliance--initech", "compliance-initech"))
    received, cursor = tick(fleet_instance, webhook, None, destinations=["target-s3"])
    by_tenant = {a["tenant"]: a for a in received}
    assert sorted(by_tenant) == ["acme", "globex", "initech"], received
    assert by_tenant["initech"]["kind"] == "tenant_gone"
    for tenant in ("acme", "globex"):
        alert = by_tenant[tenant]
        assert alert["kind"] == "destination_gone"
        assert alert["assets"] == [f"chatgpt_compliance/{tenant}/target_postgres"]
        assert "target-postgres" in alert["description"]
        assert "FLEET_DESTINATIONS" in alert["description"]
        assert "retired_destinations: [target-postgres]" in alert["description"]
    assert tick(fleet_instance, webhook, cursor, destinations=["target-s3"])[0] == []


def test_a_retirement_in_meltano_yml_keeps_the_fleet_quiet(
    tmp_path: Path, fleet_instance: Any, webhook: dict[str, Any]
) -> None:
    """globex retired on purpose (annotated, by its name or its extractor's) and target-postgres
    given up: no alert; initech lost by accident at the same time still alerts."""
    for retired in ("globex", "tap-chatgpt-compliance--globex"):
        write_project(tmp_path, without("initech", without("globex")))
        retire(
            tmp_path, f"{{retired_tenants: [{retired}], retired_destinations: [target-postgres]}}"
        )
        received, _ = tick(fleet_instance, webhook, None, destinations=["target-s3"])
        assert [(a["kind"], a["tenant"]) for a in received] == [("tenant_gone", "initech")]


def test_a_gone_tenant_s_alert_is_sent_again_until_delivered(
    tmp_path: Path, fleet_instance: Any, webhook: dict[str, Any]
) -> None:
    write_project(tmp_path, without("acme"))
    webhook["status"] = 503
    with pytest.raises(Exception, match="could not be delivered") as failed:
        tick(fleet_instance, webhook, None)
    assert "T0KEN" not in str(failed.value)
    webhook["status"] = 204
    received, cursor = tick(fleet_instance, webhook, None)
    assert [(a["kind"], a["tenant"]) for a in received] == [("tenant_gone", "acme")]
    assert tick(fleet_instance, webhook, cursor)[0] == []


def test_without_a_webhook_the_sensor_still_names_the_gone_tenant(
    tmp_path: Path, fleet_instance: Any
) -> None:
    from dagster import SkipReason, build_sensor_context

    from orchestration.definitions import build_definitions

    write_project(tmp_path, without("globex"))
    sensor = build_definitions(FleetSettings(destinations=BOTH)).resolve_sensor_def("fleet_alerts")
    result = sensor(build_sensor_context(instance=fleet_instance, cursor=None))
    assert isinstance(result, SkipReason)
    assert "globex" in str(result.skip_message)
