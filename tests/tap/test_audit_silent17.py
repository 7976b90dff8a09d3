"""Audit round 17 ("never silent"): bad input and odd endings, over real HTTP to the simulator.

An explicit ``event_types: []`` archived the default type; a ``--state``/``--catalog`` that
cannot be read ended in click's usage screen (exit 2); an event type the API refuses gave two
ERROR lines; a one-character key hid every such character of the settings' error lines;
``--about`` piped to ``head`` ended with an error line, ``--discover`` with no line at all; an
S3 store that throttles (503 SlowDown) was blamed on ``file_storage_url`` or on the seal
bucket's Object Lock.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chatgpt_compliance_simulator import Simulator
from tests.support.servers import throttling_s3_proxy
from tests.support.singer import parse_singer
from tests.support.tap import (
    TAP,
    TapRun,
    assert_one_readable_line,
    run_tap,
    tap_command,
    tap_config,
    tap_env,
)


@pytest.fixture(scope="module")
def sim(simulator_factory_module: Any) -> Simulator:
    simulator: Simulator = simulator_factory_module(seed=17, span_days=0.5, speed=60.0)
    return simulator


def _error_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| ERROR" in line]


# --------------------------------------------------------------------------- event_types: []


@pytest.mark.parametrize("value", [[], "[]"], ids=["list", "text"])
def test_an_empty_event_types_list_is_refused_before_any_request(
    sim: Simulator, value: Any
) -> None:
    """``event_types: []`` (or Meltano's text ``[]``) archived CONVERSATION_MESSAGE, exit 0:
    an explicit empty list is a mistake (a list emptied by a template), not "the default"."""
    before = sim.request_count()
    run = run_tap(tap_config(sim, file_content="none", event_types=value), timeout=60)
    assert_one_readable_line(run, "event_types", "empty", "CONVERSATION_MESSAGE")
    assert sim.request_count() == before
    assert run.stdout == ""


# --------------------------------------------------------------------------- --state / --catalog


def _run_with(sim: Simulator, folder: Path, *args: str, **settings: Any) -> TapRun:
    """Run the tap with extra command-line arguments and ``settings`` for ``sim``.

    Unlike run_tap, it does not check that the key is nowhere in the output (a test's own).
    """
    command = tap_command(tap_config(sim, **{"file_content": "none", **settings}), None, folder)
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False, env=tap_env()
    )
    records, states = parse_singer(result.stdout)
    return TapRun(result.returncode, result.stdout, result.stderr, records, states)


@pytest.mark.parametrize("option", ["--state", "--catalog"])
@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "no such file"),
        ("folder", "is a folder"),
        (b"\xff\xfe{}", "cannot be read"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not an object"),
    ],
    ids=["missing", "folder", "not-utf8", "broken-json", "not-an-object"],
)
def test_a_state_or_catalog_that_cannot_be_read_is_one_line_naming_it(
    sim: Simulator, tmp_path: Path, option: str, content: bytes | str | None, said: str
) -> None:
    """A missing or unreadable file ended in click's usage screen (exit 2); bad bytes or JSON in
    a catalog as "Unexpected error UnicodeDecodeError/JSONDecodeError … report it"."""
    path = tmp_path / "input.json"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    before = sim.request_count()
    run = _run_with(sim, tmp_path, option, str(path))
    assert_one_readable_line(run, option, str(path), said)
    assert "Usage:" not in run.stderr
    assert sim.request_count() == before
    assert run.stdout == ""


@pytest.mark.parametrize("streams", ['"x"', "[1]", '[{"tap_stream_id": "users"}, null]'])
def test_a_catalog_whose_streams_are_not_objects_is_one_line(
    sim: Simulator, tmp_path: Path, streams: str
) -> None:
    """``{"streams": "x"}`` ended as "Unexpected error TypeError … report it"."""
    path = tmp_path / "catalog.json"
    path.write_text(f'{{"streams": {streams}}}')
    before = sim.request_count()
    run = _run_with(sim, tmp_path, "--catalog", str(path))
    assert_one_readable_line(run, "--catalog", str(path), "streams is not a list of objects")
    assert sim.request_count() == before
    assert run.stdout == ""


# --------------------------------------------------------------------------- HTTP 422


def test_an_event_type_the_api_refuses_is_one_error_line(sim: Simulator) -> None:
    """The listing's 422 was logged at ERROR as it happened, then again as the run's last line:
    two ERROR lines for one failure. The other types are still archived; the run fails."""
    run = run_tap(
        tap_config(
            sim, file_content="none", event_types=["CONVERSATION_MESSAGE", "NEVER_HEARD_OF_LOG"]
        )
    )
    last = assert_one_readable_line(run, "HTTP 422", "'NEVER_HEARD_OF_LOG'", "event_types")
    assert _error_lines(run) == [last], _error_lines(run)
    assert run.ids("messages") == set(sim.ground_truth()["messages"])
    assert "NEVER_HEARD_OF_LOG" in run.stderr.split(last)[0]  # said as it happened (WARNING)


# --------------------------------------------------------------------------- short secrets


def test_a_one_character_key_does_not_hide_that_character_everywhere(
    sim: Simulator, tmp_path: Path
) -> None:
    """api_key "x" turned "max_retries" into "ma<hidden>_retries" in every error line."""
    before = sim.request_count()
    run = _run_with(sim, tmp_path, api_key="x", max_retries="eight")
    assert_one_readable_line(run, "max_retries 'eight' is not valid")
    assert "<hidden>" not in run.stderr
    assert sim.request_count() == before


def test_a_short_secret_is_still_hidden_where_it_stands_alone() -> None:
    """Whole tokens only below 8 characters: the value a schema error quotes is still hidden;
    a long secret is hidden wherever it appears."""
    from tap_chatgpt_compliance.settings import hide_secret_values

    schema = {"properties": {"api_key": {"secret": True}, "max_retries": {}}}
    errors = [
        "max_retries 'eight' is not valid (wrong type): set it to a whole number",
        "'x' is not of type 'object' in config['api_key']",
        'api_key "x" was refused, x.',
    ]
    assert hide_secret_values(errors, {"api_key": "x"}, schema) == [
        errors[0],
        "<hidden> is not of type 'object' in config['api_key']",  # its repr, quotes and all
        "api_key <hidden> was refused, <hidden>.",
    ]
    long_key = "sk-admin-0123456789"
    assert hide_secret_values([f"key{long_key}tail"], {"api_key": long_key}, schema) == [
        "key<hidden>tail"
    ]


# --------------------------------------------------------------------------- --about | head


@pytest.mark.parametrize("args", [["--about"], ["--about", "--format", "json"]])
def test_about_to_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    """``--about | head -3``: the reader stopped; the tap logged "The tap's output was closed
    (broken pipe) … Nothing was skipped: the bookmark stays …" at ERROR and exited 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write breaks
    try:
        result = subprocess.run(
            [*TAP, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            env=tap_env(),
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr  # 128 + SIGPIPE, as `yes | head` reports
    assert result.stderr == ""


def test_about_still_prints_whole() -> None:
    result = subprocess.run(
        [*TAP, "--about", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=tap_env(),
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "tap-chatgpt-compliance"' in result.stdout


def test_discover_to_a_closed_pipe_is_one_line(tmp_path: Path) -> None:
    """``--discover`` whose reader went away exited 1 with no line at all (click's own handling
    of a closed pipe): a catalog cut short, said nowhere."""
    config = {"api_key": "sk-discovery-17", "workspace_id": "039b0361-e0b3-4756-ab7e-0cc40d312b96"}
    command = tap_command(config, None, tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*command, "--discover"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            env=tap_env(),
        )
    finally:
        os.close(write_end)
    run = TapRun(result.returncode, "", result.stderr)
    assert_one_readable_line(run, "--discover", "catalog was not written whole", "broken pipe")
    assert "Exception ignored" not in result.stderr


# --------------------------------------------------------------------------- S3 SlowDown


def test_a_throttling_store_is_said_to_throttle_not_blamed_on_its_url(
    sim: Simulator, s3_endpoint: str, s3_bucket: str
) -> None:
    """An S3 503 SlowDown (every write, past s3fs's own retries) ended with "Fix
    file_storage_url and rerun": the URL is right; the store asks to slow down."""
    with throttling_s3_proxy(s3_endpoint, "/sha256/") as proxy:
        options = {
            "endpoint_url": proxy,
            "key": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "config_kwargs": {"retries": {"max_attempts": 1}},
        }
        config = tap_config(
            sim,
            file_content="storage",
            file_storage_url=f"s3://{s3_bucket}/archive",
            file_storage_options=options,
            seal_storage_url="none",
        )
        run = run_tap(config, timeout=120)
    last = assert_one_readable_line(run, "SlowDown", "Rerun later", "file_storage_url is right")
    assert "Fix file_storage_url" not in last
    assert "Check file_storage_url" not in last
    assert run.records["log_files"] == []  # nothing past what was stored
    partitions = ((run.state or {}).get("bookmarks", {}).get("log_files") or {}).get("partitions")
    assert not any(p.get("replication_key_value") for p in partitions or []), run.state


def test_a_throttling_seal_store_is_said_to_throttle(
    sim: Simulator, s3_endpoint: str, s3_client: Any
) -> None:
    """The seal's SlowDown ended with "Check seal_storage_url, its credentials and permissions;
    on S3 the bucket must have Object Lock enabled": none of which was wrong."""
    bucket = f"lock-{os.urandom(6).hex()}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    with throttling_s3_proxy(s3_endpoint, "/seals/") as proxy:
        options = {
            "endpoint_url": proxy,
            "key": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "config_kwargs": {"retries": {"max_attempts": 1}},
        }
        config = tap_config(
            sim,
            file_content="none",
            seal_storage_url=f"s3://{bucket}/seals",
            seal_storage_options=options,
        )
        run = run_tap(config, timeout=120)
    last = assert_one_readable_line(run, "NOT anchored", "SlowDown", "Rerun later")
    assert "Object Lock enabled" not in last
    assert run.records["messages"], "the archive itself was written"
