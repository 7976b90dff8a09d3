"""Each quirk on and off (reference §3.2, §3.3, §5 and §6 #3)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

from chatgpt_compliance_simulator import Quirks
from chatgpt_compliance_simulator.clock import parse_iso
from tests.support.simulators import Client, events_of


def only(**on):
    return dataclasses.replace(Quirks.none(), **on)


def all_events(sim, event_type="CONVERSATION_MESSAGE"):
    c = Client(sim)
    return [(f, e) for f in c.list_all(event_type) for e in events_of(c.download(f["id"]))]


def test_boundary_rereturn(make):
    """§3.2 observed deviation (ELASTIC, XSIAM): after == end_time re-returns that file."""
    for on in (True, False):
        sim = make(quirks=only(boundary_rereturn=on))
        c = Client(sim)
        files = c.list_all()
        r = c.list_page(after=files[1]["end_time"]).json()
        assert (r["data"][0]["id"] == files[1]["id"]) is on
        if not on:
            assert r["data"][0]["id"] == files[2]["id"]


def test_boundary_rereturn_never_stalls(make):
    """§3.2 / GRAM: with limit=1 a page still advances past the boundary file."""
    sim = make(quirks=only(boundary_rereturn=True))
    c = Client(sim)
    files = c.list_all()
    r = c.list_page(after=files[1]["end_time"], limit=1).json()
    assert r["data"][0]["id"] == files[2]["id"]
    last = c.list_page(after=files[-1]["end_time"]).json()
    assert [f["id"] for f in last["data"]] == [files[-1]["id"]]
    assert not last["has_more"]


def test_empty_pages(make):
    """§5 #4 (ELASTIC): an empty page with has_more true and null last_end_time, then data."""
    sim = make(quirks=only(empty_pages=True, empty_page_rate=1.0))
    c = Client(sim)
    first = c.list_page().json()
    assert first == {"data": [], "has_more": True, "last_end_time": None}
    second = c.list_page().json()
    assert second["data"]
    assert second["last_end_time"]
    off = make(quirks=only(empty_pages=False, empty_page_rate=1.0))
    assert Client(off).list_page().json()["data"]


def test_duplicate_events(make):
    """§3.2: at-least-once delivery, the same event_id in two files."""
    for on in (True, False):
        sim = make(quirks=only(duplicate_events=on, duplicate_rate=0.2), conversations=30)
        counts = Counter(e["event_id"] for _, e in all_events(sim))
        assert (max(counts.values()) > 1) is on


def test_late_events(make):
    """§3.2: late events land in a file of a later window than their timestamp."""
    for on in (True, False):
        sim = make(quirks=only(late_events=on, late_rate=0.2), conversations=30)
        window = 10 * 60
        late = 0
        for f, e in all_events(sim):
            file_window = (parse_iso(f["end_time"]) // 10**6 - 1) // window
            ev_window = parse_iso(e["timestamp"]) // 10**6 // window
            late += file_window > ev_window
        assert (late > 0) is on


def test_bad_created_at(make):
    """§5 #5: message.created_at missing or malformed on some events."""
    for on in (True, False):
        sim = make(quirks=only(bad_created_at=on, bad_created_at_rate=0.3))
        bad = 0
        for _, e in all_events(sim):
            raw = e["message"].get("created_at")
            try:
                ok = bool(raw) and parse_iso(raw) == parse_iso(e["timestamp"])
            except ValueError:
                ok = False
            bad += not ok
        assert (bad > 0) is on


def test_untitled_first(make):
    """§2.9: conversation title "" on the first events, set later; ground truth keeps the last."""
    sim = make(quirks=only(untitled_first=True), messages_per_conversation=(4, 6))
    titles: dict[str, list[str]] = {}
    for _, e in sorted(all_events(sim), key=lambda fe: fe[1]["timestamp"]):
        titles.setdefault(e["conversation"]["id"], []).append(e["conversation"]["title"])
    assert any(t[0] == "" and t[-1] != "" for t in titles.values())
    gt = sim.ground_truth()["conversations"]
    assert all(gt[cid]["title"] == t[-1] for cid, t in titles.items())
    off = make(quirks=Quirks.none(), messages_per_conversation=(4, 6))
    assert all(e["conversation"]["title"] for _, e in all_events(off))


def test_tool_content(make):
    """§2.3 / §2.9: tool messages with content null or a JSON value instead of a string."""
    for on in (True, False):
        sim = make(quirks=only(tool_content=on), conversations=40)
        tools = [
            e["message"]["content"]
            for _, e in all_events(sim)
            if e["message"]["author"]["type"] == "tool"
        ]
        assert tools
        odd = [c for c in tools if c is None or not isinstance(c["value"], str)]
        assert bool(odd) is on


def test_no_trailing_newline(make):
    """§3.3: JSONL may lack a trailing newline."""
    for on in (True, False):
        sim = make(quirks=only(no_trailing_newline=on))
        c = Client(sim)
        bodies = [c.download(f["id"]) for f in c.list_all()]
        assert any(not b.endswith(b"\n") for b in bodies) is on


def test_expired_attachments(make):
    """§3.3: chat uploads expire ~24 h after upload → 410; off → nothing expires."""
    for on in (True, False):
        sim = make(quirks=only(expired_attachments=on), attachment_rate=0.6, span_days=3.0)
        c = Client(sim)
        gt = sim.ground_truth()["attachments"]
        old = [
            (fid, a)
            for fid, a in gt.items()
            if a["uploaded_at"] < (sim.now() - timedelta(hours=25)).isoformat()
        ]
        assert old
        fid, a = old[0]
        r = c.get(
            c.ws(f"/users/{a['user_id']}/files/{fid}"),
            params={"conversation_id": a["conversation_id"]},
        )
        assert r.status_code == (410 if on else 307)
        assert a["expired"] is on


def test_short_pages(make):
    """§3.1: Gen-1 pages may be shorter than limit while has_more is true."""
    for on in (True, False):
        sim = make(quirks=only(short_pages=on, short_page_rate=1.0), users=6)
        c = Client(sim)
        r = c.get(c.ws("/users"), params={"limit": 4}).json()
        assert (len(r["data"]) < 4) is on
        assert r["has_more"] is True


def test_empty_previous_message_id(make):
    """§2.9: previous_message_id omitted for a first message, or sent as ""."""
    sim = make(quirks=only(empty_previous_message_id=True), conversations=30)
    firsts = [e for _, e in all_events(sim) if e["message"]["parent_id"] is None]
    assert any(e.get("previous_message_id") == "" for e in firsts)
    assert any("previous_message_id" not in e for e in firsts)


def test_default_quirks_on():
    """Issue #2 item 7: quirks observed in the reference are on by default."""
    q = Quirks()
    assert all(getattr(q, n) for n in Quirks.names())
    assert not any(getattr(Quirks.none(), n) for n in Quirks.names())
