"""HTTP plumbing of both hosts: listeners, the handler, and the request pipeline.

Pipeline of every request: route → count → latency → 405 (any non-GET) → 404 (no route) →
injected or random fault → signed host or :class:`.api.ApiApp`.
"""

from __future__ import annotations

import email.utils
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api import ApiApp
from .faults import (
    BODY,
    LISTING_HANDLERS,
    PAGE,
    REDIRECT,
    RESET,
    SHAPE,
    STATUS,
    TRICKLE,
    TRUNCATE,
    FaultEngine,
    reshape,
)
from .responses import Request, Response, error_response, server_error
from .routes import GET_ROUTES, SIGNED_ROUTE, UNMATCHED, match_route
from .signed import s3_error, serve_signed
from .state import SimState


class RequestCounts:
    """Requests received per (method, route template), and the number of non-GET requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._non_get = 0
        self._header_names: Counter[str] = Counter()

    def add(self, method: str, template: str, headers: Iterable[str] = ()) -> None:
        """Count one request (and the names of its headers)."""
        with self._lock:
            self._counts[(method, template)] += 1
            self._header_names.update(name.lower() for name in headers)
            if method != "GET":
                self._non_get += 1

    def count(self, route: str | None, method: str) -> int:
        """Return the requests of ``method`` to ``route`` (``None``: any route)."""
        with self._lock:
            if route is None:
                return sum(n for (m, _), n in self._counts.items() if m == method)
            return self._counts[(method, route)]

    def header_names(self) -> dict[str, int]:
        """Return the lower-cased names of the request headers received, with counts."""
        with self._lock:
            return dict(self._header_names)

    @property
    def non_get(self) -> int:
        """Number of non-GET requests."""
        return self._non_get

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._counts.clear()
            self._header_names.clear()
            self._non_get = 0


class Frontend:
    """Runs the request pipeline shared by the API host and the signed host."""

    def __init__(self, state: SimState, faults: FaultEngine) -> None:
        self.config = state.config
        self.signed = state.signed
        self.faults = faults
        self.counts = RequestCounts()
        self.app = ApiApp(state)
        self.now_us = state.now_us
        """The simulated clock: the ``Date`` header tells simulated time, as the real API's does."""

    def serve(self, h: Handler, method: str, signed: bool) -> None:
        """Answer the request ``h`` received on the API host or (``signed``) the signed host."""
        split = urlsplit(h.path)
        path = split.path
        if signed:
            template: str | None = SIGNED_ROUTE
            params: dict[str, str] = {}
        else:
            template, params = match_route(path, method)
        self.counts.add(method, template or UNMATCHED, () if signed else h.headers.keys())
        latency_ms = self.config.faults.latency_ms
        if latency_ms:
            time.sleep(latency_ms / 1000.0)
        if method != "GET":
            h.send(
                error_response(
                    405,
                    f"Method {method} is not allowed: this simulator is read-only.",
                    code="method_not_allowed",
                )
                if not signed
                else Response(
                    405,
                    s3_error("MethodNotAllowed", "Read-only host"),
                    [("Content-Type", "application/xml")],
                )
            )
            return
        if template is None:
            h.send(error_response(404, f"Invalid URL (GET {path})", code="unknown_url"))
            return
        listing = not signed and GET_ROUTES.get(template, ("", 0))[0] in LISTING_HANDLERS
        action = self.faults.next_action(template, listing)
        if action is not None and action.kind == RESET:
            h.reset()
            return
        if action is not None and action.kind == STATUS:
            resp = (
                server_error(action.status)
                if action.status >= 500
                else error_response(
                    action.status, f"Injected error {action.status}.", code="injected"
                )
            )
            if action.retry_after is not None:
                resp.headers.append(("Retry-After", str(action.retry_after)))
            h.send(resp)
            return
        if action is not None and action.kind == REDIRECT:
            h.send(Response(307, b"", [("Location", action.location)]))
            return
        if action is not None and action.kind == PAGE:
            h.send(Response(200, action.page.encode(), [("Content-Type", "text/html")]))
            return
        if action is not None and action.kind == BODY:
            h.send(Response(action.status, action.body, list(action.headers)))
            return
        truncate = action is not None and action.kind == TRUNCATE
        if signed:
            resp = serve_signed(self.signed, h.headers.get("Authorization") is not None, path)
        else:
            query = parse_qs(split.query, keep_blank_values=True)
            headers = {k.lower(): v for k, v in h.headers.items()}
            resp = self.app.serve(Request(method, path, query, headers, template, params))
        if action is not None and action.kind == SHAPE and listing:
            resp = reshape(resp, action.shape)
        trickle = None
        if action is not None and action.kind == TRICKLE:
            trickle = (action.trickle_bytes, action.trickle_interval)
        h.send(resp, truncate=truncate, trickle=trickle)


class Listener(ThreadingHTTPServer):
    """One loopback listener (the API host or the signed host)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], frontend: Frontend, signed: bool) -> None:
        super().__init__(addr, Handler)
        self.frontend = frontend
        self.signed = signed


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler; every method goes through :meth:`Frontend.serve`."""

    protocol_version = "HTTP/1.1"
    server_version = "chatgpt-compliance-simulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60
    server: Listener

    def version_string(self) -> str:
        """Return the Server header value."""
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Return the ``Date`` header in simulated time (clients may compare it with end_time)."""
        if timestamp is None:
            timestamp = self.server.frontend.now_us() / 1_000_000
        timestamp += self.server.frontend.config.faults.date_offset_seconds
        return email.utils.formatdate(timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _any(self) -> None:
        method = self.command
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            self.server.frontend.serve(self, method, self.server.signed)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

    def send(
        self,
        resp: Response,
        truncate: bool = False,
        trickle: tuple[int, float] | None = None,
    ) -> None:
        """Write ``resp``; with ``truncate`` send half the body and close.

        With ``trickle`` = (bytes, seconds), the body goes out that many bytes at a time with
        that pause between writes (a stalled download; the headers go out at once).
        """
        body = resp.body
        length = resp.length if resp.chunks is not None else len(body)
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = length // 2 if truncate else length
        if trickle is not None:
            self._trickle(resp, limit, *trickle)
        elif resp.chunks is not None:
            sent = 0
            for chunk in resp.chunks:
                if sent >= limit:
                    break
                part = chunk[: limit - sent]
                self.wfile.write(part)
                sent += len(part)
        elif body:
            self.wfile.write(body[:limit])
        if truncate:
            self.close_connection = True

    def _trickle(self, resp: Response, limit: int, size: int, pause: float) -> None:
        chunks = resp.chunks if resp.chunks is not None else [resp.body]
        sent = 0
        for chunk in chunks:
            for start in range(0, len(chunk), size):
                if sent >= limit:
                    return
                part = chunk[start : start + size][: limit - sent]
                self.wfile.write(part)
                self.wfile.flush()
                sent += len(part)
                if sent < limit:
                    time.sleep(pause)

    def reset(self) -> None:
        """Abort the connection with a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
