"""Paginators for the two cursor styles of the Compliance API."""

from __future__ import annotations

import json
import logging
import typing as t
from datetime import datetime
from urllib.parse import parse_qs, urlparse

from singer_sdk.pagination import BaseAPIPaginator

from tap_chatgpt_compliance.errors import NOTHING_SKIPPED, ComplianceAPIError, ListingError
from tap_chatgpt_compliance.jsondepth import MAX_DEPTH, NESTED_TOO_DEEPLY, nested_too_deeply
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    import requests

LOGGER = logging.getLogger(__name__)


LOG_PAGE_FIELDS = ("data", "has_more", "last_end_time")
"""Every log listing page: ``{data: [...], has_more: bool, last_end_time: ISO 8601 | null}``."""
LIST_PAGE_FIELDS = ("data", "has_more", "last_id")
"""Every Gen-1 list page: ``{object: "list", data: [...], has_more: bool, last_id}``."""


class PageShapeError(ComplianceAPIError):
    """A listing page lacks a field the reference requires: never read as an empty page."""


PAGE_DEPTH = MAX_DEPTH + 2
"""Deepest answer parsed: an item of :data:`MAX_DEPTH` levels in a page's ``data`` list."""


class NestedTooDeeply(ValueError):
    """An answer of the API nested deeper than :data:`PAGE_DEPTH`: not parsed."""


def api_json(response: requests.Response) -> t.Any:
    """Return an answer's JSON; :class:`NestedTooDeeply` (a ValueError) if it nests too deeply.

    The depth is told before the parse: Python's decoder ends a deep text in RecursionError
    (100,000 levels: at once), and an item it could parse (a few hundred levels) could be
    neither written by orjson nor re-derived by ``verify`` (see :data:`MAX_DEPTH`).
    """
    if nested_too_deeply(response.content, PAGE_DEPTH):
        raise NestedTooDeeply(NESTED_TOO_DEEPLY)
    try:
        return response.json()
    except RecursionError as exc:  # below the limit, but on a deep stack: the same answer
        raise NestedTooDeeply(NESTED_TOO_DEEPLY) from exc


def several_documents(response: requests.Response) -> bool:
    """Whether a JSON answer holds more than one JSON document, newline-separated.

    Reference §5 #12: listing answers were seen as "newline-separated multi-document" JSON
    (XSIAM, a passing fault). A raw line break can only stand between JSON tokens, so a
    compact one-line answer (every answer of the API seen) is not parsed a second time.
    """
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if response.status_code != 200 or kind != "application/json":
        return False
    body = response.content.strip()
    if b"\n" not in body or nested_too_deeply(body, PAGE_DEPTH):
        return False
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        return exc.msg == "Extra data"
    except (ValueError, RecursionError):
        return False
    return False


def page_body(response: requests.Response, path: str, cursor: str) -> t.Any:
    """Return a listing page's JSON, or fail naming what came instead (never its body).

    A proxy, gateway or captive portal answering for the API with its own page (HTTP 200,
    ``text/html``) is not a connection failure: the line says what answered. A page holding an
    item nested deeper than :data:`MAX_DEPTH` is refused whole, loudly: its items cannot be
    told apart without parsing it.
    """
    try:
        return api_json(response)
    except NestedTooDeeply as exc:
        msg = (
            f"The answer of {path} ({cursor}) is JSON {exc} ({len(response.content):,} bytes): "
            "its items cannot be archived exactly, so the page is not read. "
            f"{NOTHING_SKIPPED} Report it to OpenAI support."
        )
        raise PageShapeError(msg) from None
    except ValueError as exc:  # requests' JSONDecodeError, UnicodeDecodeError
        kind = (response.headers.get("Content-Type") or "no Content-Type").split(";")[0].strip()
        if several_documents(response):
            msg = (
                f"The answer of {path} ({cursor}) is HTTP {response.status_code} with several "
                f"JSON documents one after another ({len(response.content)} bytes), not one "
                f"listing page, on every try. {NOTHING_SKIPPED} Report it to OpenAI support."
            )
            raise PageShapeError(msg) from exc
        msg = (
            f"The answer of {path} ({cursor}) is HTTP {response.status_code} with a body that "
            f"is not JSON ({kind}, {len(response.content)} bytes): not a listing page (a proxy, "
            f"gateway or captive portal answering for the API? check api_url and the proxy "
            f"settings). {NOTHING_SKIPPED}"
        )
        raise PageShapeError(msg) from exc


def check_page_shape(body: t.Any, fields: tuple[str, ...], path: str, cursor: str) -> None:
    """Fail unless ``body`` is a listing page with every field the reference requires.

    ``has_more`` must be a boolean; a page that says ``has_more`` without the cursor of the next
    page (``last_id``, ``cursor``) is not a page either: it ended the list there. ``{}`` or
    ``{"data": null}`` read as an empty last page would end the listing as if nothing were new,
    run after run. An item that is not an
    object (``1``, ``null``) has no row: the page is refused whole, never read without it.
    """
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        check_items(body["data"], path, cursor)
    problem = None
    if not isinstance(body, dict):
        problem = f"is a JSON {type(body).__name__}, not an object"
    else:
        missing = [name for name in fields if name not in body]
        if missing:
            problem = (
                "lacks the required field"
                + ("s " if len(missing) > 1 else " ")
                + ", ".join(repr(name) for name in missing)
            )
        elif not isinstance(body["data"], list):
            problem = f"has 'data' {_kind(body['data'])}, not a list"
        elif not isinstance(body["has_more"], bool):
            problem = f"has 'has_more' {_kind(body['has_more'])}, not true or false"
        elif body["has_more"] and (following := _following(fields)):
            problem = _next_page_problem(body, following)
        elif "last_end_time" in fields and not _is_cursor_time(body["last_end_time"]):
            problem = (
                f"has 'last_end_time' {str(body['last_end_time'])[:60]!r}, not a time with a time "
                "zone (ISO 8601) or null"
            )
    if problem is None:
        return
    keys = ", ".join(sorted(body)) if isinstance(body, dict) else ""
    msg = (
        f"The answer of {path} ({cursor}) {problem} (fields: {keys or 'none'}): it is not a "
        f"listing page, so it is not read as an empty one. {NOTHING_SKIPPED} Rerun later; if "
        "it persists, report it to OpenAI support."
    )
    raise PageShapeError(msg)


def _next_page_problem(body: dict[str, t.Any], following: str) -> str | None:
    """Say what is wrong with the cursor of a page saying ``has_more`` (None: nothing).

    The cursor must be a non-empty string (a list or an object was hashed, a number sent back
    as if it were an id); a ``last_id`` must be the id of the page's last item when that item
    has one: naming another item, paging on from it would serve items again, or skip them.
    """
    value = body.get(following)
    if not value:
        return f"says has_more=true without a {following!r} to continue from"
    if not isinstance(value, str):
        return f"says has_more=true with {following!r} {_kind(value)}, not a string"
    data = body["data"]
    last = data[-1].get("id") if following == "last_id" and data else None
    if isinstance(last, str) and last and last != value:
        return (
            f"says has_more=true with last_id {value[:80]!r}, not its last item's id "
            f"{last[:80]!r}: paging on from it would serve items again or skip some"
        )
    return None


def _is_cursor_time(value: t.Any) -> bool:
    """Whether a ``last_end_time`` can be sent back as ``after``: null, ``""``, ISO 8601 with zone.

    The API answers any other ``after`` with 422, which would read as a rejected event type.
    """
    if value is None or value == "":
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _following(fields: tuple[str, ...]) -> str | None:
    """Return the field that must name the next page when ``has_more`` (None: no such field).

    ``last_id`` (Gen-1), ``cursor`` (Codex tasks, library files); none for a log page, whose
    ``last_end_time`` may be null (an empty page, reference §3.4): :class:`LogFilesPaginator`
    asks again, a few times.
    """
    if "last_end_time" in fields:
        return None
    return "last_id" if "last_id" in fields else "cursor"


def check_items(items: list[t.Any], path: str, cursor: str) -> None:
    """Fail unless every item of a page is a JSON object (nothing of the page is read)."""
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            msg = (
                f"The answer of {path} ({cursor}) holds an item that is not a JSON object (item "
                f"{number} of {len(items)}: {_kind(item)}), so no item of the page is read. "
                f"{NOTHING_SKIPPED} Rerun later; if it persists, report it to OpenAI support."
            )
            raise PageShapeError(msg)


def _kind(value: t.Any) -> str:
    return "null" if value is None else f"of type {type(value).__name__}"


MAX_EMPTY_PAGES = 10
"""Most pages in a row a list may answer with no item and ``has_more=true``, each naming a
new cursor (``last_id``, ``cursor``): short pages are not the end of a list (reference §3.1),
and an empty one may come, but ten in a row is a listing that pages without end."""


class EmptyPages:
    """Counts the pages in a row of one list that held no item but said ``has_more``."""

    def __init__(self) -> None:
        """Start at no empty page."""
        self.count = 0

    def page(self, items: list[t.Any], has_more: bool, path: str) -> None:
        """Count one page; fail once :data:`MAX_EMPTY_PAGES` in a row held nothing.

        The items listed before are kept (a row each); the list is not read further, loudly
        (:class:`ListingError`), so that a run never ends as if it had read the whole list.
        """
        if items or not has_more:
            self.count = 0
            return
        self.count += 1
        if self.count >= MAX_EMPTY_PAGES:
            msg = (
                f"The list {path} answered {self.count} pages in a row with no item and "
                "has_more=true, each with a new cursor: the API's listing is stuck (paging "
                "would never end), so the rest of the list is not read. Rerun later; if it "
                "persists, report it to OpenAI support."
            )
            raise ListingError(msg)


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

    def __init__(
        self,
        start_after: str,
        max_repeats: int = 3,
        ahead: t.Callable[[datetime], bool] | None = None,
    ) -> None:
        """Start listing after ``start_after`` (ISO 8601 with time zone).

        ``ahead``: whether a time is later than the API's (the run's clock): a page that jumps
        there past its own files is refused (:meth:`check_jump`).
        """
        super().__init__(LogCursor(start_after))
        self._max_repeats = max_repeats
        self._ahead = ahead

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
        went_to, came_from = to_datetime(last_end_time), to_datetime(current.after)
        if went_to is not None and came_from is not None and went_to < came_from:
            event_type = _query_value(response, "event_type") or "log"
            msg = (
                f"The {event_type} listing went backwards: asked for files after "
                f"{current.after}, it answered has_more=true with last_end_time {last_end_time}, "
                f"so paging might never end. {NOTHING_SKIPPED} Rerun later; if it persists, "
                "report it to OpenAI support."
            )
            raise ListingError(msg)
        if last_end_time and last_end_time != current.after:
            self.check_jump(response, went_to)
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

    def check_jump(self, response: requests.Response, went_to: datetime | None) -> None:
        """Fail if ``last_end_time`` is later than the API's time and than every file listed.

        Paging on ``after`` it would skip every file that ended before it: a listing of empty
        pages whose ``last_end_time`` ran past the API's time ended "nothing new", exit 0,
        with files there. A future-dated file (its own end_time the page's last) is read.
        """
        if went_to is None or self._ahead is None or not self._ahead(went_to):
            return
        data = response.json().get("data")
        ends = [to_datetime(item.get("end_time")) for item in data or [] if isinstance(item, dict)]
        if any(end is not None and end >= went_to for end in ends):
            return
        event_type = _query_value(response, "event_type") or "log"
        msg = (
            f"The {event_type} listing answered has_more=true with last_end_time "
            f"{went_to.isoformat()}, later than the API's time and than every file of its page: "
            f"paging on from there would skip every file that ended before it. {NOTHING_SKIPPED} "
            "Rerun later; if it persists, report it to OpenAI support."
        )
        raise ListingError(msg)


class LastIdPaginator(BaseAPIPaginator["str | None"]):
    """Pages Gen-1 lists by ``after=last_id`` while ``has_more`` is true (short pages included)."""

    def __init__(self) -> None:
        """Start at the first page."""
        super().__init__(None)
        self._seen: set[str] = set()
        self._empty = EmptyPages()

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Keep paging over an empty page while ``has_more`` is true."""
        return bool(response.json().get("has_more"))

    def has_more(self, response: requests.Response) -> bool:
        """Trust ``has_more``, never the page size."""
        body = response.json()
        return bool(body.get("has_more")) and bool(body.get("last_id"))

    def get_next(self, response: requests.Response) -> str | None:
        """Return ``last_id`` for the ``after`` parameter; fail if the list is stuck.

        Stuck: a ``last_id`` given before (the same page again, or a cycle), or
        :data:`MAX_EMPTY_PAGES` pages in a row that held nothing (:class:`EmptyPages`).
        """
        body = response.json()
        last_id = t.cast("str | None", body.get("last_id"))
        path = response.request.path_url.split("?")[0] if response.request else "a list"
        data = body.get("data")
        self._empty.page(data if isinstance(data, list) else [], bool(body.get("has_more")), path)
        if last_id is not None and last_id in self._seen:  # the same page again, or a cycle
            msg = (
                f"The list {path} answered has_more=true with last_id {last_id} again, after "
                f"{len(self._seen)} pages: the API's listing is stuck (paging would never end). "
                "Rerun later; if it persists, report it to OpenAI support."
            )
            raise ListingError(msg)
        if last_id is not None:
            self._seen.add(last_id)
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
