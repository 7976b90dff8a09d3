"""The evidence tools as the tests call them, and archives laid out as target-jsonl writes them."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tap_chatgpt_compliance.evidence.cli import main


def write_jsonl(records: dict[str, list[dict[str, Any]]], folder: Path) -> Path:
    """Write records as target-jsonl does: ``<stream>-<timestamp>.jsonl``, one record a line."""
    folder.mkdir(parents=True, exist_ok=True)
    for stream, rows in records.items():
        path = folder / f"{stream}-20261126T120000.jsonl"
        with path.open("a") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    return folder


def cli(*args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``chatgpt-compliance ARGS``: in this process (fast), or as a real process."""
    if process:
        command = [sys.executable, "-m", "tap_chatgpt_compliance.evidence.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def verify_cli(*args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``chatgpt-compliance verify``."""
    return cli("verify", *args, process=process)


def postgres_dsn(database: dict[str, Any]) -> str:
    """Return the libpq DSN (``host=… port=…``) of the test server's connection settings."""
    return " ".join(f"{k}={v}" for k, v in database.items())


@contextlib.contextmanager
def temporary_database(server: dict[str, str]) -> Iterator[dict[str, str]]:
    """Create a fresh database on the test server; yield its connection settings; drop it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**server, "dbname": name}
    finally:
        with psycopg.connect(**server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_schema(
    dsn: str, *statements: str | tuple[str, tuple[Any, ...]], source: str = "acme"
) -> str:
    """Copy schema ``source`` (tables, types, keys, rows) to a new schema and return its name.

    Each statement (SQL, or SQL and its parameters) then runs in the copy, ``S.`` naming it.
    """
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (source,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(
                f'CREATE TABLE {schema}."{table}" (LIKE {source}."{table}" INCLUDING ALL); '
                f'INSERT INTO {schema}."{table}" SELECT * FROM {source}."{table}"'
            )
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, None)
            conn.execute(sql.replace("S.", f"{schema}."), params)  # type: ignore[arg-type]
    return schema
