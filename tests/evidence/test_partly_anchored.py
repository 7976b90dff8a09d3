"""Records after every anchor's head are consistent but unanchored: the verdict is never
`intact` then. An older state, a run that wrote its records but not its seal, or log files
appended by someone who can write the archive all look alike; only the furthest head any anchor
(state or seals) holds counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import EVENT_TYPES, ok, verify_cli, write_jsonl
from .test_tamper_matrix import Folder, append_chained_copy

State = dict[str, Any]


def _heads(state: State) -> dict[str, int]:
    """{event type: chain_seq} of a state's log_files chains, and the files chain's."""
    bookmarks = state.get("bookmarks", {})
    heads = {
        p["context"]["event_type"]: p[chain.SEQ_KEY]
        for p in bookmarks.get("log_files", {}).get("partitions", [])
        if chain.SEQ_KEY in p
    }
    files = bookmarks.get("files", {})
    if chain.SEQ_KEY in files:
        heads[chain.FILES] = files[chain.SEQ_KEY]
    for stream in rest_chain.KEYS:  # the REST streams' chains, named by their stream
        if chain.SEQ_KEY in bookmarks.get(stream, {}):
            heads[stream] = bookmarks[stream][chain.SEQ_KEY]
    return heads


def _older_state(run: TapRun) -> State:
    """The last STATE of the run that knows every log_files and files chain and is behind the
    final one (the REST streams sync last: it may hold no head of theirs)."""
    final = _heads(run.states[-1])
    wanted = {name for name in final if name not in rest_chain.KEYS}
    for state in reversed(run.states):
        heads = _heads(state)
        if wanted <= set(heads) and heads != final:
            return state
    pytest.fail("the run emitted no older STATE holding every chain")


def _verify(folder: Path, tmp: Path, *anchors: str) -> tuple[int, str, dict[str, Any]]:
    report = tmp / "report.json"
    report.unlink(missing_ok=True)
    done = verify_cli("--jsonl", str(folder), "--report", str(report), *anchors)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    return done.returncode, out, json.loads(report.read_text())


def _state_file(state: State, tmp: Path, name: str) -> str:
    path = tmp / name
    path.write_text(json.dumps(state))
    return str(path)


@pytest.fixture(scope="module")
def sealed_run(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[TapRun, Path]:
    seals = tmp_path_factory.mktemp("seals")
    run = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, seal_storage_url=str(seals))))
    return run, seals


@pytest.fixture
def archive(sealed_run: tuple[TapRun, Path], tmp_path: Path) -> Folder:
    return Folder(write_jsonl(sealed_run[0].records, tmp_path / "archive"))


def test_the_newest_state_makes_it_intact_an_older_one_does_not(
    sealed_run: tuple[TapRun, Path], archive: Folder, tmp_path: Path
) -> None:
    run, _ = sealed_run
    newest = _state_file(run.states[-1], tmp_path, "newest.json")
    code, out, report = _verify(archive.root, tmp_path, "--state", newest)
    assert code == 0, out
    assert report["verdict"] == "intact", out
    assert out.strip().splitlines()[-1].startswith("VERDICT: intact")

    older = _older_state(run)
    final, before = _heads(run.states[-1]), _heads(older)
    behind = {
        name: seq - before.get(name, 0) for name, seq in final.items() if seq > before.get(name, 0)
    }
    code, out, report = _verify(
        archive.root, tmp_path, "--state", _state_file(older, tmp_path, "older.json")
    )
    assert code == 0, out  # consistent: nothing is wrong, not everything is anchored
    assert report["verdict"] == "consistent", out
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("VERDICT: consistent, partly anchored — "), verdict
    assert f"{sum(behind.values())} records after the furthest anchored head" in verdict
    for name, count in behind.items():
        rest = name == chain.FILES or name in rest_chain.KEYS
        chain_name = name if rest else f"{chain.LOG_FILES}/{name}"
        said = (
            f"{chain_name}: {count} after chain_seq {before[name]}"
            if name in before
            else f"{chain_name}: {count}, no anchored head"
        )
        assert said in verdict, verdict
    assert "VERDICT: intact" not in out


def test_the_furthest_anchor_decides(
    sealed_run: tuple[TapRun, Path], archive: Folder, tmp_path: Path
) -> None:
    """An older state beside the seals of the whole run: every record is anchored."""
    run, seals = sealed_run
    older = _state_file(_older_state(run), tmp_path, "older.json")
    code, out, report = _verify(archive.root, tmp_path, "--state", older, "--seals", str(seals))
    assert code == 0, out
    assert report["verdict"] == "intact", out


def test_a_log_file_appended_after_the_newest_state_is_never_intact(
    sealed_run: tuple[TapRun, Path], archive: Folder, tmp_path: Path
) -> None:
    """A forged log file chained after the head (its rows copied from the last genuine one):
    consistent in itself, anchored by nothing."""
    run, seals = sealed_run
    last = append_chained_copy(archive, "AUTH_LOG")
    newest = _state_file(run.states[-1], tmp_path, "newest.json")
    for anchors in (("--state", newest), ("--seals", str(seals))):
        code, out, report = _verify(archive.root, tmp_path, *anchors)
        assert code == 0, out  # consistent in itself: no finding
        assert report["verdict"] != "intact", out
        assert "VERDICT: intact" not in out
        assert (
            out.strip()
            .splitlines()[-1]
            .startswith(
                "VERDICT: consistent, partly anchored — 1 records after the furthest anchored head "
                f"(log_files/AUTH_LOG: 1 after chain_seq {last['chain_seq']})"
            )
        ), out
