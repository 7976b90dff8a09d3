"""The tamper matrix, a representative subset, where archives live: PostgreSQL (loaded by the
installed target-postgres) and S3 (moto), each verified with ``--state``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.evidence import postgres_dsn
from tests.support.tap import TapRun

from .conftest import verify_cli
from .test_meltano_verify import load_postgres

pytestmark = pytest.mark.e2e
CM = "CONVERSATION_MESSAGE"


def _state(run: TapRun, tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(run.state))
    return path


def _findings(args: list[str], tmp_path: Path) -> tuple[int, str, list[str]]:
    report = tmp_path / "report.json"
    done = verify_cli(*args, "--report", str(report))
    assert "Traceback" not in done.stdout + done.stderr
    data = json.loads(report.read_text())
    lines = [f"{f['check']}: {f['item']}: {f['detail']}" for f in data["findings"]]
    return done.returncode, done.stdout, lines


def _newest(run: TapRun) -> dict[str, Any]:
    return max(
        (r for r in run.records["log_files"] if r["event_type"] == CM),
        key=lambda r: r["chain_seq"],
    )


def test_postgres_tampering(
    inline_run: TapRun, pg_database: dict[str, str], pg_query, tmp_path: Path
) -> None:
    load = load_postgres(inline_run.stdout, pg_database, tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    dsn = postgres_dsn(pg_database)
    args = ["--postgres", dsn, "--schema", "acme", "--state", str(_state(inline_run, tmp_path))]
    code, out, lines = _findings(args, tmp_path)
    assert code == 0, out
    assert "VERDICT: intact (anchored: state state.json)" in out

    (message_id, text) = pg_query(
        "SELECT id, content_text FROM acme.messages WHERE content_text IS NOT NULL LIMIT 1"
    )[0]
    pg_query(
        "UPDATE acme.messages SET content_text = 'I agreed.' WHERE id = %s RETURNING 1", message_id
    )
    code, out, lines = _findings(args, tmp_path)
    assert code == 1
    assert any(
        line.startswith("column: messages") and "column content_text" in line for line in lines
    ), lines
    pg_query(
        "UPDATE acme.messages SET content_text = %s WHERE id = %s RETURNING 1", text, message_id
    )

    (user_id, email) = pg_query("SELECT id, email FROM acme.users LIMIT 1")[0]
    pg_query("UPDATE acme.users SET email = 'ceo@example.com' WHERE id = %s RETURNING 1", user_id)
    code, out, lines = _findings(args, tmp_path)
    assert code == 1
    assert any(f"users {user_id} column email" in line for line in lines), lines
    pg_query("UPDATE acme.users SET email = %s WHERE id = %s RETURNING 1", email, user_id)

    newest = _newest(inline_run)["id"]
    for table in ("log_file_parts", "messages", "conversations", "files", "log_files"):
        column = "id" if table == "log_files" else "log_file_id"
        pg_query(f"DELETE FROM acme.{table} WHERE {column} = %s RETURNING 1", newest)
    code, out, lines = _findings(args, tmp_path)
    assert code == 1
    assert any("shorter than its anchor" in line for line in lines), lines
    assert "VERDICT: FAILED" in out


def _upload(s3_client, bucket: str, prefix: str, records: dict[str, list[dict]]) -> None:
    for stream, rows in records.items():
        body = "".join(json.dumps(r) + "\n" for r in rows).encode()
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{stream}/{stream}-1.jsonl", Body=body)


def test_s3_tampering(
    inline_run: TapRun, s3_client, s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    prefix = "chatgpt-compliance/acme"
    records = json.loads(json.dumps(inline_run.records))
    _upload(s3_client, s3_bucket, prefix, records)
    args = [
        "--s3",
        f"s3://{s3_bucket}/{prefix}",
        "--endpoint-url",
        s3_endpoint,
        "--state",
        str(_state(inline_run, tmp_path)),
    ]
    code, out, _ = _findings(args, tmp_path)
    assert code == 0, out
    assert "VERDICT: intact (anchored:" in out

    altered = json.loads(json.dumps(records))
    next(m for m in altered["messages"] if m["content_text"])["content_text"] = "I agreed."
    _upload(s3_client, s3_bucket, prefix, {"messages": altered["messages"]})
    code, out, lines = _findings(args, tmp_path)
    assert code == 1
    assert any("column content_text" in line for line in lines), lines
    _upload(s3_client, s3_bucket, prefix, {"messages": records["messages"]})

    newest = _newest(inline_run)["id"]
    _upload(
        s3_client,
        s3_bucket,
        prefix,
        {"log_files": [r for r in records["log_files"] if r["id"] != newest]},
    )
    code, out, lines = _findings(args, tmp_path)
    assert code == 1
    assert any("shorter than its anchor" in line for line in lines), lines
    _upload(s3_client, s3_bucket, prefix, {"log_files": records["log_files"]})

    body = "".join(json.dumps(r) + "\n" for r in records["log_file_parts"]).encode()
    packed = gzip.compress(body)
    s3_client.delete_object(Bucket=s3_bucket, Key=f"{prefix}/log_file_parts/log_file_parts-1.jsonl")
    s3_client.put_object(
        Bucket=s3_bucket,
        Key=f"{prefix}/log_file_parts/log_file_parts-1.jsonl.gz",
        Body=packed[: len(packed) // 2],
    )
    code, out, lines = _findings(args, tmp_path)
    assert code == 1
    assert any(line.startswith("read: s3://") and "unreadable" in line for line in lines), lines
