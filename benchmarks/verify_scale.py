"""``chatgpt-compliance verify`` at scale (issue #16): messages/s and peak RSS at 100k and 1M.

Usage: python benchmarks/verify_scale.py [--count 100000 --count 1000000] [--keep DIR]

A synthetic target-jsonl archive is written the way the tap writes one (``file_content:
inline``): raw log files of 250 events as ``log_file_parts``, their chained manifest records
(``chain.link``), ``messages`` built by the tap's ``message_record`` and ``conversations`` by its
``ConversationFold``, in the tap's order. Then ``verify`` runs in a child process of its own
(``--state`` with the chain heads, so every check runs); its wall time, messages/s, CPU time
(user + system, which a loaded machine skews less) and peak RSS (VmHWM) are printed.
Goals: >= 20,000 messages/s on one core, peak RSS flat (< 300 MB).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tap_chatgpt_compliance.logfiles import chain
from tap_chatgpt_compliance.logfiles.records import ConversationFold, event_times, message_record

PER_FILE = 250
PER_CONVERSATION = 20
WORKSPACE = "3f6c2a1e-8b4d-4c7a-9e21-0d5b7f3a9c44"
TEXT = "Here are the three open items we discussed, with owners and dates. " * 4


class _Store:
    def __init__(self) -> None:
        self.seen: dict[str, t.Any] = {}

    def get_many(self, keys: t.Iterable[str]) -> dict[str, t.Any]:
        return {k: self.seen[k] for k in keys if k in self.seen}

    def set_many(self, items: t.Mapping[str, t.Any]) -> None:
        self.seen.update(items)


def _event(n: int, start: datetime) -> dict[str, t.Any]:
    at = (start + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conversation = f"conv-{n // PER_CONVERSATION:08d}"
    return {
        "event_id": f"evt-{n:09d}",
        "type": "CONVERSATION_MESSAGE",
        "timestamp": at,
        "principal": {"id": WORKSPACE, "type": "CHATGPT_WORKSPACE"},
        "actor": {
            "type": "ACCOUNT_USER",
            "user_id": f"user-{n % 97:04d}",
            "user_email": f"user{n % 97}@example.com",
        },
        "conversation": {
            "id": conversation,
            "title": f"Conversation {n // PER_CONVERSATION}",
            "created_at": at,
            "is_pinned": False,
            "is_temporary_chat": False,
            "mode": "work",
        },
        "message": {
            "id": f"msg-{n:09d}",
            "created_at": at,
            "author": {"type": "user" if n % 2 else "assistant", "client_type": "desktop_web"},
            "content": {"type": "text", "value": f"{n}: {TEXT}", "annotations": []},
        },
    }


def generate(folder: Path, count: int) -> dict[str, t.Any]:
    """Write an archive of ``count`` messages; return the tap's state (the chain head)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    state: dict[str, t.Any] = {}
    store = _Store()
    names = ("log_files", "log_file_parts", "messages", "conversations")
    outs = {name: (folder / f"{name}-20261201T000000.jsonl").open("w") for name in names}
    try:
        for first in range(0, count, PER_FILE):
            events = [_event(n, start) for n in range(first, min(first + PER_FILE, count))]
            data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events).encode()
            sha = hashlib.sha256(data).hexdigest()
            file_id = f"eclf_{first // PER_FILE:08d}"
            outs["log_file_parts"].write(
                json.dumps(
                    {
                        "log_file_id": file_id,
                        "part_index": 0,
                        "workspace_id": WORKSPACE,
                        "event_type": "CONVERSATION_MESSAGE",
                        "part_count": 1,
                        "offset": 0,
                        "size": len(data),
                        "sha256": sha,
                        "content_base64": base64.b64encode(data).decode(),
                    }
                )
                + "\n"
            )
            times = [event_times(event) for event in events]
            for event, at in zip(events, times, strict=True):
                row = message_record(event, WORKSPACE, file_id, None, at)
                outs["messages"].write(json.dumps(row) + "\n")
            fold = ConversationFold(file_id)
            fold.add(events, times)
            for row in fold.records(store, WORKSPACE):  # type: ignore[arg-type]
                outs["conversations"].write(json.dumps(row) + "\n")
            end = events[-1]["timestamp"].replace("Z", "+00:00")
            record: dict[str, t.Any] = {
                "id": file_id,
                "workspace_id": WORKSPACE,
                "organization_id": None,
                "scope": "workspace",
                "event_type": "CONVERSATION_MESSAGE",
                "end_time": end,
                "file_name": f"CONVERSATION_MESSAGE_{end}.jsonl",
                "file_size": len(data),
                "provider_sha256": sha,
                "verified_sha256": sha,
                "bytes_downloaded": len(data),
                "download_attempts": 1,
                "line_count": len(events),
                "event_count": len(events),
                "duplicates_dropped": 0,
                "unparsed_lines": 0,
                "blank_lines": 0,
                "raw_content": "inline",
                "raw_storage_uri": None,
                "raw_part_count": 1,
            }
            chain.link(record, state)
            chain.advance(state, record)
            outs["log_files"].write(json.dumps(record) + "\n")
    finally:
        for out in outs.values():
            out.close()
    partition = {"context": {"event_type": "CONVERSATION_MESSAGE"}, **state}
    return {"bookmarks": {"log_files": {"partitions": [partition]}}}


CHILD = """
import resource, sys, time
from tap_chatgpt_compliance.evidence.cli import main
started = time.monotonic()
code = main(["verify", "--jsonl", sys.argv[1], "--state", sys.argv[2]])
elapsed = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(f"RESULT {code} {elapsed:.2f} {hwm / 1024:.1f} {cpu:.2f}", file=sys.stderr)
"""


def measure(count: int, keep: Path | None) -> dict[str, t.Any]:
    """Generate and verify one archive; return the measurements."""
    root = Path(tempfile.mkdtemp(prefix="verify-scale-")) if keep is None else keep / str(count)
    try:
        began = time.monotonic()
        state = generate(root / "archive", count)
        generated = time.monotonic() - began
        (root / "state.json").write_text(json.dumps(state))
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(root / "archive"), str(root / "state.json")],
            capture_output=True,
            text=True,
            check=False,
        )
        result = next(x for x in done.stderr.splitlines() if x.startswith("RESULT"))
        _, code, elapsed, rss, cpu = result.split()
        verdict = done.stdout.strip().splitlines()[-1]
        return {
            "messages": count,
            "generated_s": round(generated, 1),
            "exit": int(code),
            "verify_s": float(elapsed),
            "messages_per_s": round(count / float(elapsed)),
            "cpu_s": float(cpu),
            "messages_per_cpu_s": round(count / float(cpu)),
            "peak_rss_mb": float(rss),
            "verdict": verdict,
        }
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """Measure each count and print one line per count, then the rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, action="append", help="messages (repeatable)")
    parser.add_argument("--keep", type=Path, help="keep the archives under this folder")
    args = parser.parse_args()
    rows = []
    for count in args.count or [100_000, 1_000_000]:
        row = measure(count, args.keep)
        rows.append(row)
        print(
            f"verify {row['messages']:,} messages: {row['verify_s']:.1f} s, "
            f"{row['messages_per_s']:,} messages/s (CPU {row['cpu_s']:.1f} s: "
            f"{row['messages_per_cpu_s']:,} messages per CPU second), "
            f"peak RSS {row['peak_rss_mb']:.0f} MB, "
            f"exit {row['exit']} ({row['verdict'][:60]})",
            flush=True,
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
