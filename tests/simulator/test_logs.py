"""Compliance Logs Platform endpoints (reference §1B, §2.8, §2.9, §3.2, §3.3)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import requests

from chatgpt_compliance_simulator import Quirks
from tests.support.simulators import EPOCH_AFTER, Client, events_of


def _ts(s: str) -> str:
    return s


def test_list_shape_order_and_strictly_later(plain):
    """§1B L1 / §2.8: metadata fields, ascending end_time, only files strictly later than after."""
    c = Client(plain)
    files = c.list_all()
    assert len(files) > 3
    f = files[0]
    assert set(f) == {"id", "event_type", "end_time", "file_name", "file_size", "file_sha256"}
    assert f["id"].startswith("eclf_")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", f["end_time"])
    assert f["file_name"] == f"CONVERSATION_MESSAGE_{f['end_time'][:-1]}.jsonl"
    assert re.fullmatch(r"[0-9a-f]{64}", f["file_sha256"])
    ends = [x["end_time"] for x in files]
    assert ends == sorted(ends)
    pivot = files[2]["end_time"]
    r = c.list_page(after=pivot)
    assert r.status_code == 200
    assert all(x["end_time"] > pivot for x in r.json()["data"])
    assert r.json()["data"][0]["id"] == files[3]["id"]


def test_paging_collects_everything_once(plain):
    """§3.2: paging with after=last_end_time until has_more is false returns every file."""
    c = Client(plain)
    small = c.list_all(limit=2)
    assert [f["id"] for f in small] == [f["id"] for f in plain.log_files()]
    r = c.list_page(limit=2).json()
    assert len(r["data"]) == 2
    assert r["has_more"] is True
    assert r["last_end_time"] == r["data"][-1]["end_time"]


def test_before_filter_and_union(plain):
    """§1B L1: `before` is exclusive; repeated event_type returns the union, ordered."""
    c = Client(plain)
    files = c.list_all()
    cut = files[4]["end_time"]
    data = c.list_page(before=cut).json()["data"]
    assert [f["id"] for f in data] == [f["id"] for f in files[:4]]
    both = c.list_page(["CONVERSATION_MESSAGE", "AUTH_LOG"], limit=100).json()["data"]
    types = {f["event_type"] for f in both}
    assert types == {"CONVERSATION_MESSAGE", "AUTH_LOG"}
    keys = [(f["end_time"], f["id"]) for f in both]
    assert keys == sorted(keys)


def test_empty_page_has_null_last_end_time(plain):
    """§2.8: an empty page has last_end_time null and has_more false."""
    c = Client(plain)
    r = c.list_page(after=plain.now().isoformat()).json()
    assert r == {"data": [], "has_more": False, "last_end_time": None}


def test_after_formats_accepted(plain):
    """§3.2: after with offset or microseconds is accepted (ISO 8601 with a zone)."""
    c = Client(plain)
    for after in ("2026-06-30T00:00:00.123456Z", "2026-06-30T02:00:00+02:00", EPOCH_AFTER):
        assert c.list_page(after=after).status_code == 200


def test_validation_422(plain):
    """§3.2/§3.5: missing or naive after, bad limit, missing/unknown event_type → FastAPI 422."""
    c = Client(plain)
    url = c.ws("/logs")
    cases = [
        ({"event_type": "CONVERSATION_MESSAGE"}, "after"),
        ({"event_type": "CONVERSATION_MESSAGE", "after": "2026-06-30T00:00:00"}, "after"),
        ({"event_type": "CONVERSATION_MESSAGE", "after": "yesterday"}, "after"),
        ({"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER, "limit": 101}, "limit"),
        ({"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER, "limit": 0}, "limit"),
        ({"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER, "limit": "x"}, "limit"),
        ({"after": EPOCH_AFTER}, "event_type"),
        ({"event_type": "NOPE", "after": EPOCH_AFTER}, "event_type"),
        ({"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER, "before": "x"}, "before"),
    ]
    for params, field in cases:
        r = c.get(url, params=params)
        assert r.status_code == 422, (params, r.text)
        detail = r.json()["detail"]
        assert detail[0]["loc"] == ["query", field]
        assert detail[0]["msg"]
        assert detail[0]["type"]


def test_download_redirect_and_bytes(plain):
    """§1B L2 / §3.3: 307 without body to another port; bytes match file_size and file_sha256."""
    c = Client(plain)
    f = c.list_all()[0]
    r = c.get(c.ws(f"/logs/{f['id']}"))
    assert r.status_code == 307
    assert r.content == b""
    loc = r.headers["Location"]
    assert loc.startswith(plain.signed_base_url)
    assert plain.signed_base_url not in plain.base_url
    r2 = c.get(c.ws(f"/logs/{f['id']}"))
    assert r2.headers["Location"] != loc  # each 307 mints a fresh URL
    got = requests.get(loc, timeout=5)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/x-ndjson"
    assert len(got.content) == f["file_size"]
    assert hashlib.sha256(got.content).hexdigest() == f["file_sha256"]
    assert c.get(c.ws("/logs/eclf_doesnotexist")).status_code == 404


def test_signed_url_rejects_authorization_and_expires(make):
    """§3.3 / §6 #16: the signed host refuses Authorization and stops after its TTL."""
    import time

    sim = make(signed_url_ttl=0.4)
    c = Client(sim)
    f = c.list_all()[0]
    loc = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    bad = requests.get(loc, headers={"Authorization": f"Bearer {sim.api_key}"}, timeout=5)
    assert bad.status_code == 403
    assert b"<Error>" in bad.content
    assert requests.get(loc, timeout=5).status_code == 200
    time.sleep(0.6)
    late = requests.get(loc, timeout=5)
    assert late.status_code == 403
    assert b"expired" in late.content
    fresh = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    assert requests.get(fresh, timeout=5).status_code == 200
    assert requests.get(sim.signed_base_url + "/o/nope/x", timeout=5).status_code == 404


def test_max_event_time(plain):
    """§1B L3: {max_event_time: {TYPE: iso|null}}; equals the newest published event (null for
    a type with no event: CUSTOM_AGENTS_LOG is never generated)."""
    c = Client(plain)
    r = c.get(
        c.ws("/max_event_time"),
        params={"event_type": ["CONVERSATION_MESSAGE", "CUSTOM_AGENTS_LOG"]},
    )
    assert r.status_code == 200
    got = r.json()["max_event_time"]
    assert got["CUSTOM_AGENTS_LOG"] is None
    newest = max(e["timestamp"] for f in c.list_all() for e in events_of(c.download(f["id"])))
    assert got["CONVERSATION_MESSAGE"] == newest
    assert c.get(c.ws("/max_event_time")).status_code == 422


def test_org_scope(plain):
    """§1B L4 / §3.5: COSTS only on the org path; each scope rejects the other's types (422)."""
    c = Client(plain)
    costs = c.list_all("COSTS", org=True)
    assert costs
    assert all(f["event_type"] == "COSTS" for f in costs)
    body = c.download(costs[0]["id"], org=True)
    ev = events_of(body)[0]
    assert ev["type"] == "COSTS"
    assert ev["principal"]["id"] == plain.organization_id
    r = c.get(c.org("/logs"), params={"event_type": "AUTH_LOG", "after": EPOCH_AFTER})
    assert r.status_code == 422
    assert "AUTH_LOG is a workspace-scoped event type" in r.json()["detail"][0]["msg"]
    assert "/v1/compliance/workspaces/" in r.json()["detail"][0]["msg"]
    r = c.list_page("COSTS")
    assert r.status_code == 422
    assert "organization-scoped" in r.json()["detail"][0]["msg"]
    m = c.get(c.org("/max_event_time"), params={"event_type": "COSTS"})
    assert m.status_code == 200
    assert m.json()["max_event_time"]["COSTS"]
    # a workspace file id is not found on the org path and vice versa
    ws_file = c.list_all()[0]["id"]
    assert c.get(c.org(f"/logs/{ws_file}")).status_code == 404
    assert c.get(c.ws(f"/logs/{costs[0]['id']}")).status_code == 404
    assert (
        c.get(
            c.org("/logs", org="org-unknown"), params={"event_type": "COSTS", "after": EPOCH_AFTER}
        ).status_code
        == 404
    )


def test_costs_are_late(plain):
    """§3.2: COSTS latency is 3-5 h; no COSTS file covers the last 3 hours."""
    c = Client(plain)
    costs = c.list_all("COSTS", org=True)
    newest = max(e["timestamp"] for f in costs for e in events_of(c.download(f["id"], org=True)))
    limit = (plain.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert newest <= limit


def test_new_files_only_for_complete_windows_and_advance(make):
    """§3.2 / issue #2 item 9: files appear only for complete windows; advance cuts new ones."""
    sim = make(quirks=Quirks.none(), log_window_minutes=10)
    c = Client(sim)
    before = c.list_all()
    now_s = sim.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(f["end_time"] <= now_s for f in before)
    window_start = sim.now().replace(minute=sim.now().minute // 10 * 10, second=0)
    assert all(f["end_time"] <= window_start.strftime("%Y-%m-%dT%H:%M:%SZ") for f in before)
    sim.advance(timedelta(hours=6))
    after = c.list_all()
    assert len(after) > len(before)
    assert {f["id"] for f in before} <= {f["id"] for f in after}


def test_retention_30_days(make):
    """§3.2: files expire 30 days after creation (listing and download)."""
    sim = make(quirks=Quirks.none(), span_days=1.0, conversations=4)
    c = Client(sim)
    old = c.list_all()
    sim.advance(timedelta(days=31))
    new = c.list_all()
    assert not {f["id"] for f in old} & {f["id"] for f in new}
    assert c.get(c.ws(f"/logs/{old[0]['id']}")).status_code == 404
    gt = sim.ground_truth()
    assert [f["id"] for f in gt["log_files"]["CONVERSATION_MESSAGE"]] == [f["id"] for f in new]


def test_file_size_cap(make):
    """§2.8: files are split so none exceeds max_log_file_bytes; end_times strictly increase."""
    sim = make(
        quirks=Quirks.none(), max_log_file_bytes=4096, log_window_minutes=60, conversations=40
    )
    files = sim.log_files()
    assert all(f["file_size"] <= 4096 for f in files)
    ends = [f["end_time"] for f in files]
    assert ends == sorted(set(ends))


def test_conversation_message_envelope(plain):
    """§2.9: the CONVERSATION_MESSAGE envelope carries every documented field."""
    c = Client(plain)
    evs = [e for f in c.list_all() for e in events_of(c.download(f["id"]))]
    e = evs[0]
    assert {
        "event_id",
        "type",
        "timestamp",
        "principal",
        "actor",
        "message",
        "conversation",
    } <= set(e)
    assert e["principal"] == {"id": plain.workspace_id, "type": "CHATGPT_WORKSPACE"}
    assert e["actor"]["type"] == "ACCOUNT_USER"
    assert e["actor"]["user_id"].startswith("user-")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["timestamp"])
    m = e["message"]
    assert {"id", "created_at", "parent_id", "author", "content", "files"} <= set(m)
    assert {
        "id",
        "title",
        "created_at",
        "is_pinned",
        "is_temporary_chat",
        "gpt_id",
        "gpt_name",
        "project_id",
        "project_name",
    } <= set(e["conversation"])
    authors = {x["message"]["author"]["type"] for x in evs}
    assert authors == {"user", "assistant", "tool"}
    for x in evs:
        a = x["message"]["author"]
        assert "tools_used" in a
        assert "skills_used" in a
        if a["type"] == "assistant":
            assert a["model"]
        if a["type"] == "user":
            assert a["client_type"]
    firsts = [x for x in evs if x["message"]["parent_id"] is None]
    assert firsts
    assert all("previous_message_id" not in x for x in firsts)
    others = [x for x in evs if x["message"]["parent_id"]]
    assert all(x["previous_message_id"] == x["message"]["parent_id"] for x in others)
    with_files = [x for x in evs if x["message"]["files"]]
    assert with_files
    fobj = with_files[0]["message"]["files"][0]
    assert fobj["id"].startswith("file-")
    assert fobj["object"] == "compliance.workspace.conversation.message.file"
    assert isinstance(fobj["created_at"], float)
    assert fobj["name"]


def test_other_event_types_shapes(plain):
    """§2.9 "Other types": AUDIT_LOG, AUTH_LOG, APP_LOG, CODEX_LOG shapes."""
    c = Client(plain)

    def first(t):
        f = c.list_all(t)[0]
        e = events_of(c.download(f["id"]))[0]
        assert e["type"] == t
        assert e["event_id"]
        assert e["timestamp"].endswith("Z")
        return e

    auth = first("AUTH_LOG")
    assert {
        "action",
        "role",
        "auth_provider_name",
        "client_id",
        "application_name",
        "granted_scopes",
    } <= set(auth["action_data"])
    assert "client_ip" in auth["request_metadata"]
    audit = first("AUDIT_LOG")
    assert {"action", "action_result", "action_privilege", "action_data"} <= set(audit)
    app = first("APP_LOG")
    assert {
        "app_id",
        "app_name",
        "app_type",
        "conversation_id",
        "log_type",
        "input",
        "output",
    } <= set(app)
    codex = first("CODEX_LOG")
    assert {"event_type", "client_id", "workspace_id", "event_details"} <= set(codex)
    assert "token_usage" in codex["event_details"]


def test_publish_log_file_serves_exactly_the_given_bytes(plain):
    """``publish_log_file``: any bytes, listed last with their size and SHA-256, downloaded as is;
    the same calls give the same file ids (deterministic), later generated files keep theirs."""
    c = Client(plain)
    before = c.list_all(event_type="AUDIT_LOG")
    bodies = [b"", b"\xff\xfe not json \x00\r\n[" * 3, b"no final newline"]
    metas = [plain.publish_log_file(body, "AUDIT_LOG") for body in bodies]
    listed = c.list_all(event_type="AUDIT_LOG")
    assert listed[: len(before)] == before
    assert listed[len(before) :] == metas
    ends = [m["end_time"] for m in listed]
    assert ends == sorted(set(ends))
    for meta, body in zip(metas, bodies, strict=True):
        assert meta["file_size"] == len(body)
        assert meta["file_sha256"] == hashlib.sha256(body).hexdigest()
        assert c.download(meta["id"]) == body
        assert plain.log_file_bytes(meta["id"]) == body
    assert len({m["id"] for m in metas}) == len(metas)
