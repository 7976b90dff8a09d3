"""Canvases of each user and every version of each (reference §1A #13, #14, §2.6).

``canvases``: one row per canvas (the list gives ``{id}`` only), change-detected, so a canvas
is emitted when it first appears (and again only when its bucket changes).

``canvas_versions``: one row per version. The list of a user's canvases carries no time, so
each refresh asks every canvas for its versions (one request per canvas: the API's floor). The
versions ascend from 1, paged by ``after`` = an integer version number (exclusive), at most
30 a page. A version dated (``updated_at``) before the watermark was archived by an earlier
refresh and is not emitted again; the overlap is deduplicated by the keys kept in the state.

State stays bounded: besides the refresh time and the overlap keys, only canvases whose history
is longer than one page (30 versions) keep their last version number, at most
:data:`MAX_LONG_CANVASES` of them (the most recently changed); such a canvas is then read from
its last version on (one request instead of one per 30 versions). A canvas beyond that bound is
read from version 1 again: more requests, never a missed version.
"""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance.errors import ListingError
from tap_chatgpt_compliance.http.pagination import PageShapeError, check_items
from tap_chatgpt_compliance.http.transport import path_segment
from tap_chatgpt_compliance.streams.gen1 import (
    MISSING,
    ObjectRefused,
    RouteMissing,
    every_one_missing,
    failed_parents,
    sendable,
    shared_listing,
)
from tap_chatgpt_compliance.streams.workspace import (
    Boundary,
    WorkspaceObjectStream,
    in_window,
)
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

CANVAS_PAGE = 30
"""The API's largest page of canvases and of versions (more is a 422)."""
MAX_LONG_CANVASES = 1000
"""Canvases longer than a page whose last version number the state keeps."""


class _CanvasListing(WorkspaceObjectStream):
    def listed_canvases(self, user_id: str) -> list[dict[str, t.Any]] | None:
        """Return a user's canvases as served, ascending by creation (listed once per run).

        None when the list answered 404 on its first page (a user deleted since listed).
        """
        return shared_listing(self.tap, f"canvases:{user_id}", lambda: self._list(user_id))

    def _list(self, user_id: str) -> list[dict[str, t.Any]] | None:
        items: list[dict[str, t.Any]] = []
        try:
            items.extend(
                self.iter_list(f"users/{path_segment(user_id)}/canvases", limit=CANVAS_PAGE)
            )
        except RouteMissing:
            if not items:
                return None
        return items

    def users_canvases(self) -> Iterator[tuple[str, list[dict[str, t.Any]]]]:
        """Yield ``(user id, canvases)`` of every user whose list answered.

        A 404 is a user deleted since listed, unless every user's list answers 404: a route
        gone or a fault (:class:`RouteMissing`: the stream fails loudly, its refresh is not
        recorded), never an archive without canvases.
        """
        users = self.user_ids()
        missing = 0
        for user_id in users:
            canvases = self.listed_canvases(user_id)
            if canvases is None:
                missing += 1
            else:
                yield user_id, canvases
        if users and missing == len(users):
            raise every_one_missing("canvases list", missing, "user")


class CanvasesStream(_CanvasListing):
    """Every canvas of every user (``users/{id}/canvases``).

    A row per canvas as served; a canvas without a string id is keyed by its content
    (``sha256:<hash of raw_item>``), counted in the run summary.
    """

    name = "canvases"
    primary_keys: t.ClassVar[list[str]] = ["user_id", "id"]

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """List the canvases of every user; emit the buckets that changed."""
        keyed = (
            (f"{user_id}/{row['id']}", row)
            for user_id, canvases in self.users_canvases()
            for row in (self.row(item, user_id=user_id) for item in canvases)
        )
        yield from self.emit_changed(keyed, updates)


class CanvasVersionsStream(_CanvasListing):
    """Every version of every canvas (``users/{id}/canvas/{textdoc_id}``)."""

    name = "canvas_versions"
    primary_keys: t.ClassVar[list[str]] = ["textdoc_id", "version"]

    def refresh(
        self, context: Context | None, updates: dict[str, t.Any]
    ) -> Iterator[dict[str, t.Any]]:
        """Read every canvas's versions from its known last version (or 1) on."""
        since = self.watermark()
        boundary = Boundary(self.stream_state.get("boundary"), since)
        known = self.stream_state.get("long_canvases")
        long_canvases: dict[str, int] = dict(known) if isinstance(known, dict) else {}
        changed: dict[str, int] = {}
        unnamed = 0
        asked: list[int] = [0, 0]  # canvases asked for their versions, of which answered 404
        for user_id, canvases in self.users_canvases():
            for canvas_id in _canvas_ids(canvases):
                if canvas_id is None:
                    unnamed += 1
                    continue
                start = long_canvases.get(canvas_id) if since is not None else None
                last = start
                try:
                    for version in self._versions(user_id, canvas_id, start, asked):
                        number = version.get("version")
                        if _is_int(number):
                            last = max(last or 0, number)
                        when = to_datetime(version.get("updated_at"))
                        if not in_window(when, since):
                            continue
                        # A version without a version number is keyed by its content too.
                        ident = number if _is_int(number) else version["raw_sha256"]
                        key = f"{canvas_id}/{ident}/{version.get('updated_at')}"
                        if boundary.fresh(key, when):
                            yield version
                except ObjectRefused as exc:  # this canvas: the others are read
                    self._refused(exc)
                    continue
                if last is not None and last > CANVAS_PAGE and last != start:
                    changed[canvas_id] = last
        if asked[0] and asked[1] == asked[0]:
            raise every_one_missing("versions", asked[0], "canvas", "canvases")
        if unnamed:
            self._unnamed_canvases(unnamed)
        # The most recently changed long canvases first, then the others, up to the bound.
        kept = {**changed, **{k: v for k, v in long_canvases.items() if k not in changed}}
        updates["long_canvases"] = dict(list(kept.items())[:MAX_LONG_CANVASES])
        updates["boundary"] = boundary.keep(self.refresh_start())

    def _refused(self, exc: ObjectRefused) -> None:
        """Fail the run, loudly, for a canvas whose versions the API refused (400, 422, …).

        The other canvases' versions are archived; the refresh is not recorded, so the next
        run asks again.
        """
        msg = f"stream '{self.name}': {exc} (this canvas is skipped, the others are read)"
        self.sync_run.fail_at_end(self.logger, msg)
        failed_parents(self.tap).add(self.name)

    def _unnamed_canvases(self, count: int) -> None:
        """Fail the run, loudly, for canvases whose versions cannot be asked for.

        The other canvases' versions are archived; the refresh is not recorded, so the next
        run asks again.
        """
        msg = (
            f"stream '{self.name}': {count} canvas(es) listed without an id a URL can carry "
            "(none, not a string, or one no path segment can hold): their versions cannot be "
            "asked for and are not archived (the canvases stream keeps them as listed); the "
            "refresh is not recorded. Report it to OpenAI support."
        )
        self.sync_run.fail_at_end(self.logger, msg)
        self._incomplete_listing = True

    def _versions(
        self,
        user_id: str,
        canvas_id: str,
        after: int | None,
        asked: list[int] | None = None,
    ) -> Iterator[dict[str, t.Any]]:
        """Yield the rows of a canvas's versions after ``after`` (None: from 1).

        ``asked``: [canvases asked, of which the first page answered 404], counted here.
        """
        path = f"users/{path_segment(user_id)}/canvas/{path_segment(canvas_id)}"
        asked = [0, 0] if asked is None else asked
        asked[0] += 1
        first = True
        while True:
            body = self.fetch(path, {"limit": CANVAS_PAGE, "after": after}, missing_ok=True)
            if body is MISSING:
                if first:
                    asked[1] += 1
                return
            first = False
            contents = body.get("version_contents") if isinstance(body, dict) else None
            if not isinstance(contents, dict) or not isinstance(contents.get("data"), list):
                msg = (
                    f"The answer of {path} has no version_contents list: it is not read as a "
                    "canvas without versions. Rerun later; if it persists, report it to OpenAI "
                    "support."
                )
                raise PageShapeError(msg)
            check_items(contents["data"], path, f"after={after}" if after else "first page")
            textdoc_type = body.get("textdoc_type")
            for version in contents["data"]:
                yield self.row(
                    version, user_id=user_id, textdoc_id=canvas_id, textdoc_type=textdoc_type
                )
            last = contents.get("last_version")
            if contents.get("has_more") is not True:
                return
            if not _is_int(last) or (after is not None and last <= after):
                msg = (
                    f"The canvas {path} kept answering has_more=true without a last_version "
                    f"past {after}: the API's listing is stuck. Rerun later; if it persists, "
                    "report it to OpenAI support."
                )
                raise ListingError(msg)
            after = last


def _canvas_ids(canvases: list[dict[str, t.Any]]) -> Iterator[str | None]:
    """Yield the ids of a user's canvases; None for one without an id a URL can carry."""
    for item in canvases:
        canvas_id = item.get("id")
        yield canvas_id if isinstance(canvas_id, str) and sendable(canvas_id) else None


def _is_int(value: t.Any) -> t.TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
