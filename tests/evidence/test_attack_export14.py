"""Attack round 14 on export: who a production is of, when, and whether it can be edited unseen.

Small synthetic archives (messages rows built by the tap's own ``message_record`` from delivered
events), exported in-process. An opposing expert types the custodian's email as the archive
spells it (non-ASCII capitals, decomposed accents), finds a delivered time before the year 1000,
and edits a production after it was handed over.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.directory_rows import derive_row as derive_directory_row
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export import Exporter, SelectionError
from tap_chatgpt_compliance.logfiles.records import message_record

from .test_export_hazards import AT, WORKSPACE, _archive, _event, _page

ELODIE = "Élodie.Brûlé@example.com"
"""An address with non-ASCII capitals, as a delivered event spells it."""


def _export(archive: sources.Archive, out: Path, custodian: str, **options: Any) -> Exporter:
    with Exporter(archive) as exporter:
        exporter.export(out, custodian=custodian, **options)
    return exporter


def _messages_csv(out: Path) -> list[dict[str, str]]:
    text = (out / "production_messages.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


# --- who: a custodian's email as typed ------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        ELODIE,  # exactly as delivered
        ELODIE.lower(),  # lower-cased, capitals beyond ASCII included
        ELODIE.upper(),
        unicodedata.normalize("NFD", ELODIE),  # decomposed accents (macOS input)
        f"  {ELODIE} ",
    ],
)
def test_an_email_with_non_ascii_capitals_finds_its_custodian(typed: str, tmp_path: Path) -> None:
    """The docs say a custodian's email is matched case-insensitively. Found: SQLite's
    ``lower()`` folds ASCII only, the typed text was folded by Python: the exact address a
    delivered event carries (``Élodie.Brûlé@…``) was "no such user id or email in the
    archive", and so was its decomposed form. Now both sides are folded alike (NFC, then
    lower case): every spelling finds the user, and the email is the delivered one (no "users
    listing" note)."""
    events = [_event("c1", "t", "m1", "hello", AT.format(1), user="user-E", user_email=ELODIE)]
    out = tmp_path / "out"
    exporter = _export(_archive(events), out, typed)
    assert exporter.custodian_note is None
    assert [r["message_id"] for r in _messages_csv(out)] == ["m1"]
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    assert "user-E" in manifest["custodian"]
    assert "not proven" not in manifest["custodian"]


def test_an_email_of_two_accounts_differing_by_a_non_ascii_capital_is_refused(
    tmp_path: Path,
) -> None:
    """Two accounts whose addresses differ only by case (``Élodie…`` and ``élodie…``) are one
    address: as for ASCII (``Dana@`` and ``dana@``: refused, give the user id), the export must
    not pick one and leave the other's conversations out. Found: ``élodie…`` produced the
    second account alone, a custodian halved without a word."""
    events = [
        _event("c1", "t", "m1", "one", AT.format(1), user="user-A", user_email=ELODIE),
        _event("c2", "t", "m2", "two", AT.format(2), user="user-B", user_email=ELODIE.lower()),
    ]
    out = tmp_path / "out"
    with pytest.raises(SelectionError, match=r"names 2 users \(user-A, user-B\)"):
        _export(_archive(events), out, ELODIE.lower())
    assert not out.exists() or not any(out.iterdir())


def test_a_confusable_email_never_finds_another_user(tmp_path: Path) -> None:
    """A Cyrillic a (U+0430) in ``d?na@…`` is another address: folding case and normalization
    must not make it Dana's (it never did; kept so the fix above cannot widen into it)."""
    events = [_event("c1", "t", "m1", "x", AT.format(1), user="user-D")]
    with pytest.raises(SelectionError, match="no such user id or email"):
        _export(_archive(events), tmp_path / "out", "d\u0430na@example.com")


def test_a_user_id_typed_in_another_case_is_never_said_found_by_a_listing_email(
    tmp_path: Path,
) -> None:
    """``--custodian USER-d`` finds ``user-D`` (ids are matched case-insensitively too), by the
    actor id its delivered events carry. Found: every page's Custodian then read "found by the
    email USER-d of the users listing …, not proven": an id called an email, and a proven
    match called unproven. Now the note is only for a match by the listing's email alone."""
    events = [_event("c1", "t", "m1", "x", AT.format(1), user="user-D")]
    out = tmp_path / "out"
    exporter = _export(_archive(events), out, "USER-d")
    assert exporter.custodian_note is None
    page = " ".join(_page(out / "index.html").parts)
    assert "found by the email" not in page


def test_a_gpt_owned_by_the_custodian_s_email_with_non_ascii_capitals_is_produced(
    tmp_path: Path,
) -> None:
    """A GPT whose served ``owner_email`` is the custodian's, spelled with other capitals
    (``élodie…`` for ``Élodie…``), and whose ``owner_id`` is not set: produced by email as
    docs/evidence.md says. Found: ``lower()`` in SQLite left ``É``, the GPT was left out."""
    events = [_event("c1", "t", "m1", "x", AT.format(1), user="user-E", user_email=ELODIE)]
    item = {
        "id": "g-1",
        "owner_id": None,
        "owner_email": ELODIE.lower(),
        "name": "Helper",
        "latest_config": [{"id": "cfg-1", "name": "Helper", "created_at": AT.format(0)}],
    }
    archive = _archive(events, gpts=[derive_directory_row("gpts", item, WORKSPACE)])
    out = tmp_path / "out"
    _export(archive, out, "user-E")
    assert [p.name for p in (out / "html" / "gpts").glob("*.html")] == ["g-1.html"]


# --- when: a delivered time before the year 1000 --------------------------------------------


def _old_and_new() -> sources.Archive:
    events = [
        _event("c1", "t", "m-old", "old", "0999-12-31T23:00:00Z", user="user-D"),
        _event("c1", "t", "m-new", "new", "2026-11-26T10:00:00Z", user="user-D"),
    ]
    return _archive(events)


def test_a_time_before_the_year_1000_sorts_as_a_time(tmp_path: Path) -> None:
    """A delivered ``created_at`` of ``0999-12-31T23:00:00Z`` (a clock reset, a forged line: the
    production must still be exact). Found: the index's sort key was ``strftime`` with ``%Y``,
    which writes ``999``: the text ``999-…`` sorted after ``2026-…``, so ``--since
    2026-11-01`` selected the message from 999, and rendering it then failed an assertion
    (its key no longer parsed as a time): no production. Now the year has four digits: the
    old message is outside the range, and without a range it is produced first, dated 0999."""
    out = tmp_path / "ranged"
    since = datetime(2026, 11, 1, tzinfo=timezone.utc)
    _export(_old_and_new(), out, "user-D", since=since)
    assert [r["message_id"] for r in _messages_csv(out)] == ["m-new"]

    whole = tmp_path / "whole"
    _export(_old_and_new(), whole, "user-D")
    rows = _messages_csv(whole)
    assert [r["message_id"] for r in rows] == ["m-old", "m-new"]
    assert rows[0]["timestamp"].startswith("0999-12-31T23:00:00")
    manifest = json.loads((whole / "production_manifest.json").read_text(encoding="utf-8"))
    assert manifest["conversations"]["c1"]["first"].startswith("0999-12-31T23:00:00")


# --- the production itself: every file hashed, the manifest's own digest given -----------------


def _two_conversations() -> sources.Archive:
    events = [
        _event("c1", "t1", "m1", "one", AT.format(1), user="user-D"),
        _event("c2", "t2", "m2", "two", AT.format(2), user="user-D"),
    ]
    rows = [message_record(e, WORKSPACE, "eclf_1") for e in events]
    rows.append(dict(rows[0]))  # delivered at least once: the same line twice
    return sources.Archive(
        "synthetic",
        tables={"messages": rows, "log_files": [{"id": "eclf_1", "workspace_id": WORKSPACE}]},
    )


def test_every_file_of_a_production_is_hashed_and_the_manifest_s_digest_is_printed(
    tmp_path: Path,
) -> None:
    """A reviewer detects an edit after production by the manifest's hashes: every file in the
    folder is listed with its true SHA-256, MD5 and size, each message once (a line delivered
    twice included). The manifests cannot list themselves, so an edit of a file *and* of its
    manifest entry went unseen. Found: nothing gave the manifests' own digests. Now the summary
    (kept by whoever ran the export, apart from the production) prints the SHA-256 of
    ``production_manifest.json`` and ``.csv``, and the production records them for the
    summary's reader (``Production.manifest_digests``)."""
    out = tmp_path / "out"
    with Exporter(_two_conversations()) as exporter:
        production = exporter.export(out, custodian="user-D")
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk - set(listed) == {"production_manifest.json", "production_manifest.csv"}
    for path, entry in listed.items():
        data = (out / path).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert entry["md5"] == hashlib.md5(data).hexdigest(), path
        assert entry["bytes"] == len(data), path
    assert [r["message_id"] for r in _messages_csv(out)] == ["m1", "m2"]
    assert manifest["message_count"] == 2

    digests = {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest()
        for name in ("production_manifest.json", "production_manifest.csv")
    }
    assert production.manifest_digests == digests
    summary = "\n".join(production.summary_lines(0.0))
    for name, digest in digests.items():
        assert f"{name} SHA-256 {digest}" in summary


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--since", "0001-01-01+05:00"), ("--until", "9999-12-31"), ("--until", "9999-12-31+00:00")],
)
def test_a_bound_outside_the_calendar_in_utc_is_one_line_naming_it(flag: str, value: str) -> None:
    """`--since 0001-01-01+05:00` (its UTC instant is before year 1) and `--until 9999-12-31`
    (the day after it) raised OverflowError: "could not complete (OverflowError: date value
    out of range)". Now a selection error naming the flag."""
    from tap_chatgpt_compliance.evidence.export import SelectionError, parse_bound

    with pytest.raises(SelectionError, match=re.escape(f"{flag} '{value}' is outside the years")):
        parse_bound(value, end=flag == "--until")
