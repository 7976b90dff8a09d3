"""Behaviours of compliance-api.md the tap must handle, each against the simulator serving it.

One tap run per test, small worlds (tests/simulator/test_reference_fidelity.py checks that the
simulator serves each behaviour as the reference states it).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib

from chatgpt_compliance_simulator import Oddities, Quirks, Simulator
from tap_chatgpt_compliance.evidence.verify import Comparer, Report
from tap_chatgpt_compliance.logfiles.records import message_record
from tests.support.tap import assert_one_readable_line, run_tap, tap_config

LOGS = "/v1/compliance/workspaces/{workspace_id}/logs"
ORG_LOGS = "/v1/compliance/organizations/{organization_id}/logs"
SMALL = {
    "seed": 11,
    "users": 3,
    "conversations": 10,
    "messages_per_conversation": (2, 4),
    "attachment_rate": 0.7,
    "attachment_size": (200, 4_000),
    "span_days": 1.0,
    "speed": 60.0,
}


def test_uploads_named_by_content_only_are_archived(simulator_factory):
    """§2.9 (PSOXY: `content.annotations[].files[{id}]`, `content.file_id`) and §6 #13 ("take
    file ids from message.files[].id (or annotations files[].id)"): an upload that a message
    names only from its content is still downloaded, verified and archived, and listed in the
    message's `attachment_ids`; authors given as `author.role` (§2.9, §5 #7) keep their type.
    """
    sim: Simulator = simulator_factory(
        **SMALL,
        quirks=Quirks.none(),
        oddities=dataclasses.replace(
            Oddities(), file_refs_in_content_rate=1.0, author_role_rate=0.5
        ),
    )
    truth = sim.ground_truth()
    assert truth["attachments"]
    run = run_tap(tap_config(sim))
    assert run.returncode == 0, run.stderr[-2000:]
    files = {r["id"]: r for r in run.records["files"]}
    assert set(files) == set(truth["attachments"])
    for fid, expected in truth["attachments"].items():
        record = files[fid]
        assert record["status"] == "archived", record
        assert record["sha256"] == expected["sha256"]
        body = base64.b64decode(record["content_base64"])
        assert hashlib.sha256(body).hexdigest() == expected["sha256"]
    messages = {r["id"]: r for r in run.records["messages"]}
    for mid, expected in truth["messages"].items():
        assert messages[mid]["attachment_ids"] == expected["file_ids"], mid
        assert messages[mid]["author_type"] == expected["author_type"], mid


def test_verify_accepts_attachment_ids_of_earlier_taps():
    """A message row written before content-named files counted (its `attachment_ids` from
    `message.files` only) is no altered row; any other value still is."""
    event = {
        "event_id": "e1",
        "type": "CONVERSATION_MESSAGE",
        "message": {
            "id": "m1",
            "files": [{"id": "file-a"}],
            "content": {
                "type": "text",
                "value": "see",
                "annotations": [{"type": "file", "files": [{"id": "file-b"}]}],
                "file_id": "file-c",
            },
        },
    }
    expected = message_record(event, "ws", "eclf_1")
    assert expected["attachment_ids"] == ["file-a", "file-b", "file-c"]
    compare = Comparer(nul_replaced=False, report=Report(source="test"))
    for stored, differs in (
        (["file-a", "file-b", "file-c"], []),
        (["file-a"], []),
        (["file-b"], ["attachment_ids"]),
        ([], ["attachment_ids"]),
    ):
        row = {**expected, "attachment_ids": stored}
        assert compare.differences("messages", row, expected) == differs, stored


def test_multi_document_listing_is_asked_again(simulator_factory):
    """§5 #12: a listing answered as "newline-separated multi-document" JSON (XSIAM, seen now
    and then) is a passing fault: the page is asked again and the run archives everything.
    It was read as "not JSON (a proxy?)": the stream stopped, exit 1, 0 of 33 messages."""
    sim: Simulator = simulator_factory(
        **{**SMALL, "attachment_rate": 0.0},
        quirks=Quirks.none(),
        oddities=dataclasses.replace(Oddities(), multi_document_listing_rate=1.0),
    )
    truth = sim.ground_truth()
    run = run_tap(tap_config(sim))
    assert run.returncode == 0, run.stderr[-2000:]
    assert {r["id"] for r in run.records["messages"]} == set(truth["messages"])
    assert sim.request_count(LOGS) > len(run.records["log_files"]) // 100 + 1  # pages re-asked


def test_multi_document_listing_that_persists_fails_in_one_line(simulator_factory):
    """The same answer on every try: one readable line naming it, exit 1, no state moved."""
    sim: Simulator = simulator_factory(**{**SMALL, "attachment_rate": 0.0}, quirks=Quirks.none())
    page = b'{"data":[],"has_more":false,"last_end_time":null}'
    sim.inject(LOGS, body=page + b"\n" + page, count=100)
    run = run_tap(tap_config(sim, max_retries=1, max_retry_wait=0.1))
    assert run.returncode == 1
    line = assert_one_readable_line(run, "several JSON documents")
    assert "proxy" not in line
    assert not run.records["messages"]
    for state in run.states:  # no bookmark of the log listing ever moved
        listing = dict(state["bookmarks"]["log_files"])
        listing.pop("selected_columns", None)  # the streams written (users, GPTs), not a bookmark
        assert listing == {"workspace_id": sim.workspace_id}, state


def test_no_openai_organization_header(simulator_factory):
    """§6 #7 / §3.6: the organization id is only a path principal; never send an
    `OpenAI-Organization` header (RAPPDW did; the spec does not define it), even with
    `organization_id` set and the org's COSTS listed. Every request carries a Bearer key."""
    sim: Simulator = simulator_factory(**{**SMALL, "attachment_rate": 0.0}, quirks=Quirks.none())
    config = tap_config(sim, organization_id=sim.organization_id)
    run = run_tap({**config, "event_types": ["CONVERSATION_MESSAGE", "COSTS"]})
    assert run.returncode == 0, run.stderr[-2000:]
    assert sim.request_count(ORG_LOGS) >= 1
    names = sim.request_header_names()
    assert "openai-organization" not in names, names
    assert names["authorization"] == sim.request_count(None) - sim.request_count("signed")
