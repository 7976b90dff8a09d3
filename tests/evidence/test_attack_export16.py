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
from tap_chatgpt_compliance.evidence import dat, sources
from tap_chatgpt_compliance.evidence.export import Exporter
from tap_chatgpt_compliance.evidence.provenance import UNPROVEN_MARK
from tests.support.simulators import START, running, tiny_world
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import cli, ok, write_jsonl
from .test_attack_export10 import VALIDATOR, _user
from .test_export_hazards import AT, _archive, _event
from .test_export_proven import _rsmf, _text

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
    shown += [r["CUSTODIAN"] for r in dat.parse((out / "production.dat").read_text())]
    for text in shown:
        assert "user-Dana" in text
        assert "(user-Dana" not in text, text
        assert "\uff08user-Dana" not in text, text
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
                assert line.startswith(f"{number} [") and line.find("] ") > 0, line
                after_time = line[line.find("] ") + 2 :]
                assert after_time.startswith(f"({UNPROVEN_MARK}) ") == marked, line
    assert checked
