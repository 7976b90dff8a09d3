"""Attack round 16 on export: what is shown unproven is marked in every output, and only that."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Quirks, SimulatorConfig
from chatgpt_compliance_simulator.pytest_plugin import DEFAULT_FIXTURE_CONFIG
from tap_chatgpt_compliance.evidence import dat, sources
from tap_chatgpt_compliance.evidence.export import Exporter, Stamp
from tap_chatgpt_compliance.evidence.provenance import UNPROVEN_MARK
from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import rest_chain
from tests.support.simulators import START, running, tiny_world
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import cli, ok, write_jsonl
from .test_attack_export10 import VALIDATOR, _file, _user
from .test_export_hazards import AT, WORKSPACE, _archive, _event
from .test_export_proven import _custodian, _rsmf, _text
from .test_rest_chain_review import _remove_a_user

MESSAGES = ["CONVERSATION_MESSAGE"]


class TwoRuns:
    """An archive of a run kept without raw bytes, then one with them; OpenAI delivered some
    events of the first run's files again in the second run's (at-least-once delivery)."""

    def __init__(self, first: TapRun, second: TapRun, folder: Path, state: Path) -> None:
        self.first = first
        self.second = second
        self.folder = folder
        self.state = state
        self.raw_less = {r["id"] for r in first.records["log_files"]}
        self.kept = {r["id"] for r in second.records["log_files"]}
        first_ids = {m["id"] for m in first.records["messages"]}
        self.both = first_ids & {m["id"] for m in second.records["messages"]}
        self.only_raw_less = first_ids - self.both

    def users(self) -> list[str]:
        """Every user who wrote a message."""
        rows = self.first.records["messages"] + self.second.records["messages"]
        return sorted({m["actor_user_id"] for m in rows if m["actor_user_id"]})

    def export(self, out: Path, user_id: str, *extra: str) -> list[dict[str, str]]:
        """Export a user's conversations (with the state, --dat); return the messages' rows."""
        done = cli(
            "export",
            *("--jsonl", str(self.folder), "--state", str(self.state)),
            *("--custodian", user_id, "--out", str(out), "--dat", *extra),
        )
        assert done.returncode == 0, done.stderr
        text = (out / "production_messages.csv").read_text(encoding="utf-8")
        return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    config = SimulatorConfig(
        **tiny_world(
            seed=4,
            conversations=3,
            messages_per_conversation=(6, 8),
            span_days=0.1,
            start=START,
        ),
        quirks=Quirks(duplicate_rate=1.0),
    )
    with running(config) as sim:
        first = ok(run_tap(tap_config(sim, event_types=MESSAGES, file_content="none")))
        sim.advance(timedelta(hours=1))  # the second deliveries of its last events
        second = ok(run_tap(tap_config(sim, event_types=MESSAGES), state=first.state))
    base = tmp_path_factory.mktemp("two-runs")
    folder = write_jsonl(first.records, base / "archive")
    write_jsonl(second.records, folder)  # appended, as a second target-jsonl run would
    state = base / "state.json"
    state.write_text(json.dumps(second.state))
    runs = TwoRuns(first, second, folder, state)
    assert runs.both, "no event delivered in both runs' log files"
    assert runs.only_raw_less
    return runs


def test_a_message_also_delivered_in_a_raw_kept_log_file_is_shown_from_it(
    two_runs: TwoRuns, tmp_path: Path
) -> None:
    """A run with ``file_content: none``, then one keeping raw bytes; OpenAI delivered some
    events again in the second run's files (at-least-once; each run drops only its own
    repeats): each such message has a row in a raw-less file and one in a raw-kept file, with
    the same delivered event. Found: the export showed the raw-less copy (the row read first)
    and marked the message NOT PROVEN, although the raw-kept copy proves it. Now the copy shown
    is a proven one (its log file named in production_messages.csv, the RSMF event and the
    manifests' sources), unmarked; a message only a raw-less file holds stays marked."""
    rows = []
    for user_id in two_runs.users():
        out = tmp_path / user_id
        rows += two_runs.export(out, user_id)
        for path in out.glob("rsmf/*.rsmf"):
            manifest = _rsmf(path)[1]
            assert not [e.message for e in VALIDATOR.iter_errors(manifest)], path
            for event in manifest["events"]:
                if event["id"] in two_runs.both:
                    custom = {c["name"]: c["value"] for c in event["custom"]}
                    assert "verify" not in custom, event["id"]
                    assert custom["log_file_id"] in two_runs.kept, event["id"]
    shown = {r["message_id"]: r for r in rows}
    assert two_runs.both <= set(shown)
    for message_id in two_runs.both:
        assert shown[message_id]["note"] == "", shown[message_id]
        assert shown[message_id]["log_file_id"] in two_runs.kept, shown[message_id]
    for message_id in two_runs.only_raw_less & set(shown):
        assert shown[message_id]["note"] == UNPROVEN_MARK, shown[message_id]


def test_production_dat_says_which_documents_show_items_not_proven(
    two_runs: TwoRuns, tmp_path: Path
) -> None:
    """production.dat (the Concordance load file a review platform loads) had no field saying
    NOT PROVEN: a document whose messages the pages and manifests mark loaded like a proven one
    (only the archive-wide VERIFYVERDICT). Now its last field ``NOTPROVEN`` says how many of the
    document's messages are marked, as production_manifest.csv's note says it; the load file
    still parses (header of names, þ quotes, U+0014 separators, CRLF)."""
    counted = 0
    for user_id in two_runs.users():
        out = tmp_path / user_id
        rows = two_runs.export(out, user_id)
        raw = (out / "production.dat").read_bytes()
        assert raw.startswith("\ufeff".encode())
        assert raw.endswith(b"\r\n")
        loaded = dat.parse(raw.decode("utf-8"))
        assert list(loaded[0]) == list(dat.FIELDS)
        assert dat.FIELDS[-1] == "NOTPROVEN"
        manifest = _manifest_rows(out)
        marked = {r["production_number"] for r in rows if r["note"] == UNPROVEN_MARK}
        assert {r["NATIVEPATH"] for r in loaded} == {
            p for p, r in manifest.items() if r["kind"] == "rsmf"
        }
        for row in loaded:
            numbers = [
                r["production_number"]
                for r in rows
                if row["BEGDOC"] <= r["production_number"] <= row["ENDDOC"]
            ]
            count = len(marked.intersection(numbers))
            assert row["NOTPROVEN"] == manifest[row["NATIVEPATH"]]["note"], row
            assert row["NOTPROVEN"] == (
                f"{UNPROVEN_MARK} ({count} shown so marked)" if count else ""
            ), row
            counted += count
    assert counted


def _manifest_rows(out: Path) -> dict[str, dict[str, Any]]:
    text = (out / "production_manifest.csv").read_text(encoding="utf-8")
    return {r["path"]: r for r in csv.DictReader(io.StringIO(text)) if r["path"]}


@pytest.mark.parametrize("forged", ["Dana Scully (user-Dana)", "Dana Scully \uff08user-Dana\uff09"])
def test_a_name_holding_another_user_id_never_reads_as_its_user_s(
    forged: str, tmp_path: Path
) -> None:
    """Mallory names herself ``Dana Scully (user-Dana)`` in the users listing (a REST answer),
    as a name followed by a user id reads everywhere. Found: the custodian line read ``Dana
    Scully (user-Dana) <mallory@example.com> (user-M)``, and her messages (no email delivered
    nor listed) ``Dana Scully (user-Dana) (user-M)`` on the pages, in the skim and as the RSMF
    participant: the first id a reviewer reads is Dana's. Now the parentheses of a listed name
    (and their full-width forms) are shown escaped, as its brackets and ``@`` are: only the
    user's own id is shown in parentheses."""
    events = [
        _event("conv-m", "T", "m1", "I approve", AT.format(1), user="user-M", user_email=""),
        _event("conv-m", "T", "m2", "ok", AT.format(2), user="user-M", user_email=""),
    ]
    tables = {**_archive(events).tables, "users": [_user("user-M", "", forged)]}
    out = tmp_path / "out"
    with Exporter(sources.Archive("synthetic", tables=tables)) as exporter:
        exporter.export(out, custodian="user-M", load_file=True)
    (path,) = out.glob("rsmf/*.rsmf")
    message, manifest = _rsmf(path)
    shown = [_text(p) for p in [out / "index.html", *(out / "html").glob("*.html")]]
    shown.append(message.get_body(("plain",)).get_content())
    shown += [p["display"] for p in manifest["participants"]]
    shown.append(json.loads((out / "production_manifest.json").read_text())["custodian"])
    shown += [r["CUSTODIAN"] for r in dat.parse((out / "production.dat").read_bytes().decode())]
    for text in shown:
        assert "user-Dana" in text
        assert "(user-Dana" not in text, text
        assert "\uff08user-Dana" not in text, text
    assert not [e.message for e in VALIDATOR.iter_errors(manifest)]
    mallory = next(p for p in manifest["participants"] if p["id"] == "user-M")
    assert mallory["display"].startswith("Dana Scully \\u")
    assert mallory["display"].endswith(" (user-M)")


def test_the_skim_marks_each_message_not_proven(two_runs: TwoRuns, tmp_path: Path) -> None:
    """An RSMF file's plain-text skim (the email body a reviewer reads first, one line per
        message) showed every message alike: the NOT PROVEN mark was only in the RSMF events and on
        the pages, a skim's line of a message kept without raw bytes read as a proven one. Now the
        line of each message marked elsewhere carries the mark before its author (where no text of
    the archive is: a listed name's parentheses are escaped), the others not."""
    checked = 0
    for user_id in two_runs.users():
        out = tmp_path / user_id
        rows = {r["production_number"]: r for r in two_runs.export(out, user_id)}
        for path in out.glob("rsmf/*.rsmf"):
            skim = _rsmf(path)[0].get_body(("plain",)).get_content()
            for line in skim.splitlines():
                number = line.split(" ", 1)[0]
                if number not in rows:
                    continue
                checked += 1
                marked = rows[number]["note"] == UNPROVEN_MARK
                assert line.startswith(f"{number} ["), line
                after_time = line[line.find("] ") + 2 :]
                assert after_time.startswith(f"({UNPROVEN_MARK}) ") == marked, line
    assert checked


@pytest.mark.parametrize(
    ("stream", "column"), [("log_files", "file_name"), ("files", "name")], ids=str
)
def test_what_no_chain_can_hash_again_is_marked_not_proven(
    inline_run: TapRun, stream: str, column: str, tmp_path: Path
) -> None:
    """A chained field in no row of its stream (deselected in the catalog): no record of that
    chain can be hashed again, so whoever can write the archive can replace a log file's raw
    bytes with its SHA-256 and rows, or an attachment's bytes with its ``sha256`` and size,
    unseen; verify says ``consistent, unproven`` in a limitation, naming no row. Found: the
    export showed every message and attachment unmarked, its bytes ``SHA-256 verified``.
    Now every message of such a manifest's log files, and every attachment of such a files
    chain, is marked NOT PROVEN (``Report.unproven_rows``)."""
    records = json.loads(json.dumps(inline_run.records))
    for row in records[stream]:
        row.pop(column, None)
    folder = write_jsonl(records, tmp_path / "archive")
    attachments = {f["id"] for f in records["files"] if f.get("status") == "archived"}
    assert attachments
    user_id = next(
        m["actor_user_id"]
        for m in records["messages"]
        if m["actor_user_id"] and m.get("attachment_ids")
    )
    out = tmp_path / "out"
    done = cli("export", "--jsonl", str(folder), "--custodian", user_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    assert "unproven" in manifest["verify"]["verdict"], manifest["verify"]
    text = (out / "production_messages.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    shown = [f for f in manifest["files"] if f["kind"] == "attachment"]
    assert rows
    assert shown
    for path in out.glob("rsmf/*.rsmf"):
        assert not [e.message for e in VALIDATOR.iter_errors(_rsmf(path)[1])], path
    if stream == "log_files":
        assert all(r["note"] == UNPROVEN_MARK for r in rows), rows
    else:
        assert all(f["not_proven"] == 1 for f in shown), shown
        assert "included but named in the verify report (NOT PROVEN)" in done.stdout


def test_rest_rows_proven_by_no_link_are_named_for_the_export(tmp_path: Path) -> None:
    """An upserting archive (one row per key, a later run's row replacing an earlier one): a
    user the API stopped listing keeps its first run's row, which no kept row links to; a row
    forged into replaced positions looks the same. verify says ``consistent, unproven`` and
    names up to five such rows in a limitation. Found: no row was named in
    ``Report.unproven_rows``, so an export showed them (a name, a canvas version) unmarked.
    Now every such row is named there, as the rows of a dead-end branch are."""
    config = SimulatorConfig(
        **{**DEFAULT_FIXTURE_CONFIG, "seed": 77, "span_days": 0.2, "conversations": 2, "users": 6},
        rate_limits=False,
    )
    with running(config) as sim:
        first = ok(run_tap(tap_config(sim, event_types=["AUTH_LOG"])))
        gone = _remove_a_user(sim)
        second = ok(run_tap(tap_config(sim, event_types=["AUTH_LOG"]), state=first.state))
    records: dict[str, list[dict[str, Any]]] = {}
    for run in (first, second):
        for stream, rows in run.records.items():
            records.setdefault(stream, []).extend(rows)
    for stream in ("users", "gpts", "projects"):  # what a target keeping one row per key holds
        records[stream] = list({r["id"]: r for r in records.get(stream, [])}.values())
    archive = sources.from_jsonl(write_jsonl(records, tmp_path / "archive"))
    archive.upserts = True
    report = verify(archive, anchor_from_state(second.state, "state"))
    assert not report.findings, report.text()
    assert any("linked to by no kept row" in line for line in report.limitations)
    assert ("chain", f"users {gone}") in report.unproven_rows, report.unproven_rows


def test_rest_rows_written_before_their_chain_are_marked_not_proven(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """``users`` rows of a tap version before the REST chains (no chain columns): verify says
    they are proven by nothing (a limitation naming the stream, ``consistent, unproven``).
    Found: no row was named in ``Report.unproven_rows``, so the export showed the custodian's
    listed name (the users row's ``raw_item``) unmarked on every page and in the RSMF
    participant. Now each such row is named and the name is marked NOT PROVEN."""
    records = json.loads(json.dumps(inline_run.records))
    records["users"] = [rest_chain.without_chain(r) for r in records["users"]]
    folder = write_jsonl(records, tmp_path / "archive")
    user_id, _ = _custodian(records)
    name = next(json.loads(u["raw_item"])["name"] for u in records["users"] if u["id"] == user_id)
    out = tmp_path / "out"
    done = cli("export", "--jsonl", str(folder), "--custodian", user_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    assert "written before their chain" in manifest["verify"]["verdict"], manifest["verify"]
    assert manifest["custodian"].endswith(f"({UNPROVEN_MARK})"), manifest["custodian"]
    for path in out.glob("rsmf/*.rsmf"):
        rsmf = _rsmf(path)[1]
        assert not [e.message for e in VALIDATOR.iter_errors(rsmf)], path
        (participant,) = [p for p in rsmf["participants"] if p["id"] == user_id]
        assert participant["display"].startswith(name), participant
        assert {"name": "verify", "value": UNPROVEN_MARK} in participant["custom"], participant


def test_the_index_says_which_conversations_show_messages_not_proven(
    two_runs: TwoRuns, tmp_path: Path
) -> None:
    """index.html lists the conversations with their message counts: a conversation whose
    messages its transcript marks NOT PROVEN was listed like a proven one (the mark only on
    its title, when the title's own event was named). Now each entry says how many of its
    messages are marked, as production_manifest.json's ``not_proven``."""
    marked = 0
    for user_id in two_runs.users():
        out = tmp_path / user_id
        two_runs.export(out, user_id)
        manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
        index = _text(out / "index.html")
        for entry in manifest["conversations"].values():
            line = next(
                x
                for x in index.splitlines()
                if f"({entry['messages']} messages" in x and entry["production_numbers"] in x
            )
            count = entry["not_proven"]
            assert (f"{count} marked {UNPROVEN_MARK}" in line) == bool(count), line
            marked += count
    assert marked


def test_a_document_holding_an_attachment_not_proven_says_so_in_the_load_file(
    tmp_path: Path,
) -> None:
    """A message delivered in two log files; a finding names its attachment's row of one of
    them (``attachment A of log file eclf_2``): the message is shown from the other copy,
    unmarked, and the attachment is marked NOT PROVEN inside the RSMF file (its display and a
    ``verify`` field). Found: the RSMF file's ``not_proven`` counted its messages only, so
    production_manifest.csv's note and production.dat's ``NOTPROVEN`` said nothing of the
    document although it holds the marked attachment. Now an RSMF file counts the attachments
    of its zip so marked too."""
    data = b"attachment bytes"
    event = _event(
        "conv-a", "T", "m1", "see attached", AT.format(1), files=[{"id": "file-A", "name": "a.txt"}]
    )
    archive = _archive([event], files=[_file("file-A", data, "a.txt")])
    twice = {**archive.tables["messages"][0], "log_file_id": "eclf_2"}
    archive.tables["messages"].append(twice)
    archive.tables["log_files"].append({"id": "eclf_2", "workspace_id": WORKSPACE})
    item = "attachment file-A of log file eclf_2"
    stamp = Stamp(
        "VERDICT: FAILED — 1 findings", [f"attachment: {item}: bytes"], [("attachment", item)]
    )
    out = tmp_path / "out"
    with Exporter(archive) as exporter:
        exporter.export(out, custodian="dana@example.com", stamp=stamp, load_file=True)
    rows = list(csv.DictReader(io.StringIO((out / "production_messages.csv").read_text())))
    assert [r["note"] for r in rows] == [""]  # shown from the copy no finding names
    (path,) = out.glob("rsmf/*.rsmf")
    (event_shown,) = [e for e in _rsmf(path)[1]["events"] if e["type"] == "message"]
    assert event_shown["attachments"][0]["display"] == f"a.txt ({UNPROVEN_MARK})"
    manifest = _manifest_rows(out)
    rsmf = str(path.relative_to(out))
    assert manifest[rsmf]["note"] == f"{UNPROVEN_MARK} (1 shown so marked)"
    (loaded,) = dat.parse((out / "production.dat").read_bytes().decode("utf-8"))
    assert loaded["NOTPROVEN"] == manifest[rsmf]["note"]


def test_a_message_in_no_selection_is_counted_once_however_often_delivered(
    tmp_path: Path,
) -> None:
    """A message whose delivered event names no conversation is in no selection: the summary
    and production_manifest.json count it (``outside_every_selection``). Found: delivered in two
    log files (two rows, one event), it was counted twice. Now each message counts once."""
    lost = _event("conv-x", "T", "m-lost", "where am I", AT.format(2))
    del lost["conversation"]
    archive = _archive([_event("conv-a", "T", "m1", "hello", AT.format(1)), lost])
    again = {**archive.tables["messages"][1], "log_file_id": "eclf_2"}
    archive.tables["messages"].append(again)
    archive.tables["log_files"].append({"id": "eclf_2", "workspace_id": WORKSPACE})
    out = tmp_path / "out"
    with Exporter(archive) as exporter:
        exporter.export(out, custodian="dana@example.com")
    manifest = json.loads((out / "production_manifest.json").read_text(encoding="utf-8"))
    outside = manifest["outside_every_selection"]
    assert outside["messages_naming_no_conversation_or_time"] == 1, outside
