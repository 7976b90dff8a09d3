"""The per-tenant checks as plain functions of a run's outcome (Dagster wraps them in checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .runner import RunOutcome
from .settings import FleetSettings
from .summary import is_credential_problem, parse_time

if TYPE_CHECKING:
    from collections.abc import Mapping

DAY = 86400.0


@dataclass
class Verdict:
    """A check result: passed, severity (``ERROR`` or ``WARN``) when not, text and metadata."""

    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _age_seconds(bookmark: dict[str, Any], now: datetime) -> float | None:
    when = parse_time(str(bookmark.get("end_time") or ""))
    if when is not None:
        return (now - when).total_seconds()
    lag = bookmark.get("lag_seconds")
    return float(lag) if isinstance(lag, (int, float)) else None


def retention(
    outcome: RunOutcome,
    settings: FleetSettings,
    now: datetime | None = None,
    previous: Mapping[str, str] | None = None,
) -> Verdict:
    """Bookmark older than ``retention_fail_days`` fails (possible gap), ``warn_days`` warns.

    The tap's own ``Possible gap`` failure (the bookmark before the run was past the 30-day
    retention, even if this run moved it) fails too. ``previous``: the bookmarks of the asset's
    last materialisation; a run that found none of them in Meltano's state warns (state lost).
    """
    now = now or datetime.now(timezone.utc)
    ages = {
        et: age
        for et, b in outcome.summary.bookmarks.items()
        if (age := _age_seconds(b, now)) is not None
    }
    gaps = [f for f in [*outcome.summary.failures, outcome.message or ""] if "Possible gap" in f]
    meta: dict[str, Any] = {f"bookmark_age_days/{et}": round(a / DAY, 2) for et, a in ages.items()}
    meta["source"] = outcome.summary.source
    oldest = max(ages.items(), key=lambda kv: kv[1], default=None)
    if gaps:
        return Verdict(False, "ERROR", gaps[-1], meta)
    silent = _silence(outcome, settings, meta)
    if silent:
        return Verdict(False, "ERROR", silent, meta)
    lost = _lost_state(outcome, previous or {})
    if lost:
        return Verdict(False, "WARN", lost, meta)
    if oldest:
        (name, age), fail = oldest, settings.retention_fail_days
        days = age / DAY
        if age > fail * DAY:
            text = f"past the {fail:g}-day retention: possible gap"
            return Verdict(False, "ERROR", f"{name} bookmark is {days:.1f} days old, {text}", meta)
        if age > settings.retention_warn_days * DAY:
            text = f"log files expire after {fail:g} days"
            return Verdict(False, "WARN", f"{name} bookmark is {days:.1f} days old: {text}", meta)
    if not ages:
        return Verdict(True, "WARN", "no bookmark yet (first run, or nothing archived)", meta)
    return Verdict(True, "WARN", f"oldest bookmark {max(ages.values()) / DAY:.2f} days old", meta)


def _silence(outcome: RunOutcome, settings: FleetSettings, meta: dict[str, Any]) -> str | None:
    """Say why the archive is not fresh although the run may have exited 0 (issue 17).

    The tap's summary tells, per event type, whether the listing was read (``nothing_new`` is
    the API having nothing after the bookmark) or not (``could_not_read``), and how far the
    bookmark is behind the API's newest (``behind_api_seconds``): facts of the tap's own
    bookmarks (``tap_bookmarks``), never of those read back from Meltano's state.
    """
    limit = getattr(settings, "api_lag_fail_hours", 6.0) * 3600
    summary = outcome.summary
    for event_type, bookmark in sorted((summary.tap_bookmarks or summary.bookmarks).items()):
        if not isinstance(bookmark, dict):
            continue
        behind = bookmark.get("behind_api_seconds")
        if isinstance(behind, (int, float)):
            meta[f"behind_api_hours/{event_type}"] = round(behind / 3600, 2)
        if bookmark.get("listing") == "could_not_read":
            return f"{event_type}: the last run could not read the API's listing"
        if isinstance(behind, (int, float)) and behind > limit:
            newest = bookmark.get("api_newest_end_time") or bookmark.get("api_max_event_time")
            return (
                f"{event_type}: the newest archived log file is {behind / 3600:.1f} h behind "
                f"the API's newest ({newest}; limit {limit / 3600:g} h): the API has data the "
                "archive does not"
            )
    return None


def _lost_state(outcome: RunOutcome, previous: Mapping[str, str]) -> str | None:
    """Say that Meltano's state had lost a bookmark an earlier run of the asset had reached.

    The tap then lists from ``start_date`` (its summary's ``started_from``): nothing is
    skipped, but every file since is read and loaded again, and a ``start_date`` later than the
    lost bookmark would leave a gap.
    """
    for event_type, bookmark in sorted(outcome.summary.tap_bookmarks.items()):
        if not isinstance(bookmark, dict) or bookmark.get("started_from") != "start_date":
            continue
        if previous.get(event_type):
            return (
                f"{event_type}: Meltano's state held no bookmark, although an earlier run "
                f"archived up to {previous[event_type]}: the state was lost or cleared. This "
                "run listed again from start_date (files archived before were read again, none "
                "skipped). Check the state backend (state_backend.uri, "
                "MELTANO_STATE_BACKEND_URI)."
            )
    return None


def attachments(outcome: RunOutcome) -> Verdict:
    """Attachments the last run could not archive warn (they expire ~24 h after upload)."""
    missing = outcome.summary.attachments_not_archived
    meta: dict[str, Any] = {f"attachments/{k}": v for k, v in outcome.summary.attachments.items()}
    if missing:
        text = ", ".join(f"{n} {status}" for status, n in sorted(missing.items()))
        return Verdict(False, "WARN", f"attachments not archived in the last run: {text}", meta)
    if outcome.summary.source != "summary":
        not_archived = [w for w in outcome.warnings if "not archived" in w.lower()]
        if not_archived:
            return Verdict(False, "WARN", not_archived[-1], meta)
    return Verdict(True, "WARN", "every attachment of the last run archived", meta)


def credentials(outcome: RunOutcome) -> Verdict:
    """Fail on a revoked or wrong key, or a missing scope, with the tap's one-line message.

    So does a tap that refused to start (its configuration, or its key's secret, could not be
    used): no request reached the API, so nothing says the key works.
    """
    meta = {"exit_code": outcome.exit_code}
    if not outcome.ok and (is_credential_problem(outcome.message) or outcome.refused):
        return Verdict(False, "ERROR", str(outcome.message or "the tap refused to start"), meta)
    scope_warnings = [w for w in outcome.warnings if is_credential_problem(w)]
    if scope_warnings:
        return Verdict(False, "ERROR", scope_warnings[-1], meta)
    if not outcome.ok:
        return Verdict(
            True, "ERROR", "no key or scope problem in the run (it failed otherwise)", meta
        )
    return Verdict(True, "ERROR", "the API accepted the key", meta)


def freshness(last_success: float | None, settings: FleetSettings, now: float) -> Verdict:
    """Fail when the last successful run is older than ``freshness_hours``."""
    limit = settings.freshness_hours * 3600
    if last_success is None:
        return Verdict(False, "ERROR", "never archived successfully", {})
    age = now - last_success
    meta = {
        "hours_since_last_success": round(age / 3600, 2),
        "limit_hours": settings.freshness_hours,
    }
    if age > limit:
        return Verdict(
            False,
            "ERROR",
            f"last successful archive {age / 3600:.1f} h ago "
            f"(limit {settings.freshness_hours:g} h)",
            meta,
        )
    return Verdict(True, "ERROR", f"last successful archive {age / 60:.0f} min ago", meta)
