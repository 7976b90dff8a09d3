"""Reading Gen-1 routes (reference §1A) for the workspace-object streams.

One paced GET, lists paged by ``after=last_id`` or by an opaque ``cursor``, and the listings of
users, GPTs and projects that the streams of one run share.

A 403 and a 404 are told apart from other errors (:class:`RouteForbidden`,
:class:`RouteMissing`): they skip an object or a stream, never the run (streams/workspace.py).
"""

from __future__ import annotations

import threading
import typing as t
import weakref

from tap_chatgpt_compliance.client import ComplianceStream
from tap_chatgpt_compliance.errors import ComplianceAPIError, ListingError
from tap_chatgpt_compliance.http.pagination import (
    LIST_PAGE_FIELDS,
    EmptyPages,
    check_page_shape,
    page_body,
)
from tap_chatgpt_compliance.http.transport import (
    NOT_REFUSED,
    RETRY_STATUSES,
    BadPathSegment,
    path_segment,
)
from tap_chatgpt_compliance.streams.repeats import RepeatedItems

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    import requests

    from tap_chatgpt_compliance.run.prefetch import Prefetch

T = t.TypeVar("T")

MISSING: t.Final = object()
"""What :meth:`Gen1Stream.fetch` returns for a 404 it may meet (``missing_ok``): never a
served body (a 200 whose JSON is ``null`` is ``None``, not a missing object)."""
CURSOR_PAGE_FIELDS = ("data", "has_more")
"""A ``cursor`` page (codex_tasks, library_files): ``{data, has_more, cursor}``."""

_RUN_CACHE: weakref.WeakKeyDictionary[t.Any, dict[str, t.Any]] = weakref.WeakKeyDictionary()
"""Per tap instance (one run): listings shared by the streams (users, GPTs, projects, …)."""
_CACHE_LOCK = threading.Lock()


def run_cache(tap: t.Any) -> dict[str, t.Any]:
    """Return what the streams of one run (one tap instance) share."""
    with _CACHE_LOCK:
        return _RUN_CACHE.setdefault(tap, {})


def shared_listing(tap: t.Any, key: str, listing: Callable[[], T]) -> T:
    """Return ``listing()`` read once per run under ``key``, whatever the threads asking.

    Streams refreshed by concurrent producers (streams/overlap.py) ask for the same listings:
    the first one lists, the others wait for its result (one lock per key, so different
    listings proceed together). A listing that fails is not kept: the next asker lists again.
    """
    cache = run_cache(tap)
    if key in cache:
        return t.cast("T", cache[key])
    with _CACHE_LOCK:
        lock = cache.setdefault(f"lock:{key}", threading.Lock())
    with lock:
        if key not in cache:
            cache[key] = listing()
    return t.cast("T", cache[key])


def prefetch_of(tap: t.Any) -> Prefetch | None:
    """Return the run's producers of workspace-object rows, if started (streams/overlap.py)."""
    return t.cast("Prefetch | None", run_cache(tap).get("prefetch"))


def incomplete_listings(tap: t.Any) -> set[str]:
    """Return the shared listings of this run that held items the streams cannot ask for."""
    return t.cast("set[str]", run_cache(tap).setdefault("incomplete_listings", set()))


def failed_parents(tap: t.Any) -> set[str]:
    """Return the streams of this run whose child could not archive everything."""
    return t.cast("set[str]", run_cache(tap).setdefault("child_failed", set()))


NOT_ONE_OBJECT = (*NOT_REFUSED, *RETRY_STATUSES)
"""Client errors that say nothing of one object: the key, a proxy's credentials, retried."""


class RouteForbidden(ComplianceAPIError):
    """The key may not read this route (403)."""


class RouteMissing(ComplianceAPIError):
    """The route or object is not there (404)."""


class ObjectRefused(ComplianceAPIError):
    """The API refused this request with an answer no retry changes (400, 422, …).

    For one object's read (a transcript, a Codex task, a canvas's versions) it skips that
    object, not the run: the others are archived, the parent's refresh is not recorded.
    """


def every_one_missing(route: str, count: int, what: str, plural: str = "") -> RouteMissing:
    """Return the error of a route that answered 404 for every one of ``count`` ``what``.

    ``plural``: the plural of ``what`` (``what`` + "s" by default). A 404 for one user, canvas
    or task is churn (deleted since it was listed); for every one of them it is a route gone or
    a fault, never read as an empty archive.
    """
    return RouteMissing(
        f"The {route} of every {what} answered 404 ({count} {plural or what + 's'} listed): a "
        f"route gone or a fault, not every {what} deleted; nothing of it is archived in this "
        "run and the refresh is not recorded (the next run reads it again)."
    )


class Gen1Stream(ComplianceStream):
    """A stream that reads Gen-1 routes of its workspace (paced, retried, paged)."""

    _refresh_started: datetime | None = None
    """The API's time when this stream's refresh started (set at its first answer if the
    API's clock was not known before)."""

    # Requests.

    @property
    def workspace_path(self) -> str:
        """Return ``/compliance/workspaces/<id>``."""
        return f"/compliance/workspaces/{self.workspace_id}"

    def validate_response(self, response: requests.Response) -> None:
        """403 and 404 are told apart: they skip an object or the stream, not the run."""
        if response.status_code == 403:
            raise RouteForbidden(self.describe_error(response))
        if response.status_code == 404:
            raise RouteMissing(self.describe_error(response))
        if 400 <= response.status_code < 500 and response.status_code not in NOT_ONE_OBJECT:
            raise ObjectRefused(self.describe_error(response))
        super().validate_response(response)

    def fetch(
        self,
        path: str,
        params: dict[str, t.Any] | None = None,
        *,
        missing_ok: bool = False,
    ) -> t.Any:
        """GET ``<workspace>/<path>`` (paced, retried); :data:`MISSING` on 404 when ``missing_ok``.

        In a producer thread whose rows the run no longer wants, nothing is sent (``Stopped``).
        """
        prefetch = prefetch_of(self.tap)
        if prefetch is not None:
            prefetch.check()
        prepared = self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{self.workspace_path}/{path}",
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers=self.http_headers,
        )
        try:
            response = self.send_prepared(prepared)
        except RouteMissing:
            if missing_ok:
                return MISSING
            raise
        finally:
            if self._refresh_started is None and self.transport.clock.synced:
                self._refresh_started = self.transport.clock.now()
        after = (params or {}).get("after")
        return page_body(response, path, f"after={after}" if after else "first page")

    def iter_list(
        self,
        path: str,
        params: dict[str, t.Any] | None = None,
        *,
        limit: int | None = None,
        missing_ok: bool = False,
        first_page_only: t.Iterable[str] = (),
    ) -> Iterator[dict[str, t.Any]]:
        """Yield every item of a Gen-1 list paged by ``after=last_id`` while ``has_more``.

        Short pages do not end the list (reference §3.1); a page that gives a ``last_id`` it
        gave before with ``has_more`` (the same page again, or a cycle), or MAX_EMPTY_PAGES
        pages in a row with no item (:class:`EmptyPages`), is a stuck listing
        (:class:`ListingError`).
        ``first_page_only``: parameters sent on the first page only (``since_timestamp`` is
        ignored when ``after`` is given, §6 #2; the simulator honours both).
        """
        query = dict(params or {})
        if limit is not None:
            query["limit"] = limit
        after: str | None = None
        seen: set[str] = set()
        empty = EmptyPages()
        repeats = self.repeated_items(path)
        while True:
            body = self.fetch(path, {**query, "after": after}, missing_ok=missing_ok)
            if body is MISSING:
                return
            check_page_shape(
                body, LIST_PAGE_FIELDS, path, f"after={after}" if after else "first page"
            )
            yield from repeats.new(body["data"])
            empty.page(body["data"], body["has_more"], path)
            if not body["has_more"]:
                return
            last_id = str(body["last_id"])
            if last_id in seen:
                msg = (
                    f"The list {path} answered has_more=true with last_id {last_id} again, "
                    f"after {len(seen) + 1} pages: the API's listing is stuck (paging would "
                    "never end). Rerun later; if it persists, report it to OpenAI support."
                )
                raise ListingError(msg)
            seen.add(last_id)
            after = last_id
            for name in first_page_only:
                query.pop(name, None)

    def iter_cursor(
        self,
        path: str,
        params: dict[str, t.Any] | None = None,
        *,
        limit: int | None = None,
        missing_ok: bool = False,
    ) -> Iterator[dict[str, t.Any]]:
        """Yield every item of a list paged by an opaque ``cursor`` (codex_tasks, library files)."""
        query = dict(params or {})
        if limit is not None:
            query["limit"] = limit
        cursor: str | None = None
        seen: set[str] = set()
        empty = EmptyPages()
        repeats = self.repeated_items(path)
        while True:
            body = self.fetch(path, {**query, "cursor": cursor}, missing_ok=missing_ok)
            if body is MISSING:
                return
            where = "first page" if cursor is None else "a later page"
            check_page_shape(body, CURSOR_PAGE_FIELDS, path, where)
            yield from repeats.new(body["data"])
            empty.page(body["data"], body["has_more"] and bool(body.get("cursor")), path)
            following = body.get("cursor")
            if not body["has_more"] or not following:
                return
            if following in seen:
                msg = (
                    f"The list {path} kept answering has_more=true with a cursor it already "
                    "gave: the API's listing is stuck. Rerun later; if it persists, report it "
                    "to OpenAI support."
                )
                raise ListingError(msg)
            seen.add(str(following))
            cursor = str(following)

    def repeated_items(self, path: str) -> RepeatedItems:
        """Return what drops the items a listing of ``path`` serves again (repeats.py)."""
        return RepeatedItems(path, self.sync_run.counts, self.logger)


class SharedListings(Gen1Stream):
    """A Gen-1 stream reading the listings the streams of one run share (users, GPTs, …)."""

    _incomplete_listing = False
    """Whether a shared listing this stream read held items it could not ask for (named())."""

    def container_list(
        self, kind: str, container_id: str, route: str, params: dict[str, t.Any] | None = None
    ) -> Iterator[dict[str, t.Any]]:
        """Yield a GPT's (project's) sub-list (``configs``, ``shared_users``), paged.

        A 404 is churn only when the GPT itself is gone (deleted since it was listed): it is
        asked for (one request, on a 404 only). A GPT still there whose list answers 404 is no
        deletion (a route gone, a fault): :class:`RouteMissing`, the stream fails loudly and
        its refresh is not recorded, so the next run reads the list again.
        """
        owner = f"{kind}/{path_segment(container_id)}"
        try:
            yield from self.iter_list(f"{owner}/{route}", params, limit=route_page(route))
        except RouteMissing as exc:
            if self.fetch(owner, missing_ok=True) is MISSING:
                self.gone.add(container_id)
                return
            msg = (
                f"{exc} The {kind[:-1]} {container_id} is listed and still answers: a 404 of "
                f"its {route} is no deletion, so they are not archived in this run and the "
                "refresh is not recorded (the next run reads them again)."
            )
            raise RouteMissing(msg) from None

    @property
    def gone(self) -> set[str]:
        """Return the GPTs (projects) this stream found deleted since they were listed."""
        return t.cast("set[str]", self.__dict__.setdefault("_gone", set()))

    def say_gone(self) -> None:
        """Log the GPTs (projects) deleted between their listing and their sub-list, if any."""
        if self.gone:
            self.logger.info(
                "Stream '%s': %d GPT(s) or project(s) deleted since they were listed (404): "
                "nothing of theirs to archive.",
                self.name,
                len(self.gone),
            )

    def user_ids(self) -> list[str]:
        """Return the ids of the workspace's users (listed once per run)."""
        ids = shared_listing(
            self.tap,
            "users",
            lambda: [
                str(item["id"]) for item in self.named(self.iter_list("users", limit=200), "users")
            ],
        )
        self._incomplete_listing |= "users" in incomplete_listings(self.tap)
        return ids

    def containers(self, kind: str) -> list[dict[str, t.Any]]:
        """Return the GPTs (``gpts``) or projects (``projects``) as listed (once per run)."""
        items = shared_listing(
            self.tap,
            kind,
            lambda: self.named(self.iter_list(kind, {"file_format": "id"}, limit=20), kind),
        )
        self._incomplete_listing |= kind in incomplete_listings(self.tap)
        return items

    def named(self, items: Iterator[dict[str, t.Any]], kind: str) -> list[dict[str, t.Any]]:
        """Return the listed items that have an id to ask for; the others fail the run, loudly.

        An item without an id a URL can carry (none, null, a number, ``..``, a lone surrogate)
        cannot be asked for: the objects it holds (its configurations, shares, canvases, …)
        would be missing from the archive while the run said it succeeded. The others are read.
        """
        kept, unnamed = [], 0
        for item in items:
            if isinstance(item.get("id"), str) and sendable(item["id"]):
                kept.append(item)
            else:
                unnamed += 1
        if unnamed:
            msg = (
                f"The {kind} list holds {unnamed} item(s) without an id a URL can carry (none, "
                "not a string, or with a lone surrogate): what they hold (configurations, "
                "shares, canvases, …) cannot be asked for and is not archived. Report it to "
                "OpenAI support."
            )
            self.sync_run.fail_at_end(self.logger, msg)
            incomplete_listings(self.tap).add(kind)
        return kept


def route_page(route: str) -> int:
    """Return the page size asked of a GPT's (project's) sub-list."""
    return CONFIG_PAGE if route == "configs" else SHARED_PAGE


CONFIG_PAGE = 50
"""Configurations per page (the API's default is 20; the simulator clamps at 200)."""
SHARED_PAGE = 200
"""Shared users per page."""


def sendable(item_id: str) -> bool:
    """Whether an id can be one segment of a URL path (:func:`path_segment`)."""
    try:
        path_segment(item_id)
    except BadPathSegment:
        return False
    return True
