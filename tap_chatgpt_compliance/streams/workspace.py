"""What the workspace holds beside conversations (issue 21): the machinery of those streams.

Every stream here reads Gen-1 routes (reference §1A) with the tap's paced session (every request
takes a token of its route's bucket, pacing.py), and follows three rules:

* **Refresh cadence.** Configurations, shares, memories, canvases, … change slowly, and the
  per-user routes multiply requests by the number of users. A stream refreshes at most every
  ``directory_refresh_hours`` (default 24; 0: every run): in the runs between, it sends no
  request. Its state keeps ``refreshed_at``, the start of its last complete refresh in the API's
  clock (clock.py), written only after the refresh's last record, so a run killed in the middle
  of a refresh refreshes again next time.
* **Incremental where the API can filter** (memories by ``since_timestamp``, canvas versions by
  their time, configurations by the time of a GPT's latest one): the watermark is the start of
  the previous refresh less :data:`OVERLAP` (never a time taken from an item, which would skip
  items written behind the listing's position while it ran).
* **Change detection where it cannot** (:class:`ChangeBuckets`): each item's SHA-256 is added to
  one of :data:`BUCKETS` bucket sums (chosen by its key); the state keeps only the sums, a few
  KiB per stream whatever the number of items. A bucket whose sum changed (an item added,
  changed or gone) has its items emitted again; the others emit nothing.

Nothing here is selected by default (see docs/streams.md): an hourly log sync gains no request
unless the user selects these streams.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import typing as t
from datetime import datetime, timedelta

from tap_chatgpt_compliance.errors import ListingError
from tap_chatgpt_compliance.http.pagination import PageShapeError
from tap_chatgpt_compliance.http.transport import BadPathSegment
from tap_chatgpt_compliance.logfiles import rest_chain
from tap_chatgpt_compliance.sdk import OncePerRunSchema
from tap_chatgpt_compliance.settings import setting
from tap_chatgpt_compliance.streams.chained import ChainedRows
from tap_chatgpt_compliance.streams.gen1 import (
    ObjectRefused,
    RouteForbidden,
    RouteMissing,
    failed_parents,
    prefetch_of,
)
from tap_chatgpt_compliance.streams.served import ServedRows
from tap_chatgpt_compliance.timeparse import to_datetime
from tap_chatgpt_compliance.workspace_rows import SCHEMAS

SKIPPED = (RouteForbidden, RouteMissing, ObjectRefused)
"""What skips a stream (for a child stream: one object), not the run: 403, 404, 400, …"""

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

OVERLAP = timedelta(minutes=10)
"""How far back of the previous refresh's start an incremental refresh reads again (clock
differences, items written while the previous refresh ran). Longer than the largest clock
difference the tap accepts by default (max_clock_skew_seconds, 5 minutes)."""
BUCKETS = 512
"""Buckets of :class:`ChangeBuckets`: 512 sums of :data:`DIGITS` hex digits (4 KiB of state)."""
DIGITS = 8
MAX_BOUNDARY = 2000
"""Most item keys kept in the state to drop the re-read overlap of an incremental stream."""
DEFAULT_REFRESH_HOURS = 24.0


class WorkspaceObjectStream(ChainedRows, ServedRows):
    """A stream of workspace objects read from Gen-1 routes (see the module docstring)."""

    selected_by_default = False
    path = ""
    primary_keys: t.ClassVar[list[str]] = ["id"]
    parent_keys: tuple[str, ...] = ()
    refreshed_by_cadence = True
    """False for child streams: they follow their parent's refresh."""
    _refreshing = False
    """Whether the last :meth:`refresh_if_due` found the stream due."""
    prefetch_updates: dict[str, t.Any]
    """The state a producer's refresh keeps (set by overlap.py with the producer)."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Take the schema of the stream's name (workspace_rows.SCHEMAS)."""
        if "schema" not in kwargs and self.name in SCHEMAS:
            kwargs["schema"] = rest_chain.with_chain_columns(SCHEMAS[self.name])
        super().__init__(*args, **kwargs)

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: a refresh that emits only changed items is not a full table version."""
        return False

    # The refresh.

    def refresh_hours(self) -> float:
        """Return ``directory_refresh_hours``."""
        value = setting(self.config, "directory_refresh_hours")
        return DEFAULT_REFRESH_HOURS if value is None else float(value)

    def due(self) -> bool:
        """Whether the stream refreshes in this run (``directory_refresh_hours``)."""
        last = to_datetime(self.stream_state.get("refreshed_at"))
        if last is None or not self.refreshed_by_cadence:
            return True
        now = self.transport.clock.now()
        return now - last >= timedelta(hours=self.refresh_hours()) or now < last - OVERLAP

    def watermark(self) -> datetime | None:
        """Return the start of the previous complete refresh less :data:`OVERLAP` (None: first).

        A refresh time later than the API's (a state written by a run that trusted a wrong
        clock, or edited) would hide every item changed before it, and the refresh recorded at
        the true time would never read them again: it is set aside, loudly (the run fails), and
        the refresh reads everything, as a first one would (like a log bookmark ahead).
        """
        last = to_datetime(self.stream_state.get("refreshed_at"))
        if last is None:
            return None
        clock = self.transport.clock
        if clock.ahead(last):
            message = (
                f"stream '{self.name}': its refreshed_at {self.stream_state['refreshed_at']} is "
                f"later than the API's time {clock.now().isoformat(timespec='seconds')}: it was "
                "set by a run that trusted a wrong clock (or the state was edited), and would "
                "hide every item changed before it. It is set aside: this refresh reads "
                "everything again; rows archived before are recognised downstream by their keys."
            )
            self.sync_run.fail_at_end(self.logger, message)
            return None
        return last - OVERLAP

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Refresh when due; a 403, a broken listing or a missing route skip only this stream.

        The rows come from this stream's producer when the run started one (overlap.py: the
        same rows, read ahead), else from :meth:`refresh_if_due` here. The state moves
        (``refreshed_at``, the stream's own keys) after the last record, in this thread only.
        """
        prefetch = prefetch_of(self.tap)
        if prefetch is not None and prefetch.has(self.name):
            prefetch.release()
            updates = self.prefetch_updates
            rows: Iterator[dict[str, t.Any]] = prefetch.rows(self.name)
        else:
            self.forget_unemitted()
            updates = {}
            rows = self.refresh_if_due(context, updates)
        try:
            yield from rows
        except (*SKIPPED, PageShapeError, ListingError, BadPathSegment) as exc:
            self.logger.warning(
                "Stream '%s' skipped: %s. The run goes on, and fails at its end.", self.name, exc
            )
            self.sync_run.failures.append(f"stream '{self.name}': {exc}")
            self.child_failed()
            self.commit_chain()  # the records written before the failure are final too
            return
        self.commit_chain()
        if not self._refreshing:
            return
        self.after_refresh(updates)
        for child in self.child_streams:  # the file streams: every file answering 404
            say = getattr(child, "say_if_every_one_missing", None)
            if say is not None:
                say()
        if self.name in failed_parents(self.tap) or self._incomplete_listing:
            self.logger.warning(
                "Stream '%s': %s could not be archived; the refresh is not recorded, so the "
                "next run reads it again.",
                self.name,
                "what an item listed without an id holds"
                if self._incomplete_listing
                else "what a child stream reads",
            )
            return
        if self.refreshed_by_cadence:
            self.stream_state.update(updates)
            self.stream_state["refreshed_at"] = self.refresh_start().isoformat(timespec="seconds")
            if self.selected:
                self.stream_state.pop("rows_not_emitted", None)
            else:  # synced only for a selected child: the watermark says nothing of its rows
                self.stream_state["rows_not_emitted"] = True
            self.state_manager.is_flushed = False

    def forget_unemitted(self) -> None:
        """Start over a stream whose rows were never written (main thread: the state moves)."""
        state = self.stream_state  # created now if missing: a producer only reads it
        if self.selected and state.get("rows_not_emitted"):
            # Read before only for a child stream: its rows were never written, start over
            # (the chain head stays: rows of it may have been written while it was selected).
            head = rest_chain.kept_head(state)
            state.clear()
            state.update(head)

    def refresh_if_due(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Yield the refresh's rows if the stream is due (it only reads the state).

        Run by the main thread or by the stream's producer (overlap.py).
        """
        self._refreshing = False
        if self.refreshed_by_cadence and not self.due():
            self.logger.info(
                "Stream '%s' is not due: refreshed at %s, every %g h (directory_refresh_hours).",
                self.name,
                self.stream_state.get("refreshed_at"),
                self.refresh_hours(),
            )
            return
        self._refreshing = True
        self._incomplete_listing = False
        clock = self.transport.clock
        # The API's clock: now if a Date was seen, else at this stream's first answer.
        self._refresh_started = clock.now() if clock.synced else None
        yield from self.refresh(context, updates)

    def after_refresh(self, updates: dict[str, t.Any]) -> None:
        """Complete ``updates`` after the last record and its children (main thread)."""

    def refresh_start(self) -> datetime:
        """Return the start of this refresh in the API's clock (now if not known yet)."""
        return self._refresh_started or self.transport.clock.now()

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Yield the rows of one refresh; put the state to keep after it in ``updates``."""
        raise NotImplementedError

    def emit_changed(
        self,
        keyed_rows: Iterable[tuple[str, dict[str, t.Any]]],
        updates: dict[str, t.Any],
        also: t.Collection[str] = (),
    ) -> Iterator[dict[str, t.Any]]:
        """Yield the rows of the buckets changed since the last refresh (:class:`ChangeBuckets`).

        ``keyed_rows``: ``(key, row)`` of every item listed; ``also``: keys emitted regardless.
        The new sums go to ``updates["buckets"]``.
        """
        buckets = ChangeBuckets(self.stream_state.get("buckets"))
        for key, row in keyed_rows:
            buckets.add(key, row)
        yield from buckets.changed(also)
        updates["buckets"] = buckets.state()

    def child_failed(self) -> None:
        """Keep the parent's state where it was: its next refresh emits the rows again."""
        parent = self.parent_stream_type
        if parent is not None:
            failed_parents(self.tap).add(t.cast("t.Any", parent).name)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Rows are built by :meth:`row` already: link each to the stream's chain."""
        return self.chain_link(row)


class ChildObjectStream(OncePerRunSchema, WorkspaceObjectStream):
    """One object fetched for each record its parent emits (transcripts, task details, files).

    The parent emits only new or changed items, so a child fetches only what may have changed.
    No state per parent: ``state_partitioning_keys`` is empty.
    """

    refreshed_by_cadence = False
    state_partitioning_keys: t.ClassVar[list[str]] = []


class ChangeBuckets:
    """Change detection with a state of fixed size (see the module docstring).

    :meth:`add` spools each row with the bucket of its key; :meth:`changed` yields the rows of
    the buckets whose sum differs from the one kept in the state, and :meth:`state` returns the
    new sums. An item that disappears changes its bucket's sum too: its bucket's other items are
    emitted again, and the change is seen downstream as a new ``raw_sha256`` set.
    """

    def __init__(self, previous: t.Any) -> None:
        """Start from the sums kept in the state (anything else: every bucket changed)."""
        self.previous: str | None = (
            previous if isinstance(previous, str) and len(previous) == BUCKETS * DIGITS else None
        )
        self.sums = [0] * BUCKETS
        self._spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024, mode="w+b")  # noqa: SIM115

    def add(self, key: str, row: dict[str, t.Any]) -> None:
        """Count the row in its key's bucket and keep it for :meth:`changed`."""
        # "surrogatepass": a served id may hold a lone surrogate (the same bytes for any other).
        data = key.encode("utf-8", "surrogatepass")
        bucket = int(hashlib.sha256(data).hexdigest()[:8], 16) % BUCKETS
        digest = hashlib.sha256(data + f"\n{row['raw_sha256']}".encode()).hexdigest()
        self.sums[bucket] = (self.sums[bucket] + int(digest[:16], 16)) % (1 << (4 * DIGITS))
        line = json.dumps([bucket, key, row], separators=(",", ":"))  # ASCII: any text
        self._spool.write(line.encode("ascii") + b"\n")

    def state(self) -> str:
        """Return the sums to keep: one string, :data:`DIGITS` hex digits per bucket."""
        return "".join(f"{total:0{DIGITS}x}" for total in self.sums)

    def changed(self, also: t.Collection[str] = ()) -> Iterator[dict[str, t.Any]]:
        """Yield the kept rows of every bucket whose sum changed, in the order added.

        ``also``: keys whose rows are yielded even when their bucket did not change.
        """
        now, before = self.state(), self.previous
        differ = {
            index
            for index in range(BUCKETS)
            if before is None
            or before[index * DIGITS : (index + 1) * DIGITS]
            != now[index * DIGITS : (index + 1) * DIGITS]
        }
        self._spool.seek(0)
        try:
            for line in self._spool:
                bucket, key, row = json.loads(line)
                if bucket in differ or key in also:
                    yield row
        finally:
            self._spool.close()


class Boundary:
    """Keys of the items read in the overlap of an incremental refresh (bounded)."""

    def __init__(self, previous: t.Any, since: datetime | None) -> None:
        """Start from the keys kept by the previous refresh, valid for times >= ``since``."""
        self.previous = set(previous) if isinstance(previous, list) else set()
        self.seen: dict[str, datetime | None] = {}
        self.since = since

    def fresh(self, key: str, when: datetime | None) -> bool:
        """Whether an item (``key`` includes its version or time) is new to the archive.

        New: never seen in this run, and either later than the watermark or (in the overlap)
        not kept by the previous refresh. An item without a time is always new.
        """
        if key in self.seen:
            return False
        self.seen[key] = when
        if when is None or self.since is None:
            return True
        return key not in self.previous

    def keep(self, started: datetime) -> list[str]:
        """Return the keys the next refresh will read again (times >= started - OVERLAP)."""
        floor = started - OVERLAP
        kept = sorted(
            (when, key) for key, when in self.seen.items() if when is not None and when >= floor
        )
        return [key for _, key in kept[-MAX_BOUNDARY:]]


def in_window(when: datetime | None, since: datetime | None) -> bool:
    """Whether an item's time is at or after the watermark (no watermark or no time: yes)."""
    return since is None or when is None or when >= since
