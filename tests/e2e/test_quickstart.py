"""The README's quick start, step by step, in a new Meltano project (issue 18): built wheel
(`twine check` passes) -> `meltano init` -> add the tap `--from-ref` the Hub definition ->
install -> configure -> `--test` -> `meltano run tap-chatgpt-compliance target-jsonl` ->
`meltano invoke tap-chatgpt-compliance:verify`."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.e2e import freshproject
from tests.e2e.freshproject import TAP, FreshProject

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = (freshproject.REPO_ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> FreshProject:
    return freshproject.fresh_project(tmp_path_factory.mktemp("quickstart"))


def test_the_readme_says_what_this_test_does():
    """The commands below are the README's own, so the README cannot drift from this test."""
    for needed in (
        "meltano init",
        f"meltano add {TAP} --no-install --from-ref",
        "pip_url",
        "meltano install",
        f"meltano config set {TAP} workspace_id",
        f"meltano config set {TAP} api_key",
        f"meltano invoke {TAP} --test",
        f"meltano run {TAP} target-jsonl",
        f"meltano invoke {TAP}:verify",
        "git+https://",
        "@v0.1.0",
        ".whl",
    ):
        assert needed in README, needed


def test_wheel_and_sdist_pass_twine_check(project):
    assert project.steps[0].count("PASSED") == 2, project.steps[0]


def test_the_project_has_the_plugin_and_its_commands(project):
    data = yaml.safe_load((project.root / "meltano.yml").read_text())
    (tap,) = data["plugins"]["extractors"]
    assert {"verify", "export", "verify-jsonl"} <= set(tap["commands"])
    assert tap["commands"]["verify"]["executable"] == "chatgpt-compliance"
    venv_bin = project.root / ".meltano" / "extractors" / TAP / "venv" / "bin"
    for exe in ("tap-chatgpt-compliance", "chatgpt-compliance"):
        assert (venv_bin / exe).exists(), exe
    # the simulator ships in the same wheel for now, but must not be needed at run time
    assert project.wheel.name.startswith("tap_chatgpt_compliance-")


def test_test_mode_prints_no_error_line(project):
    proc = project.meltano("invoke", TAP, "--test")
    errors = [
        line
        for line in proc.stderr.splitlines()
        if re.search(r"\[(error|critical)\s*\]|Traceback|\bERROR\b", line)
    ]
    assert not errors, "\n".join(errors)
    assert '"type":"RECORD"' in proc.stdout.replace(" ", "")


def test_run_then_verify(project):
    proc = project.meltano("run", TAP, "target-jsonl")
    assert "Traceback" not in proc.stderr
    out = project.root / "output"
    streams = {p.name.split("-")[0] for p in out.glob("*.jsonl")}
    assert {"log_files", "messages", "conversations", "users"} <= streams, streams
    messages = sum(
        1 for p in out.glob("messages-*.jsonl") for line in p.read_text().splitlines() if line
    )
    assert messages > 0

    verified = project.meltano("invoke", f"{TAP}:verify", "--jsonl", str(out), check=False)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    verdict = [line for line in verified.stdout.splitlines() if line.startswith("VERDICT:")]
    assert len(verdict) == 1, verified.stdout
    assert "FAILED" not in verdict[0]

    # a message removed from the archive is caught through the same plugin command
    victim = next(out.glob("messages-*.jsonl"))
    lines = victim.read_text().splitlines()
    dropped = json.loads(lines[0])["id"]
    victim.write_text("\n".join(lines[1:]) + "\n")
    broken = project.meltano("invoke", f"{TAP}:verify", "--jsonl", str(out), check=False)
    assert broken.returncode == 1
    assert "VERDICT: FAILED" in broken.stdout
    assert "missing" in broken.stdout
    victim.write_text("\n".join(lines) + "\n")
    del dropped
