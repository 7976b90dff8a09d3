"""`chatgpt-compliance-simulator key …` / `clock …` change a served simulator at run time
(issue 18): a revoked key gets 401 from outside, a rotated key works, the clock moves."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SIM = str(Path(sys.executable).with_name("chatgpt-compliance-simulator"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIM, *args], capture_output=True, text=True, timeout=60, check=False)


def _status(base_url: str, workspace_id: str, key: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/compliance/workspaces/{workspace_id}/users?limit=1",
        headers={"Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def served():
    proc = subprocess.Popen(
        [SIM, "serve", "--port", "0", "--users", "2", "--conversations", "2", "--no-rate-limits"],
        stdout=subprocess.PIPE,
        text=True,
    )
    info: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith("Press Ctrl-C"):
            break
        name, _, value = line.removeprefix("tenant 0: ").partition(": ")
        info[name] = value.strip()
    try:
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_revoke_rotate_create_and_clock(served):
    admin, base, ws, first = (
        served["admin_url"],
        served["base_url"],
        served["workspace_id"],
        served["api_key"],
    )
    assert _status(base, ws, first) == 200

    rotated = _cli("key", "rotate", "--admin", admin, "--workspace", ws)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.split("api_key: ")[1].split()[0]
    assert _status(base, ws, first) == 401
    assert _status(base, ws, new) == 200

    revoked = _cli("key", "revoke", "--admin", admin, new)
    assert revoked.returncode == 0, revoked.stderr
    assert _status(base, ws, new) == 401

    created = _cli("key", "create", "--admin", admin)
    assert created.returncode == 0, created.stderr
    assert _status(base, ws, created.stdout.split("api_key: ")[1].split()[0]) == 200

    before = _cli("clock", "show", "--admin", admin).stdout
    moved = _cli("clock", "advance", "--admin", admin, "2h")
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout != before
    assert moved.stdout.startswith("now: ")


def test_refusals_are_one_line(served):
    admin = served["admin_url"]
    for args, needle in (
        (("key", "revoke", "--admin", admin, "sk-nope"), "unknown api_key"),
        (("key", "create", "--admin", admin, "--workspace", "nope"), "unknown workspace_id"),
        (("clock", "advance", "--admin", admin, "soon"), "not a duration"),
        (("clock", "show", "--admin", "http://127.0.0.1:1"), "cannot reach"),
    ):
        proc = _cli(*args)
        assert proc.returncode == 1
        assert needle in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
