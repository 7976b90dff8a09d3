r"""The tamper-evident chain over the ``log_files`` manifest, one chain per event type.

Each manifest record carries ``chain_previous`` (the link of the file before it, of the same
event type; :data:`GENESIS` for the first), ``chain_seq`` (1 for the first) and ``chain_hash``::

    chain_hash = sha256_hex(chain_previous + "\n" + canonical_json(fields))

where ``fields`` are :data:`CHAIN_FIELDS` of the record — what the log file *is*, never what a run
made of it — ``end_time`` written as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC) and
``canonical_json`` is ``json.dumps(fields, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)``. The head of each chain is kept in the event type's bookmark (``chain_head``,
``chain_seq``) and moves only with it: a file written again after a kill gets the same link.
Removing or altering a manifest record breaks the chain at the record after it.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from datetime import datetime, timezone

from tap_chatgpt_compliance.timeparse import to_datetime

GENESIS = "0" * 64
"""``chain_previous`` of the first file of an event type."""
HEAD_KEY = "chain_head"
SEQ_KEY = "chain_seq"
CHAIN_FIELDS = (
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


def canonical_fields(record: t.Mapping[str, t.Any]) -> str:
    """Return the canonical JSON of the chained fields of a manifest record."""
    fields: dict[str, t.Any] = {}
    for name in CHAIN_FIELDS:
        value = record.get(name)
        if name == "end_time":
            value = canonical_time(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        fields[name] = value
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def chain_hash(previous: str, record: t.Mapping[str, t.Any]) -> str:
    """Return the link of a manifest record that follows ``previous``."""
    payload = f"{previous}\n{canonical_fields(record)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def link(record: dict[str, t.Any], state: t.Mapping[str, t.Any]) -> None:
    """Set the chain fields of a manifest record from the head kept in its bookmark."""
    previous = str(state.get(HEAD_KEY) or GENESIS)
    record["chain_previous"] = previous
    record["chain_seq"] = int(state.get(SEQ_KEY) or 0) + 1
    record["chain_hash"] = chain_hash(previous, record)


def advance(state: dict[str, t.Any], record: t.Mapping[str, t.Any]) -> None:
    """Move the head kept in the bookmark to a record that was written."""
    state[HEAD_KEY] = record["chain_hash"]
    state[SEQ_KEY] = record["chain_seq"]
