"""What one sync run remembers: the log file being processed, what was seen, the summary."""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tap_chatgpt_compliance.run.progress import Progress
from tap_chatgpt_compliance.run.store import HashedKeys, RunFile, SpillMap

if t.TYPE_CHECKING:
    import logging

EXAMPLES = 5
"""Attachments not archived named in the log and the summary (all are in the files records)."""
EVENTS_IN_MEMORY = 5_000
"""Event keys kept in memory before the run's dedupe memory moves to its temporary file."""
CONVERSATIONS_IN_MEMORY = 1_000
ATTACHMENTS_IN_MEMORY = 10_000


@dataclass(slots=True)
class ConversationSeen:
    """What the run has seen of one conversation so far: facts of its events only.

    Counts and message time ranges are not kept: they would describe one run, and be wrong in a
    target that upserts by id. The dbt ``conversations`` model computes them from every message.
    """

    title: str | None = None
    title_at: str | None = None
    created_at: str | None = None
    """The conversation's created_at as first seen in the run: a later event without one (or
    with a malformed one) does not blank it."""

    def add(self, title: str | None, event_at: str | None, created_at: str | None = None) -> None:
        """Fold in one message event.

        The non-empty title of the latest event wins, by event time: a late event never brings
        back an old title.
        """
        if created_at and self.created_at is None:
            self.created_at = created_at
        if title and (self.title_at is None or (event_at or "") >= self.title_at):
            self.title = title
            self.title_at = event_at or self.title_at


@dataclass(slots=True)
class RunCounts:
    """What one run counted, by name (the summary reports them; never written to state)."""

    log_files: int = 0
    """Log files read and archived."""
    log_files_skipped: int = 0
    """Listed files already archived (boundary, future-dated or seen earlier in the run)."""
    future_log_files: int = 0
    """Files listed with an end_time later than the API's time (archived, bookmark held)."""
    log_files_unavailable: int = 0
    """Files recorded without their bytes: acknowledged unavailable, or expired unread."""
    events: int = 0
    """Events kept."""
    duplicates: int = 0
    """Events dropped as true duplicates (same key, type and bytes)."""
    unparsed_lines: int = 0
    events_without_id: int = 0
    id_clashes: int = 0
    foreign_events: int = 0
    """Events of another type than their log file."""
    messages: int = 0
    messages_without_id: int = 0
    attachments_archived: int = 0
    attachments_not_archived: int = 0
    attachments_pending_retry: int = 0
    """Entries of the retry list after the latest change."""
    stored_objects_repaired: int = 0
    """Damaged objects of the content store rewritten and verified."""
    repeated_items: int = 0
    """Items of a REST list served again by a later page of the same list (written once)."""
    items_without_id: int = 0
    """Items of the REST lists (users, GPTs, projects, canvases, …) without a string id (keyed
    by their content)."""
    unexpected_shapes: int = 0
    """Detail answers that are not JSON objects (kept as served in raw_item, item null)."""


def _encode_conversation(seen: ConversationSeen) -> list[t.Any]:
    return [seen.title, seen.title_at, seen.created_at]


def _decode_conversation(value: list[t.Any]) -> ConversationSeen:
    return ConversationSeen(*value)


@dataclass
class SyncRun:
    """Run-scoped memory shared by the streams (never written to state).

    What grows with the workspace (event keys, conversations, attachment ids) lives in
    :class:`~tap_chatgpt_compliance.run.store.SpillMap` maps: in memory while small, then in a
    temporary SQLite file deleted by :meth:`close`, so that memory stays flat however many
    messages a run reads, and the dedupe window stays the whole run.
    """

    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    run_file: RunFile = field(default_factory=RunFile)
    seen_events: HashedKeys = field(init=False)
    """Event key → fingerprint of what was kept under it (logfiles.LineParser.finish): the
    dedupe window is the run."""
    seen_log_file_ids: dict[str, str] = field(default_factory=dict)
    """Log file id → the ``file_sha256`` it was first listed with in this run ("" if none)."""
    handled_attachment_ids: SpillMap[str, int] = field(init=False)
    """Attachments already planned in this run (downloaded and recorded once per run)."""
    conversations: SpillMap[str, ConversationSeen] = field(init=False)
    open_spools: dict[str, t.IO[bytes]] = field(default_factory=dict)
    """Attachment id → its bytes while its parts are written: issue 21's knowledge streams
    only (the files stream holds its own, FilesStream.open_spool); to be replaced likewise."""
    counts: RunCounts = field(default_factory=RunCounts)
    problems: list[str] = field(default_factory=list)
    """The first few attachments not archived (EXAMPLES), for the summary."""
    problem_count: int = 0
    attachment_statuses: Counter[str] = field(default_factory=Counter)
    """Attachments settled in this run, by final status (archived, expired, …)."""
    failures: list[str] = field(default_factory=list)
    """Errors that let the run go on but must fail it at the end."""
    listings: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    """Event type → how its listing went: status (read, nothing_new, could_not_read), the
    API's newest end_time and max_event_time (streams/logs.py; the summary reports them)."""
    progress: Progress = field(default_factory=Progress)

    def fail_at_end(self, logger: logging.Logger, message: str) -> None:
        """Record an error that lets the run go on but fails it at its end.

        Said now at WARNING; the run's last line repeats it at ERROR (one ERROR line a run).
        """
        logger.warning("%s The run goes on, and fails at its end.", message)
        self.failures.append(message)

    def __post_init__(self) -> None:
        """Open the run's maps (nothing is written to disk until one of them is large)."""
        self.seen_events = HashedKeys(SpillMap("events", self.run_file, EVENTS_IN_MEMORY))
        self.handled_attachment_ids = SpillMap("attachments", self.run_file, ATTACHMENTS_IN_MEMORY)
        self.conversations = SpillMap(
            "conversations",
            self.run_file,
            CONVERSATIONS_IN_MEMORY,
            encode=_encode_conversation,
            decode=_decode_conversation,
        )

    def close(self) -> None:
        """Delete the run's temporary file, if one was needed."""
        self.run_file.close()

    def note_problem(self, line: str) -> bool:
        """Count an attachment not archived; keep the first few lines for the summary.

        Return whether the line is one of those few (the caller logs only those at WARNING:
        a run with thousands of expired attachments must not print thousands of lines).
        """
        self.problem_count += 1
        if len(self.problems) < EXAMPLES:
            self.problems.append(line)
            return True
        return False

    def odd_input_line(self) -> str | None:
        """Return the summary of input archived as found but not as expected, if any."""
        counts = self.counts
        parts = [
            (
                counts.unparsed_lines,
                "lines that are not JSON objects or not UTF-8 (kept byte "
                "for byte in unparsed_lines)",
            ),
            (
                counts.events_without_id,
                "events without event_id (keyed sha256:<content hash>, event_id_derived)",
            ),
            (counts.id_clashes, "events sharing an event_id with a different event (both kept)"),
            (
                counts.messages_without_id,
                "messages without message.id (keyed by their event's key)",
            ),
            (
                counts.foreign_events,
                "events of another type than their log file (routed by their own type)",
            ),
            (
                counts.repeated_items,
                "directory item(s) served again by a later page of their list (written once)",
            ),
            (
                counts.items_without_id,
                "directory item(s) without a string id (keyed sha256:<hash of raw_item>)",
            ),
            (
                counts.unexpected_shapes,
                "answer(s) that are not JSON objects where one was expected (kept in raw_item, "
                "item null)",
            ),
            (
                counts.future_log_files,
                "log files with an end_time in the future (archived; "
                "the bookmark did not move past the current time)",
            ),
            (
                counts.log_files_unavailable,
                "log file(s) recorded without their events (download_status unavailable or "
                "expired in log_files: verify names them as gaps)",
            ),
        ]
        found = [f"{count} {what}" for count, what in parts if count]
        return "Archived as found: " + "; ".join(found) + "." if found else None
