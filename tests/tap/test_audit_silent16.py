"""Audit round 16 ("never silent"): a bad day in production, over real HTTP to the simulator.

Settings whose value no run can use end as one line naming the setting, before any request:
a number so large that a clock, a deadline or a wait overflows used to end as "Unexpected error
OverflowError" after requests were sent, and an ``api_url`` with a query or fragment as a 404
blamed on ``workspace_id``; a storage URL of a bare scheme (``s3://``) as a local folder
named ``s3:``.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tests.support.simulators import running, tiny_world
from tests.support.singer import parse_singer
from tests.support.tap import (
    TapRun,
    assert_one_readable_line,
    run_tap,
    tap_command,
    tap_config,
    tap_env,
)


@pytest.fixture(scope="module")
def sim(simulator_factory_module: Any) -> Simulator:
    simulator: Simulator = simulator_factory_module(seed=16, span_days=0.8, speed=60.0)
    return simulator


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("request_timeout", 1e12, "request_timeout 1000000000000.0 is not valid (too large)"),
        ("max_retry_wait", 1e10, "to 86400, or remove it"),
        ("max_clock_skew_seconds", 10**12, "to 86400, or remove it"),
        ("seal_retention_days", 10**9, "to 36500, or remove it"),
    ],
)
def test_a_number_too_large_to_use_is_one_line_before_any_request(
    sim: Simulator, setting: str, value: float, said: str
) -> None:
    """A value that overflowed a clock or a wait mid-run ("Unexpected error OverflowError")."""
    before = sim.request_count()
    run = run_tap(tap_config(sim, file_content="none", **{setting: value}), timeout=60)
    assert_one_readable_line(run, setting, said)
    assert sim.request_count() == before
    assert run.stdout == ""


@pytest.mark.parametrize(
    "suffix", ["?token=SECRET1", "#SECRET1", "/?"], ids=["query", "fragment", "empty-query"]
)
def test_an_api_url_with_a_query_or_fragment_is_one_line_before_any_request(
    sim: Simulator, suffix: str
) -> None:
    """Every route was cut into the query (``/v1?x=1/compliance/…``): a 404 blamed on the
    workspace id."""
    before = sim.request_count()
    run = run_tap(tap_config(sim, file_content="none", api_url=sim.base_url + suffix), timeout=60)
    assert_one_readable_line(run, "api_url", "query or fragment", "https://api.chatgpt.com/v1")
    assert sim.request_count() == before
    assert run.stdout == ""
    assert "SECRET1" not in run.stderr  # a query may carry a credential: never shown


def _run_in(folder: Path, config: dict[str, Any]) -> TapRun:
    """Run the tap to completion with ``folder`` as its working directory."""
    result = subprocess.run(
        tap_command(config, None, folder),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=tap_env(),
        cwd=folder,
    )
    records, states = parse_singer(result.stdout)
    return TapRun(result.returncode, result.stdout, result.stderr, records, states)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"file_content": "storage", "file_storage_url": "s3://"}, "file_storage_url"),
        ({"file_content": "none", "file_storage_url": "s3:///"}, "file_storage_url"),
        ({"file_content": "none", "seal_storage_url": "s3://"}, "seal_storage_url"),
    ],
    ids=["attachments", "seals-beside-attachments", "seals"],
)
def test_a_storage_url_of_a_bare_scheme_is_refused_not_a_local_folder(
    sim: Simulator, tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    """``s3://`` lost its slashes (``s3:``) and became a local folder named ``s3:`` in the
    working directory: attachments or seals written to this machine's disk, exit 0."""
    before = sim.request_count()
    run = _run_in(tmp_path, tap_config(sim, **settings))
    assert_one_readable_line(run, named, "names no bucket or folder")
    assert sim.request_count() == before
    assert run.stdout == ""
    assert not (tmp_path / "s3:").exists()


# --------------------------------------------------------------------------- redirect credentials

DOWNLOAD = "/v1/compliance/workspaces/{workspace_id}/logs/{log_file_id}"
UPLOAD = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/files/{file_id}"
USERINFO = "archiver:SECRET3"
"""Credentials in a redirect's ``Location`` (``scheme://user:password@host``): never shown."""


@pytest.fixture
def silent_host() -> Any:
    """Yield ``127.0.0.1:port`` of a listener that takes connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _no_credentials(run: TapRun) -> None:
    assert "SECRET3" not in run.stderr, run.stderr[-2000:]
    assert "SECRET3" not in run.stdout  # no record (status_reason, storage_uri) holds it


def test_a_refused_redirect_never_shows_its_credentials(sim: Simulator) -> None:
    sim.inject(DOWNLOAD, redirect=f"http://{USERINFO}@files.example.invalid/x", count=5)
    run = run_tap(tap_config(sim, file_content="none", max_retries=0), timeout=60)
    sim._faults.clear()
    assert_one_readable_line(run, "http://files.example.invalid", "not https")
    _no_credentials(run)


def test_a_download_host_that_never_answers_is_named_without_its_credentials(
    sim: Simulator, silent_host: str
) -> None:
    sim.inject(DOWNLOAD, redirect=f"http://{USERINFO}@{silent_host}/x", count=5)
    config = tap_config(sim, file_content="none", max_retries=0, request_timeout=1)
    run = run_tap(config, timeout=60)
    sim._faults.clear()
    assert_one_readable_line(run, f"http://{silent_host}")
    _no_credentials(run)


@pytest.fixture(scope="module")
def uploads() -> Any:
    """A tiny workspace whose messages carry chat uploads."""
    config = SimulatorConfig(
        **tiny_world(attachment_rate=0.6, conversations=3, attachment_size=(200, 2000))
    )
    with running(config) as simulator:
        yield simulator


def test_an_attachment_host_that_refuses_connections_is_named_without_its_credentials(
    uploads: Simulator,
) -> None:
    """The attachment's ``status_reason`` (archived in its record) names the host it could not
    connect to: with the ``user:password@`` of the redirect, which the archive then held."""
    with socket.socket() as sock:  # a port bound, never listened on: connections are refused
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
        uploads.inject(UPLOAD, redirect=f"http://{USERINFO}@{closed}/x", count=1000)
        run = run_tap(tap_config(uploads, max_retries=0), timeout=120)
    uploads._faults.clear()
    failed = [row for row in run.records["files"] if row["status"] == "failed"]
    assert failed, run.stderr[-2000:]
    assert any(closed in (row.get("status_reason") or "") for row in failed), failed
    _no_credentials(run)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"file_storage_options": {"endpoint_url": "http://s3.invalid"}}, "file_storage_options"),
        (
            {"file_storage_options": {"client_kwargs": {"endpoint_url": "http://k:s@s3.invalid"}}},
            "file_storage_options client_kwargs.endpoint_url",
        ),
        ({"seal_storage_options": {"endpoint_url": "http://s3.invalid:9000"}}, "seal_storage"),
        ({"file_storage_url": "http://files.invalid/archive"}, "file_storage_url"),
    ],
    ids=["endpoint", "client-kwargs-with-credentials", "seal-endpoint", "http-url"],
)
def test_a_store_over_plain_http_to_another_machine_is_one_line_before_any_request(
    sim: Simulator, tmp_path: Path, settings: dict[str, Any], named: str
) -> None:
    """The archive (and request signatures) would cross the network unencrypted; the store was
    probed (a name lookup, a connection) before the run failed, or written over http."""
    before = sim.request_count()
    config = tap_config(
        sim, file_content="storage", **{"file_storage_url": str(tmp_path / "files"), **settings}
    )
    if "seal_storage_options" in settings:
        config["seal_storage_url"] = "s3://seals/tenant"
    run = run_tap(config, timeout=60)
    assert_one_readable_line(run, named, "plain http to another machine", "https://")
    assert "k:s@" not in run.stderr
    assert sim.request_count() == before
    assert run.stdout == ""


def test_a_store_over_plain_http_on_this_machine_is_accepted() -> None:
    """Loopback stays allowed (moto, MinIO on this machine): the rule is about other machines."""
    from tap_chatgpt_compliance.settings import config_errors

    for url in ("http://127.0.0.1:5000", "http://localhost:9000", "http://[::1]:9000"):
        assert not [
            line
            for line in config_errors({"file_storage_options": {"endpoint_url": url}})
            if "plain http" in line
        ]
