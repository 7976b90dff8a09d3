"""The API key from AWS Secrets Manager (`api_key_secret_id`), against moto in server mode: the
tap resolves it at start, a rotated key is used by the next run, and a missing secret, a revoked
key or access denied end the run with one line naming the secret id, never the key."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tap_chatgpt_compliance import secrets
from tests.support.servers import moto_server

boto3 = pytest.importorskip("boto3")

TAP = str(Path(sys.executable).with_name("tap-chatgpt-compliance"))
SMALL = {"seed": 5, "users": 2, "conversations": 3, "messages_per_conversation": (2, 3)}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The suite's moto server (TEST_S3_ENDPOINT, which serves Secrets Manager too), else one
    started here in server mode."""
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(monkeypatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k, raising=False)
    return env


@pytest.fixture
def sm(endpoint, aws_env):
    return boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=endpoint)


@pytest.fixture
def secret_id(sm, request) -> Iterator[str]:
    name = f"chatgpt-compliance/{request.node.name}-{os.getpid()}"
    yield name
    with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def run_tap(config: dict, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CHATGPT", "MELTANO_"))}
    return subprocess.run(
        [TAP, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**clean, **env},
        check=False,
    )


def records(proc: subprocess.CompletedProcess) -> int:
    return sum(1 for line in proc.stdout.splitlines() if line.startswith('{"type":"RECORD"'))


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.strip().splitlines()[-1]


def test_key_resolved_at_start_rotated_then_deleted(
    simulator_factory, sm, secret_id, endpoint, aws_env, tmp_path
):
    sim = simulator_factory(**SMALL)
    first = sim.api_key
    sm.create_secret(Name=secret_id, SecretString=first)
    config = {
        "api_url": sim.base_url,
        "workspace_id": sim.workspace_id,
        "api_key_secret_id": secret_id,
        "aws_region": "eu-west-1",
        "aws_endpoint_url": endpoint,
    }
    ok = run_tap(config, tmp_path, aws_env)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert records(ok) > 0
    assert first not in ok.stdout + ok.stderr

    # The key is rotated in the workspace: the old one revoked, the secret not yet updated.
    second = sim.issue_key(sim.workspace_id)
    sim.revoke_key(first)
    refused = run_tap(config, tmp_path, aws_env)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    line = last_line(refused)
    assert "401" in line
    assert repr(secret_id) in line
    assert first not in refused.stderr
    assert second not in refused.stderr

    # The secret gets the new key (a JSON secret this time): the next run uses it.
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"api_key": second}))
    rotated = run_tap(config, tmp_path, aws_env)
    assert rotated.returncode == 0, rotated.stderr[-3000:]
    assert records(rotated) > 0
    assert second not in rotated.stdout + rotated.stderr

    sm.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    gone = run_tap(config, tmp_path, aws_env)
    assert gone.returncode == 1
    assert "Traceback" not in gone.stderr
    line = last_line(gone)
    assert repr(secret_id) in line
    assert "not found" in line
    assert "api_key_secret_id" in line
    assert second not in gone.stderr


def test_secret_scheduled_for_deletion_is_one_line(sm, secret_id, endpoint, aws_env):
    sm.create_secret(Name=secret_id, SecretString="sk-proj-scheduled")
    sm.delete_secret(SecretId=secret_id, RecoveryWindowInDays=7)
    with pytest.raises(secrets.SecretError) as info:
        secrets.resolve_api_key(
            {
                "api_key_secret_id": secret_id,
                "aws_region": "eu-west-1",
                "aws_endpoint_url": endpoint,
            }
        )
    text = str(info.value)
    assert repr(secret_id) in text
    assert "\n" not in text
    assert "sk-proj-scheduled" not in text


class _Denied:
    """A Secrets Manager client whose every read is refused, as IAM would."""

    def __init__(self, code: str) -> None:
        self.code = code

    def get_secret_value(self, SecretId: str):
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": self.code, "Message": f"User is not authorized on {SecretId}"}},
            "GetSecretValue",
        )


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("AccessDeniedException", "secretsmanager:GetSecretValue"),
        ("DecryptionFailure", "kms:Decrypt"),
        ("UnrecognizedClientException", "AWS credentials"),
        ("ThrottlingException", "ThrottlingException"),
    ],
)
def test_refusals_are_one_line_naming_the_secret(code, needle):
    with pytest.raises(secrets.SecretError) as info:
        secrets.resolve_api_key(
            {"api_key_secret_id": "arn:aws:secretsmanager:eu-west-2:1:secret:acme"},
            client_factory=lambda *a: _Denied(code),
        )
    text = str(info.value)
    assert "'arn:aws:secretsmanager:eu-west-2:1:secret:acme' (api_key_secret_id)" in text
    assert needle in text
    assert "\n" not in text


class _Holds:
    def __init__(self, answer: dict) -> None:
        self.answer = answer

    def get_secret_value(self, SecretId: str):
        return self.answer


@pytest.mark.parametrize(
    ("answer", "key", "error"),
    [
        ({"SecretString": "  sk-1\n"}, "sk-1", None),
        ({"SecretString": '{"api_key": "sk-2", "note": "x"}'}, "sk-2", None),
        ({"SecretBinary": b"sk-3"}, "sk-3", None),
        ({"SecretString": '{"key": "sk-4"}'}, None, "without a string field 'api_key'"),
        ({"SecretString": "{not json"}, None, "not valid JSON"),
        ({"SecretString": ""}, None, "is empty"),
        ({"SecretString": "sk-5 sk-6"}, None, "does not hold a key"),
        ({"SecretBinary": b"\xff\xfe"}, None, "binary"),
    ],
)
def test_secret_shapes(answer, key, error):
    config = {"api_key_secret_id": "acme", "workspace_id": "w"}
    if error is None:
        out = secrets.resolve_api_key(config, client_factory=lambda *a: _Holds(answer))
        assert out["api_key"] == key
        assert out["workspace_id"] == "w"
    else:
        with pytest.raises(secrets.SecretError, match=error) as info:
            secrets.resolve_api_key(config, client_factory=lambda *a: _Holds(answer))
        for value in ("sk-4", "sk-5", "sk-6"):
            assert value not in str(info.value)


def test_region_comes_from_the_setting_then_the_arn():
    arn = "arn:aws:secretsmanager:ap-south-1:123:secret:acme-AbCdEf"
    assert secrets.region_of(arn, None) == "ap-south-1"
    assert secrets.region_of(arn, "eu-west-1") == "eu-west-1"
    assert secrets.region_of("acme", None) is None


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "api_key is not set"),
        ({"api_key": "sk", "api_key_secret_id": "acme"}, "both set"),
        ({"api_key_secret_id": "  "}, "api_key_secret_id is empty"),
        (
            {"api_key_secret_id": "a", "aws_endpoint_url": "http://sm.example.invalid"},
            "aws_endpoint_url",
        ),
        ({"api_key_secret_id": "a", "aws_endpoint_url": "ftp://x"}, "aws_endpoint_url"),
    ],
)
def test_setting_errors(config, needle):
    errors = secrets.secret_config_errors(config)
    assert len(errors) == 1, errors
    assert needle in errors[0]


def test_good_settings_have_no_error():
    assert secrets.secret_config_errors({"api_key": "sk"}) == []
    assert secrets.secret_config_errors({"api_key_secret_id": "acme"}) == []
    ok = {"api_key_secret_id": "a", "aws_endpoint_url": "http://127.0.0.1:5000"}
    assert secrets.secret_config_errors(ok) == []


def test_without_boto3_the_line_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(secrets.SecretError, match=r"tap-chatgpt-compliance\[aws\]"):
        secrets.resolve_api_key({"api_key_secret_id": "acme"})


def test_a_plain_api_key_never_calls_aws():
    def boom(*a):
        raise AssertionError("called")

    config = {"api_key": "sk", "workspace_id": "w"}
    assert secrets.resolve_api_key(config, client_factory=boom) is config


def test_no_region_is_one_line_naming_aws_region_and_the_arn(monkeypatch, tmp_path):
    """A secret given by name, no region anywhere: the line says where a region comes from
    (it read "You must specify a region.. Set aws_region")."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(secrets.SecretError) as info:
        secrets.resolve_api_key(
            {"api_key_secret_id": "acme", "aws_endpoint_url": "http://127.0.0.1:9"}
        )
    text = str(info.value)
    assert "'acme' (api_key_secret_id)" in text
    assert "no AWS region" in text
    assert "aws_region" in text
    assert "ARN" in text
    assert ".." not in text


def rotate_at_first_request(sim, monkeypatch, new_secret: Callable[[str], None] | None) -> dict:
    """Rotate the workspace's key when the API sees the run's first request, after the run
    read its secret: a new key issued, the old one revoked, and ``new_secret(new key)`` (the
    secret updated), unless None. Returns what the API saw: the keys it refused."""
    state = sim._state  # the simulator's key table, answering every request of the run
    original = state.key_info
    seen: dict = {"refused": [], "new": None}

    def key_info(key: str):
        if seen["new"] is None:
            seen["new"] = sim.issue_key(sim.workspace_id)
            sim.revoke_key(sim.api_key)
            if new_secret is not None:
                new_secret(seen["new"])
        info = original(key)
        if info is None or info.revoked:
            seen["refused"].append(key)
        return info

    monkeypatch.setattr(state, "key_info", key_info)
    return seen


def secret_config(sim, secret_id: str, endpoint: str) -> dict:
    return {
        "api_url": sim.base_url,
        "workspace_id": sim.workspace_id,
        "api_key_secret_id": secret_id,
        "aws_region": "eu-west-1",
        "aws_endpoint_url": endpoint,
    }


def test_a_key_rotated_during_the_run_is_read_again_once(
    simulator_factory, sm, secret_id, endpoint, aws_env, tmp_path, monkeypatch
):
    """The key rotated in Secrets Manager mid-hour, after the run read the old one: its first
    request got 401 and the hour was red (the next run recovered). Now the run reads the
    secret again on the 401, finds another key and goes on: every record, one warning."""
    sim = simulator_factory(**SMALL)
    old = sim.api_key
    sm.create_secret(Name=secret_id, SecretString=old)
    seen = rotate_at_first_request(
        sim, monkeypatch, lambda key: sm.put_secret_value(SecretId=secret_id, SecretString=key)
    )
    proc = run_tap(secret_config(sim, secret_id, endpoint), tmp_path, aws_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert records(proc) > 0
    assert set(seen["refused"]) == {old}  # the old key refused, then the new one used
    assert proc.stderr.count("its secret now holds another key (rotated during the run)") == 1
    for key in (old, seen["new"]):
        assert key not in proc.stdout + proc.stderr


def test_a_revoked_key_whose_secret_did_not_change_fails_after_one_read(
    simulator_factory, sm, secret_id, endpoint, aws_env, tmp_path, monkeypatch
):
    """The key revoked but the secret not updated: one more read of the secret, the same key,
    and the run fails as before with one line naming the secret (no loop of reads)."""
    sim = simulator_factory(**SMALL)
    old = sim.api_key
    sm.create_secret(Name=secret_id, SecretString=old)
    seen = rotate_at_first_request(sim, monkeypatch, None)
    proc = run_tap(secret_config(sim, secret_id, endpoint), tmp_path, aws_env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    line = last_line(proc)
    assert "HTTP 401" in line
    assert repr(secret_id) in line
    assert "rotated during the run" not in proc.stderr
    assert old not in proc.stdout + proc.stderr
    # Each request refused once: none was sent again with the same key.
    assert len(seen["refused"]) <= 4, len(seen["refused"])


def test_the_secret_is_read_again_at_most_once_per_run(sm, secret_id, endpoint, aws_env):
    """Two refusals of the same key, from two threads: one read of the secret in all."""
    sm.create_secret(Name=secret_id, SecretString="sk-first")
    config = {
        "api_key_secret_id": secret_id,
        "aws_region": "eu-west-1",
        "aws_endpoint_url": endpoint,
    }
    reads: list[str] = []
    source = secrets.key_source(config, "sk-first")
    assert source is not None
    reread = source._reread
    source._reread = lambda: reads.append("read") or reread()  # count the reads of moto
    assert source.after_refusal("sk-first") is None  # unchanged: fail as is
    sm.put_secret_value(SecretId=secret_id, SecretString="sk-second")
    assert source.after_refusal("sk-first") is None  # already read once this run
    assert reads == ["read"]
    assert secrets.key_source({**config, "api_key": "sk-plain"}, "sk-plain") is None
