"""The interpreter's settings during a sync: a lean garbage collector, a short switch interval.

Garbage collector: a run allocates millions of short-lived containers (each event is a tree of
dicts and lists), and CPython's cyclic collector scans them every 700 allocations, and every
object alive (the hundreds of thousands the SDK's imports created) at each full collection:
about 7% of a 100k-message run's CPU (benchmark P1). Nothing the run builds forms reference
cycles that matter for memory (records and events are trees, freed by reference counting as
soon as they are written), so during the sync the objects alive at its start are frozen (never
scanned again) and a young generation is collected every ``YOUNG_THRESHOLD`` allocations.

Switch interval: the log file thread downloads while the run writes records; each time the run
gives up the interpreter's lock (a write to stdout, a query of its run file), it may wait up
to the switch interval (5 ms by default) to get it back. ``SWITCH_INTERVAL`` shortens that.

Both are undone when the sync ends, so that a process running the tap in-process (tests) keeps
its own settings.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import typing as t

YOUNG_THRESHOLD = 10_000
"""Allocations (net of deallocations) of container objects between two young collections."""
SWITCH_INTERVAL = 0.001
"""Seconds a thread waiting for the interpreter's lock waits before asking for it."""


@contextlib.contextmanager
def lean_interpreter() -> t.Iterator[None]:
    """Freeze the objects alive now, collect young objects less often, switch threads sooner."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    interval = sys.getswitchinterval()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        if not frozen:  # someone else froze objects before us: theirs to undo
            gc.unfreeze()
