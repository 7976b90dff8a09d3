"""A bad day for the fleet, round 3: secrets in what the code location reports (no servers).

The alert hook's webhook URL carries a token (docs/fleet.md: "never logged"). A URL that
``urllib`` refuses before sending (a trailing space pasted with it, a port that is no number)
raised ``InvalidURL`` quoting the URL's path, token included, out of the sensor: the sensor's
tick failed with the token in Dagster's tick log, every minute, and no alert was ever sent.
"""

from __future__ import annotations

import pytest

from orchestration.alerts import send_alert

TOKEN = "T0AUDIT/B0AUDIT/xoxbSECRETTOKEN42"


@pytest.mark.parametrize(
    "webhook",
    [
        f"http://127.0.0.1:9/hooks/{TOKEN} ",  # a trailing space, pasted with the URL
        f"http://127.0.0.1:9/hooks/{TOKEN} x",
        f"http://127.0.0.1:port/hooks/{TOKEN}",
        f"http://[::1/hooks/{TOKEN}",
    ],
)
def test_a_webhook_url_that_cannot_be_sent_is_one_line_without_its_token(webhook: str) -> None:
    errors = send_alert({"tenant": "acme"}, webhook, None, timeout=2)
    assert len(errors) == 1, errors
    assert "webhook" in errors[0]
    assert "SECRETTOKEN" not in errors[0]
    assert "hooks" not in errors[0]


def test_an_alert_command_that_cannot_be_split_is_one_line(tmp_path) -> None:
    """``shlex.split`` raised ValueError out of the sensor: no alert was sent, and the webhook
    (already called) got the same alerts again at every tick."""
    errors = send_alert({"tenant": "acme"}, None, f"notify --token 'SECRET {tmp_path}", timeout=2)
    assert len(errors) == 1, errors
    assert "alert command" in errors[0]
    assert "SECRET" not in errors[0]
