"""Attack round 15 on export: what verify did not prove is marked wherever it is shown."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from pathlib import Path

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.export import Exporter
from tap_chatgpt_compliance.evidence.export_text import file_stem
from tap_chatgpt_compliance.evidence.provenance import RAW_LESS, UNPROVEN_MARK
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import EVENT_TYPES, cli, ok, write_jsonl
from .test_attack_export10 import _user
from .test_export_hazards import AT, _archive, _event
from .test_export_proven import _custodian, _rsmf, _text
from .test_partly_anchored import _heads

MALLORY = "mallory@example.com"


def test_messages_of_log_files_without_raw_bytes_are_marked_not_proven(
    sim: Simulator, tmp_path: Path
) -> None:
    """``file_content: none``: verify says the values cannot be traced to OpenAI's bytes
    (``consistent, unproven``, a limitation, no finding). Found: every message was rendered
    unmarked (pages, RSMF events, production_messages.csv), under a page head saying messages
    are traced to raw files hashing to OpenAI's SHA-256. Now verify lists those log files in
    ``Report.unproven_rows`` and each of their messages is marked NOT PROVEN."""
    run = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, file_content="none")))
    folder = write_jsonl(run.records, tmp_path / "archive")
    _, mail = _custodian(run.records)
    out = tmp_path / "out"
    done = cli("export", "--jsonl", str(folder), "--custodian", mail, "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((out / "production_messages.csv").read_text())))
    assert rows
    assert all(r["note"] == UNPROVEN_MARK for r in rows), rows[:2]
    for page in (out / "html").glob("*.html"):
        shown = _text(page)
        assert shown.count(UNPROVEN_MARK) >= sum(
            r["html_path"].startswith(f"html/{page.name}#") for r in rows
        ), page
    for path in out.glob("rsmf/*.rsmf"):
        _, manifest = _rsmf(path)
        for event in manifest["events"]:
            custom = {c["name"]: c["value"] for c in event["custom"]}
            assert custom.get("verify") == UNPROVEN_MARK, event["id"]
        provenance = {c["name"]: c["value"] for c in manifest["conversations"][0]["custom"]}
        assert RAW_LESS in provenance["provenance"]
    # The page heads and skims no longer say only that messages are traced to OpenAI's hash.
    for page in (out / "html").glob("*.html"):
        assert RAW_LESS in _text(page), page


def test_production_manifest_marks_what_is_not_proven(inline_run: TapRun, tmp_path: Path) -> None:
    """An attachment's bytes swapped with its files record: verify names the attachment and its
    message; with --allow-findings pages and RSMF mark both NOT PROVEN. Found: the production
    manifest (json and csv) listed the attachment file, the transcript and the RSMF file like
    any other, no mark and no count of what they show unproven. Now each file entry gives the
    items it shows NOT PROVEN (``not_proven``, the csv's ``note``), each conversation its
    messages, and the head the totals, equal to what the pages and csv mark."""
    records = json.loads(json.dumps(inline_run.records))
    target = records["files"][0]
    forged = b"FORGED BYTES"
    target.update(
        content_base64=base64.b64encode(forged).decode(),
        sha256=hashlib.sha256(forged).hexdigest(),
        size=len(forged),
    )
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    conversation = target["conversation_id"]
    done = cli(
        "export",
        *("--jsonl", str(folder), "--conversation", conversation, "--out", str(out)),
        "--allow-findings",
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((out / "production_messages.csv").read_text())))
    marked = [r for r in rows if r["note"] == UNPROVEN_MARK]
    assert marked
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    files = {f["path"]: f for f in manifest["files"]}
    attachment = next(
        p for p in files if p.startswith(f"html/attachments/{file_stem(target['id'])}")
    )
    assert files[attachment]["not_proven"] == 1
    assert files[f"html/{conversation}.html"]["not_proven"] == len(marked)
    # An RSMF file counts its messages and the attachments of its zip so marked.
    holding = sum(
        any(
            a["id"].startswith(file_stem(target["id"]))
            for event in _rsmf(path)[1]["events"]
            for a in event.get("attachments", [])
        )
        for path in out.glob("rsmf/*.rsmf")
    )
    assert holding
    rsmf_marked = sum(f["not_proven"] for f in files.values() if f["kind"] == "rsmf")
    assert rsmf_marked == len(marked) + holding
    assert manifest["conversations"][conversation]["not_proven"] == len(marked)
    assert manifest["not_proven"] == {"messages": len(marked), "attachments": 1, "objects": 0}
    table = {
        r["path"]: r
        for r in csv.DictReader(
            io.StringIO((out / "production_manifest.csv").read_text(encoding="utf-8"))
        )
    }
    assert UNPROVEN_MARK in table[attachment]["note"]
    assert UNPROVEN_MARK in table[f"html/{conversation}.html"]["note"]
    assert table["index.html"]["note"] == ""
    # In the RSMF, the attachment as a viewer lists it (its display) says so too.
    shown = [
        a["display"]
        for path in out.glob("rsmf/*.rsmf")
        for event in _rsmf(path)[1]["events"]
        for a in event.get("attachments", [])
        if a["id"].startswith(file_stem(target["id"]))
    ]
    assert shown
    assert all(d == f"{target['name']} ({UNPROVEN_MARK})" for d in shown), shown


def test_a_participant_a_finding_names_is_marked_wherever_named(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """A users row whose name was altered (``Fox Mulder`` for another user's account): verify
    names the row (its chain breaks). Found: with --allow-findings, every page showed the
    messages' author and the custodian as ``Fox Mulder <their email>`` and the RSMF participant
    carried the altered name, none marked (a REST finding marks objects, never a message). Now
    the name is followed by the NOT PROVEN mark on the pages, in the skim and in the RSMF
    participant (its display and a ``verify`` field)."""
    records = json.loads(json.dumps(inline_run.records))
    user_id, _ = _custodian(records)
    user = next(u for u in records["users"] if u["id"] == user_id)
    item = json.loads(user["raw_item"])
    item["name"] = user["name"] = "Fox Mulder"
    user["raw_item"] = json.dumps(item, separators=(",", ":"))
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        *("--jsonl", str(folder), "--custodian", user_id, "--out", str(out)),
        "--allow-findings",
    )
    assert done.returncode == 0, done.stderr
    for page in [out / "index.html", *(out / "html").glob("*.html")]:
        _assert_marked(_text(page), "Fox Mulder", page)
    for path in out.glob("rsmf/*.rsmf"):
        message, manifest = _rsmf(path)
        (participant,) = [p for p in manifest["participants"] if p["id"] == user_id]
        assert participant["display"] == f"Fox Mulder <{item['email']}> ({UNPROVEN_MARK})"
        assert {"name": "verify", "value": UNPROVEN_MARK} in participant["custom"]
        _assert_marked(message.get_body(("plain",)).get_content(), "Fox Mulder", path)


def _assert_marked(text: str, name: str, where: object) -> None:
    """Every time ``name`` is shown, the NOT PROVEN mark follows it (in its line)."""
    at = text.find(name)
    assert at >= 0, where
    while at >= 0:
        rest = text[at : at + len(name) + 120].split("\n", 1)[0]
        assert UNPROVEN_MARK in rest, (where, rest)
        at = text.find(name, at + 1)


def test_a_long_unbroken_run_breaks_inside_the_page(tmp_path: Path) -> None:
    """A message (or a name, a title) holding a long run without a space: ``white-space:
    pre-wrap`` breaks at spaces only, so the run went on past the page's edge (checked with
    headless Chromium: the words after it were off the page, cut off in a printout or PDF).
    Now every page breaks such a run inside the page (``overflow-wrap: anywhere``, inherited by
    every element; the short labels of the head table stay whole)."""
    run = "A" * 2_000
    events = [_event("c1", f"title {run}", "m1", f"I agree {run} NOT", AT.format(1))]
    out = tmp_path / "out"
    with Exporter(_archive(events)) as exporter:
        exporter.export(out, custodian="dana@example.com")
    for page in [out / "index.html", *(out / "html").glob("*.html")]:
        text = page.read_text(encoding="utf-8")
        style = text[text.index("<style>") + 7 : text.index("</style>")]
        rules = dict(
            (selector.strip(), body)
            for selector, body in (r.split("{", 1) for r in style.split("}") if "{" in r)
        )
        assert "overflow-wrap:anywhere" in rules["body"], page
        for selector, body in rules.items():
            if selector != "table.head th":  # labels: Custodian, Workspace, …
                assert "nowrap" not in body, selector
                assert "white-space:pre;" not in body, selector


def test_a_name_holding_another_address_never_reads_as_its_user_s(tmp_path: Path) -> None:
    """Mallory names herself ``Dana Scully <dana@example.com>`` in the users listing (a REST
    answer). Found: her messages read ``Dana Scully <dana@example.com> <mallory@example.com>``
    on the pages, in the skim and as the RSMF participant: the first address a reviewer reads is
    Dana's. Now the brackets and ``@`` of a listed name are shown escaped: only the address a
    delivered event carried is shown as one."""
    forged = "Dana Scully <dana@example.com>"
    events = [
        _event("conv-m", "T", "m1", "I approve", AT.format(1), user="user-M", user_email=MALLORY),
        _event("conv-m", "T", "m2", "ok", AT.format(2), user="user-Dana"),
    ]
    tables = {
        **_archive(events).tables,
        "users": [
            _user("user-M", MALLORY, forged),
            _user("user-Dana", "dana@example.com", "Dana Scully"),
        ],
    }
    out = tmp_path / "out"
    with Exporter(sources.Archive("synthetic", tables=tables)) as exporter:
        exporter.export(out, custodian="user-M")
    shown = [_text(p) for p in [out / "index.html", *(out / "html").glob("*.html")]]
    (path,) = out.glob("rsmf/*.rsmf")
    message, manifest = _rsmf(path)
    shown.append(message.get_body(("plain",)).get_content())
    shown += [p["display"] for p in manifest["participants"]]
    for text in shown:
        assert "Dana Scully <dana@example.com> <" not in text
    mallory = next(p for p in manifest["participants"] if p["id"] == "user-M")
    assert mallory["display"] == (
        "Dana Scully \\u003cdana\\u0040example.com\\u003e <mallory@example.com>"
    )


def test_messages_after_every_anchored_head_are_marked_not_proven(
    sim: Simulator, tmp_path: Path
) -> None:
    """An older state given (``--state``): verify says ``consistent, partly anchored`` (the log
    files after its head could have been appended or rewritten by whoever can write the
    archive). Found: the export rendered their messages unmarked, like the anchored ones. Now
    each message of a log file after every anchor's head is marked NOT PROVEN, the others
    not."""
    run = ok(run_tap(tap_config(sim, event_types=["CONVERSATION_MESSAGE"])))
    final = _heads(run.states[-1])["CONVERSATION_MESSAGE"]
    older = next(
        state
        for state in reversed(run.states)
        if 0 < _heads(state).get("CONVERSATION_MESSAGE", 0) < final
    )
    reach = _heads(older)
    beyond = {
        r["id"] for r in run.records["log_files"] if r["chain_seq"] > reach.get(r["event_type"], 0)
    }
    folder = write_jsonl(run.records, tmp_path / "archive")
    state = tmp_path / "older.json"
    state.write_text(json.dumps(older))
    out = tmp_path / "out"
    rows = []
    for user_id in sorted({m["actor_user_id"] for m in run.records["messages"]} - {None}):
        done = cli(
            "export",
            *("--jsonl", str(folder), "--custodian", user_id, "--state", str(state)),
            *("--out", str(out / user_id)),
        )
        assert done.returncode == 0, done.stderr
        manifest = json.loads((out / user_id / "production_manifest.json").read_text())
        assert "partly anchored" in manifest["verify"]["verdict"]
        text = (out / user_id / "production_messages.csv").read_text(encoding="utf-8")
        rows += list(csv.DictReader(io.StringIO(text)))
    marked = {r["message_id"] for r in rows if r["note"] == UNPROVEN_MARK}
    assert marked
    assert marked != {r["message_id"] for r in rows}
    assert marked == {r["message_id"] for r in rows if r["log_file_id"] in beyond}
