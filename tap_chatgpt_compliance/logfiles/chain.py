r"""Tamper-evident chains: one over the ``log_files`` manifest per event type, one over ``files``.

Each chained record carries ``chain_version``, ``chain_previous`` (the link of the record before
it in the same chain; :data:`GENESIS` for the first), ``chain_seq`` (1 for the first) and
``chain_hash``::

    chain_hash = sha256_hex(chain_previous + "\n" + canonical_json(fields))

where ``fields`` are the record's values of the chain's field set for its ``chain_version``
(:data:`FIELD_SETS`), times written as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC), floats that are
whole numbers as integers, and ``canonical_json`` is ``json.dumps(fields, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)``. From version 2 on, ``chain_version`` is itself
one of the fields (a record cannot be moved to an older, smaller field set without breaking
its link). A record without ``chain_version`` is version 1: archives written before it existed
still verify (:func:`chain_hash` picks the field set from the record).

``log_files`` (one chain per event type; the head in the event type's bookmark)
    version 1: what the log file *is* (:data:`LOG_FILE_FIELDS_V1`); version 2
    adds where its raw bytes are kept: ``raw_content``, ``raw_part_count``,
    ``raw_storage_uri`` — a record downgraded to ``raw_content: none`` breaks the chain;
    version 3 (written now) adds ``file_size``, the listing's claim, which may differ from the
    chained ``bytes_downloaded`` when the bytes hash to the listed SHA-256 (so ``verify`` reads
    it from the chain rather than from that size).

``files`` (one chain per workspace; the head in the ``files`` stream's bookmark)
    version 1 (:data:`FILE_FIELDS_V1`): what the attachment is and what became of it (id,
    status, sha256, size, storage_uri, part_count, conversation, message, event and log file
    ids, …) and ``chain_previous_id``: the attachment id of the record ``chain_previous``
    links to (None at the genesis). An attachment can have several records (a failed try,
    then the archived one, in a later run): a target that upserts by id (PostgreSQL) keeps
    only the latest, so the chain has a hole where an earlier record was. A hole is accounted
    for only when ``chain_previous_id`` names an attachment that has a record later in the
    chain (its latest); any other hole is a removed record.

The REST streams (``users``, ``gpts``, ``projects`` and the workspace objects: one chain per
stream, its head in the stream's bookmark) are chained by the same rules in
:mod:`~tap_chatgpt_compliance.logfiles.rest_chain`: ``chain_previous_key`` (the primary key of
the record linked to) accounts for the holes of an upserting target as ``chain_previous_id``
does here.

The head of a chain moves only with the STATE that makes its records final: the ``log_files``
head with its bookmark, the ``files`` head with the bookmark of the log file that referenced
the attachments (:class:`StagedChain`, committed by the files stream's ``commit_staged``), or
at once for the attachments retried from the state. A record written again after a kill gets
the same link (when its values are the same): the run resumes from the head of the last STATE.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from datetime import datetime, timezone
from decimal import Decimal

from tap_chatgpt_compliance.timeparse import to_datetime

GENESIS = "0" * 64
"""``chain_previous`` of the first record of a chain."""
HEAD_KEY = "chain_head"
SEQ_KEY = "chain_seq"
HEAD_ID_KEY = "chain_head_id"
"""Files chain only: the attachment id of the head record (``chain_previous_id`` of the next)."""
VERSION_KEY = "chain_version"
LOG_FILES = "log_files"
FILES = "files"

LOG_FILE_FIELDS_V1 = (
    "id",
    "workspace_id",
    "organization_id",
    "event_type",
    "end_time",
    "file_name",
    "provider_sha256",
    "verified_sha256",
    "bytes_downloaded",
    "line_count",
)
LOG_FILE_FIELDS_V2 = (
    *LOG_FILE_FIELDS_V1,
    "raw_content",
    "raw_part_count",
    "raw_storage_uri",
    VERSION_KEY,
)
LOG_FILE_FIELDS_V3 = (*LOG_FILE_FIELDS_V2, "file_size")
FILE_FIELDS_V1 = (
    "id",
    "workspace_id",
    "conversation_id",
    "message_id",
    "user_id",
    "event_id",
    "log_file_id",
    "name",
    "mime_type",
    "size",
    "sha256",
    "status",
    "storage_uri",
    "part_count",
    "chain_previous_id",
    VERSION_KEY,
)
FIELD_SETS: dict[str, dict[int, tuple[str, ...]]] = {
    LOG_FILES: {1: LOG_FILE_FIELDS_V1, 2: LOG_FILE_FIELDS_V2, 3: LOG_FILE_FIELDS_V3},
    FILES: {1: FILE_FIELDS_V1},
}
"""Chained fields per stream and ``chain_version``."""
CURRENT_VERSION = {LOG_FILES: 3, FILES: 1}
"""The version the tap writes now, per stream."""
CHAIN_FIELDS = LOG_FILE_FIELDS_V1
"""Version 1 of the log_files field set (kept for callers written before versions)."""
_TIME_FIELDS = frozenset({"end_time"})


class ChainVersionError(ValueError):
    """A record names a ``chain_version`` this code does not know."""


def canonical_time(value: t.Any) -> str | None:
    """Return a time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (naive values are UTC)."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else to_datetime(value)
    if when is None:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def whole_number(value: t.Any) -> int | None:
    """Return ``value`` as an int when it is one (a whole float too, as ``1.0``), else None.

    A bool, a text or a fraction is no chain number.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if type(value) is int else None


def record_version(record: t.Mapping[str, t.Any]) -> int:
    """Return a record's ``chain_version`` (1 when absent: written before versions)."""
    value = record.get(VERSION_KEY)
    if value is None:
        return 1
    version = whole_number(value)
    if version is None:
        msg = f"chain_version {value!r} is not an integer"
        raise ChainVersionError(msg)
    return version


def chain_fields(stream: str, version: int) -> tuple[str, ...]:
    """Return the chained fields of a stream's records of one version."""
    try:
        return FIELD_SETS[stream][version]
    except KeyError:
        msg = f"unknown chain_version {version} for {stream} records"
        raise ChainVersionError(msg) from None


def canonical_fields(record: t.Mapping[str, t.Any], stream: str = LOG_FILES) -> str:
    """Return the canonical JSON of the chained fields of a record (ChainVersionError)."""
    fields: dict[str, t.Any] = {}
    for name in chain_fields(stream, record_version(record)):
        value = record.get(name)
        if name in _TIME_FIELDS:
            value = canonical_time(value)
        elif isinstance(value, Decimal):  # a NUMERIC column read back from a database
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        fields[name] = value
    return _CANONICAL(fields)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
"""``json.dumps(…, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``, built once."""


def chain_hash(previous: str, record: t.Mapping[str, t.Any], stream: str = LOG_FILES) -> str:
    """Return the link of a record that follows ``previous`` (ChainVersionError)."""
    payload = f"{previous}\n{canonical_fields(record, stream)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def link(record: dict[str, t.Any], state: t.Mapping[str, t.Any], stream: str = LOG_FILES) -> None:
    """Set the chain fields of a record from the head kept in ``state`` (its bookmark)."""
    previous = str(state.get(HEAD_KEY) or GENESIS)
    record[VERSION_KEY] = CURRENT_VERSION[stream]
    if stream == FILES:
        record["chain_previous_id"] = state.get(HEAD_ID_KEY) if previous != GENESIS else None
    record["chain_previous"] = previous
    record["chain_seq"] = int(state.get(SEQ_KEY) or 0) + 1
    record["chain_hash"] = chain_hash(previous, record, stream)


def advance(state: dict[str, t.Any], record: t.Mapping[str, t.Any]) -> None:
    """Move the head kept in the bookmark to a record that was written."""
    state[HEAD_KEY] = record["chain_hash"]
    state[SEQ_KEY] = record["chain_seq"]


def head(state: t.Mapping[str, t.Any]) -> tuple[int, str] | None:
    """Return a bookmark's chain head (sequence, hash), or None before the first link."""
    seq, value = state.get(SEQ_KEY), state.get(HEAD_KEY)
    if not seq or not value:
        return None
    return int(seq), str(value)


class StagedChain:
    """A chain whose links are made now and whose head reaches the bookmark at a commit.

    The ``files`` records of a log file are written before the log file's manifest record and
    bookmark; STATE messages written in between must still carry the head of before the file,
    so that a run killed there writes the file's attachments again from the same head
    (and the same links). :meth:`commit` copies the working head into the bookmark.
    """

    def __init__(self, state: dict[str, t.Any], stream: str = FILES) -> None:
        """Start from the head kept in ``state`` (the stream's bookmark)."""
        self.state = state
        self.stream = stream
        self.working: dict[str, t.Any] = {
            key: state[key] for key in (HEAD_KEY, SEQ_KEY, HEAD_ID_KEY) if key in state
        }

    @property
    def staged(self) -> bool:
        """Whether links were made since the last commit."""
        return self.working.get(SEQ_KEY) != self.state.get(SEQ_KEY)

    def link(self, record: dict[str, t.Any]) -> None:
        """Link a record to the working head and move the working head to it."""
        link(record, self.working, self.stream)
        advance(self.working, record)
        self.working[HEAD_ID_KEY] = record.get("id")

    def commit(self) -> bool:
        """Copy the working head into the bookmark; return whether it moved."""
        if not self.staged:
            return False
        self.state.update(self.working)
        return True
