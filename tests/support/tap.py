"""Run the tap as a real process against the simulator and collect its Singer output.

The one tap launcher of the tests: :func:`tap_config` (a config for a simulator),
:func:`tap_command` and :func:`tap_env` (also used by ``tests/chaos/tapproc.py``, which kills
runs at chosen points, and by ``benchmarks/run.py``), :func:`run_tap` (a run to completion),
:func:`logged_seconds` (how long a run took by its own log lines, start-up excluded).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chatgpt_compliance_simulator import Simulator

from .clockskew import skewed_env
from .singer import parse_singer

SIMULATORS: dict[str, Simulator] = {}
"""api_url → the simulator behind it (tap_config registers it; run_tap syncs the clock)."""
SYNC_BEYOND_SECONDS = 60.0


def simulated_rate(sim: Simulator) -> float:
    """Return the simulator's rate limit per route in requests per real minute.

    The simulator scales its rate windows by ``speed`` (100/min at speed 60 is 6,000 per real
    minute); without rate limits, anything goes.
    """
    if not sim.config.rate_limits:
        return 1_000_000.0
    return 100.0 * sim.config.speed


def tap_config(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    """Return a config that reads everything the simulator holds, paced at its rate."""
    start = sim.now() - timedelta(days=29)
    config = {
        "api_key": sim.api_key,
        "workspace_id": sim.workspace_id,
        "api_url": sim.base_url,
        "start_date": start.isoformat(),
        "max_retry_wait": 5,
        "max_requests_per_minute": simulated_rate(sim),
    }
    config.update(overrides)
    follow(sim)
    return config


def follow(sim: Simulator) -> Simulator:
    """Let taps aimed at ``sim`` run with their clock following it when it is moved past the
    wall clock (:func:`synced_offset`); return ``sim``."""
    SIMULATORS[sim.base_url] = sim
    return sim


def synced_offset(config: dict[str, Any]) -> float:
    """Return how far the tap's clock must move to match a simulator ahead of this machine.

    A test that advances the simulated clock past the wall clock models a machine whose clock
    follows the API's (NTP): the tap process then runs with its clock moved as far (the tap
    refuses an API Date far ahead of its own clock). A simulator behind the wall clock needs
    nothing: the tap follows the API's Date.
    """
    sim = SIMULATORS.get(str(config.get("api_url")))
    if sim is None:
        return 0.0
    ahead = (sim.now() - datetime.now(timezone.utc)).total_seconds()
    return ahead if ahead > SYNC_BEYOND_SECONDS else 0.0


@dataclass
class TapRun:
    """The Singer messages and logs of one tap process."""

    returncode: int
    stdout: str
    stderr: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    states: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any] | None:
        """Return the last STATE emitted."""
        return self.states[-1] if self.states else None

    def ids(self, stream: str, key: str = "id") -> set[str]:
        """Return the distinct keys of a stream."""
        return {record[key] for record in self.records[stream]}


def assert_one_readable_line(run: TapRun, *fragments: str) -> str:
    """Exit 1, the last stderr line is the error and holds every fragment, no traceback, and
    no SDK "An unhandled error occurred while syncing" line before it (DEBUG: sdk.py)."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.splitlines()[-1]
    assert "ERROR" in last, last
    assert "An unhandled error occurred" not in run.stderr, run.stderr[-3000:]
    for fragment in fragments:
        assert fragment in last, last
    return last


TAP = (sys.executable, "-m", "tap_chatgpt_compliance")
"""The tap's command line (this interpreter, the installed package): every test launches this."""


def tap_command(config: dict[str, Any], state: dict[str, Any] | None, workdir: Path) -> list[str]:
    """Write config and state files and return the command line."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    command = [*TAP, "--config", str(config_path)]
    if state is not None:
        state_path = workdir / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    return command


def tap_env() -> dict[str, str]:
    """Return an environment without TAP_ settings that could leak into the run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_CHATGPT_COMPLIANCE")}


def synced_env(config: dict[str, Any], folder: Path) -> dict[str, str]:
    """Return tap_env() with the clock following the simulator (:func:`synced_offset`)."""
    return skewed_env(tap_env(), synced_offset(config), folder / "site")


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    timeout: float = 300,
    clock_offset: float | None = None,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run ``python -m tap_chatgpt_compliance`` to completion.

    ``clock_offset``: seconds the tap process's clock is off (clockskew.py); by default the
    clock follows a simulator that was advanced past the wall clock (:func:`synced_offset`).
    ``env``: extra environment variables.
    """
    offset = synced_offset(config) if clock_offset is None else clock_offset
    with tempfile.TemporaryDirectory() as tmp:
        environment = skewed_env({**tap_env(), **(env or {})}, offset, Path(tmp) / "site")
        result = subprocess.run(
            tap_command(config, state, Path(tmp)),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=environment,
        )
    # Every run of the suite doubles as a check that the secret never reaches the output.
    assert config["api_key"] not in result.stdout + result.stderr, "the API key leaked"
    # A signed URL's query is a credential too: it is never logged (records may hold one).
    assert "X-Amz-Signature=" not in result.stderr, "a signed URL's signature was logged"
    records, states = parse_singer(result.stdout)
    return TapRun(result.returncode, result.stdout, result.stderr, records, states)


def logged_seconds(stderr: str) -> float:
    """Return the seconds from the run's first log line to its last (its own time: the start
    of Python and the imports before it, slow on a busy machine, are not counted)."""
    times = [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        for line in stderr.splitlines()
        if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", line)
    ]
    assert times, f"no timed log line: {stderr[-3000:]}"
    return (times[-1] - times[0]).total_seconds()
