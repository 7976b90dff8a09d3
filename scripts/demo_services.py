"""Start-up shared by `make demo` and `make fleet-demo`: headings, a local S3 server, buckets.

Imported by ``scripts/demo.py`` and ``scripts/fleet_demo.py`` (their own folder is on
``sys.path`` when run as scripts).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BOLD, DIM, RED, GREEN, YELLOW, RESET = (
    ("\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[0m")
    if sys.stdout.isatty()
    else ("", "", "", "", "", "")
)


def say(msg: str, gap: bool = False) -> None:
    """Print a step heading (after a blank line with ``gap``)."""
    print(f"{chr(10) if gap else ''}{BOLD}==> {msg}{RESET}", flush=True)


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started here: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_moto(stack: ExitStack, logdir: Path, name: str = "") -> str:
    """Start moto's S3 server on a free port (stopped by ``stack``); return its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=(logdir / "moto.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    stack.callback(stop, proc)
    url = f"http://127.0.0.1:{port}"
    who = f"{name}: " if name else ""
    for _ in range(150):
        if proc.poll() is not None:
            raise SystemExit(f"{who}moto_server exited; see {logdir / 'moto.log'}")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)  # noqa: S310 (loopback)
            return url
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{who}moto_server did not answer")


def s3_client(url: str, *buckets: str) -> Any:
    """Return a boto3 S3 client of the local server, with ``buckets`` created."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto accepts anything)
    )
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    return client
