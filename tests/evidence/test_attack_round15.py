"""Attack round 15: rows no chain or raw line covers, and what the seals' record counts add.

Archives come from two real tap runs against the simulator with every stream selected (the
second from the first's state), each sealed to a local folder, laid out as target-jsonl writes
them and loaded by target-postgres (which upserts). What was found:

- a ``gpt_files``/``project_files``/``library_file_contents`` record whose bytes are inline
  or not archived (no ``<stream>_parts`` row points to it) is on no chain: removed, verify
  said ``intact``. The seals count the records each run wrote per stream; now an append-only
  archive holding fewer rows of a stream than the sealed runs wrote is a ``seal`` finding, and
  a file a configuration or library file row names without its record is a limitation (the
  verdict ``consistent, unproven``, never intact) with a state or in PostgreSQL.
- the bytes of such a record replaced with their recomputed ``sha256`` and ``size`` (or a
  second record of the file with other bytes, or the record moved to another owner) left the
  verdict ``intact``: the SHA-256 is the tap's and was on no chain. Now the three streams are
  chained like the REST streams (rest_chain.FILE_FIELDS): a chain or anchor finding.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tap_chatgpt_compliance.evidence import seals as seal_check
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export import Exporter, Stamp
from tap_chatgpt_compliance.evidence.verify import (
    RENDERED_COLUMNS,
    Report,
    anchor_from_state,
    verify,
)
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tests.support.evidence import (
    copy_schema,
    postgres_dsn,
    temporary_database,
    verify_cli,
    write_jsonl,
)
from tests.support.simulators import running
from tests.support.singer import parse_singer
from tests.support.tap import TapRun
from tests.tap.test_workspace_objects import run_objects, selecting

from .test_export import _custodian
from .test_meltano_verify import load_postgres

Records = dict[str, list[dict[str, Any]]]
FILE_STREAMS = ("gpt_files", "project_files", "library_file_contents")


class Sealed:
    """Two sealed runs of one workspace, every stream selected."""

    def __init__(self, first: TapRun, second: TapRun, seals: Path) -> None:
        self.first, self.second, self.seals = first, second, seals

    def records(self) -> Records:
        """Both runs' records, as an append-only target keeps them."""
        out: Records = {}
        for run in (self.first, self.second):
            for stream, rows in run.records.items():
                out.setdefault(stream, []).extend(copy.deepcopy(rows))
        return out


CONFIG = SimulatorConfig(
    seed=2121,
    users=3,
    conversations=3,
    span_days=0.5,
    rate_limits=False,
    inventory=Inventory(config_versions_per_day=1.0),
)
EVERY = frozenset(stream["tap_stream_id"] for stream in selecting(set())["streams"])
OPTIONS: dict[str, Any] = {
    "max_inline_file_bytes": 40_000,
    "event_types": ["CONVERSATION_MESSAGE", "AUTH_LOG"],
}


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    seals = tmp_path_factory.mktemp("seals")
    options = {**OPTIONS, "seal_storage_url": str(seals)}
    with running(CONFIG) as sim:
        first = run_objects(sim, EVERY, **options)
        assert first.returncode == 0, first.stderr[-3000:]
        second = run_objects(sim, EVERY, state=first.state, **options)
        assert second.returncode == 0, second.stderr[-3000:]
    return Sealed(first, second, seals)


def _verify(
    records: Records,
    tmp: Path,
    sealed: Sealed,
    *,
    seals: bool = True,
    state: dict[str, Any] | None = None,
) -> Report:
    folder = tmp / f"archive-{uuid.uuid4().hex[:8]}"
    write_jsonl(records, folder)
    anchor = anchor_from_state(sealed.second.state if state is None else state, "state")
    report = verify(sources.from_jsonl(folder), anchor)
    if seals:
        seal_check.check_stores([str(sealed.seals)], report, None)
    return report


def _lone_record(records: Records, stream: str) -> int:
    """Return the index of a record of ``stream`` no part row points to (inline or no bytes)."""
    with_parts = {str(part["file_id"]) for part in records.get(f"{stream}_parts", [])}
    return next(i for i, row in enumerate(records[stream]) if str(row["id"]) not in with_parts)


def test_honest_sealed_runs_are_intact(sealed: Sealed, tmp_path: Path) -> None:
    """Both runs, every stream, at-least-once copies of rows: the counts are lower bounds."""
    records = sealed.records()
    for stream in FILE_STREAMS:
        assert records[stream], f"no {stream} record"
    report = _verify(records, tmp_path, sealed)
    assert report.status == "intact", report.text()
    for stream in ("library_file_contents", "messages", "users"):
        records[stream].append(copy.deepcopy(records[stream][0]))  # delivered twice
    assert _verify(records, tmp_path, sealed).status == "intact"


@pytest.mark.parametrize("stream", FILE_STREAMS)
def test_a_file_record_without_parts_removed_is_a_seal_finding(
    sealed: Sealed, tmp_path: Path, stream: str
) -> None:
    """Nothing pointed to it: only the sealed record count shows it is gone."""
    records = sealed.records()
    del records[stream][_lone_record(records, stream)]
    report = _verify(records, tmp_path, sealed)
    assert report.status == "FAILED", report.text()
    assert any(
        f.check == "seal" and f"stream {stream}: the sealed runs wrote" in f.detail
        for f in report.findings
    ), report.text()


def _chain_findings(report: Report, stream: str) -> list[str]:
    """Return the chain and anchor findings that name ``stream``."""
    return [
        f"{f.item}: {f.detail}"
        for f in report.findings
        if f.check in ("chain", "anchor") and stream in f"{f.item} {f.detail}"
    ]


@pytest.mark.parametrize("stream", FILE_STREAMS)
def test_a_file_record_removed_is_a_chain_finding_with_the_state_alone(
    sealed: Sealed, tmp_path: Path, stream: str
) -> None:
    """No seal counts the rows: the stream's chain, anchored by the state, has a hole."""
    records = sealed.records()
    del records[stream][_lone_record(records, stream)]
    report = _verify(records, tmp_path, sealed, seals=False)
    assert report.status == "FAILED", report.text()
    assert _chain_findings(report, stream), report.text()


def test_every_row_of_a_stream_removed_is_a_seal_finding(sealed: Sealed, tmp_path: Path) -> None:
    """A stream emptied looks deselected to the archive alone; the seals say it was written."""
    records = sealed.records()
    for stream in FILE_STREAMS:
        records[stream] = []
        records[f"{stream}_parts"] = []
    report = _verify(records, tmp_path, sealed)
    failed = {f.detail.split(":")[0] for f in report.findings if f.check == "seal"}
    assert {f"stream {s}" for s in FILE_STREAMS} <= failed, report.text()


@pytest.mark.parametrize("stream", ["users", "memories", "gpt_configs", "gpt_files"])
def test_a_rest_or_file_row_marked_deleted_is_a_finding(
    sealed: Sealed, tmp_path: Path, stream: str
) -> None:
    """target-postgres's soft delete hides the row from a reader that honours it; the tap
    emits no ACTIVATE_VERSION, so no honest row is marked (it was a finding for the log
    streams, files and parts only)."""
    records = sealed.records()
    records[stream][0]["_sdc_deleted_at"] = "2026-12-01T00:00:00+00:00"
    report = _verify(records, tmp_path, sealed)
    assert any(
        f.check == "column" and f.item.startswith(stream) and "_sdc_deleted_at" in f.item
        for f in report.findings
    ), report.text()


def test_a_file_record_of_another_workspace_is_a_finding(sealed: Sealed, tmp_path: Path) -> None:
    """A stored file's workspace_id is on no chain: it must be the manifest's."""
    records = sealed.records()
    records["gpt_files"][_lone_record(records, "gpt_files")]["workspace_id"] = "another"
    report = _verify(records, tmp_path, sealed)
    assert any(
        f.check == "column" and f.item.startswith("gpt_files") and "workspace_id" in f.item
        for f in report.findings
    ), report.text()


@pytest.fixture(scope="module")
def pg_sealed(
    sealed: Sealed, pg_params: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Both runs loaded by target-postgres (one row per key) into schema ``acme``."""
    with temporary_database(pg_params) as database:
        for run in (sealed.first, sealed.second):
            load = load_postgres(run.stdout, database, tmp_path_factory.mktemp("pg"))
            assert load.returncode == 0, load.stderr[-3000:]
        yield postgres_dsn(database)


def _verify_pg(dsn: str, sealed: Sealed, *statements: str) -> Report:
    schema = copy_schema(dsn, *statements)
    report = verify(
        sources.from_postgres(dsn, schema), anchor_from_state(sealed.second.state, "state")
    )
    seal_check.check_stores([str(sealed.seals)], report, None)
    return report


@pytest.mark.e2e
def test_postgres_upserted_sealed_runs_are_intact_and_a_file_record_removed_is_not(
    pg_sealed: str, sealed: Sealed
) -> None:
    """Fewer rows than written is honest where the target upserts; a file's record removed,
    or its bytes rewritten with their SHA-256, is a chain finding; a stream emptied is a seal
    finding."""
    assert _verify_pg(pg_sealed, sealed).status == "intact"
    records = sealed.records()
    stream = "library_file_contents"
    lone = str(records[stream][_lone_record(records, stream)]["id"])
    report = _verify_pg(
        pg_sealed, sealed, f"DELETE FROM S.library_file_contents WHERE id = '{lone}'"
    )
    assert report.status == "FAILED", report.text()
    assert _chain_findings(report, stream), report.text()
    forged = ", ".join(
        f"{column} = '{value}'" for column, value in FORGED_BYTES.items() if value is not None
    )
    report = _verify_pg(
        pg_sealed,
        sealed,
        f"UPDATE S.library_file_contents SET {forged}, storage_uri = NULL, part_count = NULL "
        f"WHERE id = '{lone}'",
    )
    assert report.status == "FAILED", report.text()
    assert _chain_findings(report, stream), report.text()
    report = _verify_pg(
        pg_sealed, sealed, "DELETE FROM S.project_files", "DELETE FROM S.project_files_parts"
    )
    assert any(
        f.check == "seal" and "stream project_files:" in f.detail for f in report.findings
    ), report.text()
    report = _verify_pg(pg_sealed, sealed, "UPDATE S.memories SET _sdc_deleted_at = now()")
    assert any("_sdc_deleted_at" in f.item for f in report.findings), report.text()


# --------------------------------------------------------------- a column removed from every row


def test_a_column_removed_from_every_row_is_a_seal_finding(sealed: Sealed, tmp_path: Path) -> None:
    """Without the seal, and with a state of an older tap (no selected columns), a column in no
    row looks deselected (intact: users.email is re-derived and rendered by nothing); the seal
    lists the run's selected columns, and so does a state since round 17."""
    records = sealed.records()
    for row in records["users"]:
        del row["email"]
    old = copy.deepcopy(sealed.second.state)
    old["bookmarks"]["log_files"].pop("selected_columns")
    assert _verify(records, tmp_path, sealed, seals=False, state=old).status == "intact"
    report = _verify(records, tmp_path, sealed, seals=False)
    assert any(f.item == "users column email" for f in report.findings), report.text()
    report = _verify(records, tmp_path, sealed)
    assert report.status == "FAILED", report.text()
    assert any(
        f.check == "seal" and "column users.email is in no row" in f.detail for f in report.findings
    ), report.text()


@pytest.mark.parametrize("how", ["catalog", "stream map"])
def test_a_column_deselected_in_a_sealed_run_is_no_finding(tmp_path: Path, how: str) -> None:
    """The honest cases: users.email deselected in the catalog, or dropped by the tap's own
    stream map (``__NULL__``): the seal does not list it."""
    catalog = selecting({"log_files", "log_file_parts", "messages", "conversations", "users"})
    for stream in catalog["streams"]:
        if stream["tap_stream_id"] == "users" and how == "catalog":
            stream["metadata"].append(
                {"breadcrumb": ["properties", "email"], "metadata": {"selected": False}}
            )
    maps = {"stream_maps": {"users": {"email": "__NULL__"}}} if how == "stream map" else {}
    config = SimulatorConfig(seed=2122, users=2, conversations=2, span_days=0.3, rate_limits=False)
    seals = tmp_path / "seals"
    with running(config) as sim:
        run = run_objects(
            sim,
            catalog=catalog,
            event_types=["CONVERSATION_MESSAGE"],
            seal_storage_url=str(seals),
            **maps,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records["users"]
    assert all("email" not in row for row in run.records["users"])
    folder = write_jsonl(copy.deepcopy(dict(run.records)), tmp_path / "archive")
    report = verify(sources.from_jsonl(folder), anchor_from_state(run.state, "state"))
    seal_check.check_stores([str(seals)], report, None)
    assert report.status == "intact", report.text()
    assert "users.email" in report.not_archived, report.text()


NAMING_ONLY = {"messages": {"id"}}
"""Read by the export only to name a row a finding names (export_index._refs: the row's own
``id`` beside its ``event_id``), and as its id when its ``event`` (rendered) is unreadable."""


class _Reads(dict):  # type: ignore[type-arg]
    """A row that notes every column read from it by name (get, [], in)."""

    def __init__(self, row: dict[str, Any], read: set[str]) -> None:
        super().__init__(row)
        self.read = read

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def test_rendered_columns_name_every_column_the_export_reads(
    inline_run: TapRun, inline_archive: Path, tmp_path: Path
) -> None:
    """verify.RENDERED_COLUMNS is kept by hand: a column the export reads from the log streams'
    rows that is not in it would, deselected, leave the verdict intact while the production
    shows nothing (or something unproven) in its place. The export is run on an archive whose
    every row notes the columns read from it."""
    archive = sources.from_jsonl(inline_archive)
    read: dict[str, set[str]] = {stream: set() for stream in sources.STREAMS}
    records = archive.iter_records

    def noting(stream: str, on_error: Any = None) -> Iterator[dict[str, Any]]:
        for row in records(stream, on_error):
            yield _Reads(row, read[stream])

    archive.iter_records = noting  # type: ignore[method-assign]
    _, email_address = _custodian(inline_run)
    with Exporter(archive) as exporter:
        exporter.select(email_address, None, None, None)
        production = exporter.export(
            tmp_path / "out", email_address, stamp=Stamp("VERDICT: intact (test)")
        )
    assert production.summary_lines(0.0)
    for stream in ("messages", "events", "unparsed_lines", "files"):
        assert read[stream] or stream in ("events", "unparsed_lines"), f"{stream} not read"
        beyond = read[stream] - RENDERED_COLUMNS[stream] - NAMING_ONLY.get(stream, set())
        assert not beyond, f"export reads {stream} columns not in RENDERED_COLUMNS: {beyond}"


def _relink(rows: list[dict[str, Any]], stream: str) -> None:
    """Recompute every link of a stream's rows after an edit (the chain has no secret)."""
    renamed: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r["chain_seq"]):
        row["chain_previous"] = renamed.get(row["chain_previous"], row["chain_previous"])
        old = row["chain_hash"]
        row["chain_hash"] = rest_chain.chain_hash(row["chain_previous"], row, stream)
        renamed.setdefault(old, row["chain_hash"])


OTHER_BYTES = b"other bytes"
FORGED_BYTES = {
    "content_base64": base64.b64encode(OTHER_BYTES).decode(),
    "sha256": hashlib.sha256(OTHER_BYTES).hexdigest(),
    "size": len(OTHER_BYTES),
    "storage_uri": None,
    "part_count": None,
}


@pytest.mark.parametrize("how", ["rewritten", "rewritten and relinked", "a second copy", "moved"])
@pytest.mark.parametrize("stream", FILE_STREAMS)
def test_file_bytes_rewritten_with_their_sha256_are_a_chain_finding(
    sealed: Sealed, tmp_path: Path, stream: str, how: str
) -> None:
    """A stored file's SHA-256 is the tap's (the API serves none): other bytes with their
    SHA-256 and size, in the record or in a second copy of it, or the record moved to another
    owner, break the stream's chain; its links recomputed, the state's head no longer is one.
    The state alone anchors it (no seal)."""
    records = sealed.records()
    row = records[stream][_lone_record(records, stream)]
    if how == "a second copy":
        records[stream].append({**copy.deepcopy(row), **FORGED_BYTES})
    elif how == "moved":
        row["owner_id"] = "another-owner"
    else:
        row.update(FORGED_BYTES)
    if how == "rewritten and relinked":
        _relink(records[stream], stream)
    report = _verify(records, tmp_path, sealed, seals=False)
    assert report.status == "FAILED", report.text()
    assert _chain_findings(report, stream), report.text()
    for column in ("sha256", "content_base64", "size", "storage_uri", "part_count", "owner_id"):
        assert f"{stream}.{column}" not in report.unproven_columns, report.unproven_columns


def test_file_records_before_their_chain_are_unproven_never_failed(
    sealed: Sealed, tmp_path: Path
) -> None:
    """An archive and state written by a tap version before the stored files' chain (no chain
    columns, no head in the state): consistent, unproven, with a limitation naming them."""
    records = sealed.records()
    state = copy.deepcopy(sealed.second.state)
    for stream in FILE_STREAMS:
        records[stream] = [rest_chain.without_chain(row) for row in records[stream]]
        for key in (chain.HEAD_KEY, chain.SEQ_KEY, rest_chain.HEAD_KEY_KEY):
            state["bookmarks"].get(stream, {}).pop(key, None)
    state["bookmarks"]["log_files"].pop("selected_columns")  # nor the selection
    report = _verify(records, tmp_path, sealed, seals=False, state=state)
    assert report.status == "consistent", report.text()
    assert any(
        "before their chain" in text and all(s in text for s in FILE_STREAMS)
        for text in report.limitations
    ), report.limitations


@pytest.mark.parametrize("stream", ["library_file_contents", "gpt_files"])
def test_a_run_killed_after_file_records_then_run_again_is_intact(
    tmp_path: Path, stream: str
) -> None:
    """A run killed before the STATE carrying its stored files' heads, then run again from the
    last STATE it wrote: the rows written twice link the same, and the archive is intact."""
    with running(CONFIG) as sim:
        first = run_objects(sim, EVERY, **OPTIONS)
        assert first.returncode == 0, first.stderr[-3000:]
        lines = first.stdout.splitlines()
        files = [
            i
            for i, line in enumerate(lines)
            if line.startswith("{")
            and json.loads(line).get("type") == "RECORD"
            and json.loads(line).get("stream") == stream
        ]
        assert len(files) >= 2, f"no {stream} records to kill the run after"
        killed, states = parse_singer("\n".join(lines[: files[len(files) // 2] + 1]) + "\n")
        rerun = run_objects(sim, EVERY, state=states[-1] if states else None, **OPTIONS)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    records: Records = {}
    for run_records in (killed, rerun.records):
        for stream, rows in run_records.items():
            records.setdefault(stream, []).extend(copy.deepcopy(rows))
    folder = write_jsonl(records, tmp_path / "archive")
    report = verify(sources.from_jsonl(folder), anchor_from_state(rerun.state, "state"))
    assert report.status == "intact", report.text()
    assert report.chains[stream]["unbroken"], report.text()


def test_s3_sealed_runs_are_intact_and_a_file_record_removed_is_a_seal_finding(
    sealed: Sealed, s3_client: Any, s3_bucket: str, s3_endpoint: str
) -> None:
    """The same on S3 (one object per stream and run, as target-s3 writes), by the CLI."""
    prefix = "chatgpt-compliance/acme"
    for number, run in enumerate((sealed.first, sealed.second)):
        for stream, rows in run.records.items():
            body = "".join(json.dumps(row) + "\n" for row in rows).encode()
            key = f"{prefix}/{stream}/{stream}-{number}.jsonl"
            s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    args = ["--s3", f"s3://{s3_bucket}/{prefix}", "--endpoint-url", s3_endpoint]
    args += ["--seals", str(sealed.seals)]
    done = verify_cli(*args)
    assert done.returncode == 0, done.stdout
    assert "VERDICT: intact" in done.stdout, done.stdout
    rows = copy.deepcopy(sealed.first.records["library_file_contents"])
    lone = _lone_record({"library_file_contents": rows}, "library_file_contents")
    del rows[lone]
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    key = f"{prefix}/library_file_contents/library_file_contents-0.jsonl"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    done = verify_cli(*args)
    assert done.returncode == 1, done.stdout
    assert "stream library_file_contents: the sealed runs wrote" in done.stdout, done.stdout
