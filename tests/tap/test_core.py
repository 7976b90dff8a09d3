"""The SDK's built-in tap tests, run against the simulator over loopback."""

from __future__ import annotations

import json
import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from chatgpt_compliance_simulator import Oddities, Simulator, SimulatorConfig
from tap_chatgpt_compliance.tap import TapChatGPTCompliance
from tests.support.servers import free_port

START = datetime.now(timezone.utc).replace(microsecond=0)
# Odd lines on, so that every stream (unparsed_lines included) has records to check.
SIMULATOR = SimulatorConfig(
    seed=99,
    tenants=1,
    users=4,
    conversations=8,
    span_days=1.5,
    start=START,
    port=free_port(),
    oddities=Oddities(
        invalid_utf8_lines=1,
        non_object_lines=2,
        missing_event_id_rate=0.05,
        foreign_events_rate=0.05,
    ),
)
# The simulator derives tenant ids and keys from the seed: read them from a throwaway instance.
_probe = Simulator(SIMULATOR.with_overrides(port=0))
CONFIG = {
    "api_key": _probe.api_key,
    "workspace_id": _probe.workspace_id,
    "organization_id": _probe.organization_id,
    "api_url": f"http://127.0.0.1:{SIMULATOR.port}/v1",
    "start_date": (START - timedelta(days=2)).isoformat(),
    "event_types": ["CONVERSATION_MESSAGE", "AUDIT_LOG"],
    "max_inline_file_bytes": 2048,
}


def _every_stream_selected() -> dict:
    """Return the discovered catalog with every stream selected (most are off by default).

    The SDK's dry run forces each stream selected only after the stream maps took their
    schemas from the catalog: a stream off by default would be read with an empty selected
    schema, so the catalog selects them all from the start. A property of any type (``{}``:
    a GPT's ``tools``, a canvas version's ``content``) is left out: the SDK's test factory
    cannot tell whether such a schema is a date ("Could not detect type of replication key").
    """
    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    catalog = json.loads(json.dumps(tap.catalog_dict))
    for stream in catalog["streams"]:
        properties = stream["schema"]["properties"]
        for entry in stream["metadata"]:
            crumb = entry["breadcrumb"]
            if crumb == []:
                entry["metadata"]["selected"] = True
            elif not {"type", "anyOf"} & properties[crumb[-1]].keys():
                entry["metadata"]["selected"] = False
    return t.cast("dict", catalog)


_BaseTests = get_tap_test_class(
    TapChatGPTCompliance,
    config=CONFIG,
    catalog=_every_stream_selected(),
    suite_config=SuiteConfig(max_records_limit=500),
)


class TestTapChatGPTCompliance(_BaseTests):  # type: ignore[misc,valid-type]
    """Standard tap tests: discovery, sync, schema conformance, attributes."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _simulator(cls):
        with Simulator(SIMULATOR) as sim:
            assert sim.workspace_id == CONFIG["workspace_id"]
            yield sim
