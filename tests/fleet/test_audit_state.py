"""A bad day for the fleet, round 3: secrets in what the code location reports (no servers).

The alert hook's webhook URL carries a token (docs/fleet.md: "never logged"). A URL that
``urllib`` refuses before sending (a trailing space pasted with it, a port that is no number)
raised ``InvalidURL`` quoting the URL's path, token included, out of the sensor: the sensor's
tick failed with the token in Dagster's tick log, every minute, and no alert was ever sent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

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


def test_a_run_s_output_reaches_metadata_and_log_files_without_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Whatever a tool of the pipeline prints (a target quoting its configuration, a library's
    error with a DSN), the tail that becomes Dagster metadata, the failure message and the log
    file hold none of the tenant's secrets nor a URL password: the fleet's own guard."""
    from orchestration import runner
    from orchestration.assets import run_metadata
    from orchestration.project import Tenant

    tenant = Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)
    key, aws, pg = "sk-live-AUDITKEY-0123456789", "AUDITawsSECRET/0123456789+x", "PgAuditPw42"
    monkeypatch.setenv(tenant.secret_env, key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws)
    monkeypatch.setenv("TARGET_POSTGRES_PASSWORD", pg)

    def meltano(args: list[str], timeout: float, who: Tenant) -> subprocess.CompletedProcess[str]:
        if args[0] == "state":
            return subprocess.CompletedProcess(args, 0, "{}", "")
        err = (
            f"target-postgres | connection to postgresql://archiver:{pg}@db.invalid/x failed\n"
            f"target-s3 | config {{'aws_secret_access_key': '{aws}'}}\n"
            f"{tenant.extractor} | Run failed: the key {key} was refused\n"
        )
        return subprocess.CompletedProcess(args, 1, "", err)

    monkeypatch.setattr(runner, "_run", meltano)
    outcome = runner.run_pipeline(tenant, "target-postgres", log_dir=tmp_path)
    assert not outcome.ok
    shown = [outcome.output, outcome.message or "", *outcome.warnings]
    assert outcome.log_path is not None
    shown.append(outcome.log_path.read_text())
    shown.append(repr(run_metadata(outcome, tenant, "target-postgres")))
    for text in shown:
        for secret in (key, aws, pg):
            assert secret not in text
    assert "***" in outcome.output
