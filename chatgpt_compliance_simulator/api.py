"""The API host after routing: key (401), rate limit (429), principal (404/403), scope, endpoint.

Order of checks (docs/simulator.md): 401 → 429 → 404 → 403 → scope. Gen-1 routes check the
export scope before validating (422); log routes validate first, then check each type.
"""

from __future__ import annotations

from .inventory_api import InventoryApi
from .logs_api import LogsApi
from .ratelimit import RateLimiter
from .responses import Request, Response, error_response, json_response
from .routes import GET_ROUTES, SHARED_BUCKETS
from .state import SimState
from .validation import ValidationError, export_scope_error

_LOG_ENDPOINTS = ("list_logs", "download_log", "max_event_time")


class ApiApp:
    """Answers the GET requests that matched a route of :data:`.routes.GET_ROUTES`."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        cfg = state.config
        self.limiter = RateLimiter(cfg.speed, cfg.rate_limits)
        self.logs = LogsApi(state)
        self.rest = InventoryApi(state)

    def serve(self, req: Request) -> Response:
        """Authenticate, rate-limit and authorise ``req``, then run its endpoint."""
        auth = req.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        info = self.state.key_info(key.strip()) if scheme.lower() == "bearer" else None
        if info is None or info.revoked:
            return error_response(
                401,
                "Incorrect API key provided."
                if auth
                else "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        per_minute = GET_ROUTES[req.template][1]
        bucket = SHARED_BUCKETS.get(req.template, req.template)
        retry = self.limiter.check(key.strip(), bucket, per_minute)
        if retry is not None:
            return error_response(
                429,
                f"Rate limit reached for {req.template}: {per_minute} requests per minute. "
                f"Please try again in {retry}s.",
                code="rate_limit_exceeded",
                headers=[("Retry-After", str(retry))],
            )
        org = "organization_id" in req.params
        if org:
            ws = self.state.workspace_of_org(req.params["organization_id"])
            what = f"Organization '{req.params['organization_id']}'"
        else:
            ws = self.state.workspace(req.params["workspace_id"])
            what = f"Workspace '{req.params['workspace_id']}'"
        if ws is None or not ws.compliance_enabled:
            return error_response(404, f"{what} not found.", code="not_found")
        if info.workspace_id != ws.id:
            return error_response(
                403, f"This API key is not authorized for {what.lower()}.", code="forbidden"
            )
        name = GET_ROUTES[req.template][0]
        try:
            if name in _LOG_ENDPOINTS:
                return getattr(self.logs, name)(req, info.scopes, ws, org)
            err = export_scope_error(info.scopes)
            if err:
                return err
            return getattr(self.rest, name)(req, ws)
        except ValidationError as e:
            return json_response(422, {"detail": e.details})
