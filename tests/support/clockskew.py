"""A clock-skew harness for the tap process (tests only; nothing in the tap reads it).

``skewed_env(env, offset, folder)`` returns an environment whose Python processes see
``time.time()`` and ``datetime.now()`` shifted by ``offset`` seconds: a ``sitecustomize.py``
written into ``folder`` (put first on ``PYTHONPATH``) patches both at start-up when
``TEST_CLOCK_OFFSET_SECONDS`` is set, so the whole run sees a machine whose clock is that far off
(the monotonic clock is left alone: it has no epoch). The variable means nothing to the
tap itself: without this file on the path it is ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "TEST_CLOCK_OFFSET_SECONDS"
SITECUSTOMIZE = f'''"""Test hook: shift the clock by ${VARIABLE} seconds (clockskew.py)."""
import os
import time

_offset = float(os.environ.get("{VARIABLE}") or 0)
if _offset:
    import datetime as _datetime

    _real_time = time.time

    def _shifted() -> float:
        return _real_time() + _offset

    time.time = _shifted

    class _ShiftedDateTime(_datetime.datetime):
        """datetime whose now() and utcnow() read the shifted clock."""

        @classmethod
        def now(cls, tz=None):
            return cls.fromtimestamp(_shifted(), tz)

        @classmethod
        def utcnow(cls):
            return cls.fromtimestamp(_shifted(), _datetime.timezone.utc).replace(tzinfo=None)

        @classmethod
        def today(cls):
            return cls.fromtimestamp(_shifted())

    _datetime.datetime = _ShiftedDateTime
'''


def skewed_env(env: dict[str, str], offset_seconds: float, folder: Path) -> dict[str, str]:
    """Return ``env`` for a process whose clock is ``offset_seconds`` off (0: unchanged)."""
    if not offset_seconds:
        return env
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    shifted = dict(env)
    path = shifted.get("PYTHONPATH")
    shifted["PYTHONPATH"] = str(folder) + (os.pathsep + path if path else "")
    shifted[VARIABLE] = repr(float(offset_seconds))
    return shifted
