"""The alert hook: POST a JSON alert to ``FLEET_ALERT_WEBHOOK`` and/or run ``FLEET_ALERT_COMMAND``.

The command gets the alert as JSON on its standard input (e.g. ``mail -s fleet ops@example``,
or a script calling PagerDuty). The webhook URL is never logged (it often carries a token).
"""

from __future__ import annotations

import http.client
import json
import shlex
import subprocess
import urllib.parse
import urllib.request
from typing import Any


def send_alert(
    alert: dict[str, Any],
    webhook: str | None,
    command: str | None,
    timeout: float = 30,
) -> list[str]:
    """Deliver one alert; return one error line per channel that failed (empty: all fine)."""
    errors: list[str] = []
    body = json.dumps(alert, sort_keys=True).encode()
    if webhook:
        errors += _post(webhook, body, timeout)
    if command:
        try:
            proc = subprocess.run(
                shlex.split(command),
                input=body,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            if proc.returncode != 0:
                errors.append(f"alert command exited {proc.returncode}")
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:  # never its text
            errors.append(f"alert command failed: {exc.__class__.__name__}")
    return errors


def _post(webhook: str, body: bytes, timeout: float) -> list[str]:
    """POST the alert; return the error line (host and error class only), if any.

    A URL ``urllib`` refuses (a space in it, a port that is no number) raises an error quoting
    the URL, token included: every error is named by its class, never by its text.
    """
    try:
        parts = urllib.parse.urlsplit(webhook)
        host = parts.hostname or "?"
    except ValueError as exc:
        return [f"alert webhook failed: FLEET_ALERT_WEBHOOK is no URL ({exc.__class__.__name__})"]
    if parts.scheme not in ("http", "https"):
        return [f"FLEET_ALERT_WEBHOOK must be an http(s) URL (host {host})"]
    req = urllib.request.Request(  # noqa: S310 (http/https checked above)
        webhook, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            resp.read()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return [f"alert webhook on {host} failed: {exc.__class__.__name__}"]
    return []
