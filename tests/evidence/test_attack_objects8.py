"""Objects of a file store that would make verify hang or exhaust its memory (attack review 8).

A ``storage_uri`` is opened when it ends in its content address; whoever can write the store
can put there a FIFO (an ``open`` that blocks for ever), a symlink to a device (``/dev/zero``
never ends) or a file far longer than its record says. verify must name it and go on, reading
no more than the record's size.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.evidence import sources
from tests.support.tap import TapRun, run_tap, tap_config

from .conftest import ok, verify_cli, write_jsonl


@pytest.fixture(scope="module")
def stored(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """An archive kept with ``file_content: storage``: (folder, store, state file)."""
    store = tmp_path_factory.mktemp("store")
    config = tap_config(
        sim,
        event_types=["CONVERSATION_MESSAGE"],
        file_content="storage",
        file_storage_url=str(store),
    )
    run: TapRun = ok(run_tap(config))
    folder = write_jsonl(run.records, tmp_path_factory.mktemp("archive"))
    state = folder.parent / f"{folder.name}-state.json"
    state.write_text(json.dumps(run.state))
    return folder, store, state


def _uris(folder: Path, stream: str, column: str) -> list[str]:
    (path,) = folder.glob(f"{stream}-*.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [str(row[column]) for row in rows if row.get(column)]


@pytest.fixture
def swap(
    stored: tuple[Path, Path, Path],
) -> Iterator[Callable[[str, Callable[[Path], None]], None]]:
    """Replace a stored object by something else for one test; restore it after."""
    saved: list[tuple[Path, bytes]] = []

    def replace(uri: str, make: Callable[[Path], None]) -> None:
        path = Path(uri)
        saved.append((path, path.read_bytes()))
        path.unlink()
        make(path)

    yield replace
    for path, data in saved:
        path.unlink(missing_ok=True)
        path.write_bytes(data)


def _verify_guarded(args: list[str], fifo: Path | None = None) -> tuple[int, str]:
    """Run verify in-process in a thread; a reader blocked on a FIFO is freed and fails."""
    done: dict[str, Any] = {}

    def run() -> None:
        result = verify_cli(*args)
        done["result"] = (result.returncode, result.stdout + result.stderr)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    if thread.is_alive() and fifo is not None:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # unblock the reader
        thread.join(60)
        pytest.fail("verify blocked opening a FIFO in the file store")
    assert "result" in done, "verify did not finish"
    code, out = done["result"]
    assert "Traceback" not in out
    return code, out


@pytest.mark.parametrize("what", ["attachment", "raw"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_stored_object_that_is_no_regular_file_is_not_read(
    what: str, kind: str, stored: tuple[Path, Path, Path], swap: Callable[..., None]
) -> None:
    folder, _, state = stored
    uri = (
        _uris(folder, "files", "storage_uri")[0]
        if what == "attachment"
        else _uris(folder, "log_files", "raw_storage_uri")[0]
    )
    if kind == "fifo":
        swap(uri, os.mkfifo)
    else:  # /dev/null here: /dev/zero would exhaust the memory of an unfixed verify
        swap(uri, lambda path: path.symlink_to("/dev/null"))
    code, out = _verify_guarded(
        ["--jsonl", str(folder), "--state", str(state)], Path(uri) if kind == "fifo" else None
    )
    assert code == 1, out
    assert "not a regular file (a FIFO, device or folder" in out, out
    assert "VERDICT: FAILED" in out
    assert "VERDICT: intact" not in out


def test_a_stored_object_longer_than_its_record_is_read_no_further(
    stored: tuple[Path, Path, Path], swap: Callable[..., None], tmp_path: Path
) -> None:
    """A sparse 64 MiB file in place of an attachment: verify reads its record's size + 1."""
    folder, _, state = stored
    uri = _uris(folder, "files", "storage_uri")[0]
    original = Path(uri).read_bytes()

    def huge(path: Path) -> None:
        with path.open("wb") as out:
            out.write(original)
            out.truncate(64 << 20)

    swap(uri, huge)
    tracemalloc.start()
    try:
        code, out = _verify_guarded(["--jsonl", str(folder), "--state", str(state)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 1, out
    assert f"holds more than the {len(original)} bytes its record says" in out, out
    assert peak < 24 << 20, f"verify held {peak} bytes at once"


def test_read_object_bounds_an_endless_object(tmp_path: Path) -> None:
    """/dev/zero behind a content address: refused, and a bounded read ends (no hang)."""
    link = tmp_path / "sha256" / "00" / ("0" * 64)
    link.parent.mkdir(parents=True)
    link.symlink_to("/dev/zero")
    archive = sources.Archive("test")
    with pytest.raises(sources.ObjectNotRead, match="not a regular file"):
        archive.read_object(str(link), 10)
    with Path("/dev/zero").open("rb") as endless, pytest.raises(sources.ObjectNotRead):
        sources._read_at_most(endless, 5 << 20, "endless")
    assert archive.read_object(str(tmp_path / "absent"), 3) is None
    shutil.rmtree(tmp_path / "sha256")


def test_an_endless_line_of_a_stream_file_is_one_finding_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line of 64 MiB with no line break (a sparse file of zeros): one finding, the lines
    around it still read, and neither the whole line kept nor its chunks copied again and again
    (quadratic: a sparse file of some GiB hung verify)."""
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 8 << 20, raising=False)
    data = b'{"a": 1}\n' + b"\0" * (64 << 20) + b'x\n{"b": 2}\r\n{"c": 3}'
    errors: list[tuple[str, str]] = []
    tracemalloc.start()
    try:
        records = list(sources._lines(io.BytesIO(data), "f.jsonl", lambda *e: errors.append(e)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert records == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert errors == [
        ("f.jsonl line 2", f"longer than {8 << 20} bytes: not read (no record of the tap is)")
    ]
    assert peak < (64 << 20) + (24 << 20), peak  # the test's own data is 64 MiB


@pytest.mark.parametrize("chunked", [b'{"a": 1}\n{"b"', b'{"a": 1}\n'])
def test_lines_split_across_chunks_read_as_before(chunked: bytes) -> None:
    """Lines split by the 1 MiB reads, a last line without a break, junk: as before."""
    filler = json.dumps({"x": "y" * ((1 << 20) - 20)}).encode()
    data = chunked + b": 2}\n" * (chunked.endswith(b'"b"')) + filler + b"\nnot json\n\n[1]\n{}"
    errors: list[tuple[str, str]] = []
    got = list(sources._lines(io.BytesIO(data), "f", lambda *e: errors.append(e)))
    expected = [{"a": 1}, *([{"b": 2}] if chunked.endswith(b'"b"') else []), json.loads(filler), {}]
    assert got == expected
    assert [where for where, _ in errors] == [
        f"f line {n}" for n in ((4, 6) if len(expected) == 4 else (3, 5))
    ]
