"""An adversary's audit of ``verify``: alterations beyond the tamper matrix, malformed anchors.

Each case is a JSONL archive of the simulator (or its anchor) altered one way; verify must
fail closed: a finding (exit 1, never ``intact``/``consistent``), or one line when the anchor
cannot be read, never a traceback.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import typing as t
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.evidence import sources
from tap_chatgpt_compliance.evidence.verify import anchor_from_state, verify
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import EVENT_TYPES, cli, ok, verify_cli, write_jsonl
from .test_tamper_matrix import CM, Folder, _rechain, append_chained_copy

Rows = list[dict[str, Any]]
State = dict[str, Any]


def _verify(folder: Path, *extra: str, tmp: Path) -> tuple[int, str, list[str]]:
    report = tmp / "report.json"
    report.unlink(missing_ok=True)
    done = verify_cli("--jsonl", str(folder), "--report", str(report), *extra)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    data = json.loads(report.read_text()) if report.exists() else {"findings": []}
    lines = [f"{f['check']}: {f['item']}: {f['detail']}" for f in data["findings"]]
    return done.returncode, out, lines


@pytest.fixture
def archive(inline_archive: Path, tmp_path: Path) -> Folder:
    target = tmp_path / "archive"
    shutil.copytree(inline_archive, target)
    return Folder(target)


def _state(state: State | None, tmp: Path) -> str:
    assert state is not None
    path = tmp / "state.json"
    path.write_text(json.dumps(state))
    return str(path)


# --------------------------------------------------------------------------- the chains


@pytest.mark.parametrize("version", [99, "2", True])
def test_a_chain_version_this_code_does_not_know_is_a_finding(
    version: object, archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """A manifest record whose chain_version is unknown or not an integer: a chain finding."""
    archive.edit("log_files", lambda rows: rows[0].update(chain_version=version))
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(line.startswith("chain: log file") and "chain_version" in line for line in lines)
    assert out.strip().splitlines()[-1].startswith("VERDICT: FAILED")


# --------------------------------------------------------------------------- the state


def _partition(state: State) -> dict[str, Any]:
    partitions: list[dict[str, Any]] = state["bookmarks"]["log_files"]["partitions"]
    return partitions[0]


def _seq_text(state: State) -> None:
    _partition(state)["chain_seq"] = "abc"


def _seq_list(state: State) -> None:
    _partition(state)["chain_seq"] = [27]


def _seq_infinite(state: State) -> None:
    _partition(state)["chain_seq"] = 1e400


def _seq_zero(state: State) -> None:
    _partition(state)["chain_seq"] = 0


def _files_seq_text(state: State) -> None:
    state["bookmarks"]["files"]["chain_seq"] = "5x"


def _pending_not_a_list(state: State) -> None:
    state["bookmarks"]["files"]["pending_attachments"] = 5


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_seq_text, "chain_seq 'abc' is not a positive integer"),
        (_seq_list, "chain_seq [27] is not a positive integer"),
        (_seq_infinite, "chain_seq inf is not a positive integer"),
        (_seq_zero, "chain_seq 0 is not a positive integer"),
        (_files_seq_text, "chain files: chain_seq '5x' is not a positive integer"),
        (_pending_not_a_list, "pending_attachments is not a list"),
    ],
)
def test_a_malformed_state_is_one_line(
    change: Callable[[State], None],
    words: str,
    inline_archive: Path,
    inline_run: TapRun,
    tmp_path: Path,
) -> None:
    state = json.loads(json.dumps(inline_run.state))
    change(state)
    done = verify_cli("--jsonl", str(inline_archive), "--state", _state(state, tmp_path))
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert words in done.stderr, done.stderr


# --------------------------------------------------------------------------- the seals


@pytest.fixture(scope="module")
def sealed(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An archive and the folder of the seal its run wrote."""
    root = tmp_path_factory.mktemp("sealed")
    seals = root / "seals"
    run = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, seal_storage_url=str(seals))))
    return write_jsonl(run.records, root / "archive"), seals


@pytest.fixture
def sealed_copy(sealed: tuple[Path, Path], tmp_path: Path) -> tuple[Folder, Path]:
    archive, seals = sealed
    shutil.copytree(archive, tmp_path / "archive")
    shutil.copytree(seals, tmp_path / "seals")
    return Folder(tmp_path / "archive"), tmp_path / "seals"


def _edit_seal(seals: Path, change: Callable[[dict[str, Any]], None]) -> None:
    (path,) = seals.glob("*/*.json")
    seal = json.loads(path.read_text())
    change(seal)
    path.write_text(json.dumps(seal))


def _chains_a_list(seal: dict[str, Any]) -> None:
    seal["chains"] = []


def _chain_seq_text(seal: dict[str, Any]) -> None:
    seal["chains"]["files"]["chain_seq"] = "x"


def _head_not_a_text(seal: dict[str, Any]) -> None:
    seal["chains"]["files"]["chain_head"] = 5


def _seal_seq_text(seal: dict[str, Any]) -> None:
    seal["seal_seq"] = "1"


@pytest.mark.parametrize(
    "change", [_chains_a_list, _chain_seq_text, _head_not_a_text, _seal_seq_text]
)
def test_a_malformed_seal_is_a_finding(
    change: Callable[[dict[str, Any]], None], sealed_copy: tuple[Folder, Path], tmp_path: Path
) -> None:
    folder, seals = sealed_copy
    _edit_seal(seals, change)
    code, out, lines = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 1, out
    assert any(line.startswith("seal: seal ") and "not a seal" in line for line in lines), lines


def _copy_chain(folder: Folder, event_type: str, new_type: str) -> None:
    """Add a new event type to the archive: a copy of a chain, every link recomputed, with
    the raw parts and rows of its files (consistent: only an anchor can tell)."""
    manifest = folder.rows("log_files")
    parts, events = folder.rows("log_file_parts"), folder.rows("events")
    previous = chain.GENESIS
    ids: dict[str, str] = {}
    for record in sorted(
        (r for r in manifest if r["event_type"] == event_type), key=lambda r: r["chain_seq"]
    ):
        copy = {**record, "id": f"{record['id']}x", "event_type": new_type}
        copy["chain_previous"] = previous
        copy["chain_hash"] = previous = chain.chain_hash(previous, copy)
        manifest.append(copy)
        ids[record["id"]] = copy["id"]
    parts += [{**p, "log_file_id": ids[p["log_file_id"]]} for p in parts if p["log_file_id"] in ids]
    events += [
        {**e, "log_file_id": ids[e["log_file_id"]]} for e in events if e["log_file_id"] in ids
    ]
    folder.write("log_files", manifest)
    folder.write("log_file_parts", parts)
    folder.write("events", events)


def test_seals_anchor_every_chain_of_the_archive(
    sealed_copy: tuple[Folder, Path], tmp_path: Path
) -> None:
    """A chain no seal holds a head of is not anchored: a finding, as with --state."""
    folder, seals = sealed_copy
    code, out, _ = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 0, out
    _copy_chain(folder, "AUTH_LOG", "AUTH_LOG_COPY")
    code, out, lines = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 1, out
    assert any(
        line.startswith("seal: seal ")
        and "chain log_files/AUTH_LOG_COPY" in line
        and "not anchored by the seals" in line
        for line in lines
    ), lines


def test_a_seal_that_anchors_nothing_is_no_anchor(
    sealed_copy: tuple[Folder, Path], tmp_path: Path
) -> None:
    """A well-formed seal chain whose seals hold no head (another workspace's, say)."""
    folder, seals = sealed_copy
    _edit_seal(seals, lambda seal: seal.update(chains={}))
    code, out, lines = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 1, out
    assert "VERDICT: intact" not in out
    named = sorted(line.split(": ")[2].split(" ")[1] for line in lines)
    rest = [name for name in named if name in rest_chain.KEYS]  # users, gpts, projects
    assert rest, lines
    assert sorted(set(named) - set(rest)) == [
        "files",
        "log_files/AUTH_LOG",
        "log_files/CONVERSATION_MESSAGE",
    ], lines


def test_records_after_the_sealed_head_are_said_unanchored(
    sealed_copy: tuple[Folder, Path], tmp_path: Path
) -> None:
    folder, seals = sealed_copy
    last = append_chained_copy(folder, "AUTH_LOG")
    code, out, _ = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 0, out
    assert (
        f"note: chain log_files/AUTH_LOG: 1 records after the sealed head (chain_seq "
        f"{last['chain_seq']}) are not anchored by seals" in out
    ), out
    assert out.strip().splitlines()[-1].startswith("VERDICT: consistent, partly anchored")


# --------------------------------------------------------------------------- copies of records


def _manifest_copy(folder: Folder, **change: Any) -> None:
    rows = folder.rows("log_files")
    folder.write("log_files", [*rows, {**rows[0], **change}])


def _files_copy(folder: Folder, **change: Any) -> None:
    rows = folder.rows("files")
    folder.write("files", [*rows, {**rows[0], **change}])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"provider_sha256": "0" * 64}, "disagree on provider_sha256"),
        ({"file_name": "another.jsonl"}, "disagree on file_name"),
        ({"end_time": "2020-01-01T00:00:00.000000+00:00"}, "disagree on end_time"),
        ({"workspace_id": "another"}, "disagree on workspace_id"),
        ({"line_count": True}, "disagree on line_count"),
        ({"chain_previous": "1" * 64}, "disagree on chain_previous"),
        ({"event_count": 99}, "column event_count"),
        ({"blank_lines": 7}, "column blank_lines"),
    ],
)
def test_a_second_manifest_record_of_a_log_file_is_checked_too(
    change: dict[str, Any], words: str, archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """At-least-once delivery writes a record twice: the copy, not only the first, must be
    what the chain and the raw file say (a reader that keeps the last one sees the copy)."""
    _manifest_copy(archive, **change)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(words in line for line in lines), lines


def test_an_identical_copy_of_a_manifest_record_is_fine(
    archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    _manifest_copy(archive, processed_at="2026-12-31T00:00:00+00:00", download_attempts=2)
    code, out, _ = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 0, out


@pytest.mark.parametrize(
    "change",
    [{"workspace_id": "another"}, {"chain_previous_id": "file-x"}, {"chain_version": 7}],
)
def test_a_second_files_record_is_chain_checked_too(
    change: dict[str, Any], archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    _files_copy(archive, **change)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(
        line.startswith("chain: attachment") and "a copy of its files record" in line
        for line in lines
    ), lines


# --------------------------------------------------------------------------- loose equality


def _first_message(rows: Rows) -> dict[str, Any]:
    return next(r for r in rows if r.get("content_text"))


def _event_flag_as_number(folder: Folder) -> None:
    """The delivered event's ``is_temporary_chat: true`` turned into ``1``."""
    folder.edit(
        "messages",
        lambda rows: _first_message(rows)["event"]["conversation"].update(
            is_temporary_chat=int(
                _first_message(rows)["event"]["conversation"]["is_temporary_chat"]
            )
        ),
    )


def _derived_flag_as_number(folder: Folder) -> None:
    folder.edit("messages", lambda rows: _first_message(rows).update(event_id_derived=0))


def _conversation_flag_as_number(folder: Folder) -> None:
    folder.edit("conversations", lambda rows: rows[0].update(is_pinned=0))


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (_event_flag_as_number, "column event"),
        (_derived_flag_as_number, "column event_id_derived"),
        (_conversation_flag_as_number, "column is_pinned"),
    ],
)
def test_a_bool_turned_into_a_number_is_a_column_finding(
    change: Callable[[Folder], None],
    column: str,
    archive: Folder,
    inline_run: TapRun,
    tmp_path: Path,
) -> None:
    """``true`` and ``1`` are equal to Python's ``==``, not in the archive."""
    change(archive)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(
        line.startswith("column: ") and line.split(": ")[1].endswith(column) for line in lines
    ), lines


def test_numbers_written_as_whole_floats_are_still_equal(
    archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """What the strict comparison must keep accepting: 3 written as 3.0 by a target."""
    archive.edit("log_file_parts", lambda rows: rows[0].update(part_index=0.0))
    archive.edit(
        "log_files",
        lambda rows: rows[0].update(
            line_count=float(rows[0]["line_count"]), event_count=float(rows[0]["event_count"])
        ),
    )
    archive.edit("files", lambda rows: rows[0].update(size=float(rows[0]["size"])))
    code, out, _ = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 0, out


# --------------------------------------------------------------------------- JSONL text


def _duplicate_key(folder: Folder) -> None:
    """A messages line holding a forged content_text first and the real one last: json.loads
    keeps the last, a reader that keeps the first (simdjson's find_field, say) the forgery."""
    path = folder.path("messages")
    lines = path.read_text().splitlines()
    lines[0] = '{"content_text": "I agreed.", ' + lines[0][1:]
    path.write_text("\n".join(lines) + "\n")


def test_a_key_twice_in_one_line_is_a_read_finding(
    archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    _duplicate_key(archive)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(
        line.startswith("read: ") and "the key 'content_text' twice in one object" in line
        for line in lines
    ), lines


def test_a_bom_and_crlf_line_ends_are_read(
    archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """Text a tool may add without changing a value: a UTF-8 BOM, CRLF line ends."""
    path = archive.path("messages")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    code, out, _ = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 0, out


# --------------------------------------------------------------------------- file_content: none


@pytest.fixture(scope="module")
def none_run(sim: Simulator) -> TapRun:
    """A tap run with file_content: none (no raw bytes kept)."""
    return ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, file_content="none")))


def test_one_raw_file_added_does_not_make_a_none_archive_intact(
    none_run: TapRun, tmp_path: Path
) -> None:
    """A log file with raw bytes (any: they are the attacker's) appended to a chain of an
    archive that kept none: the other files are still untraceable, the verdict not intact."""
    folder = Folder(write_jsonl(none_run.records, tmp_path / "archive"))
    state = _state(none_run.state, tmp_path)
    code, out, _ = _verify(folder.root, "--state", state, tmp=tmp_path)
    assert out.strip().splitlines()[-1].startswith("VERDICT: consistent, unproven"), out
    manifest, events = folder.rows("log_files"), folder.rows("events")
    last = max((r for r in manifest if r["event_type"] == "AUTH_LOG"), key=lambda r: r["chain_seq"])
    (event,) = [e for e in events if e["log_file_id"] == last["id"]][:1]
    raw = (json.dumps(event["event"], separators=(",", ":")) + "\n").encode()
    sha = hashlib.sha256(raw).hexdigest()
    added = {
        **last,
        "id": f"{last['id']}z",
        "end_time": "2030-01-01T00:00:00.000000+00:00",
        "provider_sha256": sha,
        "verified_sha256": sha,
        "bytes_downloaded": len(raw),
        "line_count": 1,
        "event_count": 1,
        "raw_content": "inline",
        "raw_part_count": 1,
        "chain_seq": last["chain_seq"] + 1,
        "chain_previous": last["chain_hash"],
    }
    added["chain_hash"] = chain.chain_hash(last["chain_hash"], added)
    folder.write("log_files", [*manifest, added])
    part = {"log_file_id": added["id"], "part_index": 0, "part_count": 1, "offset": 0}
    part |= {"size": len(raw), "sha256": sha, "content_base64": base64.b64encode(raw).decode()}
    write_jsonl({"log_file_parts": [part]}, folder.root)
    folder.write("events", [*events, {**event, "log_file_id": added["id"]}])
    code, out, lines = _verify(folder.root, "--state", state, tmp=tmp_path)
    assert (code, lines) == (0, []), out
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith(
        f"VERDICT: consistent, unproven — {len(manifest)} of {len(manifest) + 1} log files kept "
        "no raw bytes"
    ), verdict
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "consistent"


# --------------------------------------------------------------------------- database types


def test_numeric_columns_read_back_as_decimal_are_hashed(inline_run: TapRun) -> None:
    """A log_files count column altered to NUMERIC (psycopg gives Decimal): the chain is
    recomputed with the same numbers, not a traceback."""
    tables = json.loads(json.dumps(inline_run.records))
    for record in tables["log_files"]:
        for column in ("line_count", "bytes_downloaded", "raw_part_count"):
            if record.get(column) is not None:
                record[column] = Decimal(f"{record[column]}.000")
    anchor = anchor_from_state(inline_run.state or {}, "state")
    report = verify(sources.Archive("postgres-like", tables), anchor)
    assert report.status == "intact", report.text()
    tables["log_files"][0]["line_count"] += Decimal("0.5")
    report = verify(sources.Archive("postgres-like", tables), anchor)
    assert any(f.check == "chain" for f in report.findings), report.text()


# --------------------------------------------------------------------------- the command line

DSN = "postgresql://alice:pw-9f3Kq7@127.0.0.1:1/archive"
OPTIONS = (
    '{"key": "AKIA-ID-5L2P", "secret": "sk-7hX2-secret", "client_kwargs": {"token": "tk-88Qz"}}'
)
SECRETS = ("pw-9f3Kq7", "AKIA-ID-5L2P", "sk-7hX2-secret", "tk-88Qz")
_BOOM = """
import sys
from tap_chatgpt_compliance.evidence import cli

def boom(*args, **kwargs):
    text = "no luck with " + " ".join(sys.argv)
    raise RuntimeError(text + "\\nTraceback (most recent call last):")

cli.verify = cli.open_archive = boom
cli.run()
"""


def _boom(*args: Any, **kwargs: Any) -> t.NoReturn:
    msg = f"no luck with {args!r}\nTraceback (most recent call last):"  # the Namespace
    raise RuntimeError(msg)


@pytest.mark.parametrize("process", [False, True])
@pytest.mark.parametrize(
    "source",
    [
        ("--jsonl", "ARCHIVE", "--storage-options", OPTIONS),
        ("--postgres", DSN, "--schema", "acme", "--storage-options", OPTIONS),
        ("--postgres", "host=127.0.0.1 port=1 password='pw-9f3Kq7'", "--schema", "acme"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "export"])
def test_an_unexpected_error_is_one_line_without_secrets(
    command: str,
    source: tuple[str, ...],
    process: bool,
    inline_archive: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Any exception (a bug, a library's surprise) ends as one line and exit 1, never a
    traceback or exit 0, and never shows the DSN's password or the storage options' keys."""
    args = [command, *(str(inline_archive) if a == "ARCHIVE" else a for a in source)]
    if command == "export":
        args += ["--conversation", "c", "--out", str(tmp_path / "out")]
    if process:
        done = subprocess.run(
            [sys.executable, "-c", _BOOM, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
    else:
        from tap_chatgpt_compliance.evidence import cli as cli_module

        monkeypatch.setattr(cli_module, "verify", _boom)
        monkeypatch.setattr(cli_module, "open_archive", _boom)
        done = cli(*args)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert done.stdout == "", out
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"chatgpt-compliance {command}: "), done.stderr
    assert "RuntimeError" in done.stderr, done.stderr
    assert "\nTraceback" not in out
    assert not [secret for secret in SECRETS if secret in out], out


@pytest.mark.parametrize(
    "log_file_id",
    ["x\nVERDICT: intact (anchored: state state.json) — 1 log files", "x\ud83d\u202e"],
)
def test_archive_text_in_a_finding_cannot_forge_a_line(
    log_file_id: str, archive: Folder, tmp_path: Path
) -> None:
    """A row's log_file_id is archive text: printed in a finding, a line break in it must not
    start a line (a forged verdict), half an emoji must not crash the printing (a real process
    writes UTF-8), a bidi control must not reorder it."""
    archive.edit("messages", lambda rows: rows[0].update(log_file_id=log_file_id))
    done = verify_cli("--jsonl", str(archive.root), process=True)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out, out
    lines = done.stdout.strip().splitlines()
    assert [line for line in lines if line.startswith("VERDICT")] == [lines[-1]], out
    assert lines[-1].startswith("VERDICT: FAILED"), out
    assert any(line.startswith("  FINDING manifest: log file x\\") for line in lines), out


# --------------------------------------------------------------------------- parts' metadata


@pytest.fixture(scope="module")
def parted(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TapRun]:
    """An archive whose log files and attachments are cut into parts of 1,024 bytes."""
    run = ok(run_tap(tap_config(sim, event_types=EVENT_TYPES, max_inline_file_bytes=1024)))
    return write_jsonl(run.records, tmp_path_factory.mktemp("parted")), run


@pytest.fixture
def parted_copy(parted: tuple[Path, TapRun], tmp_path: Path) -> Folder:
    shutil.copytree(parted[0], tmp_path / "archive")
    return Folder(tmp_path / "archive")


def _second_part(rows: Rows, owner_key: str) -> dict[str, Any]:
    """The part at index 1 of the owner with the most parts."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[owner_key]] = counts.get(row[owner_key], 0) + 1
    owner = max(counts, key=counts.__getitem__)
    assert counts[owner] >= 3, counts
    return next(r for r in rows if r[owner_key] == owner and r["part_index"] == 1)


PART_CHANGES = [
    ("offset", lambda part: part["offset"] + 1),
    ("offset", lambda part: 0),
    ("size", lambda part: part["size"] - 1),
    ("sha256", lambda part: "0" * 64),
    ("part_count", lambda part: part["part_count"] + 1),
    ("workspace_id", lambda part: "another"),
]


@pytest.mark.parametrize(
    ("stream", "owner_key", "check", "column", "value"),
    [
        ("log_file_parts", "log_file_id", "raw", column, value)
        for column, value in [*PART_CHANGES, ("event_type", lambda part: "AUTH_LOG_X")]
    ]
    + [("file_parts", "file_id", "attachment", column, value) for column, value in PART_CHANGES],
)
def test_a_part_whose_metadata_lies_is_a_finding(
    stream: str,
    owner_key: str,
    check: str,
    column: str,
    value: Callable[[dict[str, Any]], Any],
    parted_copy: Folder,
    parted: tuple[Path, TapRun],
    tmp_path: Path,
) -> None:
    """A part's bytes hash right but its offset, size, part_count, whole-file SHA-256, event
    type or workspace say otherwise: a reader placing parts by offset, or trusting its
    sha256, gets what verify did not prove."""
    state = _state(parted[1].state, tmp_path)
    code, out, _ = _verify(parted_copy.root, "--state", state, tmp=tmp_path)
    assert code == 0, out
    rows = parted_copy.rows(stream)
    part = _second_part(rows, owner_key)
    part[column] = value(part)
    parted_copy.write(stream, rows)
    code, out, lines = _verify(parted_copy.root, "--state", state, tmp=tmp_path)
    assert code == 1, out
    item = f"{check}: {stream} 1 of {part[owner_key]}: "
    assert any(line.startswith(item) and column in line for line in lines), lines


@pytest.mark.parametrize(
    ("stream", "owner_key", "words"),
    [
        ("log_file_parts", "log_file_id", "manifest: log file gone: manifest record missing"),
        ("file_parts", "file_id", "attachment: file_parts of gone: no files record"),
    ],
)
def test_parts_of_no_record_are_a_finding(
    stream: str, owner_key: str, words: str, parted_copy: Folder, tmp_path: Path
) -> None:
    """Parts left behind by a removed record (a log file's, an attachment's) are evidence."""
    rows = parted_copy.rows(stream)
    parted_copy.write(stream, [*rows, {**rows[0], owner_key: "gone"}])
    code, out, lines = _verify(parted_copy.root, tmp=tmp_path)
    assert code == 1, out
    assert any(line.startswith(words) for line in lines), lines


def test_a_copy_of_a_part_with_another_offset_is_a_finding(
    parted_copy: Folder, tmp_path: Path
) -> None:
    rows = parted_copy.rows("log_file_parts")
    part = _second_part(rows, "log_file_id")
    parted_copy.write("log_file_parts", [*rows, {**part, "offset": 0}])
    code, out, lines = _verify(parted_copy.root, tmp=tmp_path)
    assert code == 1, out
    assert any(
        line.startswith(f"raw: log_file_parts 1 of {part['log_file_id']}: two parts")
        for line in lines
    ), lines


# --------------------------------------------------------------------------- true duplicates


def _rewrite_raw(folder: Folder, file_id: str, data: bytes, **manifest: Any) -> None:
    """Give a (one-part) log file new raw bytes: its part, its manifest record, the chain."""
    sha = hashlib.sha256(data).hexdigest()
    parts = folder.rows("log_file_parts")
    (part,) = [p for p in parts if p["log_file_id"] == file_id]
    part.update(content_base64=base64.b64encode(data).decode(), sha256=sha, size=len(data))
    folder.write("log_file_parts", parts)
    rows = folder.rows("log_files")
    (record,) = [r for r in rows if r["id"] == file_id]
    record.update(
        provider_sha256=sha, verified_sha256=sha, bytes_downloaded=len(data), file_size=len(data)
    )
    record.update(manifest)
    folder.write("log_files", rows)
    _rechain(folder, record["event_type"])


def _raw(folder: Folder, file_id: str) -> bytes:
    (part,) = [p for p in folder.rows("log_file_parts") if p["log_file_id"] == file_id]
    return base64.b64decode(part["content_base64"])


def _with_a_true_duplicate(folder: Folder) -> tuple[str, str]:
    """Deliver a message of an earlier file again at the end of a later one (at-least-once),
    as the tap archives it: no row for it there, nor for its conversation if it has no other
    message in that file. Return the later file and one of its own conversations."""
    messages = folder.rows("messages")
    files = sorted(
        (r for r in folder.rows("log_files") if r["event_type"] == CM),
        key=lambda r: r["chain_seq"],
    )
    conversations: dict[str, set[str]] = {}
    for row in messages:
        conversations.setdefault(row["log_file_id"], set()).add(row["conversation_id"])
    later = next(f for f in reversed(files) if conversations.get(f["id"]))
    message = next(
        m
        for m in messages
        if m["log_file_id"] != later["id"]
        and m["conversation_id"] not in conversations[later["id"]]
        and files.index(next(f for f in files if f["id"] == m["log_file_id"])) < files.index(later)
    )
    line = next(
        x
        for x in _raw(folder, message["log_file_id"]).split(b"\n")
        if message["event_id"].encode() in x
    )
    data = _raw(folder, later["id"])
    data += (b"" if data.endswith(b"\n") else b"\n") + line + b"\n"
    _rewrite_raw(
        folder,
        later["id"],
        data,
        line_count=later["line_count"] + 1,
        duplicates_dropped=(later.get("duplicates_dropped") or 0) + 1,
    )
    return later["id"], sorted(conversations[later["id"]])[0]


def test_a_true_duplicate_excuses_its_own_conversation_only(
    archive: Folder, tmp_path: Path
) -> None:
    """A message delivered again in a later file excuses its row there, and its conversation's
    when the conversation has no other message in the file: not every conversations row of
    the file (one deleted would go unseen)."""
    file_id, conversation_id = _with_a_true_duplicate(archive)
    code, out, _ = _verify(archive.root, tmp=tmp_path)
    assert code == 0, out
    assert "1 events of a raw file are kept once, in the row of an earlier file" in out, out
    archive.edit(
        "conversations",
        lambda rows: [r for r in rows if (r["log_file_id"], r["id"]) != (file_id, conversation_id)],
    )
    code, out, lines = _verify(archive.root, tmp=tmp_path)
    assert code == 1, out
    assert f"missing: conversations {conversation_id} of log file {file_id}: no row for it" in (
        lines
    ), lines


# --------------------------------------------------------------------------- a second chain


def _second_chain(folder: Folder, event_type: str, count: int) -> None:
    """Add a chain of ``event_type`` starting again at chain_seq 1 (a made-up one): copies of
    its first ``count`` log files under new ids, every link recomputed, raw parts and rows
    copied (consistent with itself: only an anchor can tell)."""
    manifest = folder.rows("log_files")
    ids: dict[str, str] = {}
    previous = chain.GENESIS
    firsts = sorted(
        (r for r in manifest if r["event_type"] == event_type), key=lambda r: r["chain_seq"]
    )
    for record in firsts[:count]:
        copy = {**record, "id": f"{record['id']}-again", "chain_previous": previous}
        copy["chain_hash"] = previous = chain.chain_hash(previous, copy)
        manifest.append(copy)
        ids[record["id"]] = copy["id"]
    folder.write("log_files", manifest)
    for stream in ("log_file_parts", "messages", "conversations", "events"):
        if list(folder.root.glob(f"{stream}-*.jsonl")):
            rows = folder.rows(stream)
            rows += [
                {**r, "log_file_id": ids[r["log_file_id"]]} for r in rows if r["log_file_id"] in ids
            ]
            folder.write(stream, rows)


@pytest.mark.parametrize("count", [2, 5])
def test_a_second_chain_of_an_anchored_event_type_is_a_finding(
    count: int, archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """Log files on a chain that starts again (a state reset, or made up) are not on the chain
    to the head the state holds: anchored by nothing, a chain finding (never a limitation)."""
    _second_chain(archive, "AUTH_LOG", count)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(line.startswith("chain: AUTH_LOG chain: it starts 2 times") for line in lines), lines
    assert not [line for line in lines if line.startswith("anchor:")], lines  # not "rewritten"


def test_a_second_chain_is_a_finding_with_the_seals(
    sealed_copy: tuple[Folder, Path], tmp_path: Path
) -> None:
    folder, seals = sealed_copy
    _second_chain(folder, "AUTH_LOG", 2)
    code, out, lines = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 1, out
    assert any(line.startswith("chain: AUTH_LOG chain: it starts 2 times") for line in lines), lines


# --------------------------------------------------------------------------- more attacks


def _two_files_messages(rows: Rows) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two messages rows with text, of two different log files."""
    first = _first_message(rows)
    second = next(
        r for r in rows if r.get("content_text") and r["log_file_id"] != first["log_file_id"]
    )
    return first, second


def rows_swapped_between_files(folder: Folder) -> None:
    """Two messages rows exchanged between their log files (each row whole)."""

    def change(rows: Rows) -> None:
        first, second = _two_files_messages(rows)
        first["log_file_id"], second["log_file_id"] = second["log_file_id"], first["log_file_id"]

    folder.edit("messages", change)


def contents_swapped_keys_kept(folder: Folder) -> None:
    """Two messages rows of two log files exchange every column but their keys."""

    def change(rows: Rows) -> None:
        first, second = _two_files_messages(rows)
        keys = ("log_file_id", "event_id")
        a, b = dict(first), dict(second)
        first.update({k: v for k, v in b.items() if k not in keys})
        second.update({k: v for k, v in a.items() if k not in keys})

    folder.edit("messages", change)


def manifest_fork(folder: Folder) -> None:
    """A made-up log file claiming the link of an existing one (its raw part and rows too)."""
    manifest = folder.rows("log_files")
    record = sorted((r for r in manifest if r["event_type"] == CM), key=lambda r: r["chain_seq"])[
        -2
    ]
    fork = {**record, "id": f"{record['id']}-fork"}
    fork["chain_hash"] = chain.chain_hash(fork["chain_previous"], fork)
    folder.write("log_files", [*manifest, fork])
    for stream in ("log_file_parts", "messages", "conversations"):
        rows = folder.rows(stream)
        rows += [{**r, "log_file_id": fork["id"]} for r in rows if r["log_file_id"] == record["id"]]
        folder.write(stream, rows)


def files_chain_fork(folder: Folder) -> None:
    """A second files record of an attachment, linked where another record is (a fork)."""
    rows = folder.rows("files")
    ordered = sorted(rows, key=lambda r: r["chain_seq"])
    target, other = ordered[-1], ordered[-2]
    fork = {
        **target,
        "chain_previous": other["chain_previous"],
        "chain_previous_id": other.get("chain_previous_id"),
        "chain_seq": other["chain_seq"],
    }
    fork["chain_hash"] = chain.chain_hash(fork["chain_previous"], fork, chain.FILES)
    folder.write("files", [*rows, fork])


def gzip_member_added(folder: Folder) -> None:
    """A target-s3-like .jsonl.gz object with a second gzip member holding a forged row."""
    path = folder.path("messages")
    rows = folder.rows("messages")
    forged = {**_first_message(rows), "content_text": "I agreed."}
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    extra = (json.dumps(forged) + "\n").encode()
    path.unlink()
    (path.parent / f"{path.name}.gz").write_bytes(gzip.compress(body) + gzip.compress(extra))


ATTACKS: dict[str, tuple[Callable[[Folder], None], str, str]] = {
    "rows swapped between files": (rows_swapped_between_files, "added", "messages event"),
    "contents swapped, keys kept": (contents_swapped_keys_kept, "column", "messages event"),
    "manifest chain fork": (manifest_fork, "chain", "follow the same link"),
    "files chain fork": (files_chain_fork, "anchor", "on no chain through the head"),
    "gzip member added": (gzip_member_added, "column", "column content_text"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_more_attacks_fail(name: str, archive: Folder, inline_run: TapRun, tmp_path: Path) -> None:
    change, check, words = ATTACKS[name]
    change(archive)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert out.strip().splitlines()[-1].startswith("VERDICT: FAILED"), out
    assert any(line.startswith(f"{check}: ") and words in line for line in lines), lines


def test_gzip_members_are_read_whole(archive: Folder, inline_run: TapRun, tmp_path: Path) -> None:
    """A stream written as several gzip members (appended objects) is read to its end."""
    path = archive.path("messages")
    lines = path.read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    path.unlink()
    (path.parent / f"{path.name}.gz").write_bytes(
        gzip.compress(b"".join(lines[:middle])) + gzip.compress(b"".join(lines[middle:]))
    )
    code, out, _ = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 0, out
    assert "VERDICT: intact" in out


def test_a_files_chain_fork_is_not_anchored_by_the_seals(
    sealed_copy: tuple[Folder, Path], tmp_path: Path
) -> None:
    folder, seals = sealed_copy
    files_chain_fork(folder)
    code, out, lines = _verify(folder.root, "--seals", str(seals), tmp=tmp_path)
    assert code == 1, out
    assert any(
        line.startswith("seal: seal ") and "chain files: the latest record of 1 items" in line
        for line in lines
    ), lines


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_duplicated_seal_is_a_finding(which: int, tmp_path: Path) -> None:
    """A seal copied under another name (sorting right after it): the seal chain says so.

    On S3 the same check runs on the versions listed (a copy can be written with Object Lock
    by whoever can write the bucket: its place in the chain gives it away)."""
    from tap_chatgpt_compliance.evidence.seals import archive_links, check_seals

    from .test_seals import WORKSPACE, Report, _manifest, _seal_runs

    urls = _seal_runs(tmp_path, [1, 2, 3])
    original = Path(urls[which])
    copy = original.with_name(original.name.replace(".json", "z.json"))
    copy.write_bytes(original.read_bytes())
    assert sorted(p.name for p in original.parent.iterdir()).index(copy.name) == which + 1
    report = Report()
    check_seals(str(tmp_path / WORKSPACE), report, archive=archive_links(_manifest(3)))
    details = [f[2] for f in report.findings]
    assert any(f"seal_seq {which + 1} does not follow {which + 1}" in d for d in details), details


# --------------------------------------------------------------------------- S3 objects


def _s3_put(client: Any, bucket: str, key: str, rows: Rows) -> None:
    body = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    client.put_object(Bucket=bucket, Key=key, Body=body)


def _same_size_text(rows: Rows) -> None:
    """content_text of a message replaced by another text of the same length."""
    row = _first_message(rows)
    text = row["content_text"]
    row["content_text"] = ("X" if text[0] != "X" else "Y") + text[1:]


@pytest.mark.e2e
def test_s3_object_alterations(
    inline_run: TapRun, s3_client: Any, s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """target-s3 layout (``<prefix>/<stream>/<date>/<object>.jsonl.gz``): an object replaced
    by one of the same size, an extra object under a stream, one moved to another date folder
    (nothing altered: still intact) or out of its stream (rows missing)."""
    prefix = "archive/acme"
    records = json.loads(json.dumps(inline_run.records))
    keys = {s: f"{prefix}/{s}/2026/12/06/{s}-1.jsonl.gz" for s in records}
    for stream, rows in records.items():
        _s3_put(s3_client, s3_bucket, keys[stream], rows)
    args = [
        "--s3",
        f"s3://{s3_bucket}/{prefix}",
        "--endpoint-url",
        s3_endpoint,
        "--state",
        _state(inline_run.state, tmp_path),
    ]

    def run() -> tuple[int, str, list[str]]:
        report = tmp_path / "report.json"
        done = verify_cli(*args, "--report", str(report))
        assert "Traceback" not in done.stdout + done.stderr
        data = json.loads(report.read_text())
        lines = [f"{f['check']}: {f['item']}: {f['detail']}" for f in data["findings"]]
        return done.returncode, done.stdout, lines

    code, out, _ = run()
    assert code == 0, out
    assert "VERDICT: intact" in out, out

    messages = json.loads(json.dumps(records["messages"]))
    _same_size_text(messages)
    old = s3_client.head_object(Bucket=s3_bucket, Key=keys["messages"])["ContentLength"]
    _s3_put(s3_client, s3_bucket, keys["messages"], messages)
    code, out, lines = run()
    assert code == 1, (old, lines)
    assert any("column content_text" in line for line in lines), (old, lines)
    _s3_put(s3_client, s3_bucket, keys["messages"], records["messages"])

    extra = f"{prefix}/messages/2026/12/07/messages-2.jsonl.gz"
    _s3_put(s3_client, s3_bucket, extra, messages)
    code, out, lines = run()
    assert code == 1, lines
    assert any("column content_text" in line for line in lines), lines
    s3_client.delete_object(Bucket=s3_bucket, Key=extra)

    moved = f"{prefix}/messages/1999/01/01/messages-1.jsonl.gz"
    s3_client.copy_object(
        Bucket=s3_bucket, Key=moved, CopySource={"Bucket": s3_bucket, "Key": keys["messages"]}
    )
    s3_client.delete_object(Bucket=s3_bucket, Key=keys["messages"])
    code, out, _ = run()
    assert code == 0, out
    assert "VERDICT: intact" in out, out

    away = f"{prefix}/messages_old/messages-1.jsonl.gz"
    s3_client.copy_object(
        Bucket=s3_bucket, Key=away, CopySource={"Bucket": s3_bucket, "Key": moved}
    )
    s3_client.delete_object(Bucket=s3_bucket, Key=moved)
    code, out, lines = run()
    assert code == 1, lines
    assert any(line.startswith("missing: messages") for line in lines), lines


# --------------------------------------------------------------------------- null and absent


def test_a_null_column_dropped_or_added_is_the_same_row(
    archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """A column whose value is null and a column that is absent carry the same nothing (a
    PostgreSQL column the row lacks reads NULL): no value is hidden or added, so no finding.
    A value where the derivation has none is one."""
    row = _first_message(archive.rows("messages"))
    nulls = sorted(k for k, v in row.items() if v is None)
    assert nulls, row

    def change(rows: Rows) -> None:
        first = _first_message(rows)
        del first[nulls[0]]
        first["not_a_column"] = None

    archive.edit("messages", change)
    state = _state(inline_run.state, tmp_path)
    code, out, _ = _verify(archive.root, "--state", state, tmp=tmp_path)
    assert code == 0, out
    archive.edit("messages", lambda rows: _first_message(rows).update(not_a_column=0))
    code, out, lines = _verify(archive.root, "--state", state, tmp=tmp_path)
    assert code == 1, out
    assert any(
        line.endswith("column not_a_column: differs from its raw line (as the tap derives it)")
        for line in lines
    ), lines


@pytest.mark.parametrize("stream", ["messages", "conversations", "events", "log_files", "files"])
def test_a_row_marked_deleted_by_the_target_is_a_finding(
    stream: str, archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """``_sdc_deleted_at`` is target-postgres's soft delete: a reader that honours it does not
    see the row. The tap never deletes a row of these streams; target metadata (``_sdc_*``)
    is otherwise not the tap's and is not compared."""
    archive.edit(
        stream,
        lambda rows: rows[0].update(
            _sdc_deleted_at="2026-12-07T00:00:00+00:00",
            _sdc_extracted_at="2026-12-07T00:00:00+00:00",
        ),
    )
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any("_sdc_deleted_at" in line for line in lines), lines


def test_a_manifest_record_without_openai_s_hash_is_never_proven(
    archive: Folder, inline_run: TapRun, tmp_path: Path
) -> None:
    """A log file whose record holds no SHA-256 of OpenAI's (the listing gave no
    ``file_sha256``, or it was removed, chain relinked): its bytes hash to nothing to compare
    with, so they prove nothing; the finding says so (not "altered")."""
    rows = archive.rows("log_files")
    next(r for r in rows if r["event_type"] == CM).update(provider_sha256=None)
    archive.write("log_files", rows)
    _rechain(archive, CM)
    code, out, lines = _verify(
        archive.root, "--state", _state(inline_run.state, tmp_path), tmp=tmp_path
    )
    assert code == 1, out
    assert any(
        line.startswith("raw: log file") and "holds no SHA-256 of OpenAI's" in line
        for line in lines
    ), lines
    assert out.strip().splitlines()[-1].startswith("VERDICT: FAILED")
