"""A fourth audit of ``verify``: columns it said ``intact`` about without proving them.

Each case alters the records of one tap run of the simulator in memory (as
test_audit_verify3.py does) and verify, anchored by the run's state, must say FAILED and name
the column, or name the column as not proven in its report (never a silent ``intact``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import UNPROVEN_COLUMNS, Report, verify
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.records import event_record
from tests.support.tap import TapRun

from .conftest import cli, verify_cli
from .test_audit_verify3 import Records, _lines, _records, _verify

ORG = "org-p13k3klgno5cqxbf0q8hpgrk"


def _counted(records: Records) -> dict[str, Any]:
    """Return a manifest record of a file that kept an event no other file delivered."""
    return next(r for r in records["log_files"] if r["event_count"] >= 1)


# --------------------------------------------------------------------------- organization_id


def test_organization_id_rewritten_on_every_row_is_named_unproven(inline_run: TapRun) -> None:
    """Every events row's organization_id set to one other value: verify said ``intact`` and
    nothing else (it only checked that the rows agree). The value is the tap's setting, in no
    event and on no chain of a workspace-scoped file: verify now names it as not proven."""
    records = _records(inline_run)
    assert records["events"]
    for row in records["events"]:
        row["organization_id"] = ORG
    report = _verify(inline_run, records)
    assert report.status == "intact", _lines(report)  # nothing proves it either way
    assert "events.organization_id" in report.unproven_columns
    assert "events.organization_id" in report.text()
    assert "events.organization_id" in report.to_json()["unproven_columns"]


def _with_an_organization_file(records: Records) -> dict[str, Any]:
    """Add an organization-scoped (COSTS) log file, chained, raw kept inline, with its event.

    The simulator serves no organization-scoped file; this one is made as the tap makes it
    (the tap writes its organization_id setting into the chained manifest record).
    """
    workspace = records["log_files"][0]["workspace_id"]
    event = {"event_id": "cost-1", "type": "COSTS", "timestamp": 1764000000, "amount": 1}
    raw = json.dumps(event).encode() + b"\n"
    sha = hashlib.sha256(raw).hexdigest()
    file_id = "eclf_costs0000000000000001"
    record = {
        **{k: v for k, v in records["log_files"][0].items() if not k.startswith("chain")},
        "id": file_id,
        "organization_id": ORG,
        "scope": "organization",
        "event_type": "COSTS",
        "file_name": "COSTS.jsonl",
        "file_size": len(raw),
        "provider_sha256": sha,
        "verified_sha256": sha,
        "bytes_downloaded": len(raw),
        "line_count": 1,
        "event_count": 1,
        "duplicates_dropped": 0,
        "unparsed_lines": 0,
        "blank_lines": 0,
        "events_without_id": 0,
        "id_clashes": 0,
        "foreign_events": 0,
        "raw_content": "inline",
        "raw_part_count": 1,
        "raw_storage_uri": None,
        "chain_version": 2,
        "chain_seq": 1,
        "chain_previous": chain.GENESIS,
    }
    record["chain_hash"] = chain.chain_hash(chain.GENESIS, record)
    records["log_files"].append(record)
    records["log_file_parts"].append(
        {
            "log_file_id": file_id,
            "part_index": 0,
            "part_count": 1,
            "offset": 0,
            "size": len(raw),
            "sha256": sha,
            "event_type": "COSTS",
            "workspace_id": workspace,
            "content_base64": base64.b64encode(raw).decode(),
        }
    )
    records["events"].append(event_record(event, workspace, ORG, file_id, "COSTS"))
    return record


def test_organization_id_is_proven_by_an_organization_scoped_log_file(
    inline_run: TapRun,
) -> None:
    """With an organization-scoped log file, its chained manifest record proves the setting:
    every events row rewritten to another organization is a finding, and the column is not
    listed as unproven when it holds."""
    records = _records(inline_run)
    _with_an_organization_file(records)
    for row in records["events"]:
        row["organization_id"] = ORG
    control = verify(sources.Archive("test", tables=records), None)
    assert not control.findings, _lines(control)
    assert "events.organization_id" not in control.unproven_columns
    for row in records["events"]:
        row["organization_id"] = "org-someoneelse000000000000"
    report = verify(sources.Archive("test", tables=records), None)
    assert report.status == "FAILED"
    lines = "\n".join(_lines(report))
    assert "of log file eclf_costs0000000000000001 column organization_id: says " in lines, lines
    assert "events column organization_id: rows say 'org-someoneelse" in lines, lines


# --------------------------------------------------------------------------- manifest counts


def test_a_count_moved_from_event_count_to_duplicates_dropped_is_a_finding(
    inline_run: TapRun,
) -> None:
    """One event moved from ``event_count`` to ``duplicates_dropped`` (the same sum): verify
    checked only the sum. No other log file holds a key of the file's events, so the tap could
    not have dropped any: the counts must be the file's own."""
    records = _records(inline_run)
    record = _counted(records)
    record["event_count"] -= 1
    record["duplicates_dropped"] += 1
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    lines = _lines(report)
    for column in ("event_count", "duplicates_dropped"):
        assert any(
            line.startswith(f"column: log_files {record['id']} column {column}: says ")
            for line in lines
        ), lines


@pytest.mark.parametrize("column", ["events_without_id", "id_clashes", "foreign_events"])
def test_a_run_count_of_the_manifest_altered_is_a_finding(column: str, inline_run: TapRun) -> None:
    """``events_without_id``, ``id_clashes`` and ``foreign_events`` were not checked at all."""
    records = _records(inline_run)
    record = _counted(records)
    record[column] += 1
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    assert any(
        line.startswith(f"column: log_files {record['id']} column {column}: says ")
        for line in _lines(report)
    ), _lines(report)


# --------------------------------------------------------------------------- manifest facts


def test_scope_altered_is_a_finding(inline_run: TapRun) -> None:
    """``scope`` follows from the chained ``event_type``."""
    records = _records(inline_run)
    record = records["log_files"][0]
    record["scope"] = "organization"
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    assert any(
        line.startswith(f"column: log_files {record['id']} column scope: says ")
        for line in _lines(report)
    ), _lines(report)


def test_file_size_altered_is_a_chain_finding(inline_run: TapRun) -> None:
    """From chain_version 3 on, ``file_size`` (the listing's, which may differ from the bytes
    that hash to its SHA-256) is chained: altered, the record no longer hashes to its link."""
    records = _records(inline_run)
    record = records["log_files"][0]
    assert record["chain_version"] >= 3
    record["file_size"] += 1
    report = _verify(inline_run, records)
    assert report.status == "FAILED"
    assert any(
        line.startswith(f"chain: log file {record['id']} ") and "altered" in line
        for line in _lines(report)
    ), _lines(report)


def test_file_size_of_an_older_chain_version_is_still_checked_against_the_bytes(
    inline_run: TapRun,
) -> None:
    """A record of chain_version 2 (``file_size`` on no chain) keeps its check: ``file_size``
    must be the size of the bytes that hash to OpenAI's SHA-256 (``bytes_downloaded``)."""
    records = _records(inline_run)
    state = copy.deepcopy(inline_run.state or {})
    heads = {p["context"]["event_type"]: p for p in state["bookmarks"]["log_files"]["partitions"]}
    for event_type, partition in heads.items():
        previous = chain.GENESIS
        rows = [r for r in records["log_files"] if r["event_type"] == event_type]
        for row in sorted(rows, key=lambda r: r["chain_seq"]):
            row.update(chain_version=2, chain_previous=previous)
            row["chain_hash"] = previous = chain.chain_hash(previous, row)
        partition["chain_head"] = previous
    run = TapRun(0, "", "", records, [state])
    assert _verify(run, records).status == "intact", _lines(_verify(run, records))
    record = records["log_files"][0]
    record["file_size"] += 1
    report = _verify(run, records)
    assert report.status == "FAILED"
    assert any(
        line.startswith(f"column: log_files {record['id']} column file_size: says ")
        for line in _lines(report)
    ), _lines(report)


def test_run_facts_of_the_manifest_are_named_unproven(
    inline_run: TapRun, inline_archive: Path, tmp_path: Path
) -> None:
    """``processed_at``, ``download_attempts``, ``end_time_source``, ``bookmark_capped``: on no
    chain and in no raw line. verify passed them silently; now the report (text and JSON) names
    every such column, and still says intact (exit 0) for an archive as the tap wrote it."""
    records = _records(inline_run)
    for record in records["log_files"]:
        record["processed_at"] = "2020-01-01T00:00:00+00:00"
        record["download_attempts"] += 1
    report = _verify(inline_run, records)
    assert report.status == "intact", _lines(report)
    for column in UNPROVEN_COLUMNS["log_files"]:
        assert f"log_files.{column}" in report.unproven_columns
    state = tmp_path / "state.json"
    state.write_text(json.dumps(inline_run.state))
    out = tmp_path / "report.json"
    done = verify_cli("--jsonl", str(inline_archive), "--state", str(state), "--report", str(out))
    assert done.returncode == 0, done.stdout[-2000:]
    said = json.loads(out.read_text())
    assert said["verdict"] == "intact"
    assert "log_files.processed_at" in said["unproven_columns"]
    assert "files.status_reason" in said["unproven_columns"]
    (line,) = [x for x in done.stdout.splitlines() if "columns are not proven" in x]
    assert line.startswith("  limitation: ")
    assert "log_files.processed_at" in line
    assert done.stdout.splitlines()[-1].startswith("VERDICT: intact")


def test_unproven_columns_are_listed_only_for_streams_in_the_archive(inline_run: TapRun) -> None:
    """A stream the archive does not hold names no column."""
    report: Report = _verify(inline_run, _records(inline_run))
    assert not any(c.startswith("canvas_versions.") for c in report.unproven_columns)


def test_an_export_lists_the_unproven_columns_and_shows_none_of_them(
    inline_run: TapRun, inline_archive: Path, tmp_path: Path
) -> None:
    """The production's manifest carries the columns verify could not prove; none of the run
    facts (processed_at, download attempts, organization_id) is shown on a page."""
    records = _records(inline_run)
    conversation = records["messages"][0]["conversation_id"]
    state = tmp_path / "state.json"
    state.write_text(json.dumps(inline_run.state))
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(inline_archive),
        "--state",
        str(state),
        "--conversation",
        conversation,
        "--out",
        str(out),
        "--export-time",
        "2026-12-01T09:00:00Z",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed = json.loads((out / "production_manifest.json").read_text())
    assert "log_files.processed_at" in listed["verify"]["unproven_columns"]
    assert "events.organization_id" in listed["verify"]["unproven_columns"]
    pages = "\n".join(p.read_text() for p in out.rglob("*.html"))
    processed = {str(r["processed_at"]) for r in records["log_files"]}
    assert not any(value in pages for value in processed)


SIGNALLED = """
import os, sys, time
from tap_chatgpt_compliance.evidence import cli

def busy(args):
    os.kill(os.getpid(), int(sys.argv[1]))
    time.sleep(30)
    return 0

cli._verify = cli._export = busy
sys.exit(cli.main(sys.argv[2:]))
"""


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("signum", "command"),
    [
        (signal.SIGINT, ["verify", "--jsonl", "x"]),
        (signal.SIGTERM, ["verify", "--jsonl", "x"]),
        (signal.SIGTERM, ["export", "--jsonl", "x", "--custodian", "u", "--out", "o"]),
    ],
)
def test_a_signal_mid_command_is_one_line_and_no_verdict(
    signum: signal.Signals, command: list[str], tmp_path: Path
) -> None:
    """SIGINT printed a traceback and SIGTERM ended verify and export without a word: now one
    line saying there is no verdict (or what an export left), exit 128 + the signal."""
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED, str(int(signum)), *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # As from a terminal: a shell's background job (`make test &`, nohup) starts with SIGINT
        # ignored, and Python then never raises KeyboardInterrupt (busy() slept its 30 s).
        preexec_fn=_sigint_default,
    )
    assert done.returncode == 128 + signum
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"chatgpt-compliance {command[0]}: stopped by {signum.name}: ")
    assert "no verdict" in lines[0] if command[0] == "verify" else "nothing was written" in lines[0]
