"""Attachments not archived for a reason that can clear, kept in the state for later runs.

The list lives in the ``files`` stream's bookmark (``bookmarks.files.pending_attachments``), so it
travels in every STATE message. An entry leaves it when a later run archives the attachment, when
the API answers that it is gone (404, 410), or when its retry window ends: ``RETRY_WINDOW`` after
the time of the message that referenced it (chat uploads expire about 24 hours after upload, so
nothing is left to download by then), measured by the run's clock (the API's time, clock.py):
never by this machine's clock, which may be days off. The list never holds more than
``MAX_PENDING`` entries.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone

from tap_chatgpt_compliance.attachments.archive import AttachmentRef
from tap_chatgpt_compliance.http.clock import RunClock
from tap_chatgpt_compliance.timeparse import to_datetime

LOGGER = logging.getLogger(__name__)

STATE_KEY = "pending_attachments"
RETRY_WINDOW = timedelta(hours=72)
"""How long after its message a failed attachment is retried (chat uploads last ~24 to 48 h)."""
MAX_PENDING = 500
"""At most this many entries (about 400 bytes each) are kept; the oldest are given up first."""
REASON_LIMIT = 200
RETRYABLE = frozenset({"forbidden", "failed"})
"""Statuses of an attempt that failed for a reason that can clear (403, 5xx, network, storage)."""


_REFERENCE = tuple(field.name for field in fields(AttachmentRef) if field.name != "file_id")
"""Where a message referenced the attachment: kept by an entry as :class:`AttachmentRef` has it
(``event_time`` normalised to ISO when the entry is made)."""


@dataclass
class Pending:
    """One attachment waiting to be retried (all values are JSON scalars)."""

    id: str
    user_id: str | None
    conversation_id: str | None
    message_id: str | None
    event_id: str | None
    name: str | None
    mime_type: str | None
    log_file_id: str | None
    event_time: str
    """Time of the message that referenced it (the log's event timestamp): starts the window."""
    first_failed_at: str
    attempts: int
    status: str
    reason: str

    @property
    def retry_until(self) -> datetime:
        """Return the end of the retry window (both times are the API's)."""
        start = to_datetime(self.event_time) or to_datetime(self.first_failed_at)
        if start is None:  # not in practice: from_state fills first_failed_at
            return datetime.max.replace(tzinfo=timezone.utc)
        return start + RETRY_WINDOW

    def ref(self) -> AttachmentRef:
        """Return where the attachment was referenced, to download it again."""
        return AttachmentRef(self.id, **{name: getattr(self, name) for name in _REFERENCE})

    @classmethod
    def from_state(cls, value: t.Any, now: datetime | None = None) -> Pending | None:
        """Read an entry written by an earlier run (``now``: the API's); None if not one."""
        if not isinstance(value, dict) or not value.get("id"):
            return None
        names = {f.name for f in fields(cls)}
        data: dict[str, t.Any] = {name: value.get(name) for name in names}
        data["id"] = str(data["id"])
        data["attempts"] = data["attempts"] if isinstance(data["attempts"], int) else 1
        data["status"] = str(data["status"] or "failed")
        data["reason"] = str(data["reason"] or "")
        stamp = (now or RunClock().now()).isoformat(timespec="seconds")
        data["first_failed_at"] = str(data["first_failed_at"] or stamp)
        data["event_time"] = str(data["event_time"] or data["first_failed_at"])
        return cls(**data)


class PendingAttachments:
    """The retry list of a run: read from the state once, written back by :meth:`save`.

    Changes stay in memory until ``save``: the caller saves only after the RECORD that explains
    a change was written, because any stream's STATE message carries the whole state.
    """

    def __init__(self, state: dict[str, t.Any], clock: RunClock | None = None) -> None:
        """Load the entries kept in ``state`` (the files stream's bookmark)."""
        self._bookmark = state
        self._entries: dict[str, Pending] = {}
        self.clock = clock or RunClock()
        """The run's clock: the retry window is measured in the API's time."""
        raw = state.get(STATE_KEY)
        for value in raw if isinstance(raw, list) else []:
            entry = Pending.from_state(value, self.clock.now())
            if entry is None:
                LOGGER.warning("Ignoring a malformed entry of the attachment retry list: %r", value)
                continue
            self._entries[entry.id] = entry

    def __len__(self) -> int:
        """Return the number of entries."""
        return len(self._entries)

    def get(self, file_id: str) -> Pending | None:
        """Return the entry of an attachment, if it is pending."""
        return self._entries.get(file_id)

    def entries(self) -> list[Pending]:
        """Return the entries, oldest message first."""
        return sorted(self._entries.values(), key=_age_key)

    def record_failure(
        self,
        ref: AttachmentRef,
        log_file_id: str | None,
        status: str,
        reason: str,
        now: datetime,
    ) -> Pending:
        """Add an attachment whose attempt failed, or count one more attempt of a pending one."""
        entry = self._entries.get(ref.file_id)
        reason = reason[:REASON_LIMIT]
        if entry is None:
            stamp = now.isoformat(timespec="seconds")
            reference = {name: getattr(ref, name) for name in _REFERENCE}
            reference["event_time"] = _iso(ref.event_time) or stamp
            entry = Pending(
                id=ref.file_id,
                **reference,
                log_file_id=log_file_id,
                first_failed_at=stamp,
                attempts=0,
                status=status,
                reason=reason,
            )
            self._entries[ref.file_id] = entry
        else:  # the earliest message that referenced it starts the window
            earlier = _iso(ref.event_time)
            if earlier and _age_key_value(earlier) < _age_key_value(entry.event_time):
                entry.event_time = earlier
        entry.attempts += 1
        entry.status, entry.reason = status, reason
        return entry

    def remove(self, file_id: str) -> Pending | None:
        """Drop an entry (archived, gone at the API, or given up)."""
        return self._entries.pop(file_id, None)

    def overflow(self) -> list[Pending]:
        """Remove and return the oldest entries beyond MAX_PENDING."""
        extra = len(self._entries) - MAX_PENDING
        if extra <= 0:
            return []
        dropped = self.entries()[:extra]
        for entry in dropped:
            del self._entries[entry.id]
        return dropped

    def save(self) -> None:
        """Write the entries back into the state (the key is removed when none is left)."""
        if self._entries:
            self._bookmark[STATE_KEY] = [asdict(entry) for entry in self.entries()]
        else:
            self._bookmark.pop(STATE_KEY, None)


def _iso(value: t.Any) -> str | None:
    parsed = to_datetime(value)
    return None if parsed is None else parsed.isoformat(timespec="microseconds")


def _age_key_value(value: str) -> datetime:
    return to_datetime(value) or datetime.max.replace(tzinfo=timezone.utc)


def _age_key(entry: Pending) -> tuple[datetime, str]:
    return _age_key_value(entry.event_time), entry.id
