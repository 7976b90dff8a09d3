"""Seeded fault schedules: generate one from a seed, describe it, run it, check the archive.

A schedule is a pure function of its seed (``random.Random(seed)``): the simulated workspace,
its quirk rates, the tap settings, and a few incremental runs, each with a clock advance before
it, 429/5xx bursts, connection resets and truncated bodies queued on chosen routes, random fault
rates, expired signed URLs, and maybe a SIGKILL (after N records or N stdout bytes). Issue 17
adds, from a generator of their own (so the older decisions of a seed are unchanged): listing
pages served without a required field, and a run whose API ``Date`` is skewed (far ahead: the
run must stop before anything moves; behind: the run must go on with nothing lost). A final
clean run (faults off, no kill) follows; then the union of all runs is checked against the
simulator's ground truth (see ``archive.py``).

The simulated clock starts at midnight UTC of the day before the run (whole days keep the log
windows, and so the files, identical from one day to the next; the clock never passes the wall
clock, which the tap uses for "now"). ``--start`` pins it for an exact replay.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chatgpt_compliance_simulator import Faults, Quirks, Simulator, SimulatorConfig
from chatgpt_compliance_simulator.knobs import Inventory
from tests.support.tap import follow

from .archive import RunView, Verdict, log_bodies, run_notes, state_size, verify_archive
from .tapproc import Kill, TapRun, run_tap
from .workspace import WORKSPACE_ROUTES, WORKSPACE_STREAMS, catalog, check_workspace

try:  # the simulator's odd-but-plausible shapes (issue #7), when present
    from chatgpt_compliance_simulator import Oddities
except ImportError:  # pragma: no cover - older simulator
    Oddities = None  # type: ignore[assignment,misc]

WS = "/v1/compliance/workspaces/{workspace_id}"
ROUTES = {
    "list": f"{WS}/logs",
    "log": f"{WS}/logs/{{log_file_id}}",
    "file": f"{WS}/users/{{user_id}}/files/{{file_id}}",
    "signed": "signed",
    "users": f"{WS}/users",
    "gpts": f"{WS}/gpts",
    "projects": f"{WS}/projects",
    **WORKSPACE_ROUTES,
}
BASE_EVENT_TYPES = ["CONVERSATION_MESSAGE", "AUDIT_LOG", "AUTH_LOG"]
STATE_LIMIT = 64 * 1024
RUN_TIMEOUT = 90.0


@dataclass
class Injection:
    """``sim.inject(route, …)`` before a run: the next ``count`` requests to the route fail."""

    route: str  # a key of ROUTES
    kind: str  # "429" | "500" | "502" | "503" | "reset" | "truncate" | "shape:<name>"
    count: int
    retry_after: int | None = None

    def apply(self, sim: Simulator) -> None:
        """Queue the fault in the simulator."""
        route = ROUTES[self.route]
        if self.kind.startswith("shape:"):
            sim.inject(route, shape=self.kind.split(":", 1)[1], count=self.count)
        elif self.kind == "reset":
            sim.inject(route, reset=True, count=self.count)
        elif self.kind == "truncate":
            sim.inject(route, truncate=True, count=self.count)
        else:
            sim.inject(route, status=int(self.kind), retry_after=self.retry_after, count=self.count)

    def describe(self) -> str:
        """Return e.g. ``3x 429 (Retry-After 1) on file``."""
        after = f" (Retry-After {self.retry_after})" if self.retry_after is not None else ""
        return f"{self.count}x {self.kind}{after} on {self.route}"


@dataclass
class Step:
    """One incremental run and what happens before and during it."""

    advance_minutes: int = 0
    injections: list[Injection] = field(default_factory=list)
    expire_signed_urls: int = 0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    truncate_rate: float = 0.0
    kill: Kill | None = None
    date_skew_seconds: float = 0.0
    """The API's Date is this far off during the run (issue 17; > max_clock_skew: refused)."""

    def describe(self) -> str:
        """One line: what this run meets."""
        parts = []
        if self.advance_minutes:
            parts.append(f"advance {self.advance_minutes} min")
        parts += [i.describe() for i in self.injections]
        if self.expire_signed_urls:
            parts.append(f"next {self.expire_signed_urls} signed URLs expired")
        rates = [
            f"{name}={getattr(self, name):.3f}"
            for name in ("error_rate", "reset_rate", "truncate_rate")
            if getattr(self, name)
        ]
        if rates:
            parts.append("faults " + " ".join(rates))
        if self.date_skew_seconds:
            parts.append(f"Date skewed {self.date_skew_seconds:+.0f} s")
        if self.kill is not None:
            parts.append(self.kill.describe())
        return "; ".join(parts) or "clean"


@dataclass
class Schedule:
    """Everything one seed decides."""

    seed: int
    sim: dict[str, Any]
    quirks: dict[str, Any]
    oddities: dict[str, Any]
    expired_signed_url_rate: float
    tie_rate: float
    file_content: str
    max_inline_file_bytes: int | None
    event_types: list[str]
    max_retries: int
    max_retry_wait: float
    steps: list[Step]
    error_burst: int = 3
    """Length of the 5xx bursts that ``error_rate`` starts."""
    workspace: bool = False
    """Issue 21: the workspace-object streams are selected too (refreshed on every run)."""

    def describe(self) -> str:
        """A human-readable account of the schedule, one fact per line."""
        sim = ", ".join(f"{k}={v}" for k, v in self.sim.items())
        quirks = ", ".join(f"{k}={v}" for k, v in self.quirks.items()) or "defaults"
        lines = [
            f"schedule seed={self.seed}",
            f"  workspace: {sim}",
            f"  quirks: {quirks}",
            f"  tap: file_content={self.file_content}"
            + (
                f" max_inline_file_bytes={self.max_inline_file_bytes}"
                if self.max_inline_file_bytes
                else ""
            )
            + f" event_types={','.join(self.event_types)} max_retries={self.max_retries}"
            f" max_retry_wait={self.max_retry_wait}",
            f"  5xx bursts started by error_rate: {self.error_burst} answers",
        ]
        if self.expired_signed_url_rate:
            lines.append(f"  expired_signed_url_rate={self.expired_signed_url_rate}")
        if self.tie_rate:
            lines.append(f"  files sharing an end_time: rate {self.tie_rate}")
        if self.oddities:
            lines.append("  oddities: " + ", ".join(f"{k}={v}" for k, v in self.oddities.items()))
        if self.workspace:
            lines.append(
                "  workspace-object streams selected (directory_refresh_hours 0): "
                + ", ".join(sorted(selected_streams(self)))
            )
        for index, step in enumerate(self.steps, 1):
            lines.append(f"  run {index}: {step.describe()}")
        lines.append(f"  run {len(self.steps) + 1}: final clean run (faults off, no kill)")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Serialise (for logs; replay uses the seed)."""
        return json.dumps(asdict(self), default=str)


# ---------------------------------------------------------------------------------- generation
def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def generate(seed: int, *, oddities: bool = False, max_steps: int = 4) -> Schedule:
    """Build the schedule of ``seed`` (the same seed always gives the same schedule)."""
    rng = random.Random(f"chaos-schedule:{seed}")
    sim = {
        "seed": rng.randrange(1, 1 << 30),
        "users": rng.randint(2, 4),
        "conversations": rng.randint(4, 12),
        "messages_per_conversation": (2, rng.randint(3, 6)),
        "attachment_rate": round(rng.uniform(0.15, 0.5), 2),
        "attachment_size": (200, rng.choice([20_000, 200_000, 1_500_000])),
        "span_days": round(rng.uniform(0.5, 1.5), 2),
        "log_window_minutes": rng.choice([5, 10, 15]),
        "max_log_file_bytes": rng.choice([15 * 1024 * 1024, 15 * 1024 * 1024, 12_000]),
    }
    quirks: dict[str, Any] = {
        "duplicate_rate": round(rng.uniform(0.03, 0.3), 2),
        "late_rate": round(rng.uniform(0.03, 0.3), 2),
        "empty_page_rate": round(rng.uniform(0.0, 0.4), 2),
    }
    if rng.random() < 0.2:
        quirks["boundary_rereturn"] = False
    tie_rate = rng.choice([0.0, 0.2, 0.5])
    file_content = rng.choice(["storage", "storage", "inline"])
    max_inline = rng.choice([None, 16_384]) if file_content == "inline" else None
    event_types = list(BASE_EVENT_TYPES)
    if rng.random() < 0.3:
        event_types.append("APP_LOG")
    max_retries = rng.randint(2, 5)
    error_burst = rng.randint(1, 3)
    max_retry_wait = round(rng.uniform(0.05, 0.5), 2)
    expired_rate = rng.choice([0.0, 0.0, 0.05, 0.15])
    steps = []
    for index in range(rng.randint(2, max_steps)):
        step = Step()
        if index and rng.random() < 0.85:
            step.advance_minutes = rng.choice([30, 60, 120, 240, 360])
        if index == 0 and rng.random() < 0.6:
            # the first run downloads the whole history's attachments: make some fail
            kind = rng.choice(["403", "403", "500", "503", "reset", "truncate", "429"])
            count = rng.randint(1, max_retries) if rng.random() < 0.75 else max_retries + 1
            step.injections.append(Injection("file", kind, count))
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            route = rng.choice(["list", "log", "log", "file", "file", "signed", "signed", "users"])
            kind = rng.choice(["429", "500", "502", "503", "reset", "truncate", "403"])
            if kind == "truncate" and route in ("list", "users"):
                kind = "503"
            if kind == "403" and route == "signed":  # an expired signed URL: no scope problem
                kind = "429"
            # mostly within the tap's retries; sometimes more, so that the run fails
            count = rng.randint(1, max_retries) if rng.random() < 0.75 else max_retries + 1
            retry_after = rng.choice([None, 0, 1]) if kind in ("429", "503") else None
            step.injections.append(Injection(route, kind, count, retry_after))
        if rng.random() < 0.3:
            step.expire_signed_urls = rng.randint(1, 4)
        if rng.random() < 0.4:
            step.error_rate = round(rng.uniform(0.0, 0.08), 3)
            step.reset_rate = round(rng.uniform(0.0, 0.05), 3)
            step.truncate_rate = round(rng.uniform(0.0, 0.05), 3)
        roll = rng.random()
        if roll < 0.45:
            step.kill = Kill("records", int(_log_uniform(rng, 1, 200)))
        elif roll < 0.6:
            step.kill = Kill("bytes", int(_log_uniform(rng, 2_000, 400_000)))
        steps.append(step)
    add_trust_faults(seed, steps)
    # the oddity schedules are about log lines: they leave the workspace streams out
    workspace = not oddities and add_workspace_faults(seed, steps, max_retries)
    odd: dict[str, Any] = {}
    if oddities:
        odd = generate_oddities(rng)
        if odd.get("extra_event_types"):
            event_types += list(odd["extra_event_types"])
    return Schedule(
        seed=seed,
        sim=sim,
        quirks=quirks,
        oddities=odd,
        expired_signed_url_rate=expired_rate,
        tie_rate=tie_rate,
        file_content=file_content,
        max_inline_file_bytes=max_inline,
        event_types=event_types,
        max_retries=max_retries,
        max_retry_wait=max_retry_wait,
        steps=steps,
        error_burst=error_burst,
        workspace=workspace,
    )


SHAPES = {
    "list": ("empty_object", "null_data", "no_has_more", "no_last_end_time", "data_not_list"),
    "users": ("null_data", "no_has_more", "no_last_id"),
}
DATE_SKEWS = (2 * 86_400.0, 3 * 3_600.0, -3 * 86_400.0, 120.0)
"""Far ahead (refused), hours ahead (refused), days behind (trusted), within the skew."""


def add_trust_faults(seed: int, steps: list[Step]) -> None:
    """Issue 17: broken listing shapes and skewed Dates, from a generator of their own."""
    rng = random.Random(f"chaos-schedule-trust:{seed}")
    for step in steps:
        if rng.random() < 0.2:
            route = rng.choice(["list", "list", "users"])
            shape = rng.choice(SHAPES[route])
            step.injections.append(Injection(route, f"shape:{shape}", rng.randint(1, 2)))
        if rng.random() < 0.15:
            step.date_skew_seconds = rng.choice(DATE_SKEWS)


#: Workspace routes that serve a listing page (a broken shape can be injected there).
WORKSPACE_LISTINGS = ("memories", "configs", "canvases", "automations", "codex", "library")
WORKSPACE_RATE = 0.35
"""Share of schedules that select the workspace-object streams too."""


def add_workspace_faults(seed: int, steps: list[Step], max_retries: int) -> bool:
    """Issue 21: maybe select the workspace-object streams, and queue 429/5xx, resets,
    truncated bodies, 403s and broken pages on their routes (a generator of its own: the
    older decisions of a seed are unchanged). Return whether they are selected."""
    rng = random.Random(f"chaos-schedule-workspace:{seed}")
    if rng.random() >= WORKSPACE_RATE:
        return False
    for step in steps:
        for _ in range(rng.choice([0, 1, 2, 2, 3])):
            route = rng.choice(sorted(WORKSPACE_ROUTES))
            kind = rng.choice(["429", "500", "502", "503", "reset", "truncate", "truncate"])
            if rng.random() < 0.08:
                kind = "403"
            elif route in WORKSPACE_LISTINGS and rng.random() < 0.12:
                kind = "shape:" + rng.choice(["null_data", "no_has_more", "empty_object"])
            count = rng.randint(1, max_retries) if rng.random() < 0.8 else max_retries + 1
            retry_after = rng.choice([None, 0, 1]) if kind in ("429", "503") else None
            step.injections.append(Injection(route, kind, count, retry_after))
    return True


def selected_streams(schedule: Schedule) -> set[str]:
    """The workspace streams a schedule selects (with the file parts for inline content)."""
    if not schedule.workspace:
        return set()
    extra = set(WORKSPACE_STREAMS)
    if schedule.file_content == "inline":
        extra |= {"gpt_files_parts", "project_files_parts"}
    return extra


def generate_oddities(rng: random.Random) -> dict[str, Any]:
    """Odd-but-plausible line shapes whose every line must end up somewhere, byte-exact."""
    odd: dict[str, Any] = {}
    if rng.random() < 0.6:
        odd["missing_event_id_rate"] = round(rng.uniform(0.02, 0.2), 2)
    if rng.random() < 0.6:
        odd["empty_message_id_rate"] = round(rng.uniform(0.02, 0.15), 2)
    if rng.random() < 0.6:
        odd["foreign_events_rate"] = round(rng.uniform(0.02, 0.15), 2)
    if rng.random() < 0.6:
        odd["invalid_utf8_lines"] = rng.randint(1, 3)
    if rng.random() < 0.6:
        odd["non_object_lines"] = rng.randint(1, 4)
    if rng.random() < 0.6:
        odd["event_id_clash_rate"] = round(rng.uniform(0.02, 0.15), 2)
    if rng.random() < 0.3:
        odd["extra_event_types"] = ("CHATGPT_PLUGIN_DOCUMENT", "CHATGPT_PLUGIN_PRESENTATION")
    # listings read defensively: the tap must still archive every file exactly once
    if rng.random() < 0.2:
        odd["listing_without_event_type"] = True
    if rng.random() < 0.2:
        odd["listing_without_end_time"] = True
    if rng.random() < 0.2:
        odd["future_end_time"] = True
    if not odd:
        odd["non_object_lines"] = 1
    return odd


# ---------------------------------------------------------------------------------- execution
def default_start() -> datetime:
    """Midnight UTC of yesterday: whole days, and never ahead of the wall clock."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def build_simulator(schedule: Schedule, start: datetime) -> Simulator:
    """Create (not start) the simulator the schedule describes."""
    quirks = Quirks(**schedule.quirks)
    faults = Faults(
        expired_signed_url_rate=schedule.expired_signed_url_rate, error_burst=schedule.error_burst
    )
    overrides: dict[str, Any] = dict(schedule.sim)
    overrides.update(quirks=quirks, faults=faults, rate_limits=False, start=start)
    if schedule.workspace:  # objects that change between the runs
        overrides["inventory"] = Inventory(
            config_versions_per_day=3.0,
            canvas_versions_per_day=2.0,
            codex_tasks_per_day=4.0,
            heavy_user_canvases=4,  # canvases longer than one page (30 versions)
            heavy_user_versions=40,
        )
    if schedule.oddities:
        if Oddities is None:
            msg = "this schedule needs the simulator's Oddities, which it does not have"
            raise RuntimeError(msg)
        overrides["oddities"] = Oddities(**schedule.oddities)
    return Simulator(SimulatorConfig(**overrides))


class EndTimeTies:
    """Make some consecutive new log files share one ``end_time`` (the tap must keep both).

    The simulator bumps ties by a second, so until it has a switch for this, the test lowers
    the ``end_time`` of some freshly cut files (never one a client could have listed yet) to
    their predecessor's, keeping the stream sorted by (end_time, id).
    """

    def __init__(self, sim: Simulator, rate: float, rng: random.Random) -> None:
        self.sim, self.rate, self.rng = sim, rate, rng
        self.known: dict[int, int] = {}
        self.tied = 0

    def apply(self) -> None:
        """Tie some of the files cut since the last call."""
        if not self.rate:
            return
        try:
            streams = [s for ws in self.sim._workspaces for s in ws.streams.values()]
            with self.sim._lock:
                for stream in streams:
                    self._tie(stream)
        except AttributeError:  # simulator internals changed: no ties, say so in the notes
            self.rate = 0.0

    def _tie(self, stream: Any) -> None:
        files = stream.files
        first_new = self.known.get(id(stream), 0)
        self.known[id(stream)] = len(files)
        new = files[first_new:]
        if len(new) < 2:
            return
        for i in range(1, len(new)):
            if self.rng.random() < self.rate and getattr(new[i], "end_us", None) is not None:
                new[i].end_us = new[i - 1].end_us
                self.tied += 1
        new.sort(key=lambda f: (f.end_us, f.id))
        files[first_new:] = new
        stream.ends[:] = [f.end_us for f in files]


class TapCannotStart(RuntimeError):
    """The tap fails at import (a working tree in the middle of an edit): no verdict possible."""


def cannot_start(run: TapRun) -> bool:
    """True when the tap died before doing anything, of an import or syntax error."""
    return (
        run.returncode not in (0, None)
        and not run.killed
        and run.record_count == 0
        and any(
            f"{name}:" in run.stderr
            for name in ("ImportError", "SyntaxError", "ModuleNotFoundError", "NameError")
        )
    )


@dataclass
class Outcome:
    """The result of one schedule."""

    schedule: Schedule
    start: datetime
    runs: list[TapRun]
    verdict: Verdict
    seconds: float
    ties: int = 0
    views: list[RunView] = field(default_factory=list)
    """Each run with the ground truth's view of attachments just before it."""
    truth: dict[str, Any] = field(default_factory=dict)
    """The ground truth after the final run."""
    bodies: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """The bytes of every listed log file of the configured types."""
    storage: Path | None = None
    """The storage folder (gone unless a workdir was given or ``keep``)."""

    @property
    def ok(self) -> bool:
        """True when the archive is complete and exact."""
        return self.verdict.ok

    def replay_command(self) -> str:
        """The one line that reruns this schedule exactly."""
        odd = " --oddities" if self.schedule.oddities else ""
        return (
            f"scripts/chaos.py --replay {self.schedule.seed}{odd} "
            f"--start {self.start.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )

    def report(self) -> str:
        """Everything a human needs: schedule, what each run did, what failed, how to replay."""
        lines = [self.schedule.describe(), "  outcomes:"]
        for run in self.runs:
            lines.append(
                f"    {run.label}: {run.outcome()}, {run.record_count} records, "
                f"{len(run.states)} states, {run.duration:.1f} s"
            )
        if self.ties:
            lines.append(f"  {self.ties} log files share their end_time with the previous one")
        for note in self.verdict.notes:
            lines.append(f"  note: {note}")
        for failure in self.verdict.failures:
            lines.append(f"  FAIL: {failure}")
        lines.append(f"  replay: {self.replay_command()}")
        return "\n".join(lines)


def _snapshot(sim: Simulator) -> tuple[set[str], set[str]]:
    attachments = sim.ground_truth()["attachments"]
    live = {fid for fid, a in attachments.items() if not a["expired"]}
    return live, set(attachments) - live


def _set_fault_rates(sim: Simulator, step: Step | None) -> None:
    faults = sim.config.faults
    if hasattr(faults, "date_offset_seconds"):
        faults.date_offset_seconds = step.date_skew_seconds if step else 0.0
    faults.error_rate = step.error_rate if step else 0.0
    faults.reset_rate = step.reset_rate if step else 0.0
    faults.truncate_rate = step.truncate_rate if step else 0.0


def _clear_faults(sim: Simulator) -> None:
    """Before the final clean run: no queued faults, no rates, no pre-expired signed URLs."""
    _set_fault_rates(sim, None)
    engine = getattr(sim, "_faults", None)
    if engine is not None and hasattr(engine, "clear"):
        engine.clear()
    signed = getattr(sim, "_signed", None)
    if signed is not None:
        signed.expired_rate = 0.0
        signed.expire_next = 0


def tap_config(
    schedule: Schedule, sim: Simulator, start: datetime, storage: Path
) -> dict[str, Any]:
    """The tap's settings for every run of the schedule."""
    span = float(schedule.sim.get("span_days", 1.0))
    config: dict[str, Any] = {
        "api_key": sim.api_key,
        "workspace_id": sim.workspace_id,
        "api_url": sim.base_url,
        "start_date": (start - timedelta(days=span + 1)).isoformat(),
        "event_types": schedule.event_types,
        "file_content": schedule.file_content,
        "max_retries": schedule.max_retries,
        "max_retry_wait": schedule.max_retry_wait,
        "request_timeout": 20,
    }
    if schedule.file_content == "storage":
        config["file_storage_url"] = str(storage)
    if schedule.max_inline_file_bytes:
        config["max_inline_file_bytes"] = schedule.max_inline_file_bytes
    if schedule.workspace:
        config["directory_refresh_hours"] = 0
        # one request per canvas and per user and route: unpaced (the simulator's rate limits
        # are off), or a refresh takes seconds of pacing
        config["max_requests_per_minute"] = 100_000
    return config


SET_ASIDE = "is later than the API's time"
"""A refresh time (or bookmark) the tap found ahead of the API's clock: set aside, loudly."""


def set_aside(schedule: Schedule, run: TapRun) -> bool:
    """Whether ``run`` failed only because it set aside times a run under a skewed Date wrote.

    A step whose API ``Date`` is hours ahead, with the simulator's time behind this machine's
    (so the tap trusts it), records the workspace objects' ``refreshed_at`` ahead of the true
    time; the next run finds it later than the API's time, reads everything again and fails in
    one line (streams/workspace.py), by design. The run after that must be clean.
    """
    if run.returncode != 1 or not any(step.date_skew_seconds > 0 for step in schedule.steps):
        return False
    for line in reversed(run.stderr.splitlines()):
        if "Run summary (json): " in line:
            failures = json.loads(line.split("Run summary (json): ", 1)[1]).get("failures") or []
            return bool(failures) and all(SET_ASIDE in str(failure) for failure in failures)
    return False


def run_schedule(
    schedule: Schedule,
    *,
    start: datetime | None = None,
    workdir: Path | None = None,
    keep: bool = False,
) -> Outcome:
    """Run every step of the schedule plus a final clean run, then verify the union."""
    started = time.monotonic()
    start = start or default_start()
    own_dir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{schedule.seed}-")) if own_dir else workdir
    storage = workdir / "storage"
    sim = build_simulator(schedule, start)
    ties = EndTimeTies(sim, schedule.tie_rate, random.Random(f"chaos-ties:{schedule.seed}"))
    ties.apply()
    follow(sim.start())
    views: list[RunView] = []
    runs: list[TapRun] = []
    state: dict[str, Any] | None = None
    verdict = Verdict()
    truth: dict[str, Any] = {}
    bodies: dict[str, tuple[str, bytes]] = {}
    sim_times: list[datetime] = []
    extra = selected_streams(schedule)
    chosen = catalog(extra) if extra else None
    try:
        config = tap_config(schedule, sim, start, storage)
        plan: list[Step | None] = [*schedule.steps, None]
        for index, step in enumerate(plan, 1):
            if step is not None and step.advance_minutes:
                sim.advance(timedelta(minutes=step.advance_minutes))
                ties.apply()
            if step is None:
                _clear_faults(sim)
            else:
                _set_fault_rates(sim, step)
                for injection in step.injections:
                    injection.apply(sim)
                if step.expire_signed_urls:
                    sim.expire_signed_urls_for(step.expire_signed_urls)
            live, expired = _snapshot(sim)
            label = f"run {index}" if step is not None else f"run {index} (final)"
            sim_times.append(sim.now())
            run = run_tap(
                config,
                state,
                workdir / f"run-{index}",
                label=label,
                kill=step.kill if step is not None else None,
                timeout=RUN_TIMEOUT,
                catalog=chosen,
            )
            runs.append(run)
            views.append(RunView(run, live, expired))
            if run.state is not None:  # Meltano keeps the last complete STATE line
                state = run.state
            if run.timed_out:
                verdict.fail(f"{label} did not finish within {RUN_TIMEOUT:.0f} s (hung)")
                break
            if cannot_start(run):
                raise TapCannotStart(run.stderr_tail(6))
            if step is None and len(plan) == len(schedule.steps) + 1 and set_aside(schedule, run):
                plan.append(None)  # loud once, as designed; the run after it must be clean
                verdict.notes.append(f"{label}: {SET_ASIDE} (set aside after a skewed Date)")
        _clear_faults(sim)
        final = runs[-1]
        if final.returncode != 0:
            verdict.fail(f"the final clean run exited {final.outcome()}: {final.stderr_tail(4)!r}")
        elif state_size(state) > STATE_LIMIT:
            verdict.fail(f"the state grew to {state_size(state)} bytes")
        truth = sim.ground_truth()
        bodies = log_bodies(sim, truth, schedule.event_types)
        forbidden = any(
            i.route == "file" and i.kind == "403"
            for step in schedule.steps
            for i in step.injections
        )
        checked = verify_archive(
            truth,
            views,
            event_types=schedule.event_types,
            storage_dir=storage,
            bodies=bodies,
            interim_statuses={"forbidden"} if forbidden else set(),
            relinked=any(SET_ASIDE in run.stderr for run in runs),  # a refresh time set aside
        )
        verdict.failures += checked.failures
        verdict.notes += checked.notes + run_notes(runs)
        verdict.stats = checked.stats
        if sim.non_get_count:
            verdict.fail(f"the tap sent {sim.non_get_count} requests other than GET")
        if extra and final.returncode == 0:
            skews = [bool(step.date_skew_seconds > 0) for step in schedule.steps]
            skews += [False] * (len(plan) - len(skews))  # the final run(s): no skew
            check_workspace(sim, runs, sim_times, verdict, extra, skews[: len(runs)])
    finally:
        sim.stop()
        if own_dir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return Outcome(
        schedule,
        start,
        runs,
        verdict,
        time.monotonic() - started,
        ties.tied,
        views,
        truth,
        bodies,
        storage,
    )


def schedule_fields() -> list[str]:
    """Names of the schedule's fields (for tools)."""
    return [f.name for f in fields(Schedule)]
