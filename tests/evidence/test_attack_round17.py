"""Attack round 17: what the state proves of the selection, rows named for export, and an
insider who edits the archive and the state but not a seal under Object Lock.

What was found:

- with ``--state`` alone a column deleted from every row of a stream (``users.email``,
  ``messages.content_text``, a stored file's ``status``…) looked deselected in the catalog: a
  limitation, and ``intact`` when the column is not one the export renders from. The tap's
  STATE now names the columns selected by the last run that wrote records of each stream
  (``bookmarks.log_files.selected_columns``): such a column in no row is a ``column`` finding,
  and a stream the state says was written with no row left is a ``missing`` finding. A state
  of an earlier tap version (without the entry) keeps the limitation.
- a REST row with its ``raw_item`` nulled while other rows hold it was counted as
  "deselected" (``consistent, unproven``) but not named: export showed its columns, edited,
  without the NOT PROVEN mark. Such rows are now named (``Report.unproven_rows``).
- a proven time rewritten without its offset (``…T10:49:22.189937`` for ``…+00:00``), as Unix
  seconds, with spaces around it or in ISO 8601 basic format: verify's parser took each for
  the same UTC instant (``intact``); most readers take a time without offset for local time.
  Now a ``column`` finding; ``Z``, another offset or a space for ``T`` is still none.
- S3: rows forged under ``acme/./messages/`` were skipped in silence (``intact``): a reader
  that resolves the segment (``aws s3 sync`` to a disk) finds them in ``messages/``. A key
  with a ``.`` or ``..`` segment is now a ``read`` finding, like an empty segment.

Held (probed, no change): a whole stored-file stream deleted with its parts (the state's
chain head of the stream), an empty archive or half of every stream with an old state (the
anchored heads), an event's or ``raw_item``'s JSON re-serialised with a time in another form
or escapes (the event compared as JSON values, ``raw_item`` as the chained text), NFD text and
a homoglyph in an e-mail (compared with the raw line or item), ``messages.event`` kept as
JSON text with other key order and whitespace (the same value: no finding, as documented),
and copies of a row that differ only in ``_sdc_*`` columns (at-least-once delivery, as
documented).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import Report, anchor_from_state, verify
from tests.support.tap import TapRun

from .conftest import write_jsonl
from .test_attack_stores9 import _body
from .test_attack_stores9 import s3 as s3  # the module's fixture
from .test_workspace_evidence import (  # noqa: F401 (fixtures)
    FILE_STREAMS,
    inline_run,
    sim,
)

Records = dict[str, list[dict[str, Any]]]


def _records(run: TapRun) -> Records:
    return copy.deepcopy(dict(run.records))


def _state(run: TapRun) -> dict[str, Any]:
    assert run.state is not None
    return copy.deepcopy(run.state)


def _verify(records: Records, tmp: Path, state: dict[str, Any] | None) -> Report:
    folder = tmp / f"archive-{len(list(tmp.iterdir()))}"
    write_jsonl(json.loads(json.dumps(records)), folder)
    anchor = None if state is None else anchor_from_state(state, "state")
    return verify(sources.from_jsonl(folder), anchor)


def _lines(report: Report) -> list[str]:
    return [finding.line() for finding in report.findings]


# --------------------------------------------------------------------------- the state's selection


def test_the_state_names_each_written_streams_selected_columns(
    inline_run: TapRun,  # noqa: F811
) -> None:
    """Every stream the run wrote is named with the keys its records hold (a column copied
    from a REST item may be in none: ``users.display_name``); the entry is small."""
    selected = _state(inline_run)["bookmarks"]["log_files"]["selected_columns"]
    written = {stream for stream, rows in inline_run.records.items() if rows}
    assert set(selected) == written, (sorted(selected), sorted(written))
    for stream in written:
        keys = set().union(*(row.keys() for row in inline_run.records[stream]))
        assert set(selected[stream]) >= keys, stream
    assert len(json.dumps(selected)) < 8_000


def test_the_honest_archive_with_its_state_is_intact(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    report = _verify(_records(inline_run), tmp_path, _state(inline_run))
    assert report.status == "intact", report.text()


DELETED = (
    ("users", "email"),
    ("messages", "content_text"),
    ("conversations", "title"),
    ("memories", "entry_count"),
    ("gpt_files", "status_reason"),
    ("gpt_files", "archived_at"),
    ("memory_entries", "memory_context_id"),
    ("log_files", "processed_at"),
    ("users", "chain_seq"),
    ("users", "raw_item"),
    ("canvases", "user_id"),
)
"""Columns whose deletion from every row was a limitation (deselected?) or not seen at all."""


def test_a_column_deleted_from_every_row_with_the_state_alone_is_failed(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Was ``intact`` (a limitation: "deselected in the catalog?")."""
    for stream, column in DELETED:
        records = _records(inline_run)
        assert records[stream], stream
        for row in records[stream]:
            row.pop(column, None)
        report = _verify(records, tmp_path, _state(inline_run))
        assert report.status == "FAILED", (stream, column, report.text())
        assert any(f"{stream} column {column}" in line for line in _lines(report)), _lines(report)


def test_an_old_state_without_the_selection_keeps_the_limitation(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A state of a tap version before ``selected_columns``: deselection cannot be told apart."""
    state = _state(inline_run)
    del state["bookmarks"]["log_files"]["selected_columns"]
    records = _records(inline_run)
    for row in records["users"]:
        del row["email"]
    report = _verify(records, tmp_path, state)
    assert not report.findings, report.text()
    assert "users.email" in report.not_archived, report.text()


def test_a_stored_file_stream_deleted_with_its_parts_is_failed(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """gpt_files/project_files/library_file_contents removed whole, with their parts."""
    for stream in FILE_STREAMS:
        records = _records(inline_run)
        assert records[stream], stream
        del records[stream]
        records.pop(f"{stream}_parts", None)
        report = _verify(records, tmp_path, _state(inline_run))
        assert report.status == "FAILED", (stream, report.text())
        assert any(stream in line for line in _lines(report)), _lines(report)


def test_a_whole_stream_deleted_is_failed(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Every stream the run wrote, removed whole (its folder or table gone)."""
    for stream in sorted(s for s, rows in inline_run.records.items() if rows and s != "log_files"):
        records = _records(inline_run)
        del records[stream]
        report = _verify(records, tmp_path, _state(inline_run))
        assert report.status == "FAILED", (stream, report.text())


# --------------------------------------------------------------------------- a chained input nulled


def test_a_row_with_its_raw_item_nulled_is_named_for_export(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """One users row (and one canvas row) with raw_item nulled and a shown column edited,
    while the other rows hold raw_item: was "deselected" (consistent, unproven) with the row
    named nowhere, so export showed the edit unmarked. The row is named now."""
    for stream, column in (("users", "email"), ("canvases", "title")):
        records = _records(inline_run)
        row = records[stream][-1]
        row["raw_item"] = None
        row[column] = "edited"
        report = _verify(records, tmp_path, _state(inline_run))
        assert report.status != "intact", report.text()
        named = {item for _, item in report.unproven_rows} | {f.item for f in report.findings}
        assert any(str(row["id"]) in item and item.startswith(stream) for item in named), (
            stream,
            named,
            report.text(),
        )


# --------------------------------------------------------------------------- times in other forms

TIMES = (
    ("messages", "created_at"),
    ("messages", "event_timestamp"),
    ("conversations", "created_at"),
    ("users", "created_at"),
    ("canvas_versions", "updated_at"),
    ("conversations", "title_seen_at"),
    ("library_files", "trashed_at"),
    ("log_files", "end_time"),
)


def _forms(value: str) -> dict[str, Any]:
    """The same instant (to verify's parser) in forms readers take for another, or none."""
    utc = value.replace("Z", "+00:00")
    return {
        "no offset": utc.removesuffix("+00:00"),
        "spaces": f" {utc} ",
        "unix seconds": datetime.fromisoformat(utc).timestamp(),
        "basic format": utc.replace("-", "").replace(":", "").replace("+0000", "+00:00"),
    }


def test_a_time_rewritten_without_its_offset_is_failed(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``2026-…T10:49:22.189937`` for ``…+00:00``: verify's parser took it for UTC (intact);
    a reader takes it for local time (JavaScript's Date, pandas, a timestamptz column in
    another session time zone): hours off. Unix seconds, spaces, ISO basic format alike."""
    for stream, column in TIMES:
        original = next(r[column] for r in inline_run.records[stream] if r.get(column))
        for form, value in _forms(original).items():
            records = _records(inline_run)
            row = next(r for r in records[stream] if r.get(column))
            row[column] = value
            report = _verify(records, tmp_path, _state(inline_run))
            assert report.status == "FAILED", (stream, column, form, report.text())
            assert any(f"column {column}" in line for line in _lines(report)), _lines(report)


def test_the_same_instant_in_another_rfc3339_form_is_no_finding(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``Z``, ``z``, a space for ``T``, another offset: every reader places it at the same
    instant (a target may write times so): no finding, no false FAILED."""
    records = _records(inline_run)
    for stream, column in TIMES:
        for row in records[stream]:
            if row.get(column):
                when = datetime.fromisoformat(row[column].replace("Z", "+00:00"))
                row[column] = when.astimezone(timezone(timedelta(hours=-5))).isoformat(" ")
        row = next(r for r in records[stream] if r.get(column))
        row[column] = row[column].replace(" ", "t")
    report = _verify(records, tmp_path, _state(inline_run))
    assert report.status == "intact", report.text()


# --------------------------------------------------------------------------- S3 keys


def test_s3_keys_with_a_dot_segment_are_findings(s3: Any) -> None:
    """A message with its text edited put under ``acme/./messages/``: verify skipped the
    object (its first segment ``.`` is no stream: intact), while a reader that resolves the
    segments (``aws s3 sync`` to a disk, a URL client) finds it in ``messages/``. Under
    ``messages/./`` or ``events/../messages/`` verify read it where the key says, readers
    that resolve it elsewhere. Like an empty segment: a ``read`` finding, not read."""
    edited = {**s3.rows["messages"][0], "content_text": "I agreed."}
    for key in (
        "acme/./messages/messages-2.jsonl",
        "acme/messages/./messages-2.jsonl",
        "acme/events/../messages/messages-2.jsonl",
    ):
        s3.put(key, _body([edited]))
        listed = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix="acme/")["Contents"]
        assert key in {o["Key"] for o in listed}, "the store resolved the key"
        lines = _lines(s3.run())
        assert any(line.startswith(f"read: s3://{s3.bucket}/{key}") for line in lines), lines
        s3.client.delete_object(Bucket=s3.bucket, Key=key)


def test_an_empty_archive_or_every_stream_cut_short_with_an_old_state_is_failed(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Held: every stream emptied (its files kept), or cut after its first row (a truncation
    at every stream's boundary), verified with the run's state."""
    for keep in (0, 1):
        records = {stream: rows[:keep] for stream, rows in _records(inline_run).items()}
        report = _verify(records, tmp_path, _state(inline_run))
        assert report.status == "FAILED", (keep, report.text())
