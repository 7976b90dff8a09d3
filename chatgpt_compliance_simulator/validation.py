"""Query validation (FastAPI-style 422 details) and scope checks (403) of the API host."""

from __future__ import annotations

from typing import Any

from .clock import NaiveTimeError, parse_iso
from .config import ORG_EVENT_TYPES, SCOPE_BY_TYPE, SCOPE_EXPORT_READ, SCOPE_LOGS_ALL
from .responses import Request, Response, error_response


class ValidationError(Exception):
    """Collects FastAPI-style 422 details."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(details)
        self.details = details


def detail(loc: str, msg: str, typ: str, value: Any = None) -> dict[str, Any]:
    """One FastAPI error detail about query parameter ``loc``."""
    d: dict[str, Any] = {"loc": ["query", loc], "msg": msg, "type": typ}
    if value is not None:
        d["input"] = value
    return d


def time_param(req: Request, name: str, required: bool) -> int | None:
    """Parse an ISO 8601 query parameter with a zone (microseconds), or None when absent."""
    values = req.query.get(name)
    if not values:
        if required:
            raise ValidationError([detail(name, "Field required", "missing")])
        return None
    raw = values[-1]
    try:
        return parse_iso(raw)
    except NaiveTimeError:
        raise ValidationError(
            [detail(name, "Input should have timezone info", "timezone_aware", raw)]
        ) from None
    except ValueError:
        raise ValidationError(
            [
                detail(
                    name,
                    "Input should be a valid datetime or date, invalid character",
                    "datetime_from_date_parsing",
                    raw,
                )
            ]
        ) from None


def limit_param(req: Request, default: int, maximum: int, clamp: bool) -> int:
    """Parse ``limit`` (≥ 1; above ``maximum``: clamped or 422)."""
    values = req.query.get("limit")
    if not values:
        return default
    raw = values[-1]
    try:
        n = int(raw)
    except ValueError:
        raise ValidationError(
            [
                detail(
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
                detail(
                    "limit", "Input should be greater than or equal to 1", "greater_than_equal", raw
                )
            ]
        )
    if n > maximum:
        if clamp:
            return maximum
        raise ValidationError(
            [
                detail(
                    "limit",
                    f"Input should be less than or equal to {maximum}",
                    "less_than_equal",
                    raw,
                )
            ]
        )
    return n


def event_types_param(
    req: Request, org: bool, known: tuple[str, ...], org_types: tuple[str, ...] = ORG_EVENT_TYPES
) -> list[str]:
    """Parse the repeatable ``event_type`` (distinct, in order; reference §1B L1, §6 #10).

    Repeatable means the key repeated: a comma-joined value is one unknown type (422).
    ``org_types``: the organization-scoped ones (the others are the workspace's).
    """
    values = req.query.get("event_type")
    if not values:
        raise ValidationError([detail("event_type", "Field required", "missing")])
    types: list[str] = []
    for t in values:
        if t not in known:
            allowed = ", ".join(f"'{x}'" for x in known)
            raise ValidationError([detail("event_type", f"Input should be {allowed}", "enum", t)])
        if org and t not in org_types:
            raise ValidationError(
                [
                    detail(
                        "event_type",
                        f"{t} is a workspace-scoped event type. Use "
                        "/v1/compliance/workspaces/{workspace_id}/logs instead.",
                        "value_error",
                        t,
                    )
                ]
            )
        if not org and t in org_types:
            raise ValidationError(
                [
                    detail(
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


def file_format_param(req: Request) -> str:
    """Parse ``file_format`` (``url``, the default, or ``id``)."""
    ff = (req.query.get("file_format") or ["url"])[-1]
    if ff not in ("url", "id"):
        raise ValidationError([detail("file_format", "Input should be 'url' or 'id'", "enum", ff)])
    return ff


def type_scope_error(scopes: frozenset[str], event_type: str) -> Response | None:
    """403 unless ``scopes`` may read logs of ``event_type``."""
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


def export_scope_error(scopes: frozenset[str]) -> Response | None:
    """403 unless ``scopes`` may use the Gen-1 reads and file downloads."""
    if SCOPE_EXPORT_READ in scopes:
        return None
    return error_response(
        403,
        "You have insufficient permissions for this operation. Missing scopes: "
        f"{SCOPE_EXPORT_READ}.",
        code="missing_scope",
    )
