"""Pytest fixtures ``simulator`` and ``simulator_factory`` (registered via ``pytest11``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .config import SimulatorConfig
from .server import Simulator

#: The small default deployment of the ``simulator`` fixture.
DEFAULT_FIXTURE_CONFIG: dict[str, Any] = {
    "seed": 1234,
    "users": 4,
    "conversations": 12,
    "messages_per_conversation": (2, 6),
    "span_days": 2.0,
}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """Provide a started simulator with a small workspace; stopped after the test."""
    sim = Simulator(SimulatorConfig(**DEFAULT_FIXTURE_CONFIG)).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    """``simulator_factory(**overrides) -> Simulator`` (started); all stopped at teardown.

    Overrides apply on top of the ``simulator`` fixture's small defaults; pass
    ``config=SimulatorConfig(...)`` to start from a full configuration instead.
    """
    started: list[Simulator] = []

    def make(config: SimulatorConfig | None = None, **overrides: Any) -> Simulator:
        base = config or SimulatorConfig(**DEFAULT_FIXTURE_CONFIG)
        sim = Simulator(base, **overrides).start()
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in started:
            sim.stop()
