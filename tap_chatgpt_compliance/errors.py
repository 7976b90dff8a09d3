"""Readable, actionable messages for the Compliance API's error answers."""

from __future__ import annotations

import json
import typing as t
from urllib.parse import urlparse

from singer_sdk.exceptions import FatalAPIError

if t.TYPE_CHECKING:
    import requests

KEY_HELP = (
    "Create a new key in the OpenAI Admin Console (Credentials → Admin keys, with the "
    "Compliance API read scopes) and set api_key."
)


class ComplianceAPIError(FatalAPIError):
    """A fatal error whose message is one readable line for the operator."""


def server_message(response: requests.Response, limit: int = 300) -> str:
    """Return the API's own error text (OpenAI-style or FastAPI-style body), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:limit].strip()
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:limit]
        detail = body.get("detail")
        if isinstance(detail, list):
            return "; ".join(
                str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail
            )[:limit]
        if detail:
            return str(detail)[:limit]
        if body.get("message"):
            return str(body["message"])[:limit]
    return json.dumps(body)[:limit]


def scope_for_path(path: str, event_type: str | None = None) -> str:
    """Name the key scope that a route needs, for the 403 message."""
    if "/logs" in path or "max_event_time" in path:
        suffix = f".{event_type.lower()}" if event_type else ""
        return f"chatgpt.enterprise.compliance_logs_platform{suffix}.read"
    return "chatgpt.enterprise.compliance_export.read"


def describe_http_error(
    response: requests.Response,
    *,
    workspace_id: str,
    event_type: str | None = None,
) -> str:
    """Build the one-line message for a fatal HTTP status of the API host."""
    status = response.status_code
    path = urlparse(response.url).path
    detail = server_message(response)
    if status == 401:
        return (
            f"HTTP 401 from the Compliance API: api_key is wrong or was revoked ({detail}). "
            f"{KEY_HELP}"
        )
    if status == 403:
        scope = scope_for_path(path, event_type)
        return (
            f"HTTP 403 on {path}: the key may not read this: it lacks the scope {scope} or "
            f"belongs to another workspace than workspace_id {workspace_id} ({detail}). Ask "
            "the workspace owner to grant that scope to the key, or use this workspace's key."
        )
    if status == 404:
        return (
            f"HTTP 404 on {path}: workspace_id {workspace_id} was not found, or its plan has no "
            "Compliance API (Enterprise/Edu only), or api_url is not "
            f"https://api.chatgpt.com/v1 ({detail}). Check workspace_id in chatgpt.com/admin "
            "→ Workspace details."
        )
    if status == 422:
        return f"HTTP 422 on {path}: the API rejected the request ({detail})."
    return f"HTTP {status} on {path}: {detail}"
