"""Chain inputs of the log streams deselected in the catalog: honest archives verified.

``select: ['!log_files.file_name']`` (a field of the manifest's chain) in a Meltano project:
the tap chains the manifest record before the selection drops the column, and verify said
FAILED ("manifest record altered") on an honest archive. Now, like a deselected field of the
``files`` chain or a REST chain input (test_deselected_columns.py, test_attack_round13.py), it
is ``consistent, unproven``: no record can be hashed again, a limitation names the column, and
the links, positions and anchored heads are still checked (a record removed is a finding).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.evidence.verify import Report
from tests.support.simulators import running
from tests.support.tap import TapRun

from .test_attack_round13 import _deselected
from .test_directory_chain import Records, _catalog, _run, _verify_jsonl

CHAINED = ("file_name", "line_count")
"""Chained fields of the manifest (logfiles/chain.py) a user may deselect."""


@pytest.fixture(scope="module")
def run() -> TapRun:
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 43, "span_days": 0.3, "conversations": 3},
        rate_limits=False,
    )
    catalog = _catalog()
    for column in CHAINED:
        catalog = _deselected(catalog, column, {"log_files"})
    with running(config) as sim:
        made = _run(sim, catalog, None)
    rows = made.records["log_files"]
    assert len(rows) >= 2, "the run wrote one log file at most"
    assert not any(c in row for row in rows for c in CHAINED), "written"
    return made


def _records(run: TapRun) -> Records:
    return copy.deepcopy(dict(run.records))


def test_chained_manifest_fields_deselected_are_unproven_not_failed(
    run: TapRun, tmp_path: Path
) -> None:
    report = _verify_jsonl(_records(run), tmp_path, run.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    text = " ".join(report.limitations)
    for column in CHAINED:
        assert f"log_files.{column}" in text, text


def _failed(report: Report) -> None:
    assert report.status == "FAILED", report.text()


def test_a_manifest_record_removed_or_edited_behind_them_is_still_failed(
    run: TapRun, tmp_path: Path
) -> None:
    """The first record removed (the link after it names no record), the last removed (the
    anchored head), a record's end_time moved back (behind the one before it)."""
    for where in (0, -1):
        records = _records(run)
        del records["log_files"][where]
        _failed(_verify_jsonl(records, tmp_path, run.state))
    records = _records(run)
    rows = sorted(records["log_files"], key=lambda r: r["chain_seq"])
    rows[-1]["verified_sha256"] = "0" * 64
    _failed(_verify_jsonl(records, tmp_path, run.state))
