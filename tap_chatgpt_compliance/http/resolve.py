"""Host names resolved within the connect timeout: a resolver that hangs is not waited for.

``socket.getaddrinfo`` has no timeout of its own: a resolver that never answers (a dead DNS
server, a stuck NSS module) held a request forever, outside the connect timeout and the
connect budget (retry.py). The sessions of the run (transport.py) mount :class:`BoundedAdapter`:
each new connection looks its host up in a worker thread and waits at most its connect timeout,
then connects to the addresses found, as urllib3 would.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import typing as t
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationParseError, NameResolutionError
from urllib3.util.connection import allowed_gai_family

from tap_chatgpt_compliance.http import retry

if t.TYPE_CHECKING:
    from urllib3.poolmanager import PoolManager

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

Address = tuple[t.Any, ...]
_Key = tuple[str, int, int]
_pending: dict[_Key, Future[list[Address]]] = {}
_lock = threading.Lock()


def resolve(host: str, port: int, timeout: float) -> list[Address]:
    """Return the socket addresses of ``host`` (TCP), waiting at most ``timeout`` seconds.

    Raises ``socket.gaierror`` if the name is not found, or if the resolver has not answered
    in time (``EAI_AGAIN``). A lookup still running for the same host is waited for rather than
    started again: a hung resolver holds one thread per host, whatever the retries.
    """
    key = (host, port, int(allowed_gai_family()))
    with _lock:
        future = _pending.get(key)
        if future is None:
            future = _pending[key] = Future()
            threading.Thread(
                target=_look_up, args=(key, future), name=f"resolve {host}", daemon=True
            ).start()
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        reason = f"the resolver gave no answer within {timeout:g} s"
        raise socket.gaierror(socket.EAI_AGAIN, reason) from None


def _look_up(key: _Key, future: Future[list[Address]]) -> None:
    """Resolve ``key`` into ``future`` (in a thread of its own), then forget it."""
    host, port, family = key
    try:
        found = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        future.set_result([info[4] for info in found])
    except BaseException as exc:  # handed to the request waiting for it
        future.set_exception(exc)
    finally:
        with _lock:
            if _pending.get(key) is future:
                del _pending[key]


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (no lookup needed), bracketed or with a zone."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class _BoundedLookup(HTTPConnection):
    """A connection whose host name is looked up within its connect timeout (:func:`resolve`)."""

    @override
    def _new_conn(self) -> socket.socket:
        """Look the host up (bounded), then connect to each address found, as urllib3 does."""
        name = self._dns_host
        if is_ip_literal(name):
            return super()._new_conn()
        try:  # as urllib3 does before its lookup (the resolver would raise a bare UnicodeError)
            name.encode("idna")
        except UnicodeError:
            msg = f"'{name}', label empty or too long"
            raise LocationParseError(msg) from None
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            addresses = resolve(name, self.port, timeout or retry.CONNECT_TIMEOUT)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        if not addresses:
            raise NameResolutionError(
                self.host, self, socket.gaierror(socket.EAI_NONAME, "no address found")
            )
        failed: ConnectTimeoutError | None = None
        try:
            for address in addresses:
                self._dns_host = str(address[0])  # a literal: urllib3 looks nothing up
                try:
                    return super()._new_conn()
                except ConnectTimeoutError as exc:  # NewConnectionError too: the next address
                    failed = exc
        finally:
            self._dns_host = name
        raise t.cast("ConnectTimeoutError", failed)


class BoundedHTTPConnection(_BoundedLookup):
    """An http connection with a bounded host lookup."""


class BoundedHTTPSConnection(_BoundedLookup, HTTPSConnection):
    """An https connection with a bounded host lookup (TLS names the host, not the address)."""


class BoundedHTTPPool(HTTPConnectionPool):
    """A pool of :class:`BoundedHTTPConnection`."""

    ConnectionCls = BoundedHTTPConnection


class BoundedHTTPSPool(HTTPSConnectionPool):
    """A pool of :class:`BoundedHTTPSConnection`."""

    ConnectionCls = BoundedHTTPSConnection


POOLS = {"http": BoundedHTTPPool, "https": BoundedHTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """An adapter whose connections (direct, or to an http proxy) resolve within their timeout."""

    @override
    def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Create the pool manager with bounded-lookup pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    @override
    def proxy_manager_for(self, proxy: str, **proxy_kwargs: t.Any) -> PoolManager:
        """Return the proxy's manager; an http(s) proxy is looked up within the timeout too."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connections of their own
            manager.pool_classes_by_scheme = POOLS
        return manager


def mount_bounded(session: t.Any) -> None:
    """Mount :class:`BoundedAdapter` on a requests session for http:// and https://."""
    session.mount("https://", BoundedAdapter())
    session.mount("http://", BoundedAdapter())
