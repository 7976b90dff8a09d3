"""Every line of every log file ends up somewhere, byte-exact (issue #7 items 3, 4, 5).

Odd input comes from the simulator's ``Oddities`` over real HTTP, checked against its ground
truth; the parsing rules (keys, duplicates, clashes) are also pinned by unit tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from chatgpt_compliance_simulator import Oddities, Quirks, Simulator
from tap_chatgpt_compliance.logfiles.logfile import derived_event_key, parse_lines
from tests.support.singer import bookmark
from tests.support.tap import TapRun, run_tap, tap_config

DOWNLOAD = "/v1/compliance/workspaces/{workspace_id}/logs/{log_file_id}"
CM = "CONVERSATION_MESSAGE"


def _canonical_key(event: dict) -> str:
    """The documented derivation, written out independently of the tap."""
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sim(factory, seed: int = 17, **oddities) -> Simulator:
    return factory(seed=seed, span_days=0.8, speed=60.0, oddities=Oddities(**oddities))


def _ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    return run


def _events_by_key(run: TapRun) -> dict[tuple[str, str], dict]:
    keyed: dict[tuple[str, str], dict] = {}
    for record in run.records["events"]:
        key = (record["event_id"], record["type"])
        assert key not in keyed or keyed[key]["event"] == record["event"], key
        keyed[key] = record
    return keyed


# --------------------------------------------------------------------------- over HTTP


def test_events_without_event_id_are_kept_under_a_derived_key(simulator_factory) -> None:
    """Absent or "" event_id: keyed sha256:<canonical JSON>, marked derived, nothing lost."""
    sim = _sim(simulator_factory, missing_event_id_rate=0.2)
    config = tap_config(sim, event_types=[CM, "AUTH_LOG"], file_content="none")
    run = _ok(run_tap(config))
    truth = sim.ground_truth()
    without = truth["events_without_id"]
    assert without[CM], "the oddity must produce id-less events"
    assert without["AUTH_LOG"], "the oddity must produce id-less events"
    assert {"event_id" in e for e in without[CM] + without["AUTH_LOG"]} == {True, False}
    messages = {r["event_id"]: r for r in run.records["messages"]}
    events = _events_by_key(run)
    for event in without[CM]:
        record = messages[_canonical_key(event)]
        assert record["event_id_derived"] is True
        assert record["event"] == event
        assert record["id"] == event["message"]["id"]
    for event in without["AUTH_LOG"]:
        record = events[(_canonical_key(event), "AUTH_LOG")]
        assert record["event_id_derived"] is True
        assert record["event"] == event
    # Nothing else lost: every message and event of the ground truth is there.
    assert run.ids("messages") >= set(truth["messages"])
    assert {k for k, t in events if t == "AUTH_LOG"} >= set(truth["events"]["AUTH_LOG"])
    for stream, key in (("messages", "id"), ("messages", "event_id"), ("events", "event_id")):
        assert all(record[key] for record in run.records[stream]), (stream, key)
    manifest_total = sum(r["events_without_id"] for r in run.records["log_files"])
    assert manifest_total == len(without[CM]) + len(without["AUTH_LOG"])
    assert f"{manifest_total} events without event_id" in run.stderr


def test_invalid_utf8_and_non_object_lines_are_recovered_byte_exact(simulator_factory) -> None:
    """Such lines land in unparsed_lines: base64 of the exact bytes, sha256, file and line."""
    sim = _sim(simulator_factory, invalid_utf8_lines=3, non_object_lines=3)
    run = _ok(run_tap(tap_config(sim, file_content="none")))
    truth = sim.ground_truth()
    expected = {(r["log_file_id"], r["line_number"]): r["bytes"] for r in truth["raw_lines"]}
    assert len(expected) == 6
    got = {}
    for record in run.records["unparsed_lines"]:
        raw = base64.b64decode(record["content_base64"])
        assert hashlib.sha256(raw).hexdigest() == record["sha256"]
        assert len(raw) == record["byte_count"]
        got[(record["log_file_id"], record["line_number"])] = raw
    assert got == expected
    reasons = {r["reason"] for r in run.records["unparsed_lines"]}
    assert reasons == {"invalid_utf8", "invalid_json", "not_an_object"}
    assert sum(r["unparsed_lines"] for r in run.records["log_files"]) == 6
    assert "6 lines that are not JSON objects or not UTF-8" in run.stderr
    # Every line of every file is accounted for.
    for record in run.records["log_files"]:
        assert record["line_count"] == (
            record["event_count"]
            + record["duplicates_dropped"]
            + record["unparsed_lines"]
            + record["blank_lines"]
        )
    assert run.ids("messages") == set(truth["messages"])


def test_an_event_of_another_type_in_a_message_file_goes_to_events(simulator_factory) -> None:
    """AUDIT_LOG events inside CONVERSATION_MESSAGE files are not messages (and not lost)."""
    sim = _sim(simulator_factory, foreign_events_rate=0.2)
    run = _ok(run_tap(tap_config(sim, file_content="none")))  # only CONVERSATION_MESSAGE asked
    truth = sim.ground_truth()
    foreign = truth["foreign_events"]
    assert foreign, "the oddity must produce foreign events"
    events = _events_by_key(run)
    for event_id, event in foreign.items():
        assert events[(event_id, event["type"])]["event"] == event
    assert run.ids("messages") == set(truth["messages"])
    assert not {r["event_id"] for r in run.records["messages"]} & set(foreign)
    assert sum(r["foreign_events"] for r in run.records["log_files"]) == len(foreign)


def test_an_empty_message_id_is_no_key_and_keeps_created_at(simulator_factory) -> None:
    """message.id "" is missing: the record is keyed by its event_id; conversations keep
    created_at."""
    sim = _sim(simulator_factory, empty_message_id_rate=0.2)
    run = _ok(run_tap(tap_config(sim, file_content="none")))
    truth = sim.ground_truth()
    without = truth["messages_without_id"]
    assert without, "the oddity must produce messages without id"
    assert "" not in run.ids("messages")
    by_id = {r["id"]: r for r in run.records["messages"]}
    for event_id in without:
        assert by_id[event_id]["event_id"] == event_id
    assert run.ids("messages") == set(truth["messages"]) | set(without)
    for record in run.records["conversations"]:
        assert record["id"]
        expected = truth["conversations"][record["id"]]["created_at"]
        assert record["created_at"] is not None
        assert datetime.fromisoformat(record["created_at"]) == datetime.fromisoformat(
            expected.replace("Z", "+00:00")
        )


def test_events_sharing_an_id_are_all_kept_true_duplicates_are_not(simulator_factory) -> None:
    """AUDIT/AUTH events reusing a message's event_id survive an upserting target; repeats of
    the very same event are still dropped."""
    sim = simulator_factory(
        seed=17,
        span_days=0.8,
        quirks=Quirks(duplicate_rate=0.1),
        oddities=Oddities(event_id_clash_rate=0.3),
    )
    config = tap_config(sim, event_types=[CM, "AUDIT_LOG", "AUTH_LOG"], file_content="none")
    run = _ok(run_tap(config))
    truth = sim.ground_truth()
    clashes = truth["clashes"]
    assert clashes, "the oddity must produce clashes"
    events = _events_by_key(run)
    messages_by_event = {r["event_id"]: r for r in run.records["messages"]}
    for event_id, types in clashes.items():
        for event_type in types:
            if event_type == CM:
                assert event_id in messages_by_event
            else:
                assert (event_id, event_type) in events, (event_id, event_type)
    # The keys an upserting target uses keep every one of them apart.
    assert len(events) == len(run.records["events"])
    assert len(run.ids("messages")) == len(run.records["messages"]) == len(truth["messages"])
    for event_type in ("AUDIT_LOG", "AUTH_LOG"):
        got = {k for k, t in events if t == event_type}
        assert got == set(truth["events"][event_type]), event_type
    expected_clashes = sum(len(types) - 1 for types in clashes.values())
    assert sum(r["id_clashes"] for r in run.records["log_files"]) == expected_clashes
    assert f"{expected_clashes} events sharing an event_id" in run.stderr
    assert sum(r["duplicates_dropped"] for r in run.records["log_files"]) > 0


def test_event_types_new_to_the_tap_go_to_events(simulator_factory) -> None:
    new_types = ("CHATGPT_PLUGIN_DOCUMENT", "CHATGPT_PLUGIN_PRESENTATION")
    sim = _sim(simulator_factory, extra_event_types=new_types)
    run = _ok(run_tap(tap_config(sim, event_types=[CM, *new_types], file_content="none")))
    truth = sim.ground_truth()["events"]
    for event_type in new_types:
        assert truth[event_type], event_type
        got = {r["event_id"] for r in run.records["events"] if r["type"] == event_type}
        assert got == set(truth[event_type]), event_type
    assert run.state is not None
    assert len(run.state["bookmarks"]["log_files"]["partitions"]) == 3


def test_an_event_type_the_api_rejects_is_one_line_and_the_rest_is_archived(
    simulator_factory,
) -> None:
    sim = _sim(simulator_factory)
    run = run_tap(tap_config(sim, event_types=[CM, "CHATGPT_PLUGIN_UNHEARD_OF"]))
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "HTTP 422" in last
    assert "'CHATGPT_PLUGIN_UNHEARD_OF'" in last
    assert "Traceback" not in run.stderr
    assert run.ids("messages") == set(sim.ground_truth()["messages"])


def test_files_listed_without_event_type_are_of_the_type_asked_for(simulator_factory) -> None:
    sim = _sim(simulator_factory, listing_without_event_type=True)
    run = _ok(run_tap(tap_config(sim, file_content="none")))
    assert run.ids("messages") == set(sim.ground_truth()["messages"])
    assert run.records["events"] == []
    assert {r["event_type"] for r in run.records["log_files"]} == {CM}


def test_a_listing_of_ids_only_archives_everything_and_resumes(simulator_factory) -> None:
    """Items without end_time: the page's last_end_time or the file before; never a crash."""
    sim = _sim(simulator_factory, listing_without_end_time=True)
    config = tap_config(sim, file_content="none")
    first = _ok(run_tap(config))
    truth = sim.ground_truth()
    assert first.ids("messages") == set(truth["messages"])
    sources = {r["end_time_source"] for r in first.records["log_files"]}
    assert sources == {"page", "previous"}
    listed = {f["id"]: f["end_time"] for f in sim.log_files()}
    for record in first.records["log_files"]:  # never later than the real end_time
        real = datetime.fromisoformat(listed[record["id"]].replace("Z", "+00:00"))
        assert datetime.fromisoformat(record["end_time"]) <= real
    sim.advance(timedelta(hours=2))
    second = _ok(run_tap(config, state=first.state))
    assert second.records["messages"], "new activity must arrive"
    assert not first.ids("log_files") & second.ids("log_files")
    third = _ok(run_tap(config, state=second.state))
    assert third.records["log_files"] == []
    truth = sim.ground_truth()
    assert first.ids("messages") | second.ids("messages") == set(truth["messages"])


def test_a_future_end_time_is_archived_but_never_becomes_the_bookmark(simulator_factory) -> None:
    """end_time 2099: the file is archived once; the bookmark stays at or before now."""
    sim = _sim(simulator_factory, future_end_time=True)
    config = tap_config(sim, file_content="none")
    first = _ok(run_tap(config))
    future_id = sim.ground_truth()["oddities"]["future_end_time_files"][0]
    manifest = {r["id"]: r for r in first.records["log_files"]}
    assert manifest[future_id]["bookmark_capped"] is True
    assert manifest[future_id]["end_time"].startswith("2099-01-01")
    assert future_id in first.stderr
    assert "later than the current time" in first.stderr
    assert "1 log files with an end_time in the future" in first.stderr
    assert first.state is not None
    partition = bookmark(first.state)
    now = datetime.now(timezone.utc)
    assert datetime.fromisoformat(partition["replication_key_value"]) <= now
    assert first.ids("messages") == set(sim.ground_truth()["messages"])

    sim.advance(timedelta(hours=6))
    sim.reset_counters()
    second = _ok(run_tap(config, state=first.state))
    truth = sim.ground_truth()
    new = set(truth["messages"]) - first.ids("messages")
    assert new, "the simulator must produce new messages"
    assert second.ids("messages") == new  # the type is read again after a 2099 end_time
    assert future_id not in second.ids("log_files")  # listed again, recognised, not read
    assert sim.request_count(DOWNLOAD) == len(second.records["log_files"])
    for state in second.states:
        value = bookmark(state).get("replication_key_value")
        assert value is None or not value.startswith("2099")


# --------------------------------------------------------------------------- parsing rules


def _line(event: dict) -> bytes:
    return json.dumps(event).encode()


AUDIT = {"event_id": "e-1", "type": "AUDIT_LOG", "action": "LOGIN"}
MESSAGE = {"event_id": "e-1", "type": CM, "message": {"id": "m-1"}}


def test_derived_key_is_the_sha256_of_canonical_json() -> None:
    event = {"type": "AUDIT_LOG", "b": [1, "é"], "a": None}
    reordered = {"a": None, "b": [1, "é"], "type": "AUDIT_LOG"}
    assert derived_event_key(event) == derived_event_key(reordered) == _canonical_key(event)
    seen: dict = {}
    parsed = parse_lines(_line(event) + b"\n" + b'{"event_id": "", "type": "AUDIT_LOG"}', CM, seen)
    assert parsed.without_id == 2
    assert parsed.other_keys == [
        _canonical_key(event),
        _canonical_key({"event_id": "", "type": "AUDIT_LOG"}),
    ]


def test_true_duplicates_are_dropped_across_files_clashes_are_kept() -> None:
    seen: dict = {}
    first = parse_lines(_line(MESSAGE) + b"\n" + _line(AUDIT) + b"\n", CM, seen)
    assert (len(first.messages), len(first.others), first.clashes) == (1, 1, 1)
    # a clash across types keeps both ids: (event_id, type) differ
    assert first.message_keys == first.other_keys == [None]
    again = parse_lines(_line(AUDIT) + b"\n" + _line(MESSAGE), "AUDIT_LOG", seen)
    assert again.duplicates == 2
    assert again.messages == again.others == []
    changed = {**AUDIT, "action": "LOGOUT"}  # same id and type, other content
    third = parse_lines(_line(changed), "AUDIT_LOG", seen)
    assert third.clashes == 1
    assert third.other_keys == [f"e-1#{_canonical_key(changed)}"]


def test_odd_lines_are_kept_with_their_bytes_and_numbers() -> None:
    body = (
        b'{"event_id":"a","type":"CONVERSATION_MESSAGE"}\r\n\n[1]\n\xff{"x":1}\n{"v": NaN}\n \n{"y"'
    )
    parsed = parse_lines(body, CM, {})
    assert parsed.line_count == 7
    assert parsed.blank_lines == 1
    assert len(parsed.messages) == 1  # the \r of a CRLF line is JSON whitespace
    got = [(u.line_number, u.raw, u.reason) for u in parsed.unparsed]
    assert got == [
        (3, b"[1]", "not_an_object"),
        (4, b'\xff{"x":1}', "invalid_utf8"),
        (5, b'{"v": NaN}', "invalid_json"),
        (6, b" ", "invalid_json"),
        (7, b'{"y"', "invalid_json"),
    ]


@pytest.mark.parametrize("event_type", [None, "", 5])
def test_an_event_without_a_type_takes_its_files_type(event_type) -> None:
    event = {"event_id": "x", "type": event_type}
    assert len(parse_lines(_line(event), CM, {}).messages) == 1
    assert len(parse_lines(_line(event), "AUDIT_LOG", {}).others) == 1
