"""Run-time control of a served simulator: keys and clock, from another process.

``chatgpt-compliance-simulator serve`` starts this small JSON API on its own loopback port
(``admin_url:`` in its output), apart from the API host, whose request counters it never touches.
``chatgpt-compliance-simulator key create|revoke|rotate`` and ``clock advance|show`` call it.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Simulator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class AdminError(Exception):
    """A refused admin request: one line for the operator."""


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h``, ``1.5d`` -> a positive timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise AdminError(f"{text!r} is not a duration: use e.g. 90s, 15m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])


def handle(sim: Simulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply one admin request to ``sim`` and return the JSON answer."""
    tenants = {t.workspace_id: t for t in sim.tenants}

    def workspace() -> str:
        wid = str(body.get("workspace_id") or sim.workspace_id)
        if wid not in tenants:
            raise AdminError(f"unknown workspace_id {wid!r}: one of {sorted(tenants)}")
        return wid

    if path == "/keys/create":
        scopes = body.get("scopes")
        key = sim.issue_key(workspace(), set(scopes) if scopes else None)
        return {"api_key": key, "workspace_id": workspace()}
    if path == "/keys/revoke":
        key = str(body.get("api_key") or "")
        if not key:
            raise AdminError("api_key is required")
        try:
            sim.revoke_key(key)
        except KeyError:
            raise AdminError("unknown api_key") from None
        return {"revoked": True}
    if path == "/keys/rotate":
        wid = workspace()
        old = str(body.get("api_key") or tenants[wid].api_key)
        new = sim.issue_key(wid)
        try:
            sim.revoke_key(old)
        except KeyError:
            raise AdminError("unknown api_key") from None
        return {"api_key": new, "revoked": old, "workspace_id": wid}
    if path == "/clock/advance":
        sim.advance(parse_duration(str(body.get("by") or "")))
        return {"now": sim.now().isoformat()}
    if path == "/clock":
        return {"now": sim.now().isoformat()}
    raise AdminError(f"no admin route {path}")


def serve(sim: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    """Start the admin API in a daemon thread; return the server (``server_address``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            """Read-only routes."""
            self._dispatch({})

        def do_POST(self) -> None:
            """Serve the changing routes (a JSON object body)."""
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400, {"error": "the body is not JSON"})
                return
            self._dispatch(body if isinstance(body, dict) else {})

        def _dispatch(self, body: dict[str, Any]) -> None:
            try:
                self._answer(200, handle(sim, self.path, body))
            except AdminError as exc:
                self._answer(400, {"error": str(exc)})

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="sim-admin").start()
    return server


def call(admin_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a served simulator's admin API; AdminError with its one-line message on refusal."""
    if not admin_url.startswith(("http://", "https://")):
        raise AdminError(f"--admin {admin_url!r} is not an http URL: use the printed admin_url")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        admin_url.rstrip("/") + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - operator's URL
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or str(exc)
        except ValueError:
            message = str(exc)
        raise AdminError(message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise AdminError(f"cannot reach the simulator's admin API at {admin_url} ({exc})") from None
