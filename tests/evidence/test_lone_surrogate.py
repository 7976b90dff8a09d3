"""Half an emoji through the whole chain: a lone surrogate (JSON's ``\\ud83d``) in a message and
in a member's name, served by the simulator, archived by a real tap run, proven by verify and
produced by export, exact at every step (a client that cut a string between the two halves of a
surrogate pair sends exactly this)."""

from __future__ import annotations

import html
import json
import typing as t
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Oddities, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tests.support.evidence import postgres_dsn
from tests.support.simulators import running
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import cli, ok, verify_cli, write_jsonl
from .test_meltano_verify import UPSTREAM_TARGET_POSTGRES, load_postgres

HALF = "\ud83d"


@pytest.fixture(scope="module")
def surrogate_run() -> tuple[TapRun, dict]:
    """A tap run whose workspace has one message and one member name ending with half an emoji."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 44, "span_days": 0.3},
        oddities=Oddities(lone_surrogate_text=True),
    )
    with running(config) as simulator:
        truth = simulator.ground_truth()
        run = ok(run_tap(tap_config(simulator, event_types=["CONVERSATION_MESSAGE"])))
    return run, truth


def test_the_tap_archives_half_an_emoji_exactly(surrogate_run: tuple[TapRun, dict]) -> None:
    run, truth = surrogate_run
    (message,) = [m for m in run.records["messages"] if (m["content_text"] or "").endswith(HALF)]
    assert message["content_text"] == truth["messages"][message["id"]]["content"]["value"]
    assert message["event"]["message"]["content"]["value"] == message["content_text"]
    titled = [c for c in run.records["conversations"] if (c["title"] or "").endswith(HALF)]
    assert {c["id"] for c in titled} == {message["conversation_id"]}
    (user,) = [u for u in run.records["users"] if u["name"].endswith(HALF)]
    assert user["name"] == truth["users"][0]["name"]
    assert json.loads(user["raw_item"])["name"] == user["name"]
    assert run.stdout.isascii()  # the Singer lines carry it as \ud83d
    assert not run.records.get("unparsed_lines")


def test_verify_proves_it_and_export_produces_it(
    surrogate_run: tuple[TapRun, dict], tmp_path: Path
) -> None:
    run, _ = surrogate_run
    folder = write_jsonl(run.records, tmp_path / "archive")
    state = tmp_path / "state.json"
    state.write_text(json.dumps(run.state))
    done = verify_cli("--jsonl", str(folder), "--state", str(state))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERDICT: intact" in done.stdout, done.stdout
    (message,) = [m for m in run.records["messages"] if (m["content_text"] or "").endswith(HALF)]
    out = tmp_path / "out"
    exported = cli(
        "export",
        "--jsonl",
        str(folder),
        "--state",
        str(state),
        "--conversation",
        message["conversation_id"],
        "--out",
        str(out),
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    pages = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    shown = html.escape(message["content_text"][:-1]) + "\\ud83d"
    assert shown in pages  # shown escaped, never dropped


@pytest.mark.e2e
def test_postgres_stores_half_an_emoji_as_fffd_and_verify_says_so(
    surrogate_run: tuple[TapRun, dict],
    pg_database: dict[str, str],
    pg_query: t.Any,
    tmp_path: Path,
) -> None:
    """meltanolabs-target-postgres alone fails the whole load on half an emoji (PostgreSQL holds
    no lone surrogate; every later run would fail at the same record); the loader as meltano.yml
    ships it (loaders/target-postgres-utf8) stores it as U+FFFD, and verify finds the archive
    intact with a note naming exactly that replacement."""
    run, _ = surrogate_run
    upstream = load_postgres(run.stdout, pg_database, tmp_path, UPSTREAM_TARGET_POSTGRES)
    assert upstream.returncode != 0
    assert "surrogates not allowed" in upstream.stderr

    load = load_postgres(run.stdout, pg_database, tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    (message,) = [m for m in run.records["messages"] if (m["content_text"] or "").endswith(HALF)]
    ((stored,),) = pg_query(f"SELECT content_text FROM acme.messages WHERE id = '{message['id']}'")
    assert stored == message["content_text"][:-1] + "\ufffd"
    dsn = postgres_dsn(pg_database)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(run.state))
    report = tmp_path / "report.json"
    done = verify_cli(
        "--postgres", dsn, "--schema", "acme", "--state", str(state), "--report", str(report)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERDICT: intact" in done.stdout, done.stdout
    data = json.loads(report.read_text())
    assert data["counts"]["rows_surrogate_replaced"] >= 3  # message, conversation, user at least
    assert any("half a surrogate pair" in note for note in data["notes"])

    pg_query(  # the same U+FFFD where the delivered text had an ordinary character: a finding
        "UPDATE acme.messages SET content_text = overlay(content_text placing '\ufffd' from 1 "
        f"for 1) WHERE id = '{message['id']}' RETURNING 1"
    )
    done = verify_cli("--postgres", dsn, "--schema", "acme", "--state", str(state))
    assert done.returncode == 1
    assert f"messages event {message['event_id']}" in done.stdout
