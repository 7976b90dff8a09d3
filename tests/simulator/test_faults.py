"""Faults on demand, deterministic from the seed (issue #2 item 8; reference §3.5 5xx, §2.8)."""

from __future__ import annotations

import hashlib
import time

import pytest
import requests

from chatgpt_compliance_simulator import Faults
from tests.support.simulators import EPOCH_AFTER, Client

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
PARAMS = {"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER}


def test_inject_status_and_retry_after(simulator):
    """§3.5: injected 5xx/429 answers with OpenAI-style bodies, then normal service."""
    c = Client(simulator)
    simulator.inject(LOGS, status=503, count=2)
    assert [c.get(c.ws("/logs"), params=PARAMS).status_code for _ in range(3)] == [503, 503, 200]
    simulator.inject(LOGS, status=429, retry_after=3)
    r = c.get(c.ws("/logs"), params=PARAMS)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "3"
    assert r.json()["error"]["message"]
    with pytest.raises(ValueError):
        simulator.inject("/v1/nope", status=500)


def test_inject_reset_and_truncate(simulator):
    """Connection resets and truncated bodies, on the API and on the signed host."""
    c = Client(simulator)
    simulator.inject(LOGS, reset=True)
    with pytest.raises(requests.ConnectionError):
        c.get(c.ws("/logs"), params=PARAMS)
    simulator.inject(LOGS, truncate=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        c.get(c.ws("/logs"), params=PARAMS).content  # noqa: B018
    assert c.get(c.ws("/logs"), params=PARAMS).status_code == 200
    f = c.list_all()[0]
    simulator.inject("signed", truncate=True)
    loc = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(loc, timeout=5).content  # noqa: B018
    simulator.inject("signed", status=500)
    assert requests.get(loc, timeout=5).status_code == 500
    assert requests.get(loc, timeout=5).status_code == 200


def test_inject_page(simulator):
    """A proxy or gateway answering for the host: 200 with its own HTML page, then service."""
    c = Client(simulator)
    f = c.list_all()[0]
    simulator.inject("/v1/compliance/workspaces/{workspace_id}/logs/{log_file_id}", page="<p>no")
    r = c.get(c.ws(f"/logs/{f['id']}"))
    assert (r.status_code, r.headers["Content-Type"], r.text) == (200, "text/html", "<p>no")
    assert c.get(c.ws(f"/logs/{f['id']}")).status_code == 307


def test_inject_body(simulator):
    """Exactly the bytes and headers given, once; then service."""
    c = Client(simulator)
    route = "/v1/compliance/workspaces/{workspace_id}/users"
    simulator.inject(route, body=b"[1,", headers={"Content-Encoding": "gzip"})
    r = c.get(c.ws("/users"), stream=True)
    assert (r.status_code, r.headers["Content-Encoding"], r.raw.read()) == (200, "gzip", b"[1,")
    simulator.inject(route, body=b"", status=200)
    r = c.get(c.ws("/users"))
    assert (r.status_code, r.headers["Content-Type"], r.content) == (200, "application/json", b"")
    assert c.get(c.ws("/users")).json()["object"] == "list"


def test_random_faults(make):
    """error_rate, reset_rate, truncate_rate and latency_ms apply to every request."""
    c = Client(make(faults=Faults(error_rate=1.0)))
    assert c.get(c.ws("/logs"), params=PARAMS).status_code in (500, 502, 503)
    c = Client(make(faults=Faults(reset_rate=1.0)))
    with pytest.raises(requests.ConnectionError):
        c.get(c.ws("/logs"), params=PARAMS)
    c = Client(make(faults=Faults(truncate_rate=1.0)))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        c.get(c.ws("/logs"), params=PARAMS).content  # noqa: B018
    c = Client(make(faults=Faults(latency_ms=150)))
    t = time.perf_counter()
    c.get(c.ws("/logs"), params=PARAMS)
    assert time.perf_counter() - t >= 0.15


def test_error_bursts_deterministic(make):
    """5xx bursts: same seed → same sequence of statuses."""
    seqs = []
    for _ in range(2):
        c = Client(make(faults=Faults(error_rate=0.2, error_burst=3), rate_limits=False))
        seqs.append([c.get(c.ws("/users")).status_code for _ in range(40)])
    assert seqs[0] == seqs[1]
    assert any(s >= 500 for s in seqs[0])
    assert 200 in seqs[0]
    codes = seqs[0]
    first = codes.index(next(s for s in codes if s >= 500))
    assert all(s >= 500 for s in codes[first : first + 3])


def test_bad_sha(make):
    """§2.8: a wrong file_sha256 for a chosen file (config set, or corrupt_sha at runtime)."""
    sim = make()
    c = Client(sim)
    files = c.list_all()
    target = files[0]["id"]
    sim.corrupt_sha(target, count=1)
    listed = {f["id"]: f for f in c.list_page(limit=100).json()["data"] or c.list_all()}
    real = hashlib.sha256(c.download(target)).hexdigest()
    assert listed[target]["file_sha256"] != real
    again = {f["id"]: f for f in c.list_all()}
    assert again[target]["file_sha256"] == real
    sim2 = make(faults=Faults(bad_sha_file_ids={target}))
    c2 = Client(sim2)
    for _ in range(2):
        f2 = {f["id"]: f for f in c2.list_all()}
        assert f2[target]["file_sha256"] != hashlib.sha256(c2.download(target)).hexdigest()


def test_expired_signed_urls(make):
    """§3.3: expired signed URLs (expire_signed_urls_for and expired_signed_url_rate)."""
    sim = make()
    c = Client(sim)
    f = c.list_all()[0]
    sim.expire_signed_urls_for(1)
    loc = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    assert requests.get(loc, timeout=5).status_code == 403
    loc = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    assert requests.get(loc, timeout=5).status_code == 200
    sim2 = make(faults=Faults(expired_signed_url_rate=1.0))
    c2 = Client(sim2)
    loc = c2.get(c2.ws(f"/logs/{f['id']}")).headers["Location"]
    assert requests.get(loc, timeout=5).status_code == 403
