"""End to end through the real Meltano CLI: simulator -> tap -> target-s3 / target-postgres /
target-jsonl, with state in Meltano's S3 state backend. ``verify`` runs on what each loader wrote:
intact, then tampered with where it lives (an object removed from S3, a row deleted in
PostgreSQL, a line dropped from a JSONL file), and it names the item."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.evidence import postgres_dsn, verify_cli
from tests.support.meltano import (
    TENANTS,
    expected,
    ids,
    jsonl_records,
    s3_objects,
    s3_records,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def assert_matches_truth(recs: dict[str, list[dict]], exp: dict, *, where: str) -> None:
    """Every stream that has a ground truth arrived completely, and nothing else."""
    assert ids(recs.get("messages", []), "messages") == exp["messages"], where
    assert ids(recs.get("conversations", []), "conversations") == exp["conversations"], where
    assert ids(recs.get("log_files", []), "log_files") == exp["log_files"], where
    files = recs.get("files", [])
    assert exp["files_live"] <= ids(files, "files") <= exp["files_all"], where
    archived = {f["id"] for f in files if f.get("status") == "archived"}
    assert archived == exp["files_live"], where
    for f in files:
        if f["id"] in archived:
            assert f["sha256"] == exp["attachments"][f["id"]]["sha256"], (where, f["id"])
    # Every record of every stream belongs to this tenant's workspace.
    for stream, rows in recs.items():
        assert {r["workspace_id"] for r in rows} <= exp["workspace_id"], (where, stream)


def findings(report: Path) -> list[str]:
    data = json.loads(report.read_text())
    return [f"{f['check']}: {f['item']}: {f['detail']}" for f in data["findings"]]


def assert_verifies(*source: str) -> None:
    """``verify`` on an archive a `meltano run` wrote: consistent (no --state: never intact)."""
    done = verify_cli(*source)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERDICT: consistent, unanchored" in done.stdout
    assert "password=" not in done.stdout + done.stderr  # a DSN is never echoed


def assert_clean(meltano, sim) -> None:
    """The archiver is read-only and never prints a secret."""
    assert sim.non_get_count == 0
    out = meltano.all_output()
    for t in sim.tenants:
        assert t.api_key not in out


def test_s3_tenants_then_incremental_with_s3_state(meltano, sim2, s3_client, s3_bucket):
    """Headline: `meltano run tap-chatgpt-compliance--<tenant> target-s3` for each tenant (globex
    with file_content=storage), each under its own prefix and state id; then acme again: only
    new data. One set of runs for tenant isolation, storage mode and the incremental run."""
    exp1 = expected(sim2, 0)
    assert exp1["messages"], "simulator produced no messages"
    meltano.elt("acme", "target-s3")
    acme_only = s3_objects(s3_client, s3_bucket, "chatgpt-compliance/")
    assert acme_only
    assert all(k.startswith("chatgpt-compliance/acme/") for k in acme_only)
    storage = f"s3://{s3_bucket}/attachments"
    meltano.elt(
        "globex",
        "target-s3",
        extra_env={
            "TAP_CHATGPT_COMPLIANCE_FILE_CONTENT": "storage",
            "TAP_CHATGPT_COMPLIANCE_FILE_STORAGE_URL": storage,
            # This bucket has no Object Lock: seals are tested in tests/tap/test_seals.py.
            "TAP_CHATGPT_COMPLIANCE_SEAL_STORAGE_URL": "none",
        },
    )

    objs1 = s3_objects(s3_client, s3_bucket, "chatgpt-compliance/")
    for key, obj in acme_only.items():  # globex's run touched nothing of acme's
        assert objs1[key]["etag"] == obj["etag"], key
    for i, tenant in enumerate(TENANTS):
        recs = s3_records(objs1, tenant)
        assert_matches_truth(recs, expected(sim2, i), where=f"s3 run 1 {tenant}")
        other = expected(sim2, 1 - i)
        assert not ids(recs.get("messages", []), "messages") & other["messages"]
    assert {k.split("/")[1] for k in objs1} == set(TENANTS)

    # State went to Meltano's S3 state backend, under each tenant's own state id.
    state_keys = list(s3_objects(s3_client, s3_bucket, "meltano-state/"))
    for tenant in TENANTS:
        assert any(f"tap-chatgpt-compliance--{tenant}-to-target-s3" in k for k in state_keys)
    state_obj = next(k for k in state_keys if k.endswith("state.json") and "--acme-" in k)
    state = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=state_obj)["Body"].read())
    assert state["completed"]["singer_state"]["bookmarks"], state

    # globex's attachments (file_content=storage) are at <file_storage_url>/sha256/<hex[:2]>/<hex>.
    exp_globex = expected(sim2, 1)
    assert exp_globex["files_live"], "simulator produced no attachments"
    stored = s3_objects(s3_client, s3_bucket, "attachments/")
    by_id = {f["id"]: f for f in s3_records(objs1, "globex")["files"]}
    for fid in exp_globex["files_live"]:
        sha = exp_globex["attachments"][fid]["sha256"]
        key = f"attachments/sha256/{sha[:2]}/{sha}"
        assert key in stored, (fid, key)
        assert hashlib.sha256(stored[key]["body"]).hexdigest() == sha
        assert by_id[fid]["storage_uri"] == f"s3://{s3_bucket}/{key}"
        assert not by_id[fid].get("content_base64")

    # New activity; the second run of acme moves only what is new.
    sim2.advance(timedelta(hours=3))
    exp2 = expected(sim2, 0)
    new_messages = exp2["messages"] - exp1["messages"]
    assert new_messages, "simulator produced no new messages"
    meltano.elt("acme", "target-s3")

    objs2 = s3_objects(s3_client, s3_bucket, "chatgpt-compliance/")
    # Nothing earlier was overwritten or removed.
    for key, obj in objs1.items():
        assert key in objs2, key
        assert objs2[key]["etag"] == obj["etag"], key
    new_objs = {k: v for k, v in objs2.items() if k not in objs1}
    assert all(k.startswith("chatgpt-compliance/acme/") for k in new_objs), list(new_objs)
    recs_new = s3_records(new_objs, "acme")
    assert ids(recs_new.get("messages", []), "messages") == new_messages
    assert ids(recs_new.get("log_files", []), "log_files") == exp2["log_files"] - exp1["log_files"]
    # Together the two runs hold exactly the ground truth.
    assert_matches_truth(s3_records(objs2, "acme"), exp2, where="s3 run 1+2")
    assert_clean(meltano, sim2)

    # verify on the two runs in S3; then an object removed is named.
    url = f"s3://{s3_bucket}/chatgpt-compliance/acme"
    endpoint = s3_client.meta.endpoint_url
    assert_verifies("--s3", url, "--endpoint-url", endpoint)
    parts = [k for k in objs2 if k.startswith("chatgpt-compliance/acme/log_file_parts/")]
    assert parts
    s3_client.delete_object(Bucket=s3_bucket, Key=parts[0])
    report = meltano.tmp / "report.json"
    done = verify_cli("--s3", url, "--endpoint-url", endpoint, "--report", str(report))
    assert done.returncode == 1
    assert any(line.startswith("raw: log file ") for line in findings(report)), done.stdout


def test_postgres_upserts_and_tenant_isolation(meltano, sim2, pg_query, pg_database):
    for tenant in TENANTS:
        meltano.elt(tenant, "target-postgres")
    # A full-refresh re-run re-sends every record: upserts by key, no duplicate rows.
    meltano.elt("acme", "target-postgres", flags=["--full-refresh"])

    for i, tenant in enumerate(TENANTS):
        exp = expected(sim2, i)
        for stream, key in (
            ("messages", "messages"),
            ("conversations", "conversations"),
            ("log_files", "log_files"),
        ):
            table = f'"{tenant}"."{stream}"'
            total, distinct = pg_query(f"SELECT count(*), count(DISTINCT id) FROM {table}")[0]
            assert total == distinct == len(exp[key]), (tenant, stream)
            got = {r[0] for r in pg_query(f'SELECT id FROM "{tenant}"."{stream}"')}
            assert got == exp[key], (tenant, stream)
        archived = {
            r[0] for r in pg_query(f"SELECT id FROM \"{tenant}\".files WHERE status = 'archived'")
        }
        assert archived == exp["files_live"], tenant
        total, distinct = pg_query(f'SELECT count(*), count(DISTINCT id) FROM "{tenant}".files')[0]
        assert total == distinct
        # Isolation: every row in a tenant's schema carries that tenant's workspace id.
        for stream in ("messages", "conversations", "files", "log_files"):
            table = f'"{tenant}"."{stream}"'
            wss = {r[0] for r in pg_query(f"SELECT DISTINCT workspace_id FROM {table}")}
            assert wss <= exp["workspace_id"], (tenant, stream, wss)
    assert_clean(meltano, sim2)

    # verify on globex's schema (one run); then a row deleted is named.
    dsn = postgres_dsn(pg_database)
    assert_verifies("--postgres", dsn, "--schema", "globex")
    (event_id,) = pg_query("SELECT event_id FROM globex.messages ORDER BY id LIMIT 1")[0]
    pg_query(f"DELETE FROM globex.messages WHERE event_id = '{event_id}' RETURNING 1")
    report = meltano.tmp / "report.json"
    done = verify_cli("--postgres", dsn, "--schema", "globex", "--report", str(report))
    assert done.returncode == 1
    assert any(f"messages event {event_id} " in line for line in findings(report)), done.stdout


def test_a_failed_meltano_run_keeps_its_progress(meltano, sim2):
    """The first run into target-jsonl holds the ground truth: the same tap configuration (the
    same environment) as the S3 and Postgres tests, only the loader name differs. Then a run that
    fails mid-way (a log file failing its SHA-256 check) keeps, through Meltano's state, the files
    it fully emitted; the next run resumes at the failed file, loses nothing."""
    acme = sim2.tenants[0].workspace_id
    meltano.elt("acme", "target-jsonl")
    folder = meltano.tmp / "jsonl" / "acme"
    assert_matches_truth(jsonl_records(folder), expected(sim2, 0), where="jsonl")
    # verify on the first run's files; a dropped manifest line is named (then put back).
    assert_verifies("--jsonl", str(folder))
    (manifest,) = folder.glob("log_files*.jsonl")
    text = manifest.read_text()
    lines = text.splitlines()
    dropped = json.loads(lines[-1])
    manifest.write_text("\n".join(lines[:-1]) + "\n")
    report = meltano.tmp / "report.json"
    done = verify_cli("--jsonl", str(folder), "--report", str(report))
    manifest.write_text(text)
    assert done.returncode == 1
    assert any(f"log file {dropped['id']}" in line for line in findings(report)), done.stdout
    first = {f["id"] for f in sim2.log_files(workspace_id=acme)}
    sim2.advance(timedelta(hours=6))
    new = [f for f in sim2.log_files(workspace_id=acme) if f["id"] not in first]
    assert len(new) >= 3, "the simulator produced too few new log files"
    bad = new[len(new) // 2]
    sim2.corrupt_sha(bad["id"], count=1)  # only the failing run's listing lies

    failed = meltano.elt("acme", "target-jsonl", check=False)
    assert failed.returncode != 0
    assert f"Log file {bad['id']}" in failed.stdout + failed.stderr
    meltano.elt("acme", "target-jsonl")

    recs = jsonl_records(meltano.tmp / "jsonl" / "acme")
    assert ids(recs["messages"], "messages") == expected(sim2, 0)["messages"]
    manifest = [r["id"] for r in recs["log_files"]]
    for log_file in new[: len(new) // 2]:  # emitted before the failure: not read again
        assert manifest.count(log_file["id"]) == 1, log_file["id"]
    assert manifest.count(bad["id"]) == 1
    assert_clean(meltano, sim2)
