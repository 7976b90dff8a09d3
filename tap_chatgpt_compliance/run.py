"""What one sync run remembers: the log file being processed, what was seen, the summary."""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

if t.TYPE_CHECKING:
    from tap_chatgpt_compliance.logfiles import LogFile


@dataclass
class ConversationSeen:
    """What the run has seen of one conversation so far."""

    title: str | None = None
    title_at: str | None = None
    first_message_at: str | None = None
    last_message_at: str | None = None
    message_count: int = 0
    created_at: str | None = None
    """The conversation's created_at as first seen in the run: a later event without one (or
    with a malformed one) does not blank it."""

    def add(
        self,
        title: str | None,
        message_at: str | None,
        event_at: str | None,
        created_at: str | None = None,
    ) -> None:
        """Fold in one message; message times widen the range.

        The non-empty title of the latest event wins, by event time: a late event never brings
        back an old title.
        """
        if created_at and self.created_at is None:
            self.created_at = created_at
        if title and (self.title_at is None or (event_at or "") >= self.title_at):
            self.title = title
            self.title_at = event_at or self.title_at
        self.message_count += 1
        if message_at:
            if self.first_message_at is None or message_at < self.first_message_at:
                self.first_message_at = message_at
            if self.last_message_at is None or message_at > self.last_message_at:
                self.last_message_at = message_at


@dataclass
class SyncRun:
    """Run-scoped memory shared by the streams (never written to state)."""

    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    seen_events: dict[str, t.Any] = field(default_factory=dict)
    """Event key → fingerprint of what was kept under it (logfiles.parse_lines): the dedupe
    window is the run."""
    seen_log_file_ids: set[str] = field(default_factory=set)
    handled_attachment_ids: set[str] = field(default_factory=set)
    conversations: dict[str, ConversationSeen] = field(default_factory=dict)
    open_files: dict[str, LogFile] = field(default_factory=dict)
    open_spools: dict[str, t.IO[bytes]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Errors that let the run go on but must fail it at the end."""

    def note_problem(self, line: str) -> None:
        """Keep a line for the end-of-run summary (something that was not archived)."""
        self.problems.append(line)

    def odd_input_line(self) -> str | None:
        """Return the summary of input archived as found but not as expected, if any."""
        counts = self.counts
        parts = [
            (
                counts["unparsed_lines"],
                "lines that are not JSON objects or not UTF-8 (kept byte "
                "for byte in unparsed_lines)",
            ),
            (
                counts["events_without_id"],
                "events without event_id (keyed sha256:<content hash>, event_id_derived)",
            ),
            (counts["id_clashes"], "events sharing an event_id with a different event (both kept)"),
            (
                counts["messages_without_id"],
                "messages without message.id (keyed by their event's key)",
            ),
            (
                counts["foreign_events"],
                "events of another type than their log file (routed by their own type)",
            ),
            (
                counts["future_log_files"],
                "log files with an end_time in the future (archived; "
                "the bookmark did not move past the current time)",
            ),
        ]
        found = [f"{count} {what}" for count, what in parts if count]
        return "Archived as found: " + "; ".join(found) + "." if found else None

    def summary_lines(self) -> list[str]:
        """Return the end-of-run summary, one fact per line."""
        counts = self.counts
        lines = [
            "Run summary: "
            f"{counts['log_files']} log files processed "
            f"({counts['log_files_skipped']} already archived skipped), "
            f"{counts['events']} events kept, {counts['duplicates']} duplicate events dropped, "
            f"{counts['messages']} messages, {counts['attachments_archived']} attachments "
            f"archived, {counts['attachments_not_archived']} attachments not archived.",
        ]
        odd = self.odd_input_line()
        if odd:
            lines.append(odd)
        lines.extend(f"Not archived: {problem}" for problem in self.problems)
        return lines
