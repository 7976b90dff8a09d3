"""The workspace-object streams' routes overlap: their refreshes read ahead in producers (issue 21).

The API keeps one token bucket per route template, and the tap paces each route on its own
(http/pacing.py). The SDK syncs the streams one after another, so a run waited for each route
in turn: the sum of the routes' times instead of the busiest one's. At the start of a run,
:func:`start_overlap` therefore starts a producer (run/prefetch.py, at most
:data:`~tap_chatgpt_compliance.run.prefetch.MAX_PRODUCERS` threads) for every top-level
workspace-object stream the run syncs (selected, or the parent of a selected child); child
streams (transcripts, task details, files) stay in the main thread, fetched per parent record.

Each producer runs its stream's own :meth:`~.workspace.WorkspaceObjectStream.refresh_if_due`
(the due check, then the same requests in the same order) into a spool; the SDK, reaching the
stream, drains it (``get_records``): the same rows in the same order, and a producer's error
raised there, handled as before. The state is written only by the main thread after the
stream's last record; a producer only reads it.

A producer decides whether its stream is due once the API's clock is known (the run's first
answer) or once the main thread reaches the first workspace-object stream, whichever is first,
as the main thread would have (with the API's time when a request came before). Listings shared
by streams are read once (gen1.shared_listing). ``TAP_CHATGPT_COMPLIANCE_PREFETCH=off`` turns
the overlap off (the streams refresh in the main thread, one after another).
"""

from __future__ import annotations

import os
import typing as t

from tap_chatgpt_compliance.run.prefetch import Prefetch
from tap_chatgpt_compliance.streams.gen1 import prefetch_of, run_cache
from tap_chatgpt_compliance.streams.workspace import ChildObjectStream, WorkspaceObjectStream

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PREFETCH_VARIABLE = "TAP_CHATGPT_COMPLIANCE_PREFETCH"
"""Environment variable: ``off`` (or ``0``, ``false``) refreshes the streams one by one."""
CLOCK_POLL_SECONDS = 0.1


def overlap_enabled() -> bool:
    """Whether the workspace-object refreshes overlap (:data:`PREFETCH_VARIABLE`)."""
    value = os.environ.get(PREFETCH_VARIABLE, "").strip().lower()
    return value not in {"off", "0", "false", "no"}


def overlapped_streams(tap: t.Any) -> list[WorkspaceObjectStream]:
    """Return the top-level workspace-object streams the run syncs, in the SDK's order."""
    return [
        stream
        for stream in tap.streams.values()
        if isinstance(stream, WorkspaceObjectStream)
        and not isinstance(stream, ChildObjectStream)
        and stream.parent_stream_type is None
        and stream.refreshed_by_cadence
        and (stream.selected or stream.has_selected_descendents)
        and stream.ABORT_AT_RECORD_COUNT is None
    ]


def start_overlap(tap: t.Any) -> None:
    """Start the producers of the run's workspace-object streams (main thread, once per run)."""
    if not overlap_enabled() or prefetch_of(tap) is not None:
        return
    chosen = overlapped_streams(tap)
    if not chosen:
        return
    prefetch = Prefetch()
    for stream in chosen:
        stream.forget_unemitted()  # the state moves here, in the main thread, not later
        stream.prefetch_updates = {}
        prefetch.add(stream.name, _producer(prefetch, stream))
    run_cache(tap)["prefetch"] = prefetch
    prefetch.start()


def stop_overlap(tap: t.Any) -> None:
    """Stop the producers still running and delete their spools (the run ends)."""
    prefetch = prefetch_of(tap)
    if prefetch is not None:
        prefetch.close()


def _producer(
    prefetch: Prefetch, stream: WorkspaceObjectStream
) -> t.Callable[[], Iterator[dict[str, t.Any]]]:
    def rows() -> Iterator[dict[str, t.Any]]:
        clock = stream.transport.clock
        while not prefetch.released and not clock.wait_synced(CLOCK_POLL_SECONDS):
            prefetch.check()
        yield from stream.refresh_if_due(None, stream.prefetch_updates)

    return rows
