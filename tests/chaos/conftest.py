"""Run the selected fault schedules a few at a time, then let each test assert its own outcome.

Each schedule starts its own simulator (threads of this process, free ports) and runs real tap
processes; the tap's start-up (~1.5 s of imports) dominates, so two schedules in flight keep
both cores busy. ``CHAOS_JOBS`` (default 2) sets how many. Only the schedules of the tests
actually selected run (``-k``, ``--deselect`` and node ids work as usual).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from .schedule import Outcome, default_start, generate, run_schedule

OutcomeKey = tuple[int, bool]


def _selected(session: pytest.Session) -> list[OutcomeKey]:
    keys: list[OutcomeKey] = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        oddities = getattr(getattr(item, "module", None), "CHAOS_ODDITIES", None)
        if callspec is None or oddities is None or "seed" not in callspec.params:
            continue
        keys.append((int(callspec.params["seed"]), bool(oddities)))
    return keys


@pytest.fixture(scope="session")
def chaos_start() -> datetime:
    """One simulated start for the whole session (replay commands print it)."""
    return default_start()


@pytest.fixture(scope="session")
def schedule_outcome(
    request: pytest.FixtureRequest, chaos_start: datetime
) -> Callable[[int, bool], Outcome]:
    """``schedule_outcome(seed, oddities)``: the outcome of that schedule (run on first use)."""
    outcomes: dict[OutcomeKey, Outcome] = {}
    pending = [key for key in dict.fromkeys(_selected(request.session))]
    jobs = max(1, int(os.environ.get("CHAOS_JOBS", "2")))

    def run(key: OutcomeKey) -> Outcome:
        seed, oddities = key
        return run_schedule(generate(seed, oddities=oddities), start=chaos_start)

    def get(seed: int, oddities: bool = False) -> Outcome:
        key = (seed, oddities)
        if key not in outcomes:
            # run this one and the next few selected ones together
            batch = [key, *[k for k in pending if k != key and k not in outcomes][: jobs - 1]]
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for k, outcome in zip(batch, pool.map(run, batch), strict=True):
                    outcomes[k] = outcome
        return outcomes[key]

    return get
