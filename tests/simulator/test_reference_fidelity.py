"""The simulator against /work/shared/reference/compliance-api.md, claim by claim.

Each test names the reference section it checks. They pin behaviours where the simulator
was once more forgiving than the reference (a tap tested against it would prove nothing).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest
import requests

from chatgpt_compliance_simulator import Oddities, Quirks
from chatgpt_compliance_simulator import config as sim_config
from tests.support.simulators import EPOCH_AFTER, Client, events_of

#: Reference §1B, "Event types seen": the workspace types and the org-scoped COSTS.
REFERENCE_WORKSPACE_TYPES = {
    "CONVERSATION_MESSAGE",
    "AUDIT_LOG",
    "AUTH_LOG",
    "APP_LOG",
    "APP_AUTH_LOG",
    "CODEX_LOG",
    "CODEX_SECURITY_LOG",
    "CODEX_TURN",
    "CUSTOM_AGENTS_LOG",
    "CHATGPT_PLUGIN_SPREADSHEET",
}
REFERENCE_ORG_TYPES = {"COSTS"}
#: §1B: Fivetran table names, "which may not equal the API values" (LOW): not API types.
FIVETRAN_ONLY = ("APP_AUTH_ORGANIZATION_LOG", "APP_ORGANIZATION_LOG", "MEMORY_CONTEXT")


def test_event_type_comma_list_is_not_a_repeat(plain):
    """§1B L1 / §3.2 / §6 #10: `event_type` is *repeatable* (the key repeated); nothing in the
    reference accepts a comma-joined value, which an enum list parameter rejects with 422
    (§3.5). Repeating the key still gives the union."""
    c = Client(plain)
    for path in ("/logs", "/max_event_time"):
        params: dict[str, object] = {"event_type": "AUTH_LOG,AUDIT_LOG"}
        if path == "/logs":
            params["after"] = EPOCH_AFTER
        r = c.s.get(c.ws(path), params=params)
        assert r.status_code == 422, (path, r.text)
        (d,) = r.json()["detail"]
        assert d["loc"] == ["query", "event_type"]
        assert d["type"] == "enum"
        assert d["input"] == "AUTH_LOG,AUDIT_LOG"
    r = c.s.get(
        c.ws("/logs"), params={"event_type": ["AUTH_LOG", "AUDIT_LOG"], "after": EPOCH_AFTER}
    )
    assert r.status_code == 200
    assert {f["event_type"] for f in r.json()["data"]} == {"AUTH_LOG", "AUDIT_LOG"}


def test_event_type_vocabulary_is_the_reference_list(plain):
    """§1B "Event types seen" and L4: the simulator accepts exactly the reference's types,
    COSTS only on the organization path, and rejects Fivetran-only names (LOW) with 422,
    whatever the tap's own list says."""
    assert set(sim_config.WORKSPACE_EVENT_TYPES) == REFERENCE_WORKSPACE_TYPES
    assert set(sim_config.ORG_EVENT_TYPES) == REFERENCE_ORG_TYPES
    c = Client(plain)
    for name in FIVETRAN_ONLY:
        r = c.s.get(c.ws("/logs"), params={"event_type": name, "after": EPOCH_AFTER})
        assert r.status_code == 422, name


def _config_download_urls(c: Client) -> list[tuple[str, str]]:
    """(file id, inline download_url) of every GPT knowledge file (file_format=url)."""
    out = []
    for g in c.s.get(c.ws("/gpts")).json()["data"]:
        for cfg in g["latest_config"]["data"]:
            for f in cfg["files"]["data"]:
                if f["download_url"]:
                    out.append((f["id"], f["download_url"]))
    return out


def test_signed_urls_expire_after_one_simulated_hour(make):
    """§2.3 ConversationFile/BaseFile: "The URL expires after 1 hour"; §6 #9: assume the worst
    (1 h, not 3 h). A URL minted before the simulated clock moved on by more than an hour is
    refused even if little real time passed, and on expiry the client must re-request the API
    URL (§3.3: "do not retry the stale signed URL"), which mints a fresh one that works."""
    sim = make(users=6, signed_url_ttl=600.0, quirks=Quirks.none())
    c = Client(sim)
    urls = _config_download_urls(c)
    assert urls
    fid, inline = urls[0]
    r307 = c.s.get(c.ws(f"/gpt_files/{fid}"), allow_redirects=False)
    assert r307.status_code == 307
    located = r307.headers["Location"]
    sim.advance(timedelta(minutes=59))
    assert requests.get(inline).status_code == 200  # within the hour
    sim.advance(timedelta(minutes=2))
    for stale in (inline, located):
        r = requests.get(stale)
        assert r.status_code == 403, stale
        assert b"Request has expired" in r.content
    fresh = c.s.get(c.ws(f"/gpt_files/{fid}"), allow_redirects=False).headers["Location"]
    assert fresh != located
    assert requests.get(fresh).status_code == 200


def test_log_download_signed_url_expires_in_simulated_time(make):
    """§1B L2 / §3.3: the log download's signed URL is "short-lived"; it obeys the same
    simulated-hour bound, and re-requesting the API URL mints a fresh, working one."""
    sim = make(signed_url_ttl=600.0, quirks=Quirks.none())
    c = Client(sim)
    f = c.list_page(limit=1).json()["data"][0]
    api = c.ws(f"/logs/{f['id']}")
    stale = c.s.get(api, allow_redirects=False).headers["Location"]
    sim.advance(timedelta(hours=2))
    assert requests.get(stale).status_code == 403
    fresh = c.s.get(api, allow_redirects=False).headers["Location"]
    assert requests.get(fresh).status_code == 200


def test_out_of_range_zoned_after_is_422_not_a_dropped_connection(plain):
    """§3.2 / §3.5: a bad `after`/`before` is query validation → 422 (FastAPI style). A zoned
    time whose UTC instant leaves the calendar (year 1 minus an offset, year 9999 plus one)
    was an unhandled error: the connection closed without an answer."""
    c = Client(plain)
    for name in ("after", "before"):
        for raw in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
            params = {"event_type": "AUTH_LOG", "after": EPOCH_AFTER, name: raw}
            r = c.s.get(c.ws("/logs"), params=params, timeout=10)
            assert r.status_code == 422, (name, raw, r.text)
            (d,) = r.json()["detail"]
            assert d["loc"] == ["query", name]
            assert d["input"] == raw


def _message_events(sim) -> list[dict]:
    """Every CONVERSATION_MESSAGE event of every listed file (downloaded over HTTP)."""
    c = Client(sim)
    return [e for f in c.list_all() for e in events_of(c.download(f["id"]))]


def test_files_referenced_from_content_only(make):
    """§2.9 (PSOXY adds `files[{id}]` to `content.annotations[]`, and `content.file_id`) and §6
    #13 ("take file ids from message.files[].id (or annotations files[].id)"): with the oddity
    on, uploads are named by the content only, and each is still a downloadable upload of its
    message's owner (endpoint #9 → 307) in the ground truth."""
    sim = make(
        attachment_rate=0.6,
        quirks=Quirks.none(),
        oddities=dataclasses.replace(Oddities(), file_refs_in_content_rate=1.0),
    )
    truth = sim.ground_truth()
    assert truth["attachments"]
    c = Client(sim)
    by_annotation, by_file_id = set(), set()
    for e in _message_events(sim):
        m = e["message"]
        assert m["files"] == []
        content = m["content"] or {}
        for note in content.get("annotations", []):
            by_annotation.update(f["id"] for f in note.get("files", []))
        if "file_id" in content:
            by_file_id.add(content["file_id"])
        if m["id"]:
            refs = [f["id"] for n in content.get("annotations", []) for f in n.get("files", [])]
            refs += [content["file_id"]] if "file_id" in content else []
            assert truth["messages"][m["id"]]["file_ids"] == refs
    assert by_annotation
    assert by_file_id
    assert by_annotation | by_file_id == set(truth["attachments"])
    fid, a = next(iter(truth["attachments"].items()))
    params = {"conversation_id": a["conversation_id"]} if a["needs_conversation_id"] else {}
    r = c.get(c.ws(f"/users/{a['user_id']}/files/{fid}"), params=params)
    assert r.status_code == 307


def test_files_referenced_from_content_off_by_default(make):
    """Default: uploads are listed in `message.files` only (§2.3/§2.9 shape), as before."""
    sim = make(attachment_rate=0.6, quirks=Quirks.none())
    listed = {f["id"] for e in _message_events(sim) for f in e["message"]["files"]}
    assert listed == set(sim.ground_truth()["attachments"])


def test_author_role_instead_of_type(make):
    """§2.9 "and sometimes `author.role` (psoxy supports both)", §5 #7 "Authorship encoding
    changed (`author.role` → `author.type`)": with the oddity on, authors carry `role` and no
    `type`; the ground truth still knows who wrote each message."""
    sim = make(quirks=Quirks.none(), oddities=dataclasses.replace(Oddities(), author_role_rate=0.5))
    events = _message_events(sim)
    roles = [e for e in events if "role" in e["message"]["author"]]
    assert 0 < len(roles) < len(events)
    assert all("type" not in e["message"]["author"] for e in roles)
    truth = sim.ground_truth()["messages"]
    for e in roles:
        assert truth[e["message"]["id"]]["author_type"] == e["message"]["author"]["role"]
    assert {e["message"]["author"]["role"] for e in roles} <= {"user", "assistant", "tool"}


def test_multi_document_listing_once_per_query(make):
    """§5 #12: XSIAM saw listing responses as "newline-separated multi-document" JSON ("Expecting
    value: line 2 column 1") and parses defensively. With the oddity on, a `/logs` page comes
    once as two newline-separated JSON documents (each the page); the same call again answers
    one document."""
    sim = make(
        quirks=Quirks.none(),
        oddities=dataclasses.replace(Oddities(), multi_document_listing_rate=1.0),
    )
    c = Client(sim)
    first = c.list_page(limit=3)
    assert first.status_code == 200
    with pytest.raises(json.JSONDecodeError, match="Extra data: line 2 column 1"):
        json.loads(first.content)
    documents = [json.loads(line) for line in first.content.splitlines() if line]
    assert len(documents) == 2
    assert documents[0] == documents[1]
    assert len(documents[0]["data"]) == 3
    assert c.list_page(limit=3).json() == documents[0]
    plain = Client(make(quirks=Quirks.none())).list_page(limit=3)
    assert json.loads(plain.content)["data"]  # off by default: one document


def test_file_content_endpoints_share_one_bucket_per_key(make):
    """§3.4: "File-content endpoints allow 100/min per key" (the list and get-by-id limits are
    "per endpoint per key"): GPT files, project files and user files draw from one bucket, so
    60 + 40 downloads leave no token for a user file; another key still has its own."""
    sim = make(speed=0.01, quirks=Quirks.none())  # slow refill: no token comes back meanwhile
    c = Client(sim)
    truth = sim.ground_truth()
    gpt_file, project_file = next(iter(truth["gpt_files"])), next(iter(truth["project_files"]))
    fid, a = next((k, v) for k, v in truth["attachments"].items() if not v["needs_conversation_id"])
    codes = [c.get(c.ws(f"/gpt_files/{gpt_file}")).status_code for _ in range(60)]
    codes += [c.get(c.ws(f"/project_files/{project_file}")).status_code for _ in range(40)]
    assert codes == [307] * 100
    user_file = c.ws(f"/users/{a['user_id']}/files/{fid}")
    r = c.get(user_file)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    other = Client(sim, sim.issue_key(sim.workspace_id))
    assert other.get(user_file).status_code == 307
    # the lists keep their own buckets per route
    assert c.get(c.ws("/gpts")).status_code == 200


def test_gen1_enums_and_custom_action_tools(make):
    """§2.2 role enum (TSCLIENT 2026 adds `analytics-viewer`) and status `active|inactive`;
    §2.4 GPT `sharing.visibility` enum (`anyone-with-link`, `gpt-store` included) and tools
    `{type: …|custom_action, created_at, action_domain, action_openapi_raw,
    action_privacy_policy_url, auth_type}`, ProjectTool without `auth_type`."""
    sim = make(users=40, gpts=80, projects=12, quirks=Quirks.none())
    c = Client(sim)
    users = c.get(c.ws("/users")).json()["data"]
    assert {u["role"] for u in users} == {
        "account-owner",
        "account-admin",
        "standard-user",
        "analytics-viewer",
    }
    assert {u["status"] for u in users} == {"active", "inactive"}
    gpts = c.get(c.ws("/gpts"), params={"limit": 100}).json()["data"]
    visibility = {g["sharing"]["visibility"] for g in gpts}
    assert {"anyone-with-link", "gpt-store"} <= visibility
    assert visibility <= {
        "invite-only",
        "workspace-with-link",
        "workspace",
        "anyone-with-link",
        "gpt-store",
    }
    tool_keys = {
        "type",
        "created_at",
        "action_domain",
        "action_openapi_raw",
        "action_privacy_policy_url",
    }
    actions = []
    for kind, keys in (("gpts", tool_keys | {"auth_type"}), ("projects", tool_keys)):
        for item in c.get(c.ws(f"/{kind}"), params={"limit": 100}).json()["data"]:
            for config in item["latest_config"]["data"]:
                for tool in config["tools"]["data"]:
                    assert set(tool) == keys, (kind, tool)
                    assert tool["type"] in {
                        "code_interpreter",
                        "browser",
                        "dall-e",
                        "memory",
                        "custom_action",
                    }
                    if tool["type"] == "custom_action":
                        actions.append(tool)
                        assert tool["action_domain"]
                        assert json.loads(tool["action_openapi_raw"])["openapi"]
                    else:
                        assert tool["action_domain"] is None
    assert actions


def test_listing_items_with_fields_the_reference_does_not_list(make):
    """§2.8 lists `id, event_type, end_time, file_name, file_size, file_sha256`; OpenAI may add
    more at any time. With `listing_new_fields`, every `/logs` item (workspace and org) also
    carries `line_count` and `retention.expires_at` (end_time + 30 days, §3.2); off by
    default."""
    odd = dataclasses.replace(Oddities(), listing_new_fields=True)
    c = Client(make(quirks=Quirks.none(), oddities=odd))
    listed = [(f, False) for f in c.list_all()] + [(f, True) for f in c.list_all("COSTS", org=True)]
    assert any(org for _, org in listed)
    assert not all(org for _, org in listed)
    for item, org in listed:
        assert item["line_count"] == c.download(item["id"], org).count(b"\n")
        end = datetime.fromisoformat(item["end_time"].replace("Z", "+00:00"))
        expires = datetime.fromisoformat(item["retention"]["expires_at"].replace("Z", "+00:00"))
        assert expires - end == timedelta(days=30)
    plain = Client(make(quirks=Quirks.none())).list_page(limit=5).json()["data"]
    assert plain
    assert {key for item in plain for key in item} == {
        "id",
        "event_type",
        "end_time",
        "file_name",
        "file_size",
        "file_sha256",
    }


def test_app_auth_and_codex_turn_events_have_the_reference_shapes(make):
    """§2.9 "Other types": APP_AUTH_LOG `app_id (nullable), link_id, action link|unlink`
    (ELASTIC) and CODEX_TURN `payload{product_client_id, model, session_id|thread_id,
    token_usage{uncached_input_tokens, cached_input_tokens, output_tokens}, cost_usd,
    estimated_cost_usd, credits}` (TSCLIENT) are generated (they were accepted but always
    empty), in the ground truth, with the common envelope (event_id, timestamp, principal,
    actor)."""
    sim = make(users=6, span_days=2.0, quirks=Quirks.none())
    c = Client(sim)
    truth = sim.ground_truth()["events"]
    envelope = {"event_id", "type", "timestamp", "principal", "actor"}
    app_auth = [e for f in c.list_all("APP_AUTH_LOG") for e in events_of(c.download(f["id"]))]
    assert app_auth
    assert {e["event_id"] for e in app_auth} == set(truth["APP_AUTH_LOG"])
    for e in app_auth:
        assert set(e) == envelope | {"app_id", "link_id", "action"}
        assert e["action"] in {"link", "unlink"}
        assert e["principal"] == {"id": sim.workspace_id, "type": "CHATGPT_WORKSPACE"}
    assert None in {e["app_id"] for e in app_auth}
    turns = [e for f in c.list_all("CODEX_TURN") for e in events_of(c.download(f["id"]))]
    assert turns
    assert {e["event_id"] for e in turns} == set(truth["CODEX_TURN"])
    for e in turns:
        assert set(e) == envelope | {"payload"}
        payload = e["payload"]
        assert {"session_id", "thread_id"} & set(payload)
        assert set(payload["token_usage"]) == {
            "uncached_input_tokens",
            "cached_input_tokens",
            "output_tokens",
        }
        for key in ("product_client_id", "model", "cost_usd", "estimated_cost_usd", "credits"):
            assert key in payload


def test_extra_types_named_organization_are_organization_scoped(make):
    """§1B: Fivetran's `APP_ORGANIZATION_LOG`, `APP_AUTH_ORGANIZATION_LOG` (LOW, "may not equal
    the API values") are refused on both paths by default; named in `extra_event_types`, they
    are organization-scoped like COSTS: listed (with events) under the organization, refused
    under the workspace with §3.5's message pattern; other extra names stay workspace types."""
    names = ("APP_ORGANIZATION_LOG", "APP_AUTH_ORGANIZATION_LOG")
    plain = Client(make(quirks=Quirks.none()))
    for name in names:
        assert plain.list_page(name).status_code == 422
        org = plain.get(plain.org("/logs"), params={"event_type": name, "after": EPOCH_AFTER})
        assert org.status_code == 422
    odd = dataclasses.replace(Oddities(), extra_event_types=(*names, "CHATGPT_PLUGIN_DOCUMENT"))
    c = Client(make(quirks=Quirks.none(), oddities=odd))
    for name in names:
        files = c.list_all(name, org=True)
        assert files
        events = [e for f in files for e in events_of(c.download(f["id"], org=True))]
        assert {e["type"] for e in events} == {name}
        assert {e["principal"]["type"] for e in events} == {"OPENAI_ORGANIZATION"}
        refused = c.list_page(name)
        assert refused.status_code == 422
        assert "is an organization-scoped event type" in refused.text
    assert c.list_all("CHATGPT_PLUGIN_DOCUMENT")
    document = c.get(
        c.org("/logs"), params={"event_type": "CHATGPT_PLUGIN_DOCUMENT", "after": EPOCH_AFTER}
    )
    assert document.status_code == 422
