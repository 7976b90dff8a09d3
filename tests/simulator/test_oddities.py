"""Odd but plausible API shapes (issue #7): each oddity over real HTTP, and its ground truth."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
import requests

from chatgpt_compliance_simulator import Oddities, Quirks, SimulatorConfig
from chatgpt_compliance_simulator.cli import build_parser, config_from_args
from chatgpt_compliance_simulator.clock import parse_iso
from tests.support.simulators import EPOCH_AFTER, Client

CM = "CONVERSATION_MESSAGE"
EXTRA = ("CHATGPT_PLUGIN_DOCUMENT", "CHATGPT_PLUGIN_PRESENTATION")


def odd(**on):
    return dataclasses.replace(Oddities(), **on)


@pytest.fixture
def make(make):
    """The simulator's ``make`` without the empty-page quirk (pages asserted one by one)."""

    def _make(**kw):
        kw.setdefault("quirks", dataclasses.replace(Quirks(), empty_pages=False))
        return make(**kw)

    return _make


def listing(c: Client, event_type: str = CM) -> list[dict]:
    """Every listed item, paging on last_end_time (works without item end_time)."""
    after, out = EPOCH_AFTER, {}
    for _ in range(1000):
        body = c.list_page(event_type, after=after).json()
        for f in body["data"]:
            out.setdefault(f["id"], f)
        after = body["last_end_time"] or after
        if not body["has_more"]:
            return list(out.values())
    raise AssertionError("listing never ended")


def lines_of(sim, event_type: str = CM) -> list[tuple[str, int, bytes]]:
    """(log_file_id, 1-based line number, bytes) of every line of every listed file."""
    c = Client(sim)
    out = []
    for f in listing(c, event_type):
        body = c.download(f["id"])
        out += [(f["id"], n, ln) for n, ln in enumerate(body.split(b"\n"), 1) if ln]
    return out


def events_in(sim, event_type: str = CM) -> list[dict]:
    return [json.loads(ln) for _, _, ln in lines_of(sim, event_type)]


def test_all_off_by_default():
    """Default config: no oddity on (today's behaviour and tests unchanged)."""
    o = SimulatorConfig().oddities
    assert o == Oddities()
    assert not any(getattr(o, n) for n in Oddities.names())


def test_listing_without_end_time(make):
    sim = make(oddities=odd(listing_without_end_time=True))
    c = Client(sim)
    body = c.list_page(limit=3).json()
    assert body["has_more"] is True
    assert body["last_end_time"] == sim.log_files()[2]["end_time"]
    assert all("end_time" not in f and f["event_type"] == CM for f in body["data"])
    assert {f["id"] for f in listing(c)} == {f["id"] for f in sim.log_files()}


def test_listing_without_event_type(make):
    sim = make(oddities=odd(listing_without_event_type=True))
    items = listing(Client(sim), [CM, "AUTH_LOG"])
    assert items
    assert all("event_type" not in f and f["end_time"] for f in items)


def test_future_end_time(make):
    sim = make(oddities=odd(future_end_time=True))
    c = Client(sim)
    true = sim.log_files()
    newest = true[-1]
    assert sim.ground_truth()["oddities"]["future_end_time_files"] == [newest["id"]]
    items = listing(c)
    assert items[-1]["id"] == newest["id"]
    assert items[-1]["end_time"] == "2099-01-01T00:00:00Z"
    assert all(f["end_time"] == t["end_time"] for f, t in zip(items[:-1], true[:-1], strict=True))
    body = c.download(newest["id"])  # still downloadable, normal current content
    assert len(body) == newest["file_size"]
    now = parse_iso(sim.now().isoformat())
    assert all(parse_iso(json.loads(ln)["timestamp"]) <= now for ln in body.splitlines())
    # after any real time the future file is listed again, last, with newer files before it
    sim.advance(timedelta(hours=2))
    page = c.list_page(after=newest["end_time"]).json()
    assert [f["id"] for f in page["data"]][-1] == newest["id"]
    assert len(page["data"]) > 1
    assert page["last_end_time"] == "2099-01-01T00:00:00Z"
    last = c.list_page(after="2099-01-01T00:00:00Z").json()  # boundary re-return only
    assert [f["id"] for f in last["data"]] == [newest["id"]]
    assert not last["has_more"]
    # other event types are not affected
    assert all(f["end_time"] < "2099" for f in listing(c, "AUTH_LOG"))


def test_missing_event_id(make):
    sim = make(oddities=odd(missing_event_id_rate=0.2))
    gt = sim.ground_truth()
    for t in (CM, "AUTH_LOG"):
        evs = events_in(sim, t)
        absent = [e for e in evs if "event_id" not in e]
        empty = [e for e in evs if e.get("event_id") == ""]
        assert absent, t
        assert empty, t
        key = lambda e: json.dumps(e, sort_keys=True)  # noqa: E731
        assert {key(e) for e in absent + empty} == {key(e) for e in gt["events_without_id"][t]}
        assert "" not in gt["events"][t]
    # messages without event id are still messages (found by message id)
    no_id = [e for e in gt["events_without_id"][CM] if e["message"]["id"]]
    assert no_id
    for e in no_id:
        assert gt["messages"][e["message"]["id"]]["event_id"] in (None, "")


def test_empty_message_id(make):
    sim = make(oddities=odd(empty_message_id_rate=0.2), attachment_rate=1.0)
    gt = sim.ground_truth()
    empty = [e for e in events_in(sim) if e["message"]["id"] == ""]
    assert empty
    assert {e["event_id"] for e in empty} == set(gt["messages_without_id"])
    assert "" not in gt["messages"]
    for e in empty:
        m = gt["messages_without_id"][e["event_id"]]
        assert m["conversation_id"] == e["conversation"]["id"]
        assert m["content"] == e["message"]["content"]
        assert e["message"]["files"] == []
        assert m["file_ids"] == []
        assert e["conversation"]["id"] in gt["conversations"]


def test_foreign_events(make):
    sim = make(oddities=odd(foreign_events_rate=0.2))
    gt = sim.ground_truth()
    foreign = [e for e in events_in(sim) if e["type"] != CM]
    assert foreign
    assert all(e["type"] == "AUDIT_LOG" and "message" not in e for e in foreign)
    assert {e["event_id"]: e for e in foreign} == gt["foreign_events"]
    assert not set(gt["foreign_events"]) & set(gt["events"][CM])
    assert not set(gt["foreign_events"]) & set(gt["events"]["AUDIT_LOG"])


def test_invalid_utf8_lines(make):
    sim = make(oddities=odd(invalid_utf8_lines=4))
    bad = []
    for fid, n, ln in lines_of(sim):
        try:
            ln.decode("utf-8")
        except UnicodeDecodeError:
            bad.append((fid, n, ln))
    assert len(bad) == 4
    assert len({fid for fid, _, _ in bad}) > 1  # spread across files
    for _, _, ln in bad:
        assert b"\xff\xfe" in ln
        ev = json.loads(ln.decode("latin-1"))  # a valid-looking JSON event otherwise
        assert ev["type"] == CM
        assert ev["event_id"]
        assert ev["message"]["id"]
    gt = sim.ground_truth()
    assert [(r["log_file_id"], r["line_number"], r["bytes"]) for r in gt["raw_lines"]] == bad
    assert all(r["event_type"] == CM for r in gt["raw_lines"])
    ids = {json.loads(ln.decode("latin-1"))["message"]["id"] for _, _, ln in bad}
    assert not ids & set(gt["messages"])


def test_non_object_lines(make):
    sim = make(oddities=odd(non_object_lines=6))
    non = []
    for fid, n, ln in lines_of(sim):
        try:
            obj = json.loads(ln)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            non.append((fid, n, ln))
    assert len(non) == 6
    assert len({fid for fid, _, _ in non}) > 1
    kinds = {ln for _, _, ln in non}
    assert {b"not json at all 1", b"not json at all 2", b"[1, 2]", b'"a string"'} <= kinds
    gt = sim.ground_truth()
    assert [(r["log_file_id"], r["line_number"], r["bytes"]) for r in gt["raw_lines"]] == non


def test_event_id_clash(make):
    sim = make(oddities=odd(event_id_clash_rate=0.5))
    gt = sim.ground_truth()
    cm_ids = {e["event_id"] for e in events_in(sim)}
    clashing = {
        e["event_id"]: e["type"]
        for t in ("AUTH_LOG", "AUDIT_LOG")
        for e in events_in(sim, t)
        if e["event_id"] in cm_ids
    }
    assert clashing
    assert set(gt["clashes"]) == set(clashing)
    for eid, t in clashing.items():
        assert gt["clashes"][eid] == sorted([CM, t])
        assert eid in gt["events"][t]
        assert eid in gt["events"][CM]
        assert gt["events"][t][eid] != gt["events"][CM][eid]


def test_extra_event_types(make):
    c = Client(make())
    assert c.list_page(EXTRA[0]).status_code == 422  # unknown without the oddity
    sim = make(oddities=odd(extra_event_types=EXTRA))
    c = Client(sim)
    gt = sim.ground_truth()
    for t in EXTRA:
        r = c.list_page(t)
        assert r.status_code == 200, r.text
        evs = events_in(sim, t)
        assert evs
        for e in evs:
            assert e["type"] == t
            assert e["event_id"]
            assert e["timestamp"]
            assert e["actor"]["user_id"]
            assert e["action"]
            assert e["action_data"]
        assert {e["event_id"] for e in evs} == set(gt["events"][t])
    r = c.list_page(list(EXTRA))
    assert {f["event_type"] for f in r.json()["data"]} == set(EXTRA)
    mx = c.get(c.ws("/max_event_time"), params={"event_type": EXTRA[1]}).json()
    assert mx["max_event_time"][EXTRA[1]]
    bad = c.list_page("CHATGPT_PLUGIN_WHATEVER")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["type"] == "enum"


def test_project_config_as_array(make):
    sim = make(oddities=odd(project_config_as_array=True))
    c = Client(sim)
    projects = c.get(c.ws("/projects")).json()["data"]
    assert projects
    assert all(isinstance(p["latest_config"], list) for p in projects)
    assert projects[0]["latest_config"][0]["object"] == "compliance.workspace.project.configuration"
    one = c.get(c.ws(f"/projects/{projects[0]['id']}")).json()
    assert isinstance(one["latest_config"], list)
    gpts = c.get(c.ws("/gpts")).json()["data"]
    assert all(g["latest_config"]["object"] == "list" for g in gpts)


def test_stuck_listing(make):
    sim = make(oddities=odd(stuck_listing=True))
    c = Client(sim)
    first = c.list_page(limit=100).json()
    assert first["data"]
    assert first["has_more"] is True
    after = first["last_end_time"]
    for _ in range(3):
        assert c.list_page(after=after).json() == {
            "data": [],
            "has_more": True,
            "last_end_time": after,
        }
    odd_after = "2026-06-30T00:00:00.5+00:00"
    assert c.list_page(after=odd_after).json()["last_end_time"] == odd_after


def test_out_of_order_listing(make):
    sim = make(oddities=odd(out_of_order_listing=True))
    c = Client(sim)
    body = c.list_page(limit=5).json()
    ends = [f["end_time"] for f in body["data"]]
    assert ends == sorted(ends, reverse=True)
    assert ends[0] > ends[-1]
    assert body["last_end_time"] == ends[0]


def test_huge_message(make):
    n = 3 * 1024 * 1024
    sim = make(oddities=odd(huge_message_bytes=n))
    gt = sim.ground_truth()
    [mid] = gt["oddities"]["huge_message_ids"]
    assert len(gt["messages"][mid]["content"]["value"].encode()) == n
    huge = [e for e in events_in(sim) if e["message"]["id"] == mid]
    assert huge
    assert len(huge[0]["message"]["content"]["value"].encode("utf-8")) == n


def test_nul_in_message_text(make):
    """One user message's text holds a NUL, escaped as \\u0000 in its JSON line."""
    base = make().ground_truth()["messages"]
    sim = make(oddities=odd(nul_in_message_text=True))
    lines = [ln for _, _, ln in lines_of(sim) if b"\\u0000" in ln]
    assert len(lines) == 1
    message = json.loads(lines[0])["message"]
    assert message["author"]["type"] == "user"
    value = message["content"]["value"]
    assert value.count("\x00") == 1
    assert value.replace("\x00", "") == base[message["id"]]["content"]["value"]
    assert sim.ground_truth()["messages"][message["id"]]["content"]["value"] == value


ALL_ON = {
    "listing_without_end_time": True,
    "listing_without_event_type": True,
    "future_end_time": True,
    "missing_event_id_rate": 0.1,
    "empty_message_id_rate": 0.1,
    "foreign_events_rate": 0.1,
    "invalid_utf8_lines": 3,
    "non_object_lines": 3,
    "event_id_clash_rate": 0.3,
    "extra_event_types": EXTRA,
    "project_config_as_array": True,
    "out_of_order_listing": True,
}


def test_ground_truth_accounts_for_every_line(make):
    """With every data oddity on, each served line is in exactly one ground-truth bucket."""
    sim = make(oddities=odd(**ALL_ON))
    sim.advance(timedelta(hours=3))
    gt = sim.ground_truth()
    raw = {(r["log_file_id"], r["line_number"]): r["bytes"] for r in gt["raw_lines"]}
    key = lambda e: json.dumps(e, sort_keys=True)  # noqa: E731
    for t in ("CONVERSATION_MESSAGE", "AUTH_LOG", "AUDIT_LOG", *EXTRA):
        no_id = {key(e) for e in gt["events_without_id"][t]}
        seen_raw = set()
        for fid, n, ln in lines_of(sim, t):
            if (fid, n) in raw:
                assert raw[(fid, n)] == ln
                seen_raw.add((fid, n))
                continue
            e = json.loads(ln)
            if not e.get("event_id"):
                assert key(e) in no_id
            elif t == CM and e["type"] != CM:
                assert gt["foreign_events"][e["event_id"]] == e
            else:
                assert gt["events"][t][e["event_id"]] == e
            if t == CM and e["type"] == CM:
                mid = e["message"]["id"]
                if mid:
                    assert gt["messages"][mid]["conversation_id"] == e["conversation"]["id"]
                else:
                    assert e["event_id"] in gt["messages_without_id"]
        if t == CM:
            assert seen_raw == set(raw)
    # determinism: same config, same truth
    again = make(oddities=odd(**ALL_ON))
    again.advance(timedelta(hours=3))
    assert again.ground_truth() == gt


def test_ground_truth_new_keys_empty_by_default(simulator):
    gt = simulator.ground_truth()
    assert gt["raw_lines"] == []
    assert gt["clashes"] == {}
    assert gt["foreign_events"] == {}
    assert gt["messages_without_id"] == {}
    assert not any(gt["events_without_id"].values())
    assert gt["oddities"] == {"future_end_time_files": [], "huge_message_ids": []}


def test_oddities_keep_the_conversations(make):
    """Oddity decisions draw from their own generator: conversations stay the same."""
    base = make().ground_truth(published_only=False)
    other = make(oddities=odd(**ALL_ON)).ground_truth(published_only=False)
    assert set(other["conversations"]) == set(base["conversations"])
    assert set(other["messages"]) <= set(base["messages"])


def test_cli_oddity_flags():
    args = build_parser().parse_args(
        [
            "serve",
            "--oddity",
            "stuck_listing",
            "--oddity",
            "future_end_time=false",
            "--oddity",
            "missing_event_id_rate=0.25",
            "--oddity",
            "invalid_utf8_lines=3",
            "--oddity",
            "extra_event_types=CHATGPT_PLUGIN_DOCUMENT,CHATGPT_PLUGIN_PRESENTATION",
        ]
    )
    o = config_from_args(args).oddities
    assert o.stuck_listing is True
    assert o.future_end_time is False
    assert o.missing_event_id_rate == 0.25
    assert o.invalid_utf8_lines == 3
    assert o.extra_event_types == EXTRA
    for bad in ("nope", "invalid_utf8_lines", "stuck_listing=maybe", "huge_message_bytes=x"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--oddity", bad])


def test_signed_download_of_offset_named_file(make):
    """File names with ``+00:00`` are served and downloadable (URL-quoted name)."""
    sim = make()
    c = Client(sim)
    f = next(f for f in sim.log_files() if f["file_name"].endswith("+00:00.jsonl"))
    r = c.get(c.ws(f"/logs/{f['id']}"))
    assert r.status_code == 307
    got = requests.get(r.headers["Location"], timeout=10)
    assert got.status_code == 200
    assert len(got.content) == f["file_size"]


def test_lone_surrogate_text(make):
    """One user message's text and the first member's name end with half an emoji, escaped as
    \\ud83d in the JSON (UTF-8 cannot hold it): every line is still valid UTF-8."""
    base = make().ground_truth()["messages"]
    sim = make(oddities=odd(lone_surrogate_text=True))
    all_lines = [ln for _, _, ln in lines_of(sim)]
    for line in all_lines:
        line.decode("utf-8")
    lines = [ln for ln in all_lines if b"\\ud83d" in ln]
    assert len(lines) == 1
    message = json.loads(lines[0])["message"]
    assert message["author"]["type"] == "user"
    value = message["content"]["value"]
    assert value.endswith("\ud83d")
    assert value[:-1] == base[message["id"]]["content"]["value"]
    assert sim.ground_truth()["messages"][message["id"]]["content"]["value"] == value
    first = sim.ground_truth()["users"][0]
    assert first["name"].endswith("\ud83d")
