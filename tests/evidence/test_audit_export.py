"""Export attacked as an adversary would (audit): each defect found, one test each.

Rows forged outside what verify checks, hostile text that must stay exact and safe, a custodian
whose email names two users.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.evidence.export import SelectionError, parse_bound
from tap_chatgpt_compliance.evidence.export_text import file_stem
from tap_chatgpt_compliance.workspace_rows import derive_row
from tests.support.tap import TapRun

from .conftest import cli, write_jsonl
from .test_export_hazards import AT, WORKSPACE, _archive, _event, _export, _rsmf


def _records(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(run.records)


def _forged_message(records: dict[str, list[dict[str, Any]]], **row: Any) -> dict[str, Any]:
    """A messages row of an archived conversation that no raw line backs."""
    forged = copy.deepcopy(records["messages"][0])
    event = forged["event"]
    event["event_id"] = "ev-forged"
    event["message"]["id"] = "msg-forged"
    event["message"]["content"]["value"] = "FORGED MESSAGE TEXT"
    forged.update(id="msg-forged", event_id="ev-forged", content_text="FORGED MESSAGE TEXT", **row)
    return forged


def test_a_row_without_a_log_file_is_never_produced_as_proven(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """A messages row added with no log_file_id (null): the slice verify must still name it
    (a row pointing to no manifest record), so the export refuses instead of showing it."""
    records = _records(inline_run)
    forged = _forged_message(records, log_file_id=None)
    records["messages"].append(forged)
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--conversation",
        forged["conversation_id"],
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stdout
    assert "FINDING manifest: log file None" in done.stderr
    assert not out.exists()


def test_a_custodian_email_of_two_users_is_refused_not_halved(tmp_path: Path) -> None:
    """An email two user ids acted under (an address moved to a new account): picking one user
    silently left the other's conversations out; it is one line naming both, nothing written."""
    events = [
        _event("conv-a", "t", "m-1", "as the old account", AT.format(1), user="user-Old"),
        _event("conv-b", "t", "m-2", "as the new account", AT.format(2), user="user-New"),
    ]
    with pytest.raises(SelectionError, match=r"names 2 users \(user-New, user-Old\)"):
        _export(_archive(events), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    for user, conversation in (("user-Old", "conv-a"), ("user-New", "conv-b")):
        out = tmp_path / user
        _export(_archive(events), out, custodian=user)
        assert [p.name for p in (out / "html").glob("*.html")] == [f"{conversation}.html"]


def test_a_title_that_looks_encoded_is_shown_as_typed_in_rsmf_headers(tmp_path: Path) -> None:
    """A title typed as an RFC 2047 encoded word (``=?utf-8?b?…?=``) was written bare into the
    Subject, which every mail reader decodes: the review platform showed other words than the
    delivered title. Headers now read back exactly as the title was delivered."""
    title = "=?utf-8?b?SW5ub2NlbnQgbHVuY2g=?= =?utf-8?q?plans?="
    out = tmp_path / "out"
    _export(_archive([_event("conv-e", title, "m-1", "x", AT.format(1))]), out)
    (path,) = (out / "rsmf").glob("*.rsmf")
    message, _, manifest = _rsmf(path)
    assert message["Subject"] == f"ChatGPT Enterprise: {title} (2026-11-26)"
    assert manifest["conversations"][0]["display"] == title


def test_lone_surrogates_are_produced_exact_and_never_crash(tmp_path: Path) -> None:
    """JSON can carry a lone surrogate (``\\ud83d``: half an emoji, cut by a client), which the
    tap archives as delivered and UTF-8 cannot hold: the export failed with a traceback at its
    index. Now the RSMF body is the exact text (an escape in JSON), pages and CSVs show
    ``\\ud83d`` as they show controls, and every file is UTF-8."""
    half = "\ud83d"
    data = b"attachment bytes"
    files = [{"id": "file-1", "name": f"scan{half}.pdf"}]
    user = _event("conv-s", f"title{half}", "m-1", f"text{half}end", AT.format(1), files=files)
    tool = _event("conv-s", f"title{half}", "m-2", f"out{half}", AT.format(2), author="tool")
    tool["message"]["author"]["name"] = f"browser{half}"
    item = {"id": "user-Dana", "email": "dana@example.com", "name": f"Dana{half}"}
    stored = {
        "id": "file-1",
        "status": "archived",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "name": f"scan{half}.pdf",
        "content_base64": base64.b64encode(data).decode(),
    }
    canvas = {"content": f"draft{half}", "name": f"plan{half}", "version": 1}
    canvas["updated_at"] = AT.format(3)
    parent = {"user_id": "user-Dana", "textdoc_id": "doc-1", "textdoc_type": "document"}
    # The tap's own derive_row cannot hash such an item yet (noted in the audit): the row
    # holds the served item as its JSON text, as a line of the archive reads back.
    row = {
        **derive_row("canvas_versions", {**canvas, "content": "", "name": ""}, WORKSPACE, parent)
    }
    row["raw_item"] = json.dumps(canvas, sort_keys=True, separators=(",", ":"))
    archive = _archive(
        [user, tool],
        users=[{"id": "user-Dana", "raw_item": json.dumps(item)}],
        files=[stored],
        canvas_versions=[row],
    )
    out = tmp_path / "out"
    _export(archive, out, load_file=True)
    (path,) = (out / "rsmf").glob("*.rsmf")
    _, zipped, manifest = _rsmf(path)
    bodies = [e["body"] for e in manifest["events"]]
    assert bodies == [f"text{half}end", f"out{half}"]
    assert zipped.read(manifest["events"][0]["attachments"][0]["id"]) == data
    page = (out / "html" / "conv-s.html").read_text(encoding="utf-8")
    for shown in ("title\\ud83d", "text\\ud83dend", "Dana\\ud83d", "browser\\ud83d"):
        assert shown in page
    assert "scan\\ud83d.pdf" in page
    canvas_page = next((out / "html" / "canvases").glob("*.html")).read_text(encoding="utf-8")
    assert "draft\\ud83d" in canvas_page
    for produced in out.rglob("*"):
        if produced.is_file() and produced.suffix in (".html", ".csv", ".json", ".dat"):
            produced.read_text(encoding="utf-8")  # strict: no surrogate bytes written


def test_attachment_named_by_a_finding_is_never_shown_as_verified(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """Attachment bytes swapped with their files record (sha256, size): verify names the
    attachment (its chain breaks); with --allow-findings the bytes were listed with their
    SHA-256 and counted "SHA-256 verified", unmarked. Now the attachment, its message and the
    summary say NOT PROVEN, on the page and in the RSMF."""
    records = _records(inline_run)
    target = records["files"][0]
    forged = b"FORGED BYTES"
    target.update(
        content_base64=base64.b64encode(forged).decode(),
        sha256=hashlib.sha256(forged).hexdigest(),
        size=len(forged),
    )
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--conversation",
        target["conversation_id"],
        "--out",
        str(out),
        "--allow-findings",
    )
    assert done.returncode == 0, done.stderr
    assert "1 included but named in the verify report (NOT PROVEN)" in done.stdout
    page = (out / "html" / f"{target['conversation_id']}.html").read_text()
    shown = page[page.index(f">{target['name']}</a>") :].split("</li>", 1)[0]
    assert "NOT PROVEN: named in the verify report" in shown
    message = page[page.index(f'id="m-{target["message_id"]}"') :].split("</div>", 1)[0]
    assert "NOT PROVEN: named in the verify report" in message
    events = [
        e
        for path in (out / "rsmf").glob("*.rsmf")
        for e in _rsmf(path)[2]["events"]
        if e["id"] == target["message_id"]
    ]
    custom = {c["name"]: c["value"] for c in events[0]["custom"]}
    assert custom["verify"] == "NOT PROVEN: named in the verify report"
    assert custom[f"verify {target['name']}"] == "NOT PROVEN: named in the verify report"


def test_an_email_seen_only_outside_the_selection_is_never_shown(tmp_path: Path) -> None:
    """A user's email on the pages comes from the exported conversations' events (their log files
    are what verify checks), never from a row of another conversation that a narrowed verify
    (``--since``) did not read: such a row could be forged."""
    events = [
        _event("conv-new", "Lunch", "m-1", "hello", AT.format(1), user_email=""),
        _event(
            "conv-old",
            "Old",
            "m-0",
            "old text",
            "2026-01-05T10:00:00.000000Z",
            user_email="forged@evil.example",
        ),
    ]
    out = tmp_path / "out"
    _export(_archive(events), out, custodian="user-Dana", since=datetime(2026, 11, 1, tzinfo=UTC))
    shown = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert "hello" in shown
    assert "old text" not in shown
    assert "forged@evil.example" not in shown
    assert "forged@evil.example" not in (out / "production_manifest.json").read_text()

    again = tmp_path / "again"  # the same email in an exported conversation is shown
    _export(_archive(events), again, custodian="user-Dana")
    shown = "\n".join(p.read_text(encoding="utf-8") for p in again.rglob("*.html"))
    assert "forged@evil.example" in shown


def _marked(page: str) -> set[str]:
    """Return the ids of the messages a transcript marks NOT PROVEN."""
    return set(re.findall(r'class="msg [^"]*unproven[^"]*" id="m-([^"]+)"', page))


def _alter_raw(records: dict[str, list[dict[str, Any]]], log_file_id: str) -> None:
    """Change one byte of a log file's raw bytes (its manifest record unchanged)."""
    part = next(p for p in records["log_file_parts"] if p["log_file_id"] == log_file_id)
    data = bytearray(base64.b64decode(part["content_base64"]))
    data[data.index(b'"')] = ord("'")
    part["content_base64"] = base64.b64encode(bytes(data)).decode()


def _tamper(
    kind: str, records: dict[str, list[dict[str, Any]]], rows: list[dict[str, Any]]
) -> set[str]:
    """Tamper with the archive one way; return which of ``rows`` (messages of one conversation
    in one log file) it concerns."""
    log_file_id, conversation = rows[0]["log_file_id"], rows[0]["conversation_id"]
    concerned = {m["id"] for m in rows}
    if kind == "raw":
        _alter_raw(records, log_file_id)
    elif kind == "missing":
        records["messages"].remove(rows[-1])
        concerned.discard(rows[-1]["id"])
    elif kind == "manifest":
        record = next(r for r in records["log_files"] if r["id"] == log_file_id)
        record["line_count"] += 1
    elif kind == "conversation":
        row = next(
            c
            for c in records["conversations"]
            if c["id"] == conversation and c["log_file_id"] == log_file_id
        )
        row["title"] = "EDITED TITLE"
    elif kind == "message":
        rows[0]["event"]["message"]["content"]["value"] = "EDITED TEXT"
        return {rows[0]["id"]}
    return concerned


@pytest.mark.parametrize(
    "kind", ["raw", "missing", "manifest", "conversation", "message", "anchor"]
)
def test_every_message_a_finding_concerns_is_marked(
    kind: str, inline_run: TapRun, tmp_path: Path
) -> None:
    """Under --allow-findings a message was marked NOT PROVEN only when a finding named its id
    as a word: a finding naming its log file (raw bytes altered, a line without its row, the
    manifest record altered) or its conversation's row left it unmarked among proven ones. Now
    every message a finding concerns is marked, and only that one when a finding names a row."""
    records = _records(inline_run)
    pairs = Counter((m["log_file_id"], m["conversation_id"]) for m in records["messages"])
    (log_file_id, conversation), count = pairs.most_common(1)[0]
    assert count >= 2
    rows = [
        m
        for m in records["messages"]
        if (m["log_file_id"], m["conversation_id"]) == (log_file_id, conversation)
    ]
    anchor: list[str] = []
    if kind == "anchor":  # a state one link ahead: the archive was cut short (any message)
        state = copy.deepcopy(inline_run.state) or {}
        for partition in state["bookmarks"]["log_files"]["partitions"]:
            partition["chain_seq"] += 1
        (tmp_path / "state.json").write_text(json.dumps(state))
        anchor = ["--state", str(tmp_path / "state.json")]
        concerned = {m["id"] for m in records["messages"] if m["conversation_id"] == conversation}
    else:
        concerned = _tamper(kind, records, rows)
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--conversation",
        conversation,
        "--out",
        str(out),
        "--allow-findings",
        *anchor,
    )
    assert done.returncode == 0, done.stderr
    page = (out / "html" / f"{file_stem(conversation)}.html").read_text(encoding="utf-8")
    shown = set(re.findall(r'class="msg [^"]*" id="m-([^"]+)"', page))
    assert concerned <= shown
    assert _marked(page) >= concerned, (kind, done.stdout)
    if kind == "message":
        assert _marked(page) == concerned  # a finding naming a row marks that row only


@pytest.mark.parametrize("until", ["20261126", "2026-W48-4", "2026-11-26Z", "2026-11-26+00:00"])
def test_a_bare_date_as_until_in_any_iso_form_includes_that_day(until: str, tmp_path: Path) -> None:
    """``--until`` as a bare date includes that whole day (docs): written as an ISO 8601 basic
    or week date, or with a zone, it was read as midnight (exclusive) and the day's messages
    were silently left out of the production."""
    assert parse_bound(until, end=True) == parse_bound("2026-11-26", end=True)
    events = [_event("conv-d", "t", "m-1", "on the last day", AT.format(1))]
    out = tmp_path / "out"
    _export(_archive(events), out, until=parse_bound(until, end=True))
    assert "on the last day" in (out / "html" / "conv-d.html").read_text(encoding="utf-8")


def test_a_bare_date_with_an_offset_is_that_day_in_that_zone() -> None:
    """A date with an offset bounds that calendar day where the offset is (start and end)."""
    assert parse_bound("2026-11-26+01:00", end=False) == datetime(2026, 11, 25, 23, tzinfo=UTC)
    assert parse_bound("2026-11-26+01:00", end=True) == datetime(2026, 11, 26, 23, tzinfo=UTC)
    assert parse_bound("2026-11-26T10:00", end=True) == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_a_message_without_its_event_id_is_produced_under_the_tap_s_key(tmp_path: Path) -> None:
    """A message event without ``event_id`` (the API sends some): the tap keys it by a derived
    key (``event_id_derived``), and the production names it by that key too: it was ``None`` in
    the load file's event id (and the message id too, for one without ``message.id`` either)."""
    import csv

    from chatgpt_compliance_simulator import Oddities, SimulatorConfig
    from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
    from tests.support.simulators import running
    from tests.support.tap import run_tap, tap_config

    from .conftest import ok

    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 45, "span_days": 0.3},
        oddities=Oddities(missing_event_id_rate=0.5),
    )
    with running(config) as simulator:
        run = ok(run_tap(tap_config(simulator, event_types=["CONVERSATION_MESSAGE"])))
    derived = [m for m in run.records["messages"] if m["event_id_derived"]]
    assert derived, "the oddity made no message without event_id"
    conversation = derived[0]["conversation_id"]
    folder = write_jsonl(run.records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli("export", "--jsonl", str(folder), "--conversation", conversation, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.DictReader((out / "production_messages.csv").open(encoding="utf-8")))
    events = {m["id"]: m["event_id"] for m in run.records["messages"]}
    wanted = {m["id"] for m in run.records["messages"] if m["conversation_id"] == conversation}
    assert {r["message_id"] for r in rows} == wanted
    assert [r["event_id"] for r in rows] == [events[r["message_id"]] for r in rows]
