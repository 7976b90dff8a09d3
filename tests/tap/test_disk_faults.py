"""A disk that refuses a write (EFBIG under a small RLIMIT_FSIZE) fails that attachment, not the
run: the attachment is left pending with the reason and the next run archives it (issue #17)."""

from __future__ import annotations

import resource
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.simulators import one_log_file_world
from tests.support.singer import parse_singer
from tests.support.tap import TapRun, run_tap, tap_command, tap_config, tap_env

LIMIT = 512 * 1024
"""Largest file the tap process may write: attachments above it cannot be spooled."""


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def run_limited(config: dict) -> TapRun:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            tap_command(config, None, Path(tmp)),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=tap_env(),
            preexec_fn=_limit_file_size,  # the limit and SIGXFSZ ignored, in the tap only
        )
    records, states = parse_singer(proc.stdout)
    return TapRun(proc.returncode, proc.stdout, proc.stderr, records, states)


def test_a_spool_write_refused_fails_only_that_attachment(simulator_factory) -> None:
    sim = simulator_factory(
        seed=7, span_days=0.5, speed=60.0, attachment_rate=0.5, attachment_size=(1_000, 1_500_000)
    )
    config = tap_config(sim, file_content="inline")
    first = run_limited(config)
    assert "Traceback" not in first.stderr, first.stderr[-3000:]
    # The run goes on to its end, then fails loudly (one line) for the attachments left pending.
    assert first.returncode == 1, first.stderr[-3000:]
    assert "could not be archived" in first.stderr.strip().splitlines()[-1]
    assert first.state is not None
    assert first.state["bookmarks"]["log_files"]["partitions"][0].get("replication_key_value")
    statuses = {r.get("file_id") or r["id"]: r for r in first.records["files"]}
    refused = {fid: r for fid, r in statuses.items() if r.get("status") == "failed"}
    archived = {fid for fid, r in statuses.items() if r.get("status") == "archived"}
    assert refused, "no attachment hit the file size limit: the test proves nothing"
    assert archived, "no attachment was archived: the whole run stopped"
    assert any("spool: EFBIG" in (r.get("status_reason") or "") for r in refused.values()), [
        r.get("status_reason") for r in refused.values()
    ]
    assert first.records["messages"], "the messages were not archived"
    # The next run, on a disk that takes the writes, archives the ones left pending.
    second = run_tap(config, first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    now = {r.get("file_id") or r.get("id"): r.get("status") for r in second.records["files"]}
    assert all(now.get(fid) == "archived" for fid in refused), {f: now.get(f) for f in refused}


def test_a_log_file_that_cannot_be_spooled_stops_the_run_cleanly(simulator_factory) -> None:
    """Disk full for the stream output itself (the log file's spool): one line, exit 1, the
    bookmark before that file; the next run on a disk that takes it archives everything."""
    sim = simulator_factory(**one_log_file_world(600))  # one log file of a few MB
    config = tap_config(sim, file_content="none")
    first = run_limited(config)
    assert first.returncode == 1, first.stderr[-3000:]
    last = first.stderr.strip().splitlines()[-1]
    assert "File too large" in last, last
    assert "Traceback" not in first.stderr
    assert not first.records["messages"]
    assert first.state is not None
    assert "log_files" not in first.state["bookmarks"] or not any(
        p.get("replication_key_value")
        for p in first.state["bookmarks"]["log_files"].get("partitions", [])
    ), first.state
    second = run_tap(config, first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    truth = set(sim.ground_truth(workspace_id=sim.workspace_id)["messages"])
    assert second.ids("messages") == truth
