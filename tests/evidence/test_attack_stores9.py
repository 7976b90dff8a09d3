"""A ninth attack on ``verify``, against the stores: PostgreSQL (loaded by target-postgres), S3
(moto, target-s3's layout) and the target-jsonl folder.

The adversary can write the database (as its owner), the bucket or the folder; what a reader of
the store sees must be what verify proved. Each attack works on a copy, verify runs in-process.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tests.support.evidence import copy_schema
from tests.support.tap import TapRun

from .test_audit_stores5 import _columns, _lines, _pg_verify
from .test_audit_stores5 import pg_archive as pg_archive  # the module's fixture

pytestmark = pytest.mark.e2e
Rows = list[dict[str, Any]]


# --------------------------------------------------------------------------- PostgreSQL


def _database(dsn: str) -> str:
    return next(p.split("=", 1)[1] for p in dsn.split() if p.startswith("dbname="))


def test_a_search_path_set_on_the_database_does_not_hide_a_view(
    pg_archive: str, inline_run: TapRun
) -> None:
    """The database's owner sets ``search_path = evil, pg_catalog`` for every session and puts
    a ``pg_class`` in ``evil`` that calls views tables: verify's catalog query read it and a
    view forging ``messages`` for every reader but verify was ``intact``. verify's session
    reads the catalog only (search_path pinned, names qualified)."""
    select = ", ".join(
        "CASE WHEN current_query() LIKE '%verify%' THEN content_text ELSE 'I agreed.' END "
        "AS content_text"
        if column == "content_text"
        else column
        for column in _columns(pg_archive, "messages")
    )
    evil = f"e_{uuid.uuid4().hex[:8]}"
    schema = copy_schema(
        pg_archive,
        "ALTER TABLE S.messages RENAME TO messages_kept",
        f"CREATE VIEW S.messages AS SELECT {select} FROM S.messages_kept",
        f"CREATE SCHEMA {evil}",
        f"CREATE VIEW {evil}.pg_class AS SELECT oid, relname, relnamespace, relrowsecurity, "
        "CASE relkind WHEN 'v' THEN 'r'::\"char\" ELSE relkind END AS relkind "
        "FROM pg_catalog.pg_class",
    )
    database = _database(pg_archive)
    with psycopg.connect(pg_archive, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET search_path = {evil}, pg_catalog')
    try:
        report = _pg_verify(pg_archive, schema, inline_run)
    finally:
        with psycopg.connect(pg_archive, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" RESET search_path')
    assert any(
        line.startswith(f"read: table {schema}.messages: a view") for line in _lines(report)
    ), _lines(report)


def test_a_float_output_setting_does_not_round_what_verify_reads(
    pg_archive: str, inline_run: TapRun
) -> None:
    """A part's ``size`` made ``double precision`` and 1e-9 added: every reader sees
    ``1234.000000001``; with ``extra_float_digits = -3`` (12 digits) set on the database,
    verify's session was sent ``1234`` and said intact. verify pins how values reach it."""
    schema = copy_schema(
        pg_archive,
        "ALTER TABLE S.log_file_parts ALTER COLUMN size TYPE double precision",
        "UPDATE S.log_file_parts SET size = size + 0.000000001",
    )
    database = _database(pg_archive)
    with psycopg.connect(pg_archive, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET extra_float_digits = -3')
    try:
        report = _pg_verify(pg_archive, schema, inline_run)
    finally:
        with psycopg.connect(pg_archive, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" RESET extra_float_digits')
    assert report.status == "FAILED", _lines(report)
    assert any("column size says" in line for line in _lines(report)), _lines(report)


def test_a_numeric_fraction_below_double_precision_is_a_finding(
    pg_archive: str, inline_run: TapRun
) -> None:
    """``size`` made ``numeric`` and 1e-19 added: readers see ``1234.0000000000000000001``,
    verify turned the Decimal into a float (1234.0) and said intact."""
    schema = copy_schema(
        pg_archive,
        "ALTER TABLE S.log_file_parts ALTER COLUMN size TYPE numeric",
        "UPDATE S.log_file_parts SET size = size + 0.0000000000000000001",
    )
    report = _pg_verify(pg_archive, schema, inline_run)
    assert report.status == "FAILED", _lines(report)
    assert any("column size says" in line for line in _lines(report)), _lines(report)


def test_a_json_string_in_place_of_an_object_is_a_finding(
    pg_archive: str, inline_run: TapRun
) -> None:
    """``messages.event`` (jsonb) set to a JSON *string* holding the event's text: a reader's
    ``event->'message'`` is NULL, verify parsed the string as JSON kept as text and said intact.
    A ``text`` column holding the JSON is still read as JSON (another target's layout)."""
    schema = copy_schema(pg_archive, "UPDATE S.messages SET event = to_jsonb(event::text)")
    report = _pg_verify(pg_archive, schema, inline_run)
    assert report.status == "FAILED", _lines(report)
    assert any(
        line.startswith("column: messages")
        and line.endswith("column event: differs from its raw line (as the tap derives it)")
        for line in _lines(report)
    ), _lines(report)
    schema = copy_schema(pg_archive, "ALTER TABLE S.messages ALTER COLUMN event TYPE text")
    assert _pg_verify(pg_archive, schema, inline_run).status == "intact"


def test_what_the_stored_rows_show_is_what_verify_reads(
    pg_archive: str, inline_run: TapRun
) -> None:
    """Already caught, kept caught: an ``ON SELECT`` rule makes the (empty) table a view; a
    generated column and a column added with a default are stored values verify reads; a
    trigger changes only rows written after it (verify reads those)."""
    rule = copy_schema(
        pg_archive,
        "ALTER TABLE S.messages RENAME TO messages_kept",
        "CREATE TABLE S.messages (LIKE S.messages_kept)",
        'CREATE RULE "_RETURN" AS ON SELECT TO S.messages DO INSTEAD SELECT * FROM S.messages_kept',
    )
    assert any(
        line.startswith(f"read: table {rule}.messages: a view")
        for line in _lines(_pg_verify(pg_archive, rule, inline_run))
    )
    for statement in (
        "ALTER TABLE S.messages ADD COLUMN note text GENERATED ALWAYS AS ('I agreed.') STORED",
        "ALTER TABLE S.messages ADD COLUMN note text DEFAULT 'I agreed.'",
    ):
        report = _pg_verify(pg_archive, copy_schema(pg_archive, statement), inline_run)
        assert any("column note: differs" in line for line in _lines(report)), statement


# --------------------------------------------------------------------------- S3


def _body(rows: Rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture
def s3(inline_run: TapRun, s3_client: Any, s3_bucket: str, s3_endpoint: str) -> Any:
    """The run uploaded under ``acme`` (one object a stream); ``s3.run(url)`` verifies."""
    records = json.loads(json.dumps(inline_run.records))
    for stream, rows in records.items():
        s3_client.put_object(
            Bucket=s3_bucket, Key=f"acme/{stream}/{stream}-1.jsonl", Body=_body(rows)
        )

    class S3:
        client, bucket, rows = s3_client, s3_bucket, records

        @staticmethod
        def run(prefix: str = "acme") -> Report:
            archive = sources.from_s3(f"s3://{s3_bucket}/{prefix}", {"endpoint_url": s3_endpoint})
            return verify(archive, anchor_from_state(inline_run.state or {}, "state"))

        @staticmethod
        def put(key: str, body: bytes, **extra: Any) -> None:
            s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body, **extra)

    assert S3.run().status == "intact"
    return S3


def test_s3_keys_with_an_empty_segment_are_findings(s3: Any) -> None:
    """A message removed from ``acme/messages/`` (what every reader of the folder sees) and put
    under ``acme//messages/``: verify stripped the ``/`` and read it as ``messages``: intact.
    A key with an empty segment (``//``, or a trailing ``/`` on an object holding bytes) is in
    a folder readers disagree on: a ``read`` finding, not read."""
    messages = s3.rows["messages"]
    s3.put("acme/messages/messages-1.jsonl", _body(messages[1:]))
    s3.put("acme//messages/messages-2.jsonl", _body(messages[:1]))
    lines = _lines(s3.run())
    assert any("missing: messages event" in line for line in lines), lines
    assert f"read: s3://{s3.bucket}/acme//messages/messages-2.jsonl" in "\n".join(lines)
    s3.client.delete_object(Bucket=s3.bucket, Key="acme//messages/messages-2.jsonl")
    s3.put("acme/messages/messages-1.jsonl", _body(messages))
    for key in ("acme/messages//messages-2.jsonl", "acme/messages/messages-2.jsonl/"):
        s3.put(key, _body(messages[:1]))
        lines = _lines(s3.run())
        assert lines == [
            f"read: s3://{s3.bucket}/{key}: a key with an empty path segment ('//' or a "
            "trailing '/'): readers differ on which folder holds it (not read; rename it)"
        ], lines
        s3.client.delete_object(Bucket=s3.bucket, Key=key)
    s3.put("acme/messages/2026/", b"")  # an empty folder marker (the console makes them)
    assert s3.run().status == "intact"


def test_s3_a_sibling_prefix_is_not_read(s3: Any) -> None:
    """``s3://b/acme`` and ``s3://b/acme/`` read ``acme/`` only: forged rows under
    ``acme-evil/`` or ``acmemessages/`` (another tenant's prefix) are not the archive."""
    forged = json.loads(json.dumps(s3.rows["messages"]))
    next(m for m in forged if m.get("content_text"))["content_text"] = "I agreed."
    s3.put("acme-evil/messages/messages-1.jsonl", _body(forged))
    s3.put("acmemessages/messages-1.jsonl", _body(forged))
    assert s3.run("acme").status == "intact"
    assert s3.run("acme/").status == "intact"


def test_s3_versions_readers_see_the_current_one(s3: Any) -> None:
    """With versioning, an older version with other bytes is what no reader gets (the current
    version is read, by readers and verify alike); a delete marker hides the object from every
    reader: its rows are missing for verify too."""
    s3.client.put_bucket_versioning(Bucket=s3.bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "acme/messages/messages-1.jsonl"
    forged = json.loads(json.dumps(s3.rows["messages"]))
    next(m for m in forged if m.get("content_text"))["content_text"] = "I agreed."
    s3.put(key, _body(forged))
    s3.put(key, _body(s3.rows["messages"]))
    assert s3.run().status == "intact"
    s3.client.delete_object(Bucket=s3.bucket, Key=key)
    lines = _lines(s3.run())
    assert any(line.startswith("missing: messages event") for line in lines), lines


def test_s3_content_encoding_and_packing_by_name(s3: Any) -> None:
    """``Content-Encoding: gzip`` on plain JSONL (a reader that honours it, any HTTP client,
    cannot read it) and gzip bytes under a name without ``.gz`` (readers go by the name) were
    intact: each is one ``read`` finding naming the object; its lines are still verified."""
    key = "acme/messages/messages-1.jsonl"
    s3.put(key, _body(s3.rows["messages"]), ContentEncoding="gzip")
    assert _lines(s3.run()) == [
        f"read: s3://{s3.bucket}/{key}: stored with Content-Encoding 'gzip': a reader that "
        "decodes it (any HTTP client) does not get the bytes verify read (store it without)"
    ]
    s3.put(key, gzip.compress(_body(s3.rows["messages"])))
    assert _lines(s3.run()) == [
        f"read: s3://{s3.bucket}/{key}: gzip-compressed but its name does not end in .gz: "
        "readers that go by the name cannot read it (rename it)"
    ]


# --------------------------------------------------------------------------- JSONL folder


def _jsonl_verify(folder: Path, run: TapRun) -> Report:
    return verify(sources.from_jsonl(folder), anchor_from_state(run.state or {}, "state"))


def test_a_fifo_socket_or_folder_named_like_a_stream_file_is_a_finding(
    inline_archive: Path, copy_of: Any, inline_run: TapRun, tmp_path: Path
) -> None:
    """A FIFO, a socket or a folder named ``messages-….jsonl`` was skipped in silence (no
    regular file): a reader of ``messages*.jsonl`` fails or blocks on it. A ``read`` finding,
    and the FIFO is never opened (verify does not hang)."""
    folder = copy_of(inline_archive)
    os.mkfifo(folder / "messages-2.jsonl")
    (folder / "messages-3.jsonl").mkdir()
    bound = socket.socket(socket.AF_UNIX)
    try:
        bound.bind(str(folder / "messages-4.jsonl.gz"))
        lines = _lines(_jsonl_verify(folder, inline_run))
    finally:
        bound.close()
    assert lines == [
        f"read: file {name}: not a regular file (a FIFO, socket, device or folder): not read, "
        "a reader of the folder fails or blocks on it (remove it)"
        for name in ("messages-2.jsonl", "messages-3.jsonl", "messages-4.jsonl.gz")
    ], lines


def test_packing_that_does_not_match_the_name_is_a_finding(
    inline_archive: Path, copy_of: Any, inline_run: TapRun
) -> None:
    """``messages-….jsonl`` holding gzip and ``….jsonl.gz`` holding plain text were intact
    (verify goes by the first bytes), tools that go by the name cannot read them."""
    folder = copy_of(inline_archive)
    (path,) = folder.glob("messages-*.jsonl")
    path.write_bytes(gzip.compress(path.read_bytes()))
    assert _lines(_jsonl_verify(folder, inline_run)) == [
        f"read: {path}: gzip-compressed but its name does not end in .gz: readers that go by "
        "the name cannot read it (rename it)"
    ]
    plain = path.with_name(path.name + ".gz")
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()
    assert _lines(_jsonl_verify(folder, inline_run)) == [
        f"read: {plain}: named .gz but not gzip-compressed: readers that go by the name "
        "cannot read it (rename it)"
    ]


def test_a_bom_only_starts_a_file(inline_archive: Path, copy_of: Any, inline_run: TapRun) -> None:
    """A BOM before the first line is read (test_audit_verify); one before a later line is
    not JSON to stricter readers (Python's ``json.loads`` of text, jq): a ``read`` finding."""
    folder = copy_of(inline_archive)
    (path,) = folder.glob("messages-*.jsonl")
    first, rest = path.read_bytes().split(b"\n", 1)
    path.write_bytes(first + b"\n\xef\xbb\xbf" + rest)
    lines = _lines(_jsonl_verify(folder, inline_run))
    assert f"read: {path} line 2: not JSON (a byte order mark (BOM) after the first line)" in (
        lines
    ), lines


def test_s3_listing_past_a_thousand_keys(s3: Any) -> None:
    """A listing returns 1000 keys a page: 1000 keys before the streams' (``acme/aaa/…``,
    not a stream) put every stream's objects on the second page; they are all read, and the
    one message removed from there is missing."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3.put(f"acme/aaa/{n:04}", b""), range(1000)))
    assert len(s3.client.list_objects_v2(Bucket=s3.bucket, Prefix="acme/")["Contents"]) == 1000
    assert s3.run().status == "intact"
    s3.put("acme/messages/messages-1.jsonl", _body(s3.rows["messages"][1:]))
    assert any(line.startswith("missing: messages event") for line in _lines(s3.run()))
