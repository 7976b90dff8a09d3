"""Base stream of the tap: the run's settings and transport, error messages, record output."""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import parse_qs, urlparse

from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.errors import ComplianceAPIError, describe_http_error
from tap_chatgpt_compliance.http.pagination import (
    LIST_PAGE_FIELDS,
    LOG_PAGE_FIELDS,
    check_listing_order,
    check_page_shape,
)
from tap_chatgpt_compliance.http.transport import RETRY_STATUSES, response_error_message
from tap_chatgpt_compliance.sdk import (
    lean_sync_records,
    run_meters,
    sync_children,
    sync_log_level,
    write_record,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk import metrics
    from singer_sdk.helpers.types import Context, Record, RequestFunc

    from tap_chatgpt_compliance.http.transport import Transport
    from tap_chatgpt_compliance.run.output import Verbatim
    from tap_chatgpt_compliance.run.sync import SyncRun
    from tap_chatgpt_compliance.settings import Settings


class ComplianceStream(RESTStream[t.Any]):
    """A stream of the Compliance API (``https://api.chatgpt.com/v1``)."""

    records_jsonpath = "$.data[*]"
    extra_retry_statuses = list(RETRY_STATUSES)

    @property
    def settings(self) -> Settings:
        """Return the run's settings, read once by the tap."""
        return t.cast("Settings", self._tap.settings)  # type: ignore[attr-defined]

    @property
    def transport(self) -> Transport:
        """Return the run's HTTP transport (sessions, pacing, retries), shared by all streams."""
        return t.cast("Transport", self._tap.transport)  # type: ignore[attr-defined]

    @property
    def url_base(self) -> str:
        """Return the API base URL from ``api_url``."""
        return self.settings.api_url

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        """Send ``Authorization: Bearer <api_key>``."""
        return BearerTokenAuthenticator(token=self.settings.api_key)

    @property
    def requests_session(self) -> requests.Session:
        """Return the calling thread's paced session to the API (see transport.py)."""
        return self.transport.api_session()

    @property
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
        return t.cast("SyncRun", self._tap.sync_run)  # type: ignore[attr-defined]

    _verbatim: tuple[Record, Verbatim] | None = None
    """A record about to be written, and a field of it whose JSON text is known (output.py)."""

    def _write_record_message(self, record: Record) -> None:
        """Write a RECORD by the tap's fast path when the SDK's would only copy it (sdk.py)."""
        known = self._verbatim
        verbatim = known[1] if known is not None and known[0] is record else None
        write_record(self, record, super()._write_record_message, verbatim)

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        """Run the SDK's record loop, or its lean equivalent for a child stream (sdk.py)."""
        lean = lean_sync_records(self, context, write_messages)
        if lean is None:
            yield from super()._sync_records(context, write_messages=write_messages)
        else:
            yield from lean

    def _process_record(
        self,
        record: Record,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Sync the record's child streams; a stream without any has nothing to do (sdk.py)."""
        if self.child_streams or partition_context:
            super()._process_record(record, child_context, partition_context)

    def _sync_children(self, child_context: Context | None) -> None:
        """Sync the child streams, skipping those with nothing to write (sdk.py, item 11)."""
        if not sync_children(self, child_context):
            super()._sync_children(child_context)

    def may_have_records(self, context: Context | None) -> bool:
        """Whether a sync for ``context`` can write a record (False: it is skipped).

        A stream read from the log files says so by its ``log_file(context)``: None when the
        segment holds nothing it reads.
        """
        log_file = getattr(self, "log_file", None)
        return log_file is None or log_file(context) is not None

    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Move the bookmark; a stream without a replication key has none to move (sdk.py)."""
        if self.replication_key:
            super()._increment_stream_state(latest_record, context=context)

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

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry with the run's policy; the number of tries is kept on the final exception."""
        return t.cast(
            "RequestFunc", self.transport.retrying(func, self.logger, f"stream '{self.name}'")
        )

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Parse a page; an incremental stream's page is checked for order before any use.

        The bookmark of an incremental stream (the log listing) moves with each item: an item
        earlier than the ``after`` asked for, or a page not ascending, would move it past files
        not yet seen, so the whole page is refused (:class:`ListingError`). Every page is
        checked for its shape first (:func:`check_page_shape`).
        """
        query = parse_qs(urlparse(str(response.request.url or "")).query)
        after = next(iter(query.get("after") or []), None)
        check_page_shape(
            response.json(),
            LOG_PAGE_FIELDS if self.replication_key else LIST_PAGE_FIELDS,
            urlparse(str(response.url)).path,
            f"after={after}" if after else "first page",
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
        return response_error_message(response)


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
