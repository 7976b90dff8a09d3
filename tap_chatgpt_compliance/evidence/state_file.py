"""Read the tap's state from a file given to ``verify --state``, in bounded time and memory.

The file is a state JSON, the output of ``meltano state get`` (``{"singer_state": …}``), or a
file of the tap's Singer output (its last ``STATE`` message counts). Only a regular file is
opened (a FIFO would block, a device such as ``/dev/zero`` never ends). A file of up to
:data:`MAX_STATE_BYTES` is read whole; a larger one can only be Singer output (every record,
attachments inline): it is read line by line, and only its ``STATE`` lines are parsed.
"""

from __future__ import annotations

import json
import os
import stat
import typing as t
from pathlib import Path

MAX_STATE_BYTES = 64 << 20
"""The largest file read whole, and the longest STATE line read (64 MiB: a state is far less)."""
_CHUNK = 1 << 20
_STATE_PREFIX = b'{"type":"STATE"'


class StateFileError(Exception):
    """The file cannot be read as a state (one readable line, without the ``--state`` flag)."""


def state_value(path: str | Path) -> dict[str, t.Any] | None:
    """Return the state in a file (None when it holds none); StateFileError when unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting
    except OSError as exc:
        raise StateFileError(exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            msg = "not a regular file (a device, FIFO or folder is never read)"
            raise StateFileError(msg)
        if info.st_size <= MAX_STATE_BYTES:
            data = handle.read(info.st_size + 1)  # read(n) allocates n bytes at once
            if len(data) <= info.st_size:
                return _parse_text(_decode(data))
            handle.seek(0)  # it grew while read: read it as Singer output
        return _last_state_line(handle)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 ({exc.reason} at byte {exc.start})"
        raise StateFileError(msg) from None


def _parse_text(text: str) -> dict[str, t.Any] | None:
    """Return the state in a whole file: a state JSON, or Singer output (its last STATE)."""
    text = text.strip()
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        candidates = [whole]
    else:
        candidates = []
        for line in text.splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                candidates.append(message)
    state = None
    for message in candidates:
        state = _state_of(message) or state
    return state


def _state_of(message: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """Return the state a message or document holds, or None."""
    if message.get("type") == "STATE" and isinstance(message.get("value"), dict):
        return t.cast("dict[str, t.Any]", message["value"])
    if isinstance(message.get("singer_state"), dict):
        return t.cast("dict[str, t.Any]", message["singer_state"])
    if isinstance(message.get("bookmarks"), dict):
        return dict(message)
    return None


def _last_state_line(handle: t.BinaryIO) -> dict[str, t.Any] | None:
    """Return the state of the last STATE line of Singer output read line by line."""
    state = None
    while True:
        line = handle.readline(MAX_STATE_BYTES + 1)
        if not line:
            return state
        is_state = line[:128].lstrip().replace(b" ", b"").startswith(_STATE_PREFIX)
        if len(line) > MAX_STATE_BYTES and not line.endswith(b"\n"):
            if is_state:
                msg = f"a STATE line over {MAX_STATE_BYTES} bytes: not the tap's"
                raise StateFileError(msg)
            while (rest := handle.readline(_CHUNK)) and not rest.endswith(b"\n"):
                pass  # a record's line: skipped without keeping it
            continue
        if not is_state:
            continue
        try:
            message = json.loads(_decode(line))
        except ValueError:
            continue
        if isinstance(message, dict):
            state = _state_of(message) or state
