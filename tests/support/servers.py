"""Loopback servers the tests start for themselves: a free port, moto in server mode."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Yield the suite's moto server (``TEST_S3_ENDPOINT``, S3 and Secrets Manager), else the
    URL of one started here on loopback, stopped at the end."""
    if os.environ.get("TEST_S3_ENDPOINT"):
        yield os.environ["TEST_S3_ENDPOINT"]
        return
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
