"""Gen-1 REST reads and file downloads (reference §1A #3-9, #15-19, §2.1-2.4, §3.1, §3.3)."""

from __future__ import annotations

import hashlib

import requests

from chatgpt_compliance_simulator import Quirks
from tests.support.simulators import Client


def test_users_list_and_paging(plain):
    """§1A #3 / §2.2: list envelope, ascending user_id, after=last_id paging, clamp, 422."""
    sim = plain
    c = Client(sim)
    r = c.get(c.ws("/users"))
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert body["has_more"] is False
    ids = [u["id"] for u in body["data"]]
    assert ids == sorted(ids)
    assert body["last_id"] == ids[-1]
    u = body["data"][0]
    assert u["object"] == "compliance.workspace.user"
    assert set(u) == {"object", "id", "email", "name", "created_at", "role", "status"}
    assert isinstance(u["created_at"], float)
    seen, after = [], None
    while True:
        page = c.get(c.ws("/users"), params={"limit": 1, **({"after": after} if after else {})})
        p = page.json()
        seen += [x["id"] for x in p["data"]]
        after = p["last_id"]
        if not p["has_more"]:
            break
    assert seen == ids
    assert c.get(c.ws("/users"), params={"limit": 5000}).status_code == 200
    assert c.get(c.ws("/users"), params={"limit": 0}).status_code == 422


def test_short_pages_still_reach_the_end(make):
    """§3.1: "a smaller page does not mean the end"; paging by has_more gets all users."""
    sim = make(users=9, quirks=Quirks(short_page_rate=1.0))
    c = Client(sim)
    seen, after = [], ""
    for _ in range(50):
        p = c.get(c.ws("/users"), params={"limit": 3, "after": after}).json()
        seen += [x["id"] for x in p["data"]]
        after = p["last_id"] or after
        if not p["has_more"]:
            break
    assert sorted(seen) == sorted(u["id"] for u in sim.ground_truth()["users"])


def test_gpts_and_projects(plain):
    """§1A #4-7, #15-18 / §2.4: GPT and project objects, configs (newest first), shared users."""
    c = Client(plain)
    for kind, prefix in (
        ("gpts", "compliance.workspace.gpt"),
        ("projects", "compliance.workspace.project"),
    ):
        lst = c.get(c.ws(f"/{kind}")).json()
        assert lst["object"] == "list"
        assert lst["data"]
        g = lst["data"][0]
        assert g["object"] == prefix
        assert g["sharing"]["object"] == f"{prefix}.sharing"
        cfg = g["latest_config"]["data"][0]
        assert cfg["object"] == f"{prefix}.configuration"
        one = c.get(c.ws(f"/{kind}/{g['id']}"))
        assert one.status_code == 200
        assert one.json()["id"] == g["id"]
        configs = c.get(c.ws(f"/{kind}/{g['id']}/configs")).json()["data"]
        created = [x["created_at"] for x in configs]
        assert created == sorted(created, reverse=True)
        shared = c.get(c.ws(f"/{kind}/{g['id']}/shared_users")).json()
        assert [u["id"] for u in shared["data"]] == sorted(u["id"] for u in shared["data"])
        assert c.get(c.ws(f"/{kind}/g-unknown")).status_code == 404
        ids = c.get(c.ws(f"/{kind}"), params={"file_format": "id"}).json()
        for x in ids["data"]:
            for fobj in x["latest_config"]["data"][0]["files"]["data"]:
                assert fobj["object"].endswith(".file_info")
                assert "download_url" not in fobj


def test_gpt_and_project_files(make):
    """§1A #8, #19 / §3.3: GPT and project files → 307 to the signed host, kept indefinitely."""
    sim = make(gpts=6, projects=6)
    c = Client(sim)
    gt = sim.ground_truth()
    for route, files in (("gpt_files", gt["gpt_files"]), ("project_files", gt["project_files"])):
        assert files
        fid, meta = next(iter(files.items()))
        r = c.get(c.ws(f"/{route}/{fid}"))
        assert r.status_code == 307
        body = requests.get(r.headers["Location"], timeout=5).content
        assert hashlib.sha256(body).hexdigest() == meta["sha256"]
        assert len(body) == meta["size"]
        assert c.get(c.ws(f"/{route}/file-unknown")).status_code == 404


def test_user_file_download(make):
    """§1A #9 / §3.3: 307 with the real content type; 404 unknown or wrong user; bytes match."""
    sim = make(attachment_rate=0.8, span_days=0.5)
    c = Client(sim)
    gt = sim.ground_truth()["attachments"]
    live = [
        (fid, a) for fid, a in gt.items() if not a["expired"] and not a["needs_conversation_id"]
    ]
    fid, a = live[0]
    r = c.get(c.ws(f"/users/{a['user_id']}/files/{fid}"))
    assert r.status_code == 307
    assert r.content == b""
    got = requests.get(r.headers["Location"], timeout=5)
    assert got.headers["Content-Type"] == a["mime_type"]
    assert hashlib.sha256(got.content).hexdigest() == a["sha256"]
    assert len(got.content) == a["size"]
    other = next(u["id"] for u in sim.ground_truth()["users"] if u["id"] != a["user_id"])
    assert c.get(c.ws(f"/users/{other}/files/{fid}")).status_code == 404
    assert c.get(c.ws(f"/users/{a['user_id']}/files/file-nope")).status_code == 404


def test_audio_video_need_conversation_id(make):
    """§1A #9: conversation_id is required for audio and video files (400 without it)."""
    sim = make(
        attachment_rate=1.0,
        span_days=0.5,
        conversations=40,
        quirks=Quirks(expired_attachments=False),
    )
    c = Client(sim)
    gt = sim.ground_truth()["attachments"]
    fid, a = next((k, v) for k, v in gt.items() if v["needs_conversation_id"])
    url = c.ws(f"/users/{a['user_id']}/files/{fid}")
    r = c.get(url)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "conversation_id"
    assert c.get(url, params={"conversation_id": a["conversation_id"]}).status_code == 307


def test_file_ids_in_events_are_downloadable(make):
    """§6 #13: message.files[].id downloads via /users/{actor.user_id}/files/{id}."""
    sim = make(attachment_rate=0.8, span_days=0.5, quirks=Quirks(expired_attachments=False))
    c = Client(sim)
    msgs = sim.ground_truth()["messages"]
    with_files = [m for m in msgs.values() if m["file_ids"]]
    assert with_files
    m = with_files[0]
    r = c.get(
        c.ws(f"/users/{m['user_id']}/files/{m['file_ids'][0]}"),
        params={"conversation_id": m["conversation_id"]},
    )
    assert r.status_code == 307
