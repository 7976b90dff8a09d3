"""Write routes, request counting and rate limits (reference §1C, §3.4, §6 #17)."""

from __future__ import annotations

import time

import requests

from tests.support.simulators import EPOCH_AFTER, Client

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
USERS = "/v1/compliance/workspaces/{workspace_id}/users"


def test_write_routes_are_inert_and_counted(simulator):
    """§1C: write routes answer 405, change nothing, and every non-GET is counted."""
    sim = simulator
    c = Client(sim)
    before = sim.ground_truth()
    conv = next(iter(before["conversations"]))
    user = before["users"][0]["id"]
    calls = [
        ("DELETE", c.ws(f"/conversations/{conv}")),
        ("DELETE", c.ws(f"/users/{user}/files/file-x")),
        ("DELETE", c.ws("/gpts/g-x")),
        ("DELETE", c.ws("/projects/g-p-x/shared_users")),
        ("POST", c.ws(f"/users/{user}/memory/delete_and_disable")),
        ("POST", c.ws("/memory/delete_and_disable")),
        ("POST", c.ws("/manage/users")),
        ("PUT", c.ws("/users")),
        ("PATCH", c.ws("/gpts/g-x")),
        ("HEAD", c.ws("/users")),
        ("OPTIONS", c.ws("/logs")),
        ("DELETE", sim.signed_base_url + "/o/anything/x"),
    ]
    for method, url in calls:
        r = c.s.request(method, url, timeout=5)
        assert r.status_code == 405, (method, url)
    assert sim.non_get_count == len(calls)
    assert (
        sim.request_count(
            "/v1/compliance/workspaces/{workspace_id}/conversations/{conversation_id}", "DELETE"
        )
        == 1
    )
    assert sim.ground_truth() == before
    sim.reset_counters()
    assert sim.non_get_count == 0


def test_request_count_by_template(simulator):
    """Issue #2 item 5: requests are counted per route template (and "signed")."""
    sim = simulator
    c = Client(sim)
    files = c.list_all()
    c.download(files[0]["id"])
    assert sim.request_count(LOGS) >= 1
    assert sim.request_count(LOGS + "/{log_file_id}") == 1
    assert sim.request_count("signed") == 1
    assert sim.non_get_count == 0


def test_rate_limit_429_with_retry_after(make):
    """§3.4: 100/min per (key, route) for logs, 50/min for Gen-1 lists; 429 + Retry-After."""
    sim = make(speed=0.01)  # slow refill: no token comes back on a loaded machine
    c = Client(sim)
    url = c.ws("/logs")
    params = {"event_type": "AUTH_LOG", "after": EPOCH_AFTER, "limit": 1}
    codes = [c.get(url, params=params).status_code for _ in range(101)]
    assert codes[:100] == [200] * 100
    assert codes[100] == 429
    r = c.get(url, params=params)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    # another route and another key have their own buckets
    assert c.get(c.ws("/max_event_time"), params={"event_type": "AUTH_LOG"}).status_code == 200
    other = Client(sim, sim.issue_key(sim.workspace_id))
    assert other.get(url, params=params).status_code == 200
    users = [c.get(c.ws("/users")).status_code for _ in range(51)]
    assert users[:50] == [200] * 50
    assert users[50] == 429


def test_speed_scales_rate_limit_window(make):
    """§3.4 + issue #2 item 6: speed 600 → 100 requests per 0.1 s; the bucket refills fast."""
    sim = make(speed=600.0)
    c = Client(sim)
    params = {"event_type": "AUTH_LOG", "after": EPOCH_AFTER, "limit": 1}
    codes = [c.get(c.ws("/logs"), params=params).status_code for _ in range(130)]
    assert 429 in codes or codes.count(200) == 130
    time.sleep(0.2)
    assert c.get(c.ws("/logs"), params=params).status_code == 200


def test_rate_limits_off(make):
    """rate_limits=False disables 429s."""
    sim = make(rate_limits=False)
    c = Client(sim)
    assert all(c.get(c.ws("/users")).status_code == 200 for _ in range(70))


def test_keep_alive_and_speed(make):
    """Issue #2 item 11: keep-alive session; serving is fast (many requests per second)."""
    sim = make(rate_limits=False)
    c = Client(sim)
    t = time.perf_counter()
    for _ in range(200):
        assert c.list_page(limit=5).status_code == 200
    assert time.perf_counter() - t < 5.0
    assert requests.get(sim.base_url.replace("/v1", "/nope"), timeout=5).status_code == 404
