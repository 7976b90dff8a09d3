r"""Rows of the directory streams (users, gpts, projects), derived from the item as served.

:func:`derive_row` is a pure function of the stream, the item and the workspace id: the tap
writes its result, and ``chatgpt-compliance verify`` calls it on the ``raw_item`` column
(``json.loads``) to re-derive every other column. :func:`raw_item` is the canonical JSON text
of the item: ``json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":"))``,
numbers with a fraction or exponent as the JSON text of Python floats, a lone surrogate (JSON's
``\ud83d``, half an emoji, which UTF-8 cannot hold) as its escape.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t
from decimal import Decimal

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.timeparse import to_iso

SCHEMAS: dict[str, dict[str, t.Any]] = {
    "users": schemas.USER,
    "gpts": schemas.GPT,
    "projects": schemas.PROJECT,
}
"""The directory streams and their schemas."""
DERIVED = ("workspace_id", "item", "raw_item")
"""Columns that are not copied from a field of the item."""


def plain(value: t.Any) -> t.Any:
    """Return a parsed JSON value with the SDK's Decimals as floats (what ``json.loads`` gives)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: t.Any) -> str:
    """Return the canonical JSON text of a plain JSON value (see the module docstring).

    A surrogate code point can only be a lone one in a parsed value (a pair is parsed as one
    character) and only inside a JSON string, where its escape means the same: the text stays
    exact and is always valid UTF-8 (so it can be hashed and stored by any target).
    """
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text if text.isascii() else escape_lone_surrogates(text)


def escape_lone_surrogates(text: str) -> str:
    r"""Return text with each lone surrogate as its JSON escape (``\ud83d``): valid UTF-8.

    Inside a JSON string the escape means the same character: JSON text stays exact.
    """
    return _LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def raw_item(item: t.Mapping[str, t.Any]) -> str:
    """Return the canonical JSON text of an item (see the module docstring)."""
    return canonical_json(plain(item))


def derive_row(
    stream_name: str, item: t.Mapping[str, t.Any], workspace_id: str
) -> dict[str, t.Any]:
    """Return the row the tap writes for an item of a directory stream (KeyError: unknown stream).

    The declared fields of the stream's schema are copied from the item (fields the tap does
    not know stay in ``item``), ``created_at`` is turned from Unix seconds or ISO 8601 into UTC
    ISO 8601 with microseconds, ``workspace_id`` is the configured workspace, ``item`` is the
    item and ``raw_item`` its canonical JSON text. An item without a string id (none, a number,
    ``""``) is keyed by its content (:func:`content_key`): written, never merged with another.
    """
    declared = SCHEMAS[stream_name]["properties"]
    value = plain(item)
    row = {key: field for key, field in value.items() if key in declared and key not in DERIVED}
    row["workspace_id"] = workspace_id
    if "created_at" in row:
        row["created_at"] = to_iso(row["created_at"])
    row["item"] = value
    row["raw_item"] = canonical_json(value)
    if not has_id(value):
        row["id"] = content_key(row["raw_item"])
    return row


def has_id(item: t.Mapping[str, t.Any]) -> bool:
    """Whether an item has an id a row can be keyed by (a non-empty string)."""
    ident = item.get("id")
    return isinstance(ident, str) and bool(ident)


def content_key(raw: str) -> str:
    """Return the key of an item without an id: ``sha256:`` and the SHA-256 of its raw_item."""
    return "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()
