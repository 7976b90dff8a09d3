"""The anchors of verify, attacked by someone who can write the archive and the state (not the
seals already locked): `intact` only when every record is covered by a verified anchor,
`consistent` when some are not, FAILED on any contradiction.

One small tap run (seals in a local folder) per module; verify runs in this process.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.seals import check_seals
from tap_chatgpt_compliance.evidence.verify import (
    AnchorError,
    Report,
    anchor_from_state,
    verify,
)
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.seals import (
    SealStore,
    build_seal,
    canonical,
    seal_name,
    write_seal,
)
from tests.support.simulators import running
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import ok, verify_cli, write_jsonl

CM = "CONVERSATION_MESSAGE"
State = dict[str, Any]
Records = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[TapRun, Path]:
    """A run of two event types and two attachments, sealed in a local folder."""
    seals = tmp_path_factory.mktemp("seals")
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.3, "conversations": 4}
    )
    with running(config) as sim:
        run = ok(
            run_tap(tap_config(sim, event_types=[CM, "AUTH_LOG"], seal_storage_url=str(seals)))
        )
    assert len(run.records["files"]) >= 2, "the run archived attachments"
    return run, seals


def _records(run: TapRun) -> Records:
    return copy.deepcopy(dict(run.records))


def _check(
    records: Records,
    tmp: Path,
    *anchors: State,
    seals: Path | None = None,
    upserts: bool = False,
) -> Report:
    folder = tmp / "archive"
    shutil.rmtree(folder, ignore_errors=True)
    write_jsonl(records, folder)
    archive = sources.from_jsonl(folder)
    archive.upserts = upserts  # what a target that keeps one row per key holds
    held = [anchor_from_state(s, f"state {i}") for i, s in enumerate(anchors)]
    report = verify(archive, held[0] if len(held) == 1 else held or None)
    if seals is not None:
        check_seals(str(seals), report, {}, archive=report.links)
    return report


def _lines(report: Report) -> list[str]:
    return [f.line() for f in report.findings]


def _files_head(records: Records) -> dict[str, Any]:
    return max(records["files"], key=lambda r: r["chain_seq"])


def _state_with(state: State, **files_head: Any) -> State:
    changed = copy.deepcopy(state)
    changed["bookmarks"]["files"].update(files_head)
    return changed


def _partition(state: State, event_type: str) -> dict[str, Any]:
    return next(
        p
        for p in state["bookmarks"]["log_files"]["partitions"]
        if p["context"]["event_type"] == event_type
    )


# -- the files chain: chain_seq is not hashed


@pytest.mark.parametrize("claimed", ["first", "head"])
def test_a_files_record_after_the_anchored_head_cannot_claim_an_earlier_position(
    claimed: str, sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    """A second record of an archived attachment chained after the anchored head, claiming
    chain_seq 1 (or the head's): it was 'intact' for the state and for the seals."""
    run, seals = sealed
    records = _records(run)
    head = _files_head(records)
    first = min(records["files"], key=lambda r: r["chain_seq"])
    forged = {
        **first,
        "chain_previous": head["chain_hash"],
        "chain_previous_id": head["id"],
        "chain_seq": 1 if claimed == "first" else head["chain_seq"],
    }
    forged["chain_hash"] = chain.chain_hash(forged["chain_previous"], forged, chain.FILES)
    records["files"].append(forged)
    for report in (_check(records, tmp_path, run.state), _check(records, tmp_path, seals=seals)):
        assert report.status == "FAILED", report.verdict()
        assert (
            f"chain: attachment {first['id']} (files chain_seq {forged['chain_seq']}): chain_seq "
            f"does not follow its link (it links to chain_seq {head['chain_seq']})"
        ) in _lines(report)
    # At its true position it is consistent, and not anchored.
    forged["chain_seq"] = head["chain_seq"] + 1
    report = _check(records, tmp_path, run.state)
    assert report.status == "consistent", _lines(report)
    assert report.unanchored_tail() == {chain.FILES: (1, head["chain_seq"])}


def test_copies_of_a_files_record_agree_on_their_position(
    sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    run, _ = sealed
    records = _records(run)
    head = _files_head(records)
    records["files"].append({**head, "chain_seq": 1})  # its hash still right: seq is not hashed
    report = _check(records, tmp_path, run.state)
    assert report.status == "FAILED"
    assert (
        f"chain: attachment {head['id']} (files chain_seq 1): two copies of its files record "
        f"disagree on their position (chain_seq {head['chain_seq']} and 1)"
    ) in _lines(report)


def _rechain_files(records: Records) -> None:
    previous, previous_id = chain.GENESIS, None
    for seq, record in enumerate(records["files"], start=1):
        record.update(chain_previous=previous, chain_previous_id=previous_id, chain_seq=seq)
        record["chain_hash"] = previous = chain.chain_hash(previous, record, chain.FILES)
        previous_id = record["id"]


def test_a_hole_in_an_append_only_files_chain_is_a_removed_record(
    sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    """Attachment A written twice (A, B, A again): removing A's first record leaves a hole that
    only an upserting target (one row per attachment) may have."""
    run, _ = sealed
    records = _records(run)
    first, second = sorted(records["files"], key=lambda r: r["chain_seq"])[:2]
    records["files"] = [first, second, copy.deepcopy(first)]
    _rechain_files(records)
    state = _state_with(
        run.state,
        chain_seq=3,
        chain_head=records["files"][-1]["chain_hash"],
        chain_head_id=first["id"],
    )
    assert _check(records, tmp_path, state).status == "intact"
    records["files"] = records["files"][1:]  # A's first record removed
    report = _check(records, tmp_path, state)
    assert report.status == "FAILED", report.verdict()
    assert any("files record missing before it" in line for line in _lines(report))
    # What PostgreSQL keeps (one row per attachment, its latest) is no finding.
    assert _check(records, tmp_path, state, upserts=True).status == "intact"


# -- chains no anchor holds


def test_a_state_without_the_attachment_chain_head_does_not_anchor_it(
    sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    run, seals = sealed
    records = _records(run)
    state = copy.deepcopy(run.state)
    del state["bookmarks"]["files"]["chain_seq"]
    report = _check(records, tmp_path, state)
    assert report.status == "consistent", report.verdict()
    count = len({r["chain_hash"] for r in records["files"]})
    assert f"files: {count}, no anchored head" in report.verdict()
    # The seals hold it: the furthest head counts.
    assert _check(records, tmp_path, state, seals=seals).status == "intact"


# -- states


def test_every_state_given_is_checked(sealed: tuple[TapRun, Path], tmp_path: Path) -> None:
    """`--state old --state new`: argparse kept the last one only, in silence."""
    run, _ = sealed
    folder = write_jsonl(run.records, tmp_path / "archive")
    older = next(  # a state of the run that knows every chain, behind the final one
        s
        for s in run.states
        if len(s["bookmarks"]["log_files"].get("partitions", [])) == 2
        and all(p.get("chain_seq") for p in s["bookmarks"]["log_files"]["partitions"])
        and s != run.state
    )
    wrong = copy.deepcopy(older)
    _partition(wrong, CM)["chain_head"] = "ab" * 32
    paths = []
    for name, state in (("wrong.json", wrong), ("older.json", older), ("new.json", run.state)):
        (tmp_path / name).write_text(json.dumps(state))
        paths.append(str(tmp_path / name))
    done = verify_cli("--jsonl", str(folder), "--state", paths[0], "--state", paths[2])
    assert done.returncode == 1, done.stdout
    assert "state wrong.json says abababababababab…: the archive was rewritten" in done.stdout
    done = verify_cli("--jsonl", str(folder), "--state", paths[1], "--state", paths[2])
    assert done.returncode == 0, done.stdout
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith("VERDICT: intact (anchored: state older.json, state new.json)")


def test_a_state_contradicting_the_archive_in_other_ways_is_a_finding(
    sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    run, _ = sealed
    records = _records(run)
    workspace = records["log_files"][0]["workspace_id"]
    other = copy.deepcopy(run.state)
    other["bookmarks"]["log_files"]["workspace_id"] = "another-workspace"
    assert _lines(_check(records, tmp_path, other)) == [
        "anchor: state 0: written for workspace 'another-workspace'; the archive's log files "
        f"are of {workspace!r}: the state of another workspace"
    ]
    # Its bookmark beyond its head: files in between would be skipped by the next run.
    beyond = copy.deepcopy(run.state)
    _partition(beyond, CM)["replication_key_value"] = "2099-01-01T00:00:00+00:00"
    lines = _lines(_check(records, tmp_path, beyond))
    assert len(lines) == 1
    assert lines[0].startswith(
        f"anchor: chain {CM}: state 0's bookmark 2099-01-01T00:00:00.000000Z is beyond the end_time"
    )
    # Two heads for one event type: which is meant cannot be told.
    twice = copy.deepcopy(run.state)
    twice["bookmarks"]["log_files"]["partitions"].append(copy.deepcopy(_partition(twice, CM)))
    with pytest.raises(AnchorError, match=f"two chain heads for {CM}"):
        anchor_from_state(twice, "state")
    # What was fine before stays fine: chain_seq 10.0 is 10, a string is refused.
    whole = copy.deepcopy(run.state)
    _partition(whole, CM)["chain_seq"] = float(_partition(whole, CM)["chain_seq"])
    assert _check(records, tmp_path, whole).status == "intact"


def test_a_log_file_record_moved_to_an_older_chain_version_is_a_finding(
    sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    """The newest record rewritten as chain version 1 (raw_content unchained), the state
    rewritten with it: the chain itself shows the downgrade."""
    run, _ = sealed
    records = _records(run)
    head = max(
        (r for r in records["log_files"] if r["event_type"] == CM), key=lambda r: r["chain_seq"]
    )
    del head["chain_version"]
    head["chain_hash"] = chain.chain_hash(head["chain_previous"], head)
    state = copy.deepcopy(run.state)
    _partition(state, CM)["chain_head"] = head["chain_hash"]
    lines = _lines(_check(records, tmp_path, state))
    assert len(lines) == 1
    assert lines[0].startswith(
        f"chain: log file {head['id']}: chain_version 1 after chain_version 3"
    )


# -- seals


def _after_newest(folder: Path, seal: dict[str, Any]) -> Path:
    """Chain ``seal`` to the newest seal of ``folder``; return where it goes (a new object)."""
    names = sorted(p.name for p in folder.iterdir())
    previous = (folder / names[-1]).read_bytes()
    seal["previous_seal"] = {"name": names[-1], "sha256": hashlib.sha256(previous).hexdigest()}
    return folder / f"30000101T000000.000000Z-{seal['run_id']}.json"


def test_a_seal_repeating_a_key_is_a_finding(sealed: tuple[TapRun, Path], tmp_path: Path) -> None:
    run, original = sealed
    seals = tmp_path / "seals"
    shutil.copytree(original, seals)
    (folder,) = list(seals.iterdir())
    latest = json.loads(sorted(folder.iterdir())[-1].read_bytes())
    seal = {**latest, "seal_seq": latest["seal_seq"] + 1, "run_id": "again"}
    path = _after_newest(folder, seal)
    # json.loads takes the last "chains" (none), a reader taking the first sees the heads.
    path.write_bytes(canonical(seal)[:-2] + b',"chains":{}}\n')
    report = _check(_records(run), tmp_path, seals=seals)
    assert report.status == "FAILED"
    assert any(line.endswith("its JSON repeats a key (chains)") for line in _lines(report))


def test_seals_of_several_workspaces_resolve_to_the_archive_s(
    sealed: tuple[TapRun, Path], tmp_path: Path
) -> None:
    """`--seals <seal_storage_url>` holding two workspaces: the archive's is checked (it was
    'seals of several workspaces' and FAILED); another workspace's folder is a finding."""
    run, original = sealed
    seals = tmp_path / "seals"
    shutil.copytree(original, seals)
    write_seal(
        SealStore(str(seals), "another-workspace", {}), chains={}, records={}, retention_days=1
    )
    folder = write_jsonl(run.records, tmp_path / "archive")
    done = verify_cli("--jsonl", str(folder), "--seals", str(seals))
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("VERDICT: intact (anchored: seals")
    done = verify_cli("--jsonl", str(folder), "--seals", str(seals / "another-workspace"))
    assert done.returncode == 1
    assert "seal of workspace 'another-workspace', not" in done.stdout


@pytest.mark.skipif(not os.environ.get("TEST_S3_ENDPOINT"), reason="moto S3 (services.sh)")
def test_a_seal_locked_for_less_than_it_says_is_a_finding(s3_client, s3_endpoint: str) -> None:
    """A seal whose Object Lock ends before its own retain_until (a lock the tap did not set:
    once it ends the seal can be removed with no version left)."""
    bucket = f"lock-{os.urandom(6).hex()}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    store = SealStore(f"s3://{bucket}/seals", "ws", options)
    heads = {"log_files/AUTH_LOG": {"chain_seq": 1, "chain_head": "a" * 64}}
    write_seal(store, chains=heads, records={}, retention_days=30)
    (name,) = store.names()
    now = datetime.now(timezone.utc) + timedelta(seconds=1)
    seal = build_seal(
        workspace_id="ws",
        run_id="short",
        sealed_at=now,
        api_time=None,
        chains=heads,
        records={},
        previous=(name, store.read(name)),
        retain_until=now + timedelta(days=30),
    )
    store.write(seal_name(now, "short"), canonical(seal), now + timedelta(days=2))

    class Found:
        def __init__(self) -> None:
            self.lines: list[str] = []
            self.notes: list[str] = []

        def add(self, check: str, item: str, detail: str) -> None:
            self.lines.append(f"{check}: {item}: {detail}")

    found = Found()
    check_seals(f"s3://{bucket}/seals", found, options, workspace_id="ws")
    assert len(found.lines) == 1, found.lines
    assert f"seal {seal_name(now, 'short')}: its Object Lock retention ends " in found.lines[0]
    assert "before the retain_until" in found.lines[0]
