"""Generated data: determinism, ground truth, clock, scale (issue #2 items 9-11; reference §2.9)."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone

from chatgpt_compliance_simulator import Quirks, Simulator, SimulatorConfig
from chatgpt_compliance_simulator.generator import Workspace
from tests.support.simulators import START, Client, events_of


def _all_bytes(sim):
    c = Client(sim)
    out = {}
    for t in ("CONVERSATION_MESSAGE", "AUTH_LOG", "AUDIT_LOG", "APP_LOG", "CODEX_LOG"):
        for f in c.list_all(t):
            out[f["id"]] = (f, c.download(f["id"]))
    return out


def test_same_seed_same_bytes(make):
    """Issue #2 item 9: same seed and start → identical ids, listings and bytes."""
    a, b = make(seed=11), make(seed=11)
    assert a.tenants[0].workspace_id == b.tenants[0].workspace_id
    assert a.api_key == b.api_key
    ba, bb = _all_bytes(a), _all_bytes(b)
    assert ba == bb
    a.advance(timedelta(hours=3))
    b.advance(timedelta(hours=3))
    assert a.log_files() == b.log_files()
    c = make(seed=12)
    assert c.workspace_id != a.workspace_id


def test_quirk_switch_keeps_the_data_skeleton(make):
    """Switching quirks off does not reshuffle the generated conversations."""
    on, off = make(seed=5), make(seed=5, quirks=Quirks.none())
    gon = on.ground_truth(published_only=False)["messages"]
    goff = off.ground_truth(published_only=False)["messages"]
    assert set(gon) == set(goff)


def test_ground_truth_matches_served_files(make):
    """Ground truth (§2.9 events) equals what the files contain; sha256 of attachments is right."""
    sim = make(attachment_rate=0.5, span_days=0.5)
    c = Client(sim)
    gt = sim.ground_truth()
    served = {}
    for f in c.list_all():
        for e in events_of(c.download(f["id"])):
            served[e["event_id"]] = e
    assert served == gt["events"]["CONVERSATION_MESSAGE"]
    assert set(gt["messages"]) == {e["message"]["id"] for e in served.values()}
    for m in gt["messages"].values():
        assert m["conversation_id"] in gt["conversations"]
    for cid, conv in gt["conversations"].items():
        assert all(gt["messages"][mid]["conversation_id"] == cid for mid in conv["message_ids"])
    live = [
        (fid, a)
        for fid, a in gt["attachments"].items()
        if not a["expired"] and not a["needs_conversation_id"]
    ]
    fid, a = live[0]
    loc = c.get(c.ws(f"/users/{a['user_id']}/files/{fid}")).headers["Location"]
    import requests

    assert hashlib.sha256(requests.get(loc, timeout=5).content).hexdigest() == a["sha256"]
    assert set(gt) >= {
        "messages",
        "conversations",
        "attachments",
        "events",
        "log_files",
        "users",
        "gpts",
        "projects",
    }


def test_messages_per_conversation_range(make):
    """SimulatorConfig.messages_per_conversation is an inclusive range (initial history)."""
    sim = make(messages_per_conversation=(3, 5), conversations=30)
    gt = sim.ground_truth(published_only=False)
    counts = [len(c["message_ids"]) for c in gt["conversations"].values()]
    assert len(counts) == 30
    assert min(counts) >= 3
    assert max(counts) <= 5


def test_advance_generates_activity(make):
    """Issue #2 item 9: advance adds conversations, messages in old conversations, new files."""
    sim = make(conversations=20, span_days=2.0)
    before = sim.ground_truth(published_only=False)
    t0 = sim.now()
    sim.advance(timedelta(days=1))
    assert sim.now() == t0 + timedelta(days=1)
    after = sim.ground_truth(published_only=False)
    new_convs = set(after["conversations"]) - set(before["conversations"])
    assert new_convs
    grown = [
        cid
        for cid in before["conversations"]
        if len(after["conversations"][cid]["message_ids"])
        > len(before["conversations"][cid]["message_ids"])
    ]
    assert grown
    for t in ("AUTH_LOG", "AUDIT_LOG", "CODEX_LOG"):
        assert len(after["events"][t]) > len(before["events"][t])
    assert sim.now().tzinfo is not None


def test_clock_default_is_wall_clock():
    """SimulatorConfig.start defaults to the wall clock truncated to the second."""
    sim = Simulator(users=2, conversations=2)
    delta = abs((datetime.now(timezone.utc) - sim.now()).total_seconds())
    assert delta < 5
    assert sim.now().microsecond == 0


def test_multi_tenant_data_is_separate(make):
    """Several workspaces, each with its own keys, org id and data."""
    sim = make(tenants=3)
    ids = {t.workspace_id for t in sim.tenants}
    orgs = {t.organization_id for t in sim.tenants}
    assert len(ids) == 3
    assert len(orgs) == 3
    g0 = sim.ground_truth(sim.tenants[0].workspace_id)
    g1 = sim.ground_truth(sim.tenants[1].workspace_id)
    assert not set(g0["messages"]) & set(g1["messages"])


def test_100k_messages_generate_in_seconds():
    """Issue #2 item 11: a 100k-message workspace is generated in seconds."""
    cfg = SimulatorConfig(conversations=10_000, messages_per_conversation=(8, 12), start=START)
    t = time.perf_counter()
    ws = Workspace(cfg, 0)
    ws.populate(int(START.timestamp()) * 10**6)
    elapsed = time.perf_counter() - t
    lines = sum(f.n_lines for f in ws.streams["CONVERSATION_MESSAGE"].files)
    assert lines >= 95_000
    assert elapsed < 30
