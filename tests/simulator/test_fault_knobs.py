"""Fault knobs of issue 17: a skewed Date, broken listing shapes, trickled bodies."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests

from chatgpt_compliance_simulator import Faults
from tests.support.simulators import EPOCH_AFTER, START, Client

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
USERS = "/v1/compliance/workspaces/{workspace_id}/users"
PARAMS = {"event_type": "CONVERSATION_MESSAGE", "after": EPOCH_AFTER}


def _date(response: requests.Response) -> float:
    parsed = email.utils.parsedate_to_datetime(response.headers["Date"])
    return parsed.timestamp()


def test_date_header_is_simulated_time_and_can_be_skewed(make):
    """The Date header tells simulated time; date_offset_seconds shifts it (both hosts)."""
    sim = make()
    c = Client(sim)
    assert _date(c.get(c.ws("/logs"), params=PARAMS)) == START.timestamp()
    sim.skew_date(86_400 * 365)
    assert _date(c.get(c.ws("/users"))) == START.timestamp() + 86_400 * 365
    f = c.list_all()[0]
    location = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    assert _date(requests.get(location, timeout=5)) == START.timestamp() + 86_400 * 365
    sim.skew_date(0)
    assert _date(c.get(c.ws("/users"))) == START.timestamp()
    skewed = make(faults=Faults(date_offset_seconds=-3600))
    assert _date(Client(skewed).get(Client(skewed).ws("/users"))) == START.timestamp() - 3600


@pytest.mark.parametrize(
    ("shape", "check"),
    [
        ("empty_object", lambda body: body == {}),
        ("null_data", lambda body: body["data"] is None and "has_more" in body),
        ("no_data", lambda body: "data" not in body and "has_more" in body),
        ("data_not_list", lambda body: isinstance(body["data"], dict)),
        ("no_has_more", lambda body: "has_more" not in body and body["data"]),
        ("no_last_end_time", lambda body: "last_end_time" not in body and body["data"]),
    ],
)
def test_injected_listing_shapes(make, shape, check):
    """inject(shape=…) breaks the next listing page only; the next one is whole again."""
    sim = make()
    c = Client(sim)
    sim.inject(LOGS, shape=shape)
    broken = c.get(c.ws("/logs"), params={**PARAMS, "limit": 5})
    assert broken.status_code == 200
    assert check(broken.json())
    whole = c.get(c.ws("/logs"), params={**PARAMS, "limit": 5}).json()
    assert set(whole) >= {"data", "has_more", "last_end_time"}


def test_rest_list_shapes_and_rate(make):
    """Gen-1 lists lose last_id/has_more on demand; bad_shape_rate=1 breaks every listing."""
    sim = make()
    c = Client(sim)
    sim.inject(USERS, shape="no_last_id")
    body = c.get(c.ws("/users")).json()
    assert "last_id" not in body
    assert body["data"]
    assert "last_id" in c.get(c.ws("/users")).json()
    with pytest.raises(ValueError, match="unknown shape"):
        sim.inject(USERS, shape="nonsense")
    every = make(faults=Faults(bad_shape="null_data", bad_shape_rate=1.0))
    c = Client(every)
    assert c.get(c.ws("/logs"), params=PARAMS).json()["data"] is None
    assert c.get(c.ws("/users")).json()["data"] is None
    f = sim.log_files()[0]
    # not a listing: a download is never reshaped
    assert c.get(c.ws(f"/logs/{f['id']}")).status_code == 307


def test_trickled_body(make):
    """inject("signed", trickle=(bytes, seconds)): the body arrives slowly but whole."""
    sim = make()
    c = Client(sim)
    f = c.list_all()[0]
    expected = sim.log_file_bytes(f["id"])
    sim.inject("signed", trickle=(max(1, len(expected) // 4), 0.2))
    location = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    started = time.monotonic()
    body = requests.get(location, timeout=5).content
    assert body == expected
    assert time.monotonic() - started >= 0.6
    # a read timeout shorter than the pause between bytes trips on a trickle
    sim.inject("signed", trickle=(1, 1.0))
    location = c.get(c.ws(f"/logs/{f['id']}")).headers["Location"]
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(location, timeout=0.3).content  # noqa: B018
