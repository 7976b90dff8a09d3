"""Downloads through the API's 307 redirect to a short-lived signed URL."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.errors import ComplianceAPIError, server_message

if t.TYPE_CHECKING:
    import requests

    from tap_chatgpt_compliance.client import ComplianceStream

T = t.TypeVar("T")
REDIRECTS = (301, 302, 303, 307, 308)
EXPIRED = (401, 403, 410)
"""What object stores answer for an expired or refused signed URL."""
FRESH_URL_TRIES = 3


class Unavailable(ComplianceAPIError):
    """The API answered that the object cannot be downloaded (403, 404 or 410)."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        """Keep the status and the server's text beside the message."""
        super().__init__(message)
        self.status = status
        self.detail = detail


def download(
    stream: ComplianceStream,
    path: str,
    consume: t.Callable[[requests.Response], T],
    params: dict[str, t.Any] | None = None,
) -> T:
    """GET ``path`` on the API, follow its redirect without credentials, hand the body over.

    Every try asks the API for a fresh signed URL, so an expired URL is never retried as is:
    an expired or refused signed URL is replaced at once (a few times), other failures (429,
    5xx, connection errors, truncated bodies) are retried with the stream's backoff; 403, 404
    and 410 of the API itself raise :class:`Unavailable`.
    """

    def attempt() -> T:
        for _ in range(FRESH_URL_TRIES):
            response = _api_get(stream, path, params)
            if response.status_code not in REDIRECTS:
                with response:
                    return consume(response)
            location = response.headers.get("Location")
            response.close()
            if not location:
                msg = f"The API answered {path} with a redirect but no Location header."
                raise RetriableAPIError(msg, response)
            with stream.signed_url_session.get(
                location, stream=True, timeout=stream.timeout
            ) as signed:
                if signed.status_code == 200:
                    return consume(signed)
                if signed.status_code not in EXPIRED:
                    msg = f"The signed download URL answered HTTP {signed.status_code}."
                    raise RetriableAPIError(msg, signed)
            # Expired or refused: ask the API for a fresh URL at once, no backoff needed.
        msg = (
            f"{FRESH_URL_TRIES} signed download URLs in a row were expired or refused for "
            f"{path} (check the machine's clock, and that no proxy adds credentials to requests "
            "to the download host)"
        )
        raise RetriableAPIError(msg)

    retrying = t.cast("t.Callable[[], T]", stream.request_decorator(t.cast("t.Any", attempt)))
    return retrying()


def _api_get(
    stream: ComplianceStream, path: str, params: dict[str, t.Any] | None
) -> requests.Response:
    prepared = stream.build_prepared_request(
        method="GET", url=f"{stream.url_base}{path}", params=params or {}
    )
    response = stream.requests_session.send(
        prepared, timeout=stream.timeout, allow_redirects=False, stream=True
    )
    status = response.status_code
    if status in REDIRECTS or status == 200:
        return response
    response.content  # noqa: B018  (read the error body before releasing the connection)
    if status in (403, 404, 410):
        raise Unavailable(stream.describe_error(response), status, server_message(response))
    stream.validate_response(response)
    msg = f"Unexpected HTTP {status} from {path}."
    raise ComplianceAPIError(msg)
