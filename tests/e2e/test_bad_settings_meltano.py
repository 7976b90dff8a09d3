"""Bad settings under the real Meltano CLI, in a user's fresh project (issue 18): the tap ends
with one error line per bad setting, naming it, never a traceback, never the key. Each
invocation carries several bad settings at once (the tap reports them all before any request)."""

from __future__ import annotations

import pytest

from tests.e2e import freshproject
from tests.e2e.freshproject import TAP, FreshProject

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> FreshProject:
    return freshproject.fresh_project(tmp_path_factory.mktemp("badsettings"))


# Settings the tap checks itself (all reported together)...
CHECKED = {
    "workspace_id": "workspace_123",
    "organization_id": "acme",
    "api_url": "http://compliance.example.invalid/v1",
    "event_types": '["conversation message"]',
    "aws_endpoint_url": "http://secrets.example.invalid",
}
# ...and those the schema refuses first (one invocation each kind).
SCHEMA = {
    "file_content": "everything",
    "max_retries": "many",
    "event_types": "notjson",
    "file_storage_options": "{",
}


def _env(settings: dict[str, str]) -> dict[str, str]:
    return {f"TAP_CHATGPT_COMPLIANCE_{k.upper()}": v for k, v in settings.items()}


def _check(project: FreshProject, settings: dict[str, str], *args: str) -> None:
    proc = project.meltano(*args, env=_env(settings), check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-3000:]
    assert "Traceback" not in text, text[-5000:]
    assert project.sim.api_key not in text
    errors = [line for line in proc.stderr.splitlines() if "[error" in line]
    for name in settings:
        naming = [line for line in errors if name in line]
        assert naming, f"no error line names {name}:\n" + "\n".join(errors)
    # nothing was requested: no sync began
    assert "Beginning sync" not in text


@pytest.mark.parametrize("mode", ["test", "run"])
def test_checked_settings_each_get_one_line(project, mode):
    args = ("invoke", TAP, "--test") if mode == "test" else ("run", TAP, "target-jsonl")
    _check(project, CHECKED, *args)


@pytest.mark.parametrize(("name", "value"), sorted(SCHEMA.items()))
def test_schema_refusals_name_the_setting(project, name, value):
    _check(project, {name: value}, "invoke", TAP, "--test")
