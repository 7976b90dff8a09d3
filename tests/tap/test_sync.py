"""The tap against the simulator over real HTTP: completeness, state, files, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Faults, Quirks, Simulator
from tests.support.singer import bookmark, parse_singer, rewind_bookmark
from tests.support.tap import run_tap, tap_command, tap_config, tap_env

LIST = "/v1/compliance/workspaces/{workspace_id}/logs"
DOWNLOAD = "/v1/compliance/workspaces/{workspace_id}/logs/{log_file_id}"
EXPORT_SCOPE = "chatgpt.enterprise.compliance_export.read"
USER_FILE = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/files/{file_id}"


@pytest.fixture
def fresh(simulator_factory) -> Simulator:
    """A small workspace whose attachments are all still downloadable (uploaded < 24 h ago)."""
    return simulator_factory(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)


def test_full_sync_matches_ground_truth(fresh: Simulator) -> None:
    """Every message, conversation and live attachment arrives once per key (issue #3)."""
    run = run_tap(tap_config(fresh))
    assert run.returncode == 0, run.stderr[-3000:]
    truth = fresh.ground_truth()
    assert run.ids("messages") == set(truth["messages"])
    assert len(run.records["messages"]) == len(truth["messages"])  # duplicates dropped
    assert run.ids("conversations") == set(truth["conversations"])
    listed = {f["id"] for f in truth["log_files"]["CONVERSATION_MESSAGE"]}
    assert run.ids("log_files") == listed
    files = {r["id"]: r for r in run.records["files"]}
    assert set(files) == set(truth["attachments"])
    for file_id, expected in truth["attachments"].items():
        record = files[file_id]
        assert record["status"] == "archived", record["status_reason"]
        assert record["sha256"] == expected["sha256"]
        content = base64.b64decode(record["content_base64"])
        assert hashlib.sha256(content).hexdigest() == expected["sha256"]
    # One pass: each log file and each attachment is downloaded exactly once in the run.
    assert fresh.request_count(DOWNLOAD) == len(listed)
    assert fresh.request_count(USER_FILE) == len(truth["attachments"])
    assert fresh.non_get_count == 0
    assert fresh.api_key not in run.stdout + run.stderr


def test_every_record_carries_the_workspace(fresh: Simulator) -> None:
    run = run_tap(tap_config(fresh))
    for stream, records in run.records.items():
        assert records, stream
        assert {r["workspace_id"] for r in records} == {fresh.workspace_id}, stream


def test_manifest_is_the_chain_of_custody(simulator_factory) -> None:
    """log_files records the provider and verified SHA-256 and event counts (reference §2.8)."""
    sim = simulator_factory(seed=11, span_days=0.8, quirks=Quirks(duplicate_rate=0.3))
    run = run_tap(tap_config(sim, file_content="none"))
    total_events = 0
    for record in run.records["log_files"]:
        assert record["verified_sha256"] == record["provider_sha256"]
        assert record["bytes_downloaded"] == record["file_size"]
        assert record["event_count"] + record["duplicates_dropped"] <= record["line_count"]
        total_events += record["event_count"]
    assert total_events == len(run.records["messages"])
    assert sum(r["duplicates_dropped"] for r in run.records["log_files"]) > 0  # quirk is on


def test_incremental_run_reads_only_new_files_and_idle_run_costs_one_list(
    simulator_factory,
) -> None:
    """Bookmarks per event type; an idle run costs one list request (issue #3).

    The empty-page quirk is off here: it makes any client ask twice, and is tested elsewhere.
    """
    fresh = simulator_factory(seed=11, span_days=0.8, quirks=Quirks(empty_pages=False))
    first = run_tap(tap_config(fresh))
    assert first.returncode == 0, first.stderr[-3000:]
    fresh.reset_counters()
    idle = run_tap(tap_config(fresh), state=first.state)
    assert idle.returncode == 0, idle.stderr[-3000:]
    assert idle.records["messages"] == []
    assert idle.records["log_files"] == []
    assert fresh.request_count(LIST) == 1
    assert fresh.request_count(DOWNLOAD) == 0

    fresh.advance(timedelta(hours=2))
    second = run_tap(tap_config(fresh), state=idle.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.records["messages"], "new activity must arrive"
    assert not first.ids("log_files") & second.ids("log_files")
    truth = fresh.ground_truth()
    assert first.ids("messages") | second.ids("messages") == set(truth["messages"])


def test_state_stays_small_however_many_conversations(simulator_factory) -> None:
    small = simulator_factory(seed=2, conversations=5, span_days=0.5)
    large = simulator_factory(seed=2, conversations=120, span_days=0.5)
    sizes = []
    for sim in (small, large):
        run = run_tap(tap_config(sim, file_content="none"))
        assert run.returncode == 0, run.stderr[-3000:]
        sizes.append(len(str(run.state)))
    assert abs(sizes[0] - sizes[1]) < 200, sizes


def test_boundary_file_returned_again_is_recognised_by_id(simulator_factory) -> None:
    """``after`` equal to a file's end_time may re-return it (reference §3.2, §6 #3)."""
    sim = simulator_factory(seed=5, span_days=0.5, quirks=Quirks(boundary_rereturn=True))
    first = run_tap(tap_config(sim, file_content="none"))
    sim.reset_counters()
    again = run_tap(tap_config(sim, file_content="none"), state=first.state)
    assert again.returncode == 0
    assert again.records["messages"] == []
    assert sim.request_count(DOWNLOAD) == 0  # listed again, recognised, not downloaded
    skipped = re.search(r"\((\d+) already archived skipped\)", again.stderr)
    assert skipped is not None
    assert int(skipped.group(1)) >= 1


def test_files_sharing_an_end_time_are_not_skipped(simulator_factory) -> None:
    """Listing resumes just before the bookmark, so a sibling file at the same end_time is read."""
    sim = simulator_factory(seed=5, span_days=0.5, quirks=Quirks.none())
    first = run_tap(tap_config(sim, file_content="none"))
    state = first.state
    partition = bookmark(state)
    last_id = partition["boundary_file_ids"][-1]
    # Forget the last file: as if the run had stopped after a sibling with the same end_time.
    partition["boundary_file_ids"] = ["eclf_sibling_already_done"]
    rerun = run_tap(tap_config(sim, file_content="none"), state=state)
    assert rerun.ids("log_files") == {last_id}


def test_storage_mode_writes_content_addressed_objects_first(
    fresh: Simulator, tmp_path: Path
) -> None:
    """file_content=storage: bytes at <url>/sha256/<aa>/<hex>, record carries the URI."""
    store = tmp_path / "archive"
    run = run_tap(tap_config(fresh, file_content="storage", file_storage_url=str(store)))
    assert run.returncode == 0, run.stderr[-3000:]
    records = run.records["files"]
    assert records
    for record in records:
        assert record["content_base64"] is None
        digest = record["sha256"]
        path = store / "sha256" / digest[:2] / digest
        assert record["storage_uri"].endswith(f"sha256/{digest[:2]}/{digest}")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_expired_and_too_large_attachments_get_a_status_not_a_gap(simulator_factory) -> None:
    """410 → expired; over max_file_bytes → too_large, hashed anyway (reference §3.3)."""
    sim = simulator_factory(seed=9, span_days=2.0, attachment_rate=0.5)
    run = run_tap(tap_config(sim, max_file_bytes=20_000))
    truth = sim.ground_truth()["attachments"]
    statuses = {r["id"]: r for r in run.records["files"]}
    assert set(statuses) == set(truth)
    for file_id, expected in truth.items():
        record = statuses[file_id]
        if expected["expired"]:
            assert record["status"] == "expired"
            assert "410" in record["status_reason"]
        elif expected["size"] > 20_000:
            assert record["status"] == "too_large"
            assert record["sha256"] == expected["sha256"]
            assert record["content_base64"] is None
        else:
            assert record["status"] == "archived"
    assert {"expired", "too_large"} <= {r["status"] for r in statuses.values()}
    # The first few are warned and named in the run summary; all are counted there by status.
    not_archived = [fid for fid, r in statuses.items() if r["status"] != "archived"]
    named = [fid for fid in not_archived if fid in run.stderr]
    assert len(named) == min(len(not_archived), 5)
    summary = json.loads(run.stderr.splitlines()[-1].split("Run summary (json): ", 1)[1])
    assert summary["attachments"] == dict(Counter(r["status"] for r in statuses.values()))


def test_large_inline_attachments_are_split_into_parts(fresh: Simulator) -> None:
    """Inline mode never drops bytes: files above max_inline_file_bytes go to file_parts."""
    run = run_tap(tap_config(fresh, max_inline_file_bytes=4096))
    assert run.returncode == 0, run.stderr[-3000:]
    truth = fresh.ground_truth()["attachments"]
    parts: dict[str, list[dict]] = {}
    for part in run.records["file_parts"]:
        parts.setdefault(part["file_id"], []).append(part)
    split = 0
    for record in run.records["files"]:
        expected = truth[record["id"]]
        if record["part_count"]:
            split += 1
            assert record["content_base64"] is None
            pieces = sorted(parts[record["id"]], key=lambda p: p["part_index"])
            assert [p["part_index"] for p in pieces] == list(range(record["part_count"]))
            content = b"".join(base64.b64decode(p["content_base64"]) for p in pieces)
            assert all(p["sha256"] == expected["sha256"] for p in pieces)
        else:
            content = base64.b64decode(record["content_base64"])
            assert len(content) <= 4096
        assert hashlib.sha256(content).hexdigest() == expected["sha256"]
    assert split, "the workspace must hold attachments larger than 4 KiB"
    # A file's parts are written before its record, so a resumed run never has a torn file.
    position: dict[tuple[str, str], int] = {}
    for index, line in enumerate(run.stdout.splitlines()):
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] in ("files", "file_parts"):
            record = message["record"]
            key = record.get("file_id") or record["id"]
            position[(message["stream"], key)] = index
    for file_id in parts:
        assert position[("file_parts", file_id)] < position[("files", file_id)]


def test_none_mode_downloads_nothing(fresh: Simulator) -> None:
    run = run_tap(tap_config(fresh, file_content="none"))
    assert run.records["files"]
    assert {r["status"] for r in run.records["files"]} == {"metadata_only"}
    assert fresh.request_count(USER_FILE) == 0


def test_retry_after_and_server_errors_are_retried(fresh: Simulator) -> None:
    """429 with Retry-After, 5xx, resets and truncated bodies are retried (reference §3.4).

    The waits are short (max_retry_wait 0.2 s, Retry-After 0): the backoff's own times are
    tested in test_retry.py and test_pacing.py. Retry-After 0 wins over the backoff's 0.2 s."""
    fresh.inject(LIST, status=429, retry_after=0, count=1)
    fresh.inject(DOWNLOAD, status=503, count=2)
    fresh.inject(DOWNLOAD, reset=True, count=1)
    fresh.inject("signed", truncate=True, count=1)
    run = run_tap(tap_config(fresh, max_retry_wait=0.2))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "in 0.0 s after HTTP 429" in run.stderr  # the server's Retry-After, not the backoff
    assert "in 0.2 s after HTTP 503" in run.stderr
    assert "after ConnectionError" in run.stderr
    assert "after ChunkedEncodingError" in run.stderr
    assert run.ids("messages") == set(fresh.ground_truth()["messages"])


def test_expired_signed_url_asks_the_api_again(simulator_factory) -> None:
    """An expired signed URL is never retried as is: the API is asked for a new one."""
    sim = simulator_factory(
        seed=11, span_days=0.8, speed=60.0, faults=Faults(expired_signed_url_rate=0.3)
    )
    run = run_tap(tap_config(sim))
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sim.ground_truth()
    assert run.ids("messages") == set(truth["messages"])
    live = {k for k, v in truth["attachments"].items() if not v["expired"]}
    assert {r["id"] for r in run.records["files"] if r["status"] == "archived"} == live
    # Each expired URL cost one more redirect from the API, never a retry of the stale URL.
    assert sim.request_count(DOWNLOAD) > len(sim.log_files())


def test_sha_mismatch_is_downloaded_again_then_fails_without_advancing(fresh: Simulator) -> None:
    files = fresh.log_files()
    bad = files[len(files) // 2]
    fresh.corrupt_sha(bad["id"])
    run = run_tap(tap_config(fresh))
    assert run.returncode == 1
    assert f"Log file {bad['id']}" in run.stderr
    assert "SHA-256" in run.stderr
    assert fresh.request_count(DOWNLOAD) >= len(files) // 2 + 2
    assert bad["id"] not in run.ids("log_files")
    assert bookmark(run.state)["replication_key_value"] < bad["end_time"].replace("Z", "")


def test_a_failure_mid_run_then_a_rerun_loses_nothing(fresh: Simulator) -> None:
    files = fresh.log_files()
    fresh.corrupt_sha(files[3]["id"], count=1)  # the first run's listing lies
    first = run_tap(tap_config(fresh))
    assert first.returncode == 1
    second = run_tap(tap_config(fresh), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    truth = fresh.ground_truth()
    assert first.ids("messages") | second.ids("messages") == set(truth["messages"])


@pytest.mark.parametrize(
    ("make_key", "expected"),
    [
        (
            lambda sim: "sk-proj-not-a-real-key",
            "HTTP 401 from the Compliance API: api_key is wrong",
        ),
        (lambda sim: sim.issue_key(sim.workspace_id, revoked=True), "wrong or was revoked"),
        (
            lambda sim: sim.issue_key(sim.add_workspace(compliance_enabled=True).workspace_id),
            "belongs to another workspace",
        ),
        (
            lambda sim: sim.issue_key(
                sim.workspace_id, scopes={"chatgpt.enterprise.compliance_export.read"}
            ),
            "chatgpt.enterprise.compliance_logs_platform.conversation_message.read",
        ),
    ],
)
def test_auth_errors_exit_1_with_one_readable_line(simulator, make_key, expected) -> None:
    key = make_key(simulator)
    run = run_tap(tap_config(simulator, api_key=key))
    assert run.returncode == 1
    assert expected in run.stderr
    assert "Traceback" not in run.stderr
    assert key not in run.stderr + run.stdout
    assert simulator.non_get_count == 0


def test_unknown_workspace_or_plan_without_compliance_api_is_explained(simulator) -> None:
    tenant = simulator.add_workspace(compliance_enabled=False)
    run = run_tap(tap_config(simulator, workspace_id=tenant.workspace_id, api_key=tenant.api_key))
    assert run.returncode == 1
    assert f"workspace_id {tenant.workspace_id} was not found" in run.stderr
    assert "Traceback" not in run.stderr


def test_attachment_forbidden_by_scope_is_a_status(fresh: Simulator) -> None:
    """A key with log scopes but no file-download scope still archives every message."""
    key = fresh.issue_key(
        fresh.workspace_id, scopes={"chatgpt.enterprise.compliance_logs_platform.read"}
    )
    run = run_tap(tap_config(fresh, api_key=key))
    assert {r["status"] for r in run.records["files"]} == {"forbidden"}
    assert run.ids("messages") == set(fresh.ground_truth()["messages"])
    # The directory lists need that scope too: they are skipped, and the run still fails.
    assert run.returncode == 1
    assert "chatgpt.enterprise.compliance_export.read" in run.stderr.splitlines()[-1]


def test_other_event_types_go_to_events(simulator_factory) -> None:
    sim = simulator_factory(seed=4, span_days=1.0)
    config = tap_config(
        sim,
        event_types=["CONVERSATION_MESSAGE", "AUDIT_LOG", "AUTH_LOG", "COSTS"],
        organization_id=sim.organization_id,
        file_content="none",
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sim.ground_truth()["events"]
    for event_type in ("AUDIT_LOG", "AUTH_LOG", "COSTS"):
        got = {r["event_id"] for r in run.records["events"] if r["type"] == event_type}
        assert got == set(truth[event_type]), event_type
    partitions = run.state["bookmarks"]["log_files"]["partitions"]
    assert len(partitions) == 4


def test_flaky_api_with_every_quirk_still_loses_nothing(simulator_factory) -> None:
    """Quirks on, plus random 5xx bursts, resets and truncated bodies (reference §5)."""
    sim = simulator_factory(
        seed=21,
        span_days=0.8,
        speed=60.0,
        faults=Faults(error_rate=0.05, error_burst=2, reset_rate=0.03, truncate_rate=0.03),
    )
    # Short waits: whether a retry happens is tested here, how long it waits in test_retry.py.
    run = run_tap(tap_config(sim, max_retries=10, max_retry_wait=0.2))
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sim.ground_truth()
    assert run.ids("messages") == set(truth["messages"])
    live = {k for k, v in truth["attachments"].items() if not v["expired"]}
    assert {r["id"] for r in run.records["files"] if r["status"] == "archived"} == live


def test_empty_pages_with_has_more_are_asked_again(simulator_factory) -> None:
    """``{"data":[],"has_more":true,"last_end_time":null}`` is not the end (reference §5 #4)."""
    sim = simulator_factory(seed=12, span_days=0.8, quirks=Quirks(empty_page_rate=1.0))
    run = run_tap(tap_config(sim, file_content="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("messages") == set(sim.ground_truth()["messages"])
    assert sim.request_count(LIST) >= 2 * len(sim.log_files()) // 100 + 2


def test_retention_warnings(simulator) -> None:
    """Data older than 30 days is gone at OpenAI: say so (reference §3.2)."""
    old_start = (simulator.now() - timedelta(days=45)).isoformat()
    run = run_tap(tap_config(simulator, start_date=old_start, file_content="none"))
    assert run.returncode == 0
    assert "older than the API's 30-day retention" in run.stderr
    state = rewind_bookmark(run.state, simulator.now() - timedelta(days=27))
    again = run_tap(tap_config(simulator, file_content="none"), state=state)
    assert again.returncode == 0
    assert "close to the 30-day retention" in again.stderr


def test_a_bookmark_past_retention_is_a_loud_gap_but_archives_what_exists(simulator) -> None:
    """Files older than 30 days are gone: the run archives the rest, then exits 1 (no silence)."""
    first = run_tap(tap_config(simulator, file_content="none"))
    state = rewind_bookmark(first.state, simulator.now() - timedelta(days=31))
    run = run_tap(tap_config(simulator, file_content="none"), state=state)
    assert run.returncode == 1
    assert "Possible gap" in run.stderr.splitlines()[-1]
    assert run.ids("messages") == set(simulator.ground_truth()["messages"])
    assert (
        bookmark(run.state)["replication_key_value"]
        > (simulator.now() - timedelta(days=2)).isoformat()
    )


def test_a_deselected_manifest_emits_nothing_and_its_bookmarks_still_move(
    fresh: Simulator, tmp_path: Path
) -> None:
    """Only messages selected: no log_files record or SCHEMA, yet the bookmarks move."""
    command = tap_command(tap_config(fresh, file_content="none"), None, tmp_path)
    discovered = subprocess.run(
        [*command, "--discover"],
        capture_output=True,
        text=True,
        check=True,
        env=tap_env(),
    )
    catalog = json.loads(discovered.stdout)
    for stream in catalog["streams"]:
        keep = stream["tap_stream_id"] == "messages"
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = keep
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    result = subprocess.run(
        [*command, "--catalog", str(catalog_path)],
        capture_output=True,
        text=True,
        check=False,
        env=tap_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records, states = parse_singer(result.stdout)
    assert set(records) == {"messages"}
    schemas = [json.loads(line) for line in result.stdout.splitlines() if '"SCHEMA"' in line]
    assert {schema["stream"] for schema in schemas} == {"messages"}
    assert bookmark(states[-1])["replication_key_value"]


def test_a_listed_file_that_vanished_fails_without_advancing(fresh: Simulator) -> None:
    files = fresh.log_files()
    fresh.inject(DOWNLOAD, status=404, count=1)
    run = run_tap(tap_config(fresh, file_content="none"))
    assert run.returncode == 1
    assert f"Log file {files[0]['id']} was listed but cannot be downloaded (HTTP 404" in run.stderr
    assert run.records["log_files"] == []
