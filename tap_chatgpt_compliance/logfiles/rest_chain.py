r"""Tamper-evident chains over the REST streams: one per stream (users, gpts, … library_files).

Every record of a REST stream (:data:`KEYS`) carries ``chain_version``, ``chain_previous``,
``chain_previous_key``, ``chain_seq`` and ``chain_hash``::

    chain_hash = sha256_hex(chain_previous + "\n" + canonical_json(fields))

with ``fields`` (:func:`chained_fields`): the chain (the stream's name), ``workspace_id``, the
parent ids the item does not carry (workspace_rows.PARENT_KEYS: the GPT of a configuration,
the user of a canvas, …), ``raw_item`` (the item as served, canonical JSON text),
``chain_previous_key`` and ``chain_version``. The stored-file streams (gpt_files,
project_files, library_file_contents: no item is served) chain the columns that identify the
bytes instead of ``raw_item`` (:data:`FILE_FIELDS`: id, owner, name, sha256, size, status,
storage_uri, part_count; their ``content_base64`` or parts hash to the chained sha256, and
``status_reason``, ``archived_at`` are not proven). Every other column of a REST row is derived
from those by the tap's own ``derive_row`` (directory_rows, workspace_rows), which
``chatgpt-compliance verify`` runs again: a column edited alone is a column finding, a column
edited with its ``raw_item`` (or a row moved to another stream, workspace or parent) breaks its
link.

``chain_previous_key`` names the primary key (:data:`KEYS`, as canonical JSON of its values,
times as chain.canonical_time) of the record ``chain_previous`` links to (None at the genesis):
a target that upserts by that key (PostgreSQL) keeps only the latest record of a key, and the
chain has a hole where an earlier one was. A hole is accounted for only when the key it names
has a record later in the chain; any other hole is a removed record (as the files chain).

The head (``chain_seq``, ``chain_head``, ``chain_head_key``) is kept in the stream's own
bookmark (one per stream, never per partition) and moves at the end of the stream's sync (of
each sync, for a child stream), with the STATE that makes its records final
(:class:`StagedRestChain`): a run killed in the middle writes the records again from the head
of the last STATE, with the same links when their values are the same. A refresh that is not
due writes nothing and leaves the head where it was.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from datetime import datetime
from decimal import Decimal

from tap_chatgpt_compliance.directory_rows import SCHEMAS as DIRECTORY_SCHEMAS
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.workspace_rows import PARENT_KEYS

VERSION = 1
"""The ``chain_version`` of REST records the tap writes now."""
PREVIOUS_KEY = "chain_previous_key"
HEAD_KEY_KEY = "chain_head_key"
"""In the bookmark: the primary key of the head record (``chain_previous_key`` of the next)."""
KEYS: dict[str, tuple[str, ...]] = {
    "users": ("id",),
    "gpts": ("id",),
    "projects": ("id",),
    "gpt_configs": ("gpt_id", "id"),
    "project_configs": ("project_id", "id"),
    "gpt_shared_users": ("gpt_id", "id"),
    "project_shared_users": ("project_id", "id"),
    "memories": ("id", "raw_sha256"),
    "memory_entries": ("id", "updated_at"),
    "canvases": ("user_id", "id"),
    "canvas_versions": ("textdoc_id", "version"),
    "automations": ("id", "raw_sha256"),
    "recordings": ("id", "raw_sha256"),
    "recording_transcripts": ("recording_id", "raw_sha256"),
    "codex_tasks": ("id", "raw_sha256"),
    "codex_task_details": ("id", "raw_sha256"),
    "library_files": ("user_id", "id", "raw_sha256"),
    "gpt_files": ("id",),
    "project_files": ("id",),
    "library_file_contents": ("id",),
}
"""The chained REST streams and their primary keys (the streams' ``primary_keys``)."""
FILE_FIELDS: dict[str, tuple[str, ...]] = dict.fromkeys(
    ("gpt_files", "project_files", "library_file_contents"),
    (
        *("id", "owner_id", "name", "mime_type", "size", "sha256"),
        *("status", "storage_uri", "part_count"),
    ),
)
"""The stored-file streams (streams/knowledge.py): no item is served for them, so the columns
of the tap's record that identify the bytes are chained instead of ``raw_item`` (not
``content_base64``: verify hashes the bytes to the chained ``sha256``; not ``status_reason``
and ``archived_at``, facts of the run that differ when a killed run's file is fetched again)."""
PARENTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(DIRECTORY_SCHEMAS, ()),
    **PARENT_KEYS,
    **dict.fromkeys(FILE_FIELDS, ()),
}
"""Columns a REST row takes from the URL, not the item: chained beside ``raw_item``."""
_TIME_KEYS = frozenset({"updated_at", "created_at"})
CHAIN_COLUMNS: dict[str, dict[str, t.Any]] = {
    "chain_version": {
        "type": ["integer", "null"],
        "description": "Version of the chained field set (logfiles/rest_chain.py).",
    },
    "chain_seq": {
        "type": ["integer", "null"],
        "description": "Position in the stream's chain (1 first).",
    },
    "chain_previous": {
        "type": ["string", "null"],
        "description": "chain_hash of the stream's previous record (64 zeros for the first).",
    },
    PREVIOUS_KEY: {
        "type": ["string", "null"],
        "description": (
            "Primary key (JSON array of its values) of the record chain_previous links to: a "
            "target that keeps only the latest record of a key leaves a hole there, accounted "
            "for when that key has a later record."
        ),
    },
    "chain_hash": {
        "type": ["string", "null"],
        "description": "SHA-256 linking this record to chain_previous (docs/guarantees.md).",
    },
}
"""The chain columns every REST stream's schema declares."""
COLUMNS = frozenset(CHAIN_COLUMNS)


def without_chain(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Return a record without its chain columns (what ``derive_row`` derives)."""
    return {k: v for k, v in record.items() if k not in COLUMNS}


def with_chain_columns(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """Return a REST stream's schema with the chain columns added."""
    return {**schema, "properties": {**schema["properties"], **CHAIN_COLUMNS}}


def _key_value(name: str, value: t.Any) -> t.Any:
    if isinstance(value, datetime) or (name in _TIME_KEYS and isinstance(value, str)):
        return chain.canonical_time(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def record_key(stream: str, record: t.Mapping[str, t.Any]) -> str:
    """Return a record's primary key as the chain names it (canonical JSON of its values)."""
    return _canonical([_key_value(name, record.get(name)) for name in KEYS[stream]])


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
"""The canonical JSON of chain.py (``json.dumps(…, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)``)."""


def chained_fields(stream: str, record: t.Mapping[str, t.Any]) -> str:
    """Return the canonical JSON of the chained fields of a REST record (ChainVersionError)."""
    version = chain.record_version(record)
    if version != VERSION:
        msg = f"unknown chain_version {version} for {stream} records"
        raise chain.ChainVersionError(msg)
    fields: dict[str, t.Any] = {
        "chain": stream,
        "workspace_id": record.get("workspace_id"),
        PREVIOUS_KEY: record.get(PREVIOUS_KEY),
        chain.VERSION_KEY: version,
    }
    if stream in FILE_FIELDS:
        for name in FILE_FIELDS[stream]:
            fields[f"file.{name}"] = _key_value(name, record.get(name))
    else:
        fields["raw_item"] = record.get("raw_item")
    for name in PARENTS[stream]:
        fields[f"parent.{name}"] = _key_value(name, record.get(name))
    return _canonical(fields)


def chain_hash(previous: str, record: t.Mapping[str, t.Any], stream: str) -> str:
    """Return the link of a REST record that follows ``previous`` (ChainVersionError)."""
    payload = f"{previous}\n{chained_fields(stream, record)}"
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class StagedRestChain:
    """A REST stream's chain: links made now, the head in the bookmark at :meth:`commit`."""

    def __init__(self, state: dict[str, t.Any], stream: str) -> None:
        """Start from the head kept in ``state`` (the stream's bookmark)."""
        self.state = state
        self.stream = stream
        self.working: dict[str, t.Any] = kept_head(state)

    def link(self, record: dict[str, t.Any]) -> None:
        """Link a record to the working head and move the working head to it."""
        previous = str(self.working.get(chain.HEAD_KEY) or chain.GENESIS)
        record[chain.VERSION_KEY] = VERSION
        record[PREVIOUS_KEY] = self.working.get(HEAD_KEY_KEY) if previous != chain.GENESIS else None
        record["chain_previous"] = previous
        record["chain_seq"] = int(self.working.get(chain.SEQ_KEY) or 0) + 1
        record["chain_hash"] = chain_hash(previous, record, self.stream)
        chain.advance(self.working, record)
        self.working[HEAD_KEY_KEY] = record_key(self.stream, record)

    def commit(self) -> bool:
        """Copy the working head into the bookmark; return whether it moved."""
        if self.working.get(chain.SEQ_KEY) == self.state.get(chain.SEQ_KEY):
            return False
        self.state.update(self.working)
        return True


def kept_head(state: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Return the chain keys of a bookmark (kept when the rest of it is cleared)."""
    return {k: state[k] for k in (chain.HEAD_KEY, chain.SEQ_KEY, HEAD_KEY_KEY) if k in state}
