"""Every simulator a tap test starts must end the test having received GET requests only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatgpt_compliance_simulator import Simulator


@pytest.fixture(autouse=True)
def _read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    started: list[Simulator] = []
    original_start = Simulator.start

    def start(self: Simulator) -> Simulator:
        started.append(self)
        return original_start(self)

    monkeypatch.setattr(Simulator, "start", start)
    yield
    for sim in started:
        assert sim.non_get_count == 0, "the tap sent a request other than GET"


def pytest_collection_modifyitems(config, items):
    """Leave out the SDK's record-vs-selected-schema test for streams off by default.

    Issue 21's workspace-object streams are not selected by default, so their transformed
    (selected) schema is empty while the SDK's stream tests still read records: that built-in
    comparison cannot apply. tests/tap/test_workspace_objects.py checks them selected.
    """
    from tap_chatgpt_compliance.tap import TapChatGPTCompliance

    off = {
        s.name
        for s in TapChatGPTCompliance(
            config={"workspace_id": "0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51", "api_key": "k"},
            validate_config=False,
        ).streams.values()
        if not s.selected_by_default
    }
    name = "test_tap_stream_record_schema_matches_transformed_catalog"
    items[:] = [
        i for i in items if not (i.name.startswith(name) and i.name[len(name) + 1 : -1] in off)
    ]
