"""Auth, scopes and tenants (reference §3.5, §3.6, §6 #4)."""

from __future__ import annotations

import requests

from chatgpt_compliance_simulator import SCOPE_BY_TYPE, SCOPE_EXPORT_READ
from tests.support.simulators import EPOCH_AFTER, Client


def _err(r):
    e = r.json()["error"]
    assert set(e) == {"message", "type", "param", "code"}
    return e


def test_missing_invalid_revoked_keys_401(simulator):
    """§3.5: missing or invalid key → 401 with an OpenAI-style error body."""
    c = Client(simulator)
    url = c.ws("/logs")
    params = {"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER}
    assert requests.get(url, params=params, timeout=5).status_code == 401
    r = requests.get(
        url, params=params, headers={"Authorization": "Bearer sk-proj-nope"}, timeout=5
    )
    assert r.status_code == 401
    assert _err(r)["message"]
    r = requests.get(url, params=params, headers={"Authorization": simulator.api_key}, timeout=5)
    assert r.status_code == 401  # Bearer is required
    key = simulator.issue_key(simulator.workspace_id)
    assert Client(simulator, key).list_page().status_code == 200
    simulator.revoke_key(key)
    assert Client(simulator, key).list_page().status_code == 401
    revoked = simulator.issue_key(simulator.workspace_id, revoked=True)
    assert Client(simulator, revoked).list_page().status_code == 401


def test_other_workspace_key_403_and_unknown_404(make):
    """§3.5: a key used on another workspace → 403; unknown workspace or no plan → 404."""
    sim = make(tenants=2)
    a, b = sim.tenants
    assert a.workspace_id != b.workspace_id
    assert a.api_key != b.api_key
    ca, cb = Client(sim, a.api_key), Client(sim, b.api_key)
    assert ca.list_page().status_code == 200
    assert cb.get(cb.ws("/users", ws=b.workspace_id)).status_code == 200
    r = cb.get(ca.ws("/users"))
    assert r.status_code == 403
    assert _err(r)["type"] == "permission_error"
    assert ca.get(ca.ws("/users", ws="00000000-0000-4000-8000-000000000000")).status_code == 404
    off = sim.add_workspace(compliance_enabled=False)
    co = Client(sim, off.api_key)
    assert co.get(co.ws("/users", ws=off.workspace_id)).status_code == 404
    assert (
        co.get(
            co.ws("/logs", ws=off.workspace_id),
            params={"event_type": "AUTH_LOG", "after": EPOCH_AFTER},
        ).status_code
        == 404
    )
    # org of another tenant → 403
    r = ca.get(
        ca.org("/logs", org=b.organization_id), params={"event_type": "COSTS", "after": EPOCH_AFTER}
    )
    assert r.status_code == 403


def test_scopes(simulator):
    """§3.6: per-type log scopes and compliance_export.read; 403 names the missing scope."""
    sim = simulator
    key = sim.issue_key(sim.workspace_id, scopes={SCOPE_BY_TYPE["CONVERSATION_MESSAGE"]})
    c = Client(sim, key)
    assert c.list_page().status_code == 200
    f = c.list_page().json()["data"] or Client(sim).list_all()
    r = c.list_page("AUTH_LOG")
    assert r.status_code == 403
    assert SCOPE_BY_TYPE["AUTH_LOG"] in _err(r)["message"]
    r = c.get(c.ws("/users"))
    assert r.status_code == 403
    assert SCOPE_EXPORT_READ in _err(r)["message"]
    auth_file = Client(sim).list_all("AUTH_LOG")[0]["id"]
    assert c.get(c.ws(f"/logs/{auth_file}")).status_code == 403
    assert c.get(c.ws(f"/logs/{f[0]['id']}")).status_code == 307
    mx = c.get(c.ws("/max_event_time"), params={"event_type": "AUDIT_LOG"})
    assert mx.status_code == 403
    export_only = Client(sim, sim.issue_key(sim.workspace_id, scopes={SCOPE_EXPORT_READ}))
    assert export_only.get(export_only.ws("/users")).status_code == 200
    assert export_only.list_page().status_code == 403
    costs_only = Client(sim, sim.issue_key(sim.workspace_id, scopes={SCOPE_BY_TYPE["COSTS"]}))
    r = costs_only.get(
        costs_only.org("/logs"), params={"event_type": "COSTS", "after": EPOCH_AFTER}
    )
    assert r.status_code == 200


def test_unknown_route_404(simulator):
    """§3.5: unknown paths (e.g. removed GET /conversations, §4) → 404 OpenAI-style."""
    c = Client(simulator)
    r = c.get(c.ws("/conversations"))
    assert r.status_code == 404
    assert _err(r)["message"]
