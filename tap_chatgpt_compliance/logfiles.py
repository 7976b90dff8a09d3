"""Download, verify and parse one Compliance Logs Platform file."""

from __future__ import annotations

import hashlib
import json
import logging
import typing as t
from dataclasses import dataclass, field

from tap_chatgpt_compliance.downloads import Unavailable, download
from tap_chatgpt_compliance.errors import ComplianceAPIError

if t.TYPE_CHECKING:
    import requests

    from tap_chatgpt_compliance.client import ComplianceStream

LOGGER = logging.getLogger(__name__)
CHUNK = 1024 * 1024
SHA_TRIES = 2


@dataclass
class LogFile:
    """A downloaded, verified log file and its new events."""

    meta: dict[str, t.Any]
    sha256: str
    size: int
    attempts: int
    line_count: int = 0
    duplicates: int = 0
    events: list[dict[str, t.Any]] = field(default_factory=list)
    malformed_lines: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """Return the log file id."""
        return str(self.meta["id"])

    @property
    def event_type(self) -> str:
        """Return the event type of the file."""
        return str(self.meta.get("event_type", ""))


def _read_all(response: requests.Response) -> tuple[bytes, str]:
    digest = hashlib.sha256()
    chunks = []
    for chunk in response.iter_content(CHUNK):
        digest.update(chunk)
        chunks.append(chunk)
    return b"".join(chunks), digest.hexdigest()


def fetch_log_file(stream: ComplianceStream, scope_path: str, meta: dict[str, t.Any]) -> LogFile:
    """Download a listed file and check its SHA-256; a mismatch is downloaded once more.

    Raises ComplianceAPIError when the bytes still do not match: the caller must not
    advance state past this file.
    """
    expected = str(meta.get("file_sha256") or "").lower()
    path = f"{scope_path}/logs/{meta['id']}"
    for attempt in range(1, SHA_TRIES + 1):
        try:
            body, sha256 = download(stream, path, _read_all)
        except Unavailable as exc:
            if exc.status == 403:  # a scope problem: the message names the scope
                raise
            msg = (
                f"Log file {meta['id']} was listed but cannot be downloaded (HTTP {exc.status}: "
                f"{exc.detail}); it may have just passed the 30-day retention. State was not "
                "advanced past it: rerun the tap."
            )
            raise ComplianceAPIError(msg) from exc
        if not expected or sha256 == expected:
            if not expected:
                LOGGER.warning("Log file %s was listed without file_sha256.", meta["id"])
            return LogFile(
                meta=meta, sha256=sha256, size=len(body), attempts=attempt, **_parse(body)
            )
        LOGGER.warning(
            "Log file %s: SHA-256 %s does not match the listed %s (try %d of %d).",
            meta["id"],
            sha256,
            expected,
            attempt,
            SHA_TRIES,
        )
    msg = (
        f"Log file {meta['id']} ({meta.get('file_name')}) failed its SHA-256 check "
        f"{SHA_TRIES} times: stopping without advancing state past it. Rerun later; if it "
        "persists, report the file id to OpenAI support."
    )
    raise ComplianceAPIError(msg)


def _parse(body: bytes) -> dict[str, t.Any]:
    """Split JSONL (final newline optional) into events; keep undecodable lines verbatim."""
    events: list[dict[str, t.Any]] = []
    malformed: list[str] = []
    lines = body.splitlines()
    for raw in lines:
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            malformed.append(raw.decode("utf-8", errors="replace"))
            continue
        if isinstance(event, dict):
            events.append(event)
        else:
            malformed.append(raw.decode("utf-8", errors="replace"))
    return {
        "events": events,
        "malformed_lines": malformed,
        "line_count": len(events) + len(malformed),
    }


def drop_seen_events(log_file: LogFile, seen_event_ids: set[str]) -> None:
    """Remove events delivered before in this run (at-least-once delivery), by event_id."""
    kept = []
    for event in log_file.events:
        event_id = event.get("event_id")
        if event_id:
            if event_id in seen_event_ids:
                log_file.duplicates += 1
                continue
            seen_event_ids.add(event_id)
        kept.append(event)
    log_file.events = kept
