"""Run target-s3 with one boto3 session and S3 client per process, shared by every batch.

plinxore-target-s3 0.1.7 builds a new ``boto3.Session`` and S3 client for each batch of each
stream (``target_s3.formats.format_base.FormatBase.__init__``), from its joblib threads at once:
botocore loads its endpoint and service models again each time. For a tenant's first sync
(a batch for each of a dozen streams or more) that was a fifth of the fleet's CPU and ~90 MB of
peak memory per step (docs/benchmarks.md "Fleet"). Here the ``Session`` that module calls
is replaced by one that returns, for the same arguments, the same session, whose clients are
made once per set of arguments (botocore's clients are thread-safe; making one is not, hence
the lock). Everything else is target-s3's own code, unchanged.
"""

from __future__ import annotations

import sys
import threading
import typing as t

import boto3

REQUIRED = "plinxore-target-s3 0.1.7"
_LOCK = threading.Lock()
_SESSIONS: dict[tuple[tuple[str, t.Any], ...], SharedSession] = {}


class SharedSession:
    """A boto3 session whose clients are made once per set of arguments, then shared."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self._clients: dict[tuple[t.Any, ...], t.Any] = {}

    def client(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Return the client made for these arguments, making it the first time."""
        key = (args, tuple(sorted(kwargs.items())))
        with _LOCK:
            made = self._clients.get(key)
            if made is None:
                made = self._clients[key] = self.session.client(*args, **kwargs)
        return made

    def __getattr__(self, name: str) -> t.Any:
        """Everything else (credentials, region) is the session's own."""
        return getattr(self.session, name)


def shared_session(**kwargs: t.Any) -> SharedSession:
    """Return the process's session for these arguments (``boto3.Session``'s keywords)."""
    key = tuple(sorted(kwargs.items()))
    with _LOCK:
        shared = _SESSIONS.get(key)
        if shared is None:
            shared = _SESSIONS[key] = SharedSession(boto3.Session(**kwargs))
    return shared


def share_clients() -> None:
    """Make target-s3's formats use :func:`shared_session`; fail loudly if it changed shape."""
    from target_s3.formats import format_base

    if getattr(format_base, "Session", None) is not boto3.Session:
        sys.exit(
            "target-s3-shared-client: target_s3.formats.format_base.Session is not boto3's "
            f"Session; this wrapper is written for {REQUIRED}: use the executable target-s3"
        )
    format_base.Session = shared_session


def main() -> None:
    """Run the ``target-s3`` command, sharing one S3 client per set of credentials and endpoint."""
    share_clients()
    from target_s3.target import Targets3

    Targets3.cli()


if __name__ == "__main__":
    main()
