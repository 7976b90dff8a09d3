"""Typed settings through the real Meltano CLI: meltano.yml, the environment, `meltano config set`.

Meltano's `decimal` kind crashed `meltano invoke`/`run` when the value came from the environment
("Object of type Decimal is not JSON serializable"): the definitions give numbers as text, and the
tap reads numeric text back as numbers. Meltano's `integer`, `options`, `array` and `object`
kinds ended a bad value in Meltano's own traceback that did not name the setting: the tap's own
settings are all `string` to Meltano and converted by the tap. Runs in a throw-away project
holding the repository's and the Hub's definitions (no plugin install: the executable is this
virtualenv's tap).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from singer_sdk.exceptions import ConfigValidationError

from tap_chatgpt_compliance.settings import Settings
from tap_chatgpt_compliance.tap import TapChatGPTCompliance

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano")
WORKSPACE = "0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51"
NUMBER_SETTINGS = ("request_timeout", "max_retry_wait", "max_requests_per_minute")


def _definitions() -> dict[str, list[dict]]:
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    repo = next(
        p for p in project["plugins"]["extractors"] if p["name"] == "tap-chatgpt-compliance"
    )
    hub = yaml.safe_load((REPO_ROOT / "hub" / "tap-chatgpt-compliance.yml").read_text())
    return {"repo": repo["settings"], "hub": hub["settings"]}


def test_no_decimal_kind_in_the_definitions() -> None:
    for where, settings in _definitions().items():
        kinds = {s["name"]: s.get("kind") for s in settings}
        assert "decimal" not in kinds.values(), where
        for name in NUMBER_SETTINGS:
            assert kinds[name] == "string", (where, name)
        for name in ("max_retries", "file_content", "event_types", "file_storage_options"):
            assert kinds[name] == "string", (where, name)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    plugins = [
        {
            "name": f"tap-{where}",
            "namespace": "tap_chatgpt_compliance",
            "executable": str(BIN / "tap-chatgpt-compliance"),
            "settings": settings,
            "config": {"workspace_id": WORKSPACE, "max_retry_wait": 2.5},  # a YAML number
        }
        for where, settings in _definitions().items()
    ]
    (root / "meltano.yml").write_text(
        yaml.safe_dump(
            {
                "project_id": "settings-kinds-test",
                "send_anonymous_usage_stats": False,
                "plugins": {"extractors": plugins},
            }
        )
    )
    return root


def _meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "MELTANO_", "TARGET_"))
    }
    base.update({"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})})
    proc = subprocess.run(
        [MELTANO, *args],
        cwd=project,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout


@pytest.mark.parametrize("where", ["repo", "hub"])
def test_number_settings_from_yaml_environment_and_config_set(project: Path, where: str) -> None:
    plugin = f"tap-{where}"
    _meltano(project, "config", "set", plugin, "max_requests_per_minute", "42.5")
    env_prefix = plugin.upper().replace("-", "_")
    out = _meltano(
        project,
        "invoke",
        "--dump=config",
        plugin,
        env={f"{env_prefix}_REQUEST_TIMEOUT": "30.5", f"{env_prefix}_API_KEY": "sk-test"},
    )
    config = json.loads(out[out.index("{") :])
    tap = TapChatGPTCompliance(config=config, validate_config=True)
    settings: Settings = tap.settings
    assert settings.request_timeout == 30.5  # the environment
    assert settings.max_requests_per_minute == 42.5  # meltano config set
    assert settings.max_retry_wait == 2.5  # meltano.yml
    assert settings.max_retries == 8  # the default, from the definition
    assert settings.event_types == ("CONVERSATION_MESSAGE",)  # a list default passes as a list


@pytest.mark.parametrize("where", ["repo", "hub"])
def test_lists_objects_integers_and_choices_as_text(project: Path, where: str) -> None:
    plugin = f"tap-{where}"
    _meltano(project, "config", "set", plugin, "file_content", "none")
    env_prefix = plugin.upper().replace("-", "_")
    env = {
        f"{env_prefix}_API_KEY": "sk-test",
        f"{env_prefix}_EVENT_TYPES": '["AUDIT_LOG", "CONVERSATION_MESSAGE"]',
        f"{env_prefix}_MAX_RETRIES": "3",
        f"{env_prefix}_FILE_STORAGE_OPTIONS": '{"anon": true}',
    }
    out = _meltano(project, "invoke", "--dump=config", plugin, env=env)
    config = json.loads(out[out.index("{") :])
    settings: Settings = TapChatGPTCompliance(config=config, validate_config=True).settings
    assert settings.event_types == ("AUDIT_LOG", "CONVERSATION_MESSAGE")
    assert settings.max_retries == 3
    assert settings.file_content == "none"
    assert settings.file_storage_options == {"anon": True}


def test_text_that_does_not_convert_is_refused_naming_the_setting() -> None:
    base = {"api_key": "k", "workspace_id": WORKSPACE}
    for key, bad in (
        ("event_types", "AUDIT_LOG"),  # not a JSON list
        ("event_types", '{"a": 1}'),
        ("file_storage_options", "[1]"),
        ("file_storage_options", "{not json"),
        ("max_retries", "many"),
        ("file_content", "everything"),
    ):
        with pytest.raises(ConfigValidationError) as failed:
            TapChatGPTCompliance(config={**base, key: bad})
        assert any(key in str(error) for error in failed.value.errors), (key, failed.value.errors)


def test_numeric_text_is_read_as_a_number_and_other_text_is_refused() -> None:
    base = {"api_key": "k", "workspace_id": WORKSPACE}
    tap = TapChatGPTCompliance(
        config={**base, "request_timeout": " 7 ", "max_retries": "3", "max_retry_wait": "1e1"}
    )
    assert tap.settings.request_timeout == 7
    assert tap.settings.max_retries == 3
    assert tap.settings.max_retry_wait == 10.0
    for bad in ("fast", "nan", "inf", "2.5"):  # max_retries is an integer: 2.5 is refused too
        key = "max_retries" if bad == "2.5" else "request_timeout"
        with pytest.raises(ConfigValidationError) as failed:
            TapChatGPTCompliance(config={**base, key: bad})
        assert any(key in str(error) for error in failed.value.errors), failed.value.errors


def test_no_plugin_of_the_project_has_a_decimal_setting() -> None:
    """Any `decimal` setting set in the environment crashes Meltano (target-s3's max_batch_age)."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    for kind in ("extractors", "loaders", "utilities"):
        for plugin in project["plugins"].get(kind) or []:
            for setting in plugin.get("settings") or []:
                assert setting.get("kind") != "decimal", (plugin["name"], setting["name"])
