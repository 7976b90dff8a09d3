"""The state of a running simulator: clock, workspaces, API keys, signed URLs, listing faults.

One :class:`SimState` is shared by the :class:`~.server.Simulator` facade and the HTTP app;
everything that both read or change goes through its methods, under its ``lock``.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass

from .clock import DAY_US, Clock
from .config import ALL_READ_SCOPES, SimulatorConfig
from .generator import Workspace
from .logfiles import LogFile
from .rand import rand_token
from .signed import SignedStore


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


class SimState:
    """Workspaces, keys, clock and URL signing of one simulator (thread-safe)."""

    def __init__(self, cfg: SimulatorConfig) -> None:
        self.config = cfg
        self.clock = Clock(cfg.start)
        self.lock = threading.RLock()
        """Held while data is generated or read; re-entrant."""
        self.workspaces: list[Workspace] = []
        self.signed = SignedStore(
            cfg.seed,
            cfg.signed_url_ttl,
            cfg.faults.expired_signed_url_rate,
            now_us=self.now_us,
            sim_ttl=cfg.signed_url_sim_ttl,
        )
        self._ws_by_id: dict[str, Workspace] = {}
        self._ws_by_org: dict[str, Workspace] = {}
        self._keys: dict[str, KeyInfo] = {}
        self._key_rng = random.Random(f"{cfg.seed}:keys")
        self._corrupt_sha: dict[str, int | None] = {}
        self._refused_logs: dict[str, int] = {}

    # ------------------------------------------------------------------ workspaces and clock
    def now_us(self) -> int:
        """Return the current simulated time in microseconds."""
        return self.clock.us

    def add_workspace(self, compliance_enabled: bool) -> Workspace:
        """Create and populate the next workspace."""
        with self.lock:
            ws = Workspace(self.config, len(self.workspaces), compliance_enabled)
            ws.populate(self.clock.us)
            self.workspaces.append(ws)
            self._ws_by_id[ws.id] = ws
            self._ws_by_org[ws.org_id] = ws
            return ws

    def workspace(self, workspace_id: str) -> Workspace | None:
        """Return the workspace with this id, or None."""
        return self._ws_by_id.get(workspace_id)

    def workspace_of_org(self, organization_id: str) -> Workspace | None:
        """Return the workspace of this organization, or None."""
        return self._ws_by_org.get(organization_id)

    def advance(self, step_us: int) -> None:
        """Move the clock by ``step_us`` (> 0), generating activity one day at a time."""
        with self.lock:
            t = self.clock.us
            end = t + step_us
            while t < end:  # a day at a time keeps memory flat
                nxt = min(end, t + DAY_US)
                for ws in self.workspaces:
                    ws.advance(t, nxt)
                t = nxt
                self.clock.set_us(nxt)

    # ------------------------------------------------------------------ keys
    def issue_key(
        self, workspace_id: str, scopes: set[str] | None = None, revoked: bool = False
    ) -> str:
        """Create an API key for ``workspace_id`` (``scopes=None``: every read scope)."""
        with self.lock:
            if workspace_id not in self._ws_by_id:
                raise KeyError(f"unknown workspace {workspace_id}")
            key = "sk-proj-" + rand_token(self._key_rng, 48)
            self._keys[key] = KeyInfo(
                workspace_id, frozenset(ALL_READ_SCOPES if scopes is None else scopes), revoked
            )
            return key

    def revoke_key(self, key: str) -> None:
        """Revoke ``key`` (KeyError if unknown)."""
        with self.lock:
            self._keys[key].revoked = True

    def key_info(self, key: str) -> KeyInfo | None:
        """Return the key's tenant and scopes, or None if unknown."""
        return self._keys.get(key)

    # ------------------------------------------------------------------ listing faults
    def corrupt_sha(self, log_file_id: str, count: int | None) -> None:
        """Make listings report a wrong ``file_sha256`` (``count`` times, or ``None``: forever)."""
        with self.lock:
            self._corrupt_sha[log_file_id] = count

    def refuse_log(self, log_file_id: str, status: int | None) -> None:
        """Answer every download of a log file with ``status`` (None: serve it again)."""
        with self.lock:
            if status is None:
                self._refused_logs.pop(log_file_id, None)
            else:
                self._refused_logs[log_file_id] = status

    def log_refusal(self, log_file_id: str) -> int | None:
        """Return the status every download of a log file is refused with, if any."""
        with self.lock:
            return self._refused_logs.get(log_file_id)

    def listed_sha(self, f: LogFile) -> str:
        """Return the ``file_sha256`` a listing reports for ``f`` (uses up a corruption)."""
        wrong = hashlib.sha256(b"corrupt:" + f.id.encode()).hexdigest()
        if f.id in self.config.faults.bad_sha_file_ids:
            return wrong
        with self.lock:
            left = self._corrupt_sha.get(f.id, 0)
            if left is None:
                return wrong
            if left > 0:
                self._corrupt_sha[f.id] = left - 1
                return wrong
        return f.sha256
