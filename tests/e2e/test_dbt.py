"""The dbt project (transform/) through Meltano on real PostgreSQL data: simulator -> tap ->
target-postgres (several incremental runs), then `dbt-postgres--acme:build` in the same
`meltano run`, then the models are checked against the simulator's ground truth."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
import yaml

from chatgpt_compliance_simulator.knobs import Inventory
from tests.e2e.workspace_models import check_workspace_models
from tests.support.meltano import REPO_ROOT, SIM_KW, expected, tenant_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = "acme"  # the tenant's load_schema: what target-postgres wrote
MODELS = "acme_archive"  # where dbt-postgres--acme builds


@pytest.fixture
def sim2(simulator_factory):
    """One tenant (acme), a few more conversations than the other e2e tests so that later runs
    add messages to conversations an earlier run already loaded."""
    # New GPT/project configurations after the start: the workspace models' history grows
    # across the incremental loads (issue 21).
    inventory = Inventory(config_versions_per_day=2.0, canvas_versions_per_day=2.0)
    return simulator_factory(tenants=1, **{**SIM_KW, "conversations": 8}, inventory=inventory)


def dbt_env(meltano, pg_database: dict[str, str]) -> dict[str, str]:
    """What a user sets for dbt-postgres: the connection, from the environment."""
    for key in [k for k in meltano.env if k.startswith("DBT_")]:
        del meltano.env[key]
    return {
        "DBT_POSTGRES_HOST": pg_database["host"],
        "DBT_POSTGRES_PORT": str(pg_database["port"]),
        "DBT_POSTGRES_USER": pg_database["user"],
        "DBT_POSTGRES_PASSWORD": pg_database["password"],
        "DBT_POSTGRES_DBNAME": pg_database["dbname"],
        # keep dbt's artefacts out of the shared .meltano/ (tests may run concurrently)
        "DBT_POSTGRES_TARGET_PATH": str(meltano.tmp / "dbt-target"),
        "DBT_POSTGRES_LOG_PATH": str(meltano.tmp / "dbt-logs"),
    }


def advance_until_a_loaded_conversation_grows(sim, loaded: dict) -> None:
    """Advance the simulated clock until some conversation already loaded gets new messages."""
    loaded_conversations = {m["conversation_id"] for m in loaded["messages_detail"].values()}
    for _ in range(12):
        sim.advance(timedelta(hours=2))
        gt = sim.ground_truth(workspace_id=sim.tenants[0].workspace_id)
        grown = {
            m["conversation_id"]
            for mid, m in gt["messages"].items()
            if mid not in loaded["messages"] and m["conversation_id"] in loaded_conversations
        }
        if grown:
            return
    pytest.fail("the simulator never added messages to an already loaded conversation")


def truth(sim) -> dict:
    exp = expected(sim, 0)
    gt = sim.ground_truth(workspace_id=sim.tenants[0].workspace_id)
    exp["messages_detail"] = gt["messages"]
    exp["conversations_detail"] = gt["conversations"]
    return exp


def test_dbt_build_on_incremental_postgres_loads(meltano, sim2, pg_query, pg_database):
    env = dbt_env(meltano, pg_database)

    # Run 1, then two incremental runs; the last one builds the models in the same `meltano run`
    # (the project's job postgres-acme). The workspace streams (selected by `*.*`) refresh on
    # every run here, so their versions arrive over several loads too.
    meltano.env[f"{tenant_env('acme')}_DIRECTORY_REFRESH_HOURS"] = "0"
    meltano.elt("acme", "target-postgres")
    exp1 = truth(sim2)
    inventory1 = sim2.inventory_truth()
    assert exp1["messages"], "simulator produced no messages"
    advance_until_a_loaded_conversation_grows(sim2, exp1)
    meltano.elt("acme", "target-postgres")
    sim2.advance(timedelta(hours=3))
    # job postgres-acme = tap-chatgpt-compliance--acme target-postgres dbt-postgres--acme:build
    proc = meltano.run("run", "postgres-acme", extra_env=env, timeout=400)
    out = proc.stdout + proc.stderr
    assert "Completed successfully" in out, out[-4000:]
    assert "ERROR=0" in out, out[-4000:]
    assert (meltano.tmp / "dbt-target" / "run_results.json").is_file()  # the settings were used
    exp = truth(sim2)

    def rows(sql: str, *args: object) -> list[tuple]:
        return pg_query(sql, *args)

    # One transcript row per message of the ground truth, and per row of the messages table.
    transcript_ids = [r[0] for r in rows(f"SELECT message_id FROM {MODELS}.transcripts")]
    assert len(transcript_ids) == len(set(transcript_ids)) == len(exp["messages"])
    assert set(transcript_ids) == exp["messages"]
    (loaded,) = rows(f"SELECT count(*) FROM {SOURCE}.messages")[0]
    assert loaded == len(transcript_ids)

    # Conversations: the aggregates agree with the messages table, conversation by conversation,
    # including the conversations that grew across the incremental runs.
    per_conversation = {
        cid: (n, first, last)
        for cid, n, first, last in rows(
            f"SELECT conversation_id, count(*), min(coalesce(created_at, event_timestamp)),"
            f" max(coalesce(created_at, event_timestamp)) FROM {SOURCE}.messages GROUP BY 1"
        )
    }
    models = {
        cid: (n, first, last)
        for cid, n, first, last in rows(
            "SELECT conversation_id, message_count,"
            " first_message_at AT TIME ZONE 'UTC', last_message_at AT TIME ZONE 'UTC'"
            f" FROM {MODELS}.conversations"
        )
    }
    assert models == per_conversation
    assert set(models) == exp["conversations"]
    for cid, conv in exp["conversations_detail"].items():
        assert models[cid][0] == len(conv["message_ids"]), cid
    first_run_conversations = {m["conversation_id"] for m in exp1["messages_detail"].values()}
    grown = {
        m["conversation_id"]
        for mid, m in exp["messages_detail"].items()
        if mid not in exp1["messages"] and m["conversation_id"] in first_run_conversations
    }
    assert grown, "no conversation spans several runs: the test would prove nothing"

    # Titles: the latest one, as the simulator's ground truth defines it.
    titles = dict(rows(f"SELECT conversation_id, title FROM {MODELS}.conversations"))
    for cid, conv in exp["conversations_detail"].items():
        if conv["title"]:
            assert titles[cid] == conv["title"], cid

    # A transcript reads in order: seq 1..n, time never goes backwards, replies after parents.
    biggest = max(per_conversation, key=lambda c: per_conversation[c][0])
    transcript = rows(
        "SELECT message_seq, sent_at, author_type, author, content, parent_message_id, message_id"
        f" FROM {MODELS}.transcripts WHERE conversation_id = %s ORDER BY message_seq",
        biggest,
    )
    assert [r[0] for r in transcript] == list(range(1, len(transcript) + 1))
    for earlier, later in itertools.pairwise(transcript):  # clocks may differ by < 1 s
        assert later[1] >= earlier[1] - timedelta(seconds=1), (earlier, later)
    assert {r[6] for r in transcript} == set(exp["conversations_detail"][biggest]["message_ids"])
    position = {r[6]: r[0] for r in transcript}
    for seq, *_, parent, _mid in transcript:
        if parent in position:
            assert position[parent] < seq
    assert all(r[3] for r in transcript), "every message has a readable author"
    users = [r for r in transcript if r[2] == "user"]
    assert users
    for r in users:
        gt_msg = exp["messages_detail"][r[6]]
        assert r[4] == gt_msg["content"]["value"], r[6]

    # Structured content arrives structured: content_json is jsonb in the loaded table, and
    # every message whose event has content keeps it (text or JSON), none is lost.
    column_types = dict(
        rows(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'messages'",
            SOURCE,
        )
    )
    assert column_types["content_json"] == "jsonb"
    (structured,) = rows(
        f"SELECT count(*) FROM {SOURCE}.messages WHERE jsonb_typeof(content_json) = 'object'"
    )[0]
    assert structured > 0, "the simulator produced no structured tool output"
    (lost,) = rows(
        f"SELECT count(*) FROM {SOURCE}.messages WHERE content_text IS NULL"
        " AND content_json IS NULL"
        " AND coalesce(jsonb_typeof(event #> '{message,content,value}'), 'null') <> 'null'"
    )[0]
    assert lost == 0
    # The conversations table holds facts of the source only: no per-run counts that an upsert
    # by id would make wrong (the dbt model computes them, checked above).
    conversation_columns = {
        r[0]
        for r in rows(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'conversations'",
            SOURCE,
        )
    }
    assert conversation_columns
    assert not conversation_columns & {
        "message_count_seen",
        "first_message_seen_at",
        "last_message_seen_at",
    }

    # Tool output and other structured content reads as JSON text, whatever the column type.
    for content, content_json, source_json in rows(
        f"SELECT t.content, t.content_json, m.content_json::text FROM {MODELS}.transcripts t"
        f" JOIN {SOURCE}.messages m ON m.id = t.message_id"
        " WHERE m.content_text IS NULL AND m.content_json IS NOT NULL"
    ):
        assert json.loads(content) == content_json
        parsed = json.loads(source_json)
        assert content_json == (json.loads(parsed) if isinstance(parsed, str) else parsed)

    # Attachments: names, status and SHA-256 on the transcript rows and in the attachments model.
    attachments = {
        a: (status, sha)
        for a, status, sha in rows(
            f"SELECT attachment_id, status, sha256 FROM {MODELS}.attachments"
        )
    }
    archived = {a for a, (status, _) in attachments.items() if status == "archived"}
    # every attachment still downloadable now was archived (older ones were, while they existed)
    assert exp["files_live"] <= archived <= exp["files_all"]
    assert exp["files_live"], "simulator produced no attachments"
    for fid in archived:
        assert attachments[fid][1] == exp["attachments"][fid]["sha256"], fid
    for mid, names, items in rows(
        f"SELECT message_id, attachment_names, attachments FROM {MODELS}.transcripts"
        " WHERE attachment_count > 0"
    ):
        gt_files = exp["messages_detail"][mid]["file_ids"]
        assert [i["id"] for i in items] == gt_files, mid
        assert names == [exp["attachments"][f]["name"] for f in gt_files], mid
        for item in items:
            assert item["status"] == attachments[item["id"]][0]

    # Completeness: every log file of the ground truth is archived and verified.
    (c,) = rows(
        "SELECT log_files_archived, log_files_sha256_verified, log_files_sha256_not_verified,"
        f" records_in_archive FROM {MODELS}.completeness WHERE event_type = 'CONVERSATION_MESSAGE'"
    )
    assert c == (len(exp["log_files"]), len(exp["log_files"]), 0, len(exp["messages"]))

    # Per-user activity adds up to the messages.
    (total,) = rows(f"SELECT sum(messages_total) FROM {MODELS}.user_activity_daily")[0]
    assert total == len(exp["messages"])

    # Schema per tenant: the models live beside, not inside, the tenant's loaded schema.
    tables = {
        (s, t)
        for s, t in rows(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN (%s, %s)",
            SOURCE,
            MODELS,
        )
    }
    for model in ("transcripts", "conversations", "attachments", "user_activity_daily"):
        assert (MODELS, model) in tables
        assert (SOURCE, model) not in tables or model == "conversations"

    # Workspace objects (issue 21): configuration histories and canvas versions, every version
    # of the ground truth in order, across the incremental loads.
    check_workspace_models(rows, MODELS, sim2.inventory_truth(), inventory1)


def test_dbt_utility_is_offline_installable_and_follows_the_tenants():
    """No server needed: the dbt-postgres utility in meltano.yml installs from PyPI alone and has
    one inherited plugin per tenant reading that tenant's load_schema."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    utilities = {p["name"]: p for p in project["plugins"]["utilities"]}
    base = utilities["dbt-postgres"]
    assert base["namespace"]
    assert base["executable"] == "dbt"
    assert all("==" in req and "git+" not in req for req in base["pip_url"].split())
    assert {"build", "run", "test"} <= set(base["commands"])
    settings = {s["name"]: s for s in base["settings"]}
    assert settings["password"]["sensitive"] is True
    assert settings["project_dir"]["value"].endswith("/transform")
    tenants = [p for p in project["plugins"]["extractors"] if "inherit_from" in p]
    assert tenants
    for tap in tenants:
        tenant = tap["name"].split("--", 1)[1]
        dbt = utilities[f"dbt-postgres--{tenant}"]
        assert dbt["inherit_from"] == "dbt-postgres"
        assert dbt["config"]["source_schema"] == tap["load_schema"]
    # `dbt deps` would need the dbt package hub: the project uses no packages.
    assert not (REPO_ROOT / "transform" / "packages.yml").exists()
    assert not (REPO_ROOT / "transform" / "dependencies.yml").exists()
