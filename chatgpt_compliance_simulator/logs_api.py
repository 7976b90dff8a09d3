"""Endpoints of the Compliance Logs Platform: list, download, ``max_event_time`` (§1B).

Listing quirks (``boundary_rereturn``, ``empty_pages``) and oddities (``future_end_time``,
``stuck_listing``, ``out_of_order_listing``, items without ``end_time``/``event_type``)
are applied here, at serving time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import islice
from typing import Any

from .clock import iso_auto, parse_iso
from .config import ORG_EVENT_TYPES, WORKSPACE_EVENT_TYPES, organization_named
from .generator import Workspace
from .logfiles import LogFile, Stream
from .rand import hash01
from .responses import Request, Response, error_response, json_response
from .state import SimState
from .validation import (
    ValidationError,
    event_types_param,
    limit_param,
    time_param,
    type_scope_error,
)

#: ``end_time`` of the file listed in the future (``Oddities.future_end_time``).
FUTURE_END_TIME = "2099-01-01T00:00:00Z"
FUTURE_END_US = parse_iso(FUTURE_END_TIME)
ALL_TYPES = WORKSPACE_EVENT_TYPES + ORG_EVENT_TYPES

_Item = tuple[int, str, LogFile]  # (listed end µs, id, file): the listing's sort key


class LogsApi:
    """``…/logs``, ``…/logs/{log_file_id}`` and ``…/max_event_time`` (workspace and org)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.cfg = state.config
        self._empty_served: set[str] = set()
        self._stuck_started: set[str] = set()
        self._multi_served: set[str] = set()
        self._all_types = ALL_TYPES + tuple(
            t for t in self.cfg.oddities.extra_event_types if t not in ALL_TYPES
        )
        self._org_types = ORG_EVENT_TYPES + tuple(
            t for t in self._all_types if t not in ORG_EVENT_TYPES and organization_named(t)
        )

    def _types(self, req: Request, scopes: frozenset[str], org: bool) -> list[str] | Response:
        """Return the requested types (422 if invalid), or the 403 of one not in scope."""
        types = event_types_param(req, org, self._all_types, self._org_types)
        for t in types:
            err = type_scope_error(scopes, t)
            if err:
                return err
        return types

    def list_logs(self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool) -> Response:
        """``GET …/logs`` (reference §1B L1, §2.8, §3.2)."""
        errors: list[dict[str, Any]] = []
        types: list[str] = []
        after = before = None
        limit = 100
        for step in ("event_type", "after", "before", "limit"):
            try:
                if step == "event_type":
                    types = event_types_param(req, org, self._all_types, self._org_types)
                elif step == "after":
                    after = time_param(req, "after", True)
                elif step == "before":
                    before = time_param(req, "before", False)
                else:
                    limit = limit_param(req, 100, 100, clamp=False)
            except ValidationError as e:
                errors.extend(e.details)
        if errors:
            raise ValidationError(errors)
        assert after is not None
        for t in types:
            err = type_scope_error(scopes, t)
            if err:
                return err
        odd = self.cfg.oddities
        key = f"{ws.id}:{org}:{sorted(types)}"
        if odd.stuck_listing and key in self._stuck_started:
            return json_response(
                200, {"data": [], "has_more": True, "last_end_time": req.query["after"][-1]}
            )
        future_id = ws.future_file_id if odd.future_end_time and not org else None
        with self.state.lock:
            oldest = ws.logs.oldest_us(self.state.now_us())
            streams = [ws.logs.scope(org)[t] for t in types]
            return self._page(req, key, streams, after, before, limit, oldest, future_id)

    def _page(
        self,
        req: Request,
        key: str,
        streams: list[Stream],
        after: int,
        before: int | None,
        limit: int,
        oldest: int,
        future_id: str | None,
    ) -> Response:
        quirks, odd = self.cfg.quirks, self.cfg.oddities

        def listed(s: Stream, inclusive: bool) -> Iterator[_Item]:
            items = s.iter_from(after, inclusive, before, oldest)
            if future_id is None or s.event_type != "CONVERSATION_MESSAGE":
                yield from items
                return
            yield from (item for item in items if item[1] != future_id)
            f = s.by_id.get(future_id)
            if (
                f is not None
                and f.end_us > oldest
                and (after < FUTURE_END_US or (inclusive and after == FUTURE_END_US))
                and (before is None or before > FUTURE_END_US)
            ):
                yield (FUTURE_END_US, f.id, f)

        def collect(inclusive: bool) -> tuple[list[_Item], bool]:
            merged = heapq.merge(*(listed(s, inclusive) for s in streams))
            got = list(islice(merged, limit + 1))
            return got[:limit], len(got) > limit

        page, has_more = collect(quirks.boundary_rereturn)
        if quirks.boundary_rereturn and has_more and page and page[-1][0] == after:
            page, has_more = collect(False)  # never let a page stall on the boundary
        ekey = f"{key}:{after}:{before}:{limit}"
        if (
            quirks.empty_pages
            and page
            and ekey not in self._empty_served
            and hash01(self.cfg.seed, "empty", ekey) < quirks.empty_page_rate
        ):
            self._empty_served.add(ekey)
            return json_response(200, {"data": [], "has_more": True, "last_end_time": None})
        omit = tuple(
            k
            for k, on in (
                ("end_time", odd.listing_without_end_time),
                ("event_type", odd.listing_without_event_type),
            )
            if on
        )
        data = [
            f.metadata(
                self.state.listed_sha(f),
                end_time=FUTURE_END_TIME if f.id == future_id else None,
                omit=omit,
                new_fields=odd.listing_new_fields,
            )
            for _, _, f in page
        ]
        if odd.stuck_listing:
            self._stuck_started.add(key)
            has_more = True
        if odd.out_of_order_listing:
            data.reverse()
        last = page[-1] if page else None
        answer = json_response(
            200,
            {
                "data": data,
                "has_more": has_more,
                "last_end_time": (
                    (FUTURE_END_TIME if last[1] == future_id else last[2].end_time)
                    if last is not None
                    else None
                ),
            },
        )
        if (
            odd.multi_document_listing_rate > 0
            and ekey not in self._multi_served
            and hash01(self.cfg.seed, "multi", ekey) < odd.multi_document_listing_rate
        ):
            # §5 #12: a "newline-separated multi-document" body (once per query, like
            # empty_pages: the identical next call gets the one document).
            self._multi_served.add(ekey)
            answer.body = answer.body + b"\n" + answer.body + b"\n"
        return answer

    def download_log(
        self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool
    ) -> Response:
        """``GET …/logs/{log_file_id}`` → 307 to a signed URL (reference §1B L2, §3.3)."""
        fid = req.params["log_file_id"]
        with self.state.lock:
            f = ws.logs.file(fid, org)
            if f is None or f.end_us <= ws.logs.oldest_us(self.state.now_us()):
                return error_response(404, f"Log file '{fid}' not found.", code="not_found")
        refused = self.state.log_refusal(fid)
        if refused is not None:
            return error_response(refused, f"Log file '{fid}' is not available.", code="refused")
        err = type_scope_error(scopes, f.event_type)
        if err:
            return err
        body = f.body
        url = self.state.signed.mint(lambda: body, "application/x-ndjson", f.file_name)
        return Response(307, b"", [("Location", url)])

    def max_event_time(
        self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool
    ) -> Response:
        """``GET …/max_event_time`` (reference §1B L3)."""
        types = self._types(req, scopes, org)
        if isinstance(types, Response):
            return types
        with self.state.lock:
            streams = ws.logs.scope(org)
            newest = {t: streams[t].max_event_us for t in types}
        out = {t: iso_auto(us) if us is not None else None for t, us in newest.items()}
        return json_response(200, {"max_event_time": out})
