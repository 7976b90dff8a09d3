"""What a ``meltano run`` of one tenant left behind: the tap's run summary and its last message.

The tap ends its log with ``Run summary (json): {...}`` (compact JSON: ``records`` {stream: n},
``log_files`` n, ``attachments`` {status: n}, ``bookmarks`` {event_type: {end_time,
lag_seconds}}, ``failures`` [str], ``exit_code``). Meltano prefixes every plugin line with a
timestamp, a level and the plugin name, so the marker is searched anywhere in a line. When no
such line exists, the bookmarks come from the Meltano state, and a run Meltano called a success
fails (the tap did not finish: ``runner.unfinished_tap``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SUMMARY_MARKER = "Run summary (json): "
#: ``2026-11-26T23:11:21.513257Z [error    ] tap-chatgpt-compliance--acme <message>``
_MELTANO_LINE = re.compile(r"^\S+\s+\[\s*(?P<level>\w+)\s*\]\s+(?P<plugin>\S+)\s(?P<msg>.*)$")
#: Lines of the tap that are noise, never its message (SDK metrics).
_NOISE = ("METRIC ", "{")
#: Problems of the key itself: retrying cannot help, a person must act.
CREDENTIAL_MARKERS = (
    "HTTP 401",
    "HTTP 403",
    "api_key is wrong or was revoked",
    "lacks the scope",
    "compliance_export.read",
    "belongs to another workspace",
)


@dataclass
class RunSummary:
    """The tap's run summary, from its JSON line or rebuilt from the state."""

    records: dict[str, int] = field(default_factory=dict)
    log_files: int | None = None
    attachments: dict[str, int] = field(default_factory=dict)
    bookmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    exit_code: int | None = None
    source: str = "none"  # "summary" (the tap's JSON line), "state" (meltano state get), "none"
    tap_bookmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The bookmarks the tap reached; ``bookmarks`` are those Meltano persisted (read back)."""

    @property
    def attachments_not_archived(self) -> dict[str, int]:
        """Attachments of the run in any status but ``archived`` (and ``metadata_only``)."""
        return {
            status: n
            for status, n in self.attachments.items()
            if n and status not in ("archived", "metadata_only")
        }


def _plugin_lines(output: str, plugin: str) -> list[tuple[str, str]]:
    """(level, message) of every line Meltano logged for ``plugin``."""
    out = []
    for line in output.splitlines():
        m = _MELTANO_LINE.match(line.strip())
        if m and m.group("plugin") == plugin:
            out.append((m.group("level").lower(), m.group("msg").strip()))
    return out


def parse_summary(output: str) -> RunSummary | None:
    """Return the LAST ``Run summary (json): {...}`` of the run's output, or None."""
    for line in reversed(output.splitlines()):
        at = line.find(SUMMARY_MARKER)
        if at < 0:
            continue
        try:
            data = json.JSONDecoder().raw_decode(line[at + len(SUMMARY_MARKER) :].strip())[0]
        except ValueError:
            continue
        if isinstance(data, dict):
            return RunSummary(
                records={str(k): int(v) for k, v in (data.get("records") or {}).items()},
                log_files=data.get("log_files"),
                attachments={str(k): int(v) for k, v in (data.get("attachments") or {}).items()},
                bookmarks=dict(data.get("bookmarks") or {}),
                failures=[str(f) for f in data.get("failures") or []],
                exit_code=data.get("exit_code"),
                source="summary",
            )
    return None


def tap_message(output: str, extractor: str) -> str | None:
    """Return the tap's last line (its reason when it failed), without Meltano's prefix.

    The last error line wins; without one, the last line the tap logged.
    """
    lines = [
        (level, msg)
        for level, msg in _plugin_lines(output, extractor)
        if msg and not msg.startswith(_NOISE) and SUMMARY_MARKER not in msg
    ]
    errors = [msg for level, msg in lines if level in ("error", "critical")]
    if errors:
        return errors[-1]
    return lines[-1][1] if lines else None


#: Meltano's error lines that say nothing of why (``Block run completed``).
_MELTANO_NOISE = ("Block run completed", "Run completed")


def meltano_error(output: str) -> str | None:
    """Return Meltano's own last error line that says why, for a run whose tap said nothing.

    ``Loader failed``, or ``Another '…' pipeline is already running …`` (a retry while the
    ``meltano run`` of a killed step still runs).
    """
    errors = [
        msg
        for level, msg in _plugin_lines(output, "meltano")
        if level in ("error", "critical") and msg and msg not in _MELTANO_NOISE
    ]
    return errors[-1] if errors else None


#: A Python exception's last line (``ValueError: the bucket … does not exist``,
#: ``sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection … refused``).
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Failure|Exit)\b[^:\s]*:\s*\S")
_LOADER_FAILED = ("Loader failed", "Extractor and loader failed")


_OVERLAP = re.compile(
    r"^Another '[^']*' pipeline is already running which started at "
    r"(\S+ [\d:]+)(?:\.\d+)?([+-][\d:]+)?"
)


def overlap_error(output: str, extractor: str, loader: str) -> str | None:
    """Return why Meltano refused the run (another run of the pipeline going on), or None.

    Meltano's own line advises ``--force``: two runs of one tenant would then race on its
    state. The run was not started: nothing archived, the other run's state stands.
    """
    for level, msg in _plugin_lines(output, "meltano"):
        match = _OVERLAP.match(msg) if level in ("error", "critical") else None
        if match:
            return (
                f"another run of {extractor} {loader} is in progress (started at "
                f"{match.group(1)}{match.group(2) or ''}: a run by hand, or the meltano run "
                "of a killed step): "
                "this one did not start and archived nothing; the other run's state stands "
                "and the next run resumes from its state. Never force two runs of one tenant "
                "at once (they race on its state)"
            )
    return None


def loader_error(output: str, loader: str) -> str | None:
    """Return ``<loader> failed: <its reason>`` when the loader failed, or None.

    A loader's traceback reaches Meltano's log as info lines of the loader: its reason is the
    last exception line, else (Meltano saying ``Loader failed``) its last line. A loader that
    stops early can also crash Meltano itself (``BrokenPipeError``, no ``Loader failed``). The
    tap's own last line (its run summary) says nothing of why a loader stopped (S3 bucket
    missing, PostgreSQL down).
    """
    said = any(msg in _LOADER_FAILED for _, msg in _plugin_lines(output, "meltano"))
    lines = [msg for _, msg in _plugin_lines(output, loader) if msg]
    reason = next((m for m in reversed(lines) if _EXCEPTION_LINE.match(m)), None)
    if reason is None and not said:
        return None
    reason = reason or (lines[-1] if lines else "see its log")
    return f"{loader} failed: {' '.join(reason.split())[:500]}"


def tap_lines(output: str, extractor: str, level: str | None = None) -> list[str]:
    """Return the tap's log messages, optionally only those of one level."""
    return [m for lv, m in _plugin_lines(output, extractor) if level is None or lv == level]


def refused_to_start(output: str, extractor: str) -> bool:
    """Whether the tap stopped on an error before syncing: an error line and no run summary.

    The tap writes its run summary whenever it gets as far as syncing, failed runs included
    (signals too); without one, its error is its configuration refused (``workspace_id … is
    not a UUID``) or its key not read (``AWS Secrets Manager secret … (api_key_secret_id) was
    not found``): no request reached the API, and the same configuration fails the same way
    until a person changes it. (A tap killed outright writes neither line.)
    """
    lines = _plugin_lines(output, extractor)
    return any(level in ("error", "critical") for level, _ in lines) and not any(
        SUMMARY_MARKER in msg for _, msg in lines
    )


#: A key secret that could not be read for a reason that may pass (AWS's unexpected error
#: codes: throttling, 5xx; the network): the tap refused to start, but a retry may succeed.
TRANSIENT_REFUSALS = ("(api_key_secret_id) cannot be read (", "and the network.")


def is_transient_refusal(message: str | None) -> bool:
    """Whether the tap's refusal to start may pass by itself (a retry is worth it)."""
    return bool(message) and any(marker in str(message) for marker in TRANSIENT_REFUSALS)


def is_credential_problem(message: str | None) -> bool:
    """Whether the tap's message says the key is revoked, wrong or lacks a scope."""
    return bool(message) and any(marker in str(message) for marker in CREDENTIAL_MARKERS)


def bookmarks_from_state(state: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """{event_type: {end_time, lag_seconds}} from a Meltano state (``meltano state get``)."""
    now = now or datetime.now(timezone.utc)
    singer = state.get("singer_state", state.get("completed", {}).get("singer_state", state))
    partitions = (singer.get("bookmarks") or {}).get("log_files", {}).get("partitions") or []
    out: dict[str, Any] = {}
    for part in partitions:
        event_type = (part.get("context") or {}).get("event_type")
        end_time = part.get("replication_key_value")
        if not event_type or not end_time:
            continue
        when = parse_time(end_time)
        out[event_type] = {
            "end_time": end_time,
            "lag_seconds": round((now - when).total_seconds()) if when else None,
        }
    return out


def parse_time(value: str) -> datetime | None:
    """Parse an ISO 8601 time as an aware datetime, or None."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
