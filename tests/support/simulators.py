"""Simulators for tests: started for a block or a test module, always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chatgpt_compliance_simulator import Simulator


class Simulators:
    """``make(config_or_kwargs) -> Simulator`` (started); :meth:`stop` stops every one."""

    def __init__(self) -> None:
        self.started: list[Simulator] = []

    def __call__(self, *args: Any, **kw: Any) -> Simulator:
        sim = Simulator(*args, **kw).start()
        self.started.append(sim)
        return sim

    def stop(self) -> None:
        """Stop every simulator started."""
        while self.started:
            self.started.pop().stop()


@contextmanager
def running(*args: Any, **kw: Any) -> Iterator[Simulator]:
    """``with running(config) as sim:`` a started simulator, stopped at the end of the block."""
    sim = Simulator(*args, **kw).start()
    try:
        yield sim
    finally:
        sim.stop()
