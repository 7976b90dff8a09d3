"""Kill storm: at least 20 SIGKILLs of a real tap process at random points (after N records,
N stdout bytes, N seconds, or as a new object appears in the storage folder), each time
resuming from the last complete STATE line, with clock advances between some runs; then a
final clean run. Nothing may be lost or corrupted (see ``storm.py`` and ``archive.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import verify

from .storm import run_storm

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

KILLS = 22


def test_kill_storm_loses_and_corrupts_nothing(tmp_path: Path) -> None:
    result = run_storm(seed=20261126, kills=KILLS, workdir=tmp_path)
    assert result.kill_count >= 20, result.report()
    assert result.verdict.ok, "\n" + result.report()
    assert result.verdict.stats.get("messages", 0) > 0
    assert result.verdict.stats.get("stored_objects_verified", 0) > 0
    # Issue #11: the union of every run's records, as target-jsonl would hold it, verifies:
    # raw files, events, attachments, and a manifest chain unbroken across the 20+ kills.
    archive = tmp_path / "jsonl"
    archive.mkdir()
    for run in result.runs:
        for stream, records in run.records.items():
            with (archive / f"{stream}.jsonl").open("a") as out:
                out.writelines(json.dumps(record) + "\n" for record in records)
    report = verify(sources.from_jsonl(archive))
    assert report.intact, report.text()
    assert report.counts["raw_verified"] == report.counts["log_files"] > 0
    assert all(c["unbroken"] and c["starts"] == 1 for c in report.chains.values())
