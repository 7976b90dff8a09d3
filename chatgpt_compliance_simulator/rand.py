"""Seeded randomness: id helpers and the independent generators of one workspace.

Every random choice of the simulator comes from a ``random.Random`` seeded by a string
derived from the configured seed, so the same configuration and the same sequence of
``advance`` calls always produce the same bytes.
"""

from __future__ import annotations

import random
import string
import uuid
import zlib

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits


def rand_uuid(rng: random.Random) -> str:
    """Draw a version-4 UUID from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_token(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    """``n`` characters drawn from ``alphabet``."""
    return "".join(rng.choices(alphabet, k=n))


def rand_count(rng: random.Random, expected: float) -> int:
    """Draw an integer count whose mean is ``expected`` (floor, plus one with the remainder)."""
    base = int(expected)
    return base + (1 if rng.random() < expected - base else 0)


def hash01(*parts: object) -> float:
    """Return a stable number in [0, 1) from ``parts`` (decisions made at serving time)."""
    return zlib.crc32(":".join(map(str, parts)).encode()) / 2**32


class Rngs:
    """The generators of one workspace, each with its own seed string.

    Quirks, oddities, realism and extra event types draw from their own generators, so
    switching one of them does not reshuffle the conversations or the background streams.
    """

    def __init__(self, tag: str) -> None:
        self.main = random.Random(tag)
        """Entities, conversations, messages and the schedule of new activity."""
        self.quirks = random.Random(tag + ":quirks")
        """Quirk decisions (drawn whether or not the quirk is on)."""
        self.background = random.Random(tag + ":background")
        """AUTH_LOG, AUDIT_LOG, APP_LOG, CODEX_LOG and COSTS events."""
        self.oddities = random.Random(tag + ":oddities")
        """Oddity decisions (drawn whether or not the oddity is on)."""
        self.realism = random.Random(tag + ":realism")
        """Shapes copied from published samples (whole-second timestamps, IP details)."""
        self.extra = random.Random(tag + ":extra")
        """Events of ``Oddities.extra_event_types``."""
        self.turns = random.Random(tag + ":turns")
        """APP_AUTH_LOG and CODEX_TURN events (added later: the other streams stay as they
        were)."""
