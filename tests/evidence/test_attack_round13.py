"""Attack round 13: the REST streams' chains (users, gpts, projects, the workspace objects).

Archives come from real tap runs against the simulator (test_directory_chain.py's runs and
helpers), in target-jsonl's layout, in memory as a database reads back, and in PostgreSQL
(target-postgres). What was found:

- a chained input (``raw_item``, ``workspace_id``, ``chain_previous_key``) deselected in the
  catalog: the tap links each row before the selection drops the column, and verify said
  FAILED on an honest archive ("altered", "not the JSON text of an item", "untraced"); with
  ``chain_hash`` deselected, FAILED too although every link can be recomputed;
- ``chain_seq`` and ``chain_version`` read back as NUMERIC (``Decimal``): an honest archive
  was FAILED (chain_seq read as 0, "chain_version Decimal('1') is not an integer"); a forged
  fraction was a finding only by its side effects.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.directory_rows import derive_row as derive_directory_row
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export_findings import Concerns
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import rest_chain
from tests.support.evidence import postgres_dsn, temporary_database
from tests.support.tap import TapRun

from .test_directory_chain import Records, Runs, _both, _lines, _pg, _run, _verify_jsonl
from .test_directory_chain import pg_both as pg_both  # the module's fixtures
from .test_directory_chain import runs as runs
from .test_meltano_verify import load_postgres


def _deselected(catalog: dict[str, Any], column: str, streams: set[str]) -> dict[str, Any]:
    """Return the catalog with ``column`` of ``streams`` deselected (as a user may)."""
    out = copy.deepcopy(catalog)
    for stream in out["streams"]:
        if stream["tap_stream_id"] not in streams:
            continue
        entries = [e for e in stream["metadata"] if e["breadcrumb"] == ["properties", column]]
        if not entries:
            entries = [{"breadcrumb": ["properties", column], "metadata": {}}]
            stream["metadata"].append(entries[0])
        for entry in entries:
            entry["metadata"]["selected"] = False
    return out


DESELECTED = ("users", "memories")


@pytest.fixture(scope="module")
def deselected(runs: Runs) -> dict[str, TapRun]:
    """One run per chained input deselected in users and memories (a fresh chain each)."""
    return {
        column: _run(runs.sim, _deselected(runs.catalog, column, set(DESELECTED)), None)
        for column in ("raw_item", "workspace_id", rest_chain.PREVIOUS_KEY, "chain_hash")
    }


def _records(run: TapRun) -> Records:
    return copy.deepcopy(dict(run.records))


def _unproven_not_failed(report: Report, *streams: str) -> None:
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert report.unproven, report.text()
    for stream in streams:
        assert any(
            f"chained {stream} rows lack a chained input" in text for text in report.limitations
        ), report.limitations


# --------------------------------------------------------------------------- deselected inputs


@pytest.mark.parametrize("column", ["raw_item", "workspace_id", rest_chain.PREVIOUS_KEY])
def test_a_chained_input_deselected_is_unproven_not_failed(
    deselected: dict[str, TapRun], tmp_path: Path, column: str
) -> None:
    """An honest archive whose users and memories lack a chained input: the rows cannot be
    hashed again; a limitation and ``consistent, unproven``, never FAILED (nor intact)."""
    run = deselected[column]
    assert all(column not in row for row in run.records["users"]), "the column was written"
    report = _verify_jsonl(_records(run), tmp_path, run.state)
    _unproven_not_failed(report, *DESELECTED)


def test_raw_item_stripped_and_a_column_edited_is_never_intact(runs: Runs, tmp_path: Path) -> None:
    """The attacker's use of the limitation: raw_item removed from a users row whose email is
    then edited: its content is proven by nothing, so the verdict is not intact."""
    records = _both(runs)
    row = records["users"][2]
    del row["raw_item"]
    row["email"] = "someone.else@example.com"
    report = _verify_jsonl(records, tmp_path, runs.second.state)
    assert report.status != "intact", report.text()
    assert report.unproven, report.text()
    assert "users" in report.unproven, report.text()


def test_chain_hash_deselected_is_recomputed_and_an_edit_is_a_finding(
    deselected: dict[str, TapRun], tmp_path: Path
) -> None:
    """Without chain_hash, each link is recomputed from the row's inputs and proven by the
    next row's chain_previous or the state's head: intact; a raw_item edited is a finding."""
    run = deselected["chain_hash"]
    assert all("chain_hash" not in row for row in run.records["users"])
    report = _verify_jsonl(_records(run), tmp_path, run.state)
    assert report.status == "intact", report.text()
    for where in (0, -1):
        records = _records(run)
        row = records["users"][where]
        item = {**json.loads(row["raw_item"]), "email": "someone.else@example.com"}
        row["raw_item"] = json.dumps(item, sort_keys=True, separators=(",", ":"))
        row["item"], row["email"] = item, item["email"]
        report = _verify_jsonl(records, tmp_path, run.state)
        assert report.status == "FAILED", report.text()
        assert any(line.startswith(("chain", "anchor")) for line in _lines(report)), _lines(report)


@pytest.mark.e2e
def test_postgres_raw_item_deselected_is_unproven_not_failed(
    deselected: dict[str, TapRun],
    pg_params: dict[str, str],
    tmp_path: Path,
) -> None:
    """The same archive loaded by target-postgres (no raw_item column at all)."""
    run = deselected["raw_item"]
    with temporary_database(pg_params) as database:
        load = load_postgres(run.stdout, database, tmp_path)
        assert load.returncode == 0, load.stderr[-3000:]
        archive = sources.from_postgres(postgres_dsn(database), "acme")
        report = verify(archive, anchor_from_state(run.state or {}, "state"))
    _unproven_not_failed(report, *DESELECTED)


# --------------------------------------------------------------------------- NUMERIC positions


def _numeric(records: Records) -> Records:
    """The records as a NUMERIC column reads back (psycopg: Decimal)."""
    out = copy.deepcopy(records)
    for stream in rest_chain.KEYS:
        for row in out.get(stream, []):
            row["chain_seq"] = Decimal(f"{row['chain_seq']}.000")
            row["chain_version"] = Decimal(row["chain_version"])
    return out


def test_numeric_rest_chain_positions_are_the_same_numbers(runs: Runs) -> None:
    """chain_seq and chain_version as Decimal: intact; a forged fraction is a finding that
    names the position."""
    anchor = anchor_from_state(runs.second.state or {}, "state")
    tables = _numeric(_both(runs))
    report = verify(sources.Archive("postgres-like", tables, upserts=False), anchor)
    assert report.status == "intact", report.text()
    row = tables["users"][-1]
    row["chain_seq"] -= Decimal("0.5")
    report = verify(sources.Archive("postgres-like", tables, upserts=False), anchor)
    assert report.status == "FAILED", report.text()
    assert any(
        line.startswith(f"chain: users {row['id']}") and "not a whole number" in line
        for line in _lines(report)
    ), _lines(report)


NUMERIC_COLUMNS = "; ".join(
    f"ALTER TABLE S.{stream} ALTER COLUMN {column} TYPE NUMERIC"
    for stream in ("users", "gpts", "memories")
    for column in ("chain_seq", "chain_version")
)


@pytest.mark.e2e
def test_postgres_numeric_chain_columns_verify_intact_and_a_fraction_fails(
    pg_both: str, runs: Runs
) -> None:
    """The chain columns altered to NUMERIC (a DBA's migration): intact; chain_seq 2.5: FAILED."""
    report = _pg(pg_both, runs, NUMERIC_COLUMNS)
    assert report.status == "intact", report.text()
    forged = (
        "UPDATE S.users SET chain_seq = chain_seq - 0.5 "
        "WHERE chain_seq = (SELECT max(chain_seq) FROM S.users)"
    )
    report = _pg(pg_both, runs, NUMERIC_COLUMNS, forged)
    assert report.status == "FAILED", report.text()
    assert any("not a whole number" in line for line in _lines(report)), _lines(report)


# --------------------------------------------------------------------------- rows before the chain


def _forged_user(records: Records) -> dict[str, Any]:
    """A users row of a user that does not exist, consistent with its raw_item, no chain."""
    model = records["users"][0]
    item = {**json.loads(model["raw_item"]), "id": "user-forged", "email": "forged@x.com"}
    return derive_directory_row("users", item, model["workspace_id"])


def test_a_forged_row_placed_before_the_chain_is_never_intact(runs: Runs, tmp_path: Path) -> None:
    """A users row without chain columns put before the first chained row reads as one of an
    older tap: no finding, but it was ``intact``; it is proven by nothing: unproven."""
    records = _both(runs)
    records["users"].insert(0, _forged_user(records))
    report = _verify_jsonl(records, tmp_path, runs.second.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "(users) were written before their chain" in str(report.unproven), report.text()


def test_chain_columns_removed_from_every_row_are_never_intact(runs: Runs, tmp_path: Path) -> None:
    """Every users row stripped of its chain columns, one deleted, anchored by a state that
    holds no users head nor selected columns (a state of an older tap): was ``intact``; now
    unproven. With the state's users head: an anchor finding (as before); with its selected
    columns (round 17): a column finding."""
    records = _both(runs)
    records["users"] = [rest_chain.without_chain(row) for row in records["users"]]
    del records["users"][-1]
    state = copy.deepcopy(runs.second.state or {})
    report = _verify_jsonl(records, tmp_path, state)
    assert report.status == "FAILED", report.text()
    assert any(line.startswith("anchor: chain users") for line in _lines(report))
    state["bookmarks"].pop("users")
    report = _verify_jsonl(records, tmp_path, state)  # its selected columns name chain_seq
    assert any(line.startswith("column: users column chain_seq") for line in _lines(report))
    state["bookmarks"]["log_files"].pop("selected_columns")  # an older tap's state
    report = _verify_jsonl(records, tmp_path, state)
    assert report.status == "consistent", report.text()
    assert "(users) were written before their chain" in str(report.unproven), report.text()


# --------------------------------------------------------------------------- export marks


def test_a_row_forged_beside_another_is_marked_by_an_export(runs: Runs, tmp_path: Path) -> None:
    """A users row of a made-up user chained beside a real one (a fork): the finding's item was
    ``users chain`` (its rows only in the detail, which an export does not read), so an export
    with --allow-findings marked neither row NOT PROVEN. The item now names both rows."""
    records = _both(runs)
    real = records["users"][1]
    forged = copy.deepcopy(real)
    item = {**json.loads(real["raw_item"]), "id": "user-forged", "email": "forged@x.com"}
    forged.update(derive_directory_row("users", item, real["workspace_id"]))
    forged["chain_hash"] = rest_chain.chain_hash(forged["chain_previous"], forged, "users")
    records["users"].insert(2, forged)
    report = _verify_jsonl(records, tmp_path, runs.second.state)
    assert report.status == "FAILED", report.text()
    concerns = Concerns.of([(f.check, f.item) for f in report.findings], None)  # type: ignore[arg-type]
    assert concerns.any("user-forged"), _lines(report)
    assert concerns.any(str(real["id"])), _lines(report)
    assert not concerns.everything, _lines(report)
