"""Issue 20 (P1 throughput): the run's cheaper paths give exactly what the plain ones give."""

from __future__ import annotations

import gc

from tap_chatgpt_compliance import timeparse
from tap_chatgpt_compliance.run.collector import YOUNG_THRESHOLD, lean_collector

TIMES = [
    "2026-12-03T02:26:01.325784Z",
    "2026-12-03T02:26:01Z",
    "2026-12-03T02:26:01.325784+02:00",
    " 2026-12-03T02:26:01Z ",
    "2026-02-30T02:26:01Z",  # not a date
    "2026-12-03T25:26:01.000000Z",
    "2026-12-03",
    "",
    "not a time",
    "2026-12-03T02:26:01.325784z",
]


def test_collector_is_lean_during_the_sync_and_restored_after() -> None:
    before = gc.get_threshold()
    with lean_collector():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_collector_restored_when_the_sync_fails() -> None:
    before = gc.get_threshold()
    try:
        with lean_collector():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_to_iso_memo_gives_what_parsing_gives() -> None:
    values = [*TIMES, 1764728761, 1764728761.5, None, True, *TIMES]
    expected = [timeparse._to_iso(value) for value in values]
    timeparse._ISO_MEMO.clear()
    assert [timeparse.to_iso(value) for value in values] == expected
    assert [timeparse.to_iso(value) for value in values] == expected  # from the memo


def test_to_iso_memo_stays_small() -> None:
    timeparse._ISO_MEMO.clear()
    for second in range(3 * timeparse.ISO_MEMO_SIZE):
        minute, sec = divmod(second, 60)
        value = f"2026-12-03T0{minute // 60}:{minute % 60:02d}:{sec:02d}Z"
        assert timeparse.to_iso(value) == timeparse._to_iso(value)
        assert len(timeparse._ISO_MEMO) <= timeparse.ISO_MEMO_SIZE
