"""What the reference says a workspace holds, archived in full (coverage of compliance-api.md).

Each test: the simulator serves what the reference states (or what OpenAI may add), the tap
archives it, and nothing it served is missing from the records.
"""

from __future__ import annotations

import dataclasses

from chatgpt_compliance_simulator import Oddities, Quirks, Simulator
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
    served = {
        item["id"]: item
        for event_type, org in (("CONVERSATION_MESSAGE", False), ("AUTH_LOG", False), ("COSTS", True))
        for item in client.list_all(event_type, org=org)
    }
    records = {r["id"]: r for r in run.records["log_files"]}
    assert set(records) == set(served)
    assert {r["scope"] for r in records.values()} == {"workspace", "organization"}
    for file_id, item in served.items():
        assert "line_count" in item and "retention" in item
        assert records[file_id]["listing_item"] == item, file_id
