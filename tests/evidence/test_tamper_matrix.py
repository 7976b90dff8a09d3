"""The tamper matrix of issue 16: every alteration measured on main, each alone, on a JSONL
archive of the simulator; ``verify --state`` must say FAILED and name it, never ``intact``.

One archive per mode (inline, storage) is made once per module and copied per case.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import chain
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import EVENT_TYPES, ok, verify_cli, write_jsonl

CM = "CONVERSATION_MESSAGE"
Rows = list[dict[str, Any]]


class Folder:
    """A copy of an archive: streams read and written whole (small archives)."""

    def __init__(self, root: Path, store: Path | None = None) -> None:
        self.root, self.store = root, store

    def path(self, stream: str) -> Path:
        (path,) = self.root.glob(f"{stream}-*.jsonl*")
        return path

    def rows(self, stream: str) -> Rows:
        return [json.loads(line) for line in self.path(stream).read_text().splitlines() if line]

    def write(self, stream: str, rows: Rows) -> None:
        self.path(stream).write_text("".join(json.dumps(r) + "\n" for r in rows))

    def edit(self, stream: str, change: Callable[[Rows], Rows | None]) -> None:
        rows = self.rows(stream)
        result = change(rows)
        self.write(stream, rows if result is None else result)


def _newest(folder: Folder, event_type: str = CM) -> dict[str, Any]:
    return max(
        (r for r in folder.rows("log_files") if r["event_type"] == event_type),
        key=lambda r: r["chain_seq"],
    )


def _drop_files(folder: Folder, ids: set[str]) -> None:
    for stream in (
        "log_file_parts",
        "messages",
        "conversations",
        "events",
        "unparsed_lines",
        "files",
    ):
        if list(folder.root.glob(f"{stream}-*.jsonl")):
            folder.edit(stream, lambda rows: [r for r in rows if r.get("log_file_id") not in ids])
    folder.edit("log_files", lambda rows: [r for r in rows if r["id"] not in ids])


def tail_truncation(folder: Folder) -> None:
    _drop_files(folder, {_newest(folder)["id"]})


def event_type_deleted(folder: Folder) -> None:
    _drop_files(
        folder, {r["id"] for r in folder.rows("log_files") if r["event_type"] == "AUTH_LOG"}
    )


def _first_message(rows: Rows) -> dict[str, Any]:
    return next(r for r in rows if r.get("content_text"))


def message_text(folder: Folder) -> None:
    folder.edit("messages", lambda rows: _first_message(rows).update(content_text="I agreed."))


def message_created_at(folder: Folder) -> None:
    folder.edit(
        "messages",
        lambda rows: _first_message(rows).update(created_at="2020-01-01T00:00:00.000000+00:00"),
    )


def message_actor(folder: Folder) -> None:
    folder.edit(
        "messages", lambda rows: _first_message(rows).update(actor_email="someone@else.example")
    )


def message_author(folder: Folder) -> None:
    folder.edit("messages", lambda rows: _first_message(rows).update(author_type="assistant"))


def message_conversation(folder: Folder) -> None:
    folder.edit("messages", lambda rows: _first_message(rows).update(conversation_id="another"))


def conversation_title(folder: Folder) -> None:
    folder.edit("conversations", lambda rows: rows[0].update(title="Merger plans"))


def user_email(folder: Folder) -> None:
    folder.edit("users", lambda rows: rows[0].update(email="ceo@example.com"))


def _rechain(folder: Folder, event_type: str) -> None:
    """Recompute every chain hash of an event type, as someone who knows the algorithm would."""
    rows = folder.rows("log_files")
    previous = chain.GENESIS
    for record in sorted(
        (r for r in rows if r["event_type"] == event_type), key=lambda r: r["chain_seq"]
    ):
        record["chain_previous"] = previous
        record["chain_hash"] = previous = chain.chain_hash(previous, record)
    folder.write("log_files", rows)


def append_chained_copy(folder: Folder, event_type: str) -> dict[str, Any]:
    """Chain a copy of the newest log file of ``event_type`` after it (its parts and events
    too), as someone who can write the archive would: consistent in itself. Return the copied
    (formerly newest) manifest record."""
    manifest = folder.rows("log_files")
    last = max((r for r in manifest if r["event_type"] == event_type), key=lambda r: r["chain_seq"])
    extra = {
        **last,
        "id": f"{last['id']}y",
        "chain_seq": last["chain_seq"] + 1,
        "chain_previous": last["chain_hash"],
    }
    extra["chain_hash"] = chain.chain_hash(last["chain_hash"], extra)
    folder.write("log_files", [*manifest, extra])
    for stream in ("log_file_parts", "events"):
        rows = folder.rows(stream)
        copies = [{**r, "log_file_id": extra["id"]} for r in rows if r["log_file_id"] == last["id"]]
        folder.write(stream, [*rows, *copies])
    return last


def full_rewrite(folder: Folder) -> None:
    """One raw line changed; its file's SHA-256 (both), parts, row and chain hashes recomputed."""
    target = _newest(folder)
    parts = folder.rows("log_file_parts")
    (part,) = [p for p in parts if p["log_file_id"] == target["id"]]
    data = base64.b64decode(part["content_base64"])
    lines = data.split(b"\n")
    event = json.loads(lines[0])
    event["message"]["content"] = {"type": "text", "value": "I agreed."}
    lines[0] = json.dumps(event, separators=(",", ":")).encode()
    data = b"\n".join(lines)
    sha = hashlib.sha256(data).hexdigest()
    part.update(content_base64=base64.b64encode(data).decode(), sha256=sha, size=len(data))
    folder.write("log_file_parts", parts)
    messages = folder.rows("messages")
    for row in messages:
        if row["event_id"] == event["event_id"]:
            row.update(event=event, content_text="I agreed.")
    folder.write("messages", messages)
    rows = folder.rows("log_files")
    for record in rows:
        if record["id"] == target["id"]:
            record.update(
                provider_sha256=sha,
                verified_sha256=sha,
                bytes_downloaded=len(data),
                file_size=len(data),
            )
    folder.write("log_files", rows)
    _rechain(folder, CM)


def raw_downgrade(folder: Folder) -> None:
    target = _newest(folder)
    folder.edit(
        "log_files",
        lambda rows: (
            [
                r.update(raw_content="none", raw_part_count=None)
                if r["id"] == target["id"]
                else None
                for r in rows
            ]
            and rows
        ),
    )
    folder.edit(
        "log_file_parts", lambda rows: [p for p in rows if p["log_file_id"] != target["id"]]
    )


def duplicate_key(folder: Folder) -> None:
    def change(rows: Rows) -> Rows:
        extra = json.loads(json.dumps(_first_message(rows)))
        extra["content_text"] = "a second version"
        return [*rows, extra]

    folder.edit("messages", change)


def empty_manifest(folder: Folder) -> None:
    folder.path("log_files").write_text("")


def junk_manifest(folder: Folder) -> None:
    folder.path("log_files").write_text('this is not json\n{"half": \n')


def junk_line(folder: Folder) -> None:
    path = folder.path("messages")
    path.write_text(path.read_text() + "garbage\n")


def truncated_gzip(folder: Folder) -> None:
    path = folder.path("log_file_parts")
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    (folder.root / (path.name + ".gz")).write_bytes(packed[: len(packed) // 2])


def bad_part_index(folder: Folder) -> None:
    folder.edit("log_file_parts", lambda rows: rows[0].update(part_index="one"))


def missing_part(folder: Folder) -> None:
    folder.edit("log_file_parts", lambda rows: rows[1:])


def _archived(rows: Rows) -> dict[str, Any]:
    return next(r for r in rows if r["status"] == "archived")


def attachment_replaced(folder: Folder) -> None:
    """Storage mode: bytes replaced (at the same object) and the record's sha256 updated."""
    rows = folder.rows("files")
    record = _archived(rows)
    data = b"other bytes"
    Path(record["storage_uri"]).write_bytes(data)
    record.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    folder.write("files", rows)


def attachment_downgraded(folder: Folder) -> None:
    rows = folder.rows("files")
    record = _archived(rows)
    Path(record["storage_uri"]).unlink()
    record.update(
        status="expired", status_reason="HTTP 410", sha256=None, storage_uri=None, size=None
    )
    folder.write("files", rows)


def attachment_deleted(folder: Folder) -> None:
    rows = folder.rows("files")
    gone = _archived(rows)["id"]
    folder.write("files", [r for r in rows if r["id"] != gone])


INLINE = {
    "tail truncation": (tail_truncation, "anchor", "shorter than its anchor"),
    "event type deleted": (event_type_deleted, "anchor", "a whole event type was removed"),
    "message content_text": (message_text, "column", "column content_text"),
    "message created_at": (message_created_at, "column", "column created_at"),
    "message actor": (message_actor, "column", "column actor_email"),
    "message author": (message_author, "column", "column author_type"),
    "message conversation_id": (message_conversation, "column", "column conversation_id"),
    "conversation title": (conversation_title, "column", "column title"),
    "user email": (user_email, "column", "users"),
    "full rewrite": (full_rewrite, "anchor", "rewritten"),
    "raw_content downgraded": (raw_downgrade, "raw", "downgraded"),
    "conflicting duplicate": (duplicate_key, "column", "column content_text"),
    "empty manifest": (empty_manifest, "read", "manifest is empty"),
    "junk manifest": (junk_manifest, "read", "not JSON"),
    "junk line": (junk_line, "read", "not JSON"),
    "truncated gzip": (truncated_gzip, "read", "unreadable"),
    "non-integer part_index": (bad_part_index, "raw", "not an integer"),
    "missing part": (missing_part, "raw", "incomplete"),
}
STORAGE = {
    "attachment bytes replaced": (attachment_replaced, "attachment", "content address"),
    "attachment downgraded": (attachment_downgraded, "chain", "files record"),
    "attachment record deleted": (attachment_deleted, "attachment", "no files record"),
}


@pytest.fixture(scope="module")
def storage_run(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[TapRun, Path]:
    store = tmp_path_factory.mktemp("store")
    config = tap_config(
        sim, event_types=EVENT_TYPES, file_content="storage", file_storage_url=str(store)
    )
    return ok(run_tap(config)), store


@pytest.fixture(scope="module")
def storage_archive(
    storage_run: tuple[TapRun, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write_jsonl(storage_run[0].records, tmp_path_factory.mktemp("storage"))


def _state_file(run: TapRun, where: Path) -> Path:
    path = where / "state.json"
    path.write_text(json.dumps(run.state))
    return path


def _verify(folder: Path, state: Path | None, tmp: Path) -> tuple[int, str, dict[str, Any]]:
    report = tmp / "report.json"
    args = ["--jsonl", str(folder), "--report", str(report)]
    if state is not None:
        args += ["--state", str(state)]
    done = verify_cli(*args)
    assert "Traceback" not in done.stdout + done.stderr
    data = json.loads(report.read_text()) if report.exists() else {}
    return done.returncode, done.stdout + done.stderr, data


@pytest.fixture
def fresh(tmp_path: Path) -> Callable[..., Folder]:
    def copy(folder: Path, store: Path | None = None) -> Folder:
        target = tmp_path / "archive"
        shutil.copytree(folder, target)
        return Folder(target, store)

    return copy


def test_clean_archive_is_intact_only_when_anchored(
    inline_archive: Path, inline_run: TapRun, tmp_path: Path
) -> None:
    code, out, report = _verify(inline_archive, _state_file(inline_run, tmp_path), tmp_path)
    assert code == 0, out
    assert report["verdict"] == "intact"
    assert out.strip().splitlines()[-1].startswith("VERDICT: intact (anchored: state state.json)")
    counts = report["counts"]
    assert counts["rows_proven"] == counts["rows_checked"] > 0
    # the anchors cover log files, attachments and the REST streams' chains: no limitation
    # is left for the REST rows (rows of a tap before their chain keep it:
    # tests/evidence/test_directory_chain.py)
    assert counts["directory_rows"] > 0
    assert [x for x in report["limitations"] if "rows of the REST streams" in x] == []
    assert "cannot be detected" not in out
    assert {"users", "gpts", "projects"} <= set(report["chains"]), report["chains"]
    code, out, report = _verify(inline_archive, None, tmp_path)
    assert code == 0
    assert report["verdict"] == "consistent"
    assert (
        "VERDICT: consistent, unanchored — truncation and full rewrites cannot be ruled out" in out
    )
    assert "VERDICT: intact" not in out


@pytest.mark.parametrize("how", list(INLINE))
def test_inline_tampering_fails(
    how: str, inline_archive: Path, inline_run: TapRun, fresh: Callable[..., Folder], tmp_path: Path
) -> None:
    change, check, words = INLINE[how]
    folder = fresh(inline_archive)
    change(folder)
    code, out, report = _verify(folder.root, _state_file(inline_run, tmp_path), tmp_path)
    assert code == 1, out
    assert "VERDICT: FAILED" in out, out
    assert "intact" not in out.splitlines()[-1]
    lines = [f"{f['check']}: {f['item']}: {f['detail']}" for f in report["findings"]]
    assert any(line.startswith(check) and words in line for line in lines), lines
    # Without the anchor it is never "intact" either.
    code, out, _ = _verify(folder.root, None, tmp_path)
    assert "VERDICT: intact" not in out


@pytest.mark.parametrize("how", list(STORAGE))
def test_storage_tampering_fails(
    how: str,
    storage_archive: Path,
    storage_run: tuple[TapRun, Path],
    fresh: Callable[..., Folder],
    tmp_path: Path,
) -> None:
    run, store = storage_run
    saved = tmp_path / "store-copy"
    shutil.copytree(store, saved)
    try:
        change, check, words = STORAGE[how]
        folder = fresh(storage_archive, store)
        code, out, _ = _verify(folder.root, _state_file(run, tmp_path), tmp_path)
        assert code == 0, out
        change(folder)
        code, out, report = _verify(folder.root, _state_file(run, tmp_path), tmp_path)
        assert code == 1, out
        lines = [f"{f['check']}: {f['item']}: {f['detail']}" for f in report["findings"]]
        assert any(line.startswith(check) and words in line for line in lines), lines
    finally:
        shutil.rmtree(store)
        shutil.copytree(saved, store)


def test_unreadable_state_is_one_line(inline_archive: Path, tmp_path: Path) -> None:
    bad = tmp_path / "state.json"
    bad.write_text("not a state")
    done = verify_cli("--jsonl", str(inline_archive), "--state", str(bad), process=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "no state in it" in done.stderr


def test_state_from_singer_output_and_meltano(
    inline_archive: Path, inline_run: TapRun, tmp_path: Path
) -> None:
    singer = tmp_path / "singer.jsonl"
    singer.write_text(inline_run.stdout)
    meltano = tmp_path / "meltano.json"
    meltano.write_text(json.dumps({"singer_state": inline_run.state}))
    for state in (singer, meltano):
        code, out, report = _verify(inline_archive, state, tmp_path)
        assert code == 0, out
        assert report["verdict"] == "intact"


def test_a_slice_verifies_the_rows_of_its_log_files_only(
    inline_archive: Path, inline_run: TapRun, fresh: Callable[..., Folder]
) -> None:
    """verify(log_file_ids=…): what export uses for the conversations it renders."""
    folder = fresh(inline_archive)
    rows = folder.rows("messages")
    edited = _first_message(rows)
    edited["content_text"] = "I agreed."
    folder.write("messages", rows)
    other = next(r["log_file_id"] for r in rows if r["log_file_id"] != edited["log_file_id"])
    anchor = anchor_from_state(inline_run.state, "state")
    clean = verify(sources.from_jsonl(folder.root), anchor, log_file_ids={other})
    assert clean.intact, clean.text()
    assert clean.slice == [other]
    assert clean.status == "intact"
    found = verify(sources.from_jsonl(folder.root), anchor, log_file_ids={edited["log_file_id"]})
    assert [f.item.rsplit(" ", 1)[-1] for f in found.findings] == ["content_text"]


def test_seals_anchor_the_archive(sim: Simulator, tmp_path: Path) -> None:
    """verify --seals (a local seal folder): intact anchored by the seals; the newest log file
    removed with its rows is FAILED even without the state."""
    seals = tmp_path / "seals"
    run = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, seal_storage_url=str(seals))))
    folder = Folder(write_jsonl(run.records, tmp_path / "archive"))
    code, out, report = _verify_with(folder.root, ["--seals", str(seals)], tmp_path)
    assert code == 0, out
    assert report["verdict"] == "intact", out
    assert "VERDICT: intact (anchored: seals" in out
    tail_truncation(folder)
    code, out, report = _verify_with(folder.root, ["--seals", str(seals)], tmp_path)
    assert code == 1, out
    assert any(f["check"] == "seal" for f in report["findings"]), report["findings"]


def _verify_with(folder: Path, extra: list[str], tmp: Path) -> tuple[int, str, dict[str, Any]]:
    report = tmp / "report.json"
    done = verify_cli("--jsonl", str(folder), "--report", str(report), *extra)
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, done.stdout + done.stderr, json.loads(report.read_text())


@pytest.mark.parametrize(
    "scheme", ["http://127.0.0.1:{port}/store", "memory://store", "simplecache::file:///store"]
)
def test_a_storage_uri_of_no_object_store_is_never_opened(
    scheme: str,
    storage_archive: Path,
    storage_run: tuple[TapRun, Path],
    fresh: Callable[..., Folder],
    tmp_path: Path,
) -> None:
    """Whoever can write the archive points the attachments' storage_uri at a web address
    (still ending in their content address): verify and export fetched it (fsspec opens any
    URL). Now a finding, and not one request reaches the server."""
    import http.server
    import threading

    from tap_chatgpt_compliance.evidence.export import Exporter

    hits: list[str] = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = scheme.format(port=server.server_address[1])
        folder = fresh(storage_archive, storage_run[1])

        def moved(rows: Rows) -> None:
            for row in rows:
                if row.get("storage_uri"):
                    tail = row["storage_uri"].split("/sha256/", 1)[1]
                    row["storage_uri"] = f"{root}/sha256/{tail}"

        folder.edit("files", moved)
        anchor = anchor_from_state(storage_run[0].state or {}, "state")
        report = verify(sources.from_jsonl(folder.root), anchor)
        lines = [finding.line() for finding in report.findings]
        assert report.status == "FAILED"
        assert any("was not opened" in line for line in lines), lines
        with Exporter(sources.from_jsonl(folder.root)) as exporter:
            user = next(r["id"] for r in folder.rows("users"))
            with contextlib.suppress(
                Exception
            ):  # an empty selection is fine: no fetch is the point
                exporter.export(tmp_path / "out", custodian=user)
    finally:
        server.shutdown()
    assert hits == []


def test_a_stream_file_verify_would_skip_is_a_finding(
    inline_archive: Path, inline_run: TapRun, fresh: Callable[..., Folder]
) -> None:
    """A forged message in ``messages.jsonl.bak`` (or ``messages-2.ndjson``): verify skipped
    files not named ``<stream>[-…].jsonl[.gz]`` and said intact, while ``messages*`` globs
    read them."""
    folder = fresh(inline_archive)
    forged = {**folder.rows("messages")[0], "content_text": "I agreed to everything."}
    for name in ("messages.jsonl.bak", "messages-2.ndjson"):
        (folder.root / name).write_text(json.dumps(forged) + "\n")
    anchor = anchor_from_state(inline_run.state or {}, "state")
    report = verify(sources.from_jsonl(folder.root), anchor)
    lines = [finding.line() for finding in report.findings]
    assert report.status == "FAILED"
    assert [line for line in lines if line.startswith("read: file messages")] == [
        "read: file messages-2.ndjson: named like a file of messages but not "
        "<stream>[-…].jsonl[.gz]: verify does not read it, a reader of messages* would "
        "(rename or remove it)",
        "read: file messages.jsonl.bak: named like a file of messages but not "
        "<stream>[-…].jsonl[.gz]: verify does not read it, a reader of messages* would "
        "(rename or remove it)",
    ], lines
