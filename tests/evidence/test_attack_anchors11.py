"""The anchors of verify (`--state`, `--seals`), attacked by someone who can rewrite the archive
(every row, every chain hash) but not the seals already locked nor the state the user passes.

One small tap run per module; seals are written with the tap's own ``write_seal`` into local
folders (what a run writes), verify runs in this process.
"""

from __future__ import annotations

import base64
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
from tap_chatgpt_compliance.evidence import seals as seal_check
from tap_chatgpt_compliance.evidence import state_file
from tap_chatgpt_compliance.evidence.verify import AnchorError, read_state
from tap_chatgpt_compliance.logfiles import chain, rest_chain
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
Records = dict[str, list[dict[str, Any]]]
Heads = dict[str, dict[str, Any]]
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def tap_run() -> TapRun:
    """A run of two event types and two attachments (its own seal is not used here)."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 41, "span_days": 0.3, "conversations": 4}
    )
    with running(config) as sim:
        run = ok(run_tap(tap_config(sim, event_types=[CM, "AUTH_LOG"])))
    assert len(run.records["files"]) >= 2, "the run archived attachments"
    return run


def _records(run: TapRun) -> Records:
    return copy.deepcopy(dict(run.records))


def _chain(records: Records, name: str) -> list[dict[str, Any]]:
    """The records of one chain (``files`` or an event type's log files), in chain order."""
    rows = (
        records["files"]
        if name == chain.FILES
        else [r for r in records["log_files"] if r["event_type"] == name]
    )
    return sorted(rows, key=lambda r: r["chain_seq"])


def _head(record: dict[str, Any]) -> dict[str, Any]:
    return {"chain_seq": record["chain_seq"], "chain_head": record["chain_hash"]}


def _heads(records: Records, **at: int) -> Heads:
    """Every chain's head: its newest record, or the record at ``at[name]`` (1-based).

    The REST streams' chains (users, gpts, projects) are sealed at their newest record.
    """
    out: Heads = {}
    for name in (CM, "AUTH_LOG", chain.FILES):
        rows = _chain(records, name)
        key = name if name == chain.FILES else f"{chain.LOG_FILES}/{name}"
        out[key] = _head(rows[at.get(name, len(rows)) - 1])
    for stream in rest_chain.KEYS:
        if records.get(stream):
            out[stream] = _head(max(records[stream], key=lambda r: r["chain_seq"]))
    return out


def _seals(folder: Path, workspace: str, *runs: Heads) -> Path:
    """Seal each run's heads in turn, as the tap does at the end of each run."""
    store = SealStore(str(folder), workspace, {})
    for index, heads in enumerate(runs):
        write_seal(
            store, chains=heads, records={}, retention_days=1, now=T0 + timedelta(hours=index)
        )
    return folder


def _verify(records: Records, tmp: Path, *args: str) -> tuple[int, list[str]]:
    folder = tmp / "archive"
    shutil.rmtree(folder, ignore_errors=True)
    write_jsonl(records, folder)
    done = verify_cli("--jsonl", str(folder), *args)
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, (done.stdout + done.stderr).strip().splitlines()


def _workspace(records: Records) -> str:
    return str(records["log_files"][0]["workspace_id"])


# -- the files chain: a fork after an older seal's head


def _a_failed_then_b(records: Records) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Rewrite the files chain as: attachment A failed (retried later), then B archived.

    Return A's original (archived) record, A's failed record and B's record.
    """
    first, second = _chain(records, chain.FILES)[:2]
    failed = {
        **first,
        "status": "failed",
        "status_reason": "HTTP 500",
        "sha256": None,
        "size": None,
        "content_base64": None,
        "archived_at": None,
        "retry_until": "2027-01-01T00:00:00+00:00",
    }
    failed["chain_hash"] = chain.chain_hash(chain.GENESIS, failed, chain.FILES)
    second = {**second, "chain_previous": failed["chain_hash"]}
    second["chain_hash"] = chain.chain_hash(second["chain_previous"], second, chain.FILES)
    records["files"] = [failed, second]
    return first, failed, second


def _fork_after(record: dict[str, Any], bytes_of: dict[str, Any], data: bytes) -> dict[str, Any]:
    """A files record of ``bytes_of``'s attachment, archived with ``data``, chained after
    ``record`` at the next position (beside the record the chain really has there)."""
    forked = {
        **bytes_of,
        "content_base64": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "chain_previous": record["chain_hash"],
        "chain_previous_id": record["id"],
        "chain_seq": record["chain_seq"] + 1,
    }
    forked["chain_hash"] = chain.chain_hash(forked["chain_previous"], forked, chain.FILES)
    return forked


FORGED = b"forged attachment bytes\n" * 64


def test_a_files_record_forked_after_an_older_seal_s_head_is_anchored_by_nothing(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """Attachment A failed in run 1 (sealed), B was archived in run 2 (sealed). A record of A
    'archived' with forged bytes, chained after run 1's head (a fork at run 2's position), was
    on a chain through *a* sealed head: `intact`. Only the newest head counts, as for a state."""
    records = _records(tap_run)
    first, failed, second = _a_failed_then_b(records)
    logs = {k: v for k, v in _heads(records).items() if k != chain.FILES}
    seals = _seals(
        tmp_path / "seals",
        _workspace(records),
        {**logs, chain.FILES: _head(failed)},
        {**logs, chain.FILES: _head(second)},
    )
    code, lines = _verify(records, tmp_path, "--seals", str(seals))
    assert code == 0, lines
    assert lines[-1].startswith("VERDICT: intact"), lines
    records["files"].append(_fork_after(failed, first, FORGED))
    code, lines = _verify(records, tmp_path, "--seals", str(seals))
    assert code == 1, lines
    assert lines[-1].startswith("VERDICT: FAILED — 1 findings (1 seal)"), lines
    assert any(
        f"chain files: the latest record of 1 items ({first['id']}) is on no chain through the "
        "newest sealed head" in line
        for line in lines
    ), lines


def test_archived_bytes_only_off_the_anchored_chain_are_anchored_by_nothing(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """The same forged record placed before A's failed record (so not A's latest, as a killed
    run's record is): its bytes were verified as A's, `intact`, with the state alone too."""
    records = _records(tap_run)
    first, failed, second = _a_failed_then_b(records)
    state = copy.deepcopy(tap_run.state)
    state["bookmarks"]["files"].update(
        chain_seq=second["chain_seq"], chain_head=second["chain_hash"], chain_head_id=second["id"]
    )
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    seals = _seals(tmp_path / "seals", _workspace(records), _heads(records))
    records["files"] = [_fork_after(failed, first, FORGED), failed, second]
    for anchor, check in (("--state", "anchor"), ("--seals", "seal")):
        code, lines = _verify(
            records, tmp_path, anchor, str(state_path if check == "anchor" else seals)
        )
        assert code == 1, lines
        assert lines[-1].startswith(f"VERDICT: FAILED — 1 findings (1 {check})"), lines
        assert any(
            f"the archived bytes of 1 attachments ({first['id']}) are only in files records on "
            "no chain through the head"
            in line
            or f"the archived bytes of 1 items ({first['id']}) are only in records on no chain "
            "through the newest sealed head"
            in line
            for line in lines
        ), lines
    # A killed run's record of the bytes a record on the chain holds too adds nothing: fine.
    records["files"] = [_fork_after(failed, first, b"the real bytes"), failed, second]
    records["files"].append(_fork_after(second, first, b"the real bytes"))
    state["bookmarks"]["files"].update(
        chain_seq=3, chain_head=records["files"][-1]["chain_hash"], chain_head_id=first["id"]
    )
    state_path.write_text(json.dumps(state))
    code, lines = _verify(records, tmp_path, "--state", str(state_path))
    assert code == 0, lines


# -- several seal stores


def test_every_seal_store_given_is_checked(tap_run: TapRun, tmp_path: Path) -> None:
    """`--seals real --seals stale`: argparse kept the last one only, in silence; the archive
    truncated to the stale copy's head was `intact`."""
    records = _records(tap_run)
    workspace = _workspace(records)
    real = _seals(tmp_path / "real", workspace, _heads(records))
    stale = _seals(tmp_path / "stale", workspace, _heads(records, **{CM: 5, chain.FILES: 1}))
    cut = {r["id"] for r in _chain(records, CM)[5:]}
    for stream, rows in records.items():
        key = "id" if stream == "log_files" else "log_file_id"
        records[stream] = [r for r in rows if r.get(key) not in cut]
    code, lines = _verify(records, tmp_path, "--seals", str(stale))
    assert code == 0, lines
    assert lines[-1].startswith("VERDICT: intact"), lines
    for order in ((real, stale), (stale, real)):
        code, lines = _verify(records, tmp_path, "--seals", str(order[0]), "--seals", str(order[1]))
        assert code == 1, lines
        assert any(
            "records sealed by this run are missing from the archive" in line for line in lines
        ), lines


# -- what a seal is


def test_a_seal_of_a_version_verify_does_not_know_is_a_finding(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """A seal_version this verify does not read (a newer tap's, or no seal of this tap) was read
    as version 1, in silence."""
    records = _records(tap_run)
    seals = _seals(tmp_path / "seals", _workspace(records), _heads(records))
    (path,) = (seals / _workspace(records)).iterdir()
    seal = json.loads(path.read_bytes())
    for version, shown in ((2, "2"), (None, "None"), ("1", "'1'")):
        path.write_bytes(canonical({**seal, "seal_version": version}))
        code, lines = _verify(records, tmp_path, "--seals", str(seals))
        assert code == 1, lines
        assert any(
            line.endswith(f"seal_version {shown} is not one this verify reads (1)")
            for line in lines
        ), lines
    extra = {**seal, "note": "an extra field: ignored"}
    path.write_bytes(canonical(extra))
    code, lines = _verify(records, tmp_path, "--seals", str(seals))
    assert code == 0, lines


@pytest.mark.parametrize(
    ("chain_name", "other"),
    [
        (f"{chain.LOG_FILES}/AUTH_LOG", CM),  # another event type's record at the same seq
        (chain.FILES, CM),  # a log file's record named as the files head
        (f"{chain.LOG_FILES}/{CM}", chain.FILES),
    ],
)
def test_a_sealed_head_of_another_chain_is_a_finding(
    chain_name: str, other: str, tap_run: TapRun, tmp_path: Path
) -> None:
    """A seal naming, for one chain, a link that is in the archive on another chain."""
    records = _records(tap_run)
    heads = _heads(records)
    rows = _chain(records, other)
    elsewhere = rows[min(heads[chain_name]["chain_seq"], len(rows)) - 1]
    heads[chain_name] = _head(elsewhere)
    seq = elsewhere["chain_seq"]
    seals = _seals(tmp_path / "seals", _workspace(records), heads)
    code, lines = _verify(records, tmp_path, "--seals", str(seals))
    assert code == 1, lines
    assert any(f"chain {chain_name}: chain_seq {seq} has hash" in line for line in lines), lines


# -- what the verdict says of the newest seal


def test_intact_by_seals_names_the_newest_seal_and_what_it_cannot_cover(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """The archive cut back to the newest seal's head (the records of a later run whose seal was
    not written, removed) is `intact` by the seals: the verdict says as of which seal, and that
    what was written after it is covered by no seal."""
    records = _records(tap_run)
    workspace = _workspace(records)
    seals = _seals(
        tmp_path / "seals",
        workspace,
        _heads(records, **{CM: 3, chain.FILES: 1}),
        _heads(records, **{CM: 5, chain.FILES: 1}),
    )
    cut = {r["id"] for r in _chain(records, CM)[5:]}
    for stream, rows in records.items():
        key = "id" if stream == "log_files" else "log_file_id"
        records[stream] = [r for r in rows if r.get(key) not in cut]
    code, lines = _verify(records, tmp_path, "--seals", str(seals))
    assert code == 0, lines
    sealed_at = (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert lines[-1].startswith(
        f"VERDICT: intact (anchored: seals {seals / workspace} up to seal 2 sealed {sealed_at}"
    ), lines[-1]
    assert any(
        line.startswith(f"  limitation: the seals anchor the archive as of seal 2 ({sealed_at}")
        and "(--state)" in line
        for line in lines
    ), lines
    # With the state too, the note is not needed: the state is the newest anchor there is.
    state = tmp_path / "state.json"
    state.write_text(json.dumps(tap_run.state))
    code, lines = _verify(records, tmp_path, "--seals", str(seals), "--state", str(state))
    assert code == 1, lines  # the state reaches further: the cut is seen
    assert any("the archive is shorter than its anchor" in line for line in lines), lines


# -- reading anchors: bounded


def test_a_state_file_that_is_no_regular_file_is_refused_in_one_line(tmp_path: Path) -> None:
    """A state that is a symlink to /dev/zero was read until memory ran out; a FIFO hung."""
    zero = tmp_path / "state.json"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (zero, fifo):
        with pytest.raises(AnchorError, match=r"--state .*: cannot read \(not a regular file"):
            read_state(path)


def test_a_large_singer_output_is_read_line_by_line(
    tap_run: TapRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tap's whole Singer output (every record, attachments inline) is a state file too:
    it was read whole, then split. Past the size read whole, only STATE lines are parsed."""
    monkeypatch.setattr(state_file, "MAX_STATE_BYTES", 4096)
    path = tmp_path / "output.jsonl"
    with path.open("w") as out:
        for state in tap_run.states:
            record = {"type": "RECORD", "stream": "files", "record": {"x": "y" * 5000}}
            out.write(json.dumps(record) + "\n")
            out.write(json.dumps({"type": "STATE", "value": state}, separators=(",", ":")) + "\n")
        out.write('{"type":"RECORD","stream":"x","record":{"pad":"' + "z" * 10000 + '"}}\n')
    assert path.stat().st_size > 4096
    anchor = read_state(path)
    final = tap_run.state["bookmarks"]["log_files"]["partitions"]
    assert anchor.heads == {
        p["context"]["event_type"]: (p["chain_seq"], p["chain_head"]) for p in final
    }
    state_line = json.dumps({"type": "STATE", "value": {"pad": "p" * 5000}})
    path.write_text(state_line + "\n")
    with pytest.raises(AnchorError, match="a STATE line over 4096 bytes"):
        read_state(path)


def test_a_seal_object_is_read_bounded(tap_run: TapRun, tmp_path: Path) -> None:
    """A seal that is a symlink to /dev/zero was read until memory ran out."""
    records = _records(tap_run)
    workspace = _workspace(records)
    seals = _seals(tmp_path / "seals", workspace, _heads(records))
    (seals / workspace / "30000101T000000.000000Z-zero.json").symlink_to("/dev/zero")
    big = seals / workspace / "30000101T000001.000000Z-big.json"
    big.write_bytes(b" " * (seal_check.MAX_SEAL_BYTES + 1))
    code, lines = _verify(records, tmp_path, "--seals", str(seals))
    assert code == 1, lines
    assert any("30000101T000000.000000Z-zero.json: not a regular file" in x for x in lines)
    assert any(
        f"30000101T000001.000000Z-big.json: over {seal_check.MAX_SEAL_BYTES} bytes" in x
        for x in lines
    ), lines


# -- Object Lock modes (moto)


@pytest.mark.skipif(not os.environ.get("TEST_S3_ENDPOINT"), reason="moto S3 (services.sh)")
@pytest.mark.parametrize("lock", ["GOVERNANCE", "legal hold", "none"])
def test_a_seal_not_under_compliance_retention_is_a_finding(
    lock: str, s3_client: Any, s3_endpoint: str
) -> None:
    """GOVERNANCE retention can be bypassed (s3:BypassGovernanceRetention), a legal hold lifted
    by whoever may put one, and an object without either deleted: none anchors."""
    bucket = f"lock-{os.urandom(6).hex()}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    now = datetime.now(timezone.utc)
    heads = {"log_files/AUTH_LOG": {"chain_seq": 1, "chain_head": "a" * 64}}
    seal = build_seal(
        workspace_id="ws",
        run_id="r",
        sealed_at=now,
        api_time=None,
        chains=heads,
        records={},
        previous=None,
        retain_until=now + timedelta(days=30),
    )
    extra: dict[str, Any] = {}
    if lock == "GOVERNANCE":
        extra = {"ObjectLockMode": lock, "ObjectLockRetainUntilDate": now + timedelta(days=30)}
    elif lock == "legal hold":
        extra = {"ObjectLockLegalHoldStatus": "ON"}
    key = f"seals/ws/{seal_name(now, 'r')}"
    s3_client.put_object(Bucket=bucket, Key=key, Body=canonical(seal), **extra)

    class Found:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def add(self, check: str, item: str, detail: str) -> None:
            self.lines.append(f"{check}: {item}: {detail}")

    found = Found()
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    result = seal_check.check_seals(
        f"s3://{bucket}/seals",
        found,
        options,
        workspace_id="ws",
        archive={"log_files/AUTH_LOG": {1: {"a" * 64}}},
    )
    assert not result.object_lock
    mode = "'GOVERNANCE'" if lock == "GOVERNANCE" else "None"
    assert found.lines == [
        f"seal: seal {seal_name(now, 'r')}: no Object Lock COMPLIANCE retention (mode {mode})"
    ]


# -- honest histories the anchors must not fail: replaced records, deselected event types


def _in_process(
    records: Records, tmp: Path, *, seals: Path | None = None, states: tuple[dict, ...] = ()
) -> tuple[str, list[str]]:
    """Verify an upserting archive (one record per attachment kept) in this process."""
    from tap_chatgpt_compliance.evidence import sources
    from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify

    folder = tmp / "archive"
    shutil.rmtree(folder, ignore_errors=True)
    write_jsonl(records, folder)
    archive = sources.from_jsonl(folder)
    archive.upserts = True  # what PostgreSQL keeps: the latest record of each attachment
    anchors = [anchor_from_state(s, f"state {i}") for i, s in enumerate(states)]
    report = verify(archive, anchors or None)
    if seals is not None:
        seal_check.check_stores([str(seals)], report, {})
    lines = [f.line() for f in report.findings] + report.notes + report.limitations
    return report.verdict(), lines


def _a_failed_then_retried(records: Records) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run 1: attachment A failed (files chain_seq 1, run 1's head). Run 2: A retried and
    archived (chain_seq 2, linked to A's failed record), then B (3). An upserting target keeps
    A's latest record only: the archive holds chain_seq 2 and 3. Return (A failed, B)."""
    first, second = _chain(records, chain.FILES)[:2]
    failed, *kept = linked([failed_try(first), first, second])
    records["files"] = kept
    return failed, kept[-1]


def failed_try(record: dict[str, Any]) -> dict[str, Any]:
    """Return the record of a failed try of ``record``'s attachment (retried later)."""
    return {
        **record,
        "status": "failed",
        "status_reason": "HTTP 500",
        "sha256": None,
        "size": None,
        "content_base64": None,
        "archived_at": None,
        "retry_until": "2027-01-01T00:00:00+00:00",
    }


def linked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return copies of ``rows`` chained in order from the genesis (chain_seq from 1)."""
    linked: list[dict[str, Any]] = []
    previous, previous_id = chain.GENESIS, None
    for seq, row in enumerate(rows, start=1):
        row = {**row, "chain_previous": previous, "chain_previous_id": previous_id}
        row["chain_seq"] = seq
        row["chain_hash"] = previous = chain.chain_hash(previous, row, chain.FILES)
        previous_id = row["id"]
        linked.append(row)
    return linked


def _files_state(state: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(state)
    changed["bookmarks"]["files"].update(
        chain_seq=record["chain_seq"], chain_head=record["chain_hash"], chain_head_id=record["id"]
    )
    return changed


def test_an_older_seal_s_files_head_replaced_by_an_upsert_is_no_finding(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """Run 1 sealed A's failed record as the files head; run 2's retry replaced it (the
    target upserts by id): the head is absent, the kept retry links to it. It was `FAILED`
    (`the seal says chain_seq 1, the archive ends at 3`)."""
    records = _records(tap_run)
    failed, last = _a_failed_then_retried(records)
    logs = {k: v for k, v in _heads(records).items() if k != chain.FILES}
    workspace = _workspace(records)
    seals = _seals(
        tmp_path / "seals",
        workspace,
        {**logs, chain.FILES: _head(failed)},
        {**logs, chain.FILES: _head(last)},
    )
    verdict, lines = _in_process(records, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: intact"), lines
    # The same for an older state (run 1's) beside the newest one.
    states = (_files_state(tap_run.state, failed), _files_state(tap_run.state, last))
    verdict, lines = _in_process(records, tmp_path, states=states)
    assert verdict.startswith("VERDICT: intact"), lines
    # Run 1's state alone: its head is accounted for, what run 2 wrote is not anchored.
    verdict, lines = _in_process(records, tmp_path, states=states[:1])
    assert verdict.startswith("VERDICT: consistent, partly anchored"), (verdict, lines)
    assert "files: 2 after chain_seq 1" in verdict


def test_a_replaced_head_the_archive_does_not_link_to_is_still_a_finding(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """An older seal naming a hash at the replaced position that the kept records do not link
    to (another history), and an archive cut back before the newest sealed head."""
    records = _records(tap_run)
    failed, last = _a_failed_then_retried(records)
    logs = {k: v for k, v in _heads(records).items() if k != chain.FILES}
    workspace = _workspace(records)
    other = {"chain_seq": 1, "chain_head": "e" * 64}
    seals = _seals(
        tmp_path / "seals",
        workspace,
        {**logs, chain.FILES: other},
        {**logs, chain.FILES: _head(last)},
    )
    verdict, lines = _in_process(records, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: FAILED"), lines
    assert any(
        "chain files: the seal says chain_seq 1, the archive ends at 3" in line for line in lines
    ), lines
    # Cut back before the newest sealed head: B's record removed.
    seals = _seals(
        tmp_path / "seals2",
        workspace,
        {**logs, chain.FILES: _head(failed)},
        {**logs, chain.FILES: _head(last)},
    )
    records["files"] = records["files"][:-1]
    verdict, lines = _in_process(records, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: FAILED"), lines
    assert any(
        "chain files: the seal says chain_seq 3, the archive ends at 2" in line for line in lines
    ), lines
    state = _files_state(tap_run.state, last)
    verdict, lines = _in_process(records, tmp_path, states=(state,))
    assert verdict.startswith("VERDICT: FAILED"), lines


def test_an_event_type_deselected_between_runs_is_anchored_by_its_last_seal(
    tap_run: TapRun, tmp_path: Path
) -> None:
    """AUTH_LOG was selected in run 1 and deselected for run 2: run 2's seal has no AUTH_LOG
    chain. It was `FAILED` (`chain … of the previous seal is missing from it`)."""
    records = _records(tap_run)
    workspace = _workspace(records)
    full = _heads(records)
    without = {k: v for k, v in full.items() if k != f"{chain.LOG_FILES}/AUTH_LOG"}
    seals = _seals(tmp_path / "seals", workspace, full, without)
    verdict, lines = _in_process(records, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: intact"), lines
    assert any("chain log_files/AUTH_LOG: not in the newest seal" in line for line in lines), lines
    # Its records must still match up to that head: one cut is a finding.
    auth = _chain(records, "AUTH_LOG")
    cut = auth[-1]["id"]
    trimmed = copy.deepcopy(records)
    for stream, rows in trimmed.items():
        key = "id" if stream == "log_files" else "log_file_id"
        trimmed[stream] = [r for r in rows if r.get(key) != cut]
    verdict, lines = _in_process(trimmed, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: FAILED"), lines
    assert any("chain log_files/AUTH_LOG: the seal says chain_seq" in line for line in lines)


def test_a_chain_named_again_at_a_lower_seq_after_a_gap_is_a_rollback(
    tap_run: TapRun, tmp_path: Path
) -> None:
    records = _records(tap_run)
    workspace = _workspace(records)
    full = _heads(records)
    name = f"{chain.LOG_FILES}/{CM}"
    assert full[name]["chain_seq"] >= 2
    without = {k: v for k, v in full.items() if k != name}
    lower = {**full, name: _head(_chain(records, CM)[0])}
    seals = _seals(tmp_path / "seals", workspace, full, without, lower)
    verdict, lines = _in_process(records, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: FAILED"), lines
    assert any(
        f"chain {name} went back from chain_seq {full[name]['chain_seq']} to 1" in line
        for line in lines
    ), lines
