"""Clean surfaces of the three console scripts (issue 18): `--test` prints no error line on a
healthy connection and one line per bad setting (never a traceback); `--version` everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.singer import parse_singer

BIN = Path(sys.executable).parent
ERROR_LINE = re.compile(r"\b(ERROR|error|CRITICAL|Traceback)\b")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CHATGPT", "MELTANO_"))}


def _tap(config: dict, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [str(BIN / "tap-chatgpt-compliance"), "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )


@pytest.fixture
def config(simulator) -> dict:
    return {
        "api_url": simulator.base_url,
        "workspace_id": simulator.workspace_id,
        "api_key": simulator.api_key,
    }


def test_test_mode_on_a_healthy_connection_prints_no_error_line(config, tmp_path):
    proc = _tap(config, "--test", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bad = [line for line in proc.stderr.splitlines() if ERROR_LINE.search(line)]
    assert not bad, "\n".join(bad)
    # it did test every stream: one record each for those with data
    records, _ = parse_singer(proc.stdout)
    assert {"log_files", "messages", "users"} <= set(records)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("workspace_id", "workspace_123"),
        ("organization_id", "acme"),
        ("start_date", "yesterday"),
        ("api_url", "http://compliance.invalid/v1"),
        ("file_content", "everything"),
    ],
)
def test_test_mode_with_a_bad_setting_is_one_line_naming_it(config, tmp_path, setting, value):
    proc = _tap({**config, setting: value}, "--test", tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, proc.stderr
    assert setting in errors[0]
    assert config["api_key"] not in proc.stderr


def test_test_mode_with_a_revoked_key_is_one_line(simulator, config, tmp_path):
    simulator.revoke_key(config["api_key"])
    proc = _tap(config, "--test", tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "api_key" in proc.stderr.splitlines()[-1]
    assert config["api_key"] not in proc.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["tap-chatgpt-compliance", "--version"],
        ["chatgpt-compliance", "--version"],
        ["chatgpt-compliance-simulator", "--version"],
    ],
)
def test_every_cli_has_version(command):
    from importlib.metadata import version

    proc = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert version("tap-chatgpt-compliance") in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        (
            "psycopg",
            ["--postgres", "host=127.0.0.1 port=9 dbname=x", "--schema", "acme"],
            "postgres",
        ),
        ("s3fs", ["--s3", "s3://my-archive/chatgpt-compliance/acme"], "s3"),
    ],
)
def test_verify_without_an_extra_names_the_extra_and_pip_url(missing, args, extra):
    """A user's Meltano plugin installed without [postgres] or [s3]: `:verify` says which extra
    to add to pip_url (it said `pip install 'psycopg[binary]'`, or only fsspec's "Install s3fs")."""
    code = (
        f"import sys; sys.modules[{missing!r}] = None; sys.argv = ['chatgpt-compliance', 'verify']"
        f" + {args!r}; from tap_chatgpt_compliance.evidence.cli import main; sys.exit(main())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"tap-chatgpt-compliance[{extra}]" in lines[0]
    assert f"add [{extra}] to the plugin's pip_url" in lines[0]
