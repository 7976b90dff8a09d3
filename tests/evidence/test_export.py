"""``chatgpt-compliance export``: RSMF 2.0 + HTML production of a custodian, from a real archive."""

from __future__ import annotations

import email
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from collections import Counter
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export import Exporter
from tap_chatgpt_compliance.evidence.export_text import file_stem
from tests.support.tap import TapRun

from .conftest import cli, write_jsonl

SCHEMA = Path(__file__).with_name("rsmf") / "rsmf_schema_2_0_0.json"
"""The official RSMF 2.0.0 schema (relativitydev/rsmf-validator-samples, BSD-3: rsmf/LICENSE)."""


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


def export_cli(*args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    return cli("export", *args, process=process)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _page_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text())
    return "".join(parser.parts)


def _custodian(run: TapRun) -> tuple[str, str]:
    """The user with the most conversations: (user id, email)."""
    conversations: dict[str, set[str]] = {}
    for m in run.records["messages"]:
        if m["actor_user_id"]:
            conversations.setdefault(m["actor_user_id"], set()).add(m["conversation_id"])
    user_id = max(sorted(conversations), key=lambda u: len(conversations[u]))
    email_address = next(u["email"] for u in run.records["users"] if u["id"] == user_id)
    return user_id, email_address


def _expected(run: TapRun, user_id: str) -> dict[str, dict[str, Any]]:
    """The custodian's conversations' messages, by id, straight from the records."""
    chosen = {
        m["conversation_id"] for m in run.records["messages"] if m["actor_user_id"] == user_id
    }
    return {m["id"]: m for m in run.records["messages"] if m["conversation_id"] in chosen}


def _body(message: dict[str, Any]) -> str:
    """Text, or tool output as sorted JSON, or what stands for nothing (never blank)."""
    if message["content_text"]:
        return str(message["content_text"])
    value = message["content_json"]
    if value is not None:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "(empty tool output)" if message["author_type"] == "tool" else "(empty message)"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _rsmf(path: Path) -> tuple[email.message.EmailMessage, zipfile.ZipFile, dict[str, Any]]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    (attachment,) = [a for a in message.iter_attachments() if a.get_filename() == "rsmf.zip"]
    archive = zipfile.ZipFile(io.BytesIO(attachment.get_content()))
    return message, archive, json.loads(archive.read("rsmf_manifest.json"))


def test_custodian_production_is_valid_complete_and_byte_identical(
    inline_run: TapRun, inline_archive: Path, tmp_path: Path
) -> None:
    user_id, email_address = _custodian(inline_run)
    expected = _expected(inline_run, user_id)
    first, second = tmp_path / "one", tmp_path / "two"
    for process, out in ((True, first), (False, second)):
        done = export_cli(
            "--jsonl",
            str(inline_archive),
            "--custodian",
            email_address,
            "--out",
            str(out),
            "--export-time",
            "2026-12-01T10:00:00Z",
            process=process,  # the first as a real process, the second in this one
        )
        assert done.returncode == 0, done.stderr
        assert f"Exported {len(expected)} messages" in done.stdout
    assert _files(first) == _files(second)  # byte-identical

    validator = jsonschema.Draft7Validator(
        _schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    produced: Counter[str] = Counter()
    rsmf_files = sorted(first.glob("rsmf/*.rsmf"))
    assert rsmf_files
    for path in rsmf_files:
        message, archive, manifest = _rsmf(path)
        assert message["X-RSMF-Version"] == "2.0.0"
        assert message["X-RSMF-Custodian"] == user_id
        assert int(message["X-RSMF-EventCount"]) == len(manifest["events"]) <= 10_000
        errors = sorted(str(e.message) for e in validator.iter_errors(manifest))
        assert not errors, (path.name, errors)
        participants = {p["id"] for p in manifest["participants"]}
        (conversation,) = manifest["conversations"]
        assert set(conversation["participants"]) <= participants
        assert manifest["eventcollectionid"] == conversation["id"]
        ids = {e["id"] for e in manifest["events"]}
        days = {e["timestamp"][:10] for e in manifest["events"]}
        assert len(days) == 1  # one conversation slice per day
        for event in manifest["events"]:
            assert event["participant"] in participants
            assert event.get("parent") is None or event["parent"] in ids
            for attachment in event.get("attachments", []):
                assert attachment["id"] in archive.namelist()
            produced[event["id"]] += 1
            assert event["body"] == _body(expected[event["id"]])
    assert set(produced) == set(expected)
    assert set(produced.values()) == {1}

    # HTML transcripts: the first and last message text of each conversation is on its page.
    index = _page_text(first / "index.html")
    by_conversation: dict[str, list[dict]] = {}
    for m in sorted(expected.values(), key=lambda m: (m["created_at"], m["id"])):
        by_conversation.setdefault(m["conversation_id"], []).append(m)
    for conversation_id, messages in by_conversation.items():
        page = _page_text(first / "html" / f"{conversation_id}.html")
        for m in (messages[0], messages[-1]):
            if m["content_text"]:
                assert m["content_text"] in page
        assert f"{len(messages)} messages" in index

    # The production manifest lists every file with its SHA-256.
    listed = json.loads((first / "production_manifest.json").read_text())
    on_disk = _files(first)
    paths = {f["path"] for f in listed["files"]}
    assert paths == set(on_disk) - {"production_manifest.json", "production_manifest.csv"}
    for entry in listed["files"]:
        assert entry["sha256"] == hashlib.sha256(on_disk[entry["path"]]).hexdigest()
    assert listed["message_count"] == len(expected)
    csv_lines = (first / "production_manifest.csv").read_text().splitlines()
    assert len(csv_lines) == len(listed["files"]) + 1


def test_range_and_placeholders(inline_run: TapRun, tmp_path: Path) -> None:
    """--since narrows the production; an attachment that was not archived gets a placeholder."""
    records = {k: [dict(r) for r in v] for k, v in inline_run.records.items()}
    attachment = next(f for f in records["files"] if f["status"] == "archived")
    for record in records["files"]:
        if record["id"] == attachment["id"]:
            record.update(status="expired", status_reason="HTTP 410: expired", content_base64=None)
    folder = write_jsonl(records, tmp_path / "archive")
    messages = [
        m for m in records["messages"] if m["conversation_id"] == attachment["conversation_id"]
    ]
    times = sorted(m["created_at"] for m in messages)
    since = times[len(times) // 2]
    out = tmp_path / "out"
    # The downgrade is tampering that verify may report: produce anyway, stamped.
    done = export_cli(
        "--jsonl",
        str(folder),
        "--conversation",
        attachment["conversation_id"],
        "--out",
        str(out),
        "--allow-findings",
    )
    assert done.returncode == 0, done.stderr
    names = []
    for path in out.glob("rsmf/*.rsmf"):
        _, archive, _ = _rsmf(path)
        names += archive.namelist()
        for name in archive.namelist():
            if name.endswith("NOT-ARCHIVED.txt"):
                text = archive.read(name).decode()
                assert "status expired." in text  # chained; its status_reason is not shown
                assert "HTTP 410" not in text
    assert f"{file_stem(attachment['id'])}-NOT-ARCHIVED.txt" in names

    narrow = tmp_path / "narrow"
    done = export_cli(
        "--jsonl",
        str(folder),
        "--conversation",
        attachment["conversation_id"],
        "--since",
        since,
        "--out",
        str(narrow),
        "--allow-findings",
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads((narrow / "production_manifest.json").read_text())
    assert listed["message_count"] == sum(1 for t in times if t >= since)


def test_empty_selection_is_one_line_and_exit_1(inline_archive: Path, tmp_path: Path) -> None:
    done = export_cli(
        "--jsonl", str(inline_archive), "--custodian", "nobody@example.com", "--out", str(tmp_path)
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "chatgpt-compliance export: --custodian nobody@example.com: no such user id or email in "
        "the archive"
    ]
    done = export_cli(
        "--jsonl", str(inline_archive), "--conversation", "nope", "--out", str(tmp_path)
    )
    assert done.returncode == 1
    assert "nothing to export" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "chromium is not installed (scripts/services.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_html_is_self_contained(inline_run: TapRun, tmp_path: Path) -> None:
    """Every produced HTML page reads without network: no remote reference, no script."""
    folder = write_jsonl(inline_run.records, tmp_path / "archive")
    out = tmp_path / "out"
    conversation_id = inline_run.records["messages"][0]["conversation_id"]
    done = export_cli("--jsonl", str(folder), "--conversation", conversation_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    pages = sorted((out / "html").glob("*.html")) + sorted(out.glob("*.html"))
    assert pages, "no HTML produced"
    remote = re.compile(
        r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)|@import|url\(\s*["']?(?:https?:|//)""",
        re.IGNORECASE,
    )
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower(), page
        assert not remote.search(text), (page, remote.search(text))


def test_html_transcript_in_a_headless_browser(inline_run: TapRun, tmp_path: Path) -> None:
    """Chromium renders the transcript offline: screenshot taken, first and last text shown."""
    browser = _chromium()
    with_attachment = next(f for f in inline_run.records["files"] if f["status"] == "archived")
    conversation_id = with_attachment["conversation_id"]
    folder = write_jsonl(inline_run.records, tmp_path / "archive")
    out = tmp_path / "out"
    done = export_cli("--jsonl", str(folder), "--conversation", conversation_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = (out / "html" / f"{conversation_id}.html").as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        # Loopback only: no name resolves, any connection goes to a closed local port, and the
        # browser's own background traffic (updates, sync, hints) is off.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-default-apps",
    ]
    shot = tmp_path / "transcript.png"
    subprocess.run(
        [browser, *flags, "--window-size=1000,1000", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # not a blank page
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    parser = _Text()
    parser.feed(dom)
    shown = "".join(parser.parts)
    messages = sorted(
        (m for m in inline_run.records["messages"] if m["conversation_id"] == conversation_id),
        key=lambda m: (m["created_at"], m["id"]),
    )
    assert _body(messages[0]) in shown
    assert _body(messages[-1]) in shown
    assert with_attachment["sha256"] in shown


def test_progress_and_summary(inline_run: TapRun, tmp_path: Path) -> None:
    """Progress lines at the cadence given; the summary counts files, messages, attachments.

    The attachment is downgraded to expired by hand, which verify finds: the CLI run needs
    ``--allow-findings`` and says so in its summary."""
    records = {k: [dict(r) for r in v] for k, v in inline_run.records.items()}
    user_id, _ = _custodian(inline_run)
    expected = _expected(inline_run, user_id)
    attached = [a for m in expected.values() for a in m["attachment_ids"]]
    assert attached, "the custodian has no attachment"
    for record in records["files"]:
        if record["id"] == attached[0]:
            record.update(status="expired", status_reason="HTTP 410: expired", content_base64=None)
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"

    lines: list[str] = []
    production = Exporter(sources.from_jsonl(folder)).export(
        out, custodian=user_id, progress=lines.append, every=0
    )
    conversations = len({m["conversation_id"] for m in expected.values()})
    assert lines[0] == (
        f"Export: {len(expected)} messages of {conversations} conversations selected; writing {out}"
    )
    assert len(lines) == 1 + conversations
    # the last line comes before production_messages.csv, index.html and the pages of the
    # custodian's workspace objects (a GPT they own: issue 21) are written
    objects = {"objects", "gpt", "canvas", "memories", "knowledge_file"}
    written = len([f for f in production.files if f["kind"] not in objects]) - 2
    assert lines[-1].startswith(
        f"Export progress: {conversations}/{conversations} conversations, "
        f"{len(expected)}/{len(expected)} messages, {written} files written"
    )
    quiet: list[str] = []
    Exporter(sources.from_jsonl(folder)).export(
        tmp_path / "quiet", custodian=user_id, progress=quiet.append
    )
    assert len(quiet) == 1  # only the start line within 15 s

    refused = export_cli("--jsonl", str(folder), "--custodian", user_id, "--out", str(out))
    assert refused.returncode == 1  # the folder holds a production already
    assert refused.stderr.strip().splitlines() == [
        f"chatgpt-compliance export: --out {out} is not empty: choose a new folder for each "
        "production"
    ]
    first = out
    out = tmp_path / "cli"
    done = export_cli(
        "--jsonl", str(folder), "--custodian", user_id, "--out", str(out), "--allow-findings"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == lines[0].replace(str(first), str(out))
    summary = done.stdout.splitlines()
    listed = json.loads((out / "production_manifest.json").read_text())
    kinds = Counter(f["kind"] for f in listed["files"])
    placeholders = sum(1 for f in listed["files"] if f["path"].endswith("NOT-ARCHIVED.txt"))
    assert placeholders == 1
    assert summary[0].startswith(
        f"Exported {len(expected)} messages of {conversations} conversations to {out} in "
    )
    assert summary[1:] == [
        f"  Production: {out.resolve()}",
        f"  Files: {len(listed['files']) + 2}: {kinds['rsmf']} RSMF, {kinds['html']} HTML "
        f"transcripts, 1 index.html, {kinds['attachment']} attachment files, "
        "production_messages.csv, production_manifest.json and .csv (every file's SHA-256).",
        # the manifests' own digests (no file of the production can list them)
        *(
            f"  Manifest: {name} SHA-256 {hashlib.sha256((out / name).read_bytes()).hexdigest()} "
            "(keep it apart from the production: every file's hash is in the manifest, an edit "
            "of either then shows)."
            for name in ("production_manifest.json", "production_manifest.csv")
        ),
        f"  Conversations: {conversations}; messages: {len(expected)}, "
        f"{min(c['first'] for c in listed['conversations'].values())} .. "
        f"{max(c['last'] for c in listed['conversations'].values())}.",
        f"  Attachments: {kinds['attachment'] - 1} included (archived bytes, SHA-256 verified), "
        "1 placeholders (1 expired).",
        # the custodian owns GPTs (the gpts listing's latest_config: issue 21)
        f"  Workspace objects: 0 canvases, 0 memory pages, {kinds['gpt']} GPTs; "
        f"{kinds['gpt']} items numbered (production_objects.csv), 0 knowledge files included.",
        # the record was downgraded to expired by hand: verify's files chain catches it
        "  VERDICT: FAILED — 1 findings; produced with --allow-findings: every page is stamped "
        "with them.",
    ]
