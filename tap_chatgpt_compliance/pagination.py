"""Paginators for the two cursor styles of the Compliance API."""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import parse_qs, urlparse

from singer_sdk.pagination import BaseAPIPaginator

from tap_chatgpt_compliance.errors import NOTHING_SKIPPED, ListingError
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    import requests

LOGGER = logging.getLogger(__name__)


class LogCursor(t.NamedTuple):
    """The ``after`` value of a log listing page, and how often it was asked for in a row."""

    after: str
    repeat: int = 0


class LogFilesPaginator(BaseAPIPaginator[LogCursor]):
    """Pages a log file listing by ``after=last_end_time`` while ``has_more`` is true.

    The API sometimes answers an empty page with ``has_more`` and no ``last_end_time``, or a
    ``last_end_time`` that does not advance: the same ``after`` is asked again a few times,
    then the run fails (:class:`ListingError`), so that a scheduler alerts instead of a run that
    exits 0 having archived nothing. The bookmark only covers files fully processed, so the
    next run resumes there and nothing is skipped.
    """

    def __init__(self, start_after: str, max_repeats: int = 3) -> None:
        """Start listing after ``start_after`` (ISO 8601 with time zone)."""
        super().__init__(LogCursor(start_after))
        self._max_repeats = max_repeats

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Keep paging over an empty page that says more files exist."""
        return bool(response.json().get("has_more"))

    def has_more(self, response: requests.Response) -> bool:
        """Trust ``has_more``, never the page size."""
        return bool(response.json().get("has_more"))

    def get_next(self, response: requests.Response) -> LogCursor | None:
        """Return the next cursor, or None to stop."""
        last_end_time = response.json().get("last_end_time")
        current = self.current_value
        if last_end_time and last_end_time != current.after:
            return LogCursor(last_end_time)
        if current.repeat >= self._max_repeats:
            event_type = _query_value(response, "event_type") or "log"
            msg = (
                f"The {event_type} listing kept answering has_more=true without advancing past "
                f"{current.after} ({current.repeat + 1} pages in a row): the API's listing is "
                f"stuck. {NOTHING_SKIPPED} Rerun later; if it persists, report it to OpenAI "
                "support."
            )
            raise ListingError(msg)
        return LogCursor(current.after, current.repeat + 1)


class LastIdPaginator(BaseAPIPaginator["str | None"]):
    """Pages Gen-1 lists by ``after=last_id`` while ``has_more`` is true (short pages included)."""

    def __init__(self) -> None:
        """Start at the first page."""
        super().__init__(None)

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Keep paging over an empty page while ``has_more`` is true."""
        return bool(response.json().get("has_more"))

    def has_more(self, response: requests.Response) -> bool:
        """Trust ``has_more``, never the page size."""
        body = response.json()
        return bool(body.get("has_more")) and bool(body.get("last_id"))

    def get_next(self, response: requests.Response) -> str | None:
        """Return ``last_id`` for the ``after`` parameter; fail if it does not advance."""
        last_id = t.cast("str | None", response.json().get("last_id"))
        if last_id is not None and last_id == self.current_value:
            path = response.request.path_url.split("?")[0] if response.request else "a list"
            msg = (
                f"The list {path} kept answering has_more=true with the same last_id "
                f"{last_id}: the API's listing is stuck. Rerun later; if it persists, report "
                "it to OpenAI support."
            )
            raise ListingError(msg)
        return last_id


def check_listing_order(
    items: list[dict[str, t.Any]], *, key: str, after: str | None, what: str
) -> None:
    """Fail unless the page ascends by ``key`` and starts no earlier than ``after``.

    Called before any item of the page is used: a bookmark that moved with an out-of-order
    item would skip the files listed after it. Items without a parseable ``key`` are left to
    the caller.
    """
    previous = to_datetime(after)
    previous_id = f"the cursor after={after}"
    for item in items:
        value = to_datetime(item.get(key))
        if value is None:
            continue
        if previous is not None and value < previous:
            msg = (
                f"The {what} is out of order: file {item.get('id')} ({key} {item.get(key)}) "
                f"comes after {previous_id}. No file of this page was archived. "
                f"{NOTHING_SKIPPED} Rerun later; if it persists, report it to OpenAI support."
            )
            raise ListingError(msg)
        previous = value
        previous_id = f"file {item.get('id')} ({key} {item.get(key)})"


def _query_value(response: requests.Response, name: str) -> str | None:
    url = str(getattr(response.request, "url", "") or "")
    values = parse_qs(urlparse(url).query).get(name)
    return values[0] if values else None
