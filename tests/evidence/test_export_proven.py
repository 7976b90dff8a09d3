"""Export shows only what is proven (issue #16): raw events, proven custodians, refusal, stamps."""

from __future__ import annotations

import csv
import email
import io
import json
import zipfile
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.evidence import dat
from tests.support.tap import TapRun

from .conftest import cli, verify_cli, write_jsonl


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return "".join(parser.parts)


def _copy(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    return json.loads(json.dumps(run.records))


def _custodian(records: dict[str, list[dict[str, Any]]]) -> tuple[str, str]:
    """The user with the most messages: (user id, email as the delivered events say)."""
    counts: dict[str, int] = {}
    for m in records["messages"]:
        if m["actor_user_id"]:
            counts[m["actor_user_id"]] = counts.get(m["actor_user_id"], 0) + 1
    user_id = max(sorted(counts), key=lambda u: counts[u])
    mail = next(
        m["event"]["actor"]["user_email"]
        for m in records["messages"]
        if m["actor_user_id"] == user_id
    )
    return user_id, mail


def _rsmf(path: Path) -> tuple[email.message.EmailMessage, dict[str, Any]]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    (attachment,) = [a for a in message.iter_attachments() if a.get_filename() == "rsmf.zip"]
    archive = zipfile.ZipFile(io.BytesIO(attachment.get_content()))
    return message, json.loads(archive.read("rsmf_manifest.json"))


def test_clean_archive_pages_carry_verifys_verdict(inline_archive: Path, tmp_path: Path) -> None:
    records = {"messages": [json.loads(x) for x in _lines(inline_archive, "messages")]}
    _user_id, mail = _custodian(records)
    verdict = verify_cli("--jsonl", str(inline_archive)).stdout.strip().splitlines()[-1]
    assert verdict.startswith("VERDICT:")
    out = tmp_path / "out"
    done = cli("export", "--jsonl", str(inline_archive), "--custodian", mail, "--out", str(out))
    assert done.returncode == 0, done.stderr
    for page in [out / "index.html", *(out / "html").glob("*.html")]:
        assert verdict in _text(page), page
    for path in out.glob("rsmf/*.rsmf"):
        message, _ = _rsmf(path)
        assert message["X-Verify-Verdict"] == verdict


def _lines(folder: Path, stream: str) -> list[str]:
    return [
        line
        for path in sorted(folder.glob(f"{stream}-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_export_renders_delivered_events_not_columns(inline_run: TapRun, tmp_path: Path) -> None:
    """Columns altered with the raw bytes untouched: the production still shows the delivered
    text, time, author and conversation; custodians are found by proven emails only."""
    records = _copy(inline_run)
    user_id, mail = _custodian(records)
    mine = [m for m in records["messages"] if m["actor_user_id"] == user_id and m["content_text"]]
    target, other = (
        mine[0],
        next(m for m in records["messages"] if m["conversation_id"] != mine[0]["conversation_id"]),
    )
    truth = dict(target)
    target.update(
        content_text="ALTERED TEXT",
        created_at="2001-01-01T00:00:00+00:00",
        author_type="assistant",
        conversation_id=other["conversation_id"],
        actor_email="forged@example.com",
    )
    for conversation in records["conversations"]:
        conversation["title"] = "ALTERED TITLE"
    for user in records["users"]:
        if user["id"] == user_id:
            user["email"] = "forged-user@example.com"
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export", "--jsonl", str(folder), "--custodian", mail, "--out", str(out), "--allow-findings"
    )
    assert done.returncode == 0, done.stderr
    shown = "\n".join(_text(p) for p in [out / "index.html", *(out / "html").glob("*.html")])
    assert "ALTERED" not in shown
    assert "2001-01-01" not in shown
    assert truth["content_text"] in _text(out / "html" / f"{truth['conversation_id']}.html")
    rows = list(csv.DictReader(io.StringIO((out / "production_messages.csv").read_text())))
    (row,) = [r for r in rows if r["message_id"] == truth["id"]]
    assert row["conversation_id"] == truth["conversation_id"]
    assert row["author_type"] == "user"
    assert row["timestamp"].startswith(truth["created_at"][:19])
    for forged in ("forged@example.com", "forged-user@example.com"):
        refused = cli(
            "export", "--jsonl", str(folder), "--custodian", forged, "--out", str(tmp_path / "x")
        )
        assert refused.returncode == 1
        assert "no such user id or email" in refused.stderr
        assert not (tmp_path / "x").exists()


def test_tampered_archive_is_refused_then_stamped(inline_run: TapRun, tmp_path: Path) -> None:
    """A row's delivered event altered: exit 1, one FINDING line each, nothing written; with
    --allow-findings every page (HTML, RSMF, CSV, DAT) is stamped and the message marked."""
    records = _copy(inline_run)
    user_id, mail = _custodian(records)
    target = next(
        m for m in records["messages"] if m["actor_user_id"] == user_id and m["content_text"]
    )
    target["event"]["message"]["content"]["value"] = "TAMPERED EVENT TEXT"
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli("export", "--jsonl", str(folder), "--custodian", mail, "--out", str(out))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("chatgpt-compliance export: refused: ")
    assert len(lines) >= 2
    assert all(line.startswith("FINDING ") for line in lines[1:])
    assert any(target["event_id"] in line for line in lines[1:])
    assert not out.exists()
    assert "Traceback" not in done.stderr

    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--custodian",
        mail,
        "--out",
        str(out),
        "--allow-findings",
        "--dat",
    )
    assert done.returncode == 0, done.stderr
    pages = [out / "index.html", *(out / "html").glob("*.html")]
    for page in pages:
        text = _text(page)
        assert "NOT PROVEN" in text, page
        assert "VERDICT: FAILED" in text, page
        assert target["event_id"] in text
    marked = _text(out / "html" / f"{target['conversation_id']}.html")
    assert "NOT PROVEN: named in the verify report" in marked
    for path in out.glob("rsmf/*.rsmf"):
        message, manifest = _rsmf(path)
        assert message["X-Verify-Verdict"].startswith("VERDICT: FAILED")
        assert manifest["events"][0]["type"] == "disclaimer"
        custom = {c["name"]: c["value"] for c in manifest["conversations"][0]["custom"]}
        assert custom["verify_verdict"].startswith("VERDICT: FAILED")
        assert target["event_id"] in custom["finding 1"] or any(
            target["event_id"] in v for k, v in custom.items() if k.startswith("finding")
        )
    rows = list(csv.DictReader(io.StringIO((out / "production_manifest.csv").read_text())))
    assert all(r["verify"].startswith("VERDICT: FAILED") for r in rows)
    assert any(r["kind"] == "finding" and target["event_id"] in r["note"] for r in rows)
    loaded = dat.parse((out / "production.dat").read_bytes().decode("utf-8"))
    assert loaded
    assert all(r["VERIFYVERDICT"].startswith("VERDICT: FAILED") for r in loaded)
    listed = json.loads((out / "production_manifest.json").read_text())
    assert any(target["event_id"] in f for f in listed["verify"]["findings"])


def test_bad_flag_values_are_one_line(inline_archive: Path, tmp_path: Path) -> None:
    conversation = json.loads(_lines(inline_archive, "messages")[0])["conversation_id"]
    for flag, value, named in (
        ("--production-prefix", "ACME/../", "--production-prefix"),
        ("--production-prefix", "A\r\nB", "--production-prefix"),
        ("--export-time", "yesterday", "--export-time"),
        ("--state", str(tmp_path / "no-such-state.json"), "--state"),
    ):
        done = cli(
            "export",
            "--jsonl",
            str(inline_archive),
            "--conversation",
            conversation,
            "--out",
            str(tmp_path / "out"),
            flag,
            value,
        )
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"chatgpt-compliance export: {named}")
        assert not (tmp_path / "out").exists()


def test_slice_verification_covers_every_file_a_slice_row_can_come_from(tmp_path: Path) -> None:
    """With a verify that takes ``log_file_ids``, export asks for the slice's files: every
    file holding a message of the selected conversations, and every file that ended at or after
    a day before --since (a deleted row of the slice is missing from one of those)."""
    from dataclasses import dataclass, field

    from tap_chatgpt_compliance.evidence import export_cli, sources
    from tap_chatgpt_compliance.evidence.cli import build_parser
    from tap_chatgpt_compliance.logfiles.records import message_record

    @dataclass
    class FakeReport:
        findings: list[Any] = field(default_factory=list)
        unproven_columns: dict[str, str] = field(default_factory=dict)
        unproven_rows: list[tuple[str, str]] = field(default_factory=list)

        def verdict(self) -> str:
            return "VERDICT: fake"

        def unanchored_rows(self) -> list[tuple[str, str]]:
            return []

    asked: list[list[str]] = []

    def fake_verify(archive: Any, anchor: Any = None, log_file_ids: Any = None) -> FakeReport:
        asked.append(sorted(log_file_ids))
        return FakeReport()

    def event(message_id: str, at: str) -> dict[str, Any]:
        return {
            "event_id": f"ev-{message_id}",
            "timestamp": at,
            "actor": {"user_id": "user-A", "user_email": "a@example.com"},
            "message": {"id": message_id, "created_at": at, "author": {"type": "user"}},
            "conversation": {"id": "conv-1", "title": "t"},
        }

    rows = [
        message_record(event("old", "2026-10-31T09:00:00Z"), "ws", "eclf_old"),
        message_record(event("new", "2026-11-26T09:00:00Z"), "ws", "eclf_new"),
    ]
    manifest = [
        {"id": "eclf_old", "end_time": "2026-11-01T00:00:00Z"},
        {"id": "eclf_mid", "end_time": "2026-11-20T00:00:00Z"},
        {"id": "eclf_edge", "end_time": "2026-11-25T06:00:00Z"},
        {"id": "eclf_new", "end_time": "2026-11-27T00:00:00Z"},
    ]
    archive = sources.Archive("synthetic", {"messages": rows, "log_files": manifest})
    base = ["export", "--jsonl", "unused", "--conversation", "conv-1"]
    args = build_parser().parse_args([*base, "--out", str(tmp_path / "all")])
    assert export_cli.run(args, lambda _: archive, fake_verify) == 0  # type: ignore[arg-type]
    assert asked[-1] == ["eclf_edge", "eclf_mid", "eclf_new", "eclf_old"]  # no --since: all
    args = build_parser().parse_args([*base, "--out", str(tmp_path / "late")])
    args.since = "2026-11-26"
    assert export_cli.run(args, lambda _: archive, fake_verify) == 0  # type: ignore[arg-type]
    # eclf_mid ended before a day before --since and holds nothing of conv-1: left out
    assert asked[-1] == ["eclf_edge", "eclf_new", "eclf_old"]


def test_a_verify_that_crashes_fails_closed(
    inline_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No verdict, no production: one line, exit 1, nothing written, no traceback."""
    from tap_chatgpt_compliance.evidence import cli as evidence_cli

    def broken(archive: Any, **options: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(evidence_cli, "verify", broken)
    messages = [json.loads(x) for x in _lines(inline_archive, "messages")]
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(inline_archive),
        "--conversation",
        messages[0]["conversation_id"],
        "--out",
        str(out),
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "chatgpt-compliance export: verify could not complete (KeyError: 'boom'); nothing was "
        "written"
    ]
    assert not out.exists()


def test_state_anchors_the_verdict_on_every_page(
    inline_run: TapRun, inline_archive: Path, tmp_path: Path
) -> None:
    """--state as for verify: the pages carry the anchored verdict verify prints."""
    from tap_chatgpt_compliance.evidence import verify as verify_module

    if not hasattr(verify_module, "read_state"):
        pytest.skip("this verify does not read state yet")
    state = tmp_path / "state.json"
    state.write_text(json.dumps(inline_run.state))
    verdict = (
        verify_cli("--jsonl", str(inline_archive), "--state", str(state))
        .stdout.strip()
        .splitlines()[-1]
    )
    conversation = json.loads(_lines(inline_archive, "messages")[0])["conversation_id"]
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(inline_archive),
        "--conversation",
        conversation,
        "--out",
        str(out),
        "--state",
        str(state),
    )
    assert done.returncode == 0, done.stderr
    assert verdict.startswith("VERDICT:")
    assert verdict in _text(out / "index.html")
