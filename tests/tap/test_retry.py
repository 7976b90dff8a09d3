"""Retry-After is honoured in both of its forms; otherwise exponential backoff, capped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_chatgpt_compliance.http.retry import retry_after_seconds, wait_generator


def _error(retry_after: str | None) -> RetriableAPIError:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return RetriableAPIError("rate limited", response)


def test_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30)), now=now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30)), now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_generator_prefers_retry_after_then_backs_off_exponentially() -> None:
    gen = wait_generator(max_wait=10)
    gen.send(None)  # primed, as backoff does
    assert gen.send(_error("3")) == 3.0
    assert gen.send(ConnectionError()) == 2.0  # second attempt without a header: 2 ** 1
    assert gen.send(_error(None)) == 4.0
    assert gen.send(_error("120")) == 10.0  # capped
    assert gen.send(ConnectionError()) == 10.0
