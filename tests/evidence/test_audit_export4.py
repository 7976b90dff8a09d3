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
