"""The :class:`Simulator`: the public facade over the state, the listeners and the oracle."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from .clock import US, to_us
from .config import BAD_SHAPES, Faults, Oddities, SimulatorConfig
from .faults import (
    BODY,
    PAGE,
    REDIRECT,
    RESET,
    SHAPE,
    STATUS,
    TRICKLE,
    TRUNCATE,
    FaultAction,
    FaultEngine,
)
from .generator import Workspace
from .httpd import Frontend, Listener
from .inventory_oracle import inventory_truth
from .knobs import Inventory
from .oracle import ground_truth
from .routes import GET_ROUTES, SIGNED_ROUTE
from .state import SimState, Tenant

__all__ = ["SIGNED_ROUTE", "Simulator", "Tenant"]


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
        if cfg.inventory is None:
            cfg.inventory = Inventory()
        self.config = cfg
        self._state = SimState(cfg)
        self.clock = self._state.clock
        self._faults = FaultEngine(cfg.faults, cfg.seed)
        self._frontend = Frontend(self._state, self._faults)
        # read by tests/chaos/schedule.py (EndTimeTies), which edits freshly cut files
        self._lock = self._state.lock
        self._workspaces = self._state.workspaces
        self.tenants: list[Tenant] = []
        self._servers: list[Listener] = []
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
        api = Listener((cfg.host, cfg.port), self._frontend, signed=False)
        signed = Listener((cfg.host, cfg.signed_port), self._frontend, signed=True)
        self._servers = [api, signed]
        self.base_url = f"http://{cfg.host}:{api.server_address[1]}/v1"
        self.signed_base_url = f"http://{cfg.host}:{signed.server_address[1]}"
        self._state.signed.base_url = self.signed_base_url
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
        with self._state.lock:
            ws = self._state.add_workspace(compliance_enabled)
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
        return self._state.issue_key(workspace_id, scopes, revoked)

    def revoke_key(self, key: str) -> None:
        """Revoke ``key`` (it then gets 401)."""
        self._state.revoke_key(key)

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
        wid = workspace_id or self.workspace_id
        ws = self._state.workspace(wid)
        if ws is None:
            raise KeyError(wid)
        return ws

    # ------------------------------------------------------------------ clock
    def now(self) -> datetime:
        """Return the simulated time (tz-aware UTC)."""
        return self.clock.now()

    def advance(self, delta: timedelta) -> None:
        """Move the clock by ``delta`` and generate the activity of that interval."""
        step = int(delta.total_seconds() * US)
        if step > 0:
            self._state.advance(step)

    def advance_to(self, when: datetime) -> None:
        """Advance to an absolute simulated time."""
        self.advance(timedelta(microseconds=to_us(when) - self.clock.us))

    # ------------------------------------------------------------------ inspection
    def ground_truth(
        self, workspace_id: str | None = None, *, published_only: bool = True
    ) -> dict[str, Any]:
        """Everything in the workspace as of ``now()`` (see docs/simulator.md)."""
        with self._state.lock:
            return ground_truth(self._ws(workspace_id), self.clock.us, published_only)

    def inventory_truth(
        self, as_of: datetime | None = None, workspace_id: str | None = None
    ) -> dict[str, Any]:
        """Every item and version the workspace held at or before ``as_of`` (default: now).

        GPT/project configurations, shared users and knowledge files, memories, canvases and
        their versions, automations, recordings, Codex tasks, library files (issue 21; see
        docs/simulator.md). ``as_of`` must not be later than ``now()``.
        """
        with self._state.lock:
            t = self.clock.us if as_of is None else to_us(as_of)
            if t > self.clock.us:
                raise ValueError("as_of is later than the simulated now")
            return inventory_truth(self._state, self._ws(workspace_id), t)

    def log_files(
        self, workspace_id: str | None = None, event_type: str = "CONVERSATION_MESSAGE"
    ) -> list[dict[str, Any]]:
        """Metadata of the files currently listed (true sha256, within retention)."""
        with self._state.lock:
            logs = self._ws(workspace_id).logs
            return [f.metadata() for f in logs.visible(event_type, self.clock.us)]

    def log_file_bytes(self, log_file_id: str, workspace_id: str | None = None) -> bytes:
        """Return the bytes served for a log file (KeyError if unknown)."""
        f = self._ws(workspace_id).logs.file(log_file_id)
        if f is None:
            raise KeyError(log_file_id)
        return f.body

    def publish_log_file(
        self,
        body: bytes,
        event_type: str = "CONVERSATION_MESSAGE",
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish a log file holding exactly ``body`` (any bytes); return its listing metadata.

        For content the generator never writes (hostile or odd lines, an empty file, a gzip
        body): the file is listed like any other (``file_size`` and ``file_sha256`` of
        ``body``, ``end_time`` now rounded up to the second, after the stream's last file) and
        downloads as these bytes.
        """
        with self._state.lock:
            logs = self._ws(workspace_id).logs
            return logs.publish(event_type, body, self.clock.us).metadata()

    @property
    def non_get_count(self) -> int:
        """Number of non-GET requests received on either host."""
        return self._frontend.counts.non_get

    def request_count(self, route: str | None = None, method: str = "GET") -> int:
        """Count requests received by route template (``"signed"`` for the signed host)."""
        return self._frontend.counts.count(route, method)

    def request_header_names(self) -> dict[str, int]:
        """Return the lower-cased names of the headers the API host received, with counts."""
        return self._frontend.counts.header_names()

    def reset_counters(self) -> None:
        """Zero the request counters."""
        self._frontend.counts.reset()

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
        shape: str | None = None,
        trickle: tuple[int, float] | None = None,
        redirect: str | None = None,
        page: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next ``count`` requests to ``route`` (template or ``"signed"``) fail.

        ``shape``: the listing page is served broken (one of ``BAD_SHAPES``; listing routes
        only). ``trickle`` = (bytes, seconds): the body goes out that many bytes at a time with
        that pause between writes. ``redirect``: the answer is a 307 to this ``Location``
        (a download sent to another host, a plain-http URL, a redirect loop, …). ``page``: the
        answer is 200 with this HTML page (a proxy or gateway answering for the host).
        ``body``: the answer is ``status`` (default 200) with exactly these bytes and
        ``headers`` (default ``Content-Type: application/json``): a page nested too deeply,
        not JSON, empty, or with a ``Content-Encoding`` it does not have.
        """
        if route != SIGNED_ROUTE and route not in GET_ROUTES:
            raise ValueError(f"unknown route template {route!r}")
        if shape is not None:
            if shape not in BAD_SHAPES:
                raise ValueError(f"unknown shape {shape!r}: one of {', '.join(BAD_SHAPES)}")
            action = FaultAction(SHAPE, shape=shape)
        elif redirect is not None:
            action = FaultAction(REDIRECT, location=redirect)
        elif page is not None:
            action = FaultAction(PAGE, page=page)
        elif body is not None:
            sent = headers if headers is not None else {"Content-Type": "application/json"}
            action = FaultAction(BODY, status or 200, body=body, headers=tuple(sent.items()))
        elif trickle is not None:
            size, pause = trickle
            action = FaultAction(TRICKLE, trickle_bytes=max(1, size), trickle_interval=pause)
        elif reset:
            action = FaultAction(RESET)
        elif truncate:
            action = FaultAction(TRUNCATE)
        else:
            action = FaultAction(STATUS, status or 500, retry_after)
        self._faults.inject(route, action, count)

    def skew_date(self, seconds: float) -> None:
        """Shift the ``Date`` header of every later answer by ``seconds`` (0: the true clock)."""
        self.config.faults.date_offset_seconds = float(seconds)

    def corrupt_sha(self, log_file_id: str, count: int | None = None) -> None:
        """Make listings report a wrong ``file_sha256`` for a file (forever, or ``count`` times)."""
        self._state.corrupt_sha(log_file_id, count)

    def refuse_log_file(self, log_file_id: str, status: int | None = 410) -> None:
        """Refuse every download of a log file with ``status``, for good (None: serve it again).

        The file stays listed (until its retention ends): a file the API refuses permanently.
        """
        self._state.refuse_log(log_file_id, status)

    def expire_signed_urls_for(self, count: int = 1) -> None:
        """Make the next ``count`` signed URLs minted are already expired."""
        self._state.signed.expire_next(count)
