"""Export hazards (issue #16): each production hazard measured on the old export, one test each.

Small synthetic archives (messages rows built by the tap's own ``message_record`` from delivered
events) drive the rendering directly; the refusal and raw-rendering tests use a real tap run.
"""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import zipfile
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tap_chatgpt_compliance.evidence import dat, sources
from tap_chatgpt_compliance.evidence.export import Exporter, SelectionError, Stamp
from tap_chatgpt_compliance.evidence.export_text import CSV_TRIGGERS, csv_cell, file_stem, one_line
from tap_chatgpt_compliance.logfiles.records import message_record

SCHEMA = Path(__file__).with_name("rsmf") / "rsmf_schema_2_0_0.json"
WORKSPACE = "ws-3f6c2a1e"


def _event(
    conversation: str,
    title: str,
    message_id: str,
    text: str | None,
    at: str,
    *,
    author: str = "user",
    user: str = "user-Dana",
    user_email: str = "dana@example.com",
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": message_id,
        "created_at": at,
        "author": {"type": author},
        "content": {"type": "text", "value": text},
    }
    if files is not None:
        message["files"] = files
    return {
        "event_id": f"ev-{message_id}",
        "type": "CONVERSATION_MESSAGE",
        "timestamp": at,
        "principal": {"id": WORKSPACE, "type": "CHATGPT_WORKSPACE"},
        "actor": {"type": "ACCOUNT_USER", "user_id": user, "user_email": user_email},
        "message": message,
        "conversation": {"id": conversation, "title": title},
    }


def _archive(events: list[dict[str, Any]], **tables: list[dict[str, Any]]) -> sources.Archive:
    rows = [message_record(e, WORKSPACE, "eclf_1") for e in events]
    return sources.Archive(
        "synthetic",
        tables={
            "messages": rows,
            "log_files": [{"id": "eclf_1", "workspace_id": WORKSPACE}],
            **tables,
        },
    )


def _export(archive: sources.Archive, out: Path, **options: Any) -> Exporter:
    exporter = Exporter(archive)
    custodian = options.pop("custodian", "dana@example.com")
    exporter.export(out, custodian=custodian, **options)
    return exporter


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.in_title = False
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self.in_title = False

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self.in_title:
            self.title += data


def _page(path: Path) -> _Text:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _rsmf(path: Path) -> tuple[email.message.EmailMessage, zipfile.ZipFile, dict[str, Any]]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    (attachment,) = [a for a in message.iter_attachments() if a.get_filename() == "rsmf.zip"]
    archive = zipfile.ZipFile(io.BytesIO(attachment.get_content()))
    return message, archive, json.loads(archive.read("rsmf_manifest.json"))


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


AT = "2026-11-26T10:00:0{}.000000Z"


def test_csv_cells_are_neutralised(tmp_path: Path) -> None:
    """Ids and titles starting with = + - @ (or tab, CR) are not formulas in any CSV cell."""
    hostile = ['=HYPERLINK("http://x.invalid")', "+SUM(1)", "-2+3", "@A1", "\tx", "\rx"]
    events = [
        _event(conversation, f"=cmd|' /C calc'!A{n}", f"{conversation}-m", "hi", AT.format(n))
        for n, conversation in enumerate(hostile)
    ]
    out = tmp_path / "out"
    _export(_archive(events), out)
    cells = [
        cell
        for name in ("production_manifest.csv", "production_messages.csv")
        for row in _csv(out / name)[1:]
        for cell in row
    ]
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert any(c.startswith("'=cmd") for c in cells)  # the title column
    bad = [c for c in cells if c.startswith(CSV_TRIGGERS)]
    assert not bad, bad
    assert csv_cell("=1") == "'=1"
    assert csv_cell("-") == "'-"
    assert csv_cell("a=1") == "a=1"


def test_colliding_names_are_all_produced(tmp_path: Path) -> None:
    """case/1 and case_1 (same once sanitised), Case_1 (same on a case-insensitive disk)."""
    ids = ["case/1", "case_1", "Case_1", "case:1", "con", "CON.txt", "..", "a" * 300]
    events = [
        _event(conversation, f"title {n}", f"m-{n}", f"text of {conversation}", AT.format(n))
        for n, conversation in enumerate(ids)
    ]
    out = tmp_path / "out"
    _export(_archive(events), out)
    manifest = json.loads((out / "production_manifest.json").read_text())
    pages = [f["path"] for f in manifest["files"] if f["kind"] == "html"]
    rsmf = [f["path"] for f in manifest["files"] if f["kind"] == "rsmf"]
    assert len(pages) == len(rsmf) == len(ids)
    assert len({p.casefold() for p in pages + rsmf}) == 2 * len(ids)
    assert set(manifest["conversations"]) == set(ids)
    assert manifest["message_count"] == len(ids)
    for conversation in ids:  # each page holds its own conversation's text
        text = "".join(_page(out / "html" / f"{file_stem(conversation)}.html").parts)
        assert f"text of {conversation}" in text
    assert len(list((out / "html").glob("*.html"))) == len(ids)


def test_crlf_in_titles_is_safe_everywhere(tmp_path: Path) -> None:
    """A title with CR/LF cannot add a header, split a CSV row, a DAT line or a file name."""
    title = "Q3 plan\r\nBcc: attacker@example.invalid\r\n\r\nInjected body"
    events = [_event("conv-crlf", title, "m-1", "hello", AT.format(1))]
    out = tmp_path / "out"
    _export(_archive(events), out, load_file=True)
    (path,) = out.glob("rsmf/*.rsmf")
    message, _, manifest = _rsmf(path)
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    assert "\r" not in message["Subject"]
    assert "Q3 plan\\r\\nBcc: attacker" in message["Subject"]
    assert manifest["conversations"][0]["display"] == one_line(title)
    page = _page(out / "html" / "conv-crlf.html")
    assert page.title == one_line(title)
    rows = _csv(out / "production_manifest.csv")
    assert all(len(r) == len(rows[0]) for r in rows)
    assert not any("\n" in c or "\r" in c for r in rows for c in r)
    loaded = dat.parse((out / "production.dat").read_bytes().decode("utf-8"))
    assert loaded[0]["SUBJECT"] == one_line(title)
    assert all("\n" not in p.name for p in out.rglob("*"))


def test_bidi_controls_are_shown_escaped(tmp_path: Path) -> None:
    """U+202E (and the other embedding/isolate controls) cannot reorder what a reviewer reads."""
    title = "invoice \u202eexe.pdf"
    body = "pay to \u2067account\u2069 \u202atoday\u202c"
    events = [_event("conv-bidi", title, "m-1", body, AT.format(1))]
    out = tmp_path / "out"
    _export(_archive(events), out)
    html_text = (out / "html" / "conv-bidi.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    for text in (html_text, index):
        for control in ("\u202a", "\u202c", "\u202e", "\u2067", "\u2069"):
            assert control not in text
    assert "invoice \\u202eexe.pdf" in html_text
    assert "\\u2067account\\u2069" in html_text
    (path,) = out.glob("rsmf/*.rsmf")
    message, _, manifest = _rsmf(path)
    assert "\u202e" not in message["Subject"]
    assert manifest["events"][0]["body"] == body  # the evidence itself is exact


def test_empty_tool_output_is_named(tmp_path: Path) -> None:
    events = [
        _event("conv-tool", "t", "m-1", "run it", AT.format(1)),
        _event("conv-tool", "t", "m-2", None, AT.format(2), author="tool"),
        _event("conv-tool", "t", "m-3", "", AT.format(3), author="tool"),
    ]
    out = tmp_path / "out"
    _export(_archive(events), out)
    page = (out / "html" / "conv-tool.html").read_text(encoding="utf-8")
    assert page.count("(empty tool output)") == 2
    (path,) = out.glob("rsmf/*.rsmf")
    bodies = [e["body"] for e in _rsmf(path)[2]["events"]]
    assert bodies == ["run it", "(empty tool output)", "(empty tool output)"]


def test_expired_attachment_shows_status_and_no_hash(tmp_path: Path) -> None:
    content = b"the archived bytes"
    sha = hashlib.sha256(content).hexdigest()
    files = [{"id": "file-Kept", "name": "kept.txt"}, {"id": "file-Gone", "name": "gone.pdf"}]
    events = [_event("conv-att", "t", "m-1", "see attached", AT.format(1), files=files)]
    records = [
        {
            "id": "file-Kept",
            "status": "archived",
            "sha256": sha,
            "size": len(content),
            "content_base64": __import__("base64").b64encode(content).decode(),
        },
        {
            "id": "file-Gone",
            "status": "expired",
            "status_reason": "HTTP 410: expired",
            "sha256": "ab" * 32,  # what the record says; no bytes prove it
        },
    ]
    out = tmp_path / "out"
    _export(_archive(events, files=records), out)
    page = (out / "html" / "conv-att.html").read_text(encoding="utf-8")
    items = [i for i in page.split("<li>") if "gone.pdf" in i]
    assert len(items) == 1
    assert "expired" in items[0]
    assert "sha256" not in items[0]
    placeholder = next((out / "html" / "attachments").glob("*NOT-ARCHIVED.txt")).read_bytes()
    assert hashlib.sha256(placeholder).hexdigest() not in page
    assert "ab" * 32 not in page
    assert f"sha256 {sha}" in page  # the archived one keeps its verified hash
    (path,) = out.glob("rsmf/*.rsmf")
    custom = _rsmf(path)[2]["events"][0]["custom"]
    assert not [c for c in custom if c["name"].startswith("sha256 gone.pdf")]
    assert {
        "name": "status gone.pdf (not archived: expired)",  # no unproven status_reason
        "value": "expired",
    } in custom


def test_pages_carry_custodian_workspace_range_time_verdict_and_numbers(tmp_path: Path) -> None:
    events = [
        _event("conv-a", "Alpha", "m-1", "one", AT.format(1)),
        _event("conv-a", "Alpha", "m-2", "two", AT.format(2), author="assistant"),
        _event("conv-b", "Beta", "m-3", "three", AT.format(3)),
    ]
    users = [
        {
            "id": "user-Dana",
            "raw_item": json.dumps(
                {"id": "user-Dana", "name": "Dana Ito", "email": "dana@example.com"}
            ),
        }
    ]
    out = tmp_path / "out"
    _export(
        _archive(events, users=users),
        out,
        prefix="ACME-",
        export_time=__import__("datetime").datetime(
            2026, 12, 1, 9, 30, tzinfo=__import__("datetime").timezone.utc
        ),
        stamp=Stamp("VERDICT: intact — test"),
    )
    numbers = []
    for page in [*sorted((out / "html").glob("*.html")), out / "index.html"]:
        text = "".join(_page(page).parts)
        assert "Dana Ito <dana@example.com> (user-Dana)" in text, page
        assert WORKSPACE in text
        assert "2026-12-01T09:30:00Z (UTC)" in text
        assert "VERDICT: intact — test" in text
        assert "2026-11-26T10:00:0" in text  # the date range
        numbers += [n for n in text.split() if n.startswith("ACME-0")]
    rows = _csv(out / "production_messages.csv")
    assert [r[0] for r in rows[1:]] == ["ACME-000001", "ACME-000002", "ACME-000003"]
    assert {"ACME-000001", "ACME-000002", "ACME-000003"} <= set(numbers)
    manifest = {r[0]: r for r in _csv(out / "production_manifest.csv")[1:]}
    columns = _csv(out / "production_manifest.csv")[0]
    page_a = manifest["html/conv-a.html"]
    assert page_a[columns.index("first_production_number")] == "ACME-000001"
    assert page_a[columns.index("last_production_number")] == "ACME-000002"
    for path in out.glob("rsmf/*.rsmf"):
        message, _, manifest_json = _rsmf(path)
        assert message["X-Verify-Verdict"] == "VERDICT: intact — test"
        for event in manifest_json["events"]:
            assert any(
                c["name"] == "production_number" and c["value"].startswith("ACME-")
                for c in event["custom"]
            )


def test_unverified_api_export_never_reads_intact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _export(_archive([_event("c", "t", "m-1", "x", AT.format(1))]), out)
    text = "".join(_page(out / "index.html").parts)
    assert "not verified" in text
    assert "intact" not in text


def test_rsmf_with_stamp_and_dat_load_file(tmp_path: Path) -> None:
    """Stamped RSMF still validates; the DAT load file parses and points at each RSMF file."""
    events = [
        _event(
            "conv-a", "Alpha þ ¶", f"m-{n}", f"text {n}", f"2026-11-2{5 + n % 2}T10:00:0{n}.000000Z"
        )
        for n in range(4)
    ]
    out = tmp_path / "out"
    _export(
        _archive(events),
        out,
        prefix="X-",
        load_file=True,
        stamp=Stamp("VERDICT: FAILED — 1 findings", ["event: messages event e1: altered"]),
    )
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    rsmf = sorted(out.glob("rsmf/*.rsmf"))
    assert len(rsmf) == 2  # two days
    for path in rsmf:
        _, _, manifest = _rsmf(path)
        assert not sorted(str(e.message) for e in validator.iter_errors(manifest))
        assert manifest["events"][0]["type"] == "disclaimer"
        assert "event: messages event e1: altered" in manifest["events"][0]["body"]
    raw = (out / "production.dat").read_bytes()
    assert raw.startswith("\ufeff".encode())
    loaded = dat.parse(raw.decode("utf-8"))
    assert list(loaded[0]) == list(dat.FIELDS)
    assert len(loaded) == 2
    assert [(r["BEGDOC"], r["ENDDOC"]) for r in loaded] == [
        ("X-000001", "X-000002"),
        ("X-000003", "X-000004"),
    ]
    for row in loaded:
        native = out / row["NATIVEPATH"]
        data = native.read_bytes()
        assert row["SHA256HASH"] == hashlib.sha256(data).hexdigest()
        assert row["MD5HASH"] == hashlib.md5(data).hexdigest()
        # ¶ (U+00B6): some loaders split there; the finding names nothing of the archive, so
        # it concerns every message, the one that gave the title too.
        assert row["SUBJECT"] == "Alpha \\u00fe \\u00b6 (NOT PROVEN: named in the verify report)"
        assert row["CUSTODIAN"].endswith("(user-Dana)")
        assert row["VERIFYVERDICT"] == "VERDICT: FAILED — 1 findings"
        assert row["DATESENT"].startswith("2026-11-2")


def test_conflicting_duplicate_rows_are_export_problems(tmp_path: Path) -> None:
    first = _event("conv-d", "t", "m-1", "the true text", AT.format(1))
    second = _event("conv-d", "t", "m-1", "another text", AT.format(1))
    same = _event("conv-d", "t", "m-1", "the true text", AT.format(1))
    with Exporter(_archive([first, second, same])) as exporter:
        problems = exporter.problems()
    assert problems == [
        "export: message m-1: two rows with different delivered events (conflicting duplicates)"
    ]


def test_custodian_by_raw_item_never_by_the_email_column(tmp_path: Path) -> None:
    """A users row's email column is not proven; its raw_item (the delivered item) is."""
    events = [_event("conv-u", "t", "m-1", "x", AT.format(1), user_email="")]
    item = {"id": "user-Dana", "email": "dana.ito@example.com", "name": "Dana Ito"}
    users = [{"id": "user-Dana", "email": "forged@example.com", "raw_item": json.dumps(item)}]
    with Exporter(_archive(events, users=users)) as exporter:
        assert exporter.select("DANA.ITO@example.com", None, None, None)[0] == "user-Dana"
        with pytest.raises(SelectionError):
            exporter.select("forged@example.com", None, None, None)
    bare = [{"id": "user-Dana", "email": "forged@example.com"}]  # no raw_item: not trusted
    with Exporter(_archive(events, users=bare)) as exporter, pytest.raises(SelectionError):
        exporter.select("forged@example.com", None, None, None)


def test_a_message_in_no_conversation_is_counted_not_refused(tmp_path: Path) -> None:
    placed = _event("conv-p", "t", "m-1", "x", AT.format(1))
    lost = _event("conv-p", "t", "m-2", "y", AT.format(2))
    del lost["conversation"]
    with Exporter(_archive([placed, lost])) as exporter:
        assert exporter.problems() == []
        assert exporter.index.unplaced == 1
        exporter.export(tmp_path / "out", custodian="dana@example.com")
    assert len(_csv(tmp_path / "out" / "production_messages.csv")) == 2  # header + m-1
