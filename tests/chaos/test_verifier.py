"""The checks of the chaos tests can fail: each kind of loss or corruption, planted in a real
archive, is reported. (A verifier that passes everything would make every schedule green.)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .archive import RunView, Verdict, verify_archive
from .schedule import Outcome, Schedule, Step, run_schedule
from .tapproc import TapRun

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

EVENT_TYPES = ["CONVERSATION_MESSAGE", "AUDIT_LOG", "AUTH_LOG"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """A small real archive (two clean runs, with odd lines) kept on disk."""
    schedule = Schedule(
        seed=0,
        sim={
            "seed": 77,
            "users": 3,
            "conversations": 8,
            "messages_per_conversation": (2, 4),
            "attachment_rate": 0.5,
            "attachment_size": (200, 50_000),
            "span_days": 1.3,
        },
        quirks={"duplicate_rate": 0.1, "late_rate": 0.1},
        oddities={
            "missing_event_id_rate": 0.1,
            "foreign_events_rate": 0.1,
            "invalid_utf8_lines": 1,
            "non_object_lines": 2,
        },
        expired_signed_url_rate=0.0,
        tie_rate=0.0,
        file_content="storage",
        max_inline_file_bytes=None,
        event_types=EVENT_TYPES,
        max_retries=2,
        max_retry_wait=0.1,
        steps=[Step()],
    )
    return run_schedule(schedule, workdir=tmp_path_factory.mktemp("verifier"))


def _verify(outcome: Outcome, mutate: Callable[[list[TapRun], Path], None]) -> Verdict:
    runs = [copy.deepcopy(view.run) for view in outcome.views]
    assert outcome.storage is not None
    mutate(runs, outcome.storage)
    views = [
        RunView(run, view.live_attachments, view.expired_attachments)
        for run, view in zip(runs, outcome.views, strict=True)
    ]
    return verify_archive(
        outcome.truth,
        views,
        event_types=EVENT_TYPES,
        storage_dir=outcome.storage,
        bodies=outcome.bodies,
    )


def _all(runs: list[TapRun], stream: str) -> Iterator[dict[str, Any]]:
    for run in runs:
        yield from run.records.get(stream, [])


def test_the_untouched_archive_passes(archive: Outcome) -> None:
    assert archive.ok, archive.report()
    stats = archive.verdict.stats
    assert stats["messages"]
    assert stats["events"]
    assert stats["stored_objects_verified"]
    assert archive.truth["raw_lines"], "the schedule was meant to have lines that are not JSON"


def _drop_message(runs: list[TapRun], _: Path) -> None:
    victim = next(_all(runs, "messages"))["id"]
    for run in runs:
        run.records["messages"] = [r for r in run.records["messages"] if r["id"] != victim]


def _alter_event(runs: list[TapRun], _: Path) -> None:
    next(_all(runs, "events"))["event"]["action"] = "TAMPERED"


def _drop_unparsed(runs: list[TapRun], _: Path) -> None:
    for run in runs:
        run.records.pop("unparsed_lines", None)


def _truncate_object(_: list[TapRun], storage: Path) -> None:
    victim = next(p for p in sorted((storage / "sha256").rglob("*")) if p.is_file())
    victim.write_bytes(victim.read_bytes()[:10])


def _claim_expired(runs: list[TapRun], _: Path) -> None:
    truth_live = next(r for r in _all(runs, "files") if r["status"] == "archived")["id"]
    for record in _all(runs, "files"):
        if record["id"] == truth_live:
            record.update(status="expired", storage_uri=None)


def _misfile(runs: list[TapRun], _: Path) -> None:
    for run in runs:
        if run.records.get("messages"):
            record = run.records["messages"].pop()
            run.records["events"].append({"event_id": record["event_id"], "event": record["event"]})
            return


def _conflicting_key(runs: list[TapRun], _: Path) -> None:
    record = copy.deepcopy(next(_all(runs, "messages")))
    record["content_text"] = "a different text under the same key"
    runs[-1].records["messages"].append(record)


def _lose_log_file(runs: list[TapRun], _: Path) -> None:
    victim = next(_all(runs, "log_files"))["id"]
    for run in runs:
        run.records["log_files"] = [r for r in run.records["log_files"] if r["id"] != victim]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_drop_message, "messages LOST"),
        (_alter_event, "events LOST"),
        (_drop_unparsed, "not recoverable byte for byte"),
        (_truncate_object, "CORRUPT objects"),
        (_claim_expired, "live attachments LOST"),
        (_misfile, "wrong stream"),
        (_conflicting_key, "same key"),
        (_lose_log_file, "absent from log_files"),
    ],
)
def test_each_planted_loss_is_reported(
    archive: Outcome, mutate: Callable[[list[TapRun], Path], None], expected: str
) -> None:
    backup = {p: p.read_bytes() for p in archive.storage.rglob("*") if p.is_file()}  # type: ignore[union-attr]
    try:
        verdict = _verify(archive, mutate)
    finally:
        for path, data in backup.items():
            path.write_bytes(data)
    assert any(expected in failure for failure in verdict.failures), verdict.failures
