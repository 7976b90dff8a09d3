"""Attack round 18: the exceptions of round 17's rules, and an insider who edits the archive
and the state but not a seal under Object Lock.

What was found:

- a proven time given digits beyond the microsecond (``…T13:48:35.189937999+00:00`` for
  ``….189937+00:00``, ``log_files.end_time`` too, whose chain hashes the microsecond): verify,
  like the tap, keeps microseconds and said ``intact``; PostgreSQL rounds it to ``.189938``,
  readers of nanoseconds (pandas, Java's ``Instant``) keep it: another instant. Digits beyond
  the sixth must now be zeros (``.189937000`` is the same instant to every reader).
- a chained input of a REST row (``raw_item``, ``workspace_id``, ``chain_previous_key``) set to
  null in every row, while the state says the last run selected it: ``consistent, unproven``
  (taken for deselected: the rows cannot be hashed again, so their columns are proven by
  nothing), though the same column absent from every row was a finding (round 17) and the
  docs hold null and absent the same. The manifest's counts (``event_count``, ``scope``, …)
  and what a part says of itself (``offset``, ``sha256``, …), which verify accepts null in a
  row (an older tap's), nulled in every row: ``intact``. Null in every row of such a column is
  now "in no row": a finding with a state or seal that says it was selected, else the
  limitation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.support.tap import TapRun

from .test_attack_round15 import Sealed, sealed  # noqa: F401 (fixture)
from .test_attack_round15 import _verify as _verify_sealed
from .test_attack_round17 import TIMES, _lines, _records, _state, _verify
from .test_workspace_evidence import inline_run, sim  # noqa: F401 (fixtures)

# --------------------------------------------------------------------------- times


def test_a_time_given_digits_beyond_the_microsecond_is_failed(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Was ``intact``: verify's parser (Python's) drops the digits beyond the sixth."""
    for stream, column in TIMES:
        for digits in ("999", "5", "001"):
            records = _records(inline_run)
            row = next(r for r in records[stream] if r.get(column))
            whole, dot, fraction = row[column].removesuffix("+00:00").partition(".")
            row[column] = f"{whole}.{(fraction if dot else '000000') + digits}+00:00"
            report = _verify(records, tmp_path, _state(inline_run))
            assert report.status == "FAILED", (stream, column, row[column], report.text())
            assert any(f"column {column}" in line for line in _lines(report)), _lines(report)


def test_the_same_instant_with_zeros_beyond_the_microsecond_or_minus_zero_is_no_finding(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``.189937000`` (a writer of nanoseconds), ``-00:00`` (RFC 3339's UTC of unknown local
    offset), a lower-case ``t``/``z``: every reader places each at the same instant."""
    records = _records(inline_run)
    forms = (
        lambda v: v.replace("+00:00", "000+00:00"),
        lambda v: v.replace("+00:00", "-00:00"),
        lambda v: v.replace("T", "t").replace("+00:00", "z"),
    )
    for index, (stream, column) in enumerate(TIMES):
        for row in records[stream]:
            if row.get(column):
                row[column] = forms[index % len(forms)](row[column])
    report = _verify(records, tmp_path, _state(inline_run))
    assert report.status == "intact", report.text()


# --------------------------------------------------------------------------- chained inputs nulled

NULLED = (
    ("users", "raw_item"),
    ("users", "workspace_id"),
    ("users", "chain_previous_key"),
    ("canvases", "raw_item"),
    ("gpt_files", "chain_previous_key"),
    ("log_files", "event_count"),
    ("log_files", "duplicates_dropped"),
    ("log_files", "foreign_events"),
    ("log_files", "scope"),
    ("log_file_parts", "sha256"),
    ("log_file_parts", "event_type"),
    ("gpt_files_parts", "offset"),
    ("library_file_contents_parts", "workspace_id"),
)
"""Columns the tap writes a value of in every row, that verify accepts null in a row (an older
tap's) instead of deriving it: null in every row was ``consistent, unproven`` (the chained
inputs) or ``intact`` (the counts, what a part says of itself)."""


def _nulled(run: TapRun, stream: str, column: str) -> dict[str, list[dict[str, Any]]]:
    """The run's records with ``column`` null in every row of ``stream`` and a row edited."""
    records = _records(run)
    for row in records[stream]:
        row[column] = None
    if stream == "users":
        records[stream][-1]["email"] = "mallory@example.com"
    return records


def test_a_chained_input_nulled_in_every_row_is_failed_with_the_state(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Was ``consistent, unproven`` or ``intact``, while the state says it was selected."""
    for stream, column in NULLED:
        report = _verify(_nulled(inline_run, stream, column), tmp_path, _state(inline_run))
        assert report.status == "FAILED", (stream, column, report.text())
        assert any(f"{stream} column {column}" in line for line in _lines(report)), (
            stream,
            column,
            _lines(report),
        )


def test_a_chained_input_nulled_in_every_row_with_an_old_state_keeps_the_limitation(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A state of a tap version before ``selected_columns``: never intact, the rows named."""
    state = _state(inline_run)
    del state["bookmarks"]["log_files"]["selected_columns"]
    report = _verify(_nulled(inline_run, "users", "raw_item"), tmp_path, state)
    assert not report.findings, report.text()
    assert report.status == "consistent", report.text()
    assert "users.raw_item" in report.not_archived, report.text()
    assert len(report.unproven_rows) == len(inline_run.records["users"]), report.unproven_rows


def test_a_chained_input_nulled_in_every_row_is_a_seal_finding(
    sealed: Sealed,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The seals (under Object Lock) name the columns each run selected: the insider who
    also rewrites the state (drops its selection) is still found."""
    records = sealed.records()
    for row in records["users"]:
        row["raw_item"] = None
    old = copy.deepcopy(sealed.second.state)
    old["bookmarks"]["log_files"].pop("selected_columns")
    report = _verify_sealed(records, tmp_path, sealed, state=old)
    assert report.status == "FAILED", report.text()
    assert any(
        f.check == "seal" and "column users.raw_item is in no row" in f.detail
        for f in report.findings
    ), report.text()
