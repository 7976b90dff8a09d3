"""Issue #20 item 2: one big attachment stored at the wire's speed, against curl, in one run.

Usage: python benchmarks/attachments.py [--quick] [--size-mib N] [--repeats N] [--no-s3] [--json]

The simulator serves a workspace of one message with ONE attachment of ``--size-mib`` MiB
(default 1024; ``--quick``: 64 MiB, one repeat). Each repeat runs, side by side and in
alternating order:

- the reference: ``curl -sS --fail <signed URL> | python -c <sha256 tee> > file`` (the API's
  307 asked first, as the tap does; the pipeline's wall time, the file not fsynced). Without
  curl on PATH the reference is a minimal ``requests`` streaming client (1 MiB chunks, hashlib,
  written to a file), and the report says so;
- the tap process, ``file_content: storage`` into a local folder on the same disk: its rate is
  the size over the time from its GET of the attachment at the API (the simulator counts it)
  to the moment the object appears at its final path (polled every 5 ms), so its start-up and
  log files do not count; its peak RSS (VmHWM, sampled every 20 ms) is the whole process's.

The ratio is tap rate / reference rate (median of the repeats' ratios: both sides of a ratio
ran back to back, so a loaded machine skews it less). Then, once, the same attachment into
moto S3 (``TEST_S3_ENDPOINT``, else a ``moto_server`` started for the run): its rate only, from
the attachment's GET to the tap's exit (moto itself is the limit there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from chatgpt_compliance_simulator import Quirks, Simulator
from tests.support.tap import tap_command, tap_config, tap_env

MIB = 1 << 20
USER_FILE = "/v1/compliance/workspaces/{workspace_id}/users/{user_id}/files/{file_id}"
TEE = (
    "import hashlib, sys\n"
    "src, dst, h = sys.stdin.buffer, sys.stdout.buffer, hashlib.sha256()\n"
    "while chunk := src.read(1 << 20):\n"
    "    h.update(chunk)\n"
    "    dst.write(chunk)\n"
    "dst.flush()\n"
    "print(h.hexdigest(), file=sys.stderr)\n"
)
"""The reference's ``python-sha256-tee``: stdin to stdout, the SHA-256 to stderr."""
BARE = (
    "import hashlib, sys, requests\n"
    "h = hashlib.sha256()\n"
    "with requests.get(sys.argv[1], stream=True) as r, open(sys.argv[2], 'wb') as out:\n"
    "    r.raise_for_status()\n"
    "    for chunk in r.iter_content(1 << 20):\n"
    "        h.update(chunk)\n"
    "        out.write(chunk)\n"
    "print(h.hexdigest(), file=sys.stderr)\n"
)
"""The reference without curl: a minimal streaming client."""


@dataclass
class Attachment:
    """The one attachment of the workspace."""

    file_id: str
    user_id: str
    sha256: str
    size: int


@dataclass
class TapRun:
    """One tap process archiving the attachment."""

    window_s: float
    wall_s: float
    peak_rss: int
    stored: bool

    def rate(self, size: int) -> float:
        """MiB/s over the attachment's window."""
        return size / MIB / self.window_s


def peak_rss(pid: int) -> int:
    """Return a process's peak resident set size (VmHWM) in bytes, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def workspace(size: int, folder: Path) -> tuple[Simulator, Attachment]:
    """Start a simulator whose workspace holds one message with one ``size``-byte attachment.

    The simulator generates an attachment's pseudo-random bytes as it serves them (about
    150 MiB/s on the 2-core machine, on one of its cores): here they are generated once into a
    file of ``folder`` and served from it (the page cache), so that the signed host is not
    what is measured.
    """
    sim = Simulator(
        seed=1,
        users=1,
        conversations=1,
        messages_per_conversation=(1, 1),
        attachment_rate=1.0,
        attachment_size=(size, size),
        span_days=0.2,
        speed=10_000.0,
        quirks=Quirks(expired_attachments=False),
    ).start()
    attachments = sim.ground_truth()["attachments"]
    if len(attachments) != 1:
        sim.stop()
        raise SystemExit(f"expected one attachment in the workspace, found {len(attachments)}")
    (file_id, info), *_ = attachments.items()
    tenant = sim._state.workspace(sim.workspace_id)
    assert tenant is not None
    served = tenant.world.attachments[file_id]
    body = folder / "served.bin"
    with body.open("wb") as out:
        for chunk in served.iter_body():
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())  # not written back to disk during the first repeat

    def from_file() -> t.Iterator[bytes]:
        with body.open("rb") as source:
            while chunk := source.read(MIB):
                yield chunk

    served.iter_body = from_file  # type: ignore[method-assign]  # the signed URLs minted from now on serve the file
    return sim, Attachment(file_id, info["user_id"], info["sha256"], info["size"])


def run_reference(sim: Simulator, att: Attachment, folder: Path) -> tuple[float, str]:
    """Fetch the attachment like a bare client; return (seconds, which client)."""
    target = folder / "reference.bin"
    started = time.perf_counter()
    api = f"{sim.base_url}/compliance/workspaces/{sim.workspace_id}"
    answer = requests.get(
        f"{api}/users/{att.user_id}/files/{att.file_id}",
        headers={"Authorization": f"Bearer {sim.api_key}"},
        allow_redirects=False,
        timeout=30,
    )
    location = answer.headers.get("Location")
    if answer.status_code != 307 or not location:
        raise SystemExit(f"the API answered {answer.status_code} without a signed URL")
    curl = shutil.which("curl")
    if curl:
        client = "curl | python sha256 tee > file"
        with target.open("wb") as out:
            fetch = subprocess.Popen([curl, "-sS", "--fail", location], stdout=subprocess.PIPE)
            tee = subprocess.run(
                [sys.executable, "-c", TEE],
                stdin=fetch.stdout,
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
            assert fetch.stdout is not None
            fetch.stdout.close()
            code = fetch.wait() or tee.returncode
        digest = tee.stderr.decode().strip()
    else:
        client = "python requests (1 MiB chunks) + hashlib > file (no curl on PATH)"
        proc = subprocess.run(
            [sys.executable, "-c", BARE, location, str(target)],
            capture_output=True,
            check=False,
        )
        code, digest = proc.returncode, proc.stderr.decode().strip()
    seconds = time.perf_counter() - started
    if code != 0 or digest.splitlines()[-1:] != [att.sha256]:
        raise SystemExit(f"the reference client failed ({code}): {digest[-500:]}")
    target.unlink()
    return seconds, client


def run_tap(sim: Simulator, att: Attachment, config: dict, final: Path | None) -> TapRun:
    """Run the tap; time the attachment from its API request to ``final`` (or the exit)."""
    route = USER_FILE
    sim.reset_counters()
    with tempfile.TemporaryDirectory() as work:
        command = tap_command(config, None, Path(work))
        err = Path(work) / "err.log"
        began: list[float] = []
        ended: list[float] = []
        peak = 0
        start = time.perf_counter()
        with err.open("wb") as stderr:
            proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=stderr, env=tap_env()
            )
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                last_rss = 0.0
                while not done.wait(0.005):
                    now = time.perf_counter()
                    if not began and sim.request_count(route) > 0:
                        began.append(now)
                    if began and not ended and final is not None and final.exists():
                        ended.append(now)
                    if now - last_rss >= 0.02:
                        peak = max(peak, peak_rss(proc.pid))
                        last_rss = now

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            code = proc.wait()
            exited = time.perf_counter()
            done.set()
            sampler.join()
        if code != 0:
            tail = err.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the tap failed ({code}):\n{tail}")
    if not began:
        raise SystemExit("the tap never asked the API for the attachment")
    end = ended[0] if ended else exited
    return TapRun(end - began[0], exited - start, peak, bool(ended))


def verify_stored(path: Path, att: Attachment) -> None:
    """Check (outside the timing) that the stored object is the attachment."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(4 * MIB):
            digest.update(chunk)
    if path.stat().st_size != att.size or digest.hexdigest() != att.sha256:
        raise SystemExit(f"the stored object {path} is not the attachment")


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[str, subprocess.Popen | None]:
    """Return the S3 endpoint: ``TEST_S3_ENDPOINT``, else a moto_server started here."""
    endpoint = os.environ.get("TEST_S3_ENDPOINT")
    if endpoint:
        return endpoint, None
    server = Path(sys.executable).with_name("moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(150):
        if proc.poll() is not None:
            raise SystemExit("moto_server exited")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return endpoint, proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("moto_server did not answer")


def bench_s3(sim: Simulator, att: Attachment) -> dict:
    """The tap into moto S3 once: the rate from the attachment's GET to the tap's exit."""
    import boto3

    endpoint, server = start_moto()
    try:
        key = os.environ.get("AWS_ACCESS_KEY_ID", "testing")
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        bucket = f"bench-{os.getpid()}-{int(time.time())}"
        s3.create_bucket(Bucket=bucket)
        options = {"endpoint_url": endpoint, "key": key, "secret": secret}
        config = tap_config(
            sim,
            file_content="storage",
            file_storage_url=f"s3://{bucket}/archive",
            file_storage_options=options,
            seal_storage_url="none",
        )
        run = run_tap(sim, att, config, None)
        object_key = f"archive/sha256/{att.sha256[:2]}/{att.sha256}"
        size = s3.head_object(Bucket=bucket, Key=object_key)["ContentLength"]
        if size != att.size:
            raise SystemExit(f"the S3 object holds {size} bytes, not {att.size}")
        return {"window_s": run.window_s, "rate_mib_s": run.rate(att.size), "rss": run.peak_rss}
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


def bench(size: int, repeats: int, s3: bool) -> dict:
    """Run the comparison; return every measurement."""
    served = tempfile.TemporaryDirectory()
    sim, att = workspace(size, Path(served.name))
    rows = []
    client = ""
    try:
        base = Path(tempfile.gettempdir())
        for index in range(repeats):
            with tempfile.TemporaryDirectory(dir=base) as folder:
                store = Path(folder) / "store"
                final = store / "sha256" / att.sha256[:2] / att.sha256
                config = tap_config(sim, file_content="storage", file_storage_url=str(store))
                tap: TapRun | None = None
                reference = 0.0
                for side in ("tap", "ref") if index % 2 else ("ref", "tap"):
                    if side == "ref":
                        reference, client = run_reference(sim, att, Path(folder))
                    else:
                        tap = run_tap(sim, att, config, final)
                assert tap is not None
                if not tap.stored:
                    raise SystemExit("the tap did not store the attachment at its final path")
                verify_stored(final, att)
            ref_rate = size / MIB / reference
            rows.append(
                {
                    "reference_s": reference,
                    "reference_mib_s": ref_rate,
                    "tap_window_s": tap.window_s,
                    "tap_mib_s": tap.rate(size),
                    "tap_wall_s": tap.wall_s,
                    "tap_rss": tap.peak_rss,
                    "ratio": tap.rate(size) / ref_rate,
                }
            )
        s3_result = bench_s3(sim, att) if s3 else None
    finally:
        sim.stop()
        served.cleanup()
    return {
        "size": size,
        "attachment": asdict(att),
        "client": client,
        "rows": rows,
        "median": {k: statistics.median(r[k] for r in rows) for k in rows[0]},
        "peak_rss": max(r["tap_rss"] for r in rows),
        "s3": s3_result,
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def report(results: dict) -> str:
    """Render the measurements as a Markdown table and summary lines."""
    mib = results["size"] / MIB
    lines = [
        f"Attachment of {mib:.0f} MiB, {len(results['rows'])} repeat(s), "
        f"{results['machine']}, {results['when']}; reference: {results['client']}.",
        "",
        "| repeat | reference | tap (storage, local folder) | ratio | tap peak RSS |",
        "|---|---|---|---|---|",
    ]
    for index, row in enumerate(results["rows"], 1):
        lines.append(
            f"| {index} | {row['reference_mib_s']:.0f} MiB/s ({row['reference_s']:.2f} s) | "
            f"{row['tap_mib_s']:.0f} MiB/s ({row['tap_window_s']:.2f} s; process "
            f"{row['tap_wall_s']:.1f} s) | {row['ratio']:.2f}x | "
            f"{row['tap_rss'] / 1e6:.1f} MB |"
        )
    med = results["median"]
    lines.append(
        f"| median | {med['reference_mib_s']:.0f} MiB/s | {med['tap_mib_s']:.0f} MiB/s | "
        f"**{med['ratio']:.2f}x** | {results['peak_rss'] / 1e6:.1f} MB (max) |"
    )
    lines.append("")
    lines.append(f"ratio (median): {med['ratio']:.2f}x (goal >= 0.8x)")
    lines.append(f"peak RSS (max): {results['peak_rss'] / 1e6:.1f} MB (goal < 100 MB)")
    s3 = results["s3"]
    if s3 is None:
        lines.append("S3 (moto): not measured (--no-s3)")
    else:
        lines.append(
            f"S3 (moto): {s3['rate_mib_s']:.0f} MiB/s ({s3['window_s']:.2f} s, "
            f"peak RSS {s3['rss'] / 1e6:.1f} MB)"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, one repeat (CI)")
    parser.add_argument("--size-mib", type=int, help="attachment size (default 1024; quick 64)")
    parser.add_argument("--repeats", type=int, help="repeats (default 3; quick 1)")
    parser.add_argument("--no-s3", action="store_true", help="skip the moto S3 run")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    size = (args.size_mib or (64 if args.quick else 1024)) * MIB
    repeats = args.repeats or (1 if args.quick else 3)
    results = bench(size, repeats, not args.no_s3)
    print(report(results))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
