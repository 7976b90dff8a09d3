"""A fourth adversary's audit of ``export``: every rendered field, altered where it is stored.

One synthetic archive per module (messages built by the tap's own ``message_record`` from
delivered events, users/objects by its own ``derive_row``), altered one field at a time and
exported in-process. A value outside OpenAI's delivered log lines is either not shown or shown
with what it is (the tap's record, a REST answer no hash or chain covers): never as proven.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tap_chatgpt_compliance.directory_rows import derive_row as derive_directory_row
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export import (
    NOT_PROVEN_NAME,
    PROVENANCE,
    TAP_RECORD,
    Exporter,
)
from tap_chatgpt_compliance.workspace_rows import PARENT_KEYS, derive_row

from .test_export_hazards import AT, WORKSPACE, _archive, _event, _rsmf

SCHEMA = json.loads(
    (Path(__file__).with_name("rsmf") / "rsmf_schema_2_0_0.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft7Validator(
    SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
)
DATA = b"the archived attachment"
KNOWLEDGE = b"the knowledge file"
DANA = "user-Dana"
Archive = dict[str, list[dict[str, Any]]]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _user(ident: str, email_: str, name: str) -> dict[str, Any]:
    item = {"object": "user", "id": ident, "email": email_, "name": name}
    return derive_directory_row("users", item, WORKSPACE)


def _canvas(user: str, textdoc: str, content: str) -> dict[str, Any]:
    item = {"content": content, "name": "Plan", "version": 1, "updated_at": AT.format(0)}
    parent = {"user_id": user, "textdoc_id": textdoc, "textdoc_type": "document"}
    return derive_row("canvas_versions", item, WORKSPACE, parent)


def _config(gpt: str, ident: str, name: str, at: str) -> dict[str, Any]:
    item = {"id": ident, "name": name, "created_at": at, "instructions": f"be {name}"}
    item["files"] = [{"id": "file-K", "name": "kb.txt"}] if gpt == "g-dana" else []
    return derive_row("gpt_configs", item, WORKSPACE, {"gpt_id": gpt})


def _gpt(ident: str, owner: str, owner_email: str) -> dict[str, Any]:
    item = {"id": ident, "owner_id": owner, "owner_email": owner_email, "latest_config": []}
    return derive_directory_row("gpts", item, WORKSPACE)


def _tables() -> Archive:
    """The module's archive: a conversation with an attachment, users, a canvas, two GPTs."""
    files = [{"id": "file-A", "name": "report.pdf", "mime_type": "application/pdf"}]
    events = [
        _event("conv-1", "Quarterly plan", "m1", "hello", AT.format(1), files=files),
        _event("conv-1", "Quarterly plan", "m2", "reply", AT.format(2), author="assistant"),
    ]
    archive = _archive(events)
    return {
        **archive.tables,
        "conversations": [{"id": "conv-1", "title": "Quarterly plan"}],
        "users": [_user(DANA, "dana@example.com", "Dana Scully")],
        "files": [
            {
                "id": "file-A",
                "status": "archived",
                "sha256": _sha(DATA),
                "size": len(DATA),
                "name": "report.pdf",
                "mime_type": "application/pdf",
                "content_base64": base64.b64encode(DATA).decode(),
            }
        ],
        "canvas_versions": [
            _canvas(DANA, "tdoc-dana", "Dana's canvas"),
            _canvas("user-Other", "tdoc-other", "the canvas of another user"),
        ],
        "gpts": [_gpt("g-dana", DANA, "dana@example.com"), _gpt("g-other", "user-Other", "")],
        "gpt_configs": [
            _config("g-dana", "cfg-1", "Dana's GPT", AT.format(0)),
            _config("g-other", "cfg-9", "the other GPT", AT.format(0)),
        ],
        "gpt_files": [
            {
                "id": "file-K",
                "status": "archived",
                "sha256": _sha(KNOWLEDGE),
                "size": len(KNOWLEDGE),
                "content_base64": base64.b64encode(KNOWLEDGE).decode(),
            }
        ],
    }


@pytest.fixture(scope="module")
def tables() -> Archive:
    return _tables()


def _produce(tables: Archive, out: Path, custodian: str = DANA) -> Exporter:
    archive = sources.Archive("synthetic", tables=copy.deepcopy(tables))
    with Exporter(archive) as exporter:
        exporter.export(out, custodian=custodian)
    return exporter


def _units(out: Path) -> dict[str, str]:
    """Every text a reviewer reads, by where: files, and each RSMF's skim and manifest."""
    units = {}
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out))
        if path.suffix == ".rsmf":
            message, archive, manifest = _rsmf(path)
            skim = next(p for p in message.walk() if p.get_content_type() == "text/plain")
            units[f"{name} skim"] = skim.get_content()
            units[f"{name} headers"] = "\n".join(f"{k}: {v}" for k, v in message.items())
            units[f"{name} manifest"] = json.dumps(manifest, ensure_ascii=False)
            assert not [e.message for e in VALIDATOR.iter_errors(manifest)], name
            for entry in archive.namelist():
                assert entry == Path(entry).name, entry
                assert not entry.startswith("."), entry
        elif path.is_file() and path.suffix in (".html", ".json", ".csv", ".txt"):
            units[name] = path.read_text(encoding="utf-8")
    return units


def _alter(stream: str, match: dict[str, Any], **values: Any) -> Callable[[Archive], None]:
    def alter(tables: Archive) -> None:
        rows = [r for r in tables[stream] if all(r.get(k) == v for k, v in match.items())]
        assert rows, (stream, match)
        for row in rows:
            row.update(values)

    return alter


def _raw(stream: str, match: dict[str, Any], **values: Any) -> Callable[[Archive], None]:
    """Edit a REST row's ``raw_item`` together with its columns (what verify cannot see)."""

    def alter(tables: Archive) -> None:
        derive = derive_directory_row if stream in ("users", "gpts") else derive_row
        for n, row in enumerate(tables[stream]):
            if all(row.get(k) == v for k, v in match.items()):
                item = {**json.loads(row["raw_item"]), **values}
                parent = {k: row[k] for k in PARENT_KEYS.get(stream, ())}
                if derive is derive_row:
                    tables[stream][n] = derive(stream, item, WORKSPACE, parent)
                else:
                    tables[stream][n] = derive(stream, item, WORKSPACE)

    return alter


def _knowledge_swapped(tables: Archive) -> None:
    forged = b"FORGED knowledge bytes"
    tables["gpt_files"][0].update(
        sha256=_sha(forged), size=len(forged), content_base64=base64.b64encode(forged).decode()
    )


# (what is altered, how, the forged text, how it may be shown: None = never; else the label
#  every text showing it must carry)
CASES: list[tuple[str, Callable[[Archive], None], str, str | None]] = [
    (
        "messages.content_text",
        _alter("messages", {"id": "m1"}, content_text="FORGED"),
        "FORGED",
        None,
    ),
    (
        "messages.created_at",
        _alter("messages", {"id": "m1"}, created_at="2019-01-01T00:00:00+00:00"),
        "2019-01-01",
        None,
    ),
    (
        "messages.author_model",
        _alter("messages", {"id": "m2"}, author_model="FORGED-model"),
        "FORGED-model",
        None,
    ),
    (
        "messages.actor_email",
        _alter("messages", {"id": "m1"}, actor_email="forged@evil.example"),
        "forged@evil.example",
        None,
    ),
    (
        "conversations.title",
        _alter("conversations", {"id": "conv-1"}, title="FORGED title"),
        "FORGED title",
        None,
    ),
    (
        "users.email column",
        _alter("users", {"id": DANA}, email="forged@evil.example"),
        "forged@evil.example",
        None,
    ),
    ("users.name column", _alter("users", {"id": DANA}, name="FORGED Name"), "FORGED Name", None),
    # The delivered events carry Dana's email: an email only the users listing says is never
    # shown over it.
    (
        "users.raw_item email",
        _raw("users", {"id": DANA}, email="forged@evil.example"),
        "forged@evil.example",
        None,
    ),
    # A name only the users listing gives: shown, as what it is.
    (
        "users.raw_item name",
        _raw("users", {"id": DANA}, name="FORGED Name"),
        "FORGED Name",
        NOT_PROVEN_NAME,
    ),
    ("files.name column", _alter("files", {"id": "file-A"}, name="FORGED.exe"), "FORGED.exe", None),
    (
        "files.mime_type",
        _alter("files", {"id": "file-A"}, mime_type="FORGED/type"),
        "FORGED/type",
        None,
    ),
    (
        "canvas_versions.textdoc_type",
        _alter("canvas_versions", {"textdoc_id": "tdoc-dana"}, textdoc_type="FORGED-type"),
        "FORGED-type",
        TAP_RECORD,
    ),
    (
        "canvas_versions.user_id (a canvas moved whole)",
        _alter("canvas_versions", {"textdoc_id": "tdoc-other"}, user_id=DANA),
        "the canvas of another user",
        TAP_RECORD,
    ),
    (
        "canvas_versions.raw_item",
        _raw("canvas_versions", {"textdoc_id": "tdoc-dana"}, content="FORGED canvas"),
        "FORGED canvas",
        PROVENANCE["objects"],
    ),
    (
        "gpt_configs.gpt_id (a configuration moved)",
        _alter("gpt_configs", {"id": "cfg-9"}, gpt_id="g-dana"),
        "the other GPT",
        TAP_RECORD,
    ),
    (
        "gpt_configs.raw_item",
        _raw("gpt_configs", {"id": "cfg-1"}, instructions="FORGED rules"),
        "FORGED rules",
        PROVENANCE["objects"],
    ),
    ("gpt_files bytes and record", _knowledge_swapped, _sha(b"FORGED knowledge bytes"), TAP_RECORD),
]


@pytest.mark.parametrize(("field", "alter", "forged", "label"), CASES, ids=[c[0] for c in CASES])
def test_every_rendered_field_altered_where_it_is_stored(
    tables: Archive,
    tmp_path: Path,
    field: str,
    alter: Callable[[Archive], None],
    forged: str,
    label: str | None,
) -> None:
    """Each field the production renders, altered in the archive where it is stored (a row's
    column, or a REST row's raw_item with its columns, which verify cannot tell). Found:
    a users raw_item's email was shown over the one the delivered events carry, on every page,
    in RSMF and in ``To:``; a canvas's type (the tap's row, verify.UNPROVEN_COLUMNS), a canvas
    moved whole to the custodian, a configuration moved to their GPT and a knowledge file's
    bytes (on no chain) were shown as facts, and no page said which facts are OpenAI's bytes."""
    altered = copy.deepcopy(tables)
    alter(altered)
    out = tmp_path / "out"
    _produce(altered, out)
    units = _units(out)
    shown = {name: text for name, text in units.items() if forged in text}
    if label is None:
        assert not shown, f"{field}: shown in {sorted(shown)}"
        return
    assert shown, f"{field}: not produced at all (the case tests nothing)"
    # A CSV row names a file or item; the index and the JSON manifest list pages, and say
    # where each kind of fact comes from.
    summaries = ("index.html", "production_manifest.json")
    unlabelled = [
        n
        for n, text in shown.items()
        if label not in text
        and not n.endswith(".csv")
        and not (n in summaries and PROVENANCE["objects"] in text)
    ]
    assert not unlabelled, f"{field}: shown without {label!r} in {unlabelled}"


def test_an_email_that_is_no_address_never_breaks_the_rsmf_schema(tmp_path: Path) -> None:
    """The delivered events' actor email is any text the API sent; RSMF 2.0 requires a
    participant's ``email`` to be an address (``idn-email``). ``not an email`` was written
    there: the manifest failed the official schema (checked with its formats). It is kept,
    as a participant ``custom`` field."""
    events = [
        _event("conv-x", "T", "m1", "hi", AT.format(1), user="user-X", user_email="not an email"),
        _event(
            "conv-x",
            "T",
            "m2",
            "ok",
            AT.format(2),
            author="assistant",
            user="user-X",
            user_email="not an email",
        ),
    ]
    out = tmp_path / "out"
    with Exporter(_archive(events)) as exporter:
        exporter.export(out, custodian="user-X")
    (path,) = out.glob("rsmf/*.rsmf")
    manifest = _rsmf(path)[2]
    assert not [e.message for e in VALIDATOR.iter_errors(manifest)]
    (user,) = [p for p in manifest["participants"] if p["id"] == "user-X"]
    assert {"name": "email", "value": "not an email"} in user["custom"]


HOSTILE_NAMES = [
    "../../../etc/passwd",
    "/abs/path.txt",
    "C:\\Windows\\System32\\evil.dll",
    "a\u0000b.txt",
    "CON",
    "nul.txt",
    "x" * 300 + ".pdf",
    "same.txt",
    "same.txt",
    "..",
    "\ud83d.txt",
]


def test_hostile_names_and_text_stay_inert_inside_the_production(tmp_path: Path) -> None:
    """Delivered (proven) data is still hostile: a title and text holding HTML and script,
    attachment names that are paths (``../``, absolute, Windows), NUL, a lone surrogate, device
    names, a 300-character name, two attachments of one name. Every file lands inside the
    production under a safe name, every zip entry extracts inside its folder with its own bytes,
    the pages show the markup as text and every RSMF manifest validates with its formats.
    Found: the RSMF ``custom`` hash of each attachment was named by its display name alone, so
    the two ``same.txt`` had two ``sha256 same.txt`` fields, neither tied to its bytes."""
    title = "<script>alert(1)</script>\r\nX-Injected: 1\u0000"
    text = '<img src=x onerror="alert(1)"></div><script>alert(2)</script>'
    files = [{"id": f"file-H{n}", "name": name} for n, name in enumerate(HOSTILE_NAMES)]
    events = [
        _event("conv-h", title, "m1", text, AT.format(1), files=files),
        _event("conv-h", title, "m2", "ok", AT.format(2), author="assistant"),
    ]
    data = {f["id"]: f"bytes of {f['id']}".encode() for f in files}
    records = [
        {
            "id": ident,
            "status": "archived",
            "sha256": _sha(payload),
            "size": len(payload),
            "content_base64": base64.b64encode(payload).decode(),
        }
        for ident, payload in data.items()
    ]
    out = tmp_path / "out"
    with Exporter(_archive(events, files=records)) as exporter:
        exporter.export(out, conversation="conv-h")
    root = out.resolve()
    produced = [p for p in out.rglob("*") if p.is_file()]
    for path in produced:
        assert path.resolve().is_relative_to(root), path
        assert len(path.name.encode()) <= 255, path.name
        assert path.name.split(".")[0].lower() not in {"con", "nul", "prn", "aux"}, path.name
        assert all(c.isalnum() or c in "._-" for c in path.name), path.name
    attachments = {p.read_bytes() for p in (out / "html" / "attachments").iterdir()}
    assert attachments == set(data.values())  # one file each, the two "same.txt" included
    page = (out / "html" / "conv-h.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    (path,) = out.glob("rsmf/*.rsmf")
    message, archive, manifest = _rsmf(path)
    assert not [e.message for e in VALIDATOR.iter_errors(manifest)]
    assert "X-Injected" not in dict(message.items())
    assert manifest["events"][0]["body"] == text  # the exact delivered text, in JSON
    extracted = tmp_path / "extracted"
    archive.extractall(extracted)
    inside = {p.resolve() for p in extracted.rglob("*") if p.is_file()}
    assert all(p.is_relative_to(extracted.resolve()) for p in inside)
    assert len(inside) == len(HOSTILE_NAMES) + 1  # every attachment and the manifest
    (event,) = [e for e in manifest["events"] if e["id"] == "m1"]
    sha = {c["name"]: c["value"] for c in event["custom"] if c["name"].startswith("sha256 ")}
    named = [a["display"] for a in event["attachments"]]
    for attachment in event["attachments"]:
        label = attachment["display"]
        if named.count(label) > 1:  # two of one name: each hash names its own entry
            label = f"{label} ({attachment['id']})"
        assert sha[f"sha256 {label}"] == _sha(archive.read(attachment["id"])), label
    assert {archive.read(a["id"]) for a in event["attachments"]} == set(data.values())


def test_a_slice_renders_what_its_manifest_counts_from_the_files_verify_checks(
    tables: Archive, tmp_path: Path
) -> None:
    """A --since slice: every message rendered is counted once in production_manifest.json
    (total, per conversation, per file), in production_messages.csv and in RSMF; every source
    log file it names is one the slice asks verify to check; the objects counted are the
    objects numbered."""
    altered = copy.deepcopy(tables)
    late = [
        _event("conv-2", "Later", f"n{n}", f"late {n}", f"2026-11-27T10:00:0{n}.000000Z")
        for n in range(3)
    ]
    late_rows = _archive(late).tables["messages"]
    for row in late_rows:
        row["log_file_id"] = "eclf_2"
    altered["messages"] += late_rows
    altered["log_files"] = [
        {"id": "eclf_1", "workspace_id": WORKSPACE, "end_time": "2026-11-26T11:00:00Z"},
        {"id": "eclf_2", "workspace_id": WORKSPACE, "end_time": "2026-11-27T11:00:00Z"},
    ]
    since = datetime(2026, 11, 27, tzinfo=timezone.utc)
    out = tmp_path / "out"
    archive = sources.Archive("synthetic", tables=altered)
    with Exporter(archive) as exporter:
        _, selected = exporter.select(DANA, None, since, None)
        checked = set(exporter.slice_log_files(selected, since))
        production = exporter.export(out, custodian=DANA, since=since)
    listed = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    pages = [p.read_text(encoding="utf-8") for p in out.glob("html/*.html")]
    rendered = sum(page.count('<div class="msg ') for page in pages)
    rows = (out / "production_messages.csv").read_text(encoding="utf-8").splitlines()[1:]
    events = sum(
        sum(e["type"] == "message" for e in _rsmf(p)[2]["events"]) for p in out.glob("rsmf/*")
    )
    assert rendered == len(rows) == events == listed["message_count"] == 3
    assert listed["message_count"] == production.messages
    assert sum(c["messages"] for c in listed["conversations"].values()) == 3
    by_kind: dict[str, int] = {}
    for entry in listed["files"]:
        by_kind[entry["kind"]] = by_kind.get(entry["kind"], 0) + entry["message_count"]
        assert set(filter(None, entry["source_log_files"].split(";"))) <= checked, entry
    assert by_kind["html"] == by_kind["rsmf"] == 3
    numbered = (out / "production_objects.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert listed["object_count"] == len(numbered) == by_kind["objects"]
    assert listed["production_numbers"] == ["000001", f"{3 + len(numbered):06d}"]


def test_a_custodian_found_only_by_the_listing_s_email_is_said_so(
    tables: Archive, tmp_path: Path
) -> None:
    """The users listing (no hash or chain) says Dana's email is mallory@…; no delivered message
    carries it. ``--custodian mallory@…`` still finds Dana (an address moves between accounts),
    but the production says how she was found: not by a proven value."""
    forged = copy.deepcopy(tables)
    _raw("users", {"id": DANA}, email="mallory@evil.example")(forged)
    exporter = _produce(forged, tmp_path / "listing", custodian="mallory@evil.example")
    manifest = json.loads((tmp_path / "listing" / "production_manifest.json").read_text())
    assert DANA in manifest["custodian"]
    assert "users listing" in manifest["custodian"], manifest["custodian"]
    assert "not proven" in manifest["custodian"]
    assert exporter.custodian_note
    proven = _produce(tables, tmp_path / "proven", custodian="dana@example.com")
    assert proven.custodian_note is None
    by_id = _produce(tables, tmp_path / "by-id", custodian=DANA)
    assert by_id.custodian_note is None
