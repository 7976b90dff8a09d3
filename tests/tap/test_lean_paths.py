"""Issue 20 (P1 throughput): the run's cheaper paths give exactly what the plain ones give."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

import pytest
from singer_sdk.singerlib import StateMessage

from tap_chatgpt_compliance import timeparse
from tap_chatgpt_compliance.run.collector import YOUNG_THRESHOLD, lean_collector
from tap_chatgpt_compliance.run.output import BackgroundWrites, LineLimitedWriter

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


def test_background_writes_keep_order_and_drain(tmp_path: Path) -> None:
    path = tmp_path / "out"
    with path.open("wb") as out:
        writes = BackgroundWrites()
        chunks = [f"line {n} \u00e9\n" * (n % 7 + 1) for n in range(200)]
        for chunk in chunks:
            writes.put(out.fileno(), chunk)
        writes.drain()  # every chunk is in the file when drain returns
        assert path.read_bytes() == "".join(chunks).encode("utf-8")


def test_background_write_failure_is_raised_and_nothing_after_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out"
    with path.open("wb") as out:
        writes = BackgroundWrites()
        writes.put(out.fileno(), "first\n")
        writes.drain()
        read_end, write_end = os.pipe()
        os.close(read_end)  # a target that is gone: EPIPE
        writes.put(write_end, "lost\n")
        with pytest.raises(BrokenPipeError):
            writes.drain()
        with pytest.raises(BrokenPipeError):  # sticky: no later chunk is written
            writes.put(out.fileno(), "after\n")
        with pytest.raises(BrokenPipeError):
            writes.drain()
        os.close(write_end)
    assert path.read_bytes() == b"first\n"


def test_writer_state_waits_for_background_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A STATE line is written only once every record chunk before it is in the file."""
    path = tmp_path / "out"
    with path.open("w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        writer = LineLimitedWriter()
        for n in range(3000):
            writer.write_record("messages", {"id": str(n), "text": "\u00e9" * 50})
        writer.write_message(StateMessage(value={"bookmarks": {"n": 3000}}))
        lines = path.read_text().splitlines()
    assert len(lines) == 3001
    assert [json.loads(line)["record"]["id"] for line in lines[:-1]] == [
        str(n) for n in range(3000)
    ]
    assert json.loads(lines[-1]) == {"type": "STATE", "value": {"bookmarks": {"n": 3000}}}
    assert writer.last_state_line == lines[-1]
