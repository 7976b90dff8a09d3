"""verify and export over the workspace-object streams (issue 21): the bytes of knowledge,
project and library files, and a custodian's canvases, memories and GPTs in a production.

Archives are written by real tap runs against a small simulated workspace (one log sync, every
workspace stream selected), laid out as target-jsonl does; tampering edits the copy.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import json
import shutil
import subprocess
import typing as t
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tap_chatgpt_compliance.evidence.export_text import file_stem
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tap_chatgpt_compliance.workspace_rows import derive_row
from tests.support.evidence import postgres_dsn
from tests.support.simulators import running
from tests.support.tap import TapRun
from tests.tap.test_workspace_objects import run_objects

from .conftest import cli, write_jsonl

FILE_STREAMS = ("gpt_files", "project_files", "library_file_contents")
SELECTED = {
    "log_files",
    "log_file_parts",
    "messages",
    "conversations",
    "files",
    "file_parts",
    "users",
    "gpts",
    "projects",
    "gpt_configs",
    "project_configs",
    "library_files",
    "canvases",
    "canvas_versions",
    "memories",
    "memory_entries",
    *FILE_STREAMS,
    *(f"{s}_parts" for s in FILE_STREAMS),
}
INLINE_BYTES = 16_384
"""Files above this go to ``<stream>_parts``; below it, into the record's content_base64."""


def _ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A small workspace whose first user has a canvas of 300 versions."""
    config = SimulatorConfig(
        seed=2121,
        users=3,
        conversations=3,
        span_days=0.5,
        rate_limits=False,
        inventory=Inventory(
            config_versions_per_day=1.0, heavy_user_canvases=1, heavy_user_versions=300
        ),
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def inline_run(sim: Simulator) -> TapRun:
    return _ok(
        run_objects(
            sim,
            SELECTED,
            max_inline_file_bytes=INLINE_BYTES,
            event_types=["CONVERSATION_MESSAGE"],
        )
    )


@pytest.fixture(scope="module")
def storage_run(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[TapRun, Path]:
    store = tmp_path_factory.mktemp("store")
    run = run_objects(
        sim,
        SELECTED,
        file_content="storage",
        file_storage_url=str(store),
        seal_storage_url="none",
        event_types=["CONVERSATION_MESSAGE"],
    )
    return _ok(run), store


def _chained(
    records: dict[str, list[dict[str, Any]]], stream: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Link rows after the stream's newest row, as the tap writes every REST row."""
    last = max(records[stream], key=lambda r: r["chain_seq"])
    state = {
        chain.HEAD_KEY: last["chain_hash"],
        chain.SEQ_KEY: last["chain_seq"],
        rest_chain.HEAD_KEY_KEY: rest_chain.record_key(stream, last),
    }
    staged = rest_chain.StagedRestChain(state, stream)
    for row in rows:
        staged.link(row)
    return rows


def _archive(records: dict[str, list[dict[str, Any]]], folder: Path) -> Path:
    return write_jsonl(json.loads(json.dumps(records)), folder)


def _verify(folder: Path) -> tuple[int, dict[str, Any]]:
    from .conftest import verify_cli

    report = folder.parent / f"{folder.name}-report.json"
    done = verify_cli("--jsonl", str(folder), "--report", str(report))
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, json.loads(report.read_text())


def _lines(report: dict[str, Any]) -> list[str]:
    return [f"{f['check']}: {f['item']}: {f['detail']}" for f in report["findings"]]


def _archived(records: dict[str, Any], stream: str, *, parts: bool) -> dict[str, Any]:
    """Return the first archived record of a stream kept inline (parts, or content_base64)."""
    for record in records[stream]:
        if record["status"] != "archived":
            continue
        if parts == (record["content_base64"] is None):
            return t.cast("dict[str, Any]", record)
    pytest.skip(f"no archived {stream} record {'in parts' if parts else 'inline'}")


# --------------------------------------------------------------------------- verify: file bytes


def test_intact_archives_verify_every_file(
    inline_run: TapRun, storage_run: tuple[TapRun, Path], tmp_path: Path
) -> None:
    """Both archives verify; every archived knowledge, project and library file is counted."""
    for name, run in (("inline", inline_run), ("storage", storage_run[0])):
        code, report = _verify(_archive(run.records, tmp_path / name))
        assert code == 0, _lines(report)[:5]
        archived = {
            (s, r["id"]) for s in FILE_STREAMS for r in run.records[s] if r["status"] == "archived"
        }
        assert {s for s, _ in archived} == set(FILE_STREAMS), name
        assert report["counts"]["stored_files_verified"] == len(archived), name
        assert report["counts"]["stored_files_archived"] == len(archived), name


@pytest.mark.parametrize("stream", FILE_STREAMS)
def test_altered_part_of_a_stored_file_is_one_finding(
    inline_run: TapRun, stream: str, tmp_path: Path
) -> None:
    """A part of a knowledge/project/library file altered (same length): one finding."""
    records = json.loads(json.dumps(inline_run.records))
    victim = _archived(records, stream, parts=True)
    part = next(p for p in records[f"{stream}_parts"] if p["file_id"] == victim["id"])
    data = bytearray(base64.b64decode(part["content_base64"]))
    data[len(data) // 2] ^= 0x01
    part["content_base64"] = base64.b64encode(bytes(data)).decode("ascii")
    code, report = _verify(_archive(records, tmp_path / "altered"))
    assert code == 1
    lines = _lines(report)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"attachment: {stream} {victim['id']}: bytes altered"), lines


@pytest.mark.parametrize("stream", FILE_STREAMS)
def test_missing_and_truncated_stored_file_bytes(
    inline_run: TapRun, stream: str, tmp_path: Path
) -> None:
    """A part removed, and a file's inline content truncated: one finding each."""
    records = json.loads(json.dumps(inline_run.records))
    in_parts = _archived(records, stream, parts=True)
    records[f"{stream}_parts"] = [
        p
        for p in records[f"{stream}_parts"]
        if not (p["file_id"] == in_parts["id"] and p["part_index"] == 1)
    ]
    inline = next(
        (
            r
            for s in FILE_STREAMS
            for r in records[s]
            if r["status"] == "archived" and r["content_base64"]
        ),
        None,
    )
    assert inline is not None, "no file small enough to be inline: lower its size"
    inline["content_base64"] = inline["content_base64"][: len(inline["content_base64"]) // 8 * 4]
    code, report = _verify(_archive(records, tmp_path / "cut"))
    assert code == 1
    lines = _lines(report)
    assert len(lines) == 2, lines
    assert any(f"{stream} {in_parts['id']}: " in x and "missing" in x for x in lines), lines
    assert any(f" {inline['id']}: bytes altered" in x for x in lines), lines
    assert report["verdict"] == "FAILED"


def _stored(run: TapRun, stream: str) -> dict[str, Any]:
    return next(r for r in run.records[stream] if r["status"] == "archived")


@pytest.mark.parametrize("stream", FILE_STREAMS)
def test_storage_object_altered_truncated_or_removed(
    storage_run: tuple[TapRun, Path], stream: str, tmp_path: Path
) -> None:
    """The content store: an object rewritten, cut short or deleted is one finding each time."""
    run, store = storage_run
    folder = _archive(run.records, tmp_path / "archive")
    victim = _stored(run, stream)
    uri = victim["storage_uri"]
    assert uri.endswith(f"/sha256/{victim['sha256'][:2]}/{victim['sha256']}")
    path = Path(uri.removeprefix("file://"))
    assert path.is_file()
    assert store in path.parents
    original = path.read_bytes()
    try:
        for tamper, data in (
            ("altered", bytes([original[0] ^ 0x01]) + original[1:]),
            ("truncated", original[: len(original) // 2]),
            ("removed", None),
        ):
            path.chmod(0o644)
            if data is None:
                path.unlink()
            else:
                path.write_bytes(data)
            code, report = _verify(folder)
            assert code == 1, tamper
            lines = _lines(report)
            assert len(lines) == 1, (tamper, lines)
            assert lines[0].startswith(f"attachment: {stream} {victim['id']}: "), lines
            assert ("no object at" in lines[0]) == (tamper == "removed"), lines
    finally:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(original)
    assert _verify(folder)[0] == 0


def test_storage_uri_pointing_elsewhere(storage_run: tuple[TapRun, Path], tmp_path: Path) -> None:
    """A record's storage_uri moved to another object (not its content address): a finding."""
    run, _ = storage_run
    records = json.loads(json.dumps(run.records))
    first, second = [r for r in records["gpt_files"] if r["status"] == "archived"][:2]
    assert first["sha256"] != second["sha256"]
    first["storage_uri"] = second["storage_uri"]
    code, report = _verify(_archive(records, tmp_path / "moved"))
    assert code == 1
    lines = _lines(report)
    assert any(f"gpt_files {first['id']}: storage_uri" in x for x in lines), lines
    shutil.rmtree(tmp_path / "moved")


# --------------------------------------------------------------------------- export: objects

EXPORT_TIME = "2026-12-05T12:00:00Z"


def _export(folder: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = cli(
        "export", "--jsonl", str(folder), "--out", str(out), "--export-time", EXPORT_TIME, *args
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done


def _gpt_owner(records: dict[str, Any]) -> str:
    return str(json.loads(records["gpts"][0]["raw_item"])["owner_id"])


def _objects_csv(out: Path) -> list[dict[str, str]]:
    with (out / "production_objects.csv").open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def _all_text(out: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file()
    )


def test_export_includes_the_custodians_canvases_memories_and_gpts(
    sim: Simulator, inline_run: TapRun, tmp_path: Path
) -> None:
    """Every canvas version, memory entry and GPT configuration of the custodian, numbered;
    nothing of another user; the knowledge files' names and verified SHA-256."""
    records = inline_run.records
    custodian = _gpt_owner(records)
    truth = sim.inventory_truth()
    canvases = {cid: c for cid, c in truth["canvases"].items() if c["user_id"] == custodian}
    assert canvases
    assert max(len(c["versions"]) for c in canvases.values()) >= 300
    out = tmp_path / "production"
    done = _export(_archive(records, tmp_path / "archive"), out, "--custodian", custodian)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _objects_csv(out)
    numbers = [r["production_number"] for r in rows]
    assert len(set(numbers)) == len(numbers)
    got_versions = {(r["object_id"], r["item_id"]) for r in rows if r["kind"] == "canvas_version"}
    assert got_versions == {
        (cid, str(v["version"])) for cid, c in canvases.items() for v in c["versions"]
    }
    heavy = max(canvases, key=lambda cid: len(canvases[cid]["versions"]))
    page = (out / f"html/canvases/{file_stem(heavy)}.html").read_text(encoding="utf-8")
    for version in canvases[heavy]["versions"]:
        assert html.escape(version["content"]) in page
    # Memories: the custodian's entries only (by entry id: texts repeat across users).
    mine = {e for e, x in truth["memory_entries"].items() if x["user_id"] == custodian}
    others = {e for e, x in truth["memory_entries"].items() if x["user_id"] != custodian}
    shown = {r["item_id"] for r in rows if r["kind"] == "memory_entry"}
    current = {
        entry["id"]
        for context in truth["memories"][custodian]["memory_contexts"]
        for entry in context["memory_entries"]
    }
    assert current <= shown <= mine
    text = _all_text(out)
    assert not any(entry in text for entry in others)
    assert not any(cid in text for cid, c in truth["canvases"].items() if c["user_id"] != custodian)
    # GPTs they own, with every configuration archived and the knowledge files' hashes.
    owned = {
        json.loads(g["raw_item"])["id"]
        for g in records["gpts"]
        if json.loads(g["raw_item"]).get("owner_id") == custodian
    }
    configs = {(r["object_id"], r["item_id"]) for r in rows if r["kind"] == "gpt_configuration"}
    assert configs == {(gid, c["id"]) for gid in owned for c in truth["gpt_configs"].get(gid, [])}
    files = {r["id"]: r for r in records["gpt_files"]}
    for gid in owned:
        gpt_page = (out / f"html/gpts/{file_stem(gid)}.html").read_text(encoding="utf-8")
        for config in truth["gpt_configs"][gid]:
            assert html.escape(config["instructions"]) in gpt_page
            for info in config["files"]["data"]:
                assert html.escape(info["name"]) in gpt_page
                record = files[info["id"]]
                if record["status"] == "archived":
                    assert record["sha256"] in gpt_page
                    included = list((out / "html/gpts/files").glob(f"{file_stem(info['id'])}-*"))
                    assert len(included) == 1
                    assert hashlib.sha256(included[0].read_bytes()).hexdigest() == record["sha256"]
    manifest = json.loads((out / "production_manifest.json").read_text())
    kinds = {f["kind"] for f in manifest["files"]}
    assert {"canvas", "memories", "gpt", "objects"} <= kinds


def _copy(run: TapRun) -> dict[str, Any]:
    return t.cast("dict[str, Any]", json.loads(json.dumps(run.records)))


class _Parsed(HTMLParser):
    """The elements and the text of a page, as an HTML parser reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def test_hostile_canvas_is_shown_as_text(inline_run: TapRun, tmp_path: Path) -> None:
    """A canvas served with HTML, script, bidi controls, CR/LF and formula-leading names, under
    an id that is a path: inert text on the page, one CSV row per version, a safe file name."""
    records = _copy(inline_run)
    custodian = _gpt_owner(records)
    workspace = records["canvas_versions"][0]["workspace_id"]
    hostile = "../Evil/<b>x"
    served = [
        {
            "content": "<script>alert(1)</script>\u202eevil\r\nnext line",
            "name": '=HYPERLINK("http://x.invalid")\r\nX-Injected: 1',
            "version": 1,
            "updated_at": "2026-12-01T10:00:00Z",
            "comments": [
                {"type": "comment", "id": "c1", "start": 0, "end": 8, "content": "<img src=x>"}
            ],
        },
        {
            "content": "+SUM(A1)\u2066",
            "name": "@cmd",
            "version": 2,
            "updated_at": "2026-12-01T11:00:00Z",
            "comments": [],
        },
    ]
    parent = {"user_id": custodian, "textdoc_id": hostile, "textdoc_type": "document"}
    records["canvas_versions"] += _chained(
        records,
        "canvas_versions",
        [derive_row("canvas_versions", item, workspace, parent) for item in served],
    )
    out = tmp_path / "production"
    done = _export(_archive(records, tmp_path / "archive"), out, "--custodian", custodian)
    assert done.returncode == 0, done.stderr[-2000:]
    page_path = out / "html" / "canvases" / f"{file_stem(hostile)}.html"
    assert page_path.parent.resolve() == (out / "html" / "canvases").resolve()
    assert not (out / "Evil").exists()
    page = page_path.read_bytes().decode("utf-8")  # line ends as written
    for raw in ("<script", "<img", "<b>x", "\u202e", "\u2066"):
        assert raw not in page, raw
    title = page[page.index("<title>") : page.index("</title>")]
    assert "\r" not in title
    assert "\n" not in title
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\u202eevil" in page
    assert "&lt;img src=x&gt;" in page
    assert "X-Injected: 1</title>" not in page
    parsed = _Parsed()
    parsed.feed(page)
    assert {"script", "img"}.isdisjoint(parsed.tags), parsed.tags
    assert "<script>alert(1)</script>\\u202eevil\r\nnext line" in parsed.text
    assert "<img src=x>" in parsed.text
    assert "\\r\\nX-Injected" in page
    rows = [r for r in _objects_csv(out) if r["object_id"] == hostile]
    assert [r["item_id"] for r in rows] == ["1", "2"]
    assert rows[0]["title"].startswith("'=HYPERLINK")
    assert rows[1]["title"] == "'@cmd"
    assert not any("\r" in v or "\n" in v for r in rows for v in r.values())
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<b>x" not in index
    assert "\r" not in index


@pytest.mark.parametrize(
    "tamper",
    [
        "canvas_content",
        "canvas_raw_item",
        "gpt_instructions",
        "memory_moved",
        "canvas_moved",
        "config_moved",
        "knowledge_bytes",
    ],
)
def test_export_refuses_unproven_objects(inline_run: TapRun, tamper: str, tmp_path: Path) -> None:
    """An object row that verify cannot prove: refused, nothing written; with
    --allow-findings the page is stamped, and nothing of another user or of altered bytes."""
    records = _copy(inline_run)
    custodian = _gpt_owner(records)
    mine = [r for r in records["canvas_versions"] if r["user_id"] == custodian]
    named = ""
    if tamper == "canvas_content":
        mine[0]["content"] = "I never wrote this."
        named = mine[0]["textdoc_id"]
    elif tamper == "canvas_raw_item":
        item = json.loads(mine[0]["raw_item"])
        item["content"] = "I never wrote this."
        mine[0]["raw_item"] = json.dumps(item, sort_keys=True, separators=(",", ":"))
        named = mine[0]["textdoc_id"]
    elif tamper == "gpt_instructions":
        config = records["gpt_configs"][0]
        config["instructions"] = "Always approve the loan."
        named = config["gpt_id"]
    elif tamper == "canvas_moved":  # one version of another user's canvas, to the custodian
        theirs = next(r for r in records["canvas_versions"] if r["user_id"] != custodian)
        theirs["user_id"] = custodian
        named = f"canvas {theirs['textdoc_id']}"
    elif tamper == "config_moved":  # a GPT's latest configuration, to another GPT
        gpts = [json.loads(g["raw_item"]) for g in records["gpts"]]
        latest = gpts[1]["latest_config"]["data"][0]["id"]
        config = next(c for c in records["gpt_configs"] if c["id"] == latest)
        config["gpt_id"] = gpts[0]["id"]
        named = f"gpt configuration {latest}"
    elif tamper == "memory_moved":
        other = next(m for m in records["memories"] if m["id"] != custodian)
        other["id"] = custodian
        named = "memories"
    else:
        victim = next(
            r
            for r in records["gpt_files"]
            if r["status"] == "archived" and r["content_base64"] is None
        )
        part = next(p for p in records["gpt_files_parts"] if p["file_id"] == victim["id"])
        part["content_base64"] = base64.b64encode(b"forged").decode("ascii")
        named = victim["id"]
    folder = _archive(records, tmp_path / "archive")
    out = tmp_path / "refused"
    done = _export(folder, out, "--custodian", custodian)
    assert done.returncode == 1
    assert "refused" in done.stderr
    assert any(named in line for line in done.stderr.splitlines() if line.startswith("FINDING"))
    assert not out.exists() or not any(out.iterdir())
    if tamper not in ("canvas_content", "memory_moved", "knowledge_bytes"):
        return  # the stamped production of the others shows nothing more (test time)
    stamped = tmp_path / "stamped"
    done = _export(folder, stamped, "--custodian", custodian, "--allow-findings")
    assert done.returncode == 0, done.stderr[-2000:]
    text = _all_text(stamped)
    assert "NOT PROVEN" in text
    if tamper == "canvas_content":  # that canvas's versions are marked, no other canvas
        canvases = stamped / "html" / "canvases"
        page = (canvases / f"{file_stem(named)}.html").read_text(encoding="utf-8")
        assert "NOT PROVEN: named in the verify report" in page
        others = [p for p in canvases.glob("*.html") if p.name != f"{file_stem(named)}.html"]
        assert others
        assert not any(
            "named in the verify report" in p.read_text(encoding="utf-8") for p in others
        )
        # The production manifest counts the items each page shows marked, as the csv marks.
        marked = [r for r in _objects_csv(stamped) if r["note"]]
        manifest = json.loads((stamped / "production_manifest.json").read_text(encoding="utf-8"))
        counts = {f["path"]: f["not_proven"] for f in manifest["files"]}
        by_page = Counter(r["html_path"].split("#", 1)[0] for r in marked)
        assert by_page[f"html/canvases/{file_stem(named)}.html"] > 0
        assert {p: counts[p] for p in by_page} == by_page
        assert manifest["not_proven"]["objects"] == len(marked)
    if tamper == "memory_moved":
        theirs = json.loads(other["raw_item"])
        for context in theirs["memory_contexts"]:
            for entry in context["memory_entries"]:
                assert entry["id"] not in text
    if tamper == "knowledge_bytes":
        pages = "".join(p.read_text() for p in (stamped / "html/gpts").glob("*.html"))
        assert f"sha256 {victim['sha256']}" not in pages  # only in the stamped findings
        assert "not included: archived bytes missing or not matching their SHA-256" in pages
        assert not list((stamped / "html/gpts/files").glob(f"{file_stem(victim['id'])}-*"))


def test_range_keeps_the_version_in_force_and_needs_no_message(
    sim: Simulator, inline_run: TapRun, tmp_path: Path
) -> None:
    """--since/--until: the versions in the range and the one in force at --since; a range
    without any message still produces the objects; the same export twice is byte-identical."""
    records = inline_run.records
    custodian = _gpt_owner(records)
    truth = sim.inventory_truth()["canvases"]
    heavy = max(
        (c for c in truth if truth[c]["user_id"] == custodian),
        key=lambda c: len(truth[c]["versions"]),
    )
    versions = truth[heavy]["versions"]
    since, until = versions[150]["updated_at"], versions[200]["updated_at"]
    folder = _archive(records, tmp_path / "archive")
    outs = []
    for name in ("one", "two"):
        out = tmp_path / name
        done = _export(folder, out, "--custodian", custodian, "--since", since, "--until", until)
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(out)
    rows = [r for r in _objects_csv(outs[0]) if r["object_id"] == heavy]
    assert [int(r["item_id"]) for r in rows] == [v["version"] for v in versions[149:200]]
    assert not (outs[0] / "rsmf").exists() or not any((outs[0] / "rsmf").iterdir())
    assert (outs[0] / "production_manifest.json").read_bytes() == (
        outs[1] / "production_manifest.json"
    ).read_bytes()


# --------------------------------------------------------------------------- other stores


def _first_part(records: dict[str, Any], stream: str) -> dict[str, Any]:
    victim = _archived(records, stream, parts=True)
    return next(p for p in records[f"{stream}_parts"] if p["file_id"] == victim["id"])


@pytest.mark.e2e
def test_s3_archive_knowledge_file_part_altered(
    inline_run: TapRun, s3_client: Any, s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """target-s3 layout on moto: intact, then a knowledge file's part rewritten: one finding."""
    from .conftest import verify_cli

    prefix = "chatgpt-compliance/acme"
    records = _copy(inline_run)

    def upload(streams: dict[str, list[dict[str, Any]]]) -> None:
        for stream, rows in streams.items():
            body = "".join(json.dumps(r) + "\n" for r in rows).encode()
            s3_client.put_object(
                Bucket=s3_bucket, Key=f"{prefix}/{stream}/{stream}-1.jsonl", Body=body
            )

    def findings() -> tuple[int, list[str]]:
        report = tmp_path / "report.json"
        done = verify_cli(
            "--s3",
            f"s3://{s3_bucket}/{prefix}",
            "--endpoint-url",
            s3_endpoint,
            "--report",
            str(report),
        )
        assert "Traceback" not in done.stdout + done.stderr
        return done.returncode, _lines(json.loads(report.read_text()))

    upload(records)
    code, lines = findings()
    assert code == 0, lines
    part = _first_part(records, "gpt_files")
    part["content_base64"] = base64.b64encode(b"x" * 10).decode("ascii")
    upload({"gpt_files_parts": records["gpt_files_parts"]})
    code, lines = findings()
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"attachment: gpt_files {part['file_id']}: bytes altered"), lines


@pytest.mark.e2e
@pytest.mark.soak  # ~10 s (the target-postgres load): out of the default suite's budget
def test_postgres_archive_knowledge_file_part_altered(
    inline_run: TapRun, pg_database: dict[str, str], pg_query: Any, tmp_path: Path
) -> None:
    """Loaded by the installed target-postgres: intact, then a part's bytes updated in SQL."""
    from .conftest import verify_cli
    from .test_meltano_verify import load_postgres

    load = load_postgres(inline_run.stdout, pg_database, tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    dsn = postgres_dsn(pg_database)

    def findings() -> tuple[int, list[str]]:
        report = tmp_path / "report.json"
        done = verify_cli("--postgres", dsn, "--schema", "acme", "--report", str(report))
        assert "Traceback" not in done.stdout + done.stderr
        return done.returncode, _lines(json.loads(report.read_text()))

    code, lines = findings()
    assert code == 0, lines
    assert inline_run.records["library_file_contents_parts"]
    (file_id,) = pg_query(
        "SELECT file_id FROM acme.library_file_contents_parts WHERE part_index = 0 LIMIT 1"
    )[0]
    pg_query(
        "UPDATE acme.library_file_contents_parts SET content_base64 = 'eHh4' "
        "WHERE file_id = %s AND part_index = 0 RETURNING 1",
        file_id,
    )
    code, lines = findings()
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"attachment: library_file_contents {file_id}: bytes altered")


def test_canvas_ids_that_would_share_a_page_are_an_error(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """A canvas id equal to another's hashed file name: one line, exit 1, never a page lost."""
    records = _copy(inline_run)
    custodian = _gpt_owner(records)
    workspace = records["canvas_versions"][0]["workspace_id"]
    item = {"content": "x", "name": None, "version": 1, "updated_at": "2026-12-01T10:00:00Z"}
    for textdoc_id in ("case/1", file_stem("case/1")):
        parent = {"user_id": custodian, "textdoc_id": textdoc_id, "textdoc_type": "document"}
        row = derive_row("canvas_versions", item, workspace, parent)
        records["canvas_versions"] += _chained(records, "canvas_versions", [row])
    done = _export(
        _archive(records, tmp_path / "archive"), tmp_path / "out", "--custodian", custodian
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "would share the name 'html/canvases/case_1_" in last


def test_a_forged_memories_row_on_a_dead_end_branch_is_exported_not_proven(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """The custodian's memories rewritten and chained beside the real row, no row after it:
    the shape of a killed run's row after the memories changed, so verify says ``consistent,
    unproven`` (no finding) and export is not refused; what it shows of the memories is
    marked NOT PROVEN (verify's Report.unproven_rows)."""
    records = _copy(inline_run)
    real = next(
        r
        for r in records["memories"]
        if r["chain_previous"] != chain.GENESIS
        and json.loads(r["raw_item"])["memory_contexts"][0]["memory_entries"]
    )
    custodian = str(real["id"])
    item = json.loads(real["raw_item"])
    entry = item["memory_contexts"][0]["memory_entries"][0]
    entry["content"] = "I never said this."
    forged = {
        **derive_row("memories", item, real["workspace_id"]),
        **{c: real[c] for c in rest_chain.COLUMNS},
    }
    forged["chain_hash"] = rest_chain.chain_hash(forged["chain_previous"], forged, "memories")
    records["memories"].append(forged)
    out = tmp_path / "production"
    done = _export(_archive(records, tmp_path / "archive"), out, "--custodian", custodian)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [r for r in _objects_csv(out) if r["kind"] == "memory_entry"]
    assert rows
    assert all(r["note"] == "NOT PROVEN: named in the verify report" for r in rows), rows[:3]
