"""Downloads through the API's 307 redirect to a short-lived signed URL, for one reader.

The work is done by the run's :class:`~tap_chatgpt_compliance.http.transport.Transport`; a
:class:`Downloader` carries who is downloading: its error messages, its logger and its name
in the log (a stream builds one for itself).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_chatgpt_compliance.http.transport import (
    EXPIRED,
    FRESH_URL_TRIES,
    REDIRECTS,
    Transport,
    Unavailable,
)

if t.TYPE_CHECKING:
    import logging

    import requests

    from tap_chatgpt_compliance.http.transport import DescribeError

T = t.TypeVar("T")

__all__ = ["EXPIRED", "FRESH_URL_TRIES", "REDIRECTS", "Downloader", "Unavailable"]


@dataclass(frozen=True, slots=True)
class Downloader:
    """The transport, with the error messages, logger and name of whoever downloads."""

    transport: Transport
    describe: DescribeError | None = None
    logger: logging.Logger | None = None
    what: str = "a download"

    def download(
        self,
        path: str,
        consume: t.Callable[[requests.Response], T],
        params: dict[str, t.Any] | None = None,
    ) -> T:
        """GET ``path`` on the API, follow its redirect without credentials, hand the body over.

        See :meth:`Transport.download`.
        """
        return self.transport.download(
            path, consume, params, describe=self.describe, logger=self.logger, what=self.what
        )
