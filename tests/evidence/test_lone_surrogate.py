"""Half an emoji through the whole chain: a lone surrogate (JSON's ``\\ud83d``) in a message and
in a member's name, served by the simulator, archived by a real tap run, proven by verify and
produced by export, exact at every step (a client that cut a string between the two halves of a
surrogate pair sends exactly this)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Oddities, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tests.support.simulators import running
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import cli, ok, verify_cli, write_jsonl

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
