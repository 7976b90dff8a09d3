#!/usr/bin/env python3
"""`make demo`: archive a simulated ChatGPT Enterprise workspace to a local S3 server with Meltano.

1. starts the Compliance API simulator and a local S3-compatible server (moto) on free ports;
2. runs the headline command `meltano run tap-chatgpt-compliance target-s3`;
3. shows what landed: objects per stream, record counts, attachments archived, one conversation
   as a readable thread, all checked against the simulator's ground truth;
4. proves it: `meltano invoke tap-chatgpt-compliance:verify` against the run's Meltano state,
   then again after one message is deleted from the archive (the verdict turns to FAILED and
   names it), and puts the object back;
5. stops what it started.

Needs only the project venv (`scripts/bootstrap.sh`); no credentials, no network beyond loopback.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from demo_services import BIN, BOLD, DIM, RESET, ROOT, s3_client, say, start_moto, stop

ARCHIVE_BUCKET = "chatgpt-compliance-archive"
STATE_BUCKET = "chatgpt-compliance-state"
PREFIX = "chatgpt-compliance/chatgpt_compliance/"  # target-s3 prefix of the base extractor
STATE_ID = "local:tap-chatgpt-compliance-to-target-s3"  # `meltano run`'s state id (environment)


SIM_ARGS: dict[str, Any] = {"seed": 7, "users": 5, "conversations": 20, "span_days": 1.5}


def start_simulator(stack: ExitStack, logdir: Path) -> dict[str, str]:
    """Start `chatgpt-compliance-simulator serve` on a free port; return what it printed."""
    cmd = [str(BIN / "chatgpt-compliance-simulator"), "serve", "--port", "0"]
    for key, value in SIM_ARGS.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=(logdir / "sim.log").open("wb"), text=True
    )
    stack.callback(stop, proc)
    info: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Press Ctrl-C"):
            return info
        key, sep, text = line.strip().rpartition(": ")
        if sep and not key.startswith("ChatGPT"):
            info[key.replace("tenant 0: ", "")] = text
    raise SystemExit(f"the simulator exited early; see {logdir / 'sim.log'}")


def ground_truth(info: dict[str, str]) -> dict[str, Any] | None:
    """Rebuild the same (seeded) deployment in-process to read its ground truth, or None."""
    try:
        from datetime import datetime

        from chatgpt_compliance_simulator import Simulator

        twin = Simulator(start=datetime.fromisoformat(info["simulated now"]), **SIM_ARGS)
        if twin.workspace_id != info["workspace_id"]:
            return None
        return twin.ground_truth()
    except Exception:  # the check is a bonus, never a reason to fail the demo
        return None


def read_archive(s3: Any) -> tuple[dict[str, list[dict]], Counter, Counter]:
    """Read every object target-s3 wrote: records, objects and bytes per stream."""
    records: dict[str, list[dict]] = defaultdict(list)
    objects: Counter = Counter()
    sizes: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARCHIVE_BUCKET, Prefix=PREFIX):
        for obj in page.get("Contents", []):
            stream = obj["Key"][len(PREFIX) :].split("/", 1)[0]
            objects[stream] += 1
            sizes[stream] += obj["Size"]
            body = s3.get_object(Bucket=ARCHIVE_BUCKET, Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            records[stream] += [json.loads(x) for x in body.splitlines() if x.strip()]
    return records, objects, sizes


def human(n: float) -> str:
    """Format a byte count."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def show(
    records: dict[str, list[dict]], objects: Counter, sizes: Counter, truth: dict[str, Any] | None
) -> bool:
    """Print what landed and compare it with the ground truth; True if all matches."""
    say(f"What landed in s3://{ARCHIVE_BUCKET}/{PREFIX}")
    width = max((len(name) + 2 for name in (*objects, *records)), default=15)
    print(f"  {'stream':<{width}}{'objects':>8}{'bytes':>12}{'records':>9}{'distinct':>10}")
    for stream in sorted(set(objects) | set(records)):
        rows = records.get(stream, [])
        key = "event_id" if stream == "events" else "id"
        print(
            f"  {stream:<{width}}{objects[stream]:>8}{human(sizes[stream]):>12}{len(rows):>9}"
            f"{len({r.get(key) for r in rows}):>10}"
        )

    files = records.get("files", [])
    archived = [f for f in files if f.get("status") == "archived"]
    by_status = Counter(f.get("status") for f in files)
    parts: dict[str, list[dict]] = defaultdict(list)
    for part in records.get("file_parts", []):
        parts[part["file_id"]].append(part)
    verified = 0
    for f in archived:  # re-hash the archived bytes: inline content or its file_parts
        if f.get("content_base64"):
            data = base64.b64decode(f["content_base64"])
        else:
            pieces = sorted(parts.get(f["id"], []), key=lambda p: p["part_index"])
            data = b"".join(base64.b64decode(p["content_base64"]) for p in pieces)
        verified += hashlib.sha256(data).hexdigest() == f.get("sha256")
    others = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()) if s != "archived")
    print(
        f"\n  attachments: {len(archived)} archived "
        f"({human(sum(f.get('size') or 0 for f in archived))} inline, "
        f"SHA-256 re-verified for {verified}/{len(archived)})" + (f"; {others}" if others else "")
    )
    ok = verified == len(archived)

    if truth is not None:
        live = sum(1 for a in truth["attachments"].values() if not a.get("expired"))
        checks = {
            "messages": (
                len({r["id"] for r in records.get("messages", [])}),
                len(truth["messages"]),
            ),
            "conversations": (
                len({r["id"] for r in records.get("conversations", [])}),
                len(truth["conversations"]),
            ),
            "attachments": (len({f["id"] for f in archived}), live),
        }
        print("\n  against the simulator's ground truth:")
        for name, (got, want) in checks.items():
            print(f"    {name:<15} {got:>5} / {want:<5} {'ok' if got == want else 'MISMATCH'}")
            ok &= got == want

    show_thread(records)
    return ok


def show_thread(records: dict[str, list[dict]]) -> None:
    """Print one archived conversation as a readable thread."""
    msgs_by_conv: dict[str, dict[str, dict]] = defaultdict(dict)
    for m in records.get("messages", []):
        msgs_by_conv[m.get("conversation_id") or ""][m["id"]] = m
    if not msgs_by_conv:
        return
    files = {f["id"]: f for f in records.get("files", [])}
    convs = {c["id"]: c for c in records.get("conversations", [])}

    def score(cid: str) -> tuple[bool, bool, int]:
        ms = list(msgs_by_conv[cid].values())
        att = [a for m in ms for a in m.get("attachment_ids") or []]
        archived = any(files.get(a, {}).get("status") == "archived" for a in att)
        return (archived, bool(att), len(ms))

    cid = max(msgs_by_conv, key=score)
    conv = convs.get(cid, {})
    say(f"One conversation, as archived: “{conv.get('title') or '(untitled)'}”")
    owner = conv.get("owner_email") or conv.get("owner_user_id")
    print(f"  {DIM}id {cid} · owner {owner}{RESET}\n")
    for m in sorted(msgs_by_conv[cid].values(), key=lambda m: m.get("created_at") or ""):
        who = m.get("author_type") or "?"
        if who == "user":
            who = m.get("actor_email") or "user"
        elif m.get("author_model"):
            who = f"{who} ({m['author_model']})"
        when = (m.get("created_at") or "")[:19].replace("T", " ")
        structured = m.get("content_json")  # a JSON value (tool output), not text
        text = m.get("content_text") or ("" if structured is None else json.dumps(structured))
        print(f"  {DIM}{when}{RESET}  {BOLD}{who}{RESET}")
        for line in textwrap.wrap(text, 92)[:8] or ["(no text)"]:
            print(f"      {line}")
        for fid in m.get("attachment_ids") or []:
            f = files.get(fid, {})
            print(
                f"      📎 {f.get('name') or fid} · {human(f.get('size') or 0)} · "
                f"{f.get('status', 'not archived')} · sha256 {str(f.get('sha256'))[:12]}…"
            )
        print()


def verify(meltano: str, env: dict[str, str], s3_url: str, state: Path) -> tuple[int, list[str]]:
    """Run the plugin command `verify` on the archive; return its exit code and output lines."""
    url = f"s3://{ARCHIVE_BUCKET}/{PREFIX.rstrip('/')}"
    command = [meltano, "invoke", "tap-chatgpt-compliance:verify", "--s3", url]
    command += ["--endpoint-url", s3_url, "--state", str(state)]
    print(f"  $ meltano invoke tap-chatgpt-compliance:verify --s3 {url} --state state.json")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines


def prove(meltano: str, env: dict[str, str], s3: Any, s3_url: str, tmpdir: Path) -> bool:
    """Verify the archive, then delete one message and verify again; True if both are right."""
    say("Proving it: verify the archive against the state Meltano saved")
    got = subprocess.run(
        [meltano, "state", "get", STATE_ID], env=env, capture_output=True, text=True, check=False
    )
    if got.returncode:
        print(f"  meltano state get failed: {got.stderr.strip()[-500:]}")
        return False
    state = tmpdir / "state.json"
    state.write_text(got.stdout)
    code, lines = verify(meltano, env, s3_url, state)
    verdict = next((line for line in lines if line.startswith("VERDICT")), "(no verdict)")
    print(f"  exit {code}: {verdict}")
    intact = code == 0 and verdict.startswith("VERDICT: intact")

    listing = s3.list_objects_v2(Bucket=ARCHIVE_BUCKET, Prefix=f"{PREFIX}messages/")
    key = sorted(o["Key"] for o in listing.get("Contents", []))[0]
    original = s3.get_object(Bucket=ARCHIVE_BUCKET, Key=key)["Body"].read()
    text = gzip.decompress(original) if key.endswith(".gz") else original
    kept = text.splitlines(keepends=True)
    removed = json.loads(kept.pop(len(kept) // 2))
    body = b"".join(kept)
    say(f"The same after deleting one message (event {removed['event_id']}) from the archive")
    s3.put_object(
        Bucket=ARCHIVE_BUCKET, Key=key, Body=gzip.compress(body) if key.endswith(".gz") else body
    )
    try:
        code, lines = verify(meltano, env, s3_url, state)
    finally:
        s3.put_object(Bucket=ARCHIVE_BUCKET, Key=key, Body=original)
    verdict = next((line for line in lines if line.startswith("VERDICT")), "(no verdict)")
    named = [line for line in lines if "FINDING" in line and str(removed["event_id"]) in line]
    print(f"  exit {code}: {verdict}")
    for line in named[:2]:
        print(f"  {textwrap.shorten(line.strip(), 160)}")
    print("  (the object is put back as it was)")
    return intact and code == 1 and verdict.startswith("VERDICT: FAILED") and bool(named)


def main() -> int:
    """Run the demo; return the process exit code."""
    start = time.monotonic()
    os.chdir(ROOT)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="tap-chatgpt-demo-") as tmp:
        tmpdir = Path(tmp)
        say("Starting the Compliance API simulator and a local S3 server (moto)")
        sim = start_simulator(stack, tmpdir)
        s3_url = start_moto(stack, tmpdir)
        print(
            f"  simulator: {sim['base_url']}  (workspace {sim['workspace_id']}, "
            f"simulated now {sim['simulated now']})"
        )
        print(f"  S3:        {s3_url}")

        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
        env.update(
            {
                "MELTANO_PROJECT_ROOT": str(ROOT),
                "MELTANO_ENVIRONMENT": "local",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "MELTANO_DATABASE_URI": f"sqlite:///{tmpdir / 'meltano.db'}",
                "MELTANO_STATE_BACKEND_URI": f"s3://{STATE_BUCKET}/meltano",
                "AWS_ENDPOINT_URL": s3_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "ARCHIVE_S3_BUCKET": ARCHIVE_BUCKET,
                "TAP_CHATGPT_COMPLIANCE_API_URL": sim["base_url"],
                "TAP_CHATGPT_COMPLIANCE_API_KEY": sim["api_key"],
                "TAP_CHATGPT_COMPLIANCE_WORKSPACE_ID": sim["workspace_id"],
            }
        )
        s3 = s3_client(s3_url, ARCHIVE_BUCKET, STATE_BUCKET)

        meltano = str(BIN / "meltano")
        log = tmpdir / "meltano.log"
        say("meltano install tap-chatgpt-compliance target-s3")
        with log.open("ab") as fh:
            cmd = [meltano, "install", "tap-chatgpt-compliance", "target-s3"]
            rc = subprocess.run(
                cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False
            ).returncode
        if rc:
            print(log.read_text()[-5000:])
            return rc

        say("meltano run tap-chatgpt-compliance target-s3")
        t0 = time.monotonic()
        with log.open("ab") as fh:
            rc = subprocess.run(
                [meltano, "run", "tap-chatgpt-compliance", "target-s3"],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        text = log.read_text()
        if rc:
            print(text[-8000:])
            say(f"meltano run failed (exit {rc})")
            return rc
        print(
            f"  done in {time.monotonic() - t0:.1f} s "
            f"(full log: {len(text.splitlines())} lines; the API key appears "
            f"{text.count(sim['api_key'])} times)"
        )

        records, objects, sizes = read_archive(s3)
        ok = show(records, objects, sizes, ground_truth(sim))
        state_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])]
        print(f"  Meltano state: s3://{STATE_BUCKET}/{state_keys[0] if state_keys else '(none!)'}")
        ok &= bool(state_keys) and sim["api_key"] not in text
        ok &= prove(meltano, env, s3, s3_url, tmpdir)
        say(
            f"Demo {'finished' if ok else 'FOUND PROBLEMS'} in {time.monotonic() - start:.0f} s; "
            "stopping the simulator and the S3 server"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
