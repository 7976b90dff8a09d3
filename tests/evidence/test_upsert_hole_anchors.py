"""An anchored files head deep in an upsert hole: one attachment failing in several runs.

An upserting archive (PostgreSQL) keeps one files record per attachment. An attachment that
fails in runs 1, 2 and 3 and is archived in run 4 leaves only run 4's record: runs 1 and 2
sealed heads that no kept record links to (the record after run 2's head was replaced too).
Before, verify said `FAILED` (`the seal says chain_seq 1, the archive ends at 5`) for that
honest archive; now the anchor names the head's attachment (`chain_head_id`, in the state
and in the seal) and the head is accounted for when that attachment's kept record is later
and the head lies inside a hole the chain already accounts for. Without the attachment id (a
seal of an earlier version), or with one whose kept record is not later, it is still a
finding. The archives are a real run's records rewritten as those runs would have written
them, verified as PostgreSQL keeps them (test_attack_anchors11's ``_in_process``).
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from tap_chatgpt_compliance.logfiles import chain

from .test_attack_anchors11 import (
    Records,
    _chain,
    _files_state,
    _heads,
    _in_process,
    _records,
    _seals,
    _workspace,
    failed_try,
    linked,
)
from .test_attack_anchors11 import tap_run as tap_run  # the module's fixture


def _failed_three_times(records: Records) -> list[dict[str, Any]]:
    """Runs 1-3: attachment A failed (files chain_seq 1, 2, 3, each run's head); run 4: A
    archived (4), then B (5). Keep what an upserting target keeps (4 and 5); return all five."""
    first, second = _chain(records, chain.FILES)[:2]
    failed = failed_try(first)
    written = linked([failed, failed, failed, first, second])
    records["files"] = written[3:]
    return written


def _sealed(record: dict[str, Any], with_id: bool = True) -> dict[str, Any]:
    head = {"chain_seq": record["chain_seq"], "chain_head": record["chain_hash"]}
    if with_id:
        head[chain.HEAD_ID_KEY] = record["id"]
    return head


def _four_seals(tmp: Path, records: Records, written: list[dict[str, Any]], **kw: Any) -> Path:
    logs = {k: v for k, v in _heads(records).items() if k != chain.FILES}
    runs = [{**logs, chain.FILES: _sealed(r, **kw)} for r in (*written[:3], written[4])]
    return _seals(tmp / f"seals-{uuid.uuid4().hex[:6]}", _workspace(records), *runs)


def test_seals_inside_the_hole_of_an_attachment_failing_three_runs_are_accounted_for(
    tap_run: Any, tmp_path: Path
) -> None:
    records = _records(tap_run)
    written = _failed_three_times(records)
    verdict, lines = _in_process(records, tmp_path, seals=_four_seals(tmp_path, records, written))
    assert verdict.startswith("VERDICT: intact"), lines
    inside = [line for line in lines if "lies in a run of records the target replaced" in line]
    # Runs 1 and 2 (run 3's head is the one the kept record links to).
    assert sorted(line.split("(chain_seq ")[1][:1] for line in inside) == ["1", "2"], lines


def test_the_states_of_those_runs_are_accounted_for_too(tap_run: Any, tmp_path: Path) -> None:
    records = _records(tap_run)
    written = _failed_three_times(records)
    states = tuple(_files_state(tap_run.state, r) for r in (*written[:3], written[4]))
    verdict, lines = _in_process(records, tmp_path, states=states)
    assert verdict.startswith("VERDICT: intact"), lines
    # Run 1's state alone: accounted for; what the later runs wrote is not anchored by it.
    verdict, lines = _in_process(records, tmp_path, states=states[:1])
    assert verdict.startswith("VERDICT: consistent, partly anchored"), (verdict, lines)


def test_a_seal_without_the_head_s_attachment_is_still_a_finding(
    tap_run: Any, tmp_path: Path
) -> None:
    """A seal of an earlier tap version names no attachment: nothing shows the position."""
    records = _records(tap_run)
    written = _failed_three_times(records)
    seals = _four_seals(tmp_path, records, written, with_id=False)
    verdict, lines = _in_process(records, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: FAILED"), lines
    assert any("the seal says chain_seq 1, the archive ends at 5" in line for line in lines)


def test_a_head_naming_an_attachment_without_a_later_record_is_a_finding(
    tap_run: Any, tmp_path: Path
) -> None:
    records = _records(tap_run)
    written = _failed_three_times(records)
    logs = {k: v for k, v in _heads(records).items() if k != chain.FILES}
    workspace = _workspace(records)
    last = {**logs, chain.FILES: _sealed(written[4])}
    heads = {
        "absent": {**_sealed(written[0]), chain.HEAD_ID_KEY: "file-not-in-the-archive"},
        # B's kept record (chain_seq 5) is later, but chain_seq 1 is before no accounted hole
        # of B: the hole (1-3) is accounted for by A, the attachment run 4's record names.
        "at-the-hole-end": {**_sealed(written[2]), "chain_head": "e" * 64},
        # chain_seq 4 is kept: its own hash is checked, the attachment id is not used.
        "kept-position": {**_sealed(written[3]), "chain_head": "e" * 64},
    }
    for name, head in heads.items():
        seals = _seals(tmp_path / name, workspace, {**logs, chain.FILES: head}, last)
        verdict, lines = _in_process(records, tmp_path, seals=seals)
        assert verdict.startswith("VERDICT: FAILED"), (name, lines)


def test_a_removed_record_whose_attachment_has_no_later_record_is_still_a_finding(
    tap_run: Any, tmp_path: Path
) -> None:
    """B archived once (chain_seq 1), then A's three failures (2-4), A archived (5). Removing
    B's record widens the hole to chain_seq 1: run 1's seal (B's record) is then a finding."""
    records = _records(tap_run)
    first, second = _chain(records, chain.FILES)[:2]
    written = _failed_three_times(records)[:4]  # A failed three times, then archived
    rebuilt = linked([second, *written])
    assert rebuilt[4]["id"] == first["id"]
    logs = {k: v for k, v in _heads(records).items() if k != chain.FILES}
    seals = _seals(
        tmp_path / "b", _workspace(records), *({**logs, chain.FILES: _sealed(r)} for r in rebuilt)
    )
    honest = copy.deepcopy(records)
    honest["files"] = [rebuilt[0], rebuilt[4]]
    verdict, lines = _in_process(honest, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: intact"), lines
    removed = copy.deepcopy(records)
    removed["files"] = [rebuilt[4]]
    verdict, lines = _in_process(removed, tmp_path, seals=seals)
    assert verdict.startswith("VERDICT: FAILED"), lines
    assert any("the seal says chain_seq 1, the archive ends at 5" in line for line in lines)
