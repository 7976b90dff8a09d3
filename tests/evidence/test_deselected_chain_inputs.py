"""Chain inputs of the log streams deselected in the catalog: honest archives verified.

``select: ['!log_files.file_name']`` (a field of the manifest's chain) in a Meltano project:
the tap chains the manifest record before the selection drops the column, and verify said
FAILED ("manifest record altered") on an honest archive; ``!messages.log_file_id`` and
``!events.log_file_id``: FAILED too ("log file None: manifest record missing"), the rows
could not be matched to their raw file. Now rows without the column are matched by their
event key to the raw line holding it. Now, like a deselected field of the
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
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tests.support.evidence import postgres_dsn
from tests.support.simulators import running
from tests.support.tap import TapRun

from .test_attack_round13 import _deselected
from .test_directory_chain import Records, _catalog, _run, _verify_jsonl
from .test_meltano_verify import load_postgres

CHAINED = ("file_name", "line_count")
"""Chained fields of the manifest (logfiles/chain.py) a user may deselect."""
EVENT_TYPES = ["CONVERSATION_MESSAGE", "AUTH_LOG"]
ROW_STREAMS = ("messages", "events")
"""Streams whose ``log_file_id`` is deselected."""


@pytest.fixture(scope="module")
def run() -> TapRun:
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 43, "span_days": 0.3, "conversations": 3},
        rate_limits=False,
    )
    catalog = _catalog()
    for column in CHAINED:
        catalog = _deselected(catalog, column, {"log_files"})
    catalog = _deselected(catalog, "log_file_id", set(ROW_STREAMS))
    with running(config) as sim:
        made = _run(sim, catalog, None, EVENT_TYPES)
    rows = made.records["log_files"]
    assert len(rows) >= 2, "the run wrote one log file at most"
    assert not any(c in row for row in rows for c in CHAINED), "written"
    for stream in ROW_STREAMS:
        assert made.records[stream], stream
        assert not any("log_file_id" in row for row in made.records[stream]), stream
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
    for stream in ROW_STREAMS:
        assert f"{stream}.log_file_id" in text, text
    assert report.counts["rows_proven"] == report.counts["rows_checked"], report.text()


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


def test_a_message_removed_edited_or_made_up_behind_them_is_still_failed(
    run: TapRun, tmp_path: Path
) -> None:
    """Rows matched by their event key: a message deleted (its raw line has no row), a
    column edited, a made-up event (no raw line has its key), log_file_id on one row only."""
    records = _records(run)
    gone = records["messages"].pop(0)
    report = _verify_jsonl(records, tmp_path, run.state)
    _failed(report)
    assert any(gone["event_id"] in f.line() for f in report.findings), report.text()
    records = _records(run)
    records["messages"][0]["content_text"] = "edited"
    _failed(_verify_jsonl(records, tmp_path, run.state))
    records = _records(run)
    made_up = {**copy.deepcopy(records["events"][0]), "event_id": "evt-made-up"}
    records["events"].append(made_up)
    _failed(_verify_jsonl(records, tmp_path, run.state))
    records = _records(run)
    first_file = min(records["log_files"], key=lambda r: r["chain_seq"])["id"]
    records["messages"][-1]["log_file_id"] = first_file
    _failed(_verify_jsonl(records, tmp_path, run.state))


@pytest.mark.e2e
def test_postgres_deselected_chain_inputs_are_unproven_not_failed(
    run: TapRun, pg_database: dict[str, str], tmp_path: Path
) -> None:
    """target-postgres creates no column for them: the same verdict, no finding."""
    load = load_postgres(run.stdout, pg_database, tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    report = verify(
        sources.from_postgres(postgres_dsn(pg_database), "acme"),
        anchor_from_state(run.state, "state"),
    )
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "messages.log_file_id" in " ".join(report.limitations), report.text()
