"""The garbage collector during a sync: what was imported is frozen, young objects gathered longer.

A run allocates millions of short-lived containers (each event is a tree of dicts and lists),
and CPython's cyclic collector scans them every 700 allocations, and every object alive
(the hundreds of thousands the SDK's imports created) at each full collection: about 7% of a
100k-message run's CPU (benchmark P1). Nothing the run builds forms reference cycles that
matter for memory (records and events are trees, freed by reference counting as soon as they
are written), so during the sync the objects alive at its start are frozen (never scanned
again) and a young generation is collected every ``YOUNG_THRESHOLD`` allocations. Both are
undone when the sync ends, so that a process running the tap in-process (tests) keeps its own
settings.
"""

from __future__ import annotations

import contextlib
import gc
import typing as t

YOUNG_THRESHOLD = 10_000
"""Allocations (net of deallocations) of container objects between two young collections."""


@contextlib.contextmanager
def lean_collector() -> t.Iterator[None]:
    """Freeze the objects alive now and collect young objects less often, until the end."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:  # someone else froze objects before us: theirs to undo
            gc.unfreeze()
