"""loaders/target-s3-shared-client: target-s3 with one S3 client per process, not per batch.

Run in the loader's own venv (installed by `meltano install` from meltano.yml), where the real
plinxore-target-s3 and boto3 are; the end-to-end S3 runs (test_meltano_e2e.py) go through it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOADER_PYTHON = ROOT / ".meltano" / "loaders" / "target-s3" / "venv" / "bin" / "python"

pytestmark = pytest.mark.e2e

CHECK = """
import logging, threading, datetime
import boto3
import target_s3_shared_client as shared
from target_s3.formats import format_base
from target_s3.formats.format_jsonl import FormatJsonl

made = []
real_client = boto3.Session.client
def counting_client(self, *args, **kwargs):
    made.append(kwargs.get("endpoint_url"))
    return real_client(self, *args, **kwargs)
boto3.Session.client = counting_client

shared.share_clients()
def config(endpoint):
    return {"format": {"format_type": "jsonl"}, "compression": "gzip", "prefix": "p",
            "append_date_to_prefix": False, "append_date_to_prefix_grain": "day",
            "append_date_to_filename": False, "append_date_to_filename_grain": "day",
            "partition_name_enabled": False,
            "cloud_provider": {"cloud_provider_type": "aws", "aws": {
                "aws_access_key_id": "k", "aws_secret_access_key": "s", "aws_region": "us-east-1",
                "aws_bucket": "b", "aws_endpoint_override": endpoint}}}
def context(stream):
    return {"stream_name": stream, "logger": logging.getLogger("t"),
            "batch_start_time": datetime.datetime(2026, 12, 6, tzinfo=datetime.timezone.utc),
            "batch_number": 1, "batch_uuid": "u", "records": []}

formats = []
def batch(n):
    formats.append(FormatJsonl(config("http://127.0.0.1:1"), context(f"s{n}")))
threads = [threading.Thread(target=batch, args=(n,)) for n in range(12)]
for thread in threads: thread.start()
for thread in threads: thread.join()
assert len(formats) == 12
assert len({id(f.client) for f in formats}) == 1, "one client for every batch"
assert len({id(f.session) for f in formats}) == 1
other = FormatJsonl(config("http://127.0.0.1:2"), context("x"))
assert other.client is not formats[0].client, "another endpoint, another client"
assert made == ["http://127.0.0.1:1", "http://127.0.0.1:2"], made
assert formats[0].session.region_name == "us-east-1"  # the session's own attributes
assert formats[0].session.get_credentials().access_key == "k"
print("ok")
"""

REFUSED = """
import sys
from target_s3.formats import format_base
format_base.Session = object  # a target-s3 that changed shape
import target_s3_shared_client as shared
shared.share_clients()
"""


def _run(python: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def loader_python() -> Path:
    if not LOADER_PYTHON.exists():
        pytest.fail(f"{LOADER_PYTHON} missing: `meltano install` (scripts/test.sh) installs it")
    return LOADER_PYTHON


def test_every_batch_shares_one_client_per_endpoint(loader_python: Path) -> None:
    proc = _run(loader_python, CHECK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_a_changed_target_s3_is_refused_in_one_line(loader_python: Path) -> None:
    proc = _run(loader_python, REFUSED)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "plinxore-target-s3 0.1.7" in last
    assert "use the executable target-s3" in last


def test_the_project_runs_target_s3_through_it() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-s3")
    assert loader["executable"] == "target-s3-shared-client"
    assert "plinxore-target-s3==0.1.7" in loader["pip_url"].split()
    assert "./loaders/target-s3-shared-client" in loader["pip_url"].split()
