"""Settings are checked before any request, and each error names the setting and the fix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tap_chatgpt_compliance.settings import config_errors

GOOD = {
    "api_key": "sk-proj-unit-test-key",
    "workspace_id": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0",
}


def test_good_config_has_no_errors() -> None:
    assert config_errors(GOOD) == []


@pytest.mark.parametrize(
    ("override", "setting", "hint"),
    [
        ({"workspace_id": "workspace_123"}, "workspace_id", "Workspace details"),
        ({"organization_id": "acme"}, "organization_id", "org-"),
        ({"event_types": ["COSTS"]}, "organization_id", "org-scoped"[:3]),
        ({"event_types": ["conversation message"]}, "event_types", "CONVERSATION_MESSAGE"),
        ({"file_content": "storage"}, "file_storage_url", "s3://"),
        ({"api_url": "https://api.openai.com/v1"}, "api_url", "https://api.chatgpt.com/v1"),
        ({"api_url": "ftp://x"}, "api_url", "https://api.chatgpt.com/v1"),
        ({"api_key": "  "}, "api_key", "Compliance API key"),
    ],
)
def test_each_bad_setting_is_named_with_a_fix(override: dict, setting: str, hint: str) -> None:
    errors = config_errors({**GOOD, **override})
    assert len(errors) == 1, errors
    assert setting in errors[0]
    assert hint in errors[0]


def test_cli_rejects_bad_config_before_any_request(tmp_path) -> None:
    """A bad workspace_id fails with exit 1 and one readable line; the key is never printed."""
    config = {**GOOD, "workspace_id": "not-a-uuid", "api_url": "http://127.0.0.1:9/v1"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "tap_chatgpt_compliance", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "workspace_id 'not-a-uuid' is not a UUID" in result.stderr
    assert "Traceback" not in result.stderr
    assert GOOD["api_key"] not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.mark.parametrize("flags", [["--about"], ["--about", "--format=json"], ["--discover"]])
def test_about_and_discover_never_print_the_key(tmp_path, flags: list[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(GOOD))
    result = subprocess.run(
        [sys.executable, "-m", "tap_chatgpt_compliance", "--config", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert GOOD["api_key"] not in result.stdout + result.stderr
