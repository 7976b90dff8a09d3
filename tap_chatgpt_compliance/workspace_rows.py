"""Rows of the workspace-object streams (issue 21), derived from the item as served.

:func:`derive_row` is a pure function of the stream, the item, the workspace id and the ids of
the object the item belongs to (``parent``: the GPT of a configuration, the user of a canvas,
…), which the item itself does not carry. ``raw_item`` is the item's canonical JSON text
(:func:`tap_chatgpt_compliance.directory_rows.raw_item`): every other column is derived from
it and from the parent ids, so ``chatgpt-compliance verify`` can derive the row again.
"""

from __future__ import annotations

import hashlib
import typing as t

from tap_chatgpt_compliance import workspace_schemas as ws
from tap_chatgpt_compliance.directory_rows import canonical_json, content_key, has_id, plain
from tap_chatgpt_compliance.timeparse import to_iso

SCHEMAS: dict[str, dict[str, t.Any]] = {
    "gpt_configs": ws.GPT_CONFIG,
    "project_configs": ws.PROJECT_CONFIG,
    "gpt_shared_users": ws.GPT_SHARED_USER,
    "project_shared_users": ws.PROJECT_SHARED_USER,
    "memories": ws.MEMORY,
    "memory_entries": ws.MEMORY_ENTRY,
    "canvases": ws.CANVAS,
    "canvas_versions": ws.CANVAS_VERSION,
    "automations": ws.AUTOMATION,
    "recordings": ws.RECORDING,
    "recording_transcripts": ws.RECORDING_TRANSCRIPT,
    "codex_tasks": ws.CODEX_TASK,
    "codex_task_details": ws.CODEX_TASK_DETAIL,
    "library_files": ws.LIBRARY_FILE,
}
"""The workspace-object streams whose rows are derived from one served item, and their schemas."""
PARENT_KEYS: dict[str, tuple[str, ...]] = {
    "gpt_configs": ("gpt_id",),
    "project_configs": ("project_id",),
    "gpt_shared_users": ("gpt_id",),
    "project_shared_users": ("project_id",),
    "memories": (),
    "memory_entries": ("user_id", "memory_context_id"),
    "canvases": ("user_id",),
    "canvas_versions": ("user_id", "textdoc_id", "textdoc_type"),
    "automations": ("user_id",),
    "recordings": ("user_id",),
    "recording_transcripts": ("user_id", "recording_id"),
    "codex_tasks": (),
    "codex_task_details": ("task_id",),
    "library_files": ("user_id",),
}
"""Columns that name the object an item belongs to: not in the item, given by the tap."""
TIME_FIELDS = ("created_at", "updated_at", "trashed_at")
"""Fields turned from Unix seconds (or ISO 8601) into UTC ISO 8601 when declared."""
DERIVED = frozenset({"workspace_id", "item", "raw_item", "raw_sha256"})


ANY_JSON = frozenset({"recording_transcripts", "codex_task_details", "memory_entries"})
"""Streams whose item is kept whatever JSON it is (an object is expected): the details, and
the entries of a Memory object (an entry that is not an object is kept as served)."""
ID_FROM_PARENT: dict[str, str] = {"codex_task_details": "task_id"}
"""Streams whose ``id``, for an answer without a string id, is the id the tap asked for."""
KEYED_BY_ID = frozenset(
    name for name, schema in SCHEMAS.items() if "id" in schema.get("required", ())
)
"""Streams whose rows are keyed by the item's ``id``: an item without a string id (none, null,
a number, ``""``, not an object) is keyed by its content (directory_rows.content_key)."""


def derive_row(
    stream_name: str,
    item: t.Any,
    workspace_id: str,
    parent: t.Mapping[str, t.Any] | None = None,
) -> dict[str, t.Any]:
    """Return the row the tap writes for one served item (KeyError: unknown stream).

    Declared fields are copied from the item (unknown ones stay in ``item`` and ``raw_item``);
    time fields become UTC ISO 8601; ``parent`` gives the ids the item does not carry;
    ``raw_sha256`` is the SHA-256 of ``raw_item``. An answer that is not an object (a detail
    served as a list) has only the parent ids, ``item`` null and ``raw_item`` the JSON as
    served. An item without a string id (:data:`KEYED_BY_ID`) is keyed ``sha256:<hash of
    raw_item>`` (for :data:`ID_FROM_PARENT`, by the id asked for): written, never merged.
    """
    declared = SCHEMAS[stream_name]["properties"]
    value = plain(item)
    row = {
        key: field
        for key, field in (value.items() if isinstance(value, dict) else ())
        if key in declared and key not in DERIVED and key not in PARENT_KEYS[stream_name]
    }
    for key in PARENT_KEYS[stream_name]:
        row[key] = (parent or {}).get(key)
    for key in TIME_FIELDS:
        if key in row and row[key] is not None:
            row[key] = to_iso(row[key])
    row["workspace_id"] = workspace_id
    row["item"] = value if isinstance(value, dict) else None
    # The canonical text (directory_rows.raw_item) of the value already made plain.
    text = canonical_json(value)
    row["raw_item"] = text
    row["raw_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if stream_name in KEYED_BY_ID and not has_id(row):
        parent_id = ID_FROM_PARENT.get(stream_name)
        row["id"] = row[parent_id] if parent_id else content_key(text)
    extra = _EXTRA.get(stream_name)
    if extra is not None and isinstance(value, dict):
        extra(row, value)
    return row


def config_files(item: t.Any) -> tuple[list[dict[str, t.Any]], int]:
    """Return ``([{id, name}], unnamed)``: the files a configuration lists (``files.data``).

    ``name`` is the configuration's value (null when it gives none). ``unnamed``: the file
    infos without a string id (or not objects, or ``files`` of another shape), whose bytes
    cannot be asked for.
    """
    files = item.get("files") if isinstance(item, dict) else None
    if files is None:
        return [], 0
    data = files.get("data") if isinstance(files, dict) else files
    if not isinstance(data, list):
        return [], 1
    named = [
        {"id": info["id"], "name": info.get("name")}
        for info in data
        if isinstance(info, dict) and has_id(info)
    ]
    return named, len(data) - len(named)


def config_files_cut(item: t.Any) -> bool:
    """Return whether a configuration's ``files`` list says more files follow (``has_more``).

    The API documents ``files.has_more`` as always false and gives no route to page it: the
    files past the listed ones could not be asked for.
    """
    files = item.get("files") if isinstance(item, dict) else None
    return isinstance(files, dict) and files.get("has_more") is True


def _config_extra(row: dict[str, t.Any], item: dict[str, t.Any]) -> None:
    row["file_ids"] = [info["id"] for info in config_files(item)[0]]
    author = item.get("version_author")
    row["version_author_id"] = author.get("id") if isinstance(author, dict) else None


def _memory_extra(row: dict[str, t.Any], item: dict[str, t.Any]) -> None:
    contexts = item.get("memory_contexts")
    row["entry_count"] = (
        sum(
            len(c.get("memory_entries") or [])
            for c in contexts
            if isinstance(c, dict) and isinstance(c.get("memory_entries"), list)
        )
        if isinstance(contexts, list)
        else None
    )


_EXTRA: dict[str, t.Callable[[dict[str, t.Any], dict[str, t.Any]], None]] = {
    "gpt_configs": _config_extra,
    "project_configs": _config_extra,
    "memories": _memory_extra,
}
