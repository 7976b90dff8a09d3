"""A bad day in production: faults that must neither hang a run, nor end it silently.

Each test runs the tap as a real process against the simulator (or checks a setting before
any request), as an hourly ``meltano run`` would meet the fault.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.errors import ListingError
from tap_chatgpt_compliance.http.pacing import Pacer
from tap_chatgpt_compliance.http.pagination import LastIdPaginator, LogFilesPaginator
from tap_chatgpt_compliance.http.retry import retry_after_seconds
from tap_chatgpt_compliance.settings import config_errors
from tests.support.tap import assert_one_readable_line, logged_seconds, run_tap, tap_config
from tests.tap.test_pacing import FakeClock
from tests.tap.test_settings import GOOD

LIST = "/v1/compliance/workspaces/{workspace_id}/logs"
DOWNLOAD = f"{LIST}/{{log_file_id}}"


def test_a_huge_retry_after_waits_at_most_max_retry_wait(simulator_factory) -> None:
    """A 429 asking for an hour: the route waits max_retry_wait, not the hour (no hung run)."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    sim.inject(LIST, status=429, retry_after=3600, count=1)
    run = run_tap(tap_config(sim, file_content="none", max_retry_wait=1), timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert logged_seconds(run.stderr) < 45
    assert run.ids("log_files") == {f["id"] for f in sim.log_files()}


def test_a_retry_after_that_is_no_number_of_seconds_is_ignored() -> None:
    """``inf``/``nan`` are not delays (an infinite block would crash ``time.sleep``)."""
    assert retry_after_seconds("inf") is None
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds("-5") == 0.0
    assert retry_after_seconds("7") == 7.0


def test_the_pacer_blocks_a_route_at_most_max_wait() -> None:
    """A Retry-After of an hour blocks the route for max_retry_wait (2 s here)."""
    clock = FakeClock()
    pacer = Pacer(100, max_wait=2.0, clock=clock, sleep=clock.sleep)
    route = "/compliance/workspaces/{}/logs"
    pacer.throttled(route, 3600.0)
    assert pacer.acquire(route) <= 3.0


def test_a_start_date_in_the_future_is_refused_before_any_request(simulator_factory) -> None:
    """A typo (2062 for 2026) must not give run after run of exit 0 with nothing archived."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    future = (datetime.now(timezone.utc) + timedelta(days=365)).isoformat()
    assert config_errors({**GOOD, "start_date": "2026-01-31"}) == []
    errors = config_errors({**GOOD, "start_date": future})
    assert len(errors) == 1
    assert errors[0].startswith("start_date")
    assert "in the future" in errors[0]
    run = run_tap(tap_config(sim, file_content="none", start_date=future), timeout=60)
    assert_one_readable_line(run, "start_date", "in the future")
    assert sim.request_count() == 0
    assert run.stdout == ""


def test_an_api_key_with_a_line_break_around_it_works(simulator_factory) -> None:
    """A key pasted from a file (``sk-…\\n``): no "connection failed, rerun later" forever."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    run = run_tap(tap_config(sim, file_content="none", api_key=f" {sim.api_key}\n"), timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("log_files") == {f["id"] for f in sim.log_files()}


def test_an_api_key_broken_inside_is_named_before_any_request(simulator_factory) -> None:
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    broken = sim.api_key[:12] + "\n" + sim.api_key[12:]
    run = run_tap(tap_config(sim, file_content="none", api_key=broken), timeout=60)
    assert_one_readable_line(run, "api_key holds a space, a line break")
    assert sim.request_count() == 0
    for part in broken.split():
        assert part not in run.stderr


SIGNED_SECRETS = (
    "X-Amz-Credential=AKIAEXAMPLE&X-Amz-Security-Token=SESSIONTOKEN&X-Amz-Signature=SIG"
)


def test_a_signed_url_that_cannot_be_reached_is_never_logged(simulator_factory) -> None:
    """A signed URL's query carries credentials: the retry lines must not quote it."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    signed = f"http://127.0.0.1:{port}/o/token/file.jsonl?{SIGNED_SECRETS}"
    sim.inject(DOWNLOAD, redirect=signed, count=3)
    run = run_tap(tap_config(sim, file_content="none", max_retries=2, max_retry_wait=0))
    assert_one_readable_line(run, f"Cannot reach http://127.0.0.1:{port}")
    for secret in ("AKIAEXAMPLE", "SESSIONTOKEN", "X-Amz-Signature"):
        assert secret not in run.stderr


def test_debug_logs_never_show_a_signed_url_query(simulator_factory) -> None:
    """TAP_CHATGPT_COMPLIANCE_LOGLEVEL=DEBUG logs every request, but no signed URL's query."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    env = {"TAP_CHATGPT_COMPLIANCE_LOGLEVEL": "DEBUG"}
    run = run_tap(tap_config(sim, file_content="none"), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "urllib3" in run.stderr  # the requests are logged …
    assert "/o/" in run.stderr
    assert "X-Amz-Signature" not in run.stderr  # … without their signature
    assert "X-Amz-Expires" not in run.stderr


def test_a_redirect_to_plain_http_elsewhere_is_refused_without_sending(simulator_factory) -> None:
    """A 307 to ``http://`` on another machine: the log file would cross the network in clear.

    The host is under ``.invalid``: a try to reach it would end as "Cannot reach" (no such
    host), so the refusal line proves that nothing was sent.
    """
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    sim.inject(DOWNLOAD, redirect=f"http://signed.invalid/o/token/file.jsonl?{SIGNED_SECRETS}")
    run = run_tap(tap_config(sim, file_content="none", max_retries=2, max_retry_wait=0))
    last = assert_one_readable_line(run, "http://signed.invalid", "refused", "https")
    assert "Cannot reach" not in run.stderr
    assert "SESSIONTOKEN" not in last
    assert run.records["log_files"] == []
    assert run.state is None or "replication_key_value" not in str(run.state)


def test_a_signed_host_redirecting_to_plain_http_elsewhere_is_refused(simulator_factory) -> None:
    """The signed host's own redirect is checked the same way (it was followed blindly)."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    sim.inject("signed", redirect="http://elsewhere.invalid/o/token/file.jsonl")
    run = run_tap(tap_config(sim, file_content="none", max_retries=2, max_retry_wait=0))
    assert_one_readable_line(run, "http://elsewhere.invalid", "refused")
    assert "Cannot reach" not in run.stderr
    assert run.records["log_files"] == []


def test_a_redirect_loop_of_the_signed_host_fails_in_one_line(simulator_factory) -> None:
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    sim.inject("signed", redirect=f"{sim.signed_base_url}/o/loop/file.jsonl", count=1000)
    run = run_tap(tap_config(sim, file_content="none", max_retries=1, max_retry_wait=0))
    assert "redirect" in assert_one_readable_line(run).lower()
    assert run.records["log_files"] == []


def test_a_misspelt_setting_is_refused_before_any_request(simulator_factory) -> None:
    """``event_type`` for ``event_types``: every run would archive the default type, exit 0."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    config = tap_config(sim, file_content="none")
    config["event_type"] = ["AUDIT_LOG"]
    run = run_tap(config, timeout=60)
    assert_one_readable_line(run, "Unknown setting 'event_type'", "did you mean event_types?")
    assert sim.request_count() == 0
    assert run.stdout == ""


def test_the_sdk_settings_are_known(simulator_factory) -> None:
    """Stream maps and flattening are settings too (the SDK's): never called unknown."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    config = tap_config(sim, file_content="none", flattening_enabled=False, stream_maps={})
    run = run_tap(config, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]


def _log_page(after: str, last_end_time: str | None, *, has_more: bool = True) -> requests.Response:
    """A log listing page answered to ``after`` (no items: only the cursor matters here)."""
    response = requests.Response()
    response.status_code = 200
    body = {"data": [], "has_more": has_more, "last_end_time": last_end_time}
    response._content = json.dumps(body).encode()
    url = f"https://api.chatgpt.invalid/v1/compliance/workspaces/w/logs?after={after}"
    response.request = requests.Request("GET", url).prepare()
    return response


def _page_through(paginator: LogFilesPaginator, answer: dict[str, str], pages: int) -> None:
    """Advance ``paginator`` through ``pages`` pages, each answered ``answer[after]``."""
    for _ in range(pages):
        after = paginator.current_value.after
        paginator.advance(_log_page(after, answer[after]))


def test_a_listing_whose_last_end_time_goes_backwards_fails() -> None:
    """T5, then T1, then T5 again, …: paging would never end (each cursor differs from the last)."""
    t0, t1, t5 = "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", "2026-11-01T05:00:00Z"
    with pytest.raises(ListingError, match="backwards"):
        _page_through(LogFilesPaginator(t0), {t0: t5, t5: t1, t1: t5}, pages=50)


def _list_page(last_id: str) -> requests.Response:
    """A Gen-1 list page saying has_more with ``last_id`` (no items: only the cursor matters)."""
    response = requests.Response()
    response.status_code = 200
    body = {"object": "list", "data": [], "has_more": True, "last_id": last_id}
    response._content = json.dumps(body).encode()
    url = "https://api.chatgpt.invalid/v1/compliance/workspaces/w/users"
    response.request = requests.Request("GET", url).prepare()
    return response


def _list_through(paginator: LastIdPaginator, last_ids: list[str]) -> None:
    for last_id in last_ids:
        paginator.advance(_list_page(last_id))


def test_a_list_whose_last_id_comes_back_fails() -> None:
    """last_id a, b, a, b, …: the users list would be paged forever (a run that never ends)."""
    with pytest.raises(ListingError, match="last_id a again"):
        _list_through(LastIdPaginator(), ["a", "b"] * 25)


def test_a_store_url_with_a_password_is_refused_without_showing_it(simulator_factory) -> None:
    """``s3://KEY:SECRET@bucket``: the secret would land in every storage_uri and error line."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    url = "s3://AKIAEXAMPLE:SECRETACCESSKEY@archive-bucket/chatgpt"
    run = run_tap(tap_config(sim, file_content="storage", file_storage_url=url), timeout=60)
    assert_one_readable_line(run, "file_storage_url holds credentials", "file_storage_options")
    assert "SECRETACCESSKEY" not in run.stderr
    assert sim.request_count() == 0
    plain = config_errors({**GOOD, "api_url": "http://u:SECRETPW@proxy.invalid/v1"})
    assert len(plain) == 2, plain  # the password, and plain http to another machine
    assert "SECRETPW" not in " ".join(plain)
    for name in ("seal_storage_url", "api_url"):
        errors = config_errors({**GOOD, name: "https://u:SECRETPW@host.invalid/x"})
        assert len(errors) == 1, errors
        assert errors[0].startswith(f"{name} holds credentials")
        assert "SECRETPW" not in errors[0]


@pytest.mark.parametrize(
    "variable",
    ["TAP_CHATGPT_COMPLIANCE_LOGLEVEL", "LOGLEVEL", "TAP_CHATGPT_COMPLIANCE_METRICS_LOG_LEVEL"],
)
def test_a_log_level_that_is_no_level_is_one_line_before_any_request(
    simulator_factory, variable: str
) -> None:
    """``verbose`` was a traceback (the SDK's logging set-up) or an "Unexpected error"."""
    sim: Simulator = simulator_factory(seed=11, span_days=0.8, speed=60.0)
    run = run_tap(tap_config(sim, file_content="none"), env={variable: "verbose"}, timeout=60)
    assert_one_readable_line(run, variable, "'verbose' is not a log level", "DEBUG")
    assert sim.request_count() == 0
    assert run.stdout == ""
