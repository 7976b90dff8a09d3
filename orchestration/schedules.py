"""The fleet's schedules: the hourly archive run and the freshness checks every 15 minutes."""

from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from .jobs import ARCHIVE_JOB
from .settings import FleetSettings

#: Runs still going: the statuses Dagster itself counts as in progress (its public enum; a
#: canary test compares them with Dagster's own list).
IN_PROGRESS_STATUSES = [
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
    DagsterRunStatus.SUSPENDED,
]


def build_hourly_schedule(job: Any, settings: FleetSettings) -> ScheduleDefinition:
    """Hourly run of the fleet, skipped while the previous one still runs.

    Two runs of one tenant at once would race on its Meltano state; the next tick catches up
    (each run resumes from its bookmarks).
    """

    @schedule(
        name="archive_fleet_hourly",
        job=job,
        cron_schedule=settings.schedule,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def _hourly(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        busy = context.instance.get_run_records(
            filters=RunsFilter(job_name=ARCHIVE_JOB, statuses=IN_PROGRESS_STATUSES), limit=1
        )
        if busy:
            run_id = busy[0].dagster_run.run_id
            return SkipReason(f"{ARCHIVE_JOB} run {run_id} is still in progress")
        return RunRequest()

    return _hourly


def build_freshness_schedule(job: Any, settings: FleetSettings) -> ScheduleDefinition:
    """Run the freshness checks on ``FLEET_FRESHNESS_SCHEDULE`` (every 15 minutes)."""
    return ScheduleDefinition(
        name="fleet_freshness_checks",
        job=job,
        cron_schedule=settings.freshness_schedule,
        default_status=DefaultScheduleStatus.RUNNING,
    )
