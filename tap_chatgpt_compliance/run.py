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

    def add(self, title: str | None, message_at: str | None, event_at: str | None) -> None:
        """Fold in one message; message times widen the range.

        The non-empty title of the latest event wins, by event time: a late event never brings
        back an old title.
        """
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
    seen_event_ids: set[str] = field(default_factory=set)
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
        """Keep a line for the end-of-run summary."""
        self.problems.append(line)

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
        lines.extend(f"Not archived: {problem}" for problem in self.problems)
        return lines
