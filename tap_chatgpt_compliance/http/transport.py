"""HTTP to the Compliance API for one run: sessions, pacing, retries, redirects to signed URLs.

One :class:`Transport` per run is shared by every stream and every thread (log files are read
ahead, attachments downloaded by a small pool). Each thread gets its own sessions; every request
to the API takes a token from the route's bucket first (:mod:`tap_chatgpt_compliance.http.pacing`);
signed URLs (the object store behind the 307) are fetched without the API key and not paced.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sys
import threading
import time
import typing as t
from urllib.parse import quote, urljoin, urlsplit

import backoff
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance import __name__ as _package
from tap_chatgpt_compliance.errors import (
    NOTHING_SKIPPED,
    ComplianceAPIError,
    describe_http_error,
    server_message,
    shown_host,
    shown_origin,
)
from tap_chatgpt_compliance.http.clock import RunClock
from tap_chatgpt_compliance.http.pacing import Pacer, route_template
from tap_chatgpt_compliance.http.resolve import mount_bounded
from tap_chatgpt_compliance.http.retry import (
    CONNECT_TIMEOUT,
    Reachability,
    retry_after_seconds,
    wait_generator,
)
from tap_chatgpt_compliance.settings import interval_seconds, is_loopback

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from backoff.types import Details

    from tap_chatgpt_compliance.secrets import KeySource
    from tap_chatgpt_compliance.settings import Settings

T = t.TypeVar("T")
RETRY_STATUSES = (408, 425, 429)
REDIRECTS = (301, 302, 303, 307, 308)
EXPIRED = (401, 403, 410)
"""What object stores answer for an expired or refused signed URL."""
FRESH_URL_TRIES = 3
SIGNED_HOPS = 5
"""Most redirects of a signed URL followed (each checked by :func:`check_location`)."""
RETRIED_ERRORS: tuple[type[Exception], ...] = (  # Stalled is a RetriableAPIError
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
USER_AGENT = f"{_package.replace('_', '-')} (singer-sdk)"

DescribeError = t.Callable[[requests.Response], str]


class Unavailable(ComplianceAPIError):
    """The API answered that the object cannot be downloaded (403, 404 or 410)."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        """Keep the status and the server's text beside the message."""
        super().__init__(message)
        self.status = status
        self.detail = detail


class Refused(ComplianceAPIError):
    """The API refused the request for one object with an answer no retry changes (400, 422, …).

    Not 401 or 407 (the key or the proxy: every request fails alike), nor the statuses of
    :class:`Unavailable` or those retried: the object's own request, as the API sees it.
    """

    def __init__(self, message: str, status: int, detail: str) -> None:
        """Keep the status and the server's text beside the message."""
        super().__init__(message)
        self.status = status
        self.detail = detail


NOT_REFUSED = (401, 407)
"""Client errors that are never one object's: the key, or a proxy's credentials."""


class Stalled(RetriableAPIError):
    """A body still arriving at its total deadline (retried like a timeout)."""


class _Flight:
    """One body being read, with its total deadline (see :class:`Watchdog`)."""

    def __init__(self, response: requests.Response, what: str, deadline: float) -> None:
        self.response = response
        self.what = what
        self.host = shown_host(str(response.url)) or "the server"
        self.started = time.monotonic()
        self.deadline = deadline
        self.stalled = False
        length = response.headers.get("Content-Length") or ""
        self.size: int | None = int(length) if length.isdigit() else None

    def received(self) -> int:
        """Return the bytes of the body read so far."""
        try:
            return int(self.response.raw.tell())
        except (AttributeError, TypeError, ValueError, OSError):
            return 0

    def progress(self) -> str:
        """Describe the transfer: what, where, bytes so far, for how long."""
        size = "" if self.size is None else f" of {self.size:,}"
        seconds = time.monotonic() - self.started
        return f"{self.what} from {self.host}: {self.received():,}{size} bytes in {seconds:.0f} s"

    def cut(self) -> None:
        """Stop the transfer: shut the socket down, so that the blocked read returns."""
        self.stalled = True
        raw = getattr(self.response, "raw", None)
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            else:
                self.response.close()
        except OSError:
            pass


class _Waiting:
    """A request sent whose answer has not begun (each read is bounded by request_timeout)."""

    deadline = float("inf")
    stalled = False
    until = float("inf")
    """For a retry's wait: when it is over (the watchdog then forgets it)."""

    def __init__(self, what: str, host: str, state: str = "no answer yet") -> None:
        self.what = what
        self.host = host or "the server"
        self.state = state
        self.started = time.monotonic()

    def progress(self) -> str:
        """Describe the wait."""
        seconds = time.monotonic() - self.started
        if self.until != float("inf"):
            planned = self.until - self.started
            return f"{self.what}: {seconds:.0f} s of {planned:.0f} s waited before its retry"
        return f"{self.what} on {self.host}: {self.state} after {seconds:.0f} s"

    def cut(self) -> None:
        """Nothing to cut: no body yet."""


class Watchdog:
    """Bodies in flight: each has a total deadline; a heartbeat line while any is in flight.

    A thread (running only while something is in flight) cuts a body whose deadline passed
    (the reader then fails with :class:`Stalled`, naming host, file and bytes so far), and logs
    one line every ``interval`` seconds naming what is still in flight, so that a slow or
    stalled transfer never looks like a quiet run.
    """

    def __init__(self, logger: logging.Logger, interval: float | None = None) -> None:
        """Log heartbeats to ``logger`` every ``interval`` s (default: the progress interval)."""
        self.logger = logger
        self.interval = interval_seconds() if interval is None else interval
        self._flights: set[_Flight | _Waiting] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeats = 0

    @contextlib.contextmanager
    def track(
        self, response: requests.Response, what: str, base: float, min_rate: float
    ) -> t.Iterator[_Flight]:
        """Watch the body of ``response`` while the block reads it.

        Its deadline is ``base`` seconds plus its size (Content-Length) at ``min_rate`` bytes
        per second. A read cut at the deadline raises :class:`Stalled` out of the block.
        """
        flight = _Flight(response, what, 0.0)
        allowed = base + (flight.size or 0) / max(min_rate, 1.0)
        flight.deadline = flight.started + allowed
        self._add(flight)
        try:
            yield flight
        except Exception as exc:
            if flight.stalled:
                msg = (
                    f"Stalled: {flight.progress()}, past its deadline of {allowed:.0f} s "
                    "(request_timeout + size / min_download_bytes_per_second): the host "
                    "answered, then sent too slowly"
                )
                raise Stalled(msg) from exc
            raise
        finally:
            with self._lock:
                self._flights.discard(flight)

    @contextlib.contextmanager
    def waiting(self, what: str, host: str, state: str = "no answer yet") -> t.Iterator[None]:
        """Name a request whose answer has not begun in the heartbeat while the block runs."""
        waiting = _Waiting(what, host, state)
        self._add(waiting)
        try:
            yield
        finally:
            with self._lock:
                self._flights.discard(waiting)

    def sleeping(self, what: str, seconds: float) -> None:
        """Name a retry's wait of ``seconds`` in the heartbeat until it is over."""
        pause = _Waiting(what, "")
        pause.until = pause.started + seconds
        self._add(pause)

    def _add(self, flight: _Flight | _Waiting) -> None:
        with self._lock:
            self._flights.add(flight)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="tap-watchdog", daemon=True
                )
                self._thread.start()

    def _watch(self) -> None:
        last_beat = time.monotonic()
        while True:
            self._wake.wait(min(1.0, self.interval) if self.interval else 1.0)
            now = time.monotonic()
            with self._lock:
                self._flights -= {f for f in self._flights if getattr(f, "until", now) < now}
                flights = list(self._flights)
                if not flights:
                    self._thread = None
                    return
            for flight in flights:
                if not flight.stalled and now > flight.deadline:
                    flight.cut()
            if self.interval and now - last_beat >= self.interval:
                last_beat = now
                self._beat(flights)

    def _beat(self, flights: list[_Flight | _Waiting]) -> None:
        """Log one heartbeat: bodies being read apart from requests still waiting."""
        self.heartbeats += 1
        transfers = sum(isinstance(f, _Flight) for f in flights)
        counts = [
            f"{n} {what}"
            for n, what in (
                (transfers, "transfer(s) in flight"),
                (len(flights) - transfers, "request(s) waiting"),
            )
            if n
        ]
        shown = sorted(flights, key=lambda f: f.started)[:3]
        more = f"; and {len(flights) - 3} more" if len(flights) > 3 else ""
        self.logger.info(
            "Heartbeat: %s: %s%s.",
            ", ".join(counts),
            "; ".join(f.progress() for f in shown),
            more,
        )


class PacedSession(requests.Session):
    """A session to the API host: each request waits for its route's token; 429s are noted.

    Every answer's ``Date`` goes to the run's clock (which refuses one far ahead of this
    machine's); a body read at once (the listings) has a total deadline (:class:`Watchdog`).
    """

    def __init__(
        self,
        pacer: Pacer,
        base_path: str,
        clock: RunClock | None = None,
        watchdog: Watchdog | None = None,
        deadline: tuple[float, float] = (120.0, 65536.0),
    ) -> None:
        """Pace with ``pacer``; route templates are read relative to ``base_path``."""
        super().__init__()
        mount_bounded(self)  # a host name is looked up within the connect timeout (resolve.py)
        self.pacer = pacer
        self.base_path = base_path
        self.clock = clock
        self.watchdog = watchdog
        self.deadline = deadline
        self.key_source: KeySource | None = None
        """The key from Secrets Manager: every request sends its current key (secrets.py)."""

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Send; with a :attr:`key_source`, once more with a rotated key after an HTTP 401.

        Only a request that carries the key gets the current one: requests drops the header
        of a redirect to another host, which must stay without it.
        """
        source = self.key_source
        if source is None or "Authorization" not in request.headers:
            return self._send(request, **kwargs)
        key = source.key
        request.headers["Authorization"] = f"Bearer {key}"
        response = self._send(request, **kwargs)
        if response.status_code != 401:
            return response
        rotated = source.after_refusal(key)
        if rotated is None:
            return response
        response.close()
        request.headers["Authorization"] = f"Bearer {rotated}"
        return self._send(request, **kwargs)

    def _send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Take a token of the request's route, send, and tell the pacer about a 429."""
        path = urlsplit(str(request.url)).path
        route = route_template(path, self.base_path)
        if self.watchdog is not None:  # a long wait (a 429's Retry-After) is named, not silent
            with self.watchdog.waiting(
                f"the request of {path}",
                shown_host(str(request.url)),
                "waiting for the rate limit (max_requests_per_minute or the API's Retry-After)",
            ):
                self.pacer.acquire(route)
        else:
            self.pacer.acquire(route)
        sent_at = self.pacer.now()
        kwargs["timeout"] = connect_then_read(kwargs.get("timeout"))
        stream = bool(kwargs.get("stream"))
        if self.watchdog is not None:
            kwargs["stream"] = True
        if self.watchdog is not None:
            with self.watchdog.waiting(f"the request of {path}", shown_host(str(request.url))):
                response = super().send(request, **kwargs)
        else:
            response = super().send(request, **kwargs)
        if self.clock is not None:
            try:
                self.clock.observe(response.headers.get("Date"), shown_origin(str(request.url)))
            except Exception:
                response.close()
                raise
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            self.pacer.throttled(route, retry_after, sent_at)
        if self.watchdog is not None and not stream:
            base, rate = self.deadline
            with self.watchdog.track(response, f"the answer of {path}", base, rate):
                response.content  # noqa: B018  (read at once, as requests would, but watched)
        return response


class Transport:
    """The API host and the signed-URL host, as used by one run."""

    def __init__(self, settings: Settings, logger: logging.Logger) -> None:
        """Read the connection settings once."""
        self.settings = settings
        self.logger = logger
        self.base_url = settings.api_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self.timeout = settings.request_timeout
        self.min_rate = float(getattr(settings, "min_download_bytes_per_second", 65536))
        self.pacer = Pacer(settings.max_requests_per_minute, max_wait=settings.max_retry_wait)
        self.clock = RunClock(float(getattr(settings, "max_clock_skew_seconds", 300)))
        """The run's one clock: the API's Date, checked against this machine's (clock.py)."""
        self.watchdog = Watchdog(logger)
        self.reachability = Reachability()  # since when requests fail to connect (retry.py)
        self._local = threading.local()
        self._environment: dict[str, dict[str, t.Any]] = {}
        self._lock = threading.Lock()
        self.key_source: KeySource | None = None  # the key from api_key_secret_id (secrets.py)

    # Sessions, one pair per thread.

    def api_session(self) -> PacedSession:
        """Return this thread's session to the API (paced, with the API key)."""
        session: PacedSession | None = getattr(self._local, "api", None)
        if session is None:
            session = PacedSession(
                self.pacer,
                self.base_path,
                self.clock,
                self.watchdog,
                (self.timeout, self.min_rate),
            )
            session.trust_env = False  # proxies and CA bundle: environment(), read once
            environment = self.environment(self.base_url)
            session.proxies = environment["proxies"]
            session.verify = environment["verify"]
            session.cert = environment["cert"]
            session.headers["Authorization"] = f"Bearer {self.settings.api_key}"
            session.headers["User-Agent"] = USER_AGENT
            session.key_source = self.key_source
            self._local.api = session
        return session

    def signed_session(self) -> requests.Session:
        """Return this thread's session for signed URLs: it never carries the API key."""
        session: requests.Session | None = getattr(self._local, "signed", None)
        if session is None:
            session = SignedSession()
            session.trust_env = False  # no .netrc credentials; proxies from environment()
            self._local.signed = session
        return session

    def environment(self, url: str) -> dict[str, t.Any]:
        """Return proxies, CA bundle and certificate for a URL's host, from the environment.

        ``requests`` reads them from every environment variable at every request (and again
        for every redirect it does not follow); they are read once per scheme and host instead,
        as ``requests`` would (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, …).
        """
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._environment.get(key)
        if found is None:
            with requests.Session() as reader:
                merged = reader.merge_environment_settings(key + "/", {}, None, None, None)
            found = {name: merged[name] for name in ("proxies", "verify", "cert")}
            with self._lock:
                self._environment[key] = found
        return found

    def retrying(
        self, func: t.Callable[..., T], logger: logging.Logger, what: str
    ) -> t.Callable[..., T]:
        """Wrap ``func`` in the run's retry policy (``max_retries``, ``max_retry_wait``).

        Retried: 408/425/429 and 5xx (RetriableAPIError), timeouts, resets, broken bodies, and
        hosts not reached (within ``reachability.budget``); wait: Retry-After, else 1, 2, 4, … s.
        """

        def on_backoff(details: Details) -> None:
            exc = details.get("exception")
            response = getattr(exc, "response", None)
            reason = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
            logger.warning(
                "Retrying a request of %s in %.1f s after %s (try %d).",
                what,
                details.get("wait") or 0.0,
                reason,
                details.get("tries", 0),
            )
            self.watchdog.sleeping(f"a request of {what}", float(details.get("wait") or 0.0))

        decorator: t.Callable[..., t.Any] = backoff.on_exception(
            lambda: wait_generator(self.settings.max_retry_wait, self.reachability),
            RETRIED_ERRORS,
            max_tries=self.settings.max_retries + 1,
            on_backoff=on_backoff,
            on_giveup=_note_tries,
            jitter=None,
            logger=None,  # backoff's own lines quote the exception: a signed URL's credentials
        )
        return t.cast("t.Callable[..., T]", decorator(self.reachability.watch(func)))

    def check(self, response: requests.Response, describe: DescribeError) -> None:
        """Raise for an error answer: RetriableAPIError (408, 425, 429, 5xx), else fatal."""
        status = response.status_code
        if status in RETRY_STATUSES or status >= 500:
            raise RetriableAPIError(response_error_message(response), response)
        if status >= 400:
            raise ComplianceAPIError(describe(response))

    def describe(self, response: requests.Response) -> str:
        """Return the one-line message for a fatal answer of the API."""
        return describe_http_error(response, workspace_id=self.settings.workspace_id)

    # Downloads through the 307.

    def download(
        self,
        path: str,
        consume: t.Callable[[requests.Response], T],
        params: dict[str, t.Any] | None = None,
        *,
        describe: DescribeError | None = None,
        logger: logging.Logger | None = None,
        what: str = "a download",
    ) -> T:
        """GET ``path`` on the API, follow its redirect without credentials, hand the body over.

        Every try asks the API for a fresh signed URL, so an expired URL is never retried as
        is: an expired or refused signed URL is replaced at once (a few times), other failures
        (429, 5xx, connection errors, truncated bodies) are retried with backoff; 403, 404 and
        410 of the API raise :class:`Unavailable`, other 4xx but 401/407 :class:`Refused`.
        """
        describe = describe or self.describe

        def attempt() -> T:
            for _ in range(FRESH_URL_TRIES):
                response = self._api_get(path, params, describe)
                if response.status_code not in REDIRECTS:
                    response.close()  # the API answers a download with a 307 only
                    raise RetriableAPIError(not_a_redirect(response, path), response)
                location = response.headers.get("Location")
                response.close()
                if not location:
                    msg = f"The API answered {path} with a redirect but no Location header."
                    raise RetriableAPIError(msg, response)
                location = urljoin(str(response.url), location)
                check_location(location, _what(path))
                session = self.signed_session()
                prepared = session.prepare_request(requests.Request("GET", location))
                with self.watchdog.waiting(_what(path), shown_host(location)):
                    signed = session.send(
                        prepared, stream=True, timeout=self.timeout, **self.environment(location)
                    )
                with signed:
                    if signed.status_code == 200:
                        with self._watch(signed, path):
                            return consume(signed)
                    if signed.status_code not in EXPIRED:
                        msg = f"The signed download URL answered HTTP {signed.status_code}."
                        raise RetriableAPIError(msg, signed)
                # Expired or refused: ask the API for a fresh URL at once, no backoff needed.
            msg = (
                f"{FRESH_URL_TRIES} signed download URLs in a row were expired or refused for "
                f"{path} (check the machine's clock, and that no proxy adds credentials to "
                "requests to the download host)"
            )
            raise RetriableAPIError(msg)

        return self.retrying(attempt, logger or self.logger, what)()

    def _watch(self, response: requests.Response, path: str) -> t.ContextManager[_Flight]:
        """Watch a download's body with its deadline (request_timeout + size / min rate)."""
        return self.watchdog.track(response, _what(path), self.timeout, self.min_rate)

    def _api_get(
        self, path: str, params: dict[str, t.Any] | None, describe: DescribeError
    ) -> requests.Response:
        session = self.api_session()
        url = f"{self.base_url}{path}"
        prepared = session.prepare_request(requests.Request("GET", url, params=params or {}))
        response = session.send(
            prepared,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
            **self.environment(url),
        )
        status = response.status_code
        if status in REDIRECTS or status == 200:
            return response
        response.content  # noqa: B018  (read the error body before releasing the connection)
        if 400 <= status < 500 and status not in RETRY_STATUSES + NOT_REFUSED:
            error = Unavailable if status in (403, 404, 410) else Refused
            raise error(describe(response), status, server_message(response))
        self.check(response, describe)
        raise ComplianceAPIError(f"Unexpected HTTP {status} from {path}.")


_URL_QUERY = re.compile(r"(?<=\S)\?[\w.~%-]+=[^\s\"'<>()]*")
"""A URL's query string (``?name=value&…``): a signed URL's holds its credentials."""


class HideUrlQueries(logging.Filter):
    """Replace every URL query string of a log line, and of its traceback, by ``?…``.

    Installed on the log handlers (:func:`hide_url_queries`), so that it also covers what other
    libraries log (urllib3's DEBUG line of each request, an exception quoting the signed URL it
    could not reach): a signed URL's query is a credential (X-Amz-Credential,
    X-Amz-Security-Token, X-Amz-Signature).
    """

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and traceback text without URL queries."""
        message = record.getMessage()
        hidden = _URL_QUERY.sub("?…", message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _URL_QUERY.sub("?…", record.exc_text)
        return True


def hide_url_queries(logger: logging.Logger | None = None) -> None:
    """Install :class:`HideUrlQueries` on every handler of ``logger`` (default: the root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, HideUrlQueries) for f in handler.filters):
            handler.addFilter(HideUrlQueries())


class SignedSession(requests.Session):
    """A session for signed URLs: each redirect is checked before it is followed."""

    def __init__(self) -> None:
        """Follow at most :data:`SIGNED_HOPS` redirects."""
        super().__init__()
        mount_bounded(self)
        self.max_redirects = SIGNED_HOPS

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Send with a connection timeout of at most CONNECT_TIMEOUT (:func:`connect_then_read`).

        A failure to connect is marked as the signed download host's (``signed_download``):
        its line names that host, not api_url (errors.py).
        """
        kwargs["timeout"] = connect_then_read(kwargs.get("timeout"))
        try:
            return super().send(request, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            exc.signed_download = True  # type: ignore[attr-defined]
            raise

    @override
    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """Return the redirect's target, refused unless https or on this machine."""
        target = super().get_redirect_target(resp)
        if target:
            check_location(urljoin(str(resp.url), target), "a signed download URL")
        return target


class InsecureRedirect(ComplianceAPIError):
    """A download redirected to plain ``http://`` on another machine: refused, never sent."""


def check_location(location: str, what: str) -> None:
    """Refuse a download URL that is not https, unless it is on this machine (a simulator).

    The bytes of a log file or attachment (and the signed URL's credentials) would cross the
    network unencrypted; only the host is named, never the URL's query.
    """
    parts = urlsplit(location)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return
    msg = (
        f"The download of {what} was redirected to {shown_origin(location, parts.scheme)}, "
        "which is not https: refused without sending (its content and the signed URL would "
        "cross the network unencrypted). Check api_url and any proxy between the tap and the "
        f"API. {NOTHING_SKIPPED}"
    )
    raise InsecureRedirect(msg)


class BadPathSegment(ValueError):
    """An id that cannot be one segment of a URL path (``""``, ``.``, ``..``)."""


def path_segment(value: object) -> str:
    """Return ``value`` as one URL path segment, every reserved character percent-encoded.

    An id taken from the API's data (a log event, a listing) is never a path of its own:
    ``../../users`` or ``file-x#y`` would send the API key to another route, whose answer
    would be archived as the file. Raises :class:`BadPathSegment` for ``""``, ``.`` and
    ``..``, which no encoding keeps from being resolved.
    """
    text = str(value)
    if text in ("", ".", ".."):
        msg = f"the id {text!r} cannot be one segment of a URL path: it was not asked for"
        raise BadPathSegment(msg)
    return quote(url_text(text, "id"), safe="")


def url_text(text: str, what: str) -> str:
    r"""Return ``text`` if a URL can carry it (as UTF-8), else raise :class:`BadPathSegment`.

    A served id may hold a lone surrogate (JSON's ``\ud83d``, half an emoji), which UTF-8
    cannot encode: sent any other way, it would ask for another object than the one served.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("ascii", "backslashreplace").decode("ascii")
        msg = (
            f"the {what} {shown} holds a lone surrogate (half a character, which no URL can "
            "carry): it was not asked for"
        )
        raise BadPathSegment(msg) from None
    return text


def not_a_redirect(response: requests.Response, path: str) -> str:
    """Say that the API answered a download with something else than its 307 (no body)."""
    kind = (response.headers.get("Content-Type") or "no Content-Type").split(";")[0].strip()
    return (
        f"The API answered {path} with HTTP {response.status_code} ({kind}) instead of a "
        "redirect to the file: not the file (a proxy or gateway answering for the API?)"
    )


def response_error_message(response: requests.Response) -> str:
    """Describe a failed response by status and path only (no headers, no body)."""
    path = urlsplit(response.url).path
    return f"HTTP {response.status_code} {response.reason} for path {path}"


def _what(path: str) -> str:
    """Name what a download path fetches: ``log file eclf_…`` or ``attachment file-…``."""
    parts = [part for part in path.split("/") if part]
    name = parts[-1] if parts else path
    if len(parts) >= 2 and parts[-2] == "logs":
        return f"log file {name}"
    if len(parts) >= 2 and parts[-2] == "files":
        return f"attachment {name}"
    return f"the download of {path}"


def connect_then_read(timeout: t.Any) -> t.Any:
    """Return a timeout in seconds as (connect, read): the connection's at most CONNECT_TIMEOUT."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return (min(float(timeout), CONNECT_TIMEOUT), float(timeout))
    return timeout


def _note_tries(details: Details) -> None:
    """Keep the number of tries and the seconds they took on the exception that ends them."""
    exc = details.get("exception")
    if isinstance(exc, BaseException):
        with contextlib.suppress(AttributeError):  # an exception class with __slots__
            exc.tries = details.get("tries")  # type: ignore[attr-defined]
            exc.elapsed = details.get("elapsed")  # type: ignore[attr-defined]
