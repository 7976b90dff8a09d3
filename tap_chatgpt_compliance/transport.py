"""HTTP to the Compliance API for one run: sessions, pacing, retries, redirects to signed URLs.

One :class:`Transport` per run is shared by every stream and every thread (log files are read
ahead, attachments downloaded by a small pool). Each thread gets its own sessions; every request
to the API takes a token from the route's bucket first (:mod:`tap_chatgpt_compliance.pacing`);
signed URLs (the object store behind the 307) are fetched without the API key and not paced.
"""

from __future__ import annotations

import contextlib
import threading
import typing as t
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance import __name__ as _package
from tap_chatgpt_compliance.errors import ComplianceAPIError, describe_http_error, server_message
from tap_chatgpt_compliance.pacing import Pacer, route_template
from tap_chatgpt_compliance.retry import retry_after_seconds, wait_generator

if t.TYPE_CHECKING:
    import logging

    from backoff.types import Details

    from tap_chatgpt_compliance.settings import Settings

T = t.TypeVar("T")
RETRY_STATUSES = (408, 425, 429)
REDIRECTS = (301, 302, 303, 307, 308)
EXPIRED = (401, 403, 410)
"""What object stores answer for an expired or refused signed URL."""
FRESH_URL_TRIES = 3
RETRIED_ERRORS: tuple[type[Exception], ...] = (
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


class PacedSession(requests.Session):
    """A session to the API host: each request waits for its route's token; 429s are noted."""

    def __init__(self, pacer: Pacer, base_path: str) -> None:
        """Pace with ``pacer``; route templates are read relative to ``base_path``."""
        super().__init__()
        self.pacer = pacer
        self.base_path = base_path

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Take a token of the request's route, send, and tell the pacer about a 429."""
        route = route_template(urlsplit(str(request.url)).path, self.base_path)
        self.pacer.acquire(route)
        sent_at = self.pacer.now()
        response = super().send(request, **kwargs)
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            self.pacer.throttled(route, retry_after, sent_at)
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
        self.pacer = Pacer(settings.max_requests_per_minute)
        self._local = threading.local()
        self._environment: dict[str, dict[str, t.Any]] = {}
        self._lock = threading.Lock()

    # Sessions, one pair per thread.

    def api_session(self) -> PacedSession:
        """Return this thread's session to the API (paced, with the API key)."""
        session: PacedSession | None = getattr(self._local, "api", None)
        if session is None:
            session = PacedSession(self.pacer, self.base_path)
            session.trust_env = False  # proxies and CA bundle: environment(), read once
            environment = self.environment(self.base_url)
            session.proxies = environment["proxies"]
            session.verify = environment["verify"]
            session.cert = environment["cert"]
            session.headers["Authorization"] = f"Bearer {self.settings.api_key}"
            session.headers["User-Agent"] = USER_AGENT
            self._local.api = session
        return session

    def signed_session(self) -> requests.Session:
        """Return this thread's session for signed URLs: it never carries the API key."""
        session: requests.Session | None = getattr(self._local, "signed", None)
        if session is None:
            session = requests.Session()
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

    # Retries.

    def retrying(
        self, func: t.Callable[..., T], logger: logging.Logger, what: str
    ) -> t.Callable[..., T]:
        """Wrap ``func`` in the run's retry policy (``max_retries``, ``max_retry_wait``).

        Retried: 408/425/429 and 5xx (RetriableAPIError), timeouts, resets and broken bodies.
        The wait is the server's Retry-After, else 1, 2, 4, … seconds, exactly (no jitter).
        """
        settings = self.settings

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

        decorator: t.Callable[..., t.Any] = backoff.on_exception(
            lambda: wait_generator(settings.max_retry_wait),
            RETRIED_ERRORS,
            max_tries=settings.max_retries + 1,
            on_backoff=on_backoff,
            on_giveup=_note_tries,
            jitter=None,
            logger=logger,
        )
        return t.cast("t.Callable[..., T]", decorator(func))

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
        410 of the API itself raise :class:`Unavailable`.
        """
        describe = describe or self.describe

        def attempt() -> T:
            for _ in range(FRESH_URL_TRIES):
                response = self._api_get(path, params, describe)
                if response.status_code not in REDIRECTS:
                    with response:
                        return consume(response)
                location = response.headers.get("Location")
                response.close()
                if not location:
                    msg = f"The API answered {path} with a redirect but no Location header."
                    raise RetriableAPIError(msg, response)
                session = self.signed_session()
                prepared = session.prepare_request(requests.Request("GET", location))
                with session.send(
                    prepared, stream=True, timeout=self.timeout, **self.environment(location)
                ) as signed:
                    if signed.status_code == 200:
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
        if status in (403, 404, 410):
            raise Unavailable(describe(response), status, server_message(response))
        self.check(response, describe)
        msg = f"Unexpected HTTP {status} from {path}."
        raise ComplianceAPIError(msg)


def response_error_message(response: requests.Response) -> str:
    """Describe a failed response by status and path only (no headers, no body)."""
    path = urlsplit(response.url).path
    return f"HTTP {response.status_code} {response.reason} for path {path}"


def _note_tries(details: Details) -> None:
    """Keep the number of tries on the exception that ends the retries, for its message."""
    exc = details.get("exception")
    if isinstance(exc, BaseException):
        with contextlib.suppress(AttributeError):  # an exception class with __slots__
            exc.tries = details.get("tries")  # type: ignore[attr-defined]
