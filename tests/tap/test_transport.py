"""Settings read once with the schema's defaults, and the run's HTTP transport."""

from __future__ import annotations

import logging

import pytest

from tap_chatgpt_compliance.http.transport import Transport
from tap_chatgpt_compliance.settings import CONFIG_SCHEMA, Settings

CONFIG = {
    "api_key": "sk-test",
    "workspace_id": " f7f33107-5fb9-4ee1-8922-3eae76b5b5a0 ",
    "api_url": "https://api.example.invalid/v1/",
}


def test_settings_take_the_schemas_defaults() -> None:
    settings = Settings.from_config(CONFIG)
    defaults = {name: prop.get("default") for name, prop in CONFIG_SCHEMA["properties"].items()}
    assert settings.max_requests_per_minute == defaults["max_requests_per_minute"] == 100
    assert settings.max_inline_file_bytes == defaults["max_inline_file_bytes"]
    assert settings.max_retries == defaults["max_retries"]
    assert settings.max_retry_wait == defaults["max_retry_wait"]
    assert settings.file_content == defaults["file_content"] == "inline"
    assert settings.event_types == ("CONVERSATION_MESSAGE",)
    assert settings.workspace_id == "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0"
    assert settings.api_url == "https://api.example.invalid/v1"
    # Zero is a value, not a missing setting.
    zero = Settings.from_config({**CONFIG, "max_retries": 0, "max_retry_wait": 0})
    assert zero.max_retries == 0
    assert zero.max_retry_wait == 0.0


def test_signed_url_session_never_carries_the_key() -> None:
    transport = Transport(Settings.from_config(CONFIG), logging.getLogger("test"))
    assert transport.api_session().headers["Authorization"] == "Bearer sk-test"
    assert "Authorization" not in transport.signed_session().headers
    assert transport.signed_session().trust_env is False  # no .netrc credentials either


def test_proxies_come_from_the_environment_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "files.example.invalid")
    transport = Transport(Settings.from_config(CONFIG), logging.getLogger("test"))
    api = transport.environment("https://api.example.invalid/v1/x")
    assert api["proxies"].get("https") == "http://proxy.example.invalid:3128"
    assert transport.environment("https://files.example.invalid/o/1")["proxies"] == {}
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example.invalid:1")
    assert transport.environment("https://api.example.invalid/v1/y") is api  # read once
    assert transport.api_session().proxies == api["proxies"]
