"""Kill storm: at least 20 SIGKILLs of a real tap process at random points (after N records,
N stdout bytes, N seconds, or as a new object appears in the storage folder), each time
resuming from the last complete STATE line, with clock advances between some runs; then a
final clean run. Nothing may be lost or corrupted (see ``storm.py`` and ``archive.py``).
"""

from __future__ import annotations

import pytest

from .storm import run_storm

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

KILLS = 22


def test_kill_storm_loses_and_corrupts_nothing() -> None:
    result = run_storm(seed=20261126, kills=KILLS)
    assert result.kill_count >= 20, result.report()
    assert result.verdict.ok, "\n" + result.report()
    assert result.verdict.stats.get("messages", 0) > 0
    assert result.verdict.stats.get("stored_objects_verified", 0) > 0
