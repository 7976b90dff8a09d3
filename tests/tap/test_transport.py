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


def test_a_key_from_its_secret_never_follows_a_redirect_to_another_host() -> None:
    """The run's current key (a key rotated in Secrets Manager during the run) is set on each
    request to the API; a redirect to another host, which requests sends without the key, must
    stay without it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tap_chatgpt_compliance.secrets import KeySource

    seen: dict[str, str | None] = {}

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen["other"] = self.headers.get("Authorization")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)

    class Api(Other):
        def do_GET(self) -> None:
            seen["api"] = self.headers.get("Authorization")
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{other.server_port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    for server in (api, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{api.server_port}/v1"
        transport = Transport(
            Settings.from_config({**CONFIG, "api_url": base}), logging.getLogger("test")
        )
        transport.key_source = KeySource("sk-rotated", lambda: "sk-rotated")
        response = transport.api_session().get(f"{base}/compliance/x", timeout=10)
        assert response.status_code == 200
    finally:
        api.shutdown()
        other.shutdown()
    assert seen == {"api": "Bearer sk-rotated", "other": None}
