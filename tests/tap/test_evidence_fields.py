"""What the tap writes so that verify can prove it: chains over files and raw fields, raw_item."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.directory_rows import derive_row, raw_item
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tests.support.singer import parse_singer
from tests.support.tap import run_tap, tap_command, tap_config, tap_env


def _walk(records: list[dict[str, Any]], stream: str) -> list[str]:
    """Check one chain as verify does; return the problems (empty: unbroken)."""
    problems = []
    by_hash = {r["chain_hash"]: r for r in records}
    for record in sorted(records, key=lambda r: r["chain_seq"]):
        if chain.chain_hash(record["chain_previous"], record, stream) != record["chain_hash"]:
            problems.append(f"altered {record['id']}")
        previous = record["chain_previous"]
        if previous != chain.GENESIS and previous not in by_hash:
            problems.append(f"missing before {record['id']}")
    return problems


def _walk_upserted(records: list[dict[str, Any]]) -> list[str]:
    """Check the files chain of an upserting target (latest record per id) with the
    chain_previous_id rule: a hole is accounted for by a later record of the named attachment."""
    problems = []
    by_hash = {r["chain_hash"]: r for r in records}
    seq_of = {r["id"]: r["chain_seq"] for r in records}
    for record in records:
        if chain.chain_hash(record["chain_previous"], record, chain.FILES) != record["chain_hash"]:
            problems.append(f"altered {record['id']}")
        previous = record["chain_previous"]
        if previous == chain.GENESIS or previous in by_hash:
            continue
        named = record["chain_previous_id"]
        if named is None or seq_of.get(named, 0) < record["chain_seq"]:
            problems.append(f"missing before {record['id']}")
    return problems


def _latest(*runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest record per id, as an upserting target keeps them."""
    latest: dict[str, dict[str, Any]] = {}
    for records in runs:
        for record in records:
            latest[record["id"]] = record
    return list(latest.values())


def _killed_inside_a_file(config: dict, at_state: bool = True) -> tuple[dict, list[dict]]:
    """Run the tap; SIGKILL it at the first STATE written after files records of a log file
    but before that file's manifest record (the STATE a child sync writes at its end), or
    (``at_state`` False) right after the first files record followed by another."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            tap_command(config, None, Path(tmp)),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=tap_env(),
        )
        assert proc.stdout is not None
        lines = []
        inside = False
        for line in proc.stdout:
            lines.append(line)
            if line.startswith('{"type":"RECORD","stream":"files"'):
                if inside and not at_state:
                    proc.send_signal(signal.SIGKILL)
                    break
                inside = True
            elif line.startswith('{"type":"RECORD","stream":"log_files"'):
                inside = False
            elif inside and line.startswith('{"type":"STATE"'):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    return parse_singer("".join(lines))


@pytest.fixture(scope="module")
def archive(simulator_factory_module) -> dict[str, Any]:
    sim = simulator_factory_module(seed=23, conversations=16, span_days=0.6, attachment_rate=0.5)
    config = tap_config(sim)
    full = run_tap(config)
    assert full.returncode == 0, full.stderr[-3000:]
    return {"sim": sim, "config": config, "full": full}


def test_files_records_form_one_unbroken_chain(archive: dict[str, Any]) -> None:
    files = archive["full"].records["files"]
    assert len(files) >= 5
    assert [r["chain_seq"] for r in files] == list(range(1, len(files) + 1))
    assert all(r["chain_version"] == 1 for r in files)
    assert files[0]["chain_previous"] == chain.GENESIS
    assert files[0]["chain_previous_id"] is None
    assert all(b["chain_previous_id"] == a["id"] for a, b in itertools.pairwise(files))
    assert _walk(files, chain.FILES) == []
    state = archive["full"].state["bookmarks"]["files"]
    assert (state["chain_seq"], state["chain_head"]) == (len(files), files[-1]["chain_hash"])


def test_a_downgraded_or_deleted_files_record_breaks_the_chain(archive: dict[str, Any]) -> None:
    files = [dict(r) for r in archive["full"].records["files"]]
    archived = next(i for i, r in enumerate(files[:-1]) if r["status"] == "archived")
    downgraded = [dict(r) for r in files]
    downgraded[archived].update(status="expired", sha256=None, storage_uri=None, size=None)
    assert _walk(downgraded, chain.FILES) == [f"altered {files[archived]['id']}"]
    deleted = files[:archived] + files[archived + 1 :]
    assert _walk(deleted, chain.FILES) == [f"missing before {files[archived + 1]['id']}"]
    # Moving a record to another message, or to another object, breaks it too.
    for field, value in (("message_id", "msg-forged"), ("sha256", "0" * 64), ("part_count", 9)):
        altered = [dict(r) for r in files]
        altered[archived][field] = value
        assert _walk(altered, chain.FILES), field


def test_log_files_chain_covers_the_raw_fields_and_old_records_still_verify(
    archive: dict[str, Any],
) -> None:
    manifest = [dict(r) for r in archive["full"].records["log_files"]]
    assert all(r["chain_version"] == 3 for r in manifest)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for record in manifest:
        by_type.setdefault(record["event_type"], []).append(record)
    for records in by_type.values():
        assert _walk(records, chain.LOG_FILES) == []
    record = manifest[0]
    assert record["raw_content"] == "inline"
    for field, value in (
        ("raw_content", "none"),
        ("raw_part_count", None),
        ("chain_version", 1),
        ("file_size", (record["file_size"] or 0) + 1),
    ):
        altered = dict(record, **{field: value})
        assert chain.chain_hash(record["chain_previous"], altered) != record["chain_hash"], field
    # A record written before chain_version existed (version 1 fields) still verifies.
    old = {k: v for k, v in record.items() if k != "chain_version"}
    old["chain_hash"] = chain.chain_hash(old["chain_previous"], old)
    assert chain.chain_hash(old["chain_previous"], old) == old["chain_hash"]
    assert (
        chain.chain_hash(old["chain_previous"], dict(old, raw_content="none")) == old["chain_hash"]
    )
    with pytest.raises(chain.ChainVersionError):
        chain.chain_hash(record["chain_previous"], dict(record, chain_version=99))


def test_chain_links_are_the_same_after_a_kill_and_resume(archive: dict[str, Any]) -> None:
    """Killed inside a log file (after some of its files records, before its manifest record
    and STATE): the resumed run writes those records again with the same links, and ends at
    the same heads as an uninterrupted run."""
    full = archive["full"]
    killed, states = _killed_inside_a_file(archive["config"])
    assert killed["files"], "the tap was never caught inside a log file"
    state = states[-1]
    # The STATE written inside the file still carries the head of before the file.
    head = state["bookmarks"].get("files", {}).get("chain_seq") or 0
    assert head < killed["files"][-1]["chain_seq"]
    resumed = run_tap(archive["config"], state=state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = {r["id"]: r for r in resumed.records["files"]}
    reference = {r["id"]: r for r in full.records["files"]}
    fields = ("chain_seq", "chain_previous", "chain_previous_id", "chain_hash")
    for record in killed["files"]:
        same = again.get(record["id"], reference[record["id"]])
        assert {f: record[f] for f in fields} == {f: same[f] for f in fields}
    for record in resumed.records["files"]:
        assert {f: record[f] for f in fields} == {f: reference[record["id"]][f] for f in fields}
    final = resumed.state["bookmarks"]
    assert final["files"]["chain_head"] == full.state["bookmarks"]["files"]["chain_head"]
    assert final["log_files"] == full.state["bookmarks"]["log_files"]
    assert _walk(_latest(killed["files"], resumed.records["files"]), chain.FILES) == []


@pytest.mark.parametrize("stream", ["users", "gpts", "projects"])
def test_directory_rows_are_derived_from_raw_item(archive: dict[str, Any], stream: str) -> None:
    rows = archive["full"].records[stream]
    assert rows
    workspace_id = archive["sim"].workspace_id
    for row in rows:
        item = json.loads(row["raw_item"])
        assert row["raw_item"] == raw_item(item)
        assert row["raw_item"] == json.dumps(
            row["item"], sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        assert derive_row(stream, item, workspace_id) == rest_chain.without_chain(row)
        assert row["chain_hash"] == rest_chain.chain_hash(row["chain_previous"], row, stream)
    # A column edited without its raw_item no longer derives.
    edited = dict(rows[0])
    column = "email" if stream == "users" else "owner_id"
    edited[column] = "someone-else"
    assert derive_row(stream, json.loads(edited["raw_item"]), workspace_id) != edited


def test_derive_row_keeps_unknown_fields_and_converts_times() -> None:
    item = {"id": "user-1", "email": "a@b.c", "created_at": 1700000000, "new_field": [1, 2.5]}
    row = derive_row("users", item, "ws")
    assert row["created_at"] == "2023-11-14T22:13:20.000000+00:00"
    assert "new_field" not in row
    assert row["item"]["new_field"] == [1, 2.5]
    assert row["raw_item"] == (
        '{"created_at":1700000000,"email":"a@b.c","id":"user-1","new_field":[1,2.5]}'
    )
    assert row["workspace_id"] == "ws"
    # A field named like a derived column cannot replace it.
    assert derive_row("users", {**item, "workspace_id": "evil"}, "ws")["workspace_id"] == "ws"


LOGS_SCOPE = "chatgpt.enterprise.compliance_logs_platform.read"


def test_failed_attachments_enter_the_retry_list_with_their_file_and_keep_the_chain(
    simulator_factory_module,
) -> None:
    """Attachments refused (403) inside a log file join the retry list only with the file's
    bookmark: a run killed there tries them again in file order, with the same links; a later
    run archives them from the retry list, and an upserting target's chain still accounts for
    every record."""
    sim = simulator_factory_module(seed=11, span_days=0.8, attachment_rate=0.4, speed=60.0)
    key = sim.issue_key(sim.workspace_id, scopes={LOGS_SCOPE})
    config = tap_config(sim, api_key=key)
    killed, states = _killed_inside_a_file(config, at_state=False)
    assert len(killed["files"]) >= 2, "the tap was never caught inside a log file"
    inside = states[-1]["bookmarks"].get("files", {})
    committed = inside.get("chain_seq") or 0
    assert committed < killed["files"][-1]["chain_seq"]
    uncommitted = {r["id"] for r in killed["files"] if r["chain_seq"] > committed}
    pending = {e["id"] for e in inside.get("pending_attachments") or []}
    assert not pending & uncommitted, "a failure joined the retry list before its file's bookmark"
    resumed = run_tap(config, state=states[-1])
    assert resumed.returncode == 1  # attachments not archived: retried by later runs
    fields = ("chain_seq", "chain_previous", "chain_hash")
    again = {r["id"]: r for r in resumed.records["files"]}
    for record in killed["files"]:
        if record["chain_seq"] > committed:
            assert {f: record[f] for f in fields} == {f: again[record["id"]][f] for f in fields}
    granted = run_tap(tap_config(sim), state=resumed.state)
    assert granted.returncode == 0, granted.stderr[-3000:]
    assert {r["status"] for r in granted.records["files"]} == {"archived"}
    runs = (killed["files"], resumed.records["files"], granted.records["files"])
    written = [record for records in runs for record in records]
    assert _walk(written, chain.FILES) == []  # append-only: every record present
    latest = _latest(*runs)
    assert {r["status"] for r in latest} == {"archived"}
    assert _walk_upserted(latest) == []
    # Removing an attachment's only kept record is still a hole nothing accounts for.
    ordered = sorted(latest, key=lambda r: r["chain_seq"])
    assert _walk_upserted(ordered[:1] + ordered[2:]) == [f"missing before {ordered[2]['id']}"]
