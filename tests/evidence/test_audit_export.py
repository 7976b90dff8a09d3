"""Export attacked as an adversary would (audit): each defect found, one test each.

Rows forged outside what verify checks, hostile text that must stay exact and safe, a custodian
whose email names two users.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.evidence.export import SelectionError
from tests.support.tap import TapRun

from .conftest import cli, write_jsonl
from .test_export_hazards import AT, _archive, _event, _export, _rsmf


def _records(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(run.records)


def _forged_message(records: dict[str, list[dict[str, Any]]], **row: Any) -> dict[str, Any]:
    """A messages row of an archived conversation that no raw line backs."""
    forged = copy.deepcopy(records["messages"][0])
    event = forged["event"]
    event["event_id"] = "ev-forged"
    event["message"]["id"] = "msg-forged"
    event["message"]["content"]["value"] = "FORGED MESSAGE TEXT"
    forged.update(id="msg-forged", event_id="ev-forged", content_text="FORGED MESSAGE TEXT", **row)
    return forged


def test_a_row_without_a_log_file_is_never_produced_as_proven(
    inline_run: TapRun, tmp_path: Path
) -> None:
    """A messages row added with no log_file_id (null): the slice verify must still name it
    (a row pointing to no manifest record), so the export refuses instead of showing it."""
    records = _records(inline_run)
    forged = _forged_message(records, log_file_id=None)
    records["messages"].append(forged)
    folder = write_jsonl(records, tmp_path / "archive")
    out = tmp_path / "out"
    done = cli(
        "export",
        "--jsonl",
        str(folder),
        "--conversation",
        forged["conversation_id"],
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stdout
    assert "FINDING manifest: log file None" in done.stderr
    assert not out.exists()


def test_a_custodian_email_of_two_users_is_refused_not_halved(tmp_path: Path) -> None:
    """An email two user ids acted under (an address moved to a new account): picking one user
    silently left the other's conversations out; it is one line naming both, nothing written."""
    events = [
        _event("conv-a", "t", "m-1", "as the old account", AT.format(1), user="user-Old"),
        _event("conv-b", "t", "m-2", "as the new account", AT.format(2), user="user-New"),
    ]
    with pytest.raises(SelectionError, match=r"names 2 users \(user-New, user-Old\)"):
        _export(_archive(events), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    for user, conversation in (("user-Old", "conv-a"), ("user-New", "conv-b")):
        out = tmp_path / user
        _export(_archive(events), out, custodian=user)
        assert [p.name for p in (out / "html").glob("*.html")] == [f"{conversation}.html"]


def test_a_title_that_looks_encoded_is_shown_as_typed_in_rsmf_headers(tmp_path: Path) -> None:
    """A title typed as an RFC 2047 encoded word (``=?utf-8?b?…?=``) was written bare into the
    Subject, which every mail reader decodes: the review platform showed other words than the
    delivered title. Headers now read back exactly as the title was delivered."""
    title = "=?utf-8?b?SW5ub2NlbnQgbHVuY2g=?= =?utf-8?q?plans?="
    out = tmp_path / "out"
    _export(_archive([_event("conv-e", title, "m-1", "x", AT.format(1))]), out)
    (path,) = (out / "rsmf").glob("*.rsmf")
    message, _, manifest = _rsmf(path)
    assert message["Subject"] == f"ChatGPT Enterprise: {title} (2026-11-26)"
    assert manifest["conversations"][0]["display"] == title
