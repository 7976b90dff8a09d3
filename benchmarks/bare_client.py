"""The baseline of benchmark P1: a bare client of the Compliance Logs Platform, no SDK.

It lists every CONVERSATION_MESSAGE log file, downloads each one through its signed URL, parses
each line, builds a message dict and writes it as one JSON line to stdout. It does none of what
the tap adds (integrity checks, dedupe, conversations, manifest, state, retries): it is what a
records/s figure can be compared with.

Usage: python benchmarks/bare_client.py API_URL WORKSPACE_ID AFTER  (API key in BARE_API_KEY)
"""

from __future__ import annotations

import json
import os
import sys

import requests


def main() -> None:
    api_url, workspace_id, after = sys.argv[1:4]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {os.environ['BARE_API_KEY']}"
    signed = requests.Session()
    logs = f"{api_url}/compliance/workspaces/{workspace_id}/logs"
    out = sys.stdout
    while True:
        params = {"event_type": "CONVERSATION_MESSAGE", "after": after, "limit": 100}
        page = api.get(logs, params=params, timeout=60).json()
        for meta in page["data"]:
            redirect = api.get(f"{logs}/{meta['id']}", allow_redirects=False, timeout=60)
            body = signed.get(redirect.headers["Location"], timeout=60).content
            for line in body.splitlines():
                if not line:
                    continue
                event = json.loads(line)
                message = event.get("message") or {}
                content = message.get("content") or {}
                record = {
                    "id": message.get("id"),
                    "conversation_id": (event.get("conversation") or {}).get("id"),
                    "created_at": message.get("created_at"),
                    "author": (message.get("author") or {}).get("role"),
                    "content_text": content.get("value"),
                    "event_id": event.get("event_id"),
                    "log_file_id": meta["id"],
                    "event": event,
                }
                out.write(json.dumps({"type": "RECORD", "stream": "messages", "record": record}))
                out.write("\n")
        if not page.get("has_more"):
            break
        after = page.get("last_end_time") or after
    out.flush()


if __name__ == "__main__":
    main()
