"""Fleet settings, all from the environment (so every step process and deployment agrees)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    return [x.strip() for x in raw.split(",") if x.strip()] if raw else list(default)


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "").strip().lower() or allowed[0]
    if raw not in allowed:
        raise ValueError(f"{name}={raw!r} is not one of {', '.join(allowed)}")
    return raw


@dataclass(frozen=True)
class FleetSettings:
    """What the code location reads from ``FLEET_*`` variables (defaults in brackets)."""

    destinations: list[str] = field(default_factory=lambda: ["target-s3"])
    max_concurrent: int = 4
    pool: str = "chatgpt_compliance_meltano"
    retries: int = 3
    retry_delay: float = 60.0
    freshness_hours: float = 2.0
    retention_warn_days: float = 25.0
    retention_fail_days: float = 30.0
    api_lag_fail_hours: float = 6.0
    """The newest archived log file more than this behind the API's newest fails (issue 17)."""
    run_timeout: float = 3600.0
    schedule: str = "0 * * * *"
    freshness_schedule: str = "*/15 * * * *"
    alert_webhook: str | None = None
    alert_command: str | None = None
    log_dir: str | None = None
    start_method: str = "forkserver"
    """How tenant steps start: ``forkserver`` (forks of a preloaded server) or ``spawn``."""
    meltano_fork: bool = True
    """Run each ``meltano`` command as a fork of its step (its CLI already imported)."""

    @classmethod
    def from_env(cls) -> FleetSettings:
        """Read ``FLEET_*`` (see docs/fleet.md)."""
        return cls(
            destinations=_list("FLEET_DESTINATIONS", ["target-s3"]),
            max_concurrent=max(1, int(_float("FLEET_MAX_CONCURRENT", 4))),
            pool=os.environ.get("FLEET_POOL") or "chatgpt_compliance_meltano",
            retries=max(0, int(_float("FLEET_RETRIES", 3))),
            retry_delay=_float("FLEET_RETRY_DELAY", 60.0),
            freshness_hours=_float("FLEET_FRESHNESS_HOURS", 2.0),
            retention_warn_days=_float("FLEET_RETENTION_WARN_DAYS", 25.0),
            retention_fail_days=_float("FLEET_RETENTION_FAIL_DAYS", 30.0),
            api_lag_fail_hours=_float("FLEET_API_LAG_FAIL_HOURS", 6.0),
            run_timeout=_float("FLEET_RUN_TIMEOUT", 3600.0),
            schedule=os.environ.get("FLEET_SCHEDULE") or "0 * * * *",
            freshness_schedule=os.environ.get("FLEET_FRESHNESS_SCHEDULE") or "*/15 * * * *",
            alert_webhook=os.environ.get("FLEET_ALERT_WEBHOOK") or None,
            alert_command=os.environ.get("FLEET_ALERT_COMMAND") or None,
            log_dir=os.environ.get("FLEET_LOG_DIR") or None,
            start_method=_choice("FLEET_START_METHOD", ("forkserver", "spawn")),
            meltano_fork=_choice("FLEET_MELTANO_FORK", ("1", "0")) == "1",
        )
