"""Readable, actionable messages for the Compliance API's error answers."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from urllib3.exceptions import ConnectTimeoutError

from tap_chatgpt_compliance.settings import DEFAULT_API_URL
from tap_chatgpt_compliance.storage_faults import storage_fix

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
    except (ValueError, RecursionError):  # not JSON, or JSON nested too deeply to parse
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
    organization = _organization_in(path)
    if organization is not None and status in (403, 404):
        return _organization_error(status, path, organization, event_type, detail)
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
            f"{DEFAULT_API_URL} ({detail}). Check workspace_id in chatgpt.com/admin "
            "→ Workspace details."
        )
    if status == 422:
        return f"HTTP 422 on {path}: the API rejected the request ({detail})."
    return f"HTTP {status} on {path}: {detail}"


def _organization_in(path: str) -> str | None:
    """Return the organization id of an ``/compliance/organizations/{org}/…`` path, if any."""
    parts = path.split("/")
    for index, part in enumerate(parts[:-2]):
        if part == "compliance" and parts[index + 1] == "organizations":
            return parts[index + 2]
    return None


def _organization_error(
    status: int, path: str, organization: str, event_type: str | None, detail: str
) -> str:
    """Name organization_id (not workspace_id) for a 403/404 on the organization's routes."""
    if status == 404:
        return (
            f"HTTP 404 on {path}: organization_id {organization} was not found ({detail}): it is "
            "not the OpenAI organization of this workspace, or api_url is not "
            f"{DEFAULT_API_URL}. Check organization_id (platform.openai.com → Settings → "
            "Organization), or leave it unset and drop org-scoped event types such as COSTS."
        )
    scope = scope_for_path(path, event_type)
    return (
        f"HTTP 403 on {path}: the key may not read this: it lacks the scope {scope} or is not "
        f"a key of organization_id {organization} ({detail}). Ask the organization owner to "
        "grant that scope to the key, or check organization_id."
    )


class RecordTooLarge(ComplianceAPIError):
    """A Singer line would exceed ``max_record_bytes`` (and so, by default, Meltano's limit)."""


class ListingError(ComplianceAPIError):
    """The log listing cannot be trusted (out of order, or stuck on ``has_more``)."""


NOTHING_SKIPPED = (
    "Nothing was skipped: the bookmark stays at the last log file fully archived, so a rerun "
    "resumes there."
)
_ERRNO = re.compile(r"\[Errno [^\]]+\] [^'\")]+")
MAX_LINE = 2000


def fatal_message(exc: BaseException) -> str:
    """Return the one readable line that ends a run failed by ``exc`` (never a traceback).

    Messages name the host only (never a full URL: signed URLs carry signatures), and the
    setting or the action that fixes the problem.
    """
    tries = getattr(exc, "tries", None)
    after = f" after {tries} tries" if tries and tries > 1 else ""
    if isinstance(exc, ConfigValidationError):
        text = " | ".join(str(error) for error in exc.errors) or str(exc)
    elif isinstance(exc, FatalAPIError):
        text = str(exc)
    elif isinstance(exc, RetriableAPIError):
        text = (
            f"{str(exc).rstrip('.')}: still failing{after} (max_retries, max_retry_wait). "
            f"{NOTHING_SKIPPED} "
            "Rerun later, or raise max_retries / max_retry_wait."
        )
    elif isinstance(exc, requests.exceptions.Timeout):
        text = (
            f"No answer from {_host(exc)} within request_timeout{after}. {NOTHING_SKIPPED} "
            "Rerun later, or raise request_timeout."
        )
    elif isinstance(exc, requests.exceptions.ConnectionError):
        text = _connection_message(exc, after)
    elif isinstance(exc, requests.exceptions.ContentDecodingError):
        text = (
            f"An answer of {_host(exc)} could not be decoded: its Content-Encoding does not "
            f"match its body{after} (a proxy or gateway rewriting the API's answers?). "
            f"{NOTHING_SKIPPED} Check the proxy between the tap and the API, or rerun later."
        )
    elif isinstance(exc, requests.exceptions.RequestException):
        text = (
            f"The connection to {_host(exc)} failed while reading a response "
            f"({type(exc).__name__}){after}. {NOTHING_SKIPPED} Rerun later."
        )
    elif isinstance(exc, BrokenPipeError):
        text = (
            "The tap's output was closed (broken pipe): the target or the process reading the "
            f"tap stopped; see its log. {NOTHING_SKIPPED}"
        )
    elif isinstance(exc, OSError):
        text = (
            f"{type(exc).__name__}: {exc}. {storage_fix(exc, 'file_storage_url')} {NOTHING_SKIPPED}"
        )
    else:
        text = (
            f"Unexpected error {type(exc).__name__}: {exc}. {NOTHING_SKIPPED} Set "
            "TAP_CHATGPT_COMPLIANCE_LOGLEVEL=DEBUG to log where it happened, and report it."
        )
    line = " ".join(text.split())
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def _connection_message(exc: requests.exceptions.ConnectionError, after: str) -> str:
    """Return the line of a connection that failed: never made, broken, or stopped mid-body."""
    if _mid_body(exc):
        return (
            f"{_host(exc, 'The server')} answered, then sent nothing for request_timeout "
            f"while the body was being read{after}. {NOTHING_SKIPPED} Rerun later, or raise "
            "request_timeout."
        )
    if getattr(exc, "signed_download", False):  # a download host the API redirected to
        what = "the download host the API redirected to (a signed URL)"
        check = "check that this machine may reach it: DNS, proxy and firewall"
        tls = "check the CA bundle (REQUESTS_CA_BUNDLE) and any proxy that intercepts TLS"
    else:
        what = ""
        check = f"check api_url (OpenAI's is {DEFAULT_API_URL}), DNS, proxy and firewall"
        tls = "check api_url, the CA bundle (REQUESTS_CA_BUNDLE) and any proxy that intercepts TLS"
    host = f"{_host(exc)}, {what}," if what else _host(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"No TLS connection to {host} ({_reason(exc)}){after}: {tls}. {NOTHING_SKIPPED}"
    if never_connected(exc):
        elapsed = getattr(exc, "elapsed", None)
        over = f" over {elapsed:.0f} s" if after and isinstance(elapsed, int | float) else ""
        return f"Cannot reach {host} ({_reason(exc)}){after}{over}: {check}. {NOTHING_SKIPPED}"
    return (
        f"The connection to {_host(exc)} broke before its answer ({_reason(exc)}){after}. "
        f"{NOTHING_SKIPPED} Rerun later; if it persists, check the proxy and firewall "
        "between the tap and the API."
    )


def never_connected(exc: BaseException | None) -> bool:
    """Whether a request failed before reaching any server (name, refused, connect timeout).

    ``requests`` raises a ConnectionError around urllib3's NewConnectionError (a name that does
    not resolve, a refused connection; a ConnectTimeoutError) or ConnectTimeout; a proxy that
    cannot be reached is a ProxyError; a TLS handshake refused is an SSLError. A reset or a
    timeout once connected is none of these.
    """
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ProxyError):
        return True
    if isinstance(exc, requests.exceptions.SSLError):  # no TLS connection: a CA or proxy setup
        return True
    return any(isinstance(getattr(arg, "reason", arg), ConnectTimeoutError) for arg in exc.args)


def shown_host(url: str) -> str:
    """Return a URL's ``host[:port]`` as a message may show it: never its ``user:password@``."""
    return urlparse(url).netloc.rpartition("@")[2]


def shown_origin(url: str, unknown: str = "the Compliance API") -> str:
    """Return ``scheme://host[:port]`` of a URL (no credentials, path or query), or ``unknown``."""
    host = shown_host(url)
    return f"{urlparse(url).scheme}://{host}" if host else unknown


def _host(exc: requests.exceptions.RequestException, unknown: str = "the Compliance API") -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    return shown_origin(str(url), unknown) if url else unknown


def _mid_body(exc: BaseException) -> bool:
    """Whether a ConnectionError is a read timeout while a body streamed (the host answered).

    ``requests`` turns urllib3's ReadTimeoutError during ``iter_content`` into a bare
    ConnectionError without its request: it is not a host that cannot be reached.
    """
    return "Read timed out" in str(exc) and getattr(exc, "request", None) is None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(0).strip()
    if "NameResolution" in text or "resolve" in text:
        return "host name not found"
    if "Connection aborted" in text or "reset" in text.lower():
        return "connection reset"
    return type(exc).__name__
