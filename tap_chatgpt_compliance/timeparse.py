"""Timestamps as the API sends them (ISO 8601 or Unix seconds) to UTC ISO 8601."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timezone


def to_datetime(value: t.Any) -> datetime | None:
    """Parse an ISO 8601 string or Unix seconds; None when missing or malformed.

    Also None for a zoned time whose UTC instant is outside years 1-9999
    (``9999-12-31T23:00:00-05:00``): it cannot be written in UTC.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # its UTC instant leaves the calendar (year 1 less an offset, …)
        return None


_UTC_MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", re.ASCII)
"""What the API sends almost always: UTC with ``Z``, with microseconds or whole seconds."""


_ISO_MEMO: dict[str, str | None] = {}
"""The latest strings :func:`to_iso` read and what they became: an event's ``timestamp`` and
its message's ``created_at`` are usually the same string, a conversation's ``created_at``
comes with each of its events. Emptied when it holds ``ISO_MEMO_SIZE`` entries."""
ISO_MEMO_SIZE = 1024
_MISSING = object()


def to_iso(value: t.Any) -> str | None:
    """Return the value as UTC ISO 8601 with microseconds, or None."""
    if type(value) is not str:
        return _to_iso(value)
    known = _ISO_MEMO.get(value, _MISSING)
    if known is not _MISSING:
        return t.cast("str | None", known)
    iso = _to_iso(value)
    if len(_ISO_MEMO) >= ISO_MEMO_SIZE:
        _ISO_MEMO.clear()
    _ISO_MEMO[value] = iso
    return iso


def _to_iso(value: t.Any) -> str | None:
    if type(value) is str and _UTC_MICROS.fullmatch(value):
        try:
            datetime.fromisoformat(value)  # the fields must be a real date and time
        except ValueError:
            return None
        if len(value) == 20:  # whole seconds
            return value[:19] + ".000000+00:00"
        return value[:26] + "+00:00"
    parsed = to_datetime(value)
    return None if parsed is None else parsed.isoformat(timespec="microseconds")


def api_time(moment: datetime) -> str:
    """Format a time for the API's ``after`` parameter (ISO 8601, UTC, ``Z``)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """Return a short human duration: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
