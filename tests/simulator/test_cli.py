"""The console command (issue #2 item 11)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = str(Path(sys.executable).parent / "chatgpt-compliance-simulator")


def test_help_documents_options():
    """`serve --help` documents each option."""
    out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, check=True)
    for opt in (
        "--port",
        "--signed-port",
        "--seed",
        "--tenants",
        "--users",
        "--conversations",
        "--messages-min",
        "--messages-max",
        "--attachment-rate",
        "--span-days",
        "--speed",
        "--auto-advance",
        "--no-quirk",
        "--fault",
        "--oddity",
        "--no-rate-limits",
    ):
        assert opt in out.stdout


def test_serve_prints_ids_answers_and_stops():
    """`serve` prints the base URL, workspace id, key and org id, answers, stops on SIGTERM."""
    proc = subprocess.Popen(
        [
            BIN,
            "serve",
            "--port",
            "0",
            "--conversations",
            "5",
            "--users",
            "2",
            "--tenants",
            "2",
            "--no-quirk",
            "empty_pages",
            "--fault",
            "latency_ms=1",
            "--speed",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.time() + 20
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(lines)
        base = re.search(r"base_url: (\S+)", text).group(1)
        ws = re.search(r"tenant 0: workspace_id: (\S+)", text).group(1)
        key = re.search(r"tenant 0: api_key: (\S+)", text).group(1)
        assert re.search(r"tenant 1: organization_id: org-\S+", text)
        r = requests.get(
            f"{base}/compliance/workspaces/{ws}/users",
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        assert r.status_code == 200
        assert r.json()["data"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
