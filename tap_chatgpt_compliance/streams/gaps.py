"""Log files the tap could not get: refused for good, or gone from the listing unread.

A listed file the API refuses (an answer no retry changes, or bytes that never match its
``file_sha256``) stops the run at it, its listing item kept in the partition state
(:data:`BLOCKED_KEY`), unless the operator acknowledged it in ``unavailable_log_file_ids``:
then it gets a ``log_files`` record with ``download_status: unavailable`` and the run goes on.
A file a run stopped at that a later run no longer lists (its retention ended) gets a record
with ``download_status: expired`` and fails that run once: never a silent bookmark move.
Such records chain null bytes and counts; ``verify`` names each as a gap.
"""

from __future__ import annotations

import dataclasses
import typing as t
from dataclasses import dataclass
from functools import cached_property

from tap_chatgpt_compliance.client import commit_staged
from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.http.clock import ClockSkewError
from tap_chatgpt_compliance.http.downloads import Downloader
from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.logfile import LogFile, fetch_log_file
from tap_chatgpt_compliance.logfiles.records import EXPIRED, UNAVAILABLE, missing_manifest_record
from tap_chatgpt_compliance.streams.listing import (
    PlannedFile,
    PlannedListing,
    prune_future,
    store_future,
)
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime

    from singer_sdk.helpers.types import Context

UNAVAILABLE_SETTING = "unavailable_log_file_ids"
BLOCKED_KEY = "blocked_log_file"
"""The partition state's listing item of the file a run stopped at (refused, not acknowledged):
the next run tells "still listed" from "gone from the listing" (a named gap)."""


@dataclass(frozen=True)
class MissingFile:
    """A listed file whose bytes the tap could not get: ``unavailable`` or ``expired``."""

    status: str
    error: str


class LogFileBlocked(ComplianceAPIError):
    """A listed file the API refused, not acknowledged as unavailable: the run stops at it."""

    def __init__(self, message: str, plan: PlannedFile) -> None:
        """Keep the file's plan beside the message (its listing item goes to the state)."""
        super().__init__(message)
        self.plan = plan


@dataclass(frozen=True)
class Blocker:
    """The file an earlier run stopped at, as the state keeps it."""

    file_id: str
    end_time: datetime
    meta: dict[str, t.Any]

    @classmethod
    def from_state(cls, state: t.Mapping[str, t.Any]) -> Blocker | None:
        """Return the blocker the state keeps, if it keeps a readable one."""
        kept = state.get(BLOCKED_KEY)
        if not isinstance(kept, dict):
            return None
        meta, end_time = kept.get("listing_item"), to_datetime(kept.get("end_time"))
        file_id = meta.get("id") if isinstance(meta, dict) else None
        if not isinstance(file_id, str) or not file_id or end_time is None:
            return None
        return cls(file_id, end_time, t.cast("dict[str, t.Any]", meta))

    def keep(self, state: dict[str, t.Any]) -> None:
        """Keep this blocker in the partition state."""
        state[BLOCKED_KEY] = {
            "listing_item": self.meta,
            "end_time": self.end_time.isoformat(timespec="microseconds"),
        }


def acknowledge_hint(file_id: str) -> str:
    """Return how an operator acknowledges a file the API refuses for good."""
    return (
        "Nothing of this event type after it is archived until it is served. If OpenAI "
        f"confirms it cannot be served, add {file_id} to the {UNAVAILABLE_SETTING} setting "
        f"(TAP_CHATGPT_COMPLIANCE_{UNAVAILABLE_SETTING.upper()}): it is then recorded as "
        "unavailable, the files after it are archived, and verify names it as a gap."
    )


def with_expired(
    planned: Iterable[PlannedFile],
    blocker: Blocker | None,
    expired: t.Callable[[Blocker], PlannedFile],
) -> Iterator[PlannedFile]:
    """Yield the planned files, with the blocker's ``expired`` plan where it was listed.

    The blocker is gone when the listing gives a file ending after it, or ends, without it;
    the bookmark of every plan after it is at least its end_time.
    """
    floor = None
    for plan in planned:
        if blocker is not None and plan.file_id == blocker.file_id:
            blocker = None  # still listed: read (or refused) as any other file
        elif blocker is not None and plan.end_time > blocker.end_time:
            floor = blocker.end_time
            yield expired(blocker)
            blocker = None
        if floor is not None and plan.floor < floor:
            plan = dataclasses.replace(plan, floor=floor)
        yield plan
    if blocker is not None:
        yield expired(blocker)


class GapListing(PlannedListing):
    """The listing's files read, or recorded as gaps (see the module's docstring)."""

    _bookmark: datetime | None = None

    @cached_property
    def downloader(self) -> Downloader:
        """Return the run's transport with this stream's error messages and logger."""
        return Downloader(self.transport, self.describe_error, self.logger, f"stream '{self.name}'")

    def _plan(
        self, context: Context | None, event_type: str, start: datetime, state: dict
    ) -> tuple[Iterator[PlannedFile], dict[str, str]]:
        """Return the files to read (and gaps to record), and the future-dated files kept."""
        future = prune_future(state, start)
        blocker = Blocker.from_state(state)
        if blocker is not None and blocker.end_time < start:
            state.pop(BLOCKED_KEY, None)  # passed already
            blocker = None
        planned = self._planned_files(context, event_type, start, state, future)
        return with_expired(planned, blocker, lambda b: self._expired(b, event_type)), future

    def _expired(self, blocker: Blocker, event_type: str) -> PlannedFile:
        """Plan the record of a file an earlier run stopped at that is no longer listed.

        Its events are lost: the run fails (loudly, once), its ``log_files`` record says
        ``expired`` (verify names it as a gap), and the bookmark passes it.
        """
        message = (
            f"Log file {blocker.file_id} ({event_type}, end_time "
            f"{blocker.end_time.isoformat()}), which earlier runs stopped at because the API "
            "refused it, is no longer listed (its 30-day retention ended, or the API removed "
            "it): its events are lost. It is recorded in log_files with download_status "
            "expired (verify names it as a gap) and the bookmark passes it."
        )
        self.logger.error("%s", message)
        self.sync_run.failures.append(message)
        return PlannedFile(
            meta=blocker.meta,
            file_id=blocker.file_id,
            file_type=event_type,
            scope_path=self.scope_path(event_type),
            end_time=blocker.end_time,
            source="listing",
            capped=False,
            floor=blocker.end_time,
            expired="no longer listed: its retention ended, or the API removed it",
        )

    def _fetch(self, plan: PlannedFile) -> LogFile | MissingFile:
        """Download and verify a file, or say why it is a gap (on the read-ahead thread).

        A refusal stops the run (:class:`LogFileBlocked`) unless the file is acknowledged in
        ``unavailable_log_file_ids``.
        """
        if plan.expired:
            return MissingFile(EXPIRED, plan.expired)
        acknowledged = plan.file_id in self.settings.unavailable_log_file_ids
        try:
            log_file = fetch_log_file(self.downloader, plan.scope_path, plan.meta, plan.file_type)
        except ClockSkewError:
            raise
        except ComplianceAPIError as exc:
            if not acknowledged:
                raise LogFileBlocked(f"{exc} {acknowledge_hint(plan.file_id)}", plan) from exc
            self.logger.warning(
                "Log file %s (%s, end_time %s) is refused and acknowledged in %s: recorded in "
                "log_files as unavailable, its events are not archived (%s).",
                plan.file_id,
                plan.file_type,
                plan.end_time.isoformat(),
                UNAVAILABLE_SETTING,
                exc,
            )
            return MissingFile(UNAVAILABLE, str(exc))
        if acknowledged:
            self.logger.warning(
                "Log file %s is listed in %s but was served and verified: archived normally; "
                "remove it from the setting.",
                plan.file_id,
                UNAVAILABLE_SETTING,
            )
        return log_file

    def _stopping(
        self, files: Iterable[tuple[PlannedFile, LogFile | MissingFile]], state: dict
    ) -> Iterator[tuple[PlannedFile, LogFile | MissingFile]]:
        """Yield ``files``; at a file that stops the run, keep it in the state (a blocker)."""
        try:
            yield from files
        except LogFileBlocked as exc:
            Blocker(exc.plan.file_id, exc.plan.end_time, exc.plan.meta).keep(state)
            self.state_changed()
            self.write_state()
            raise

    def _missing(
        self, plan: PlannedFile, missing: MissingFile, state: dict, future: dict[str, str]
    ) -> Iterator[dict[str, t.Any]]:
        """Write the record of a file the tap could not get, then move the state past it."""
        record = missing_manifest_record(
            plan.meta,
            plan.file_type,
            plan.end_time,
            plan.source,
            plan.capped,
            missing.status,
            missing.error,
            self.workspace_id,
            self.settings.organization_id,
        )
        self._bookmark = plan.floor
        chain.link(record, state)
        try:
            yield record  # no child has a segment of it: no other record
        finally:
            self._bookmark = None
        self._advance(plan, record, state, future)
        self.sync_run.counts.log_files_unavailable += 1
        self.write_state()
        self.sync_run.progress.file_done(plan.floor)

    def _advance(
        self, plan: PlannedFile, record: dict[str, t.Any], state: dict, future: dict[str, str]
    ) -> None:
        """Move the state past a file whose records are all written (chain, bookmark)."""
        chain.advance(state, record)
        commit_staged(self.tap.streams.values())  # the file's attachments: chain, retry list
        blocker = Blocker.from_state(state)
        if blocker is None or blocker.file_id == plan.file_id:
            state.pop(BLOCKED_KEY, None)
        if plan.capped:
            future[plan.file_id] = plan.end_time.isoformat(timespec="microseconds")
            store_future(state, future)
            self.sync_run.counts.future_log_files += 1
        else:
            self._remember_boundary(state, plan.floor, plan.file_id)
        self.state_changed()
