"""Attack round 16: dead-end REST branches, the seals' record counts, stored files on chains.

What was found:

- a ``gpt_files`` record forged beside the chain as a dead end (a killed run's leftovers in
  shape: after a link, of a file another record is of, no row after it) with other bytes and
  their SHA-256, read first: verify said ``consistent, unproven`` and named it, but export
  rendered the GPT's knowledge file from it (the first archived record wins) without the
  NOT PROVEN mark: the knowledge files of a configuration were not checked against what the
  findings and limitations name.
- the same made-up user on two dead ends: each counted the other's row as "another row of
  the item", and the verdict was ``consistent, unproven`` instead of a ``chain`` finding.
- a ``gpt_configs`` row copied beside the real one with a GPT action's server URL changed:
  accounted for as a killed run's row written again ("only signed URLs differ": every URL
  was left out of the comparison), and verify said ``intact``. Only signed URLs are now.

Held: rows deleted and the seals' counts made up with copies of other rows (every stream, at
its start, middle and end: a chain, raw or seal finding); a knowledge file part copied with
other bytes; a copy with another pull-request URL (its key holds ``raw_sha256``: a dead end,
unproven); ``status_reason``/``archived_at`` are not rendered by export.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.directory_rows import derive_row
from tap_chatgpt_compliance.evidence.provenance import UNPROVEN_MARK
from tap_chatgpt_compliance.logfiles import rest_chain
from tests.support.tap import TapRun

from .test_attack_round15 import Sealed, sealed  # noqa: F401 (fixture)
from .test_attack_round15 import _verify as _verify_sealed
from .test_workspace_evidence import (  # noqa: F401 (fixtures)
    _archive,
    _copy,
    _export,
    _gpt_owner,
    _verify,
    inline_run,
)

FORGED = b"forged knowledge"


def _dead_end_copy(real: dict[str, Any]) -> dict[str, Any]:
    """Return ``real`` with other bytes, linked beside it (the same link: a dead end)."""
    forged = {
        **copy.deepcopy(real),
        "content_base64": base64.b64encode(FORGED).decode("ascii"),
        "sha256": hashlib.sha256(FORGED).hexdigest(),
        "size": len(FORGED),
        "storage_uri": None,
        "part_count": None,
    }
    forged["chain_hash"] = rest_chain.chain_hash(forged["chain_previous"], forged, "gpt_files")
    return forged


def test_a_knowledge_file_forged_as_a_dead_end_is_marked_not_proven(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Other bytes with their SHA-256 in a record beside the chain (a dead end): verify names
    it (consistent, unproven); the export renders those bytes, marked NOT PROVEN (was not)."""
    records = _copy(inline_run)
    custodian = _gpt_owner(records)
    owned = {
        json.loads(g["raw_item"])["id"]
        for g in records["gpts"]
        if json.loads(g["raw_item"]).get("owner_id") == custodian
    }
    followed = {row["chain_previous"] for row in records["gpt_files"]}
    victim = next(
        row
        for row in records["gpt_files"]
        if row["status"] == "archived"
        and row["owner_id"] in owned
        and row["chain_seq"] > 1
        and row["chain_hash"] in followed
    )
    records["gpt_files"].insert(0, _dead_end_copy(victim))
    folder = _archive(records, tmp_path / "archive")
    code, report = _verify(folder)
    assert code == 0, report  # consistent, unproven: the forged record named
    assert report["verdict"] == "consistent", report
    assert "dead-end" in str(report["unproven"]), report
    out = tmp_path / "production"
    done = _export(folder, out, "--custodian", custodian)
    assert done.returncode == 0, done.stderr[-2000:]
    pages = "".join(p.read_text() for p in (out / "html/gpts").glob("*.html"))
    assert victim["id"] in pages
    included = {p.read_bytes() for p in (out / "html/gpts/files").glob("*")}
    assert FORGED in included  # the first archived record of the file is rendered
    line = next(line for line in pages.split("<li>") if victim["id"] in line)
    assert UNPROVEN_MARK in line, line


def _beside(real: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Return a users row of ``user_id`` linked beside ``real`` (a branch of one row)."""
    item = {**json.loads(real["raw_item"]), "id": user_id}
    row = {
        **copy.deepcopy(real),
        **derive_row("users", item, real["workspace_id"]),
        "raw_item": json.dumps(item, sort_keys=True, separators=(",", ":")),
    }
    row["chain_hash"] = rest_chain.chain_hash(row["chain_previous"], row, "users")
    return row


@pytest.mark.parametrize("branches", [1, 2])
def test_a_made_up_user_on_two_dead_ends_is_a_finding(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
    branches: int,
) -> None:
    """A dead end of a user no other row is of is forged (a finding); the same made-up user
    on two dead ends counted as "another row of the chain" and was only unproven."""
    records = _copy(inline_run)
    followed = {row["chain_previous"] for row in records["users"]}
    inner = [r for r in records["users"] if r["chain_seq"] > 1 and r["chain_hash"] in followed]
    assert len(inner) >= branches, "too few users rows to fork"
    made_up = "user-madeup00000000000000000"
    records["users"] += [_beside(real, made_up) for real in inner[:branches]]
    code, report = _verify(_archive(records, tmp_path / "archive"))
    assert code != 0, report
    assert report["verdict"] == "FAILED", report
    assert any(f["check"] == "chain" for f in report["findings"]), report["findings"]


@pytest.mark.parametrize("where", ["after", "before"])
def test_a_part_copied_with_other_bytes_is_never_rendered_as_proven(
    inline_run: TapRun,  # noqa: F811
    tmp_path: Path,
    where: str,
) -> None:
    """A knowledge file's part written twice, the copy with other bytes (before or after the
    real one): the export never renders those bytes under a verdict without findings."""
    records = _copy(inline_run)
    custodian = _gpt_owner(records)
    owned = {
        json.loads(g["raw_item"])["id"]
        for g in records["gpts"]
        if json.loads(g["raw_item"]).get("owner_id") == custodian
    }
    victim = next(
        r
        for r in records["gpt_files"]
        if r["status"] == "archived" and r["content_base64"] is None and r["owner_id"] in owned
    )
    i, part = next(
        (i, p) for i, p in enumerate(records["gpt_files_parts"]) if p["file_id"] == victim["id"]
    )
    forged = {**copy.deepcopy(part), "content_base64": base64.b64encode(FORGED).decode()}
    records["gpt_files_parts"].insert(i + (where == "after"), forged)
    folder = _archive(records, tmp_path / "archive")
    code, report = _verify(folder)
    out = tmp_path / "production"
    done = _export(folder, out, "--custodian", custodian, "--allow-findings")
    included = b"".join(p.read_bytes() for p in (out / "html/gpts/files").glob("*"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert FORGED not in included or code != 0, (report["verdict"], report["findings"][:3])


URLS = {
    "gpt_configs": ("https://api21.example.com", "https://exfil.example.net"),
    "codex_task_details": ("https://github.com/acme/", "https://github.com/evil/"),
}


@pytest.mark.parametrize("stream", sorted(URLS))
def test_a_row_copied_with_another_url_in_its_content_is_not_a_repeat(
    sealed: Sealed,  # noqa: F811
    tmp_path: Path,
    stream: str,
) -> None:
    """A killed run's rows written again differ only in signed download URLs (signed anew at
    each answer): such a branch is accounted for. Any other URL (a GPT action's server, a pull
    request's link) is content: a row copied beside the real one with another such URL was
    accounted for as a repeat, and the archive verified ``intact``."""
    records = sealed.records()
    old, new = URLS[stream]
    index, real = next((i, r) for i, r in enumerate(records[stream]) if old in r["raw_item"])
    forged = json.loads(json.dumps(real).replace(old, new))
    forged["raw_sha256"] = hashlib.sha256(forged["raw_item"].encode()).hexdigest()
    forged["chain_hash"] = rest_chain.chain_hash(forged["chain_previous"], forged, stream)
    records[stream].insert(index, forged)  # read first
    report = _verify_sealed(records, tmp_path, sealed)
    assert report.status != "intact", report.text()


def test_a_signed_url_pointed_at_another_host_is_not_signed_anew() -> None:
    """Only what a signature renews (path, query) may differ between a killed run's rows and
    their rerun: a copy whose signed URL names another host was taken for the same row."""
    from tap_chatgpt_compliance.evidence.rest_chains import stable

    def row(url: str) -> dict[str, object]:
        item = json.dumps({"id": "m-1", "download_url": url}, sort_keys=True)
        return {"id": "m-1", "raw_item": item, "workspace_id": "w", "chain_version": 1}

    real = "https://files.example.invalid/a/b?X-Amz-Expires=60&X-Amz-Signature=1"
    resigned = "https://files.example.invalid/c/d?X-Amz-Expires=60&X-Amz-Signature=2"
    moved = "https://exfil.example.invalid/a/b?X-Amz-Expires=60&X-Amz-Signature=1"
    assert stable("users", row(real)) == stable("users", row(resigned))
    assert stable("users", row(real)) != stable("users", row(moved))
