"""Request handling of the API host: routing, auth, validation, endpoints, errors."""

from __future__ import annotations

import hashlib
import heapq
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from .clock import NaiveTimeError, iso_auto, parse_iso
from .config import (
    ORG_EVENT_TYPES,
    SCOPE_BY_TYPE,
    SCOPE_EXPORT_READ,
    SCOPE_LOGS_ALL,
    WORKSPACE_EVENT_TYPES,
)
from .generator import DAY_US, FUTURE_END_TIME, FUTURE_END_US, HOUR_US, Workspace
from .logfiles import LogFile
from .model import GPT_FILE, PROJECT_FILE, USER_FILE, Attachment, Config, Container, list_object

if TYPE_CHECKING:
    from .server import Simulator

WS = "/v1/compliance/workspaces/{workspace_id}"
ORG = "/v1/compliance/organizations/{organization_id}"

#: GET routes: template -> (handler name, requests per minute).
GET_ROUTES: dict[str, tuple[str, int]] = {
    f"{WS}/logs": ("list_logs", 100),
    f"{WS}/logs/{{log_file_id}}": ("download_log", 100),
    f"{WS}/max_event_time": ("max_event_time", 100),
    f"{ORG}/logs": ("list_logs", 100),
    f"{ORG}/logs/{{log_file_id}}": ("download_log", 100),
    f"{ORG}/max_event_time": ("max_event_time", 100),
    f"{WS}/users": ("list_users", 50),
    f"{WS}/users/{{user_id}}/files/{{file_id}}": ("user_file", 100),
    f"{WS}/gpts": ("list_gpts", 50),
    f"{WS}/gpts/{{gpt_id}}": ("get_gpt", 100),
    f"{WS}/gpts/{{gpt_id}}/configs": ("gpt_configs", 50),
    f"{WS}/gpts/{{gpt_id}}/shared_users": ("gpt_shared_users", 50),
    f"{WS}/gpt_files/{{file_id}}": ("gpt_file", 100),
    f"{WS}/projects": ("list_projects", 50),
    f"{WS}/projects/{{project_id}}": ("get_project", 100),
    f"{WS}/projects/{{project_id}}/configs": ("project_configs", 50),
    f"{WS}/projects/{{project_id}}/shared_users": ("project_shared_users", 50),
    f"{WS}/project_files/{{file_id}}": ("project_file", 100),
}

#: Write routes of reference §1C (all answered 405, counted, never change anything).
WRITE_ROUTES: list[str] = [
    f"{WS}/conversations/{{conversation_id}}",
    f"{WS}/users/{{user_id}}/conversations/{{conversation_id}}",
    f"{WS}/gpts/{{gpt_id}}",
    f"{WS}/gpts/{{gpt_id}}/files/{{file_id}}",
    f"{WS}/gpts/{{gpt_id}}/shared_users",
    f"{WS}/projects/{{project_id}}",
    f"{WS}/projects/{{project_id}}/files/{{file_id}}",
    f"{WS}/projects/{{project_id}}/shared_users",
    f"{WS}/projects/{{project_id}}/connector_scopes/{{scope_id}}",
    f"{WS}/users/{{user_id}}/files/{{file_id}}",
    f"{WS}/users/{{user_id}}/library_files/{{library_file_id}}",
    f"{WS}/users/{{user_id}}/memory_contexts/{{memory_context_id}}/memories/{{memory_id}}",
    f"{WS}/users/{{user_id}}/memory/delete_and_disable",
    f"{WS}/memory/delete_and_disable",
    f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}",
    f"{WS}/users/{{user_id}}/automations/{{automation_id}}",
    f"{WS}/users/{{user_id}}/recordings/{{recording_id}}",
    f"{WS}/codex_tasks/{{task_id}}",
    f"{WS}/codex_environments/{{environment_id}}",
    f"{WS}/agents/{{agent_id}}",
    f"{WS}/agents/{{agent_id}}/unpublish",
    f"{WS}/custom_agents/{{agent_id}}",
    f"{WS}/custom_agents/{{agent_id}}/unpublish",
    f"{WS}/skills",
    f"{WS}/skills/{{skill_id}}",
    f"{WS}/agent-skills",
]

ALL_TYPES = WORKSPACE_EVENT_TYPES + ORG_EVENT_TYPES
UNMATCHED = "unmatched"


def _split(template: str) -> list[str]:
    return template.strip("/").split("/")


_GET_SPLIT = [(_split(t), t) for t in GET_ROUTES]
_WRITE_SPLIT = [(_split(t), t) for t in WRITE_ROUTES]


def match_route(path: str, method: str = "GET") -> tuple[str | None, dict[str, str]]:
    """Match ``path`` to a route template; return (template, path parameters)."""
    segs = path.strip("/").split("/")
    tables = _GET_SPLIT if method in ("GET", "HEAD") else _WRITE_SPLIT + _GET_SPLIT
    if (
        method not in ("GET", "HEAD")
        and segs[:3] == ["v1", "compliance", "workspaces"]
        and len(segs) > 4
        and segs[4] == "manage"
    ):
        return WS + "/manage/" + "/".join(segs[5:]), {}
    for tsegs, template in tables:
        if len(tsegs) != len(segs):
            continue
        params: dict[str, str] = {}
        for t, s in zip(tsegs, segs, strict=False):
            if t.startswith("{"):
                if not s:
                    break
                params[t[1:-1]] = s
            elif t != s:
                break
        else:
            return template, params
    return None, {}


@dataclass
class Response:
    """An HTTP response to send."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: Iterable[bytes] | None = None
    """When set, streamed instead of ``body``; ``length`` is then the Content-Length."""
    length: int = 0


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """Serialize ``obj`` as a JSON response."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", "application/json"), *(headers or [])])


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    410: "invalid_request_error",
    429: "requests",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """OpenAI-style ``{"error":{"message","type","param","code"}}`` (reference §6 #4)."""
    return json_response(
        status,
        {
            "error": {
                "message": message,
                "type": ERROR_TYPES.get(status, "api_error"),
                "param": param,
                "code": code,
            }
        },
        headers,
    )


def server_error(status: int) -> Response:
    """Build a 5xx as OpenAI sends it."""
    return error_response(
        status, "The server had an error while processing your request. Sorry about that!"
    )


class ValidationError(Exception):
    """Collects FastAPI-style 422 details."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(details)
        self.details = details


def _detail(loc: str, msg: str, typ: str, value: Any = None) -> dict[str, Any]:
    d: dict[str, Any] = {"loc": ["query", loc], "msg": msg, "type": typ}
    if value is not None:
        d["input"] = value
    return d


@dataclass
class Request:
    """A parsed API request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    template: str
    params: dict[str, str]


class ApiApp:
    """The endpoints of the API host."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.cfg = sim.config
        self._empty_served: set[str] = set()
        self._stuck_started: set[str] = set()
        self._all_types = ALL_TYPES + tuple(
            t for t in self.cfg.oddities.extra_event_types if t not in ALL_TYPES
        )

    # ------------------------------------------------------------------ helpers
    def _hash01(self, *parts: object) -> float:
        return zlib.crc32(":".join(map(str, (self.cfg.seed, *parts))).encode()) / 2**32

    def _time_param(self, req: Request, name: str, required: bool) -> int | None:
        values = req.query.get(name)
        if not values:
            if required:
                raise ValidationError([_detail(name, "Field required", "missing")])
            return None
        raw = values[-1]
        try:
            return parse_iso(raw)
        except NaiveTimeError:
            raise ValidationError(
                [_detail(name, "Input should have timezone info", "timezone_aware", raw)]
            ) from None
        except ValueError:
            raise ValidationError(
                [
                    _detail(
                        name,
                        "Input should be a valid datetime or date, invalid character",
                        "datetime_from_date_parsing",
                        raw,
                    )
                ]
            ) from None

    def _limit(self, req: Request, default: int, maximum: int, clamp: bool) -> int:
        values = req.query.get("limit")
        if not values:
            return default
        raw = values[-1]
        try:
            n = int(raw)
        except ValueError:
            raise ValidationError(
                [
                    _detail(
                        "limit",
                        "Input should be a valid integer, unable to parse string as an integer",
                        "int_parsing",
                        raw,
                    )
                ]
            ) from None
        if n < 1:
            raise ValidationError(
                [
                    _detail(
                        "limit",
                        "Input should be greater than or equal to 1",
                        "greater_than_equal",
                        raw,
                    )
                ]
            )
        if n > maximum:
            if clamp:
                return maximum
            raise ValidationError(
                [
                    _detail(
                        "limit",
                        f"Input should be less than or equal to {maximum}",
                        "less_than_equal",
                        raw,
                    )
                ]
            )
        return n

    def _event_types(self, req: Request, org: bool) -> list[str]:
        values = req.query.get("event_type")
        if not values:
            raise ValidationError([_detail("event_type", "Field required", "missing")])
        types: list[str] = []
        for v in values:
            for t in v.split(","):
                if t not in self._all_types:
                    allowed = ", ".join(f"'{x}'" for x in self._all_types)
                    raise ValidationError(
                        [_detail("event_type", f"Input should be {allowed}", "enum", t)]
                    )
                if org and t not in ORG_EVENT_TYPES:
                    raise ValidationError(
                        [
                            _detail(
                                "event_type",
                                f"{t} is a workspace-scoped event type. Use "
                                "/v1/compliance/workspaces/{workspace_id}/logs instead.",
                                "value_error",
                                t,
                            )
                        ]
                    )
                if not org and t in ORG_EVENT_TYPES:
                    raise ValidationError(
                        [
                            _detail(
                                "event_type",
                                f"{t} is an organization-scoped event type. Use "
                                "/v1/compliance/organizations/{organization_id}/logs instead.",
                                "value_error",
                                t,
                            )
                        ]
                    )
                if t not in types:
                    types.append(t)
        return types

    @staticmethod
    def _type_scope_error(scopes: frozenset[str], event_type: str) -> Response | None:
        if SCOPE_LOGS_ALL in scopes:
            return None
        needed = SCOPE_BY_TYPE.get(event_type)
        if needed and needed in scopes:
            return None
        want = needed or SCOPE_LOGS_ALL
        return error_response(
            403,
            f"You have insufficient permissions for this operation. Missing scopes: {want}.",
            code="missing_scope",
        )

    @staticmethod
    def _export_scope_error(scopes: frozenset[str]) -> Response | None:
        if SCOPE_EXPORT_READ in scopes:
            return None
        return error_response(
            403,
            "You have insufficient permissions for this operation. Missing scopes: "
            f"{SCOPE_EXPORT_READ}.",
            code="missing_scope",
        )

    # ------------------------------------------------------------------ dispatch
    def handle(self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool) -> Response:
        """Run the endpoint of ``req.template`` (auth and principal already checked)."""
        name = GET_ROUTES[req.template][0]
        try:
            if name in ("list_logs", "download_log", "max_event_time"):
                return getattr(self, name)(req, scopes, ws, org)
            err = self._export_scope_error(scopes)
            if err:
                return err
            return getattr(self, name)(req, ws)
        except ValidationError as e:
            return json_response(422, {"detail": e.details})

    # ------------------------------------------------------------------ logs platform
    def _streams(self, ws: Workspace, org: bool) -> dict[str, Any]:
        return ws.org_streams if org else ws.streams

    def _listed_sha(self, f: LogFile) -> str:
        sim = self.sim
        wrong = hashlib.sha256(b"corrupt:" + f.id.encode()).hexdigest()
        if f.id in self.cfg.faults.bad_sha_file_ids:
            return wrong
        left = sim._corrupt_sha.get(f.id, 0)
        if left is None:
            return wrong
        if left > 0:
            sim._corrupt_sha[f.id] = left - 1
            return wrong
        return f.sha256

    def list_logs(self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool) -> Response:
        """``GET …/logs`` (reference §1B L1, §2.8, §3.2)."""
        errors: list[dict[str, Any]] = []
        types: list[str] = []
        after = before = None
        limit = 100
        for step in ("event_type", "after", "before", "limit"):
            try:
                if step == "event_type":
                    types = self._event_types(req, org)
                elif step == "after":
                    after = self._time_param(req, "after", True)
                elif step == "before":
                    before = self._time_param(req, "before", False)
                else:
                    limit = self._limit(req, 100, 100, clamp=False)
            except ValidationError as e:
                errors.extend(e.details)
        if errors:
            raise ValidationError(errors)
        assert after is not None
        for t in types:
            err = self._type_scope_error(scopes, t)
            if err:
                return err
        sim = self.sim
        quirks, odd = self.cfg.quirks, self.cfg.oddities
        key = f"{ws.id}:{org}:{sorted(types)}"
        if odd.stuck_listing and key in self._stuck_started:
            return json_response(
                200, {"data": [], "has_more": True, "last_end_time": req.query["after"][-1]}
            )
        future_id = ws.future_file_id if odd.future_end_time and not org else None
        with sim._lock:
            now = sim.clock.us
            oldest = now - int(self.cfg.retention_days * DAY_US)
            streams = [self._streams(ws, org)[t] for t in types]

            def listed(s: Any, inclusive: bool) -> Iterator[tuple[int, str, LogFile]]:
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

            def collect(inclusive: bool) -> tuple[list[tuple[int, str, LogFile]], bool]:
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
                and self._hash01("empty", ekey) < quirks.empty_page_rate
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
                    self._listed_sha(f),
                    end_time=FUTURE_END_TIME if f.id == future_id else None,
                    omit=omit,
                )
                for _, _, f in page
            ]
            if odd.stuck_listing:
                self._stuck_started.add(key)
                has_more = True
        if odd.out_of_order_listing:
            data.reverse()
        last = page[-1] if page else None
        return json_response(
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

    def download_log(
        self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool
    ) -> Response:
        """``GET …/logs/{log_file_id}`` → 307 to a signed URL (reference §1B L2, §3.3)."""
        fid = req.params["log_file_id"]
        sim = self.sim
        with sim._lock:
            f = (ws.org_files_by_id if org else ws.files_by_id).get(fid)
            oldest = sim.clock.us - int(self.cfg.retention_days * DAY_US)
            if f is None or f.end_us <= oldest:
                return error_response(404, f"Log file '{fid}' not found.", code="not_found")
        err = self._type_scope_error(scopes, f.event_type)
        if err:
            return err
        body = f.body
        url = sim._signed.mint(lambda: body, "application/x-ndjson", f.file_name)
        return Response(307, b"", [("Location", url)])

    def max_event_time(
        self, req: Request, scopes: frozenset[str], ws: Workspace, org: bool
    ) -> Response:
        """``GET …/max_event_time`` (reference §1B L3)."""
        types = self._event_types(req, org)
        for t in types:
            err = self._type_scope_error(scopes, t)
            if err:
                return err
        with self.sim._lock:
            streams = self._streams(ws, org)
            out = {
                t: (
                    iso_auto(streams[t].max_event_us)
                    if streams[t].max_event_us is not None
                    else None
                )
                for t in types
            }
        return json_response(200, {"max_event_time": out})

    # ------------------------------------------------------------------ Gen-1 REST
    def _page(
        self, req: Request, items: list[dict[str, Any]], default: int, by_id: bool = True
    ) -> Response:
        limit = self._limit(req, default, 200, clamp=True)
        after = (req.query.get("after") or [""])[-1]
        if after:
            if by_id:
                rest = [i for i in items if i["id"] > after]
            else:
                ids = [i["id"] for i in items]
                rest = items[ids.index(after) + 1 :] if after in ids else []
        else:
            rest = items
        n = limit
        q = self.cfg.quirks
        if (
            q.short_pages
            and len(rest) > 1
            and self._hash01("short", req.path, after, limit) < q.short_page_rate
        ):
            n = max(1, min(limit, len(rest)) // 2)
        page = rest[:n]
        return json_response(200, list_object(page, has_more=len(rest) > len(page)))

    def _file_url(self, a: Attachment) -> str:
        return self.sim._signed.mint(a.iter_body, a.mime_type, a.name, size=a.size)

    def _user(self, ws: Workspace, uid: str) -> dict[str, Any] | None:
        return next((u.to_json() for u in ws.users if u.id == uid), None)

    def _config_json(self, c: Container, cfg: Config, file_format: str) -> dict[str, Any]:
        p = c.prefix
        files = [
            a.gen1_file(p, self._file_url(a) if file_format == "url" else None) for a in cfg.files
        ]
        tools = []
        for t in cfg.tools:
            tool = {
                "type": t["type"],
                "created_at": t["created_at"],
                "action_domain": None,
                "action_openapi_raw": None,
                "action_privacy_policy_url": None,
            }
            if c.kind == "gpt":
                tool["auth_type"] = None
            tools.append(tool)
        return {
            "object": f"{p}.configuration",
            "id": cfg.id,
            "name": cfg.name,
            "description": cfg.description,
            "categories": cfg.categories,
            "conversation_starters": cfg.conversation_starters,
            "created_at": cfg.created_us / 1e6,
            "instructions": cfg.instructions,
            "version_author": {
                "object": f"{p}.version_author",
                "id": cfg.author.id,
                "email": cfg.author.email,
            },
            "files": list_object(files),
            "tools": {"object": "list", "data": tools, "has_more": False, "last_id": None},
        }

    def _container_json(self, ws: Workspace, c: Container, file_format: str) -> dict[str, Any]:
        p = c.prefix
        perms = {
            "object": f"{p}.permissions",
            "can_read": True,
            "can_view_config": False,
            "can_write": False,
        }
        users = {u.id: u for u in ws.users}
        return {
            "object": p,
            "id": c.id,
            "created_at": c.created_us / 1e6,
            "owner_id": c.owner.id,
            "owner_email": c.owner.email,
            "builder_name": "Community Builder",
            "sharing": {
                "object": f"{p}.sharing",
                "visibility": c.visibility,
                "permissions": perms,
                "recipients": [
                    {
                        "object": f"{p}.shared_user",
                        "id": uid,
                        "email": users[uid].email,
                        "permissions": dict(perms),
                    }
                    for uid in c.shared_user_ids
                ],
            },
            "latest_config": (
                [self._config_json(c, c.configs[0], file_format)]
                if c.kind == "project" and self.cfg.oddities.project_config_as_array
                else list_object([self._config_json(c, c.configs[0], file_format)])
            ),
        }

    @staticmethod
    def _file_format(req: Request) -> str:
        ff = (req.query.get("file_format") or ["url"])[-1]
        if ff not in ("url", "id"):
            raise ValidationError(
                [_detail("file_format", "Input should be 'url' or 'id'", "enum", ff)]
            )
        return ff

    def _find(self, items: list[Container], cid: str, what: str) -> Container:
        for c in items:
            if c.id == cid:
                return c
        raise _NotFound(f"{what} '{cid}' not found.")

    def list_users(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users`` (reference §1A #3, §2.2)."""
        items = sorted((u.to_json() for u in ws.users), key=lambda u: u["id"])
        return self._page(req, items, 200)

    def list_gpts(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts`` (reference §1A #4)."""
        ff = self._file_format(req)
        return self._page(req, [self._container_json(ws, g, ff) for g in ws.gpts], 20)

    def list_projects(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects`` (reference §1A #15)."""
        ff = self._file_format(req)
        return self._page(req, [self._container_json(ws, p, ff) for p in ws.projects], 20)

    def _get(self, req: Request, ws: Workspace, items: list[Container], key: str) -> Response:
        try:
            c = self._find(items, req.params[key], key.split("_")[0].upper())
        except _NotFound as e:
            return error_response(404, str(e), code="not_found")
        return json_response(200, self._container_json(ws, c, self._file_format(req)))

    def get_gpt(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts/{gpt_id}`` (reference §1A #5)."""
        return self._get(req, ws, ws.gpts, "gpt_id")

    def get_project(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects/{project_id}`` (reference §1A #16)."""
        return self._get(req, ws, ws.projects, "project_id")

    def _configs(self, req: Request, ws: Workspace, items: list[Container], key: str) -> Response:
        try:
            c = self._find(items, req.params[key], key.split("_")[0].upper())
        except _NotFound as e:
            return error_response(404, str(e), code="not_found")
        ff = self._file_format(req)
        return self._page(req, [self._config_json(c, x, ff) for x in c.configs], 20, by_id=False)

    def gpt_configs(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts/{gpt_id}/configs`` (reference §1A #6), newest first."""
        return self._configs(req, ws, ws.gpts, "gpt_id")

    def project_configs(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects/{project_id}/configs`` (reference §1A #17), newest first."""
        return self._configs(req, ws, ws.projects, "project_id")

    def _shared(self, req: Request, ws: Workspace, items: list[Container], key: str) -> Response:
        try:
            c = self._find(items, req.params[key], key.split("_")[0].upper())
        except _NotFound as e:
            return error_response(404, str(e), code="not_found")
        users = {u.id: u for u in ws.users}
        return self._page(req, [users[uid].to_json() for uid in c.shared_user_ids], 200)

    def gpt_shared_users(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts/{gpt_id}/shared_users`` (reference §1A #7)."""
        return self._shared(req, ws, ws.gpts, "gpt_id")

    def project_shared_users(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects/{project_id}/shared_users`` (reference §1A #18)."""
        return self._shared(req, ws, ws.projects, "project_id")

    def user_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{user_id}/files/{file_id}`` (reference §1A #9, §3.3)."""
        fid, uid = req.params["file_id"], req.params["user_id"]
        a = ws.attachments.get(fid)
        if a is None or a.kind != USER_FILE or a.user_id != uid:
            return error_response(
                404, f"File '{fid}' not found for user '{uid}'.", code="not_found"
            )
        conv_id = (req.query.get("conversation_id") or [""])[-1]
        if a.needs_conversation_id and not conv_id:
            return error_response(
                400,
                "conversation_id is required to download audio and video files.",
                code="missing_required_parameter",
                param="conversation_id",
            )
        if conv_id and conv_id != a.conversation_id:
            return error_response(
                404, f"File '{fid}' not found in conversation '{conv_id}'.", code="not_found"
            )
        now = self.sim.clock.us
        if self.cfg.quirks.expired_attachments and a.uploaded_us < now - int(
            self.cfg.attachment_retention_hours * HOUR_US
        ):
            return error_response(410, f"File '{fid}' has expired.", code="file_expired")
        return Response(307, b"", [("Location", self._file_url(a))])

    def _static_file(self, req: Request, ws: Workspace, kind: str) -> Response:
        fid = req.params["file_id"]
        a = ws.attachments.get(fid)
        if a is None or a.kind != kind:
            return error_response(404, f"File '{fid}' not found.", code="not_found")
        return Response(307, b"", [("Location", self._file_url(a))])

    def gpt_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpt_files/{file_id}`` (reference §1A #8); kept indefinitely."""
        return self._static_file(req, ws, GPT_FILE)

    def project_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/project_files/{file_id}`` (reference §1A #19); kept indefinitely."""
        return self._static_file(req, ws, PROJECT_FILE)


class _NotFound(Exception):
    """A GPT or project id that does not exist."""
