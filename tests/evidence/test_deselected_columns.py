"""Columns deselected in the catalog (``select: ['!users.email']``): honest archives verified.

Archives come from real tap runs against the simulator with a catalog that deselects columns,
in target-jsonl's layout and in PostgreSQL (target-postgres creates no column for a
deselected property). What was found: every such archive was ``FAILED`` — a ``column``
finding per row whose derivation had a value (``users.email``, ``messages.content_json``,
``conversations.title``, ``memories.entry_count``), a ``chain`` finding per files record with
a chained field deselected (``files.name``), and the REST link checks with ``chain_seq``
deselected. Now a column in no row of its stream is "not archived" (a limitation naming it);
the verdict is ``intact`` when nothing the production renders or verify needs is missing, else
``consistent, unproven``. A column absent from some rows only stays a finding, and a row
deleted or a kept value edited is still FAILED.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatgpt_compliance_simulator import SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import (
    NOT_ARCHIVED,
    Report,
    anchor_from_state,
    verify,
)
from tests.support.evidence import postgres_dsn, temporary_database
from tests.support.simulators import running
from tests.support.tap import TapRun

from .test_attack_round13 import _deselected
from .test_directory_chain import Records, _catalog, _lines, _run, _verify_jsonl
from .test_meltano_verify import load_postgres

ORDINARY = {
    "messages": ["content_text"],
    "conversations": ["title"],
    "users": ["email"],
    "memories": ["entry_count"],
    "files": ["status_reason"],
    "log_files": ["processed_at"],
}
"""Columns derived from what is kept and proven, which no production renders from."""
NAMED = ("messages.content_text", "conversations.title", "users.email", "memories.entry_count")
"""Those of them with a value in the simulator's workspace (named as not archived)."""
INTEGRITY = {"files": ["name"], "users": ["chain_seq"]}
"""Columns verify proves by (files.name: a chained field; users.chain_seq: the positions).
(``messages.event``, which the production renders from, is stripped below: the shipped
target-postgres stream maps read ``messages.event`` and ``content_json``, so a run that
deselects them does not load: README, troubleshooting.)"""


def _select(catalog: dict[str, Any], columns: dict[str, list[str]]) -> dict[str, Any]:
    for stream, names in columns.items():
        for name in names:
            catalog = _deselected(catalog, name, {stream})
    return catalog


class Runs:
    def __init__(self, ordinary: TapRun, integrity: TapRun) -> None:
        self.ordinary = ordinary
        self.integrity = integrity


@pytest.fixture(scope="module")
def runs() -> Runs:
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.3, "conversations": 4},
        rate_limits=False,
    )
    with running(config) as sim:
        catalog = _catalog()
        made = Runs(
            _run(sim, _select(catalog, ORDINARY), None),
            _run(sim, _select(catalog, INTEGRITY), None),
        )
    for run, columns in ((made.ordinary, ORDINARY), (made.integrity, INTEGRITY)):
        for stream, names in columns.items():
            rows = run.records[stream]
            assert rows, f"the run wrote no {stream} row"
            assert not any(name in row for row in rows for name in names), "written"
    return made


def _records(run: TapRun) -> Records:
    return copy.deepcopy(dict(run.records))


def _not_archived(report: Report) -> list[str]:
    return [name for name, why in report.unproven_columns.items() if why == NOT_ARCHIVED]


# --------------------------------------------------------------------------- honest archives


def test_ordinary_columns_deselected_verify_intact_and_are_named(
    runs: Runs, tmp_path: Path
) -> None:
    """Was FAILED (a column finding per row). Every other column is proven from the raw
    lines and raw items, and the production renders from those: intact, the columns named."""
    report = _verify_jsonl(_records(runs.ordinary), tmp_path, runs.ordinary.state)
    assert report.status == "intact", report.text()
    for name in NAMED:
        assert name in _not_archived(report), report.text()
        assert any("not archived" in text and name in text for text in report.limitations), (
            report.limitations
        )
    assert report.counts["events_found"] == report.counts["events_in_raw"], report.text()


def test_integrity_columns_deselected_are_unproven_not_failed(runs: Runs, tmp_path: Path) -> None:
    """files.name (a chained field: no files record can be hashed again) and users.chain_seq
    (positions from the links): was FAILED; now ``consistent, unproven``, each named."""
    report = _verify_jsonl(_records(runs.integrity), tmp_path, runs.integrity.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert report.unproven, report.text()
    text = " ".join(report.limitations)
    assert "files.name" in text, text
    assert "no users row holds chain_seq" in text, text


# --------------------------------------------------------------------------- tampering


def _message_with(records: Records, column: str) -> dict[str, Any]:
    return next(row for row in records["messages"] if row.get(column))


def test_a_deleted_row_is_still_failed(runs: Runs, tmp_path: Path) -> None:
    """Behind either kind of deselection a deleted message, user or attachment record is
    still a finding (raw lines, chain links and positions)."""
    for run, stream in (
        (runs.ordinary, "messages"),
        (runs.ordinary, "users"),
        (runs.integrity, "users"),
        (runs.integrity, "files"),
    ):
        records = _records(run)
        del records[stream][1 if stream == "users" else 0]
        report = _verify_jsonl(records, tmp_path, run.state)
        assert report.status == "FAILED", (stream, report.text())


def test_a_kept_column_edited_is_still_failed(runs: Runs, tmp_path: Path) -> None:
    """A value edited in a column the archive keeps, beside the deselected ones."""
    records = _records(runs.ordinary)
    row = records["messages"][0]
    row["actor_user_id"] = "user-someone-else"
    report = _verify_jsonl(records, tmp_path, runs.ordinary.state)
    assert report.status == "FAILED", report.text()
    assert any("column actor_user_id" in line for line in _lines(report)), _lines(report)
    records = _records(runs.integrity)
    row = records["users"][1]
    row["raw_item"] = json.dumps({**json.loads(row["raw_item"]), "email": "x@example.com"})
    report = _verify_jsonl(records, tmp_path, runs.integrity.state)
    assert report.status == "FAILED", report.text()


def test_a_column_absent_from_some_rows_only_is_a_finding(runs: Runs, tmp_path: Path) -> None:
    """content_json kept by other rows, removed from one (or nulled): removed, a finding;
    likewise a users row without its email while the others hold it."""
    for change in ("drop", "null"):
        records = _records(runs.integrity)
        row = _message_with(records, "content_text")
        if change == "drop":
            del row["content_text"]
        else:
            row["content_text"] = None
        user = records["users"][0]
        del user["email"]
        report = _verify_jsonl(records, tmp_path, runs.integrity.state)
        assert report.status == "FAILED", report.text()
        lines = _lines(report)
        assert any(f"{row['event_id']}" in x and "column content_text" in x for x in lines)
        assert any("column email" in x for x in lines), lines


def test_a_column_stripped_from_every_row_is_named_never_silent(runs: Runs, tmp_path: Path) -> None:
    """messages.event removed from every row (as deselected, or by an attacker): was FAILED;
    named, and never intact (the production renders from it); a message deleted beside it is
    still FAILED (its raw line has no row). With a state naming the run's selected columns
    (round 17), the column is a finding: the run selected it."""
    records = _records(runs.ordinary)
    for row in records["messages"]:
        del row["event"]
    report = _verify_jsonl(records, tmp_path, runs.ordinary.state)
    assert report.status == "FAILED", report.text()
    assert any("messages column event" in line for line in _lines(report)), report.text()
    state = copy.deepcopy(runs.ordinary.state or {})
    state["bookmarks"]["log_files"].pop("selected_columns")  # a state of an older tap
    report = _verify_jsonl(records, tmp_path, state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "messages.event" in str(report.unproven), report.text()
    assert "messages.event" in _not_archived(report), report.text()
    del records["messages"][0]
    report = _verify_jsonl(records, tmp_path, runs.ordinary.state)
    assert report.status == "FAILED", report.text()


# --------------------------------------------------------------------------- PostgreSQL


def _pg_verify(run: TapRun, pg_params: dict[str, str], tmp_path: Path, *sql: str) -> Report:
    with temporary_database(pg_params) as database:
        load = load_postgres(run.stdout, database, tmp_path)
        assert load.returncode == 0, load.stderr[-3000:]
        with psycopg.connect(**database, autocommit=True) as conn:
            for statement in sql:
                conn.execute(statement)
        archive = sources.from_postgres(postgres_dsn(database), "acme")
        return verify(archive, anchor_from_state(run.state or {}, "state"))


@pytest.mark.e2e
def test_postgres_deselected_columns_are_not_failed(
    runs: Runs, pg_params: dict[str, str], tmp_path: Path
) -> None:
    """target-postgres creates no column for them: intact (ordinary), unproven (integrity);
    a message deleted, or a column nulled in one row of a table that has it: FAILED."""
    report = _pg_verify(runs.ordinary, pg_params, tmp_path)
    assert report.status == "intact", report.text()
    for name in NAMED:
        assert name in _not_archived(report), report.text()
    report = _pg_verify(runs.integrity, pg_params, tmp_path)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert any("files.name" in text for text in report.limitations), report.limitations
    deleted = "DELETE FROM acme.messages WHERE id = (SELECT min(id) FROM acme.messages)"
    report = _pg_verify(runs.ordinary, pg_params, tmp_path, deleted)
    assert report.status == "FAILED", report.text()
    nulled = (
        "UPDATE acme.users SET name = NULL WHERE id = (SELECT min(id) FROM acme.users "
        "WHERE name IS NOT NULL)"
    )
    report = _pg_verify(runs.integrity, pg_params, tmp_path, nulled)
    assert report.status == "FAILED", report.text()
