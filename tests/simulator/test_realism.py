"""Generated events closer to published samples (issue #7), each switchable as a quirk."""

from __future__ import annotations

import dataclasses

from chatgpt_compliance_simulator import Quirks
from tests.support.simulators import Client, events_of

REALISM = (
    "string_ip_details",
    "short_auth_action_data",
    "whole_second_timestamps",
    "sparse_conversation_fields",
    "offset_file_names",
)


def events(sim, t):
    c = Client(sim)
    return [e for f in c.list_all(t) for e in events_of(c.download(f["id"]))]


def test_published_shapes_by_default(make):
    sim = make(conversations=20, rate_limits=False)
    auth = events(sim, "AUTH_LOG")
    details = [e["request_metadata"]["client_ip_details"] for e in auth]
    for d in details:
        assert all(isinstance(d[k], str) for k in ("asn", "latitude", "longitude"))
    assert any(d["asn"] == "" for d in details)
    assert any(d["asn"] for d in details)
    assert all(set(e["action_data"]) == {"action", "role"} for e in auth)
    cm = events(sim, "CONVERSATION_MESSAGE")
    stamps = [e["timestamp"] for e in cm + auth]
    assert any("." not in s for s in stamps)
    assert any("." in s for s in stamps)
    assert all(s.endswith("Z") for s in stamps)
    convs = [e["conversation"] for e in cm]
    assert any("gpt_id" not in c and "project_id" not in c for c in convs)
    assert all(c["gpt_id"] and c["gpt_name"] for c in convs if "gpt_id" in c)
    assert all(c["project_id"] and c["project_name"] for c in convs if "project_id" in c)
    names = [f["file_name"] for f in sim.log_files()]
    assert any(n.endswith("+00:00.jsonl") for n in names)
    assert any(not n.endswith("+00:00.jsonl") for n in names)
    for f in sim.log_files():
        assert f["file_name"] in (
            f"CONVERSATION_MESSAGE_{f['end_time'][:-1]}.jsonl",
            f"CONVERSATION_MESSAGE_{f['end_time'][:-1]}+00:00.jsonl",
        )


def test_documented_shapes_when_switched_off(make):
    quirks = dataclasses.replace(Quirks(), **dict.fromkeys(REALISM, False))
    sim = make(quirks=quirks, rate_limits=False)
    auth = events(sim, "AUTH_LOG")
    assert all(e["request_metadata"]["client_ip_details"]["asn"] == 3320 for e in auth)
    assert all("granted_scopes" in e["action_data"] for e in auth)
    cm = events(sim, "CONVERSATION_MESSAGE")
    assert all("." in e["timestamp"] for e in cm + auth)
    assert all("gpt_id" in e["conversation"] for e in cm)
    assert not any("+00:00" in f["file_name"] for f in sim.log_files())
    assert set(REALISM) <= set(Quirks.names())
    assert not any(getattr(Quirks.none(), n) for n in REALISM)


def test_realism_keeps_the_data_skeleton(make):
    """Realism draws from its own generator: same messages and background event ids."""
    on = make().ground_truth(published_only=False)
    off = make(quirks=dataclasses.replace(Quirks(), **dict.fromkeys(REALISM, False)))
    off_gt = off.ground_truth(published_only=False)
    assert set(on["messages"]) == set(off_gt["messages"])
    for t in ("AUTH_LOG", "AUDIT_LOG", "CODEX_LOG", "COSTS"):
        assert set(on["events"][t]) == set(off_gt["events"][t])
