"""What a listing item claims about a log file's bytes (``file_sha256``, ``file_size``), checked.

The listed SHA-256 is the proof that the bytes downloaded are OpenAI's file: a value that is no
SHA-256 is refused before any download. ``file_size`` is only a claim beside it: when the bytes
hash to the listed SHA-256 they are the file whatever size the listing says (the difference is
told, and the listing's value kept, chained); without a SHA-256 the size is the only check.
"""

from __future__ import annotations

import logging
import math
import re
import typing as t
from decimal import Decimal

from tap_chatgpt_compliance.errors import NOTHING_SKIPPED, ComplianceAPIError

LOGGER = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)


def listed_sha256(meta: t.Mapping[str, t.Any]) -> str:
    """Return the item's ``file_sha256`` in lower case ("" when it has none).

    Raises ComplianceAPIError for a value that is no SHA-256 (64 hexadecimal digits): no
    download could ever match it, and it is not OpenAI's file that would be wrong.
    """
    value = meta.get("file_sha256")
    if value is None or value == "":
        return ""
    if isinstance(value, str) and _SHA256.fullmatch(value.lower()):
        return value.lower()
    msg = (
        f"Log file {meta.get('id')} was listed with file_sha256 {shown(value)}, which is no "
        "SHA-256 (64 hexadecimal digits): its bytes could never be verified, so it was not "
        f"downloaded. {NOTHING_SKIPPED} Report the file id to OpenAI support."
    )
    raise ComplianceAPIError(msg)


def listed_file_size(meta: t.Mapping[str, t.Any]) -> int | None:
    """Return the item's ``file_size`` if it is a byte count (a whole number ≥ 0), else None."""
    value = meta.get("file_size")
    if isinstance(value, (float, Decimal)) and math.isfinite(value) and value == int(value):
        value = int(value)  # 1858.0: a whole number (JSON numbers may be parsed as Decimal)
    return value if type(value) is int and value >= 0 else None


def shown(value: t.Any) -> str:
    """Return a listed value as a log line shows it: a text quoted, anything else as is."""
    return repr(value[:80]) if isinstance(value, str) else str(value)[:80]


def size_problem(meta: t.Mapping[str, t.Any], expected_sha256: str, size: int) -> str | None:
    """Return why bytes of ``size`` are not the file, when only its size can tell (else None).

    With a listed SHA-256 the hash decides (the caller compares it); without one, bytes of
    another size than a listed ``file_size`` are not the file (a body cut short, say).
    """
    listed = listed_file_size(meta)
    if expected_sha256 or listed is None or listed == size:
        return None
    return f"its download had {size:,} bytes, not the listed file_size {listed:,}"


def note_listing(meta: t.Mapping[str, t.Any], expected_sha256: str, size: int) -> None:
    """Log what the listing said of a file that was accepted, where it differs from the bytes."""
    value, listed = meta.get("file_size"), listed_file_size(meta)
    if value is not None and listed is None:
        LOGGER.warning(
            "Log file %s was listed with file_size %s, which is no byte count: its file_size is "
            "left empty (bytes_downloaded is the size served).",
            meta.get("id"),
            shown(value),
        )
    if not expected_sha256:
        LOGGER.warning("Log file %s was listed without file_sha256.", meta.get("id"))
    elif listed is not None and listed != size:
        LOGGER.warning(
            "Log file %s: the listing says file_size %s, but the %s bytes served hash to its "
            "file_sha256: archived as served (file_size keeps the listing's value, "
            "bytes_downloaded the size served).",
            meta.get("id"),
            f"{listed:,}",
            f"{size:,}",
        )
