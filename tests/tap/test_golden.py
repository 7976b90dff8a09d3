"""Golden output: the tap's Singer output on fixed simulator worlds, byte for byte (issue 19).

Refactors of the tap must not change what it writes. Each scenario runs the tap as a process
against a simulator with a fixed seed and a fixed clock (``start``, never advanced by real
time), and compares stdout with a snapshot committed under ``tests/tap/golden/``.

Only what truly varies between two runs of the same code is normalised (:func:`normalise`):

- ``time_extracted`` (every RECORD), ``processed_at`` (``log_files``) and ``archived_at``
  (``files``): this machine's wall clock at the moment of writing, by design;
- the simulator's ports (``127.0.0.1:<port>``, picked free at each start) and the expiry and
  signature of the signed URLs in GPT and project items (``download_url``: the simulator signs
  them at the wall clock, and the HMAC covers the port);
- the chain links of the ``gpts`` and ``projects`` rows (``chain_hash``, ``chain_previous``, and
  the heads in their bookmarks): they hash the items, signed URLs included;
- nothing else: the ``storage`` scenario writes to fsspec's in-memory store, whose URL is the
  same at every run.

Everything else (records, their order, SCHEMA and STATE messages, base64 parts, hashes,
chain links) must be identical. Set ``UPDATE_GOLDEN=1`` to rewrite the snapshots after an
intended change of output, and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Oddities, Simulator, SimulatorConfig
from tests.support.tap import run_tap, tap_config

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

WORLD = SimulatorConfig(
    seed=4242,
    users=3,
    conversations=6,
    span_days=1.5,
    gpts=1,
    projects=1,
    attachment_rate=0.4,
    attachment_size=(100, 3000),
    rate_limits=False,
    start=datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc),
    oddities=Oddities(
        invalid_utf8_lines=1,
        non_object_lines=2,
        missing_event_id_rate=0.05,
        foreign_events_rate=0.05,
    ),
)
"""The reference world: small, every stream fed, odd lines, expired and archived attachments."""
SETTINGS: dict[str, Any] = {
    "event_types": ["CONVERSATION_MESSAGE", "AUDIT_LOG"],
    "max_inline_file_bytes": 1024,
}

_WALL_CLOCK = re.compile(
    r'"(time_extracted|processed_at|archived_at)":"\d{4}-\d\d-\d\dT[0-9:.]+\+00:00"'
)
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_SIGNATURE = re.compile(r"Expires=\d+&X-Amz-Signature=[0-9a-f]+")
_SIGNED_ROW = re.compile(r'^(\{"type":"RECORD","stream":"(?:gpts|projects)".*)$', re.MULTILINE)
_LINK = re.compile(r'"(chain_hash|chain_previous)":"[0-9a-f]{64}"')
_SIGNED_HEAD = re.compile(r'("(?:gpts|projects)":\{"chain_head":")[0-9a-f]{64}')


def normalise(stdout: str) -> str:
    """Replace what varies between two runs of the same code (see the module docstring)."""
    text = _WALL_CLOCK.sub(r'"\1":"<wall clock>"', stdout)
    text = _PORT.sub("127.0.0.1:<port>", text)
    text = _SIGNED_ROW.sub(lambda row: _LINK.sub(r'"\1":"<signed item>"', row.group(1)), text)
    text = _SIGNED_HEAD.sub(r"\1<signed item>", text)
    return _SIGNATURE.sub("Expires=<expiry>&X-Amz-Signature=<signature>", text)


def check(name: str, stdout: str) -> None:
    """Compare with (or, with UPDATE_GOLDEN=1, write) ``golden/<name>.jsonl``."""
    path = GOLDEN / f"{name}.jsonl"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(stdout, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    if stdout == expected:
        return
    got, want = stdout.splitlines(), expected.splitlines()
    for number, (line, golden) in enumerate(zip(got, want, strict=False), start=1):
        if line != golden:
            at = next(i for i, (a, b) in enumerate(zip(line, golden, strict=False)) if a != b)
            at = min(at, len(line), len(golden))
            pytest.fail(
                f"{name}: line {number} differs at character {at}\n"
                f"  got:    …{line[max(0, at - 150) : at + 150]}\n"
                f"  golden: …{golden[max(0, at - 150) : at + 150]}"
            )
    pytest.fail(f"{name}: {len(got)} lines, golden has {len(want)}")


def messages(stdout: str, kind: str) -> list[dict[str, Any]]:
    """Return the Singer messages of one type."""
    out = []
    for line in stdout.splitlines():
        message = json.loads(line)
        if message["type"] == kind:
            out.append(message)
    return out


@pytest.fixture
def world() -> Iterator[Simulator]:
    """A started simulator of the reference world (each test gets a fresh one)."""
    sim = Simulator(WORLD).start()
    try:
        yield sim
    finally:
        sim.stop()


def test_golden_inline_resume_and_incremental(world: Simulator) -> None:
    """Inline content: a full run, a resume from a state written mid-run, an incremental run."""
    config = tap_config(world, **SETTINGS)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    check("inline", normalise(first.stdout))

    # A run killed after a mid-run STATE resumes from it: the same as a kill at that line.
    states = messages(first.stdout, "STATE")
    assert len(states) >= 4
    resumed = run_tap(config, states[len(states) // 2]["value"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    check("inline_resume", normalise(resumed.stdout))

    # New activity, then a run from the last state: only what is new.
    world.advance(timedelta(hours=3))
    later = run_tap(config, first.state)
    assert later.returncode == 0, later.stderr[-2000:]
    check("inline_incremental", normalise(later.stdout))


def test_golden_storage(world: Simulator) -> None:
    """Storage content: attachments and raw log files in a content store.

    fsspec's in-memory store of the tap process: its URL is the same at every run, and the
    chain hashes of ``log_files`` cover ``raw_storage_uri`` (a temporary folder would change
    them). Writing to a real folder is tested elsewhere (test_attachment_integrity.py).
    """
    config = tap_config(
        world, **SETTINGS, file_content="storage", file_storage_url="memory://golden-store"
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "memory://golden-store/sha256/" in run.stdout
    check("storage", normalise(run.stdout))


def test_golden_none(world: Simulator) -> None:
    """No content: metadata only."""
    run = run_tap(tap_config(world, **SETTINGS, file_content="none"))
    assert run.returncode == 0, run.stderr[-2000:]
    check("none", normalise(run.stdout))
