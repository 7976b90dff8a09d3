"""Downloads through the API's 307 redirect to a short-lived signed URL, for a stream.

The work is done by the run's :class:`~tap_chatgpt_compliance.http.transport.Transport`; this module
keeps the stream-facing call: the stream names its errors and its retries in the log.
"""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance.http.transport import (
    EXPIRED,
    FRESH_URL_TRIES,
    REDIRECTS,
    Transport,
    Unavailable,
)

if t.TYPE_CHECKING:
    import requests

    from tap_chatgpt_compliance.client import ComplianceStream

T = t.TypeVar("T")

__all__ = ["EXPIRED", "FRESH_URL_TRIES", "REDIRECTS", "Unavailable", "download"]


def download(
    stream: ComplianceStream | Transport,
    path: str,
    consume: t.Callable[[requests.Response], T],
    params: dict[str, t.Any] | None = None,
) -> T:
    """GET ``path`` on the API, follow its redirect without credentials, hand the body over.

    See :meth:`Transport.download`; a stream's own error messages and logger are used.
    """
    if isinstance(stream, Transport):
        return stream.download(path, consume, params)
    return stream.transport.download(
        path,
        consume,
        params,
        describe=stream.describe_error,
        logger=stream.logger,
        what=f"stream '{stream.name}'",
    )
