"""Fixtures of the simulator's own tests (the base fixtures come from the pytest11 plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chatgpt_compliance_simulator import Quirks, Simulator
from tests.support.simulators import START


@pytest.fixture
def make(simulator_factory: Callable[..., Simulator]) -> Callable[..., Simulator]:
    """simulator_factory with a fixed start time (determinism)."""

    def _make(**kw: Any) -> Simulator:
        kw.setdefault("start", START)
        return simulator_factory(**kw)

    return _make


@pytest.fixture
def plain(make: Callable[..., Simulator]) -> Simulator:
    """A simulator with every quirk off (no observed deviation; uploads never expire)."""
    return make(quirks=Quirks.none())
