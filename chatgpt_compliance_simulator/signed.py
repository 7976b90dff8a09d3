"""The signed-URL host: short-lived URLs that serve bytes without ``Authorization``.

Behaviour (reference §3.3, §6 #16): every 307 of the API mints a fresh URL with its own
expiry: ``signed_url_ttl`` real seconds, and at most ``signed_url_sim_ttl`` simulated seconds
(§2.3 "The URL expires after 1 hour", §6 #9), so a URL outlives neither. The host answers 403
with an S3-like XML body when the URL has expired or when the request carries an
``Authorization`` header, and 404 (XML ``NoSuchKey``) for an unknown token.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from .responses import Response


@dataclass
class SignedObject:
    """What one signed URL serves."""

    body: Callable[[], bytes | Iterable[bytes]]
    content_type: str
    filename: str
    expires_at: float  # time.monotonic()
    size: int | None = None
    """Set when ``body`` yields chunks (streamed with this Content-Length)."""
    sim_expires_us: int | None = None
    """Simulated instant (µs) after which the URL has expired; None: no simulated bound."""


def s3_error(code: str, message: str) -> bytes:
    """Build an S3-style XML error document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()


class SignedStore:
    """Mints and resolves signed URLs."""

    def __init__(
        self,
        seed: int,
        ttl: float,
        expired_rate: float,
        now_us: Callable[[], int] | None = None,
        sim_ttl: float = 0.0,
    ) -> None:
        self.rng = random.Random(f"{seed}:signed")
        self.ttl = ttl
        self.now_us = now_us
        """The simulated clock (µs); with ``sim_ttl`` > 0 it bounds every URL's life."""
        self.sim_ttl_us = int(sim_ttl * 1_000_000) if now_us is not None and sim_ttl > 0 else 0
        self.expired_rate = expired_rate
        self._expire_next = 0
        self.base_url = ""
        self._objects: dict[str, SignedObject] = {}
        self._lock = threading.Lock()

    def mint(
        self,
        body: Callable[[], bytes | Iterable[bytes]],
        content_type: str,
        filename: str,
        size: int | None = None,
    ) -> str:
        """Register ``body`` (bytes, or chunks totalling ``size``) and return its signed URL."""
        now = time.monotonic()
        with self._lock:
            token = f"{self.rng.getrandbits(128):032x}"
            sig = f"{self.rng.getrandbits(256):064x}"
            r = self.rng.random()
            expired = False
            if self._expire_next > 0:
                self._expire_next -= 1
                expired = True
            elif r < self.expired_rate:
                expired = True
            expires_at = now - 1.0 if expired else now + self.ttl
            sim_expires = None
            if self.sim_ttl_us and self.now_us is not None:
                sim_expires = self.now_us() + self.sim_ttl_us
            self._objects[token] = SignedObject(
                body, content_type, filename, expires_at, size, sim_expires
            )
            if len(self._objects) > 200_000:
                self._gc(now)
        exp_epoch = int(time.time() + (expires_at - now))
        return (
            f"{self.base_url}/o/{token}/{quote(filename)}"
            f"?X-Amz-Expires={int(self.ttl)}&Expires={exp_epoch}&X-Amz-Signature={sig}"
        )

    def expire_next(self, count: int) -> None:
        """Make the next ``count`` minted URLs already expired."""
        with self._lock:
            self._expire_next += count

    def _gc(self, now: float) -> None:
        for token in [t for t, o in self._objects.items() if o.expires_at < now - 3600]:
            del self._objects[token]

    def resolve(self, path: str) -> tuple[int, SignedObject | None, bytes]:
        """Return (status, object, error body) for a request path ``/o/<token>/<name>``."""
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != "o":
            return 404, None, s3_error("NoSuchKey", "The specified key does not exist.")
        with self._lock:
            obj = self._objects.get(parts[2])
        if obj is None:
            return 404, None, s3_error("NoSuchKey", "The specified key does not exist.")
        if time.monotonic() > obj.expires_at or (
            obj.sim_expires_us is not None
            and self.now_us is not None
            and self.now_us() > obj.sim_expires_us
        ):
            return 403, None, s3_error("AccessDenied", "Request has expired")
        return 200, obj, b""


def serve_signed(store: SignedStore, has_authorization: bool, path: str) -> Response:
    """Answer a GET on the signed host (bytes at once, or streamed chunks of known size)."""
    xml = [("Content-Type", "application/xml")]
    if has_authorization:
        return Response(
            403,
            s3_error(
                "InvalidArgument",
                "Only one auth mechanism allowed; the signed URL must be fetched without an "
                "Authorization header",
            ),
            xml,
        )
    status, obj, err = store.resolve(path)
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
