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


#: Runs not started yet: waiting in the QueuedRunCoordinator's queue, or being launched.
PENDING_STATUSES = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]


def build_hourly_schedule(job: Any, settings: FleetSettings) -> ScheduleDefinition:
    """Hourly run of the fleet, skipped while the previous one still runs or waits to.

    Two runs of one tenant at once would race on its Meltano state; the next tick catches up
    (each run resumes from its bookmarks). A run still queued counts: two queued fleet runs
    would start together once the queue moves.
    """

    @schedule(
        name="archive_fleet_hourly",
        job=job,
        cron_schedule=settings.schedule,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def _hourly(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        busy = context.instance.get_run_records(
            filters=RunsFilter(
                job_name=ARCHIVE_JOB, statuses=[*IN_PROGRESS_STATUSES, *PENDING_STATUSES]
            ),
            limit=1,
        )
        if busy:
            run = busy[0].dagster_run
            what = "queued" if run.status in PENDING_STATUSES else "in progress"
            return SkipReason(f"{ARCHIVE_JOB} run {run.run_id} is still {what}")
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
