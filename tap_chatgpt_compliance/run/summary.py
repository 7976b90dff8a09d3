"""The end-of-run summary: one short block a person reads, ending with one line a program reads.

The block is at most about 30 lines however large the run: counts by stream and by attachment
status, the bookmark reached per event type and its lag behind now, what was archived as found,
the first few attachments not archived (every one is in the ``files`` records, with its
``status_reason``), what failed, and the pacing. Its last line is::

    Run summary (json): {"records": {...}, "log_files": n, "attachments": {...},
    "bookmarks": {...}, "failures": [...], "exit_code": 0}

on one line, compact JSON, for orchestrators. Nothing in it carries a secret: counts, event
types, ISO times, ids and the tap's own one-line messages (which never hold a key or a URL).
"""

from __future__ import annotations

import json
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from singer_sdk.singerlib import RecordMessage

from tap_chatgpt_compliance.run.output import LineLimitedWriter
from tap_chatgpt_compliance.timeparse import duration, to_datetime

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message
    from singer_sdk.streams import Stream

    from tap_chatgpt_compliance.http.clock import RunClock
    from tap_chatgpt_compliance.run.output import Verbatim
    from tap_chatgpt_compliance.run.sync import SyncRun

JSON_PREFIX = "Run summary (json): "
"""How the machine-readable last line of the summary starts; the rest of the line is JSON."""
FAILURES_SHOWN = 5
"""Failures given a line each in the block (the JSON line lists them all)."""
FAILURE_CHARS = 300
"""Longest failure text in the JSON line (the human lines carry it whole)."""


class CountingWriter(LineLimitedWriter):
    """The tap's writer, counting the RECORD messages written per stream (for the summary)."""

    def __init__(self) -> None:
        """Start with no records counted."""
        super().__init__()
        self.records: Counter[str] = Counter()
        self.first_record: t.Callable[[str], None] | None = None
        """Called with a stream's name before its first record of the run is written."""

    def write_record(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None = None,
        verbatim: Verbatim | None = None,
    ) -> None:
        """Write one RECORD by the fast path and count it."""
        if stream not in self.records and self.first_record is not None:
            self.first_record(stream)
        super().write_record(stream, record, version, verbatim)
        self.records[stream] += 1

    def write_message(self, message: Message) -> None:
        """Write one message; count it if it is a RECORD."""
        stream = message.stream if isinstance(message, RecordMessage) else None
        if stream is not None and stream not in self.records and self.first_record is not None:
            self.first_record(stream)
        super().write_message(message)
        if stream is not None:
            self.records[stream] += 1


def written_bookmarks(
    written: dict[str, t.Any] | None, stream: Stream, event_types: t.Iterable[str]
) -> dict[str, Bookmark]:
    """Return each event type's bookmark in ``written``, the last STATE written.

    Not the state in memory: a bookmark moves there a moment before its STATE line is
    written, and a signal in between stops the run with the earlier one persisted. Before any
    STATE is written (or with another writer), the stream's state (the run's input) is used.
    """

    def value(event_type: str) -> t.Any:
        context = {"event_type": event_type}
        if written is None:
            return stream.get_context_state(context).get("replication_key_value")
        return partition_bookmark(written, stream.name, context)

    return {event_type: Bookmark(to_datetime(value(event_type))) for event_type in event_types}


def partition_bookmark(state: dict[str, t.Any], stream: str, context: dict[str, t.Any]) -> t.Any:
    """Return the ``replication_key_value`` of a stream's partition in a whole Singer state."""
    bookmarks = state.get("bookmarks")
    stream_state = bookmarks.get(stream) if isinstance(bookmarks, dict) else None
    partitions = stream_state.get("partitions") if isinstance(stream_state, dict) else None
    for partition in partitions if isinstance(partitions, list) else []:
        if isinstance(partition, dict) and partition.get("context") == context:
            return partition.get("replication_key_value")
    return None


@dataclass
class Bookmark:
    """Where one event type's bookmark stands at the end of the run."""

    end_time: datetime | None

    def lag_seconds(self, now: datetime) -> int | None:
        """Return how far the bookmark is behind ``now``, in whole seconds (None if unset)."""
        if self.end_time is None:
            return None
        return max(0, int((now - self.end_time).total_seconds()))


@dataclass
class RunSummary:
    """What the summary says, gathered at the end of the run."""

    run: SyncRun
    records: dict[str, int]
    bookmarks: dict[str, Bookmark]
    pacing: str | None = None
    fatal: str | None = None
    """The one-line message of the error that ends the run, if one does."""
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    fatal_exit_code: int | None = None
    """The exit code of the error that ends the run, when not 1 (130/143 for a signal)."""
    clock: RunClock | None = None
    """The run's clock (clock.py): ``now`` is the API's time when a Date was seen."""

    def __post_init__(self) -> None:
        """Measure lags in the API's time, not this machine's (which may be days off)."""
        if self.clock is not None and self.clock.synced:
            self.now = self.clock.now()

    def listing(self, event_type: str, bookmark: Bookmark) -> dict[str, t.Any]:
        """Return how the type's listing went: read, nothing_new, could_not_read or not_run.

        ``nothing_new`` is the API having nothing after the bookmark (the listing was read to
        its end); ``could_not_read`` is a listing that failed. ``behind_api_seconds`` is how far
        the bookmark is behind the newest the API has (its newest listed ``end_time``, or its
        ``max_event_time``): more than a few hours means files the API has were not archived.
        """
        found = getattr(self.run, "listings", {}).get(event_type) or {}
        newest = [
            when
            for when in (found.get("api_newest_end_time"), found.get("api_max_event_time"))
            if isinstance(when, datetime)
        ]
        behind = None
        if newest:
            end = bookmark.end_time
            behind = int((max(newest) - end).total_seconds()) if end else None
            behind = None if behind is None else max(0, behind)
        return {
            "listing": found.get("status", "not_run"),
            "api_newest_end_time": _iso(found.get("api_newest_end_time")),
            "api_max_event_time": _iso(found.get("api_max_event_time")),
            "behind_api_seconds": behind,
            # "start_date": the state had no bookmark (a first run, or a state lost or cleared)
            "started_from": found.get("started_from"),
        }

    @property
    def failures(self) -> list[str]:
        """Return what failed the run (or will), the fatal error last."""
        failures = list(self.run.failures)
        if self.fatal and self.fatal not in failures:
            failures.append(self.fatal)
        return failures

    @property
    def exit_code(self) -> int:
        """Return the exit code the run ends with."""
        if self.fatal and self.fatal_exit_code:
            return self.fatal_exit_code
        return 1 if self.failures else 0

    def as_json(self) -> dict[str, t.Any]:
        """Return the machine-readable summary (the keys documented in the module)."""
        return {
            "records": dict(sorted(self.records.items())),
            "log_files": self.run.counts.log_files,
            "attachments": dict(sorted(self.run.attachment_statuses.items())),
            "bookmarks": {
                event_type: {
                    "end_time": _iso(bookmark.end_time),
                    "lag_seconds": bookmark.lag_seconds(self.now),
                    **self.listing(event_type, bookmark),
                }
                for event_type, bookmark in self.bookmarks.items()
            },
            "clock": None if self.clock is None else self.clock.as_json(),
            "failures": [_short(failure, FAILURE_CHARS) for failure in self.failures],
            "exit_code": self.exit_code,
        }

    def _outcome(self) -> str:
        return f"FAILED (exit code {self.exit_code})" if self.exit_code else "succeeded"

    def lines(self) -> list[str]:
        """Return the block: a few lines for people, then the JSON line."""
        run = self.run
        counts = run.counts
        lines = [
            f"Run summary: {counts.log_files:,} log files read "
            f"({counts.log_files_skipped:,} already archived skipped), "
            f"{counts.events:,} events kept, {counts.duplicates:,} duplicate events "
            f"dropped; {self._outcome()}.",
            "  Records: "
            + (", ".join(f"{stream} {n:,}" for stream, n in sorted(self.records.items())) or "none")
            + ".",
        ]
        statuses = run.attachment_statuses
        if statuses:
            lines.append(
                "  Attachments: "
                + ", ".join(f"{status} {n:,}" for status, n in sorted(statuses.items()))
                + "."
            )
        for event_type, bookmark in self.bookmarks.items():
            lag = bookmark.lag_seconds(self.now)
            where = (
                "not set (nothing read yet)"
                if bookmark.end_time is None
                else f"{_iso(bookmark.end_time)} ({duration(lag or 0)} behind now)"
            )
            listing = _listing_text(self.listing(event_type, bookmark))
            lines.append(f"  Bookmark {event_type}: {where}{listing}.")
        skew = None if self.clock is None else self.clock.skew_line()
        if skew:
            lines.append(f"  {skew}")
        odd = run.odd_input_line()
        if odd:
            lines.append(f"  {odd}")
        if run.problem_count:
            shown = len(run.problems)
            lines.append(
                f"  Not archived: {run.problem_count:,} attachment(s)"
                + (f", the first {shown}:" if run.problem_count > shown else ":")
                + " (each is a files record with its status and status_reason)"
            )
            lines.extend(f"    Not archived: {problem}" for problem in run.problems)
        failures = self.failures
        lines.extend(f"  Failed: {_short(failure, 1_000)}" for failure in failures[:FAILURES_SHOWN])
        if len(failures) > FAILURES_SHOWN:
            lines.append(f"  Failed: … and {len(failures) - FAILURES_SHOWN} more (see above).")
        if self.pacing:
            lines.append(f"  {self.pacing}")
        lines.append(JSON_PREFIX + json.dumps(self.as_json(), separators=(",", ":")))
        return lines


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _listing_text(listing: dict[str, t.Any]) -> str:
    """Say what the API had: nothing new (and its newest), or that it could not be read."""
    status = listing["listing"]
    newest = listing["api_newest_end_time"] or listing["api_max_event_time"]
    behind = listing["behind_api_seconds"]
    if status == "could_not_read":
        return "; the listing could NOT be read (see Failed)"
    text = "; the API had nothing new" if status == "nothing_new" else ""
    if newest:
        text += f"; the API's newest: {newest}"
    if behind:
        text += f", {duration(behind)} ahead of the bookmark"
    return text


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
