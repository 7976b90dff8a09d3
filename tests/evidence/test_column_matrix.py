"""Every column of every stream the tap emits, altered: verify names it or says it cannot.

One tap run of a small simulated workspace with every stream of the catalog selected (at-least-
once delivery, events without ids, id clashes, foreign events and an unparsed line made likely,
so that the run-memory counts and attachments referenced from two log files occur) is made once
per module; each case alters a copy of its records in memory and runs verify in this process,
anchored by the run's state.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from chatgpt_compliance_simulator import Oddities, Quirks, Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import (
    UNPROVEN_COLUMNS,
    Report,
    anchor_from_state,
    verify,
)
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.records import attachment_refs
from tests.support.simulators import running
from tests.support.tap import TapRun
from tests.tap.test_workspace_objects import run_objects, selecting

Records = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict[str, Any]]:
    """``{stream: its JSON schema's properties}`` as ``--discover`` gives them."""
    return {
        entry["tap_stream_id"]: entry["schema"]["properties"]
        for entry in selecting(set())["streams"]
    }


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    config = SimulatorConfig(
        seed=2121,
        users=3,
        conversations=4,
        span_days=0.5,
        rate_limits=False,
        inventory=Inventory(config_versions_per_day=1.0),
        quirks=Quirks(duplicate_rate=0.5),
        oddities=Oddities(
            invalid_utf8_lines=1,
            missing_event_id_rate=0.2,
            foreign_events_rate=0.1,
            event_id_clash_rate=0.2,
        ),
    )
    with running(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def run(sim: Simulator, catalog: dict[str, Any]) -> TapRun:
    done = run_objects(
        sim,
        set(catalog),
        max_inline_file_bytes=16_384,
        event_types=["CONVERSATION_MESSAGE", "AUTH_LOG"],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _verify(run: TapRun, records: Records, anchored: bool = True) -> Report:
    anchor = anchor_from_state(run.state or {}, "state") if anchored else None
    return verify(sources.Archive("test", tables=records), anchor)


def _lines(report: Report) -> list[str]:
    return [finding.line() for finding in report.findings]


def _types(prop: dict[str, Any]) -> tuple[set[str], bool]:
    """Return a schema property's JSON types and whether it is a date-time."""
    alternatives = [prop, *prop.get("anyOf", [])]
    types: set[str] = set()
    for alt in alternatives:
        kind = alt.get("type", [])
        types.update([kind] if isinstance(kind, str) else kind)
    return types, any(alt.get("format") == "date-time" for alt in alternatives)


def altered(value: Any, prop: dict[str, Any]) -> Any:
    """Return another value of the column's type: a string changed (a time a second later), an
    int + 1, a bool flipped, an object with a key added, an array with an item added, and a
    value where there was null."""
    types, is_time = _types(prop)
    if value is None:
        if is_time:
            return "2026-01-01T00:00:00+00:00"
        for kind, forged in (
            ("integer", 1),
            ("boolean", True),
            ("object", {"forged": 1}),
            ("array", ["forged"]),
        ):
            if kind in types:
                return forged
        return "forged"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, dict):
        return {**value, "forged": 1}
    if isinstance(value, list):
        return [*value, "forged"]
    if is_time:
        with_zone = value.replace("Z", "+00:00")
        return (datetime.fromisoformat(with_zone) + timedelta(seconds=1)).isoformat()
    return f"{value}x"


def test_the_run_is_intact_as_written(run: TapRun, catalog: dict[str, Any]) -> None:
    """The control: every stream of the catalog holds rows, and verify says intact."""
    assert {s for s in catalog if not run.records.get(s)} == set()
    report = _verify(run, copy.deepcopy(run.records))
    assert report.status == "intact", _lines(report)
    assert any(r["duplicates_dropped"] for r in run.records["log_files"])
    assert any(r["id_clashes"] for r in run.records["log_files"])


def test_every_column_altered_is_a_finding_or_named_unproven(
    run: TapRun, catalog: dict[str, dict[str, Any]]
) -> None:
    """For every column of every stream of the catalog, all its rows altered (one column per
    case): verify must say FAILED, or list the column in ``Report.unproven_columns`` (the
    documented ``UNPROVEN_COLUMNS``, or ``events.organization_id`` while no organization-scoped
    log file proves it). A column added to a schema fails here until verify proves it or names
    it. (A finding names the row; a hashed record altered, a chain or an attachment's bytes, is
    named by its record, not by one of its columns.)"""
    silent = []
    for stream, properties in sorted(catalog.items()):
        for column, prop in sorted(properties.items()):
            records = copy.deepcopy(run.records)
            for row in records[stream]:
                row[column] = altered(row.get(column), prop)
            report = _verify(run, records)
            if report.status != "FAILED" and f"{stream}.{column}" not in report.unproven_columns:
                silent.append(f"{stream}.{column}: {report.status}")
    assert silent == [], "altered, yet neither a finding nor named unproven:\n" + "\n".join(silent)


def test_unproven_columns_are_columns_of_the_catalog(catalog: dict[str, dict[str, Any]]) -> None:
    """No stale entry: every column verify names as unproven is one the tap emits."""
    stale = [
        f"{stream}.{column}"
        for stream, columns in UNPROVEN_COLUMNS.items()
        for column in columns
        if column not in catalog.get(stream, {})
    ]
    assert stale == []


# --------------------------------------------------------------------------- a forged files record


def _references(records: Records) -> dict[str, set[str]]:
    """Return, per attachment, the log files whose raw lines reference it."""
    parts: dict[str, dict[int, bytes]] = defaultdict(dict)
    for part in records["log_file_parts"]:
        parts[part["log_file_id"]][part["part_index"]] = base64.b64decode(part["content_base64"])
    found: dict[str, set[str]] = defaultdict(set)
    for file_id, pieces in parts.items():
        events = []
        for line in b"".join(pieces[i] for i in sorted(pieces)).split(b"\n"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        for ref in attachment_refs(e for e in events if isinstance(e, dict)):
            found[ref.file_id].add(file_id)
    return found


@pytest.mark.parametrize("anchored", [True, False])
@pytest.mark.parametrize("content", ["the same bytes", "other bytes"])
def test_a_files_record_forged_into_another_file_referencing_the_attachment_fails(
    run: TapRun, content: str, anchored: bool
) -> None:
    """An attachment referenced from two log files (delivered twice: the tap dropped the
    second message as a duplicate and archived the attachment once). A files record forged
    into the other file, chained after the files head: its references matched, its bytes
    hashed, and verify said consistent with no finding. The tap archives the attachments of
    the messages it keeps only, and one file has one content: now FAILED."""
    records = copy.deepcopy(run.records)
    files = records["files"]
    original, other = next(
        (record, log_file)
        for record in files
        for log_file in sorted(_references(records).get(record["id"], ()))
        if log_file != record["log_file_id"]
    )
    head = max(files, key=lambda r: r["chain_seq"])
    forged = {
        **original,
        "log_file_id": other,
        "chain_previous": head["chain_hash"],
        "chain_previous_id": head["id"],
        "chain_seq": head["chain_seq"] + 1,
    }
    if content == "other bytes":
        data = b"I agreed to everything."
        forged.update(
            content_base64=base64.b64encode(data).decode(),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            part_count=None,
        )
    forged["chain_hash"] = chain.chain_hash(forged["chain_previous"], forged, chain.FILES)
    files.append(forged)
    report = _verify(run, records, anchored)
    assert report.status == "FAILED", report.verdict()
    lines = _lines(report)
    assert f"added: files {original['id']} of log file {other}: the message events of its log " in (
        "\n".join(lines)
    )
    if content == "other bytes":
        assert any(
            line.startswith(f"attachment: attachment {original['id']}: archived with 2 different")
            for line in lines
        ), lines
