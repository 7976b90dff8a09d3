"""``messages.log_file_id`` deselected in an archive kept without raw bytes (file_content: none).

A row without the column is placed by the kept raw line holding its event; with no raw line
kept, every message row was "log file None: manifest record missing" and the honest archive
FAILED. Such rows are now untraced (checked against their own event) and named as proven by
nothing; a row whose column was removed while other rows hold it, or one naming a log file the
manifest lacks, is still a finding.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tests.support.simulators import running
from tests.support.tap import TapRun

from .test_attack_round13 import _deselected
from .test_directory_chain import _catalog, _lines, _run, _verify_jsonl


@pytest.fixture(scope="module")
def runs() -> dict[str, TapRun]:
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.3, "conversations": 4},
        rate_limits=False,
    )
    catalog = _catalog()
    with running(config) as sim:
        return {
            "deselected": _run(
                sim, _deselected(catalog, "log_file_id", {"messages"}), None, file_content="none"
            ),
            "kept": _run(sim, catalog, None, file_content="none"),
        }


def _records(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(dict(run.records))


def test_an_honest_raw_less_archive_without_log_file_id_is_unproven_not_failed(
    runs: dict[str, TapRun], tmp_path: Path
) -> None:
    run = runs["deselected"]
    assert run.records["messages"]
    assert not any("log_file_id" in row for row in run.records["messages"])
    report = _verify_jsonl(_records(run), tmp_path, run.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    named = {item for check, item in report.unproven_rows if check == "raw"}
    for row in run.records["messages"]:
        assert f"messages event {row['event_id']} (no log_file_id)" in named


def test_a_log_file_id_forged_or_removed_is_still_a_finding(
    runs: dict[str, TapRun], tmp_path: Path
) -> None:
    records = _records(runs["deselected"])
    records["messages"][0]["log_file_id"] = "eclf_forged"
    report = _verify_jsonl(records, tmp_path, runs["deselected"].state)
    assert report.status == "FAILED", report.text()
    assert any("eclf_forged" in line for line in _lines(report)), _lines(report)
    records = _records(runs["kept"])
    del records["messages"][0]["log_file_id"]
    report = _verify_jsonl(records, tmp_path, runs["kept"].state)
    assert report.status == "FAILED", report.text()
