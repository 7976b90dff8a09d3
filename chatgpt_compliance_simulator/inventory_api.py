"""Gen-1 reads of what the workspace holds (issue 21; reference §1A #10-14, #20-27, §2.5-2.7).

Memories, canvases and their versions, automations, recordings and transcripts, Codex tasks,
library files. Shapes marked GUESS in docs/simulator.md are plausible, not documented.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from .generator import Workspace
from .inventory import Versioned, WorkspaceInventory
from .rand import hash01
from .responses import Request, Response, error_response, json_response
from .rest_api import RestApi
from .validation import ValidationError, detail, limit_param

CURSOR_PREFIX = "cur1:"
_H = TypeVar("_H", bound=Callable[..., Response])


def _locked(handler: _H) -> _H:
    """Run an endpoint under the state lock (``advance`` may run in another thread)."""

    @functools.wraps(handler)
    def run(self: InventoryApi, req: Request, ws: Workspace) -> Response:
        with self.state.lock:
            return handler(self, req, ws)

    return run  # type: ignore[return-value]


def since_param(req: Request) -> int | None:
    """Parse ``since_timestamp`` (integer Unix seconds, inclusive) into µs, or None."""
    values = req.query.get("since_timestamp")
    if not values:
        return None
    raw = values[-1]
    try:
        return int(raw) * 1_000_000
    except ValueError:
        raise ValidationError(
            [
                detail(
                    "since_timestamp",
                    "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing",
                    raw,
                )
            ]
        ) from None


def encode_cursor(item_id: str) -> str:
    """Return the opaque ``cursor`` that continues after ``item_id``."""
    return base64.urlsafe_b64encode((CURSOR_PREFIX + item_id).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> str:
    """Return the item id inside a cursor (422 when it is not one of ours)."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith(CURSOR_PREFIX):
        raise ValidationError([detail("cursor", "Invalid cursor", "value_error", raw)])
    return text[len(CURSOR_PREFIX) :]


class InventoryApi(RestApi):
    """The endpoints of issue 21 on top of the existing Gen-1 reads."""

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _inv(ws: Workspace) -> WorkspaceInventory:
        return ws.inventory

    def _short(self, req: Request, after: str, limit: int, left: int) -> int:
        """Page size, shortened by quirk ``short_pages`` (reference §3.1)."""
        q = self.cfg.quirks
        if (
            q.short_pages
            and left > 1
            and hash01(self.cfg.seed, "short", req.path, after, limit) < q.short_page_rate
        ):
            return max(1, min(limit, left) // 2)
        return limit

    def _user_or_404(self, req: Request, ws: Workspace) -> str | Response:
        uid = req.params["user_id"]
        if ws.world.user(uid) is None:
            return error_response(404, f"User '{uid}' not found.", code="not_found")
        return uid

    def _after_page(
        self,
        req: Request,
        items: list[dict[str, Any]],
        default: int,
        maximum: int,
        clamp: bool,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Response:
        """Gen-1 page where ``after`` is the id of an item of ``items`` (list order kept).

        ``keep`` filters after positioning (an ``after`` filtered out still positions).
        """
        limit = limit_param(req, default, maximum, clamp)
        after = (req.query.get("after") or [""])[-1]
        rest = items
        if after:
            ids = [i["id"] for i in items]
            rest = items[ids.index(after) + 1 :] if after in ids else []
        if keep is not None:
            rest = [i for i in rest if keep(i)]
        page = rest[: self._short(req, after, limit, len(rest))]
        return json_response(
            200,
            {
                "object": "list",
                "data": page,
                "has_more": len(rest) > len(page),
                "last_id": page[-1]["id"] if page else None,
            },
        )

    def _cursor_page(
        self, req: Request, items: list[dict[str, Any]], default: int, maximum: int, clamp: bool
    ) -> Response:
        """Build a ``{data, has_more, cursor}`` page (reference §2.1: newer endpoints)."""
        limit = limit_param(req, default, maximum, clamp)
        raw = (req.query.get("cursor") or [""])[-1]
        rest = items
        if raw:
            last = decode_cursor(raw)
            ids = [i["id"] for i in items]
            if last not in ids:
                raise ValidationError([detail("cursor", "Invalid cursor", "value_error", raw)])
            rest = items[ids.index(last) + 1 :]
        page = rest[: self._short(req, raw, limit, len(rest))]
        more = len(rest) > len(page)
        return json_response(
            200,
            {
                "data": page,
                "has_more": more,
                "cursor": encode_cursor(page[-1]["id"]) if more else None,
            },
        )

    # ------------------------------------------------------------------ memories
    @_locked
    def list_memories(self, req: Request, ws: Workspace) -> Response:
        """``GET …/memories`` (§1A #10): ascending user id, ``since_timestamp`` inclusive."""
        limit = limit_param(req, 200, 200, clamp=False)
        since = since_param(req)
        now = self.state.now_us()
        after = (req.query.get("after") or [""])[-1]
        inv = self._inv(ws)
        items = []
        for uid in sorted(u.id for u in ws.world.users):
            if after and uid <= after:
                continue
            m = inv.memory_json(uid, now, since)
            if m is not None:
                items.append(m)
        page = items[: self._short(req, after, limit, len(items))]
        return json_response(
            200,
            {
                "object": "list",
                "data": page,
                "has_more": len(items) > len(page),
                "last_id": page[-1]["id"] if page else None,
            },
        )

    @_locked
    def user_memories(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/memories`` (§1A #11): no paging, ``since_timestamp`` inclusive."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        m = self._inv(ws).memory_json(uid, self.state.now_us(), since_param(req))
        data = [m] if m is not None else []
        return json_response(
            200,
            {"object": "list", "data": data, "has_more": False, "last_id": uid if data else None},
        )

    # ------------------------------------------------------------------ canvases
    @_locked
    def list_canvases(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/canvases`` (§1A #13): ``{id}`` items, ascending by creation."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        now = self.state.now_us()
        cvs = sorted(
            (c for c in self._inv(ws).canvases.get(uid, []) if c.created_us <= now),
            key=lambda c: (c.created_us, c.id),
        )
        return self._after_page(req, [{"id": c.id} for c in cvs], 30, 30, clamp=False)

    @_locked
    def get_canvas(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/canvas/{textdoc_id}`` (§1A #14): versions ascending."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        tid = req.params["textdoc_id"]
        cv = self._inv(ws).canvas_by_id.get(tid)
        if cv is None or cv.user_id != uid:
            return error_response(404, f"Canvas '{tid}' not found.", code="not_found")
        limit = limit_param(req, 30, 30, clamp=False)
        raw = (req.query.get("after") or [""])[-1]
        after = None
        if raw:
            try:
                after = int(raw)
            except ValueError:
                raise ValidationError(
                    [
                        detail(
                            "after",
                            "Input should be a valid integer, unable to parse string as an integer",
                            "int_parsing",
                            raw,
                        )
                    ]
                ) from None
        rest = [
            v for v in cv.versions_at(self.state.now_us()) if after is None or v.version > after
        ]
        page = rest[: self._short(req, raw, limit, len(rest))]
        return json_response(
            200,
            {
                "textdoc_id": cv.id,
                "textdoc_type": cv.textdoc_type,
                "version_contents": {
                    "object": "list",
                    "data": [v.to_json() for v in page],
                    "last_version": page[-1].version if page else None,
                    "has_more": len(rest) > len(page),
                },
            },
        )

    # ------------------------------------------------------------------ automations, recordings
    @staticmethod
    def _current(objs: list[Versioned], now: int) -> list[dict[str, Any]]:
        rows = sorted((o for o in objs if o.created_us <= now), key=lambda o: (o.created_us, o.id))
        return [item for o in rows if (item := o.at(now)) is not None]

    @_locked
    def list_automations(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/automations`` (§1A #20; item shape GUESS), ascending creation."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        since = since_param(req)
        items = self._current(self._inv(ws).automations.get(uid, []), self.state.now_us())
        keep = None
        if since is not None:
            s = since

            def keep(i: dict[str, Any]) -> bool:
                return round(i["updated_at"] * 1_000_000) >= s

        return self._after_page(req, items, 20, 200, clamp=True, keep=keep)

    @_locked
    def list_recordings(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/recordings`` (§1A #21; item shape GUESS), ascending creation."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        now = self.state.now_us()
        recs = sorted(
            (r for r in self._inv(ws).recordings.get(uid, []) if r.created_us <= now),
            key=lambda r: (r.created_us, r.id),
        )
        return self._after_page(req, [r.item for r in recs], 20, 200, clamp=True)

    @_locked
    def recording_transcript(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/recordings/{id}/transcript`` (§1A #22; shape GUESS)."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        rid = req.params["recording_id"]
        rec = next((r for r in self._inv(ws).recordings.get(uid, []) if r.id == rid), None)
        if rec is None:
            return error_response(404, f"Recording '{rid}' not found.", code="not_found")
        raw = (req.query.get("include_summary") or ["false"])[-1].lower()
        if raw not in ("true", "false", "1", "0"):
            raise ValidationError(
                [
                    detail(
                        "include_summary",
                        "Input should be a valid boolean, unable to interpret input",
                        "bool_parsing",
                        raw,
                    )
                ]
            )
        body = dict(rec.transcript)
        if raw in ("true", "1"):
            body["summary"] = rec.summary
        return json_response(200, body)

    # ------------------------------------------------------------------ codex tasks
    @_locked
    def list_codex_tasks(self, req: Request, ws: Workspace) -> Response:
        """``GET …/codex_tasks`` (§1A #23): ``cursor`` paging, limit ≤ 30, newest first."""
        inv = self._inv(ws)
        now = self.state.now_us()
        rows = sorted(
            (t for t in inv.codex_tasks if t.created_us <= now),
            key=lambda t: (t.created_us, t.id),
            reverse=True,
        )
        items = [inv.task_item(d) for t in rows if (d := t.at(now)) is not None]
        return self._cursor_page(req, items, 30, 30, clamp=False)

    @_locked
    def get_codex_task(self, req: Request, ws: Workspace) -> Response:
        """``GET …/codex_tasks/{task_id}`` (§1A #24; detail shape GUESS)."""
        tid = req.params["task_id"]
        now = self.state.now_us()
        task = next((t for t in self._inv(ws).codex_tasks if t.id == tid), None)
        item = task.at(now) if task is not None else None
        if item is None:
            return error_response(404, f"Codex task '{tid}' not found.", code="not_found")
        return json_response(200, item)

    # ------------------------------------------------------------------ library files
    @_locked
    def list_library_files(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/library_files`` (§1A #26): ``cursor`` paging, newest first."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        now = self.state.now_us()
        objs = self._inv(ws).library.get(uid, [])
        items = list(reversed(self._current(objs, now)))
        return self._cursor_page(req, items, 200, 200, clamp=True)

    @_locked
    def library_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{uid}/library_files/{id}`` (§1A #27): 307 to the bytes; 404; 410."""
        uid = self._user_or_404(req, ws)
        if isinstance(uid, Response):
            return uid
        fid = req.params["library_file_id"]
        inv = self._inv(ws)
        a = inv.library_files.get(fid)
        now = self.state.now_us()
        if a is None or a.user_id != uid or a.uploaded_us > now:
            return error_response(
                404, f"Library file '{fid}' not found for user '{uid}'.", code="not_found"
            )
        if inv.library_trashed(fid, now):
            return error_response(
                410, f"Library file '{fid}' is in the trash.", code="file_expired"
            )
        return Response(307, b"", [("Location", self._file_url(a))])
