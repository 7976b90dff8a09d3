"""`make bench-attachments` in its short mode still runs and prints its ratio (issue #20).

Not a timed test: it asserts only that the benchmark completes, verifies what it stored and
prints the ratio to the reference client, the tap's peak RSS and (with the moto server of
scripts/test.sh) the S3 rate.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_the_attachments_benchmark_runs_in_its_short_mode() -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "attachments.py"), "--quick"]
    command += ["--size-mib", "8"]
    s3 = bool(os.environ.get("TEST_S3_ENDPOINT"))  # else no moto_server is started here
    if not s3:
        command.append("--no-s3")
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "Attachment of 8 MiB, 1 repeat(s)" in out, out
    ratio = re.search(r"^ratio \(median\): (\d+\.\d+)x", out, re.MULTILINE)
    assert ratio, out
    assert float(ratio.group(1)) > 0
    rss = re.search(r"^peak RSS \(max\): (\d+\.\d) MB", out, re.MULTILINE)
    assert rss, out
    assert float(rss.group(1)) > 10  # a real process was sampled
    if s3:
        assert re.search(r"^S3 \(moto\): \d+ MiB/s", out, re.MULTILINE), out
