"""``chatgpt-compliance verify`` on real archives: intact, then tampered one way at a time."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.evidence.sources import Archive
from tap_chatgpt_compliance.evidence.verify import verify
from tap_chatgpt_compliance.logfiles import chain
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import EVENT_TYPES, ok, verify_cli, write_jsonl

CM = "CONVERSATION_MESSAGE"


def _rows(folder: Path, stream: str) -> tuple[Path, list[dict[str, Any]]]:
    (path,) = folder.glob(f"{stream}-*.jsonl")
    return path, [json.loads(line) for line in path.read_text().splitlines()]


def _rewrite(folder: Path, stream: str, change: Callable[[list[dict]], list[dict]]) -> None:
    path, rows = _rows(folder, stream)
    path.write_text("".join(json.dumps(row) + "\n" for row in change(rows)))


def _report(folder: Path, tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.json"
    done = verify_cli("--jsonl", str(folder), "--report", str(report))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, json.loads(report.read_text())


def test_chain_hash_is_the_documented_formula(inline_run: TapRun) -> None:
    """sha256(previous + "\\n" + canonical JSON of the chained fields), recomputed here."""
    by_type: dict[str, list[dict]] = {}
    for record in inline_run.records["log_files"]:
        by_type.setdefault(record["event_type"], []).append(record)
    assert set(by_type) == set(EVENT_TYPES)
    for records in by_type.values():
        previous = "0" * 64
        for seq, record in enumerate(sorted(records, key=lambda r: r["chain_seq"]), 1):
            names = chain.chain_fields(chain.LOG_FILES, chain.record_version(record))
            text = chain.canonical_fields(record, chain.LOG_FILES)
            assert set(json.loads(text)) == set(names)
            expected = hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()
            assert (record["chain_seq"], record["chain_previous"]) == (seq, previous)
            assert record["chain_hash"] == expected
            previous = expected


def test_raw_log_files_are_kept_inline_byte_exact(sim: Simulator, inline_run: TapRun) -> None:
    """log_file_parts reassemble to the very bytes the API serves, before their manifest."""
    parts: dict[str, list[dict]] = {}
    for part in inline_run.records["log_file_parts"]:
        parts.setdefault(part["log_file_id"], []).append(part)
    manifest = inline_run.records["log_files"]
    assert manifest
    assert {r["raw_content"] for r in manifest} == {"inline"}
    for record in manifest:
        chunks = sorted(parts[record["id"]], key=lambda p: p["part_index"])
        assert len(chunks) == record["raw_part_count"]
        data = b"".join(base64.b64decode(p["content_base64"]) for p in chunks)
        assert hashlib.sha256(data).hexdigest() == record["provider_sha256"]
    # Every part is written before its file's manifest record.
    order = [json.loads(line) for line in inline_run.stdout.splitlines() if '"RECORD"' in line]
    position = {
        (m["stream"], m["record"].get("id") or m["record"].get("log_file_id")): i
        for i, m in enumerate(order)
        if m["stream"] in ("log_files", "log_file_parts")
    }
    for record in manifest:
        assert position[("log_file_parts", record["id"])] < position[("log_files", record["id"])]


def test_intact_archive_verifies(inline_archive: Path, tmp_path: Path) -> None:
    code, out, report = _report(inline_archive, tmp_path)
    assert code == 0, out
    assert report["verdict"] == "consistent"  # no anchor given: never "intact"
    counts = report["counts"]
    assert counts["raw_verified"] == counts["raw_kept"] == counts["log_files"] > 0
    assert counts["events_found"] == counts["events_in_raw"] > 0
    assert counts["attachments_verified"] == counts["attachments_archived"] > 0
    assert all(c["unbroken"] and c["starts"] == 1 for c in report["chains"].values())
    assert out.strip().splitlines()[-1].startswith("VERDICT: consistent, unanchored")


def _drop_message(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["event_id"] != rows[len(rows) // 2]["event_id"]]


def _alter_message_text(rows: list[dict]) -> list[dict]:
    row = rows[0]
    row["event"]["message"]["content"] = {"parts": ["something else"]}
    return rows


def _flip_raw_byte(rows: list[dict]) -> list[dict]:
    data = bytearray(base64.b64decode(rows[0]["content_base64"]))
    data[len(data) // 2] ^= 0x01
    rows[0]["content_base64"] = base64.b64encode(bytes(data)).decode()
    return rows


def _flip_attachment_byte(rows: list[dict]) -> list[dict]:
    row = next(r for r in rows if r.get("content_base64"))
    data = bytearray(base64.b64decode(row["content_base64"]))
    data[0] ^= 0xFF
    row["content_base64"] = base64.b64encode(bytes(data)).decode()
    return rows


def _middle_manifest(rows: list[dict]) -> dict:
    chain_rows = sorted((r for r in rows if r["event_type"] == CM), key=lambda r: r["chain_seq"])
    return chain_rows[len(chain_rows) // 2]


def _drop_middle_manifest(rows: list[dict]) -> list[dict]:
    gone = _middle_manifest(rows)["id"]
    return [r for r in rows if r["id"] != gone]


def _drop_last_manifest(rows: list[dict]) -> list[dict]:
    last = max((r for r in rows if r["event_type"] == CM), key=lambda r: r["chain_seq"])
    return [r for r in rows if r["id"] != last["id"]]


def _alter_manifest(rows: list[dict]) -> list[dict]:
    _middle_manifest(rows)["line_count"] += 1
    return rows


TAMPERING = {
    "delete a message row": ("messages", _drop_message, "missing", "has no row"),
    "alter a message": ("messages", _alter_message_text, "column", "differs from its raw line"),
    "alter a raw byte": ("log_file_parts", _flip_raw_byte, "raw", "raw file altered"),
    "alter an attachment byte": ("files", _flip_attachment_byte, "attachment", "bytes altered"),
    "drop a manifest record": ("log_files", _drop_middle_manifest, "chain", "record missing"),
    "drop the last manifest record": ("log_files", _drop_last_manifest, "manifest", "missing"),
    "alter a manifest record": ("log_files", _alter_manifest, "chain", "record altered"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_found_and_named(
    how: str, inline_archive: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    stream, change, check, words = TAMPERING[how]
    folder = copy_of(inline_archive)
    _, before = _rows(folder, stream)
    _rewrite(folder, stream, change)
    _, after = _rows(folder, stream)
    code, out, report = _report(folder, tmp_path)
    assert code == 1, out
    assert report["verdict"] == "FAILED"
    findings = [f for f in report["findings"] if f["check"] == check and words in f["detail"]]
    assert findings, out
    # The finding names the item: the record that was removed or changed.
    changed = [r for r in before if r not in after]
    key = {"messages": "event_id", "log_file_parts": "log_file_id"}.get(stream, "id")
    names = {str(r[key]) for r in changed}
    if how == "drop a manifest record":
        gone = changed[0]
        names = {f"chain_seq {gone['chain_seq']}"}
    assert any(name in f["item"] for f in findings for name in names), (names, findings)
    assert out.strip().splitlines()[-1].startswith("VERDICT: FAILED")


def test_storage_mode_archive_and_removed_objects(
    sim: Simulator, tmp_path: Path, copy_of: Callable[[Path], Path]
) -> None:
    """file_content=storage: raw files in the content store; remove one, alter an attachment."""
    store = tmp_path / "store"
    run = ok(
        run_tap(
            tap_config(
                sim, event_types=EVENT_TYPES, file_content="storage", file_storage_url=str(store)
            )
        )
    )
    manifest = run.records["log_files"]
    assert {r["raw_content"] for r in manifest} == {"storage"}
    for record in manifest:
        path = Path(record["raw_storage_uri"])
        assert path.name == record["provider_sha256"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["provider_sha256"]
    folder = write_jsonl(run.records, tmp_path / "archive")
    code, out, _ = _report(folder, tmp_path)
    assert code == 0, out

    removed = manifest[1]
    Path(removed["raw_storage_uri"]).unlink()
    attachment = next(r for r in run.records["files"] if r["status"] == "archived")
    stored = Path(attachment["storage_uri"])
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0x01
    stored.write_bytes(bytes(data))
    code, out, report = _report(folder, tmp_path)
    assert code == 1
    lines = [f"{f['check']}: {f['item']}: {f['detail']}" for f in report["findings"]]
    assert any(
        line.startswith(f"raw: log file {removed['id']}: raw file missing") for line in lines
    ), lines
    assert any(
        line.startswith(f"attachment: attachment {attachment['id']}: bytes altered")
        for line in lines
    ), lines
    assert f"FINDING raw: log file {removed['id']}" in out


def test_a_file_written_again_after_a_kill_gets_the_same_link(
    sim: Simulator, inline_run: TapRun, tmp_path: Path
) -> None:
    """Resume from the STATE before the last files: they get the links they had; verify passes
    on both runs' records together (the chain covers end_time across the runs)."""
    states = [s for s in inline_run.states if "log_files" in s.get("bookmarks", {})]
    resume_from = states[len(states) // 2]
    again = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES), state=resume_from))
    first = {r["id"]: r for r in inline_run.records["log_files"]}
    rewritten = again.records["log_files"]
    assert rewritten
    for record in rewritten:
        original = first[record["id"]]
        assert (record["chain_previous"], record["chain_hash"], record["chain_seq"]) == (
            original["chain_previous"],
            original["chain_hash"],
            original["chain_seq"],
        )
    folder = write_jsonl(inline_run.records, tmp_path / "archive")
    write_jsonl(again.records, folder)  # appended, as a second target-jsonl run would
    code, out, _ = _report(folder, tmp_path)
    assert code == 0, out


def test_without_raw_bytes_verify_says_it_cannot_prove_byte_exactness(
    sim: Simulator, tmp_path: Path
) -> None:
    run = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, file_content="none")))
    assert {r["raw_content"] for r in run.records["log_files"]} == {"none"}
    folder = write_jsonl(run.records, tmp_path / "archive")
    code, out, report = _report(folder, tmp_path)
    assert code == 0, out
    assert any("not against OpenAI's bytes" in line for line in report["limitations"])
    assert "limitation:" in out
    assert report["verdict"] == "consistent"
    assert "VERDICT: consistent, unproven — the archive kept no raw bytes" in out


def test_missing_archive_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = verify_cli("--jsonl", str(tmp_path / "nowhere"), process=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"chatgpt-compliance verify: --jsonl {tmp_path / 'nowhere'}: no such folder"
    ]


def _add_message_row(rows: list[dict]) -> list[dict]:
    """A message that OpenAI never delivered, pointing to a real log file."""
    extra = json.loads(json.dumps(rows[0]))
    extra["id"] = extra["event"]["message"]["id"] = "msg-added-afterwards"
    extra["event_id"] = extra["event"]["event_id"] = "event-added-afterwards"
    extra["event"]["message"]["content"] = {"type": "text", "value": "I agreed to it."}
    return [*rows, extra]


def _add_copy_of_event_row(rows: list[dict]) -> list[dict]:
    """A second row for an event id of the file, with other content, beside the true one."""
    extra = json.loads(json.dumps(rows[0]))
    extra["event"]["status"] = "edited"
    return [*rows, extra]


@pytest.mark.parametrize(
    ("stream", "change", "name"),
    [
        ("messages", _add_message_row, "event-added-afterwards"),
    ],
)
def test_a_row_beyond_the_raw_files_is_found_as_added(
    stream: str,
    change: Callable[[list[dict]], list[dict]],
    name: str | None,
    inline_archive: Path,
    copy_of: Callable[[Path], Path],
    tmp_path: Path,
) -> None:
    folder = copy_of(inline_archive)
    _rewrite(folder, stream, change)
    _, rows = _rows(folder, stream)
    added = rows[-1]
    code, out, report = _report(folder, tmp_path)
    assert code == 1, out
    findings = [f for f in report["findings"] if f["check"] == "added"]
    expected = f"{stream} event {name or added['event_id']} of log file {added['log_file_id']}"
    assert [f["item"] for f in findings] == [expected], report["findings"]
    assert report["counts"]["rows_proven"] == report["counts"]["rows_checked"] - 1
    assert f"FINDING added: {expected}: a row that is not a line of its raw file" in out


def test_a_conflicting_copy_of_an_event_row_is_named_by_column(
    inline_archive: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    """A second row for an event id, with other content, beside the true one."""
    folder = copy_of(inline_archive)
    _rewrite(folder, "events", _add_copy_of_event_row)
    _, rows = _rows(folder, "events")
    added = rows[-1]
    code, out, report = _report(folder, tmp_path)
    assert code == 1, out
    assert [(f["check"], f["item"]) for f in report["findings"]] == [
        (
            "column",
            f"events event {added['event_id']} ({added['type']}) of log file "
            f"{added['log_file_id']} column event",
        )
    ]


def _as_postgres_stores(value: Any) -> Any:
    """NUL -> U+FFFD in every string: what target-postgres's sanitize_null_text_characters does."""
    return json.loads(json.dumps(value).replace("\\u0000", "\\ufffd"))


def test_postgres_nul_replacement_is_a_note_not_a_finding(nul_run: TapRun) -> None:
    """The event with a NUL, as PostgreSQL holds it (U+FFFD), is found with a note; the same
    change in a JSONL archive, or any other change in PostgreSQL, stays a finding."""
    (with_nul,) = [m for m in nul_run.records["messages"] if "\x00" in (m["content_text"] or "")]
    stored = _as_postgres_stores(nul_run.records)
    postgres = Archive("postgres schema test", tables=stored, nul_replaced=True)
    report = verify(postgres)
    assert report.intact, report.text()
    assert report.counts["events_nul_replaced"] == 1
    (note,) = [n for n in report.notes if "NUL" in n]
    assert "1 events hold NUL" in note
    assert "U+FFFD" in note
    assert f"note: {note}" in report.text()

    jsonl = verify(Archive("jsonl test", tables=stored))
    item = f"messages event {with_nul['event_id']} of log file {with_nul['log_file_id']}"
    assert [(f.check, f.item) for f in jsonl.findings] == [
        ("column", f"{item} column content_text"),
        ("column", f"{item} column event"),
    ]
    assert not [n for n in jsonl.notes if "NUL" in n]

    (row,) = [m for m in stored["messages"] if m["id"] == with_nul["id"]]
    row["event"]["message"]["content"]["value"] = row["content_text"].replace("\ufffd", "")
    stripped = verify(Archive("postgres schema test", tables=stored, nul_replaced=True))
    assert [f.item.rsplit(" ", 1)[-1] for f in stripped.findings] == ["event"]
