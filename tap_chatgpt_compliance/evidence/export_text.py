"""Text made safe for a production: titles, file names, CSV cells, bidi controls.

Everything a production shows comes from the archive, and the archive holds what users typed
(titles, messages, file names): none of it may break a header, a file name, a CSV viewer or the
reading order of a page.
"""

from __future__ import annotations

import hashlib
import re

BIDI = frozenset((*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""Bidirectional embedding, override and isolate controls (LRE..RLO, LRI..PDI)."""
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_CONTROLS = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_BODY_CONTROLS = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN = re.compile(r"[a-z0-9][a-z0-9._-]*")
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters a spreadsheet may read as a formula (and their full-width forms)."""
RESERVED = frozenset(
    ("con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10)))
)
"""Device names Windows refuses as a file name (with any extension)."""
NAME_MAX = 80
"""Longest readable part of a produced file name (a hash suffix follows when needed)."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\u{ord(char):04x}"


def one_line(text: object) -> str:
    r"""Return text for a title, header or cell: every control, line break and bidi control escaped.

    ``"a\\r\\nb"`` becomes ``a\\r\\nb`` (backslash escapes shown), U+202E becomes ``\\u202e``.
    """
    return _CONTROLS.sub(_escape, str(text))


def show_controls(text: str) -> str:
    """Return a message body for display: line breaks and tabs kept, other controls escaped."""
    return _BODY_CONTROLS.sub(_escape, text)


def csv_cell(value: object) -> str:
    """Return a CSV cell a spreadsheet shows as text: ``'`` before a formula trigger."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_TRIGGERS) else text


def short_hash(text: str, length: int = 8) -> str:
    """Return the first hex digits of the SHA-256 of text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def file_stem(identifier: str, length: int = 8) -> str:
    """Return a file name stem for an identifier, distinct for distinct identifiers.

    An identifier that is already lower-case and safe (``[a-z0-9._-]``, as conversation UUIDs)
    is its own stem. Any other gets a hash of the exact identifier as a suffix: ``case/1`` and
    ``case_1`` (the same once sanitised), or ``Case_1`` and ``case_1`` (the same on a
    case-insensitive file system), never share a name.
    """
    if (
        len(identifier) <= NAME_MAX
        and _PLAIN.fullmatch(identifier)
        and identifier.split(".", 1)[0] not in RESERVED
    ):
        return identifier
    readable = _SAFE.sub("_", identifier)[:NAME_MAX].strip("._") or "x"
    return f"{readable}_{short_hash(identifier, length)}"
