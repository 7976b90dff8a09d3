"""Settings are checked before any request, and each error names the setting and the fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.settings import config_errors, storage_errors
from tests.support.tap import TAP, run_tap, tap_command, tap_config

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


def _bare_tap(config: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the tap's CLI on ``config`` (no state), capturing its output."""
    return subprocess.run(
        tap_command(config, None, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_rejects_bad_config_before_any_request(tmp_path) -> None:
    """A bad workspace_id fails with exit 1 and one readable line; the key is never printed."""
    config = {**GOOD, "workspace_id": "not-a-uuid", "api_url": "http://127.0.0.1:9/v1"}
    result = _bare_tap(config, tmp_path)
    assert result.returncode == 1
    assert "workspace_id 'not-a-uuid' is not a UUID" in result.stderr
    assert "Traceback" not in result.stderr
    assert GOOD["api_key"] not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.mark.parametrize("flags", [["--about"], ["--about", "--format=json"], ["--discover"]])
def test_about_and_discover_never_print_the_key(tmp_path, flags: list[str]) -> None:
    result = subprocess.run(
        [*tap_command(GOOD, None, tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert GOOD["api_key"] not in result.stdout + result.stderr


# ---------------------------------------------------------------- issue #7: every setting checked


@pytest.mark.parametrize(
    ("override", "setting", "hint"),
    [
        ({"start_date": "yesterday"}, "start_date", "ISO 8601"),
        ({"start_date": "2026-13-45"}, "start_date", "ISO 8601"),
        ({"start_date": ""}, "start_date", "ISO 8601"),
        ({"api_url": ""}, "api_url", "https://api.chatgpt.com/v1"),
        ({"api_url": "   "}, "api_url", "https://api.chatgpt.com/v1"),
        ({"api_url": "https://"}, "api_url", "https://api.chatgpt.com/v1"),
        ({"api_url": "http://compliance-proxy.invalid/v1"}, "api_url", "https://"),
        ({"api_url": "http://10.0.0.8:8080/v1"}, "api_url", "unencrypted"),
        ({"api_url": "http://127.0.0.1:99999/v1"}, "api_url", "port"),
        ({"api_url": f"https://{'a' * 64}.example.com/v1"}, "api_url", "invalid host name"),
        ({"api_url": "https://api..example.com/v1"}, "api_url", "invalid host name"),
        (
            {"max_record_bytes": 4 * 1024 * 1024},
            "max_inline_file_bytes",
            "max_record_bytes",
        ),
    ],
)
def test_each_bad_setting_of_issue_7_is_named_with_a_fix(
    override: dict, setting: str, hint: str
) -> None:
    errors = config_errors({**GOOD, **override})
    assert len(errors) == 1, errors
    assert errors[0].startswith(setting), errors
    assert hint in errors[0]


@pytest.mark.parametrize(
    "override",
    [
        {"start_date": "2026-01-31"},
        {"start_date": "2026-01-31T00:00:00Z"},
        {"start_date": "2026-01-31T10:00:00.123456+02:00"},
        {"api_url": "https://compliance-proxy.example.com/v1"},
        {"api_url": "http://127.0.0.1:8080/v1"},
        {"api_url": "http://127.5.6.7/v1"},
        {"api_url": "http://localhost:8080/v1"},
        {"api_url": "http://[::1]:8080/v1"},
        {"max_record_bytes": 4 * 1024 * 1024, "max_inline_file_bytes": 2 * 1024 * 1024},
        {"max_record_bytes": 4 * 1024 * 1024, "file_content": "none"},
    ],
)
def test_good_values_pass(override: dict) -> None:
    assert config_errors({**GOOD, **override}) == []


def test_storage_probe_writes_and_deletes_a_marker(tmp_path: Path) -> None:
    folder = tmp_path / "archive" / "files"  # created, as the tap would
    config = {"file_content": "storage", "file_storage_url": str(folder)}
    assert storage_errors(config) == []
    assert folder.is_dir()
    assert list(folder.iterdir()) == []
    assert storage_errors({**config, "file_storage_url": "memory://probe-test/files"}) == []
    assert storage_errors({"file_content": "inline", "file_storage_url": "/dev/null/x"}) == []


def test_a_store_verify_will_not_open_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The tap wrote to any fsspec URL, while verify and export open local paths and object
    stores only: an archive on ``memory://`` or ``sftp://`` verified FAILED at every object,
    and the run said nothing. The probe now warns (the run goes on: the bytes are written)."""
    config = {"file_content": "storage", "file_storage_url": "memory://probe-warned/files"}
    with caplog.at_level("WARNING"):
        assert storage_errors(config) == []
        assert storage_errors({**config, "file_storage_url": str(tmp_path / "files")}) == []
    (warning,) = [r.getMessage() for r in caplog.records if "verify" in r.getMessage()]
    assert "memory://probe-warned/files" in warning
    assert "cannot be verified" in warning


def test_storage_probe_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    errors = storage_errors({"file_content": "storage", "file_storage_url": str(blocker / "x")})
    assert len(errors) == 1
    assert errors[0].startswith("file_storage_url")
    assert "cannot be written" in errors[0]


def _bad_settings(sim: Simulator, tmp_path: Path) -> list[tuple[dict, str]]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return [
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2026-13-45"}, "start_date"),
        (
            {"file_content": "storage", "file_storage_url": str(blocker / "files")},
            "file_storage_url",
        ),
        ({"api_url": ""}, "api_url"),
        ({"api_url": "http://compliance-proxy.invalid/v1"}, "api_url"),
        ({"max_record_bytes": 2 * 1024 * 1024}, "max_inline_file_bytes"),
        ({"max_retries": "many"}, "max_retries"),
    ]


def test_each_bad_setting_fails_before_any_request(simulator: Simulator, tmp_path: Path) -> None:
    """Exit 1, one readable line naming the setting, no traceback, nothing sent to the API."""
    for override, setting in _bad_settings(simulator, tmp_path):
        run = run_tap(tap_config(simulator, **override), timeout=60)
        assert run.returncode == 1, (override, run.stderr[-2000:])
        errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1, (override, errors)
        assert setting in errors[0], (override, errors)
        assert run.stderr.splitlines()[-1] == errors[0]
        assert "Traceback" not in run.stderr
        assert run.stdout == ""
        assert simulator.request_count() == 0, override


def test_unwritable_s3_store_fails_before_any_request(simulator: Simulator, s3_endpoint) -> None:
    """A bucket that does not exist: one line naming file_storage_url, nothing requested."""
    config = tap_config(
        simulator,
        file_content="storage",
        file_storage_url="s3://tap-chatgpt-no-such-bucket/files",
        file_storage_options={"endpoint_url": s3_endpoint},
    )
    run = run_tap(config, timeout=60)
    assert run.returncode == 1
    assert (
        "file_storage_url 's3://tap-chatgpt-no-such-bucket/files' cannot be written"
        in (run.stderr.splitlines()[-1])
    )
    assert "Traceback" not in run.stderr
    assert simulator.request_count() == 0


def test_writable_s3_store_passes_the_probe(s3_endpoint, s3_bucket, s3_client) -> None:
    config = {
        "file_content": "storage",
        "file_storage_url": f"s3://{s3_bucket}/files",
        "file_storage_options": {"endpoint_url": s3_endpoint},
        "seal_storage_url": "none",  # no Object Lock on this bucket (seals: test_seals.py)
    }
    assert storage_errors(config) == []
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (
            "file_storage_options",
            '{"secret": "S3CR3T-STORE", "key": "AKIA-S3CR3T"',
        ),  # bad JSON text
        ("seal_storage_options", "S3CR3T-SEAL"),
        ("file_storage_options", ["S3CR3T-IN-A-LIST"]),
        ("api_key", 12345678901),  # a key given as a number
        ("stream_map_config", "S3CR3T-MAP-SEED"),
    ],
)
def test_a_malformed_secret_setting_is_named_but_never_shown(
    tmp_path, setting: str, value: object
) -> None:
    """A secret setting the schema refuses: one line naming the setting, without its value."""
    config = {**GOOD, setting: value, "api_url": "http://127.0.0.1:9/v1"}
    result = _bare_tap(config, tmp_path)
    assert result.returncode == 1
    assert setting in result.stderr
    assert "Traceback" not in result.stderr
    shown = result.stderr + result.stdout
    for secret in ("S3CR3T", "12345678901", GOOD["api_key"]):
        assert secret not in shown, shown[-2000:]


def test_a_missing_workspace_id_says_what_it_is_and_how_to_set_it(tmp_path) -> None:
    """The first error of a new project (it was the SDK's "'workspace_id' is a required
    property", naming no fix)."""
    result = _bare_tap({k: v for k, v in GOOD.items() if k != "workspace_id"}, tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "workspace_id is not set" in errors[0]
    assert "chatgpt.com/admin" in errors[0]
    assert "meltano config set tap-chatgpt-compliance workspace_id" in errors[0]
    assert "TAP_CHATGPT_COMPLIANCE_WORKSPACE_ID" in errors[0]


def test_one_event_type_written_bare_shows_the_json_list(tmp_path) -> None:
    """`meltano config set tap-chatgpt-compliance event_types AUDIT_LOG`: it was "'AUDIT_LOG' is
    not of type 'array', 'null' in config['event_types']", naming no fix."""
    result = _bare_tap({**GOOD, "event_types": "AUDIT_LOG"}, tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "event_types 'AUDIT_LOG' is not a list" in errors[0]
    assert """'["CONVERSATION_MESSAGE"]'""" in errors[0]


# ------------------------------------------- every schema refusal: the setting first, then the fix

WRONG_VALUES = [
    ("api_key", ""),
    ("max_retries", "eight"),
    ("max_retries", -1),
    ("max_retries", 51),
    ("max_retries", 1.5),
    ("max_inline_file_bytes", 10**9),
    ("request_timeout", 0),
    ("request_timeout", True),
    ("max_requests_per_minute", 0),
    ("seal_retention_days", "x"),
    ("directory_refresh_hours", -1),
    ("file_content", "disk"),
    ("file_content", 5),
    ("file_storage_options", "AKIA-NOT-JSON"),
    ("seal_storage_options", ["x"]),
    ("event_types", [5]),
    ("workspace_id", 5),
]


def schema_refusals(config: dict) -> list[str]:
    """The error lines a run of ``config`` stops with (the tap's own start-up validation)."""
    from singer_sdk.exceptions import ConfigValidationError

    from tap_chatgpt_compliance.tap import TapChatGPTCompliance

    with pytest.raises(ConfigValidationError) as refused:
        TapChatGPTCompliance(config=config)
    return list(refused.value.errors)


@pytest.mark.parametrize(("setting", "value"), WRONG_VALUES)
def test_a_value_the_schema_refuses_is_one_line_naming_the_setting_and_the_fix(
    setting: str, value: object
) -> None:
    """Not the SDK's ``'eight' is not of type 'integer', 'null' in config['max_retries']``
    (nor ``<hidden> should be non-empty in config['api_key']``): one line that starts with the
    setting and says what to set it to."""
    errors = schema_refusals({**GOOD, setting: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{setting} "), errors
    assert "config[" not in errors[0]
    assert "<hidden>" not in errors[0]
    assert ": set it to " in errors[0], errors


@pytest.mark.parametrize(
    ("content", "fix"),
    [
        (None, "no such file"),
        ("folder", "is a folder"),
        ('{"api_key": "sk-S3CR3T-IN-A-BROKEN-FILE",', "is not JSON"),
        ('["sk-S3CR3T-IN-A-LIST"]', "not an object"),
    ],
)
def test_a_config_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, content: str | None, fix: str
) -> None:
    """`--config` naming a missing file, a folder, broken JSON or a list: one line naming
    --config, the file and the fix, exit 1 (it was the SDK's traceback), never the content."""
    path = tmp_path / "config.json"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    result = subprocess.run(
        [*TAP, "--config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert f"--config {path}" in errors[0]
    assert fix in errors[0]
    assert "S3CR3T" not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.mark.parametrize(
    "setting",
    ["organization_id", "aws_region", "aws_endpoint_url", "file_storage_url", "seal_storage_url"],
)
@pytest.mark.parametrize("blank", ["", "  ", "\n"])
def test_a_blank_text_setting_is_named_not_ignored(setting: str, blank: str) -> None:
    """A setting present but blank (an unexpanded `$VARIABLE`, `meltano config set … ''`) is one
    line naming it and the fix, as `api_url` and `api_key_secret_id` were: it was ignored."""
    for content in ("inline", "storage") if setting == "file_storage_url" else ("inline",):
        errors = config_errors({**GOOD, "file_content": content, setting: blank})
        assert len(errors) == 1, errors
        assert errors[0].startswith(f"{setting} is empty: set it to "), errors
        assert "remove" in errors[0]
