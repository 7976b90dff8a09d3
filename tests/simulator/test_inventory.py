"""What the workspace holds (issue 21; reference §1A #6-8, #10-14, #17-27, §2.4-2.7, §3.1, §3.3).

Memories, canvases and their versions, automations, recordings, Codex tasks, library files and
GPT/project configuration history, over real HTTP, reconciled with ``sim.inventory_truth()``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import requests

from chatgpt_compliance_simulator import SCOPE_LOGS_ALL, Quirks, Simulator
from chatgpt_compliance_simulator.knobs import Inventory
from tests.support.simulators import Client


def gen1_all(c: Client, url: str, limit: int | None = None, **params: Any) -> list[dict]:
    """Page a Gen-1 list with after=last_id until has_more is false."""
    out: list[dict] = []
    after = None
    for _ in range(5000):
        q = dict(params)
        if limit is not None:
            q["limit"] = limit
        if after:
            q["after"] = after
        r = c.get(url, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"object", "data", "has_more", "last_id"}
        assert body["object"] == "list"
        out += body["data"]
        if body["data"]:
            assert body["last_id"] == body["data"][-1]["id"]
        if not body["has_more"]:
            return out
        after = body["last_id"]
    raise AssertionError("paging never ended")


def cursor_all(c: Client, url: str, limit: int | None = None) -> list[dict]:
    """Page a cursor list until has_more is false."""
    out: list[dict] = []
    cursor = None
    for _ in range(5000):
        q: dict[str, Any] = {}
        if limit is not None:
            q["limit"] = limit
        if cursor:
            q["cursor"] = cursor
        r = c.get(url, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "has_more", "cursor"}
        out += body["data"]
        if not body["has_more"]:
            assert body["cursor"] is None
            return out
        cursor = body["cursor"]
        assert isinstance(cursor, str)
        assert cursor
    raise AssertionError("paging never ended")


def canvas_versions(c: Client, uid: str, tid: str, limit: int = 30) -> list[dict]:
    """Every version of a canvas, paging with the integer ``after``."""
    out: list[dict] = []
    after: int | None = None
    for _ in range(5000):
        q: dict[str, Any] = {"limit": limit}
        if after is not None:
            q["after"] = after
        r = c.get(c.ws(f"/users/{uid}/canvas/{tid}"), params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"textdoc_id", "textdoc_type", "version_contents"}
        vc = body["version_contents"]
        assert set(vc) == {"object", "data", "last_version", "has_more"}
        out += vc["data"]
        if vc["data"]:
            assert vc["last_version"] == vc["data"][-1]["version"]
            assert isinstance(vc["last_version"], int)
        if not vc["has_more"]:
            return out
        after = vc["last_version"]
    raise AssertionError("paging never ended")


def user_ids(sim: Simulator) -> list[str]:
    return sorted(u["id"] for u in sim.ground_truth()["users"])


# ---------------------------------------------------------------------- memories
def test_workspace_memories_paging_order_and_inclusive_since(make):
    """§1A #10: ascending user id, after=user id, limit ≤ 200, since_timestamp inclusive."""
    sim = make(users=8, inventory=Inventory(memory_changes_per_user_day=1.5))
    c = Client(sim)
    truth = sim.inventory_truth()
    got = gen1_all(c, c.ws("/memories"), limit=1)
    assert [m["id"] for m in got] == sorted(truth["memories"])
    assert len(got) >= 5
    assert {m["id"]: m for m in got} == truth["memories"]
    m = got[0]
    assert m["object"] == "compliance.workspace.user.memory"
    ctx = m["memory_contexts"][0]
    assert ctx["object"] == "compliance.workspace.user.memory.context"
    assert ctx["memory_entries"][0]["object"] == "compliance.workspace.user.memory.context.entry"
    assert isinstance(ctx["memory_entries"][0]["updated_at"], float)
    # since_timestamp is inclusive: an entry updated at exactly a whole second is kept
    whole = [
        (eid, e)
        for eid, e in truth["memory_entries"].items()
        if e["deleted_at"] is None
        and e["versions"][-1]["updated_at"] == int(e["versions"][-1]["updated_at"])
    ]
    assert whole, "the world should hold a whole-second memory entry"
    eid, e = whole[0]
    ts = int(e["versions"][-1]["updated_at"])

    def ids(since: int) -> set[str]:
        page = gen1_all(c, c.ws("/memories"), since_timestamp=since)
        return {
            x["id"] for m in page for ctx in m["memory_contexts"] for x in ctx["memory_entries"]
        }

    assert eid in ids(ts)
    assert eid not in ids(ts + 1)
    expect = {
        i
        for i, x in truth["memory_entries"].items()
        if x["deleted_at"] is None and x["versions"][-1]["updated_at"] >= ts
    }
    assert ids(ts) == expect
    for bad in ({"since_timestamp": "1.5"}, {"limit": 0}, {"limit": 201}, {"limit": "x"}):
        assert c.get(c.ws("/memories"), params=bad).status_code == 422, bad


def test_user_memories_no_paging_since_and_404(make):
    """§1A #11: one Memory per user in a list object; since inclusive; unknown user → 404."""
    sim = make(users=4)
    c = Client(sim)
    truth = sim.inventory_truth()
    for uid in user_ids(sim):
        body = c.get(c.ws(f"/users/{uid}/memories")).json()
        assert body["has_more"] is False
        assert body["data"] == ([truth["memories"][uid]] if uid in truth["memories"] else [])
        future = c.get(c.ws(f"/users/{uid}/memories"), params={"since_timestamp": 4_000_000_000})
        assert future.json()["data"] == []
    assert c.get(c.ws("/users/user-unknown/memories")).status_code == 404


def test_memories_change_over_time(make):
    """Memories are added, edited and deleted as simulated time advances; history kept."""
    sim = make(users=3, inventory=Inventory(memory_changes_per_user_day=4.0))
    before = sim.inventory_truth()
    sim.advance(timedelta(days=3))
    after = sim.inventory_truth()
    assert before["memories"] != after["memories"]
    edited = [e for e in after["memory_entries"].values() if len(e["versions"]) > 1]
    deleted = [e for e in after["memory_entries"].values() if e["deleted_at"] is not None]
    assert edited
    assert deleted
    # the past is kept exactly
    assert (
        sim.inventory_truth(as_of=sim.now() - timedelta(days=3))["memories"] == before["memories"]
    )


# ---------------------------------------------------------------------- canvases
def test_heavy_user_canvases_and_versions(make):
    """§1A #13/14: hundreds of canvases, ascending; every version via integer ``after``."""
    sim = make(
        users=2,
        rate_limits=False,
        quirks=Quirks.none(),
        inventory=Inventory(heavy_user_canvases=150, heavy_user_versions=65),
    )
    c = Client(sim)
    truth = sim.inventory_truth()
    heavy = user_ids(sim)[0]
    listed = gen1_all(c, c.ws(f"/users/{heavy}/canvases"))
    mine = {k: v for k, v in truth["canvases"].items() if v["user_id"] == heavy}
    assert len(listed) == len(mine) >= 150
    assert all(set(x) == {"id"} for x in listed)
    created = [mine[x["id"]]["created_at"] for x in listed]
    assert created == sorted(created)
    first = c.get(c.ws(f"/users/{heavy}/canvases")).json()
    assert len(first["data"]) == 30
    assert first["has_more"] is True
    n_versions = 0
    big = [x["id"] for x in listed if len(mine[x["id"]]["versions"]) >= 65]
    assert len(big) >= 150
    for tid in big[:4] + big[-2:]:
        vs = canvas_versions(c, heavy, tid, limit=30)
        assert vs == mine[tid]["versions"]
        assert [v["version"] for v in vs] == list(range(1, len(vs) + 1))
        n_versions += len(vs)
    assert n_versions >= 6 * 65
    v = vs[0]
    assert set(v) == {"content", "updated_at", "version", "name", "comments"}
    assert isinstance(v["updated_at"], str)
    assert v["updated_at"].endswith("Z")
    tid = big[0]
    url = c.ws(f"/users/{heavy}/canvas/{tid}")
    page = c.get(url, params={"after": 60, "limit": 2}).json()["version_contents"]
    assert [v["version"] for v in page["data"]] == [61, 62]
    assert page["has_more"] is True
    assert c.get(url, params={"after": 10_000}).json()["version_contents"] == {
        "object": "list",
        "data": [],
        "last_version": None,
        "has_more": False,
    }
    for bad in ({"after": tid}, {"after": "1.5"}, {"limit": 31}, {"limit": 0}):
        assert c.get(url, params=bad).status_code == 422, bad
    assert c.get(c.ws(f"/users/{heavy}/canvases"), params={"limit": 31}).status_code == 422
    other = user_ids(sim)[1]
    assert c.get(c.ws(f"/users/{other}/canvas/{tid}")).status_code == 404
    assert c.get(c.ws(f"/users/{heavy}/canvas/{'0' * 32}")).status_code == 404
    assert c.get(c.ws("/users/user-nobody/canvases")).status_code == 404


def test_new_canvas_versions_appear_as_time_advances(make):
    """New canvases and versions appear as time advances; after=last_version finds them."""
    sim = make(
        users=3,
        inventory=Inventory(canvases_per_user_day=1.0, canvas_versions_per_day=3.0),
    )
    c = Client(sim)
    uid = user_ids(sim)[0]
    listed = gen1_all(c, c.ws(f"/users/{uid}/canvases"))
    assert listed
    tid = listed[0]["id"]
    seen = canvas_versions(c, uid, tid)
    t0 = sim.now()
    sim.advance(timedelta(days=2))
    r = c.get(c.ws(f"/users/{uid}/canvas/{tid}"), params={"after": seen[-1]["version"]})
    new = r.json()["version_contents"]["data"]
    assert new
    assert new[0]["version"] == seen[-1]["version"] + 1
    truth = sim.inventory_truth()
    assert seen + new == truth["canvases"][tid]["versions"][: len(seen) + len(new)]
    later = gen1_all(c, c.ws(f"/users/{uid}/canvases"))
    assert later[: len(listed)] == listed
    assert len(later) > len(listed)
    assert sim.inventory_truth(as_of=t0)["canvases"][tid]["versions"] == seen


# ---------------------------------------------------------------------- automations, recordings
def test_automations_and_recordings(make):
    """§1A #20-22 (shapes GUESS): paging, since on updated_at (inclusive), transcripts."""
    sim = make(
        users=3,
        inventory=Inventory(automations_per_user_day=0.6, recordings_per_user_day=0.6),
    )
    c = Client(sim)
    truth = sim.inventory_truth()
    n_auto = n_rec = 0
    for uid in user_ids(sim):
        autos = gen1_all(c, c.ws(f"/users/{uid}/automations"), limit=1)
        expect = [a["versions"][-1] for a in truth["automations"].values() if a["user_id"] == uid]
        assert autos == expect
        n_auto += len(autos)
        if autos:
            a = autos[-1]
            assert a["object"] == "compliance.workspace.user.automation"
            since = int(a["updated_at"])
            kept = gen1_all(c, c.ws(f"/users/{uid}/automations"), since_timestamp=since)
            assert a in kept
            assert all(x["updated_at"] >= since for x in kept)
        recs = gen1_all(c, c.ws(f"/users/{uid}/recordings"), limit=1)
        assert recs == [r["item"] for r in truth["recordings"].values() if r["user_id"] == uid]
        n_rec += len(recs)
        for rec in recs[:2]:
            url = c.ws(f"/users/{uid}/recordings/{rec['id']}/transcript")
            plain = c.get(url).json()
            assert plain == truth["recordings"][rec["id"]]["transcript"]
            assert "summary" not in plain
            assert plain["segments"]
            full = c.get(url, params={"include_summary": "true"}).json()
            assert full["summary"] == truth["recordings"][rec["id"]]["summary"]
            assert c.get(url, params={"include_summary": "maybe"}).status_code == 422
            other = user_ids(sim)[-1] if uid != user_ids(sim)[-1] else user_ids(sim)[0]
            wrong = c.ws(f"/users/{other}/recordings/{rec['id']}/transcript")
            assert c.get(wrong).status_code == 404
    assert n_auto
    assert n_rec
    assert c.get(c.ws(f"/users/{uid}/recordings/rec_nope/transcript")).status_code == 404
    assert (
        c.get(c.ws(f"/users/{uid}/automations"), params={"since_timestamp": "x"}).status_code == 422
    )


# ---------------------------------------------------------------------- codex tasks
def test_codex_tasks_cursor_paging_and_details(make):
    """§1A #23/24: {data, has_more, cursor}, limit ≤ 30 (default 30), newest first, details."""
    sim = make(users=3, inventory=Inventory(codex_tasks_per_day=5.0))
    c = Client(sim)
    truth = sim.inventory_truth()["codex_tasks"]
    assert len(truth) > 30
    first = c.get(c.ws("/codex_tasks")).json()
    assert len(first["data"]) <= 30
    assert first["has_more"] is True
    got = cursor_all(c, c.ws("/codex_tasks"), limit=7)
    assert sorted(t["id"] for t in got) == sorted(truth)
    assert len({t["id"] for t in got}) == len(got)
    created = [t["created_at"] for t in got]
    assert created == sorted(created, reverse=True)
    assert {t["id"]: t for t in got} == {k: v["item"] for k, v in truth.items()}
    assert set(got[0]) == {"id", "title", "created_by_id", "created_at", "updated_at"}
    for t in got[:3]:
        d = c.get(c.ws(f"/codex_tasks/{t['id']}")).json()
        assert d == truth[t["id"]]["versions"][-1]
    assert c.get(c.ws("/codex_tasks/task_e_nope")).status_code == 404
    for bad in ({"limit": 31}, {"limit": 0}, {"cursor": "garbage"}, {"cursor": "Y3VyMTp4"}):
        assert c.get(c.ws("/codex_tasks"), params=bad).status_code == 422, bad


def test_short_pages_quirk_still_reaches_the_end(make):
    """§3.1: pages can be short with has_more true; every list still ends with all items."""
    sim = make(
        users=3,
        rate_limits=False,
        quirks=Quirks(short_page_rate=1.0),
        inventory=Inventory(codex_tasks_per_day=4.0, heavy_user_canvases=40),
    )
    c = Client(sim)
    truth = sim.inventory_truth()
    heavy = user_ids(sim)[0]
    listed = gen1_all(c, c.ws(f"/users/{heavy}/canvases"), limit=10)
    assert len(listed) == sum(1 for v in truth["canvases"].values() if v["user_id"] == heavy)
    assert len(cursor_all(c, c.ws("/codex_tasks"), limit=10)) == len(truth["codex_tasks"])
    assert len(gen1_all(c, c.ws("/memories"), limit=2)) == len(truth["memories"])


# ---------------------------------------------------------------------- library files
def test_library_files_cursor_bytes_and_410(make):
    """§1A #26/27: cursor paging (newest first), 307 to the bytes, trashed → 410, 404."""
    sim = make(users=3, inventory=Inventory(library_files_per_user_day=1.0, library_trash_rate=0.4))
    c = Client(sim)
    truth = sim.inventory_truth()["library_files"]
    uids = user_ids(sim)
    n_ok = n_gone = 0
    for uid in uids:
        got = cursor_all(c, c.ws(f"/users/{uid}/library_files"), limit=3)
        mine = {k: v for k, v in truth.items() if v["user_id"] == uid}
        assert {f["id"]: f for f in got} == {k: v["versions"][-1] for k, v in mine.items()}
        assert [f["created_at"] for f in got] == sorted(
            (f["created_at"] for f in got), reverse=True
        )
        for f in got:
            assert set(f) == {
                "id",
                "name",
                "mime_type",
                "state",
                "created_at",
                "trashed_at",
                "is_project",
            }
            r = c.get(c.ws(f"/users/{uid}/library_files/{f['id']}"))
            if mine[f["id"]]["downloadable"]:
                assert r.status_code == 307, r.text
                body = requests.get(r.headers["Location"], timeout=10).content
                assert hashlib.sha256(body).hexdigest() == mine[f["id"]]["sha256"]
                n_ok += 1
            else:
                assert f["state"] == "trashed"
                assert f["trashed_at"] is not None
                assert r.status_code == 410
                n_gone += 1
            other = uids[(uids.index(uid) + 1) % len(uids)]
            assert c.get(c.ws(f"/users/{other}/library_files/{f['id']}")).status_code == 404
    assert n_ok
    assert n_gone
    assert c.get(c.ws(f"/users/{uids[0]}/library_files/file-nope")).status_code == 404
    assert c.get(c.ws(f"/users/{uids[0]}/library_files"), params={"cursor": "!"}).status_code == 422


# ---------------------------------------------------------------------- GPT / project history
@pytest.mark.parametrize("kind", ["gpts", "projects"])
def test_config_history_knowledge_files_and_410(make, kind):
    """§1A #6-8, #17-19: newest first, after=config id, files change between versions, 307/410."""
    sim = make(
        users=4,
        inventory=Inventory(config_versions_per_day=2.0, expired_knowledge_file_rate=0.3),
    )
    c = Client(sim)
    sim.advance(timedelta(days=2))
    truth = sim.inventory_truth()
    configs = truth["gpt_configs" if kind == "gpts" else "project_configs"]
    files = truth["gpt_files" if kind == "gpts" else "project_files"]
    file_route = "gpt_files" if kind == "gpts" else "project_files"
    changed = False
    for cid, versions in configs.items():
        got = gen1_all(c, c.ws(f"/{kind}/{cid}/configs"), limit=1, file_format="id")
        assert got == versions
        assert len(got) >= 2
        assert [v["created_at"] for v in got] == sorted(
            (v["created_at"] for v in got), reverse=True
        )
        sets = [tuple(f["id"] for f in v["files"]["data"]) for v in got]
        changed |= len(set(sets)) > 1
        latest = c.get(c.ws(f"/{kind}/{cid}"), params={"file_format": "id"}).json()
        assert latest["latest_config"] if kind == "gpts" else True
        urls = c.get(c.ws(f"/{kind}/{cid}/configs")).json()["data"]
        for f in (f for v in urls for f in v["files"]["data"]):
            # file_format=url: an expired file has created_at and download_url null (§2.3)
            assert (f["download_url"] is None) == files[f["id"]]["expired"]
            assert (f["created_at"] is None) == files[f["id"]]["expired"]
        shared = gen1_all(c, c.ws(f"/{kind}/{cid}/shared_users"))
        want = truth["gpt_shared_users" if kind == "gpts" else "project_shared_users"][cid]
        assert [u["id"] for u in shared] == want == sorted(want)
    assert changed
    gone = ok = 0
    for fid, f in files.items():
        r = c.get(c.ws(f"/{file_route}/{fid}"))
        if f["expired"]:
            assert r.status_code == 410
            gone += 1
        else:
            assert r.status_code == 307
            body = requests.get(r.headers["Location"], timeout=10).content
            assert hashlib.sha256(body).hexdigest() == f["sha256"]
            ok += 1
    assert gone
    assert ok
    assert c.get(c.ws(f"/{file_route}/file-nope")).status_code == 404
    assert c.get(c.ws(f"/{kind}/g-nope/configs")).status_code == 404


# ---------------------------------------------------------------------- determinism, isolation
def _served(sim: Simulator) -> list[bytes]:
    c = Client(sim)
    out = [c.get(c.ws("/memories")).content, c.get(c.ws("/codex_tasks")).content]
    for uid in user_ids(sim):
        for p in ("canvases", "automations", "recordings", "library_files", "memories"):
            out.append(c.get(c.ws(f"/users/{uid}/{p}")).content)
    return out


def test_deterministic_from_seed_and_independent_of_steps(make):
    """Same seed → same bytes; the state at a time does not depend on how the clock moved."""
    a, b, other = make(seed=5, users=3), make(seed=5, users=3), make(seed=6, users=3)
    assert _served(a) == _served(b)
    assert _served(a) != _served(other)
    a.advance(timedelta(days=3))
    for _ in range(6):
        b.advance(timedelta(hours=12))
    ta, tb = a.inventory_truth(), b.inventory_truth()
    assert ta == tb
    assert _served(a) == _served(b)


def test_inventory_knobs_leave_the_rest_of_the_world_unchanged(make):
    """The inventory draws from its own streams: users, GPTs, projects and logs stay identical."""
    base = make(seed=11, users=4)
    busy = make(
        seed=11,
        users=4,
        inventory=Inventory(
            canvases_per_user_day=3.0,
            memory_changes_per_user_day=5.0,
            codex_tasks_per_day=9.0,
            heavy_user_canvases=20,
            library_files_per_user_day=2.0,
        ),
    )
    for sim in (base, busy):
        sim.advance(timedelta(hours=20))
    cb, cy = Client(base), Client(busy)
    for path in ("/users", "/gpts", "/projects"):
        assert (
            cb.get(cb.ws(path), params={"file_format": "id"}).content
            == cy.get(cy.ws(path), params={"file_format": "id"}).content
        )
    for et in ("CONVERSATION_MESSAGE", "AUDIT_LOG", "AUTH_LOG"):
        fa, fb = base.log_files(event_type=et), busy.log_files(event_type=et)
        assert fa == fb
        assert [base.log_file_bytes(f["id"]) for f in fa] == [
            busy.log_file_bytes(f["id"]) for f in fb
        ]
    assert base.inventory_truth()["canvases"] != busy.inventory_truth()["canvases"]


# ---------------------------------------------------------------------- limits, faults, scopes
def test_rate_limits_faults_and_scope_apply(make):
    """§3.4: memories 50/min, per-user reads 100/min; injected faults; export scope needed."""
    sim = make(users=2)
    c = Client(sim)
    codes = [c.get(c.ws("/memories")).status_code for _ in range(51)]
    assert codes[:50] == [200] * 50
    assert codes[50] == 429
    r = c.get(c.ws("/memories"))
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    uid = user_ids(sim)[0]
    route = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/canvases"
    sim.inject(route, status=503, count=1)
    assert c.get(c.ws(f"/users/{uid}/canvases")).status_code == 503
    assert c.get(c.ws(f"/users/{uid}/canvases")).status_code == 200
    sim.inject("/v1/compliance/workspaces/{workspace_id}/codex_tasks", shape="null_data")
    assert c.get(c.ws("/codex_tasks")).json()["data"] is None
    logs_only = Client(sim, sim.issue_key(sim.workspace_id, scopes={SCOPE_LOGS_ALL}))
    assert logs_only.get(logs_only.ws("/codex_tasks")).status_code == 403
    assert logs_only.get(logs_only.ws(f"/users/{uid}/library_files")).status_code == 403


def test_cli_inventory_knobs():
    """``serve --inventory NAME=VALUE`` sets the knobs; an unknown name is a usage error."""
    from chatgpt_compliance_simulator.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        ["serve", "--inventory", "heavy_user_canvases=3", "--inventory", "codex_tasks_per_day=2.5"]
    )
    inv = config_from_args(args).inventory
    assert inv.heavy_user_canvases == 3
    assert inv.codex_tasks_per_day == 2.5
    for bad in ("nope=1", "heavy_user_canvases", "heavy_user_canvases=x"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--inventory", bad])


def test_reads_while_the_clock_advances(make):
    """Reading while another thread advances never fails and never shows a future version."""
    import threading

    sim = make(
        users=2,
        rate_limits=False,
        inventory=Inventory(canvases_per_user_day=2.0, canvas_versions_per_day=24.0),
    )
    c = Client(sim)
    uid = user_ids(sim)[0]
    done = threading.Event()

    def tick() -> None:
        for _ in range(16):
            sim.advance(timedelta(hours=3))
        done.set()

    t = threading.Thread(target=tick)
    t.start()
    n = 0
    while not done.is_set() or n == 0:
        for x in gen1_all(c, c.ws(f"/users/{uid}/canvases")):
            vs = canvas_versions(c, uid, x["id"])
            assert [v["version"] for v in vs] == list(range(1, len(vs) + 1))
            n += 1
    t.join()
    truth = sim.inventory_truth()
    for x in gen1_all(c, c.ws(f"/users/{uid}/canvases")):
        assert canvas_versions(c, uid, x["id"]) == truth["canvases"][x["id"]]["versions"]


def test_truth_as_of_a_past_time_is_what_was_served_then(make):
    """``inventory_truth(as_of=P)`` computed later equals what the API served at P."""
    sim = make(
        users=3,
        rate_limits=False,
        quirks=Quirks.none(),
        inventory=Inventory(
            memory_changes_per_user_day=12.0,
            automation_changes_per_day=4.0,
            automations_per_user_day=2.0,
            codex_tasks_per_day=8.0,
            library_files_per_user_day=3.0,
            library_trash_rate=0.5,
            canvas_versions_per_day=6.0,
        ),
    )
    c = Client(sim)
    uids = user_ids(sim)
    seen = []
    for _ in range(10):
        sim.advance(timedelta(minutes=97))
        served = {
            "memories": {m["id"]: m for m in gen1_all(c, c.ws("/memories"))},
            "codex": {t["id"]: t for t in cursor_all(c, c.ws("/codex_tasks"))},
            "library": {
                f["id"]: f for u in uids for f in cursor_all(c, c.ws(f"/users/{u}/library_files"))
            },
            "automations": {
                a["id"]: a for u in uids for a in gen1_all(c, c.ws(f"/users/{u}/automations"))
            },
            "canvases": {
                x["id"]: canvas_versions(c, u, x["id"])
                for u in uids
                for x in gen1_all(c, c.ws(f"/users/{u}/canvases"))
            },
        }
        seen.append((sim.now(), served))
    for when, served in seen:
        t = sim.inventory_truth(as_of=when)
        assert served["memories"] == t["memories"]
        assert served["codex"] == {k: v["item"] for k, v in t["codex_tasks"].items()}
        assert served["library"] == {k: v["versions"][-1] for k, v in t["library_files"].items()}
        assert served["automations"] == {k: v["versions"][-1] for k, v in t["automations"].items()}
        assert served["canvases"] == {k: v["versions"] for k, v in t["canvases"].items()}
        # every served memory entry state is one of the entry's recorded versions, valid then
        for m in served["memories"].values():
            for ctx in m["memory_contexts"]:
                for e in ctx["memory_entries"]:
                    v = t["memory_entries"][e["id"]]["versions"][-1]
                    assert (v["content"], v["updated_at"]) == (e["content"], e["updated_at"])
    with pytest.raises(ValueError, match="later than"):
        sim.inventory_truth(as_of=sim.now() + timedelta(seconds=1))


def test_whole_second_memory_times_are_not_served_early(make):
    """An entry shown with a floored ``updated_at`` is served only from its real instant on."""
    from chatgpt_compliance_simulator.clock import from_us

    knobs = Inventory(memory_changes_per_user_day=12.0)
    a = make(seed=21, users=3, inventory=knobs)
    start = a.now()
    a.advance(timedelta(days=2))
    floored = [
        (v["updated_at"], v["valid_from"])
        for e in a.inventory_truth()["memory_entries"].values()
        for v in e["versions"]
        if v["valid_from"] != v["updated_at"] and v["valid_from"] > start.timestamp()
    ]
    assert floored
    shown, real = floored[0]
    assert shown == int(shown) < real
    b = make(seed=21, users=3, inventory=knobs)
    mid = from_us(round((shown + real) / 2 * 1_000_000))
    b.advance_to(mid)
    c = Client(b)
    served = {m["id"]: m for m in gen1_all(c, c.ws("/memories"))}
    assert served == a.inventory_truth(as_of=mid)["memories"]
    times = {
        e["updated_at"]
        for m in served.values()
        for ctx in m["memory_contexts"]
        for e in ctx["memory_entries"]
    }
    assert shown not in times
