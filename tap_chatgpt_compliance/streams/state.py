"""The state a run starts from, checked before any request.

A run trusts its state: the bookmark of each event type says which log files are archived,
the chain heads what the next record links to, the retry list which attachments are owed. A
state that does not say this (a truncated file, a value of the wrong type, a chain head that
is no hash) once ended a run in an unexpected error, the same at every rerun, or was used
wrongly; a state written for another workspace was used as it was, and its bookmarks skipped
this workspace's log files. Such a state is refused in one line naming the problem and the
fix, before any request; the bookmarks of a state that is used carry the workspace they were
written for (:data:`WORKSPACE_KEY`), so that it is never used for another one.
"""

from __future__ import annotations

import re
import typing as t

from tap_chatgpt_compliance.attachments.pending import STATE_KEY as PENDING_KEY
from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.timeparse import to_datetime

WORKSPACE_KEY = "workspace_id"
"""Kept in ``bookmarks.log_files``: the workspace whose log files the bookmarks describe."""
SELECTED_KEY = "selected_columns"
"""Kept in ``bookmarks.log_files``: ``{stream: [column, …]}``, the columns selected by the
last run that wrote records of each stream (``verify --state`` tells a column deleted from
every row from one deselected in the catalog by it)."""
FIX = (
    "Nothing was read. Give the run the state the last run of this workspace wrote (Meltano: "
    "`meltano state get` / `meltano state set`), or clear it (`meltano state clear`) to archive "
    "again from start_date: the destination then receives duplicates, never a gap."
)
FILE_FIX = (
    "give the state file the last run of this workspace wrote (Meltano: `meltano state get`), "
    "or leave --state out (`meltano state clear`) to archive again from start_date: the "
    "destination then receives duplicates, never a gap"
)
"""The fix of a ``--state`` file that cannot be read (settings.read_json_object_file)."""
_HASH = re.compile(r"[0-9a-f]{64}")
_TIMES = ("replication_key_value", "boundary_end_time")


class StateRejected(ComplianceAPIError):
    """The state given to the run cannot be used as it is (one line, with the fix)."""


def check_state(state: t.Any, workspace_id: str) -> None:
    """Refuse a state that this tap did not write for ``workspace_id`` (StateRejected)."""
    problems = state_problems(state, workspace_id)
    if problems:
        listed = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
        msg = f"The state given to this run cannot be used: {listed}. {FIX}"
        raise StateRejected(msg)


def state_problems(state: t.Any, workspace_id: str) -> list[str]:
    """Return what is wrong with a state for a run of ``workspace_id`` (none: usable)."""
    if not isinstance(state, dict):
        return [f"it is a {type(state).__name__}, not an object"]
    if "bookmarks" not in state:
        return []
    bookmarks = state["bookmarks"]
    if not isinstance(bookmarks, dict):
        return [f"bookmarks is {_shown(bookmarks)}, not an object"]
    problems: list[str] = []
    for name, bookmark in bookmarks.items():
        where = f"bookmarks.{name}"
        if not isinstance(bookmark, dict):
            problems.append(f"{where} is {_shown(bookmark)}, not an object")
            continue
        problems += _partition_problems(where, bookmark)
    log_files = bookmarks.get(chain.LOG_FILES)
    written_for = log_files.get(WORKSPACE_KEY) if isinstance(log_files, dict) else None
    if written_for is not None and written_for != workspace_id:
        problems.insert(
            0,
            f"it was written for workspace {_shown(written_for)}, and this run archives "
            f"workspace {workspace_id!r}: its bookmarks would skip this workspace's log files "
            "(each workspace needs its own state: in Meltano its own state ID)",
        )
    selected = log_files.get(SELECTED_KEY) if isinstance(log_files, dict) else None
    if selected is not None and not _is_selection(selected):
        problems.append(
            f"bookmarks.{chain.LOG_FILES}.{SELECTED_KEY} is {_shown(selected)}, not an object "
            "of column lists"
        )
    files = bookmarks.get(chain.FILES)
    if isinstance(files, dict):
        problems += _pending_problems(f"bookmarks.{chain.FILES}", files.get(PENDING_KEY))
    return problems


def stamp_state(bookmarks: dict[str, dict[str, t.Any]], workspace_id: str) -> None:
    """Record in a state's bookmarks the workspace they describe."""
    bookmarks.setdefault(chain.LOG_FILES, {})[WORKSPACE_KEY] = workspace_id


def note_selection(
    bookmarks: dict[str, dict[str, t.Any]], selected: t.Mapping[str, t.Sequence[str]]
) -> None:
    """Record the selected columns of streams this run writes records of (:data:`SELECTED_KEY`).

    Called when a stream's first record of the run is written: the next STATE (written after
    that record) carries them; an earlier run's entry stays for the streams this run writes none.
    """
    log_files = bookmarks.setdefault(chain.LOG_FILES, {})
    known = log_files.get(SELECTED_KEY)
    if not isinstance(known, dict) or not _is_selection(known):
        known = log_files[SELECTED_KEY] = {}
    known.update({stream: sorted(columns) for stream, columns in selected.items()})


def _is_selection(value: t.Any) -> bool:
    """Return whether ``value`` is ``{stream: [column, …]}``."""
    return isinstance(value, dict) and all(
        isinstance(columns, list) and all(isinstance(c, str) for c in columns)
        for columns in value.values()
    )


def _partition_problems(where: str, bookmark: dict[str, t.Any]) -> list[str]:
    """Check a stream's bookmark, and each of its partitions' bookmarks."""
    problems = _bookmark_problems(where, bookmark)
    if "partitions" not in bookmark:
        return problems
    partitions = bookmark["partitions"]
    if not isinstance(partitions, list):
        return [*problems, f"{where}.partitions is {_shown(partitions)}, not a list"]
    for index, partition in enumerate(partitions):
        here = f"{where}.partitions[{index}]"
        if not isinstance(partition, dict) or not isinstance(partition.get("context"), dict):
            problems.append(f"{here} is {_shown(partition)}, not an object with a context")
            continue
        problems += _bookmark_problems(here, partition)
    return problems


def _bookmark_problems(where: str, bookmark: dict[str, t.Any]) -> list[str]:
    """Check the values the tap keeps in one bookmark: times, chain head, file ids."""
    problems = []
    for key in _TIMES:
        value = bookmark.get(key)
        if value is not None and (not isinstance(value, str) or to_datetime(value) is None):
            problems.append(f"{where}.{key} is {_shown(value)}, not an ISO 8601 time")
    seq, head = bookmark.get(chain.SEQ_KEY), bookmark.get(chain.HEAD_KEY)
    if seq is not None or head is not None:
        if type(seq) is not int or seq < 1:
            problems.append(f"{where}.{chain.SEQ_KEY} is {_shown(seq)}, not a positive integer")
        if not isinstance(head, str) or not _HASH.fullmatch(head):
            problems.append(f"{where}.{chain.HEAD_KEY} is {_shown(head)}, not a SHA-256 hash")
    ids = bookmark.get("boundary_file_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        problems.append(f"{where}.boundary_file_ids is {_shown(ids)}, not a list of ids")
    future = bookmark.get("future_file_ids")
    if future is not None and not isinstance(future, dict):
        problems.append(f"{where}.future_file_ids is {_shown(future)}, not an object")
    return problems


def _pending_problems(where: str, pending: t.Any) -> list[str]:
    """Check the attachment retry list: an entry without an id could never be retried."""
    if pending is None:
        return []
    if not isinstance(pending, list):
        return [f"{where}.{PENDING_KEY} is {_shown(pending)}, not a list"]
    return [
        f"{where}.{PENDING_KEY}[{index}] is {_shown(entry)}, not an attachment with an id"
        for index, entry in enumerate(pending)
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]
    ]


def _shown(value: t.Any) -> str:
    """Return a value as the message shows it: short, on one line."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:79] + "…"
