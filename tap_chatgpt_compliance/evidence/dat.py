r"""Concordance DAT load file: one line per produced document, for review platforms' loaders.

Format: UTF-8 with a byte order mark, CRLF line ends, every value between ``þ`` (U+00FE) quotes,
fields separated by U+0014 (DC4, shown as ``¶`` by Concordance), a header line of field names
first. A line break inside a value is written as ``®`` (U+00AE), Concordance's newline
placeholder; a quote, separator or newline placeholder character inside a value is shown escaped
(``\\u00fe``, ``\\u00ae``: ``Acme® plan`` never loads as two lines), and so is ``¶`` (U+00B6),
which loaders reading a Unicode DAT often take as the separator.
"""

from __future__ import annotations

import typing as t

QUOTE = "\u00fe"
SEPARATOR = "\u0014"
NEWLINE = "\u00ae"
FIELDS = (
    "BEGDOC",
    "ENDDOC",
    "CUSTODIAN",
    "DATESENT",
    "DATEEND",
    "SUBJECT",
    "CONVERSATIONID",
    "MESSAGECOUNT",
    "NATIVEPATH",
    "FILENAME",
    "MD5HASH",
    "SHA256HASH",
    "VERIFYVERDICT",
    "NOTPROVEN",
)
"""``NOTPROVEN``: how many of the document's messages are marked NOT PROVEN (empty: none)."""


PILCROW = "\u00b6"
"""``¶``: the separator as many loaders are set for a Unicode DAT."""
_ESCAPED = {c: f"\\u{ord(c):04x}" for c in (QUOTE, SEPARATOR, NEWLINE, PILCROW)}


def _value(value: t.Any) -> str:
    text = "" if value is None else str(value)
    for char, escaped in _ESCAPED.items():
        text = text.replace(char, escaped)
    return text.replace("\r\n", NEWLINE).replace("\r", NEWLINE).replace("\n", NEWLINE)


def line(values: t.Iterable[t.Any]) -> str:
    """Return one DAT line (CRLF-terminated)."""
    return SEPARATOR.join(f"{QUOTE}{_value(v)}{QUOTE}" for v in values) + "\r\n"


def header() -> str:
    """Return the byte order mark and the header line."""
    return "\ufeff" + line(FIELDS)


def parse(text: str) -> list[dict[str, str]]:
    """Parse a DAT file written by :func:`header` and :func:`line` (used by the tests)."""
    rows = [r for r in text.lstrip("\ufeff").split("\r\n") if r]
    split = [[v[1:-1] for v in r.split(SEPARATOR)] for r in rows]
    names = split[0]
    return [dict(zip(names, values, strict=True)) for values in split[1:]]
