"""Memory per log file is bounded (issue #17): the conversation fold keeps a few values per
conversation, not ~0.5 KB per event, with exactly the results of folding event by event."""

from __future__ import annotations

import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.logfiles import records as records_module
from tap_chatgpt_compliance.logfiles.records import ConversationFold, event_times
from tap_chatgpt_compliance.run.store import RunFile, SpillMap
from tap_chatgpt_compliance.run.sync import ConversationSeen
from tap_chatgpt_compliance.timeparse import to_iso
from tests.support.simulators import one_log_file_world
from tests.support.tap import tap_command, tap_config, tap_env


def reference_fold(events: list[dict[str, Any]], seen: dict[str, ConversationSeen]) -> list[str]:
    """Apply the events one by one in timestamp order (file order for ties): the definition."""
    ordered = sorted(
        enumerate(events), key=lambda item: (str(item[1].get("timestamp") or ""), item[0])
    )
    written: dict[str, None] = {}
    for _, event in ordered:
        conversation = event["conversation"]
        cid = str(conversation["id"])
        view = seen.setdefault(cid, ConversationSeen())
        view.add(
            conversation.get("title"),
            event_times(event)[2],
            None if view.created_at else to_iso(conversation.get("created_at")),
        )
        written[cid] = None
    return list(written)


def random_event(rng: random.Random, conversations: int) -> dict[str, Any]:
    stamps = [
        None,
        "",
        "not a time",
        *(f"2026-11-0{d}T1{h}:00:00Z" for d in (1, 2) for h in (0, 5)),
    ]
    return {
        "timestamp": rng.choice(stamps),
        "conversation": {
            "id": f"c{rng.randrange(conversations)}",
            "title": rng.choice([None, "", "alpha", "beta", "gamma", 7]),
            "created_at": rng.choice([None, "bad", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"]),
        },
        "actor": {},
    }


@pytest.mark.parametrize("seed", range(40))
def test_the_fold_gives_exactly_the_event_by_event_result(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(records_module, "RECORDS_BATCH", 1 + seed % 3)  # several batches per file
    events = [random_event(rng, rng.randint(1, 4)) for _ in range(rng.randint(1, 40))]
    before = {
        f"c{i}": ConversationSeen(
            rng.choice([None, "old"]),
            rng.choice([None, "2026-11-01T12:00:00+00:00", "2026-12-01T00:00:00+00:00"]),
            rng.choice([None, "2026-09-01T00:00:00+00:00"]),
        )
        for i in range(4)
        if rng.random() < 0.5
    }
    expected_seen = {
        k: ConversationSeen(v.title, v.title_at, v.created_at) for k, v in before.items()
    }
    expected_order = reference_fold(events, expected_seen)

    store: SpillMap[str, ConversationSeen] = SpillMap("conversations", RunFile(), 100)
    store.set_many(
        {k: ConversationSeen(v.title, v.title_at, v.created_at) for k, v in before.items()}
    )
    fold = ConversationFold("eclf_1")
    cut = rng.randint(0, len(events))
    fold.add(events[:cut])  # two segments
    fold.add(events[cut:])
    records = list(fold.records(store, "ws"))
    assert [r["id"] for r in records] == expected_order
    got = store.get_many(expected_order)
    for cid in expected_order:
        assert got[cid] == expected_seen[cid], (cid, got[cid], expected_seen[cid])


def peak_rss_of_a_run(sim: Simulator) -> tuple[int, str]:
    """Run the tap and return its peak RSS (VmHWM, bytes) and its stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            tap_command(tap_config(sim, file_content="none"), None, Path(tmp)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=tap_env(),
        )
        peak = 0
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.05)
        err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, err[-3000:]
    return peak, err


def one_big_file(conversations: int) -> Simulator:
    """A workspace whose messages all land in ONE log file (one user, one window)."""
    return Simulator(**one_log_file_world(conversations))


def test_memory_per_log_file_grows_little_with_its_lines() -> None:
    """~10k then ~60k lines in one file: peak RSS grows by well under 200 bytes per line (80 to
    130 measured, per conversation: 10 lines each here; 377 before the fix)."""
    peaks = {}
    for conversations in (1_000, 6_000):
        with one_big_file(conversations) as sim:
            peak, err = peak_rss_of_a_run(sim)
        assert "1 log files read" in err, err[-2000:]
        peaks[conversations] = peak
    lines = (6_000 - 1_000) * 10
    per_line = (peaks[6_000] - peaks[1_000]) / lines
    assert per_line < 200, f"{per_line:.0f} bytes per line ({peaks})"  # 377 before the fix
