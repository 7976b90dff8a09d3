"""Never silent (fourteenth round): one poisoned object must not stop the archive.

An attachment the API refuses with a non-retryable answer (HTTP 400, 422, …) ended the run
with one line, exit 1, before the log file's bookmark moved: every later run stopped at the
same attachment, and chat uploads expire after ~24 h (log files after 30 days), so one bad
attachment lost every other attachment and log file of the workspace. Now the attachment is
recorded ``failed`` with the HTTP status (never ``archived``), kept in the retry list, the rest
of the archive goes on, and the run ends in one line naming it, exit 1.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tests.support.simulators import running, tiny_world
from tests.support.tap import assert_one_readable_line, run_tap, tap_config
from tests.tap.test_workspace_objects import run_objects

WS = "/v1/compliance/workspaces/{workspace_id}"
UPLOAD = f"{WS}/users/{{user_id}}/files/{{file_id}}"


@pytest.fixture(scope="module")
def uploads() -> Any:
    """A tiny workspace whose messages carry several chat uploads."""
    config = SimulatorConfig(
        **tiny_world(attachment_rate=0.6, conversations=3, attachment_size=(200, 2000))
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture
def clean_uploads(uploads: Simulator) -> Any:
    """The uploads simulator, its queued faults dropped at the end of the test."""
    yield uploads
    uploads._faults.clear()


def _log_file_ids(sim: Simulator) -> set[str]:
    return {row["id"] for row in sim.log_files()}


@pytest.mark.parametrize("status", [400, 422])
def test_an_attachment_refused_for_good_does_not_stop_the_archive(
    clean_uploads: Simulator, status: int
) -> None:
    """One upload answering HTTP 400 (or 422): the run stopped there, exit 1, its log file and
    every later one never archived, and the next run stopped at the same upload. Now: that
    upload recorded ``failed`` with its HTTP status and kept for a retry, every other upload and
    every log file archived, one line naming it, exit 1; the next run archives it."""
    sim = clean_uploads
    sim.inject(UPLOAD, status=status, count=1)
    run = run_tap(tap_config(sim))
    files = run.records.get("files", [])
    failed = [row for row in files if row["status"] != "archived"]
    assert len(failed) == 1, [(row["id"], row["status"]) for row in files]
    bad = failed[0]
    assert bad["status"] == "failed"
    assert f"HTTP {status}" in bad["status_reason"]
    assert bad["retry_until"]
    assert len(files) >= 3  # the others are archived
    assert {row["id"] for row in run.records.get("log_files", [])} == _log_file_ids(sim)
    last = assert_one_readable_line(run, bad["id"], f"HTTP {status}")
    assert run.state is not None
    pending = run.state["bookmarks"]["files"]["pending_attachments"]
    assert [entry["id"] for entry in pending] == [bad["id"]]
    assert "Traceback" not in last
    # The next run (the upload answers again) archives it first, and leaves nothing pending.
    again = run_tap(tap_config(sim), state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    retried = [row for row in again.records["files"] if row["id"] == bad["id"]]
    assert [row["status"] for row in retried] == ["archived"]
    assert "pending_attachments" not in again.state["bookmarks"]["files"]


def test_an_attachment_refused_again_is_still_said(clean_uploads: Simulator) -> None:
    """The refused upload answering 400 again on the next run: exit 1 again, one line naming
    it, still pending (retried while the upload may be downloadable)."""
    sim = clean_uploads
    sim.inject(UPLOAD, status=400, count=1)
    first = run_tap(tap_config(sim))
    bad = next(row for row in first.records["files"] if row["status"] == "failed")
    sim.inject(UPLOAD, status=400, count=1)  # the retry comes first in the next run
    again = run_tap(tap_config(sim), state=first.state)
    assert_one_readable_line(again, bad["id"], "HTTP 400")
    assert again.state is not None
    pending = again.state["bookmarks"]["files"]["pending_attachments"]
    assert [(entry["id"], entry["attempts"]) for entry in pending] == [(bad["id"], 2)]


def test_a_retried_attachment_refused_past_its_window_is_named(clean_uploads: Simulator) -> None:
    """A pending attachment whose retry window ended, answering HTTP 400 on its last try: given
    up, and the run's line said only "1 attachment(s) gave up". It names the attachment now."""
    sim = clean_uploads
    first = run_tap(tap_config(sim))
    assert first.returncode == 0, first.stderr[-2000:]
    done = first.records["files"][0]
    old = (sim.now() - timedelta(days=4)).isoformat()
    entry = {
        **{key: done[key] for key in ("id", "user_id", "conversation_id", "message_id")},
        **{"event_id": done["event_id"], "name": done["name"], "mime_type": done["mime_type"]},
        **{"log_file_id": done["log_file_id"], "event_time": old, "first_failed_at": old},
        **{"attempts": 3, "status": "failed", "reason": "HTTP 503"},
    }
    state = first.state
    state["bookmarks"]["files"]["pending_attachments"] = [entry]
    sim.inject(UPLOAD, status=400, count=1)  # the retry comes first
    run = run_tap(tap_config(sim), state=state)
    retried = [row for row in run.records["files"] if row["id"] == done["id"]]
    assert [row["status"] for row in retried] == ["gave_up"]
    assert_one_readable_line(run, done["id"], "HTTP 400")


# ------------------------------------------------ a listing short of max_event_time

LOGS = f"{WS}/logs"
FRESHNESS = f"{WS}/max_event_time"
EMPTY_PAGE = b'{"object":"list","data":[],"has_more":false,"last_end_time":null}'


@pytest.fixture(scope="module")
def history() -> Any:
    """A tiny workspace without attachments."""
    with running(SimulatorConfig(**tiny_world())) as simulator:
        yield simulator


@pytest.fixture
def clean_history(history: Simulator) -> Any:
    """The history simulator, its queued faults dropped at the end of the test."""
    yield history
    history._faults.clear()


def _freshness_at(sim: Simulator, when: datetime) -> None:
    body = {"max_event_time": {"CONVERSATION_MESSAGE": when.isoformat().replace("+00:00", "Z")}}
    sim.inject(FRESHNESS, body=json.dumps(body).encode(), count=10)


def test_an_empty_first_listing_while_the_api_has_events_is_said(clean_history: Simulator) -> None:
    """A first run whose listing is empty while max_event_time says the newest event is hours
    old (a file holding it must be listed: the p99 latency is 30 minutes): exit 0 with nothing
    archived. Now one line naming the event type and max_event_time, exit 1, no bookmark; the
    next run archives every file. (A listing that gave files is trusted: a file's end_time
    may lag its events, as files sharing an end_time do in the chaos schedules.)"""
    sim = clean_history
    files = sim.log_files()
    newest = datetime.fromisoformat(files[-1]["end_time"].replace("Z", "+00:00"))
    assert sim.now() - newest > timedelta(hours=1)  # the simulator's own max_event_time
    config = tap_config(sim, event_types=["CONVERSATION_MESSAGE"])
    sim.inject(LOGS, body=EMPTY_PAGE, count=10)
    run = run_tap(config)
    assert not run.records.get("log_files")
    assert_one_readable_line(run, "CONVERSATION_MESSAGE", "max_event_time", "gave no file")
    assert run.state is not None
    partitions = run.state["bookmarks"]["log_files"].get("partitions") or []
    assert not any(p.get("replication_key_value") for p in partitions)  # no bookmark moved
    sim._faults.clear()
    again = run_tap(config, state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {row["id"] for row in again.records["log_files"]} == _log_file_ids(sim)


def test_an_empty_listing_within_the_delivery_lag_is_not_a_failure(
    clean_history: Simulator,
) -> None:
    """max_event_time minutes ago and no file listed yet: a delivery lag (files come within
    the p99 latency), not told apart from a fault; exit 0."""
    sim = clean_history
    _freshness_at(sim, sim.now() - timedelta(minutes=10))
    sim.inject(LOGS, body=EMPTY_PAGE, count=10)
    run = run_tap(tap_config(sim, event_types=["CONVERSATION_MESSAGE"]))
    assert run.returncode == 0, run.stderr[-2000:]


# --------------------------------------------------------------- recording transcripts

TRANSCRIPT = f"{WS}/users/{{user_id}}/recordings/{{recording_id}}/transcript"
RECORDINGS = {"recordings", "recording_transcripts"}


@pytest.fixture(scope="module")
def recordings() -> Any:
    """A workspace with recordings (days old) on several users and GPT knowledge files."""
    config = SimulatorConfig(
        seed=2121,
        users=4,
        conversations=2,
        span_days=1.0,
        rate_limits=False,
        inventory=Inventory(recordings_per_user_day=0.3, config_versions_per_day=1.0),
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture
def clean_recordings(recordings: Simulator) -> Any:
    """The recordings simulator, its queued faults dropped at the end of the test."""
    yield recordings
    recordings._faults.clear()


def test_a_404_for_every_transcript_is_said(clean_recordings: Simulator) -> None:
    """Every recording (days old) answering 404 for its transcript: taken for "not there
    yet", exit 0, run after run, while the route may be gone. Now one line naming the stream
    and the 404, exit 1; the recordings stay in the state's retry list, and the next run (the
    route back) archives every transcript."""
    sim = clean_recordings
    truth = sim.inventory_truth()["recordings"]
    assert len(truth) >= 2
    sim.inject(TRANSCRIPT, status=404, count=1000)
    run = run_objects(sim, RECORDINGS, directory_refresh_hours=0)
    last = assert_one_readable_line(run, "recording_transcripts", "404", "every")
    assert f"{len(truth)} recordings" in last
    assert not run.records["recording_transcripts"]
    missing = run.state["bookmarks"]["recordings"]["transcripts_missing"]
    assert len(missing) == len(truth)
    sim._faults.clear()
    again = run_objects(sim, RECORDINGS, state=run.state, directory_refresh_hours=0)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {row["recording_id"] for row in again.records["recording_transcripts"]} == set(truth)


def test_a_404_for_one_transcript_is_not_yet(clean_recordings: Simulator) -> None:
    """One transcript answering 404 among others archived: not there yet, asked again, exit 0."""
    sim = clean_recordings
    sim.inject(TRANSCRIPT, status=404, count=1)
    run = run_objects(sim, RECORDINGS, directory_refresh_hours=0)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.state["bookmarks"]["recordings"]["transcripts_missing"]) == 1


def test_transcripts_still_missing_are_not_said_again(clean_recordings: Simulator) -> None:
    """Recordings whose transcript already answered 404 in an earlier run and answer 404 again
    (recordings that never get one): asked again, but not a route gone: exit 0."""
    sim = clean_recordings
    truth = sim.inventory_truth()["recordings"]
    assert len(truth) >= 3
    sim.inject(TRANSCRIPT, status=404, count=2)
    first = run_objects(sim, RECORDINGS, directory_refresh_hours=0)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len(first.state["bookmarks"]["recordings"]["transcripts_missing"]) == 2
    sim.inject(TRANSCRIPT, status=404, count=1000)
    again = run_objects(sim, RECORDINGS, state=first.state, directory_refresh_hours=0)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(again.state["bookmarks"]["recordings"]["transcripts_missing"]) == 2


GPT_FILE = f"{WS}/gpt_files/{{file_id}}"


def test_a_knowledge_file_refused_for_good_is_that_file(clean_recordings: Simulator) -> None:
    """One GPT knowledge file answering HTTP 400: the stream stopped there (the other files
    not archived). Now that file recorded ``failed`` with its status, the others archived, one
    line naming it, exit 1, the configurations' refresh not recorded (asked again)."""
    sim = clean_recordings
    sim.inject(GPT_FILE, status=400, count=1)
    run = run_objects(sim, {"gpt_configs", "gpt_files"})
    files = run.records["gpt_files"]
    assert len(files) >= 2
    failed = [row for row in files if row["status"] != "archived"]
    assert len(failed) == 1
    assert failed[0]["status"] == "failed"
    assert "HTTP 400" in failed[0]["status_reason"]
    assert_one_readable_line(run, "gpt_files", failed[0]["id"], "HTTP 400")
    assert "refreshed_at" not in (run.state["bookmarks"].get("gpt_configs") or {})


# --------------------------------------------------------------- a file named by a bare id


def test_an_attachment_named_by_a_bare_id_is_downloaded(clean_uploads: Simulator) -> None:
    """A message whose ``files`` holds the bare id (``["file-…"]``, not ``[{"id": …}]``): the
    messages record listed it in ``attachment_ids``, but no download was tried and no files
    record written, exit 0: the upload expired a day later unarchived. Now it is archived."""
    sim = clean_uploads
    first = run_tap(tap_config(sim))
    assert first.returncode == 0, first.stderr[-2000:]
    done = next(row for row in first.records["files"] if row["status"] == "archived")
    event = next(
        json.loads(line)
        for meta in sim.log_files()
        for line in sim.log_file_bytes(meta["id"]).splitlines()
        if done["id"] in line.decode()
    )
    event["event_id"] = "0c6f9a52-3e1b-4d7a-a8c4-5f2e9b1d7e34"
    event["message"]["id"] = "4a9d2f7e-61c3-4b85-9e0a-3d7c5b1f2e69"
    event["message"]["files"] = [done["id"]]
    sim.publish_log_file(json.dumps(event).encode() + b"\n")
    again = run_tap(tap_config(sim), state=first.state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [row["attachment_ids"] for row in again.records["messages"]] == [[done["id"]]]
    files = again.records.get("files", [])
    assert [(row["id"], row["status"], row["sha256"]) for row in files] == [
        (done["id"], "archived", done["sha256"])
    ]


# --------------------------------------------------------------- one workspace object refused

CANVAS = f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}"
TASK = f"{WS}/codex_tasks/{{task_id}}"


@pytest.mark.parametrize(
    ("route", "parent", "stream", "key"),
    [
        (TRANSCRIPT, "recordings", "recording_transcripts", "recording_id"),
        (TASK, "codex_tasks", "codex_task_details", "id"),
    ],
)
def test_one_object_refused_for_good_does_not_stop_the_others(
    clean_recordings: Simulator, route: str, parent: str, stream: str, key: str
) -> None:
    """One transcript (or Codex task detail) answering HTTP 400: the run ended there, exit 1,
    every later object of every stream not archived, run after run. Now that object is named
    in one line, exit 1, the others archived, the parent's refresh not recorded (asked again);
    the next run archives it."""
    sim = clean_recordings
    sim.inject(route, status=400, count=1)
    run = run_objects(sim, {parent, stream}, directory_refresh_hours=0)
    assert_one_readable_line(run, stream, "HTTP 400")
    asked = len(run.records[parent])
    assert asked >= 2
    assert len(run.records[stream]) == asked - 1
    assert "refreshed_at" not in (run.state["bookmarks"].get(parent) or {})
    sim._faults.clear()
    again = run_objects(sim, {parent, stream}, state=run.state, directory_refresh_hours=0)
    assert again.returncode == 0, again.stderr[-2000:]
    got = {row[key] for row in run.records[stream]} | {row[key] for row in again.records[stream]}
    assert len(got) == asked


def test_one_canvas_refused_for_good_does_not_stop_the_others(
    clean_recordings: Simulator,
) -> None:
    """One canvas answering HTTP 400 for its versions: the run ended there. Now the other
    canvases' versions are archived, one line, exit 1; the next run archives the rest."""
    sim = clean_recordings
    truth = sim.inventory_truth()["canvases"]
    versions = {(cid, v["version"]) for cid, c in truth.items() for v in c["versions"]}
    assert len(truth) >= 2
    selected = {"canvases", "canvas_versions"}
    sim.inject(CANVAS, status=400, count=1)
    run = run_objects(sim, selected)
    assert_one_readable_line(run, "canvas_versions", "HTTP 400")
    first = {(row["textdoc_id"], row["version"]) for row in run.records["canvas_versions"]}
    assert first
    assert first < versions
    sim._faults.clear()
    again = run_objects(sim, selected, state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    later = {(row["textdoc_id"], row["version"]) for row in again.records["canvas_versions"]}
    assert first | later == versions
