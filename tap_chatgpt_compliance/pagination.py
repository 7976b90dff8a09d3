"""Paginators for the two cursor styles of the Compliance API."""

from __future__ import annotations

import logging
import typing as t

from singer_sdk.pagination import BaseAPIPaginator

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
    then the listing stops for this run (the bookmark only covers files fully processed, so the
    next run resumes there and nothing is skipped).
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
            LOGGER.warning(
                "The log listing kept answering has_more without advancing past %s; "
                "stopping here for this run (the next run resumes from the bookmark).",
                current.after,
            )
            return None
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
        """Return ``last_id`` for the ``after`` parameter."""
        return t.cast("str | None", response.json().get("last_id"))
