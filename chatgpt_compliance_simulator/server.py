"""The :class:`Simulator`: two loopback listeners (API and signed-URL host) over the model."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api import (
    GET_ROUTES,
    UNMATCHED,
    ApiApp,
    Request,
    Response,
    error_response,
    match_route,
    server_error,
)
from .clock import US, Clock, to_us
from .config import ALL_READ_SCOPES, Faults, Oddities, SimulatorConfig
from .faults import RESET, STATUS, TRUNCATE, FaultAction, FaultEngine
from .generator import DAY_US, Workspace, rand_token
from .ratelimit import RateLimiter
from .signed import SignedStore, s3_error

SIGNED_ROUTE = "signed"


@dataclass
class Tenant:
    """One workspace with its first API key and its organization."""

    workspace_id: str
    api_key: str
    organization_id: str
    compliance_enabled: bool = True


@dataclass
class KeyInfo:
    """An API key: the tenant it belongs to, its scopes, whether it is revoked."""

    workspace_id: str
    scopes: frozenset[str]
    revoked: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler: type, sim: Simulator, signed: bool) -> None:
        super().__init__(addr, handler)
        self.sim = sim
        self.signed = signed


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chatgpt-compliance-simulator"
    sys_version = ""

    def version_string(self) -> str:
        """Return the Server header value."""
        return self.server_version

    disable_nagle_algorithm = True
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _any(self) -> None:
        method = self.command
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            self.server.sim._serve(self, method, self.server.signed)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

    def send(self, resp: Response, truncate: bool = False) -> None:
        """Write ``resp``; with ``truncate`` send half the body and close."""
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
        if resp.chunks is not None:
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

    def reset(self) -> None:
        """Abort the connection with a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class Simulator:
    """A local, faithful simulator of the ChatGPT Enterprise Compliance API.

    ``Simulator(cfg)`` or ``Simulator(**overrides)`` generates the data at once; ``start()``
    opens the listeners. Also a context manager.
    """

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        cfg = config or SimulatorConfig()
        if overrides:
            cfg = cfg.with_overrides(**overrides)
        if cfg.faults is None:
            cfg.faults = Faults()
        if cfg.oddities is None:
            cfg.oddities = Oddities()
        self.config = cfg
        self.clock = Clock(cfg.start)
        self._lock = threading.RLock()
        self._workspaces: list[Workspace] = []
        self._ws_by_id: dict[str, Workspace] = {}
        self._ws_by_org: dict[str, Workspace] = {}
        self._keys: dict[str, KeyInfo] = {}
        self._key_rng = random.Random(f"{cfg.seed}:keys")
        self.tenants: list[Tenant] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._non_get = 0
        self._corrupt_sha: dict[str, int | None] = {}
        self._faults = FaultEngine(cfg.faults, cfg.seed)
        self._limiter = RateLimiter(cfg.speed, cfg.rate_limits)
        self._signed = SignedStore(cfg.seed, cfg.signed_url_ttl, cfg.faults.expired_signed_url_rate)
        self._app = ApiApp(self)
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._stop_auto = threading.Event()
        self.base_url = ""
        self.signed_base_url = ""
        for _ in range(cfg.tenants):
            self._create_workspace(True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        """Open both listeners on the configured host (free ports by default)."""
        if self._servers:
            return self
        cfg = self.config
        api = _Server((cfg.host, cfg.port), _Handler, self, signed=False)
        signed = _Server((cfg.host, cfg.signed_port), _Handler, self, signed=True)
        self._servers = [api, signed]
        self.base_url = f"http://{cfg.host}:{api.server_address[1]}/v1"
        self.signed_base_url = f"http://{cfg.host}:{signed.server_address[1]}"
        self._signed.base_url = self.signed_base_url
        for srv in self._servers:
            t = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name="chatgpt-sim-http",
            )
            t.start()
            self._threads.append(t)
        if cfg.auto_advance:
            self._stop_auto.clear()
            t = threading.Thread(target=self._auto_advance, daemon=True, name="chatgpt-sim-clock")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Close the listeners."""
        self._stop_auto.set()
        stoppers = [threading.Thread(target=srv.shutdown) for srv in self._servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for srv in self._servers:
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> Simulator:
        """Start and return the simulator."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the simulator."""
        self.stop()

    def _auto_advance(self) -> None:
        last = time.monotonic()
        while not self._stop_auto.wait(1.0):
            now = time.monotonic()
            self.advance(timedelta(seconds=(now - last) * self.config.speed))
            last = now

    # ------------------------------------------------------------------ tenants and keys
    def _create_workspace(self, compliance_enabled: bool) -> Tenant:
        with self._lock:
            ws = Workspace(self.config, len(self._workspaces), compliance_enabled)
            ws.populate(self.clock.us)
            self._workspaces.append(ws)
            self._ws_by_id[ws.id] = ws
            self._ws_by_org[ws.org_id] = ws
            key = self.issue_key(ws.id)
            tenant = Tenant(ws.id, key, ws.org_id, compliance_enabled)
            self.tenants.append(tenant)
            return tenant

    def add_workspace(self, compliance_enabled: bool = False) -> Tenant:
        """Add a workspace; ``compliance_enabled=False`` = a plan without the API (→ 404)."""
        return self._create_workspace(compliance_enabled)

    def issue_key(
        self, workspace_id: str, scopes: set[str] | None = None, revoked: bool = False
    ) -> str:
        """Create an API key for ``workspace_id`` (``scopes=None``: every read scope)."""
        with self._lock:
            if workspace_id not in self._ws_by_id:
                raise KeyError(f"unknown workspace {workspace_id}")
            key = "sk-proj-" + rand_token(self._key_rng, 48)
            self._keys[key] = KeyInfo(
                workspace_id, frozenset(ALL_READ_SCOPES if scopes is None else scopes), revoked
            )
            return key

    def revoke_key(self, key: str) -> None:
        """Revoke ``key`` (it then gets 401)."""
        with self._lock:
            self._keys[key].revoked = True

    @property
    def workspace_id(self) -> str:
        """Workspace id of the first tenant."""
        return self.tenants[0].workspace_id

    @property
    def api_key(self) -> str:
        """API key of the first tenant."""
        return self.tenants[0].api_key

    @property
    def organization_id(self) -> str:
        """Organization id of the first tenant."""
        return self.tenants[0].organization_id

    def _ws(self, workspace_id: str | None) -> Workspace:
        return self._ws_by_id[workspace_id or self.workspace_id]

    # ------------------------------------------------------------------ clock
    def now(self) -> datetime:
        """Return the simulated time (tz-aware UTC)."""
        return self.clock.now()

    def advance(self, delta: timedelta) -> None:
        """Move the clock by ``delta`` and generate the activity of that interval."""
        step = int(delta.total_seconds() * US)
        if step <= 0:
            return
        with self._lock:
            start = self.clock.us
            # big jumps are generated a day at a time to keep memory flat
            t = start
            end = start + step
            while t < end:
                nxt = min(end, t + DAY_US)
                for ws in self._workspaces:
                    ws.advance(t, nxt)
                t = nxt
                self.clock.set_us(nxt)

    def advance_to(self, when: datetime) -> None:
        """Advance to an absolute simulated time."""
        self.advance(timedelta(microseconds=to_us(when) - self.clock.us))

    # ------------------------------------------------------------------ inspection
    def ground_truth(
        self, workspace_id: str | None = None, *, published_only: bool = True
    ) -> dict[str, Any]:
        """Everything in the workspace as of ``now()`` (see docs/simulator.md)."""
        with self._lock:
            return self._ws(workspace_id).ground_truth(self.clock.us, published_only)

    def log_files(
        self, workspace_id: str | None = None, event_type: str = "CONVERSATION_MESSAGE"
    ) -> list[dict[str, Any]]:
        """Metadata of the files currently listed (true sha256, within retention)."""
        with self._lock:
            ws = self._ws(workspace_id)
            stream = ws.org_streams.get(event_type) or ws.streams[event_type]
            retention = int(self.config.retention_days * DAY_US)
            return [f.metadata() for f in stream.visible(self.clock.us, retention)]

    def log_file_bytes(self, log_file_id: str, workspace_id: str | None = None) -> bytes:
        """Return the bytes served for a log file."""
        ws = self._ws(workspace_id)
        f = ws.files_by_id.get(log_file_id) or ws.org_files_by_id[log_file_id]
        return f.body

    @property
    def non_get_count(self) -> int:
        """Number of non-GET requests received on either host."""
        return self._non_get

    def request_count(self, route: str | None = None, method: str = "GET") -> int:
        """Count requests received by route template (``"signed"`` for the signed host)."""
        with self._lock:
            if route is None:
                return sum(n for (m, _), n in self._counts.items() if m == method)
            return self._counts[(method, route)]

    def reset_counters(self) -> None:
        """Zero the request counters."""
        with self._lock:
            self._counts.clear()
            self._non_get = 0

    # ------------------------------------------------------------------ faults
    def inject(
        self,
        route: str,
        *,
        status: int | None = None,
        reset: bool = False,
        truncate: bool = False,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` requests to ``route`` (template or ``"signed"``) fail."""
        if route != SIGNED_ROUTE and route not in GET_ROUTES:
            raise ValueError(f"unknown route template {route!r}")
        if reset:
            action = FaultAction(RESET)
        elif truncate:
            action = FaultAction(TRUNCATE)
        else:
            action = FaultAction(STATUS, status or 500, retry_after)
        self._faults.inject(route, action, count)

    def corrupt_sha(self, log_file_id: str, count: int | None = None) -> None:
        """Make listings report a wrong ``file_sha256`` for a file (forever, or ``count`` times)."""
        with self._lock:
            self._corrupt_sha[log_file_id] = count

    def expire_signed_urls_for(self, count: int = 1) -> None:
        """Make the next ``count`` signed URLs minted are already expired."""
        with self._lock:
            self._signed.expire_next += count

    # ------------------------------------------------------------------ request handling
    def _serve(self, h: _Handler, method: str, signed: bool) -> None:
        split = urlsplit(h.path)
        path = split.path
        if signed:
            template: str | None = SIGNED_ROUTE
            params: dict[str, str] = {}
        else:
            template, params = match_route(path, method)
        with self._lock:
            self._counts[(method, template or UNMATCHED)] += 1
            if method != "GET":
                self._non_get += 1
        faults = self.config.faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000.0)
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
        action = self._faults.next_action(template)
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
        truncate = action is not None and action.kind == TRUNCATE
        if signed:
            resp = self._serve_signed(h, path)
        else:
            query = parse_qs(split.query, keep_blank_values=True)
            req = Request(
                method, path, query, {k.lower(): v for k, v in h.headers.items()}, template, params
            )
            resp = self._serve_api(req)
        h.send(resp, truncate=truncate)

    def _serve_signed(self, h: _Handler, path: str) -> Response:
        xml = [("Content-Type", "application/xml")]
        if h.headers.get("Authorization") is not None:
            return Response(
                403,
                s3_error(
                    "InvalidArgument",
                    "Only one auth mechanism allowed; the signed URL must be fetched without an "
                    "Authorization header",
                ),
                xml,
            )
        status, obj, err = self._signed.resolve(path)
        if obj is None:
            return Response(status, err, xml)
        headers = [
            ("Content-Type", obj.content_type),
            ("Content-Disposition", f'attachment; filename="{obj.filename}"'),
        ]
        content = obj.body()
        if obj.size is not None and not isinstance(content, bytes):
            return Response(200, b"", headers, chunks=content, length=obj.size)
        return Response(200, content if isinstance(content, bytes) else b"".join(content), headers)

    def _serve_api(self, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        info = self._keys.get(key.strip()) if scheme.lower() == "bearer" else None
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
        retry = self._limiter.check(key.strip(), req.template, per_minute)
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
            ws = self._ws_by_org.get(req.params["organization_id"])
            what = f"Organization '{req.params['organization_id']}'"
        else:
            ws = self._ws_by_id.get(req.params["workspace_id"])
            what = f"Workspace '{req.params['workspace_id']}'"
        if ws is None or not ws.compliance_enabled:
            return error_response(404, f"{what} not found.", code="not_found")
        if info.workspace_id != ws.id:
            return error_response(
                403, f"This API key is not authorized for {what.lower()}.", code="forbidden"
            )
        return self._app.handle(req, info.scopes, ws, org)
