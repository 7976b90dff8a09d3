"""Text made safe for a production: titles, file names, CSV cells, bidi controls.

Everything a production shows comes from the archive, and the archive holds what users typed
(titles, messages, file names): none of it may break a header, a file name, a CSV viewer or the
reading order of a page.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

BIDI = frozenset((*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""Bidirectional embedding, override and isolate controls (LRE..RLO, LRI..PDI)."""
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_CONTROLS = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
    # Invisible in a name: soft hyphen, Arabic letter mark, Hangul fillers, Mongolian vowel
    # separator, zero-width space/non-joiner/joiner, LRM/RLM, word joiner and invisible
    # operators, other format controls, interlinear annotation, tag characters.
    "\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2060-\u2064\u206a-\u206f\u3164"
    "\uffa0\ufff9-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
_JOINER = "\u200d"
_BODY_CONTROLS = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
    # Text a page would hide: interlinear annotation, tag characters ("ASCII smuggling"),
    # variation selectors 17-256 (bytes hidden after an emoji).
    "\ufff9-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
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
SHOWN_EXTENSIONS = frozenset(
    (
        *("txt", "csv", "tsv", "json", "log", "md", "pdf", "rtf"),
        *("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif"),
        *("mp3", "mp4", "m4a", "wav", "ogg", "oga", "webm", "mov", "avi"),
        *("zip", "gz", "tgz", "tar", "7z", "rar"),
        *("doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "msg"),
    )
)
"""Extensions a browser shows, plays or downloads, never runs: an attachment keeps one of
these. Any other (``.html``, ``.svg``, ``.xml``, ``.mht``, none at all, which a browser sniffs)
gets ``.txt`` after it: opened from the production, it shows its text and never runs."""
"""Longest readable part of a produced file name (a hash suffix follows when needed)."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if ord(char) > 0xFFFF:  # ``\\U000e0041``: ``\\ue0041`` would read as U+E004 and "1"
        return f"\\U{ord(char):08x}"
    return _NAMED.get(char) or f"\\u{ord(char):04x}"


def _pictograph(char: str) -> bool:
    """Whether ``char`` is an emoji or one of its modifiers (a joiner between two draws one)."""
    point = ord(char)
    return point >= 0x1F000 or 0x2600 <= point <= 0x27BF or point in (0xFE0F, 0x2640, 0x2642)


def _escape_visible(match: re.Match[str]) -> str:
    """Escape a control; keep the zero-width joiner of an emoji sequence (👩‍💻: no disguise)."""
    text, at = match.string, match.start()
    if (
        match.group() == _JOINER
        and 0 < at < len(text) - 1
        and _pictograph(text[at - 1])
        and _pictograph(text[at + 1])
    ):
        return _JOINER
    return _escape(match)


def one_line(text: object) -> str:
    r"""Return text for a title, header or cell: every control, line break and bidi control escaped.

    ``"a\\r\\nb"`` becomes ``a\\r\\nb`` (backslash escapes shown), U+202E becomes ``\\u202e``,
    and so does a character that shows nothing (``Dana\\u200bScully``: a name made to look like
    another's), except the joiner of an emoji sequence.
    """
    return _CONTROLS.sub(_escape_visible, str(text))


def show_controls(text: str) -> str:
    """Return a message body for display: line breaks and tabs kept, other controls escaped.

    So are characters that hide text on a page (tag characters, variation selectors 17-256):
    the reviewer sees that the delivered text holds more than it shows.
    """
    return _BODY_CONTROLS.sub(_escape, text)


def csv_cell(value: object) -> str:
    """Return a CSV cell a spreadsheet shows as text, on one line.

    Controls escaped (:func:`one_line`: an id or a tool's name can hold a bidi override or a
    line break too), ``'`` before a formula trigger.
    """
    text = "" if value is None else one_line(value)
    return "'" + text if text.startswith(CSV_TRIGGERS) else text


def match_key(text: object) -> str | None:
    """Return how a typed id or email is compared: NFC, surrounding spaces off, lower case.

    Both sides of a custodian lookup go through it (SQLite's own ``lower()`` folds ASCII
    only: ``Élodie@`` would never match ``élodie@``, nor a decomposed ``E\u0301lodie@``
    its composed form). Lower case, not ``casefold``: ``ß`` stays ``ß`` (``strasse@`` is
    another address), and a look-alike of another script stays another character.
    """
    if not isinstance(text, str):
        return None
    return unicodedata.normalize("NFC", text.strip()).lower()


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


def inert_name(name: str) -> str:
    """Return a produced file's name for a file someone named: safe, and never run by a browser.

    ``Report.PDF`` gives ``Report_<hash>.pdf`` (the extension kept, lower-case: a viewer opens
    it), ``invoice.html`` gives ``invoice.html.txt``, ``README`` gives ``README_<hash>.txt``.
    """
    base, dot, extension = name.rpartition(".")
    if dot and base.strip("._") and extension.lower() in SHOWN_EXTENSIONS:
        return f"{file_stem(base)}.{extension.lower()}"
    return f"{file_stem(name)}.txt"
