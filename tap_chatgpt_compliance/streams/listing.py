"""Listing the log files of one event type, and planning what a run reads of them.

:class:`LogListingStream` speaks to the API's listing (URL, pages, their checks, the
freshness probe); :class:`PlannedListing` decides where a run starts (bookmark, retention,
a bookmark from a wrong clock) and which listed files it reads, each with the bookmark that
follows it. :class:`~tap_chatgpt_compliance.streams.logs.LogFilesStream` reads the files.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.client import ComplianceStream
from tap_chatgpt_compliance.errors import ComplianceAPIError, describe_http_error, server_message
from tap_chatgpt_compliance.http.clock import ClockSkewError, RunClock
from tap_chatgpt_compliance.http.pagination import LogFilesPaginator, api_json
from tap_chatgpt_compliance.logfiles.logfile import CONVERSATION_MESSAGE
from tap_chatgpt_compliance.sdk import override
from tap_chatgpt_compliance.settings import RETENTION, event_scope, parse_start_date
from tap_chatgpt_compliance.timeparse import duration, to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

PAGE_SIZE = 100
RETENTION_WARNING = timedelta(days=25)
MAX_FUTURE_FILES = 500
FRESHNESS_SLACK = timedelta(hours=1)
"""How long after the API's newest event (``max_event_time``) a listing may still lack the
file holding it: the reference's p99 latency from event to file is 30 minutes."""
"""Most ids of future-dated files kept in a partition's state (state stays small)."""


class ListingRejected(ComplianceAPIError):
    """The API answered a log listing with 422 (e.g. an event type it does not know)."""


class LogListingStream(ComplianceStream):
    """The listing of log files of one event type at a time (a partition per type)."""

    _listing_after: str = ""
    _current_event_type: str | None = None
    _page_last_item: dict[str, t.Any] | None = None
    _page_last_end_time: t.Any = None

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        """One partition (and one bookmark) per configured event type."""
        return [{"event_type": event_type} for event_type in self.settings.event_types]

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: bookmarks are the server's own end times, never the local clock."""
        return

    def scope_path(self, event_type: str) -> str:
        """Return the workspace or organization prefix for an event type."""
        if event_scope(event_type) == "organization":
            return f"/compliance/organizations/{self.settings.organization_id}"
        return f"/compliance/workspaces/{self.workspace_id}"

    @override
    def get_url(self, context: Context | None) -> str:
        """List the files of the partition's scope."""
        return f"{self.url_base}{self.scope_path(self._event_type(context))}/logs"

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Ask for one event type after the cursor (a LogCursor), a full page at a time."""
        return {
            "event_type": self._event_type(context),
            "after": next_page_token.after,
            "limit": PAGE_SIZE,
        }

    @override
    def get_new_paginator(self) -> LogFilesPaginator:
        """Page by ``last_end_time``."""
        return LogFilesPaginator(self._listing_after, ahead=self.clock.ahead)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Yield the listed files; remember the page's last item, last_end_time and Date.

        The page was checked for order first (ComplianceStream.parse_response).
        """
        items = list(super().parse_response(response))
        body = response.json()
        self._page_last_item = items[-1] if items else None
        self._page_last_end_time = body.get("last_end_time") if isinstance(body, dict) else None
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                msg = (
                    f"The {self._current_event_type} log listing holds an item without an id "
                    f"(none, or not a string: {str(item)[:200]}): stopping without advancing "
                    "state past it."
                )
                raise ComplianceAPIError(msg)
            yield item

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Name the event type in a listing's 422 (the API may not know the type)."""
        if response.status_code == 422 and urlparse(response.url).path.endswith("/logs"):
            path = urlparse(response.url).path
            msg = (
                f"HTTP 422 on {path}: the Compliance API rejected the listing of event_type "
                f"{self._current_event_type!r} ({server_message(response)}). If the API does "
                "not know this event type, remove it from event_types."
            )
            raise ListingRejected(msg)
        super().validate_response(response)

    def describe_error(self, response: requests.Response) -> str:
        """Name the event type's scope in 403 messages."""
        return describe_http_error(
            response, workspace_id=self.workspace_id, event_type=self._current_event_type
        )

    @staticmethod
    def _event_type(context: Context | None) -> str:
        return str((context or {}).get("event_type") or CONVERSATION_MESSAGE)

    @property
    def clock(self) -> RunClock:
        """Return the run's one clock (the API's Date; clock.py)."""
        return self.transport.clock

    def _listing(self, event_type: str) -> dict[str, t.Any]:
        """Return what the summary says of this event type's listing (summary.py)."""
        return self.sync_run.listings.setdefault(event_type, {"status": "not_run"})

    def _freshness(self, event_type: str) -> None:
        """Ask the API for the type's newest event (``max_event_time``) before listing.

        Its ``Date`` sets the run's clock before any time is decided (the start, the
        retention), and its answer tells "the API had nothing new" from "not read" in the
        summary. It is not required: any failure leaves the listing to fail on its own.
        """
        url = f"{self.url_base}{self.scope_path(event_type)}/max_event_time"
        session = self.requests_session
        retry = self.transport.check

        def get() -> requests.Response:
            response = session.get(url, params={"event_type": event_type}, timeout=self.timeout)
            if response.status_code != 200:
                retry(response, self.describe_error)
            return response

        try:
            response = self.transport.retrying(get, self.logger, "the freshness check")()
            body = api_json(response)
        except (RetriableAPIError, requests.RequestException, ValueError) as exc:
            self.logger.debug("No freshness for %s: %s", event_type, type(exc).__name__)
            return
        except ClockSkewError:
            raise
        except ComplianceAPIError as exc:
            self.logger.debug("No freshness for %s: %s", event_type, exc)
            return
        newest = body.get("max_event_time") if isinstance(body, dict) else None
        value = newest.get(event_type) if isinstance(newest, dict) else None
        when = to_datetime(value)
        self._listing(event_type)["api_max_event_time"] = when

    def _say_if_short_of_freshness(
        self, listing: dict[str, t.Any], event_type: str, start: datetime
    ) -> None:
        """Fail the run when the listing, read to its end, lacks the API's newest event."""
        message = short_of_freshness(listing, event_type, start, self.clock.now())
        if message is not None:
            self.sync_run.fail_at_end(self.logger, message)


class PlannedListing(LogListingStream):
    """Where a run starts, and the files it reads with the bookmark after each."""

    def _start(self, context: Context | None) -> tuple[datetime, bool]:
        """Return where to list from, and whether it is a bookmark (inclusive) or not.

        Every time here is the API's (the run's clock). A bookmark later than the API's time
        (a state written by a run that trusted a wrong clock) would make every run read
        nothing: it is set aside, loudly (the run fails), and the listing starts where a first
        run would.
        """
        state = self.get_context_state(context)
        now = self.clock.now()
        bookmark = to_datetime(state.get("replication_key_value"))
        if bookmark is not None and self.clock.ahead(bookmark):
            message = (
                f"The {self._event_type(context)} bookmark {bookmark.isoformat()} is later than "
                f"the API's time {now.isoformat(timespec='seconds')}: it was set by a run that "
                "trusted a wrong clock, and would hide every new log file. It is set aside: "
                "this run lists from the start_date (or the 30-day retention) again; files "
                "archived before are recognised downstream by id."
            )
            self.sync_run.fail_at_end(self.logger, message)
            for key in ("replication_key_value", "boundary_file_ids", "boundary_end_time"):
                state.pop(key, None)
            bookmark = None
        listing = self._listing(self._event_type(context))
        listing["started_from"] = "start_date" if bookmark is None else "bookmark"
        if bookmark is None:
            return self._first_start(context, now), False
        if bookmark < now - RETENTION:
            message = (
                f"Possible gap: the {self._event_type(context)} bookmark {bookmark.isoformat()} is "
                f"older than the API's 30-day retention, so log files between it and "
                f"{(now - RETENTION).isoformat()} may have expired unarchived. Everything still "
                "available is archived in this run; run the tap at least daily."
            )
            self.sync_run.fail_at_end(self.logger, message)
        elif bookmark < now - RETENTION_WARNING:
            self.logger.warning(
                "The %s bookmark %s is close to the 30-day retention: run the tap more often or "
                "files will expire unarchived.",
                self._event_type(context),
                bookmark.isoformat(),
            )
        return bookmark, True

    def _first_start(self, context: Context | None, now: datetime) -> datetime:
        """Return where a listing without a bookmark starts (start_date), saying so."""
        configured = parse_start_date(self.settings.start_date, now)
        origin = "start_date" if self.settings.start_date else "the 30-day retention's start"
        self.logger.warning(
            "No %s bookmark in the state: listing from %s %s. Expected on the workspace's "
            "first run; otherwise the state was lost or cleared, and log files archived "
            "before are read again (recognised downstream by id), none skipped.",
            self._event_type(context),
            origin,
            configured.isoformat(timespec="seconds"),
        )
        if configured < now - RETENTION:
            self.logger.warning(
                "start_date %s is older than the API's 30-day retention: log files before "
                "%s no longer exist at OpenAI.",
                configured.isoformat(),
                (now - RETENTION).isoformat(),
            )
        return configured

    def _planned_files(
        self,
        context: Context | None,
        event_type: str,
        start: datetime,
        state: dict,
        future: dict[str, str],
    ) -> Iterator[PlannedFile]:
        """List the files to read, in order, each with its end time and the bookmark after it.

        Runs on the main thread (the SDK's listing), a file or so ahead of the records.
        """
        run = self.sync_run
        listing = self._listing(event_type)
        boundary = set(state.get("boundary_file_ids") or [])
        floor = start  # the bookmark so far: never decreases, never later than now
        last_listed = start  # the latest end_time listed so far (the listing's order)
        for meta in self.request_records(context):
            file_id = str(meta["id"])
            listed_end = to_datetime(meta.get("end_time"))
            _reached(listing, listed_end)
            if listed_end is not None and not self.clock.ahead(listed_end):
                newest = listing.get("api_newest_end_time")
                listing["api_newest_end_time"] = max(newest or listed_end, listed_end)
            if file_id in run.seen_log_file_ids:
                self._relisted(meta, run.seen_log_file_ids[file_id], event_type)
            if file_id in boundary or file_id in future or file_id in run.seen_log_file_ids:
                run.counts.log_files_skipped += 1
                continue
            run.seen_log_file_ids[file_id] = _listed_sha256(meta)
            run.progress.listed()
            end_time, source = self._listed_end_time(meta, last_listed)
            last_listed = max(last_listed, end_time)
            capped = self.clock.ahead(end_time)
            if capped:
                listing["future_files"] = listing.get("future_files", 0) + 1
                self.logger.warning(
                    "Log file %s has end_time %s, later than the current time (the API's "
                    "%s, max_clock_skew_seconds %s): it is archived, but the %s bookmark stays "
                    "at %s.",
                    file_id,
                    end_time.isoformat(),
                    self.clock.now().isoformat(timespec="seconds"),
                    int(self.clock.max_skew.total_seconds()),
                    event_type,
                    floor.isoformat(),
                )
            else:
                floor = end_time
            yield PlannedFile(
                meta=meta,
                file_id=file_id,
                file_type=self._file_type(meta, event_type),
                scope_path=self.scope_path(event_type),
                end_time=end_time,
                source=source,
                capped=capped,
                floor=floor,
            )
        self._say_if_short_of_freshness(listing, event_type, start)

    def _relisted(self, meta: dict[str, t.Any], first: str, event_type: str) -> None:
        """Fail the run (at its end) if a file is listed again with another ``file_sha256``.

        The file was read as its first listing said (its bytes matched that SHA-256); a second
        listing of it claiming other content is the API contradicting itself about an archived
        file: never taken silently.
        """
        again = _listed_sha256(meta)
        if not first or not again or again == first:
            return
        message = (
            f"Log file {meta['id']} was listed twice by the {event_type} listing with different "
            f"file_sha256 ({first[:16]}…, then {again[:16]}…): it is archived as the bytes that "
            "match the first; the second listing was not read. Report the file id to OpenAI "
            "support."
        )
        if message not in self.sync_run.failures:
            self.sync_run.fail_at_end(self.logger, message)

    def _file_type(self, meta: dict[str, t.Any], event_type: str) -> str:
        """Return the type a listed file is archived as: the one its listing asked for.

        The listing is asked for one type at a time, and the file goes on that type's chain:
        an item saying another ``event_type`` (or one that is no type) is told, not followed.
        """
        listed = meta.get("event_type")
        if listed is not None and listed != event_type:
            self.logger.warning(
                "Log file %s was listed with event_type %s by the %s listing: archived as %s, "
                "the type asked for.",
                meta["id"],
                repr(listed[:80]) if isinstance(listed, str) else str(listed)[:80],
                event_type,
                event_type,
            )
        return event_type

    def _listed_end_time(self, meta: dict[str, t.Any], previous: datetime) -> tuple[datetime, str]:
        """Return the item's end_time and where it came from (see get_records)."""
        listed = to_datetime(meta.get("end_time"))
        if listed is not None:
            return listed, "listing"
        if meta.get("end_time") is not None:
            self.logger.warning(
                "Log file %s was listed with an unreadable end_time %r.",
                meta["id"],
                meta.get("end_time"),
            )
        if meta is self._page_last_item:
            page_end = to_datetime(self._page_last_end_time)
            if page_end is not None and page_end >= previous:
                return page_end, "page"
        return previous, "previous"

    def _remember_boundary(self, state: dict, end_time: datetime, file_id: str) -> None:
        """Keep the ids of the files at the bookmark's end_time beside the bookmark."""
        end = end_time.isoformat(timespec="microseconds")
        ids = state.get("boundary_file_ids") or []
        if state.get("boundary_end_time") != end:
            ids = []
        state["boundary_end_time"] = end
        state["boundary_file_ids"] = [*ids, file_id]


@dataclass(frozen=True)
class PlannedFile:
    """A listed file to read, and where the bookmark stands once it is archived."""

    meta: dict[str, t.Any]
    file_id: str
    file_type: str
    scope_path: str
    end_time: datetime
    source: str
    capped: bool
    floor: datetime
    expired: str = ""
    """Set for a file earlier runs stopped at that is no longer listed: why (gaps.py)."""


def _reached(listing: dict[str, t.Any], listed_end: datetime | None) -> None:
    """Keep the latest end_time listed (a future one too), or that one had none."""
    if listed_end is None:
        listing["end_time_missing"] = True
        return
    reached = listing.get("listed_until")
    listing["listed_until"] = max(reached or listed_end, listed_end)


def short_of_freshness(
    listing: dict[str, t.Any], event_type: str, start: datetime, now: datetime
) -> str | None:
    """Return why a listing read to its end and empty misses the API's newest event, if it does.

    ``max_event_time`` is the time of the newest event the API holds in its files. A listing
    that gave no file at all after ``start`` (not even one archived before), while that event
    is later than ``start`` and more than FRESHNESS_SLACK old (the p99 latency from event to
    file is 30 minutes), was cut short (an empty answer, a fault): never a run that succeeded.
    Only an empty listing is judged: a file's ``end_time`` is not promised to be at or after
    the events it holds (files sharing an end_time), so a listing that gave files is trusted.
    """
    newest = listing.get("api_max_event_time")
    if not isinstance(newest, datetime) or "listed_until" in listing:
        return None
    if listing.get("end_time_missing"):
        return None
    ago = now - newest
    if newest <= start or ago < FRESHNESS_SLACK:
        return None
    return (
        f"The {event_type} log listing gave no file after {start.isoformat()}, yet the API's "
        f"max_event_time says it holds an event of {newest.isoformat()} "
        f"({duration(ago.total_seconds())} ago): the listing was cut short (or a fault), so "
        "this run archived nothing of it. No bookmark moved: the next run lists again; report "
        "it to OpenAI support if it persists."
    )


def _listed_sha256(meta: dict[str, t.Any]) -> str:
    """Return a listed file's ``file_sha256`` as compared ("" when it has none)."""
    return str(meta.get("file_sha256") or "").lower()


def prune_future(state: dict, bookmark: datetime) -> dict[str, str]:
    """Return the future-dated files of the state still ahead of the bookmark."""
    future = state.get("future_file_ids")
    if not isinstance(future, dict):
        return {}
    kept = {}
    for file_id, end in future.items():
        end_time = to_datetime(end)
        if end_time is None or end_time >= bookmark:
            kept[str(file_id)] = str(end)
    store_future(state, kept)
    return kept


def store_future(state: dict, future: dict[str, str]) -> None:
    """Keep the future-dated files in the state (the latest MAX_FUTURE_FILES)."""
    if len(future) > MAX_FUTURE_FILES:  # keep the latest: the oldest reach the bookmark first
        latest = sorted(future.items(), key=lambda item: item[1])[-MAX_FUTURE_FILES:]
        future.clear()
        future.update(latest)
    if future:
        state["future_file_ids"] = dict(future)
    else:
        state.pop("future_file_ids", None)
