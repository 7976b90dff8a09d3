"""Requests and responses of the API host; OpenAI-style error bodies (reference §6 #4)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class Request:
    """A parsed API request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    template: str
    params: dict[str, str]
