"""Review of the REST chains: honest archives that must verify, alterations that must not.

Archives come from real tap runs against the simulator whose directory changes between runs
(a user renamed, a user removed, a GPT's configuration changed), streams deselected and
selected again, the state cleared, a run killed after the directory changed; each is verified
in-process (test_directory_chain.py's helpers) against the last run's state.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.directory_rows import derive_row as derive_directory_row
from tap_chatgpt_compliance.evidence import seals as seal_check
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import rest_chain
from tests.support.evidence import postgres_dsn, write_jsonl
from tests.support.simulators import running
from tests.support.singer import parse_singer
from tests.support.tap import TapRun

from .test_attack_round13 import _deselected
from .test_directory_chain import (
    Records,
    _catalog,
    _lines,
    _pg,
    _run,
    _verify_jsonl,
    _verify_sealed,
    seal_states,
)
from .test_directory_chain import pg_both as pg_both  # the module's fixtures
from .test_directory_chain import runs as runs
from .test_meltano_verify import load_postgres

Selection = dict[str, bool]


def _select(catalog: dict[str, Any], **chosen: bool) -> dict[str, Any]:
    out = copy.deepcopy(catalog)
    for stream in out["streams"]:
        name = stream["tap_stream_id"]
        if name in chosen:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = chosen[name]
    return out


def _append(records: Records, run: TapRun | Records) -> None:
    part = run.records if isinstance(run, TapRun) else run
    for stream, rows in part.items():
        records.setdefault(stream, []).extend(copy.deepcopy(rows))


def _world(sim: Simulator) -> Any:
    return sim._ws(None).world  # the test changes the simulated directory


def _rename_first_user(sim: Simulator, suffix: str) -> None:
    world = _world(sim)
    user = world.users[-1]
    world.users[-1] = dataclasses.replace(user, name=f"{user.name} {suffix}")


def _remove_a_user(sim: Simulator) -> str:
    world = _world(sim)
    held = {
        uid
        for c in [*world.gpts, *world.projects]
        for uid in (c.owner.id, *(cfg.author.id for cfg in c.configs))
    }
    gone = next(u for u in reversed(world.users) if u.id not in held)
    world.users.remove(gone)
    for c in [*world.gpts, *world.projects]:
        if gone.id in c.shared_user_ids:
            c.shared_user_ids = [uid for uid in c.shared_user_ids if uid != gone.id]
    return str(gone.id)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 77, "span_days": 0.2, "conversations": 2, "users": 6},
        rate_limits=False,
    )
    with running(config) as made:
        yield made


def _intact(report: Report) -> None:
    assert report.status == "intact", report.text()


def test_runs_with_the_directory_changing_verify_intact(sim: Simulator, tmp_path: Path) -> None:
    """Three runs; between them a user renamed, then a user removed: intact."""
    catalog = _catalog()
    records: Records = {}
    first = _run(sim, catalog, None)
    _append(records, first)
    _rename_first_user(sim, "Renamed")
    second = _run(sim, catalog, first.state)
    _append(records, second)
    _remove_a_user(sim)
    third = _run(sim, catalog, second.state)
    _append(records, third)
    _intact(_verify_jsonl(records, tmp_path, third.state))


def test_a_stream_deselected_then_selected_again_verifies_intact(
    sim: Simulator, tmp_path: Path
) -> None:
    catalog = _catalog()
    records: Records = {}
    first = _run(sim, catalog, None)
    _append(records, first)
    second = _run(sim, _select(catalog, users=False, gpts=False), first.state)
    _append(records, second)
    assert not second.records.get("users")
    third = _run(sim, catalog, second.state)
    _append(records, third)
    assert third.records.get("users")
    _intact(_verify_jsonl(records, tmp_path, third.state))


def test_a_stream_selected_for_the_first_time_later_verifies_intact(
    sim: Simulator, tmp_path: Path
) -> None:
    catalog = _catalog()
    records: Records = {}
    first = _run(sim, _select(catalog, users=False, canvases=False), None)
    _append(records, first)
    second = _run(sim, catalog, first.state)
    _append(records, second)
    assert second.records.get("users")
    _intact(_verify_jsonl(records, tmp_path, second.state))


def test_the_state_cleared_then_the_directory_changed_fails_with_the_older_state(
    sim: Simulator, tmp_path: Path
) -> None:
    """The second run starts the chain again; its rows equal the first run's up to the user
    renamed, where the first run's branch ends. With the last state only, nothing says the
    first run's branch was anchored: unproven, named (as a killed run's). With the first run's
    state too, both branches hold an anchored head: a ``chain`` finding naming the causes."""
    catalog = _catalog()
    records: Records = {}
    first = _run(sim, catalog, None)
    _append(records, first)
    _rename_first_user(sim, "Renamed")
    second = _run(sim, catalog, None)
    _append(records, second)
    report = _verify_jsonl(records, tmp_path, second.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert report.dead_ends.get("users"), report.text()
    folder = tmp_path / "both"
    write_jsonl(records, folder)
    anchors = [anchor_from_state(run.state, f"state {n}") for n, run in enumerate((first, second))]
    report = verify(sources.from_jsonl(folder), anchors)
    assert report.status == "FAILED", report.text()
    assert any("state cleared" in line for line in _lines(report)), _lines(report)


def _add_a_user(sim: Simulator) -> str:
    world = _world(sim)
    added = dataclasses.replace(
        world.users[1], id="user-added000000000000000000", email="added@example.com"
    )
    world.users.insert(1, added)
    return added.id


def _killed(run: TapRun, stream: str, keep: int) -> tuple[Records, dict[str, Any] | None, str]:
    """Return the records, last STATE and output of ``run`` cut after its ``keep``-th
    ``stream`` row from the end (a SIGKILL there: those rows written, their STATE not)."""
    lines = run.stdout.splitlines()
    rows = [
        i
        for i, line in enumerate(lines)
        if line.startswith("{")
        and json.loads(line).get("type") == "RECORD"
        and json.loads(line).get("stream") == stream
    ]
    cut = "\n".join(lines[: rows[-keep] + 1]) + "\n"
    records, states = parse_singer(cut)
    return records, (states[-1] if states else None), cut


CHANGES = {
    "renamed and removed": lambda sim: (_rename_first_user(sim, "Changed"), _remove_a_user(sim)),
    "added": _add_a_user,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_killed_run_then_a_rerun_after_the_directory_changed_is_unproven_not_failed(
    sim: Simulator, tmp_path: Path, change: str
) -> None:
    """Was FAILED (a ``chain`` fork finding) on an honest archive: the killed run's users rows
    (no STATE after them) and the rerun's differ after the user that changed. The killed run's
    branch ends where it was killed: ``consistent, unproven``, its rows named."""
    catalog = _catalog()
    records: Records = {}
    first = _run(sim, catalog, None)
    _append(records, first)
    killed, state, _ = _killed(_run(sim, catalog, first.state), "users", 2)
    _append(records, killed)
    CHANGES[change](sim)
    rerun = _run(sim, catalog, state or first.state)
    _append(records, rerun)
    report = _verify_jsonl(records, tmp_path, rerun.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "dead-end branches" in str(report.unproven), report.text()
    named = [line for line in report.limitations if "killed before its STATE" in line]
    assert len(named) == 1, report.limitations
    ends = {row["chain_hash"] for row in killed["users"]} - {
        row["chain_hash"] for row in rerun.records["users"]
    }
    assert ends, report.text()
    assert report.dead_ends["users"] == ends, report.text()
    labels = {f"users {row['id']}" for row in killed["users"] if row["chain_hash"] in ends}
    assert {item for _, item in report.unproven_rows} == labels, report.unproven_rows
    assert report.chains["users"]["head"] == rerun.state["bookmarks"]["users"]["chain_head"]


def test_a_killed_run_then_a_changed_rerun_with_seals_is_unproven_and_a_sealed_end_fails(
    sim: Simulator, tmp_path: Path
) -> None:
    """Seals of the first run and of the rerun (the killed run wrote none): the killed run's
    branch is unproven, no finding. The rows a seal holds made a dead end (the rerun's
    branch forged on, longer than the sealed one): a ``seal`` finding."""
    catalog = _catalog()
    records: Records = {}
    first = _run(sim, catalog, None)
    _append(records, first)
    killed, state, _ = _killed(_run(sim, catalog, first.state), "users", 2)
    _append(records, killed)
    _rename_first_user(sim, "Changed")
    rerun = _run(sim, catalog, state or first.state)
    _append(records, rerun)
    seals = seal_states(sim, [first.state, rerun.state], tmp_path / "seals")
    report = _verify_sealed(records, tmp_path, seals)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert report.dead_ends.get("users"), report.text()
    # Forged on from the row before the sealed head: two rows, longer than the sealed branch.
    head = next(
        r
        for r in records["users"]
        if r["chain_hash"] == rerun.state["bookmarks"]["users"]["chain_head"]
    )
    forged = []
    previous, key = head["chain_previous"], head[rest_chain.PREVIOUS_KEY]
    for n, real in enumerate((head, records["users"][0])):
        row = copy.deepcopy(real)
        item = {**json.loads(row["raw_item"]), "email": f"forged{n}@example.com"}
        row.update(derive_directory_row("users", item, row["workspace_id"]))
        row.update(chain_previous=previous, chain_seq=head["chain_seq"] + n)
        row[rest_chain.PREVIOUS_KEY] = key
        row["chain_hash"] = rest_chain.chain_hash(previous, row, "users")
        previous, key = row["chain_hash"], rest_chain.record_key("users", row)
        forged.append(row)
    records["users"].extend(forged)
    report = _verify_sealed(records, tmp_path, seals)
    assert report.status == "FAILED", report.text()
    assert any(
        line.startswith("seal") and "chain users" in line and "abandoned" in line
        for line in _lines(report)
    ), _lines(report)


@pytest.mark.e2e
def test_postgres_a_row_forged_into_replaced_positions_is_not_intact(
    pg_both: str, runs: Any
) -> None:
    """Upserted runs leave the first run's users positions replaced (holes); a forged user put
    at one of them, linked to a replaced row, is linked to by no kept row: not intact."""
    first = runs.first.records["users"]
    assert len(first) >= 3
    middle = first[1]
    item = {**json.loads(middle["raw_item"]), "id": "user-forged-in-a-hole", "email": "f@x.com"}
    row = derive_directory_row("users", item, middle["workspace_id"])
    row.update(
        chain_version=rest_chain.VERSION,
        chain_previous=middle["chain_previous"],
        chain_seq=middle["chain_seq"],
    )
    row[rest_chain.PREVIOUS_KEY] = middle[rest_chain.PREVIOUS_KEY]
    row["chain_hash"] = rest_chain.chain_hash(row["chain_previous"], row, "users")
    values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values()]
    insert = (
        f"INSERT INTO S.users ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
        tuple(values),
    )
    report = _pg(pg_both, runs, insert)
    assert report.status != "intact", report.text()


@pytest.mark.e2e
def test_postgres_a_user_removed_between_upserted_runs_is_unproven_not_failed(
    sim: Simulator, pg_database: dict[str, str], tmp_path: Path
) -> None:
    """Honest: a user the API stopped listing keeps its first-run row, which the upserted
    second run no longer links to. Not intact (a forgery has the same shape), never FAILED:
    the verdict is `consistent, unproven` and the limitation names the row."""
    catalog = _catalog()
    first = _run(sim, catalog, None)
    gone = _remove_a_user(sim)
    second = _run(sim, catalog, first.state)
    for run in (first, second):
        load = load_postgres(run.stdout, pg_database, tmp_path)
        assert load.returncode == 0, load.stderr[-3000:]
    report = verify(
        sources.from_postgres(postgres_dsn(pg_database), "acme"),
        anchor_from_state(second.state, "state"),
    )
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "users rows are proven by no link" in (report.unproven or ""), report.text()
    loose = [line for line in report.limitations if "linked to by no kept row" in line]
    assert len(loose) == 1, report.limitations
    assert loose[0].startswith("1 users rows"), loose
    assert gone in loose[0], loose


def _load_and_verify(
    outputs: list[str], pg_database: dict[str, str], tmp_path: Path, state: dict[str, Any]
) -> Report:
    """Load each run's Singer output with target-postgres (upserts), then verify."""
    for stdout in outputs:
        load = load_postgres(stdout, pg_database, tmp_path)
        assert load.returncode == 0, load.stderr[-3000:]
    archive = sources.from_postgres(postgres_dsn(pg_database), "acme")
    return verify(archive, anchor_from_state(state, "state"))


@pytest.mark.e2e
def test_postgres_chain_seq_deselected_over_runs_with_the_directory_changing_is_not_failed(
    sim: Simulator, pg_database: dict[str, str], tmp_path: Path
) -> None:
    """``users.chain_seq`` deselected, four runs upserted into PostgreSQL while a user is
    renamed, one removed, one added: the holes are where later runs replaced rows. Was tested
    for one run only: ``consistent, unproven`` (positions from the links), never FAILED."""
    catalog = _deselected(_catalog(), "chain_seq", {"users", "gpts"})
    runs: list[TapRun] = [_run(sim, catalog, None)]
    for change in (
        lambda: _rename_first_user(sim, "Renamed"),
        lambda: _remove_a_user(sim),
        lambda: _add_a_user(sim),
    ):
        change()
        runs.append(_run(sim, catalog, runs[-1].state))
    assert not any("chain_seq" in row for run in runs for row in run.records["users"])
    report = _load_and_verify([r.stdout for r in runs], pg_database, tmp_path, runs[-1].state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "no users row holds chain_seq" in " ".join(report.limitations), report.text()
    report = verify(sources.from_postgres(postgres_dsn(pg_database), "acme"))
    seal_check.check_stores(
        [str(seal_states(sim, [r.state for r in runs], tmp_path / "seals"))], report, {}
    )
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    # A row another kept row links to, deleted: the key the next row names has no row.
    gone = runs[-1].records["users"][0]["id"]
    with psycopg.connect(**pg_database, autocommit=True) as conn:
        conn.execute("DELETE FROM acme.users WHERE id = %s", (gone,))
    report = verify(
        sources.from_postgres(postgres_dsn(pg_database), "acme"),
        anchor_from_state(runs[-1].state, "state"),
    )
    assert report.status == "FAILED", report.text()
    assert any(gone in line and line.startswith("chain") for line in _lines(report)), report.text()


@pytest.mark.e2e
def test_postgres_a_killed_run_then_a_changed_rerun_is_not_failed(
    sim: Simulator, pg_database: dict[str, str], tmp_path: Path
) -> None:
    """The killed run's users rows upserted, then the rerun's after a user was renamed and one
    removed: most killed rows are replaced, the removed user's stays (a dead end)."""
    catalog = _catalog()
    first = _run(sim, catalog, None)
    _, state, cut = _killed(_run(sim, catalog, first.state), "users", 2)
    _rename_first_user(sim, "Changed")
    _remove_a_user(sim)
    rerun = _run(sim, catalog, state or first.state)
    report = _load_and_verify([first.stdout, cut, rerun.stdout], pg_database, tmp_path, rerun.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()


@pytest.mark.e2e
def test_postgres_seals_of_several_upserted_runs_are_not_failed(
    sim: Simulator, pg_database: dict[str, str], tmp_path: Path
) -> None:
    """Three runs upserted into PostgreSQL, verified against the seals of each: an older
    seal's REST head is a row a later run replaced, deep in a run of replaced rows."""
    catalog = _catalog()
    runs: list[TapRun] = [_run(sim, catalog, None)]
    for change in (lambda: _rename_first_user(sim, "Renamed"), lambda: _remove_a_user(sim)):
        change()
        runs.append(_run(sim, catalog, runs[-1].state))
    for run in runs:
        load = load_postgres(run.stdout, pg_database, tmp_path)
        assert load.returncode == 0, load.stderr[-3000:]
    report = verify(sources.from_postgres(postgres_dsn(pg_database), "acme"))
    seal_check.check_stores(
        [str(seal_states(sim, [r.state for r in runs], tmp_path / "seals"))], report, {}
    )
    assert not report.findings, report.text()
