"""Export at scale: peak RSS and messages/s of ``chatgpt-compliance export`` (issue #16).

Writes a synthetic target-jsonl archive (messages rows built by the tap's ``message_record`` from
delivered events, one custodian owning every conversation of 20 messages), then exports the
custodian's whole production in a child process and reports its peak RSS (VmHWM) and
messages/s. The render is measured alone (the export API, no verify) and, with ``--verify``,
through the command line (verify + export, ``--allow-findings``: a synthetic archive has no raw
log files, so verify has findings).

    python benchmarks/export_scale.py            # 100,000 messages
    python benchmarks/export_scale.py --million  # 100,000 and 1,000,000 messages
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

PER_CONVERSATION = 20
WORKSPACE = "3f6c2a1e-8b4d-4c7a-9e21-0d5b7f3a9c44"
USER = "user-Qx7mT2vL9pR4sN8kW3yZ5bHd"
EMAIL = "dana.ito@example.com"
TEXT = "Here are the three open items we discussed, with owners and dates. " * 4


def generate(folder: Path, count: int) -> None:
    """Write ``count`` messages (and their manifest and user) as target-jsonl does."""
    from tap_chatgpt_compliance.logfiles.records import message_record

    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    files = max(1, count // 1000)
    with (folder / "messages-20261201T000000.jsonl").open("w") as out:
        for n in range(count):
            conversation = n // PER_CONVERSATION
            at = start + timedelta(seconds=n * 7)
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            author = "user" if n % 2 == 0 else "assistant"
            event = {
                "event_id": f"ev-{n:08d}",
                "type": "CONVERSATION_MESSAGE",
                "timestamp": stamp,
                "principal": {"id": WORKSPACE, "type": "CHATGPT_WORKSPACE"},
                "actor": {"type": "ACCOUNT_USER", "user_id": USER, "user_email": EMAIL},
                "message": {
                    "id": f"msg-{n:08d}",
                    "created_at": stamp,
                    "author": {"type": author, **({"model": "gpt-5-5"} if n % 2 else {})},
                    "content": {"type": "text", "value": f"{n}: {TEXT}"},
                },
                "conversation": {
                    "id": f"conv-{conversation:07d}",
                    "title": f"Conversation {conversation}",
                },
            }
            row = message_record(event, WORKSPACE, f"eclf_{n % files:06d}")
            out.write(json.dumps(row) + "\n")
    with (folder / "log_files-20261201T000000.jsonl").open("w") as out:
        for n in range(files):
            out.write(json.dumps({"id": f"eclf_{n:06d}", "workspace_id": WORKSPACE}) + "\n")
    item = {"id": USER, "email": EMAIL, "name": "Dana Ito"}
    with (folder / "users-20261201T000000.jsonl").open("w") as out:
        out.write(json.dumps({**item, "raw_item": json.dumps(item)}) + "\n")


def child(folder: str, out: str) -> None:
    """Export the custodian with the API (no verify); print messages, seconds, peak RSS."""
    from tap_chatgpt_compliance.evidence import sources
    from tap_chatgpt_compliance.evidence.export import Exporter

    started = time.monotonic()
    with Exporter(sources.from_jsonl(folder)) as exporter:
        production = exporter.export(Path(out), custodian=EMAIL)
    seconds = time.monotonic() - started
    print(json.dumps({"messages": production.messages, "seconds": seconds, "rss_mb": _hwm()}))


def _hwm() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_cli(folder: str, out: str) -> None:
    """Run ``chatgpt-compliance export`` (verify first) in this process; print its cost."""
    import contextlib
    import io

    from tap_chatgpt_compliance.evidence.cli import main

    started = time.monotonic()
    command = ["export", "--jsonl", folder, "--custodian", EMAIL, "--out", out, "--allow-findings"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(command)
    seconds = time.monotonic() - started
    print(json.dumps({"exit": code, "seconds": seconds, "rss_mb": _hwm()}))


def measure(count: int, *, with_verify: bool, keep: bool) -> None:
    """Generate, export, report one size."""
    root = Path(tempfile.mkdtemp(prefix=f"export-scale-{count}-"))
    try:
        began = time.monotonic()
        generate(root / "archive", count)
        print(f"{count:,} messages: archive generated in {time.monotonic() - began:.0f} s")
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(root / "archive"), str(root / "out")],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  export (render): {result['messages']:,} messages in {result['seconds']:.1f} s = "
            f"{result['messages'] / result['seconds']:,.0f} messages/s, peak RSS "
            f"{result['rss_mb']:.0f} MB"
        )
        if with_verify:
            done = subprocess.run(
                [sys.executable, __file__, "--child-cli", str(root / "archive"), str(root / "cli")],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"  verify + export (command line, --allow-findings): {count:,} messages in "
                f"{result['seconds']:.1f} s = {count / result['seconds']:,.0f} messages/s, peak "
                f"RSS {result['rss_mb']:.0f} MB, exit {result['exit']}"
            )
    finally:
        if keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 messages")
    parser.add_argument("--count", type=int, help="one size instead (messages)")
    parser.add_argument("--verify", action="store_true", help="also verify + export (the CLI)")
    parser.add_argument("--keep", action="store_true", help="keep the archives and productions")
    parser.add_argument("--child", nargs=2, metavar=("ARCHIVE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-cli", nargs=2, metavar=("ARCHIVE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.child_cli:
        child_cli(*args.child_cli)
        return
    sizes = [args.count] if args.count else [100_000, *([1_000_000] if args.million else [])]
    print(f"export_scale on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for count in sizes:
        measure(count, with_verify=args.verify, keep=args.keep)


if __name__ == "__main__":
    main()
