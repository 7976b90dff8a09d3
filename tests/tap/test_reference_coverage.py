"""What the reference says a workspace holds, archived in full (coverage of compliance-api.md).

Each test: the simulator serves what the reference states (or what OpenAI may add), the tap
archives it, and nothing it served is missing from the records.
"""

from __future__ import annotations

import dataclasses

from chatgpt_compliance_simulator import (
    ORG_EVENT_TYPES,
    WORKSPACE_EVENT_TYPES,
    Oddities,
    Quirks,
    Simulator,
)
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify
from tests.support.simulators import Client
from tests.support.tap import run_tap, tap_config

SMALL = {"seed": 16, "users": 3, "conversations": 6, "span_days": 0.5, "attachment_rate": 0.0}


def test_listing_fields_the_tap_does_not_know_are_kept(simulator_factory):
    """§2.8 names six fields of a listed log file; a field OpenAI adds later (here `line_count`
    and a nested `retention`) was dropped: `log_files` had a column per known field and no
    place for the rest. Now every item is kept as served in `listing_item`, workspace and
    organization scope alike."""
    sim: Simulator = simulator_factory(
        **SMALL,
        quirks=Quirks.none(),
        oddities=dataclasses.replace(Oddities(), listing_new_fields=True),
    )
    run = run_tap(
        tap_config(
            sim,
            event_types=["CONVERSATION_MESSAGE", "AUTH_LOG", "COSTS"],
            organization_id=sim.organization_id,
            file_content="none",
        )
    )
    assert run.returncode == 0, run.stderr[-3000:]
    client = Client(sim)
    scopes = {"CONVERSATION_MESSAGE": False, "AUTH_LOG": False, "COSTS": True}
    served = {
        item["id"]: item
        for event_type, org in scopes.items()
        for item in client.list_all(event_type, org=org)
    }
    records = {r["id"]: r for r in run.records["log_files"]}
    assert set(records) == set(served)
    assert {r["scope"] for r in records.values()} == {"workspace", "organization"}
    for file_id, item in served.items():
        assert {"line_count", "retention"} <= set(item)
        assert records[file_id]["listing_item"] == item, file_id


def test_every_reference_event_type_is_archived_as_served(simulator_factory):
    """§1B "Event types seen": with every workspace type and the org-scoped COSTS requested,
    each event the simulator holds is in `events` (messages for CONVERSATION_MESSAGE), whole
    as served; APP_AUTH_LOG and CODEX_TURN (§2.9 "Other types") are among them, and the
    org-scoped log files carry the organization's id."""
    sim: Simulator = simulator_factory(**{**SMALL, "span_days": 1.5}, quirks=Quirks.none())
    workspace_types = list(WORKSPACE_EVENT_TYPES)
    run = run_tap(
        tap_config(
            sim,
            event_types=[*workspace_types, *ORG_EVENT_TYPES],
            organization_id=sim.organization_id,
            file_content="none",
        )
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for record in run.records["log_files"]:
        org = record["event_type"] in ORG_EVENT_TYPES
        assert record["organization_id"] == (sim.organization_id if org else None)
    truth = sim.ground_truth()
    events = {(r["type"], r["event_id"]): r for r in run.records["events"]}
    for event_type in (*workspace_types, *ORG_EVENT_TYPES):
        served = truth["events"].get(event_type, {})
        if event_type in ("APP_AUTH_LOG", "CODEX_TURN", "AUTH_LOG", "COSTS"):
            assert served, event_type
        if event_type == "CONVERSATION_MESSAGE":
            assert run.ids("messages") == set(truth["messages"])
            continue
        got = {eid for (kind, eid) in events if kind == event_type}
        assert got == set(served), event_type
        for event_id, event in served.items():
            record = events[(event_type, event_id)]
            assert record["event"] == event, (event_type, event_id)
            assert record["organization_id"] == sim.organization_id  # the setting, every row


def test_organization_app_logs_are_listed_under_the_organization(simulator_factory):
    """§1B: Fivetran's tables add `APP_ORGANIZATION_LOG` and `APP_AUTH_ORGANIZATION_LOG`
    (LOW), organization-scoped by their names. The tap listed every type but COSTS under the
    workspace, which refuses an organization-scoped type (422): such a type could not be
    archived at all. A type named `…_ORGANIZATION_…` is now listed under the organization like
    COSTS (and needs organization_id); its events and log files are archived with the
    organization's id, and verify finds the archive intact."""
    sim: Simulator = simulator_factory(
        **SMALL,
        quirks=Quirks.none(),
        oddities=dataclasses.replace(
            Oddities(), extra_event_types=("APP_ORGANIZATION_LOG", "APP_AUTH_ORGANIZATION_LOG")
        ),
    )
    org_types = ["APP_ORGANIZATION_LOG", "APP_AUTH_ORGANIZATION_LOG", "COSTS"]
    missing = run_tap(tap_config(sim, event_types=["CONVERSATION_MESSAGE", org_types[0]]))
    assert missing.returncode == 1
    assert "are organization-scoped: set organization_id" in missing.stderr.splitlines()[-1]
    run = run_tap(
        tap_config(
            sim,
            event_types=["CONVERSATION_MESSAGE", *org_types],
            organization_id=sim.organization_id,
            file_content="none",
        )
    )
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sim.ground_truth()["events"]
    for event_type in org_types:
        assert truth[event_type], event_type
        got = {r["event_id"]: r["event"] for r in run.records["events"] if r["type"] == event_type}
        assert got == truth[event_type], event_type
        files = [r for r in run.records["log_files"] if r["event_type"] == event_type]
        assert files, event_type
        assert {(r["scope"], r["organization_id"]) for r in files} == {
            ("organization", sim.organization_id)
        }
    report = verify(sources.Archive("test", tables=run.records), anchor_from_state(run.state, "s"))
    assert report.status != "FAILED", [finding.line() for finding in report.findings]
