"""The alert hook: POST a JSON alert to ``FLEET_ALERT_WEBHOOK`` and/or run ``FLEET_ALERT_COMMAND``.

The command gets the alert as JSON on its standard input (e.g. ``mail -s fleet ops@example``,
or a script calling PagerDuty). The webhook URL is never logged (it often carries a token).
"""

from __future__ import annotations

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
        host = urllib.parse.urlsplit(webhook).hostname or "?"
        if urllib.parse.urlsplit(webhook).scheme not in ("http", "https"):
            errors.append(f"FLEET_ALERT_WEBHOOK must be an http(s) URL (host {host})")
        else:
            req = urllib.request.Request(  # noqa: S310 (http/https checked above)
                webhook, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                    resp.read()
            except OSError as exc:
                errors.append(f"alert webhook on {host} failed: {exc.__class__.__name__}")
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
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(f"alert command failed: {exc.__class__.__name__}")
    return errors
