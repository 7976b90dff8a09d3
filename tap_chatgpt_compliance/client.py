"""Base stream of the tap: base URL, bearer auth, timeouts, retries and error messages."""

from __future__ import annotations

import contextlib
import logging
import typing as t
from functools import cached_property
from urllib.parse import parse_qs, urlparse

import backoff
import requests
from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.errors import ComplianceAPIError, describe_http_error
from tap_chatgpt_compliance.pagination import check_listing_order
from tap_chatgpt_compliance.retry import wait_generator
from tap_chatgpt_compliance.sdk import run_meters, sync_log_level, write_record
from tap_chatgpt_compliance.settings import DEFAULT_API_URL

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from backoff.types import Details
    from singer_sdk import metrics
    from singer_sdk.helpers.types import Record, RequestFunc

    from tap_chatgpt_compliance.run import SyncRun

RETRY_STATUSES = (408, 425, 429)


class ComplianceStream(RESTStream[t.Any]):
    """A stream of the Compliance API (``https://api.chatgpt.com/v1``)."""

    records_jsonpath = "$.data[*]"
    extra_retry_statuses = list(RETRY_STATUSES)

    @property
    def url_base(self) -> str:
        """Return the API base URL from ``api_url``."""
        return str(self.config.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        """Send ``Authorization: Bearer <api_key>``."""
        return BearerTokenAuthenticator(token=self.config["api_key"])

    @property
    def timeout(self) -> int:
        """Return the request timeout in seconds (``request_timeout``)."""
        return int(self.config.get("request_timeout") or 120)

    @property
    def workspace_id(self) -> str:
        """Return the configured workspace id."""
        return str(self.config["workspace_id"]).strip()

    @property
    def sync_run(self) -> SyncRun:
        """Return the per-run cache and counters shared by all streams."""
        return t.cast("SyncRun", self._tap.sync_run)  # type: ignore[attr-defined]

    @cached_property
    def signed_url_session(self) -> requests.Session:
        """Return a session for signed download URLs: it never carries the API key."""
        return requests.Session()

    def _write_record_message(self, record: Record) -> None:
        """Write a RECORD by the tap's fast path when the SDK's would only copy it (sdk.py)."""
        write_record(self, record, super()._write_record_message)

    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        """Count a child stream's records over the run, not once per log file."""
        if self.parent_stream_type is None:
            return super().get_record_counter(**kwargs)
        return run_meters(self)[0]

    def get_sync_timer(self) -> metrics.Timer:
        """Time a child stream over the run, not once per log file."""
        if self.parent_stream_type is None:
            return super().get_sync_timer()
        return run_meters(self)[1]

    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """Log; a child stream's "Beginning sync" line at each log file is DEBUG."""
        super().log(message, *args, level=sync_log_level(self, message, level), **kwargs)

    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Honour Retry-After (seconds or HTTP date), else back off exponentially."""
        return wait_generator(float(self.config.get("max_retry_wait", 300)))

    def backoff_jitter(self, value: float) -> float:
        """Wait exactly what the server or the backoff asked for."""
        return value

    def backoff_max_tries(self) -> int:
        """Return the number of tries: ``max_retries`` plus the first one."""
        return int(self.config.get("max_retries", 8)) + 1

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry like the SDK, and note on the exception how many tries were made."""
        decorator: t.Callable[..., t.Any] = backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            on_giveup=_note_tries,
            jitter=self.backoff_jitter,
            logger=self.logger,
        )
        return t.cast("RequestFunc", decorator(func))

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Parse a page; an incremental stream's page is checked for order before any use.

        The bookmark of an incremental stream (the log listing) moves with each item: an item
        earlier than the ``after`` asked for, or a page not ascending, would move it past files
        not yet seen, so the whole page is refused (:class:`ListingError`).
        """
        if not self.replication_key:
            yield from super().parse_response(response)
            return
        items = list(super().parse_response(response))
        query = parse_qs(urlparse(str(response.request.url or "")).query)
        check_listing_order(
            items,
            key=self.replication_key,
            after=next(iter(query.get("after") or []), None),
            what=f"{(query.get('event_type') or [self.name])[0]} listing",
        )
        yield from items

    def backoff_handler(self, details: Details) -> None:
        """Log each retry without URLs, arguments or bodies (they may carry secrets)."""
        exc = details.get("exception")
        response = getattr(exc, "response", None)
        reason = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
        self.logger.warning(
            "Retrying a request of stream '%s' in %.1f s after %s (try %d).",
            self.name,
            details.get("wait") or 0.0,
            reason,
            details.get("tries", 0),
        )

    def validate_response(self, response: requests.Response) -> None:
        """Retry 429, 408 and 5xx; turn every other error into a readable fatal error."""
        status = response.status_code
        if status in self.extra_retry_statuses or status >= 500:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= 400:
            raise ComplianceAPIError(self.describe_error(response))

    def describe_error(self, response: requests.Response) -> str:
        """Return the one-line message for a fatal answer of this stream's endpoint."""
        return describe_http_error(response, workspace_id=self.workspace_id)

    def response_error_message(self, response: requests.Response) -> str:
        """Describe a failed response by status and path only (no headers, no body)."""
        path = urlparse(response.url).path
        return f"HTTP {response.status_code} {response.reason} for path {path}"


class OncePerRunSchema(RESTStream[t.Any]):
    """A child stream that sends its SCHEMA message once per run, not once per parent.

    The SDK re-sends a child's SCHEMA for every parent context (every log file here): thousands
    of identical messages that cost time in the tap and make some targets flush their batches.
    """

    _schema_sent = False

    def _write_schema_message(self) -> None:
        if not self._schema_sent:
            super()._write_schema_message()
            self._schema_sent = True


def _note_tries(details: Details) -> None:
    """Keep the number of tries on the exception that ends the retries, for its message."""
    exc = details.get("exception")
    if isinstance(exc, BaseException):
        with contextlib.suppress(AttributeError):  # an exception class with __slots__
            exc.tries = details.get("tries")  # type: ignore[attr-defined]
