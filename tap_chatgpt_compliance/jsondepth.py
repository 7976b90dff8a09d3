"""How deep a JSON text nests, told before any parse (a deep text ends a parser's recursion)."""

from __future__ import annotations

import re

MAX_DEPTH = 128
"""Arrays and objects nested deeper than this in a log line or a served item: not parsed.

orjson parses up to 1,024 levels and writes up to 255, the standard decoder and encoder up to
what is left of the interpreter's recursion limit (under 1,000, less the deeper the call), and
``verify`` walks values in Python: a fixed limit well below all of them, checked before any
parse, gives the tap and ``verify`` the same rows whatever their stacks (events and items of
the API nest about ten levels)."""
NESTED_TOO_DEEPLY = f"nested too deeply to parse (more than {MAX_DEPTH} levels)"
"""The error of an unparsed line nested beyond :data:`MAX_DEPTH` (or that a decoder gave up on)."""
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def nested_too_deeply(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Return whether a JSON text nests arrays and objects deeper than ``limit``.

    Only a text holding more than ``limit`` opening brackets is looked at (two C scans, and
    only for texts long enough to hold them), its strings skipped.
    """
    if len(raw) <= 2 * limit or raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = deepest = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub(b"", raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest > limit
