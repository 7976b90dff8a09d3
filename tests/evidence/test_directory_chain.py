"""The REST streams (users, gpts, projects, the workspace objects) on tamper-evident chains.

verify re-derives a REST row from its ``raw_item``; before the chains, a row deleted, inserted
with a consistent raw_item, or edited together with it, left an anchored archive ``intact``.
Each attack below is made on archives written by real tap runs against the simulator (a first
run, then a second one from its state), in target-jsonl's layout and in PostgreSQL (loaded by
target-postgres, which upserts), and verified in-process against the run's state or seals.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.directory_rows import derive_row as derive_directory_row
from tap_chatgpt_compliance.directory_rows import raw_item
from tap_chatgpt_compliance.evidence import seals as seal_check
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export_findings import Concerns
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tap_chatgpt_compliance.logfiles.seals import SealStore, chain_heads, write_seal
from tests.support.evidence import copy_schema, postgres_dsn, write_jsonl
from tests.support.simulators import running
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, synced_env, tap_command, tap_config, tap_env

from .test_meltano_verify import load_postgres

Records = dict[str, list[dict[str, Any]]]
OBJECTS = {"gpt_configs", "memories", "canvases", "automations"}
"""Workspace-object streams selected beside the default streams."""
EVENT_TYPES = ["CONVERSATION_MESSAGE"]


def _catalog() -> dict[str, Any]:
    config = {"api_key": "sk-discovery", "workspace_id": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0"}
    with tempfile.TemporaryDirectory() as tmp:
        text = subprocess.run(
            [*tap_command(config, None, Path(tmp)), "--discover"],
            capture_output=True,
            text=True,
            check=True,
            env=tap_env(),
        ).stdout
    catalog: dict[str, Any] = json.loads(text)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                meta = entry["metadata"]
                meta["selected"] = bool(meta.get("selected-by-default")) or (
                    stream["tap_stream_id"] in OBJECTS
                )
    return catalog


def _run(
    sim: Simulator,
    catalog: dict[str, Any],
    state: dict[str, Any] | None,
    event_types: list[str] = EVENT_TYPES,
    **overrides: Any,
) -> TapRun:
    config = tap_config(sim, event_types=event_types, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.json").write_text(json.dumps(catalog))
        command = [*tap_command(config, state, folder), "--catalog", str(folder / "catalog.json")]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=synced_env(config, folder),
        )
    assert done.returncode == 0, done.stderr[-3000:]
    records, states = parse_singer(done.stdout)
    return TapRun(done.returncode, done.stdout, done.stderr, records, states)


class Runs:
    """Two runs of one workspace, the second from the first's state, and a killed run."""

    def __init__(self, sim: Simulator) -> None:
        self.catalog = _catalog()
        self.first = _run(sim, self.catalog, None)
        self.second = _run(sim, self.catalog, self.first.state)
        self.sim = sim


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 52, "span_days": 0.3, "conversations": 3},
        rate_limits=False,
    )
    with running(config) as sim:
        made = Runs(sim)
        for stream in ("users", "gpts", *OBJECTS):
            assert made.first.records[stream], f"the first run wrote no {stream} row"
        yield made


def _both(runs: Runs) -> Records:
    """The records of both runs, as an append-only target keeps them."""
    out: Records = {}
    for run in (runs.first, runs.second):
        for stream, rows in run.records.items():
            out.setdefault(stream, []).extend(copy.deepcopy(rows))
    return out


def _verify_jsonl(records: Records, tmp: Path, state: dict[str, Any] | None) -> Report:
    folder = tmp / f"archive-{uuid.uuid4().hex[:8]}"
    write_jsonl(records, folder)
    anchor = None if state is None else anchor_from_state(state, "state")
    return verify(sources.from_jsonl(folder), anchor)


def _lines(report: Report) -> list[str]:
    return [finding.line() for finding in report.findings]


def _failed_on(report: Report, stream: str, checks: tuple[str, ...] = ("chain", "anchor")) -> None:
    """The verdict is FAILED by a chain (or anchor) finding naming ``stream``."""
    assert report.status == "FAILED", report.text()
    assert any(stream in line and line.startswith(checks) for line in _lines(report)), _lines(
        report
    )


def _relinked(rows: list[dict[str, Any]], stream: str) -> None:
    """Recompute the links of rows in chain order (an adversary who rewrites the chain)."""
    previous, key = chain.GENESIS, None
    for seq, row in enumerate(rows, start=1):
        row.update(chain_previous=previous, chain_seq=seq)
        row[rest_chain.PREVIOUS_KEY] = key
        row["chain_hash"] = rest_chain.chain_hash(previous, row, stream)
        previous, key = row["chain_hash"], rest_chain.record_key(stream, row)


# --------------------------------------------------------------------------- the tap


def test_every_rest_row_is_chained_and_the_heads_are_in_state_and_seal(runs: Runs) -> None:
    """One chain per REST stream; its head in the stream's bookmark, as in the seal."""
    bookmarks = runs.second.state["bookmarks"]
    for stream in ("users", "gpts", *OBJECTS):
        rows = sorted(_both(runs)[stream], key=lambda r: r["chain_seq"])
        previous = chain.GENESIS
        for row in rows:
            assert row["chain_previous"] == previous, stream
            assert row["chain_hash"] == rest_chain.chain_hash(previous, row, stream)
            previous = row["chain_hash"]
        assert bookmarks[stream]["chain_seq"] == rows[-1]["chain_seq"], stream
        assert bookmarks[stream]["chain_head"] == rows[-1]["chain_hash"], stream
        assert bookmarks[stream]["chain_head_key"] == rest_chain.record_key(stream, rows[-1])
    heads = chain_heads({}, None, bookmarks)
    assert heads["users"]["chain_head"] == bookmarks["users"]["chain_head"]
    assert heads["users"][chain.HEAD_ID_KEY] == bookmarks["users"]["chain_head_key"]


def test_a_refresh_not_due_keeps_the_head(runs: Runs) -> None:
    """The second run is within directory_refresh_hours: no object row, the head unchanged;
    the directory streams (read every run) continue their chain."""
    first, second = runs.first.state["bookmarks"], runs.second.state["bookmarks"]
    for stream in OBJECTS:
        assert not runs.second.records.get(stream), stream
        assert second[stream]["chain_head"] == first[stream]["chain_head"], stream
    users = runs.second.records["users"]
    assert users[0]["chain_previous"] == first["users"]["chain_head"]
    assert users[0]["chain_seq"] == first["users"]["chain_seq"] + 1


# --------------------------------------------------------------------------- JSONL


def test_both_runs_verify_intact(runs: Runs, tmp_path: Path) -> None:
    report = _verify_jsonl(_both(runs), tmp_path, runs.second.state)
    assert report.status == "intact", report.text()
    assert report.chains["users"]["unbroken"]
    assert not any("cannot be detected" in text for text in report.limitations)


@pytest.mark.parametrize("stream", ["users", "gpts", "memories", "canvases"])
@pytest.mark.parametrize("where", [0, -1])
def test_a_deleted_row_is_a_finding(runs: Runs, tmp_path: Path, stream: str, where: int) -> None:
    """A row removed (the first, or the last: the anchored head) breaks the stream's chain."""
    records = _both(runs)
    del records[stream][where]
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), stream)


def test_a_row_edited_with_its_raw_item_is_a_finding(runs: Runs, tmp_path: Path) -> None:
    records = _both(runs)
    row = records["users"][0]
    item = json.loads(row["raw_item"])
    item["email"] = "someone.else@example.com"
    row.update(item=item, raw_item=raw_item(item), email=item["email"])
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), "users")


def test_an_object_edited_with_its_raw_item_and_relinked_is_a_finding(
    runs: Runs, tmp_path: Path
) -> None:
    """The whole memories chain rewritten after an edit: the anchored head no longer holds."""
    records = _both(runs)
    rows = records["memories"]
    item = json.loads(rows[0]["raw_item"])
    item["memory_contexts"] = []
    rows[0].update(item=item, raw_item=raw_item(item), memory_contexts=[], entry_count=0)
    rows[0]["raw_sha256"] = hashlib.sha256(rows[0]["raw_item"].encode()).hexdigest()
    _relinked(rows, "memories")
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), "memories")


def _forged_user(records: Records) -> dict[str, Any]:
    row = copy.deepcopy(records["users"][0])
    item = json.loads(row["raw_item"])
    item.update(id="user-forged0000000000000000", email="forged@example.com")
    row.update(item=item, raw_item=raw_item(item), id=item["id"], email=item["email"])
    return row


def test_a_forged_row_without_chain_columns_is_a_finding(runs: Runs, tmp_path: Path) -> None:
    records = _both(runs)
    forged = rest_chain.without_chain(_forged_user(records))
    records["users"].append(forged)
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), "users")


def test_a_forged_row_chained_into_the_middle_is_a_finding(runs: Runs, tmp_path: Path) -> None:
    """A forged row linked after a real one (a fork beside the real next row)."""
    records = _both(runs)
    forged = _forged_user(records)
    before = records["users"][0]
    forged.update(chain_previous=before["chain_hash"], chain_seq=before["chain_seq"] + 1)
    forged[rest_chain.PREVIOUS_KEY] = rest_chain.record_key("users", before)
    forged["chain_hash"] = rest_chain.chain_hash(before["chain_hash"], forged, "users")
    records["users"].insert(1, forged)
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), "users")


def test_a_forged_version_of_a_row_beside_it_is_never_intact_and_named(
    runs: Runs, tmp_path: Path
) -> None:
    """A second row of the same user, another email, at its position (a fork that no row
    continues): the shape of a killed run's row after the user changed, so no finding, but
    never intact: a limitation and the export name the forged row (NOT PROVEN)."""
    records = _both(runs)
    real = records["users"][1]
    forged = copy.deepcopy(real)
    item = {**json.loads(real["raw_item"]), "email": "forged@example.com"}
    forged.update(item=item, raw_item=raw_item(item), email=item["email"])
    forged["chain_hash"] = rest_chain.chain_hash(forged["chain_previous"], forged, "users")
    records["users"].insert(1, forged)
    report = _verify_jsonl(records, tmp_path, runs.second.state)
    assert report.status == "consistent", report.text()
    assert report.dead_ends == {"users": {forged["chain_hash"]}}, report.text()
    assert any(f"users {real['id']}" in text for text in report.limitations), report.text()
    concerns = Concerns.of(report.unproven_rows, None)  # type: ignore[arg-type]
    assert concerns.any(str(real["id"])), report.unproven_rows
    assert not concerns.everything, report.unproven_rows


def test_rows_swapped_in_the_chain_are_a_finding(runs: Runs, tmp_path: Path) -> None:
    """Two rows trade places (their chain columns swapped): neither hashes to its link."""
    records = _both(runs)
    first, second = records["gpts"][0], records["gpts"][1]
    columns = ("chain_seq", "chain_previous", "chain_hash", rest_chain.PREVIOUS_KEY)
    for column in columns:
        first[column], second[column] = second[column], first[column]
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), "gpts")


def test_an_older_state_leaves_the_newer_rows_partly_anchored(runs: Runs, tmp_path: Path) -> None:
    report = _verify_jsonl(_both(runs), tmp_path, runs.first.state)
    assert report.status == "consistent", report.text()
    assert "partly anchored" in report.verdict()
    assert "users" in report.unanchored_tail()


def test_a_state_without_the_rest_heads_does_not_make_them_intact(
    runs: Runs, tmp_path: Path
) -> None:
    state = copy.deepcopy(runs.second.state)
    for stream in ("users", "gpts", "projects", *OBJECTS):
        for key in (chain.HEAD_KEY, chain.SEQ_KEY, rest_chain.HEAD_KEY_KEY):
            state["bookmarks"].get(stream, {}).pop(key, None)
    report = _verify_jsonl(_both(runs), tmp_path, state)
    assert report.status == "consistent", report.text()
    assert "users" in report.unanchored_tail()


def test_an_archive_before_the_chain_keeps_the_old_limitation(runs: Runs, tmp_path: Path) -> None:
    """Rows without chain columns (an older tap) are no finding; the limitation says so, and
    the verdict is not intact (a row of them deleted, as here, cannot be detected: round 13)."""
    records = _both(runs)
    for stream in ("users", "gpts", "projects", *OBJECTS):
        records[stream] = [rest_chain.without_chain(row) for row in records[stream]]
    del records["users"][0]
    state = copy.deepcopy(runs.second.state)
    for stream in ("users", "gpts", "projects", *OBJECTS):
        state["bookmarks"].pop(stream, None)
    state["bookmarks"]["log_files"].pop("selected_columns")  # an older tap's: none
    report = _verify_jsonl(records, tmp_path, state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "before their chain: proven by nothing" in str(report.unproven), report.text()
    assert any("cannot be detected" in text for text in report.limitations)


@pytest.mark.parametrize("stream", ["users", "gpts", "memories"])
def test_a_killed_run_then_its_rerun_verify_intact(runs: Runs, tmp_path: Path, stream: str) -> None:
    """A run's output cut after its second row of ``stream`` (SIGKILL there), then a run from
    the last STATE it wrote: the rows written again get the same links (a GPT's signed URLs
    differ: its rows repeat the killed ones, accounted for); the archive is intact."""
    lines = runs.first.stdout.splitlines()
    rows = [
        i
        for i, line in enumerate(lines)
        if line.startswith("{")
        and json.loads(line).get("type") == "RECORD"
        and json.loads(line).get("stream") == stream
    ]
    cut = "\n".join(lines[: rows[min(1, len(rows) - 1)] + 1]) + "\n"
    killed_records, killed_states = parse_singer(cut)
    assert killed_records[stream], "the cut keeps rows of the stream"
    state = killed_states[-1] if killed_states else None
    rerun = _run(runs.sim, runs.catalog, state)
    records: Records = {}
    for part in (killed_records, rerun.records):
        for stream, rows in part.items():
            records.setdefault(stream, []).extend(rows)
    report = _verify_jsonl(records, tmp_path, rerun.state)
    assert report.status == "intact", report.text()


# --------------------------------------------------------------------------- seals


def _sealed(runs: Runs, folder: Path, drop: str | None = None) -> Path:
    return seal_states(runs.sim, [runs.first.state, runs.second.state], folder, drop)


def seal_states(
    sim: Simulator, states: list[dict[str, Any]], folder: Path, drop: str | None = None
) -> Path:
    """Write one seal per state (a run's end) into ``folder``; ``drop``: a chain left out."""
    store = SealStore(str(folder), sim.workspace_id, {})
    for state in states:
        bookmarks = state["bookmarks"]
        log_states = {
            p["context"]["event_type"]: p for p in bookmarks["log_files"].get("partitions", [])
        }
        rest = {k: v for k, v in bookmarks.items() if k in rest_chain.KEYS and k != drop}
        write_seal(
            store,
            chains=chain_heads(log_states, bookmarks.get("files"), rest),
            records={},
            retention_days=1,
        )
    return folder


def _verify_sealed(records: Records, tmp: Path, seals: Path) -> Report:
    folder = tmp / f"archive-{uuid.uuid4().hex[:8]}"
    write_jsonl(records, folder)
    report = verify(sources.from_jsonl(folder))
    seal_check.check_stores([str(seals)], report, {})
    return report


def test_the_seals_anchor_the_rest_chains(runs: Runs, tmp_path: Path) -> None:
    seals = _sealed(runs, tmp_path / "seals")
    assert _verify_sealed(_both(runs), tmp_path, seals).status == "intact"
    records = _both(runs)
    records["users"].pop()
    _failed_on(_verify_sealed(records, tmp_path, seals), "chain users", ("seal",))
    unsealed = _sealed(runs, tmp_path / "seals-without-users", drop="users")
    report = _verify_sealed(_both(runs), tmp_path, unsealed)
    _failed_on(report, "chain users", ("seal",))


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_both(
    runs: Runs, pg_params: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Both runs loaded by target-postgres (upserting by key) into schema ``acme``."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**pg_params, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = {**pg_params, "dbname": name}
    try:
        for run in (runs.first, runs.second):
            load = load_postgres(run.stdout, database, tmp_path_factory.mktemp("pg"))
            assert load.returncode == 0, load.stderr[-3000:]
        yield postgres_dsn(database)
    finally:
        with psycopg.connect(**pg_params, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg(dsn: str, runs: Runs, *statements: str | tuple[str, tuple[Any, ...]]) -> Report:
    schema = copy_schema(dsn, *statements)
    return verify(sources.from_postgres(dsn, schema), anchor_from_state(runs.second.state, "state"))


@pytest.mark.e2e
def test_postgres_upserted_runs_verify_intact(pg_both: str, runs: Runs) -> None:
    """The second run replaced the first's directory rows (same id): the holes are accounted."""
    report = _pg(pg_both, runs)
    assert report.status == "intact", report.text()
    assert report.replaced.get("users"), "the first run's users rows were replaced"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("stream", "statement"),
    [
        ("users", "DELETE FROM S.users WHERE chain_seq = (SELECT min(chain_seq) FROM S.users)"),
        ("users", "DELETE FROM S.users WHERE chain_seq = (SELECT max(chain_seq) FROM S.users)"),
        ("gpts", "DELETE FROM S.gpts WHERE chain_seq = (SELECT min(chain_seq) FROM S.gpts)"),
        (
            "memories",
            "DELETE FROM S.memories WHERE chain_seq = (SELECT min(chain_seq) FROM S.memories)",
        ),
    ],
    ids=["users-first", "users-head", "gpts", "memories"],
)
def test_postgres_attacks_are_findings(
    pg_both: str, runs: Runs, stream: str, statement: str
) -> None:
    _failed_on(_pg(pg_both, runs, statement), stream)


@pytest.mark.e2e
def test_postgres_forged_and_edited_rows_are_findings(pg_both: str, runs: Runs) -> None:
    """A forged user (a consistent raw_item, no link) inserted; a user edited with its
    raw_item (canonical, as the tap writes it)."""
    latest = runs.second.records["users"][0]
    item = {**json.loads(latest["raw_item"]), "id": "user-forged", "email": "forged@x.com"}
    insert = (
        "INSERT INTO S.users (id, workspace_id, email, item, raw_item) VALUES (%s, %s, %s, %s, %s)",
        (item["id"], latest["workspace_id"], item["email"], json.dumps(item), raw_item(item)),
    )
    _failed_on(_pg(pg_both, runs, insert), "users")
    edited = {**json.loads(latest["raw_item"]), "email": "edited@x.com"}
    update = (
        "UPDATE S.users SET email = %s, item = %s, raw_item = %s WHERE id = %s",
        (edited["email"], json.dumps(edited), raw_item(edited), latest["id"]),
    )
    report = _pg(pg_both, runs, update)
    _failed_on(report, "users", ("chain",))
    assert not any(line.startswith("column") for line in _lines(report)), _lines(report)


# --------------------------------------------------------------------------- S3


@pytest.mark.e2e
def test_s3_a_deleted_user_is_a_finding(
    runs: Runs, s3_client: Any, s3_bucket: str, s3_endpoint: str
) -> None:
    """Both runs in target-s3's layout (moto): intact; a users row removed: FAILED."""
    records = _both(runs)
    prefix = f"dirchain-{uuid.uuid4().hex[:8]}"

    def put(rows: Records) -> Report:
        for stream, kept in rows.items():
            body = "".join(json.dumps(r) + "\n" for r in kept).encode()
            s3_client.put_object(
                Bucket=s3_bucket, Key=f"{prefix}/{stream}/{stream}-1.jsonl", Body=body
            )
        archive = sources.from_s3(f"s3://{s3_bucket}/{prefix}", {"endpoint_url": s3_endpoint})
        return verify(archive, anchor_from_state(runs.second.state, "state"))

    assert put(records).status == "intact"
    del records["users"][2]
    _failed_on(put({"users": records["users"]}), "users")


def test_rows_before_the_chain_then_chained_rows_keep_the_limitation_only(
    runs: Runs, tmp_path: Path
) -> None:
    """An archive upgraded in place: the rows of an older tap (no chain columns) first, then
    the chained rows of this one. An old row whose item a chained row of its key holds is
    proven by it (a note: intact); one no chained row holds (a user removed before the
    upgrade, or forged) is proven by nothing (a limitation, consistent, unproven); an
    old-looking row after the first chained one is a finding."""
    records = _both(runs)
    old = [rest_chain.without_chain(row) for row in runs.first.records["users"]]
    records["users"] = old + records["users"]
    report = _verify_jsonl(records, tmp_path, runs.second.state)
    assert report.status == "intact", report.text()
    assert any(f"{len(old)} rows of the REST streams (users)" in text for text in report.notes)
    gone = copy.deepcopy(old[0])
    item = {**json.loads(gone["raw_item"]), "id": "user-gone", "email": "gone@x.com"}
    gone.update(derive_directory_row("users", item, gone["workspace_id"]))
    records["users"].insert(0, gone)
    report = _verify_jsonl(records, tmp_path, runs.second.state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert any(
        "1 rows of the REST streams (users)" in text and "cannot be detected" in text
        for text in report.limitations
    ), report.limitations
    records["users"].append(old[0])
    _failed_on(_verify_jsonl(records, tmp_path, runs.second.state), "users")


@pytest.mark.e2e
def test_postgres_a_row_received_before_the_chain_is_no_finding(pg_both: str, runs: Runs) -> None:
    """A users row without chain columns that the target received before the first chained
    row (an older tap's, for a user no later run lists): the old limitation, no finding; proven
    by nothing, so not intact (round 13)."""
    latest = runs.second.records["users"][0]
    item = {**json.loads(latest["raw_item"]), "id": "user-gone", "email": "gone@x.com"}
    row = derive_directory_row("users", item, latest["workspace_id"])
    values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values()]
    insert = (
        f"INSERT INTO S.users ({', '.join(row)}, _sdc_received_at) SELECT "
        f"{', '.join(['%s'] * len(row))}, min(_sdc_received_at) - interval '1 day' FROM S.users",
        tuple(values),
    )
    report = _pg(pg_both, runs, insert)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert any("cannot be detected" in text for text in report.limitations)
