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
