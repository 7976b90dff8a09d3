"""A fifth audit of ``verify``, against the two stores a user archives into: PostgreSQL (loaded
by the installed target-postgres) and S3 (moto, target-s3's layout).

The adversary can write the database or the bucket. One archive per store is built once; each
attack works on a copy (a schema copy, a key prefix) and verify runs in-process, anchored by
the run's state.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tests.support.evidence import copy_schema, postgres_dsn
from tests.support.tap import TapRun

from .test_meltano_verify import load_postgres

pytestmark = pytest.mark.e2e
Rows = list[dict[str, Any]]


def _lines(report: Report) -> list[str]:
    return [finding.line() for finding in report.findings]


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_archive(
    inline_run: TapRun, pg_params: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The run loaded once by target-postgres into schema ``acme``; yields the DSN."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**pg_params, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = {**pg_params, "dbname": name}
    try:
        load = load_postgres(inline_run.stdout, database, tmp_path_factory.mktemp("pg"))
        assert load.returncode == 0, load.stderr[-3000:]
        yield postgres_dsn(database)
    finally:
        with psycopg.connect(**pg_params, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_verify(dsn: str, schema: str, run: TapRun) -> Report:
    return verify(sources.from_postgres(dsn, schema), anchor_from_state(run.state or {}, "state"))


def test_postgres_copy_is_intact_and_type_changes_are_seen(
    pg_archive: str, inline_run: TapRun
) -> None:
    """The schema copy verifies intact; a column's type changed so that its values change
    (a timestamp rounded, shifted to another time zone, a text truncated) is a finding; a
    change that keeps every value (the event as text, rows in another order) is none."""
    assert _pg_verify(pg_archive, copy_schema(pg_archive), inline_run).status == "intact"
    altering = {
        "created_at": "ALTER TABLE S.messages ALTER COLUMN created_at TYPE timestamp(0)",
        "created_at ": "ALTER TABLE S.messages ALTER COLUMN created_at TYPE timestamptz "
        "USING created_at AT TIME ZONE 'Asia/Tokyo'",
        "content_text": "ALTER TABLE S.messages ALTER COLUMN content_text TYPE varchar(20) "
        "USING left(content_text, 20)",
    }
    for column, statement in altering.items():
        report = _pg_verify(pg_archive, copy_schema(pg_archive, statement), inline_run)
        assert report.status == "FAILED", statement
        assert any(f"column {column.strip()}: differs" in line for line in _lines(report))
    keeping = (
        "ALTER TABLE S.messages ALTER COLUMN event TYPE text",
        "ALTER TABLE S.messages ALTER COLUMN created_at TYPE timestamptz "
        "USING created_at AT TIME ZONE 'UTC'",
        "CREATE TABLE S.reordered AS SELECT * FROM S.messages ORDER BY id DESC; "
        "DROP TABLE S.messages; ALTER TABLE S.reordered RENAME TO messages",
    )
    for statement in keeping:
        report = _pg_verify(pg_archive, copy_schema(pg_archive, statement), inline_run)
        assert report.status == "intact", (statement, _lines(report))


def _columns(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'acme' "
            "AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [str(name) for (name,) in rows]


def test_a_view_that_shows_verify_other_rows_is_a_finding(
    pg_archive: str, inline_run: TapRun
) -> None:
    """``messages`` replaced by a view over the kept rows that shows the delivered text to a
    query that looks like verify's (``current_query()`` names its cursor) and a forged one to
    everyone else: every reader sees "I agreed.", verify read the delivered rows and said
    intact. What verify reads must be stored rows: a view is a finding."""
    select = ", ".join(
        "CASE WHEN current_query() LIKE '%verify%' THEN content_text ELSE 'I agreed.' END "
        "AS content_text"
        if column == "content_text"
        else column
        for column in _columns(pg_archive, "messages")
    )
    schema = copy_schema(
        pg_archive,
        "ALTER TABLE S.messages RENAME TO messages_kept",
        f"CREATE VIEW S.messages AS SELECT {select} FROM S.messages_kept",
    )
    with psycopg.connect(pg_archive) as conn:
        ((forged, rows),) = conn.execute(
            f"SELECT count(*) FILTER (WHERE content_text = 'I agreed.'), count(*) "
            f"FROM {schema}.messages"
        ).fetchall()
    assert forged == rows > 0
    report = _pg_verify(pg_archive, schema, inline_run)
    assert report.status == "FAILED", _lines(report)
    assert any(
        line.startswith(f"read: table {schema}.messages: a view") for line in _lines(report)
    ), _lines(report)


def test_row_level_security_is_a_finding(pg_archive: str, inline_run: TapRun) -> None:
    """Row-level security makes the rows of a table depend on who reads it: a policy can hide a
    row from every reader but verify's role (a superuser, the owner: they bypass it), or show
    other readers rows verify does not see. verify cannot prove what others read: a finding."""
    schema = copy_schema(
        pg_archive,
        "ALTER TABLE S.messages ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY hide ON S.messages USING (content_text IS NULL)",
    )
    report = _pg_verify(pg_archive, schema, inline_run)
    assert report.status == "FAILED", _lines(report)
    assert any(
        line.startswith(f"read: table {schema}.messages: row-level security")
        for line in _lines(report)
    ), _lines(report)
    schema = copy_schema(
        pg_archive,
        "CREATE TABLE S.more () INHERITS (S.messages)",
        "ALTER TABLE S.more ENABLE ROW LEVEL SECURITY",
    )
    report = _pg_verify(pg_archive, schema, inline_run)
    assert _lines(report) == [
        f"read: table {schema}.messages: row-level security is enabled on {schema}.more: which "
        "rows a reader sees depends on who reads (a policy can hide rows from other readers, or "
        "show them rows verify's role does not see)"
    ]


# --------------------------------------------------------------------------- S3


def _put(client: Any, bucket: str, key: str, rows: Rows, packed: bool = True) -> None:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body) if packed else body)


def test_s3_objects_under_a_stream_are_all_read(
    inline_run: TapRun, s3_client: Any, s3_bucket: str, s3_endpoint: str
) -> None:
    """target-s3's layout (``<prefix>/<stream>/YYYY/MM/DD/…-<uuid>.jsonl.gz``). An object
    recompressed (other bytes, same lines) is the same archive. An object of forged messages
    under ``messages/`` whose name does not end in ``.jsonl``/``.json``[``.gz``] was not read:
    intact, while a reader of the stream's folder (Athena, Spark, DuckDB's ``messages/**``)
    reads every object in it. Every object under a stream's folder is now read as that stream."""
    prefix = "chatgpt-compliance/acme"
    records = json.loads(json.dumps(inline_run.records))
    for stream, rows in records.items():
        _put(s3_client, s3_bucket, f"{prefix}/{stream}/2026/12/06/{stream}-1.jsonl.gz", rows)
    options = {"endpoint_url": s3_endpoint}

    def run() -> Report:
        archive = sources.from_s3(f"s3://{s3_bucket}/{prefix}", options)
        return verify(archive, anchor_from_state(inline_run.state or {}, "state"))

    assert run().status == "intact"
    key = f"{prefix}/messages/2026/12/06/messages-1.jsonl.gz"
    body = "".join(json.dumps(r) + "\n" for r in records["messages"]).encode()
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=gzip.compress(body, compresslevel=1))
    assert run().status == "intact"

    forged = json.loads(json.dumps(records["messages"]))
    message = next(m for m in forged if m.get("content_text"))
    message["content_text"] = "I agreed."
    for name, packed in (("messages-2.ndjson", False), ("messages-2", True)):
        extra = f"{prefix}/messages/2026/12/07/{name}"
        _put(s3_client, s3_bucket, extra, [message], packed)
        report = run()
        assert report.status == "FAILED", (name, _lines(report))
        assert any("column content_text" in line for line in _lines(report)), _lines(report)
        s3_client.delete_object(Bucket=s3_bucket, Key=extra)
