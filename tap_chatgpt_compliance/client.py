"""Base stream of the tap: the run's settings and transport, error messages, record output."""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qs, urlparse

from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.errors import ComplianceAPIError, describe_http_error
from tap_chatgpt_compliance.http.pagination import (
    LIST_PAGE_FIELDS,
    LOG_PAGE_FIELDS,
    check_listing_order,
    check_page_shape,
    page_body,
    several_documents,
)
from tap_chatgpt_compliance.http.transport import RETRY_STATUSES, response_error_message
from tap_chatgpt_compliance.sdk import SeamStream, override

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import RequestFunc

    from tap_chatgpt_compliance.http.transport import Transport
    from tap_chatgpt_compliance.run.sync import SyncRun
    from tap_chatgpt_compliance.settings import Settings


class ComplianceStream(SeamStream):
    """A stream of the Compliance API (``https://api.chatgpt.com/v1``)."""

    records_jsonpath = "$.data[*]"
    extra_retry_statuses = list(RETRY_STATUSES)

    @property
    def settings(self) -> Settings:
        """Return the run's settings, read once by the tap."""
        return t.cast("Settings", self.tap.settings)  # type: ignore[attr-defined]

    @property
    def transport(self) -> Transport:
        """Return the run's HTTP transport (sessions, pacing, retries), shared by all streams."""
        return t.cast("Transport", self.tap.transport)  # type: ignore[attr-defined]

    @property
    @override
    def url_base(self) -> str:
        """Return the API base URL from ``api_url``."""
        return self.settings.api_url

    @property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        """Send ``Authorization: Bearer <api_key>``."""
        return BearerTokenAuthenticator(token=self.settings.api_key)

    @property
    @override
    def requests_session(self) -> requests.Session:
        """Return the calling thread's paced session to the API (see transport.py)."""
        return self.transport.api_session()

    @property
    @override
    def timeout(self) -> float:  # type: ignore[override]
        """Return the request timeout in seconds (``request_timeout``)."""
        return self.settings.request_timeout

    @property
    def workspace_id(self) -> str:
        """Return the configured workspace id."""
        return self.settings.workspace_id

    @property
    def sync_run(self) -> SyncRun:
        """Return the per-run cache and counters shared by all streams."""
        return t.cast("SyncRun", self.tap.sync_run)  # type: ignore[attr-defined]

    def commit_staged(self) -> bool:
        """Make final what the stream staged for the log file being archived (default: none).

        Asked of every stream just before the STATE that moves a log file's bookmark
        (streams/logs.py): the files stream's chain head and retry list. Return whether the
        state changed.
        """
        return False

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry with the run's policy; the number of tries is kept on the final exception."""
        return t.cast(
            "RequestFunc", self.transport.retrying(func, self.logger, f"stream '{self.name}'")
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Parse a page; an incremental stream's page is checked for order before any use.

        The bookmark of an incremental stream (the log listing) moves with each item: an item
        earlier than the ``after`` asked for, or a page not ascending, would move it past files
        not yet seen, so the whole page is refused (:class:`ListingError`). Every page is
        checked for its shape first (:func:`check_page_shape`).
        """
        query = parse_qs(urlparse(str(response.request.url or "")).query)
        after = next(iter(query.get("after") or []), None)
        path = urlparse(str(response.url)).path
        cursor = f"after={after}" if after else "first page"
        check_page_shape(
            page_body(response, path, cursor),
            LOG_PAGE_FIELDS if self.replication_key else LIST_PAGE_FIELDS,
            path,
            cursor,
        )
        if not self.replication_key:
            yield from super().parse_response(response)
            return
        items = list(super().parse_response(response))
        check_listing_order(
            items,
            key=self.replication_key,
            after=after,
            what=f"{(query.get('event_type') or [self.name])[0]} listing",
        )
        yield from items

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Retry 429, 408 and 5xx; turn every other error into a readable fatal error."""
        status = response.status_code
        if status in self.extra_retry_statuses or status >= 500:
            raise RetriableAPIError(self.response_error_message(response), response)
        if several_documents(response):  # reference §5 #12: a passing fault, asked again
            msg = f"{self.response_error_message(response)}: several JSON documents in one answer"
            raise RetriableAPIError(msg, response)
        if status >= 400:
            raise ComplianceAPIError(self.describe_error(response))

    def describe_error(self, response: requests.Response) -> str:
        """Return the one-line message for a fatal answer of this stream's endpoint."""
        return describe_http_error(response, workspace_id=self.workspace_id)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Describe a failed response by status and path only (no headers, no body)."""
        return response_error_message(response)


def commit_staged(streams: Iterable[object]) -> None:
    """Ask every stream to make final what it staged (:meth:`ComplianceStream.commit_staged`)."""
    for stream in streams:
        if isinstance(stream, ComplianceStream):
            stream.commit_staged()
