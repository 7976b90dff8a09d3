"""Fault schedules over odd but plausible log lines (issue #7): every line ends up somewhere.

On top of the faults of ``test_fault_schedules.py``, the simulator's ``Oddities`` add events
without ``event_id`` (absent or ``""``), messages whose ``message.id`` is ``""``, AUDIT_LOG events
inside CONVERSATION_MESSAGE files, lines that are not valid UTF-8 or not JSON objects, event ids
shared by two different events, and event types the tap has never heard of. Beyond the checks
of every schedule, ``archive._check_lines`` requires that every line of every listed file is the
``event`` of a record of the right stream (``messages`` for CONVERSATION_MESSAGE events,
``events`` for any other type, wherever delivered), or, when it is not a JSON object, that its
bytes are recoverable exactly from a record of its file (``unparsed_lines.content_base64``);
that keys are never empty, stable across runs, and never shared by two different records.

Kept apart from the plain schedules: these pin the issue #7 guarantees for odd input, which
the tap is gaining in parallel.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

#: Read by conftest.py: these schedules switch on the simulator's Oddities.
CHAOS_ODDITIES = True
SEEDS = [
    seed if seed in (1002, 1003) else pytest.param(seed, marks=pytest.mark.soak)
    for seed in range(1001, 1007)
]
"""Seeds 1002-1003 run in `make test`; 1001 (about 25 s) and 1004-1006 in `make soak`."""


@pytest.mark.parametrize("seed", SEEDS)
def test_oddity_schedule_keeps_every_line(seed: int, schedule_outcome) -> None:
    outcome = schedule_outcome(seed, CHAOS_ODDITIES)
    assert outcome.ok, "\n" + outcome.report()
