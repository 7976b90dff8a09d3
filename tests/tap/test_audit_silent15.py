"""Never silent (fifteenth round): an upload whose event names no user was lost quietly.

A CONVERSATION_MESSAGE event whose ``actor.user_id`` is null but whose message names uploads:
the tap recorded each ``not_found`` ("the event names no user to ask") and exited 0, and chat
uploads expire after ~24 h (reference §3.3), so the upload was lost without a word. Now the
owner is taken from the best source the log file gives (the file's ``user_id``, the actor, the
conversation's ``user_id``, another message of the conversation: records.attachment_refs) and
the upload is downloaded as usual; when no source names one, it is recorded ``failed`` with
the cause, kept in the retry list, and the run ends in one line naming it, exit 1.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tests.support.evidence import verify_cli, write_jsonl
from tests.support.simulators import one_log_file_world, running, tiny_world
from tests.support.tap import TapRun, assert_one_readable_line, run_tap, tap_config


@pytest.fixture(scope="module")
def actorless_uploads() -> Any:
    """Every event that carries uploads has ``actor.user_id`` null (its conversation's other
    events, in the same log file, still name the user)."""
    config = SimulatorConfig(
        **one_log_file_world(3, attachment_rate=0.3, attachment_size=(200, 2000))
    )
    config.oddities.actorless_upload_rate = 1.0
    with running(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def ownerless_conversations() -> Any:
    """About half the conversations have no event that names a user at all."""
    config = SimulatorConfig(
        **tiny_world(attachment_rate=0.6, conversations=6, attachment_size=(200, 2000))
    )
    config.oddities.actorless_conversation_rate = 0.5
    with running(config) as simulator:
        yield simulator


def _actorless_file_ids(sim: Simulator) -> set[str]:
    """Ids of the uploads named by an event whose actor names no user (read from the API)."""
    return {
        ref
        for event in _events(sim)
        if not (event.get("actor") or {}).get("user_id")
        for ref in _file_ids(event)
    }


def _events(sim: Simulator) -> list[dict[str, Any]]:
    """The CONVERSATION_MESSAGE events the API serves (its log files' JSON lines)."""
    events = []
    for row in sim.log_files():
        for line in sim.log_file_bytes(row["id"]).splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("type") == "CONVERSATION_MESSAGE":
                    events.append(event)
    return events


def _assert_verifies_intact(run: TapRun, tmp_path: Path) -> None:
    """verify accepts the honest archive of the run."""
    folder = write_jsonl(run.records, tmp_path / "archive")
    state = tmp_path / "state.json"
    state.write_text(json.dumps(run.state))
    result = verify_cli("--jsonl", str(folder), "--state", str(state))
    assert "VERDICT: intact" in result.stdout, result.stdout[-3000:] + result.stderr[-1000:]


def _file_ids(event: dict[str, Any]) -> list[str]:
    message = event.get("message") or {}
    content = message.get("content") or {}
    ids = [f["id"] for f in message.get("files") or []]
    ids += [f["id"] for a in content.get("annotations") or [] for f in a.get("files") or []]
    return ids + ([content["file_id"]] if content.get("file_id") else [])


def test_an_upload_of_an_event_without_actor_user_is_archived_from_its_conversation(
    actorless_uploads: Simulator, tmp_path: Path
) -> None:
    """Each upload's event names no user, the other messages of its conversation do: it was
    recorded not_found and lost; now it is downloaded as its owner's and archived, exit 0."""
    sim = actorless_uploads
    actorless = _actorless_file_ids(sim)
    assert actorless, "the simulator emitted no upload without an actor user"
    run = run_tap(tap_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    files = {row["id"]: row for row in run.records.get("files", [])}
    assert actorless <= set(files)
    assert {files[i]["status"] for i in actorless} == {"archived"}, [
        (i, files[i]["status"], files[i]["status_reason"]) for i in actorless
    ]
    assert all(files[i]["user_id"] for i in actorless)
    _assert_verifies_intact(run, tmp_path)


def test_an_upload_no_event_names_a_user_for_is_loud_and_kept_for_a_retry(
    ownerless_conversations: Simulator, tmp_path: Path
) -> None:
    """Some conversations never name their user: their uploads were recorded not_found and the
    run exited 0. Now each is ``failed`` with the cause (never archived), kept in the retry list,
    and the run ends in one line naming it, exit 1; the other uploads are archived."""
    sim = ownerless_conversations
    ownerless = _actorless_file_ids(sim)
    run = run_tap(tap_config(sim))
    files = {row["id"]: row for row in run.records.get("files", [])}
    assert ownerless, "the simulator emitted no upload without a user"
    assert set(files) - ownerless, "the simulator emitted no upload with a user"
    assert {files[i]["status"] for i in ownerless} == {"failed"}
    assert all("no user to ask" in files[i]["status_reason"] for i in ownerless)
    assert all(files[i]["retry_until"] for i in ownerless)
    assert {files[i]["status"] for i in set(files) - ownerless} == {"archived"}
    first = next(row["id"] for row in run.records["files"] if row["id"] in ownerless)
    assert_one_readable_line(run, first, "no user to ask")
    assert run.state is not None
    pending = run.state["bookmarks"]["files"]["pending_attachments"]
    assert {entry["id"] for entry in pending} == ownerless
    _assert_verifies_intact(run, tmp_path)
