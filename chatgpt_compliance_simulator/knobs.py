"""Knobs of what a workspace holds beyond users, GPTs and projects (issue 21)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Inventory:
    """What the workspace holds beyond users, GPTs and projects (issue 21; reference §1A).

    Canvases, memories, automations, recordings, Codex tasks and library files (and, when
    ``config_versions_per_day`` > 0, new GPT/project configuration versions) are made by
    per-object processes that run from ``history_days`` before the start to the simulated now,
    each from its own random stream, so the users, GPTs and log files of a seed do not change
    and the state at a time does not depend on how the clock was stepped. Rates are means.
    """

    history_days: float = 14.0
    """The objects' initial history starts this long before the simulated start."""
    canvases_per_user_day: float = 0.15
    canvas_versions_per_day: float = 0.4
    """New versions per canvas per day (version 1 at creation)."""
    heavy_user_canvases: int = 0
    """Extra canvases of the first user (by id), created at the start of the history."""
    heavy_user_versions: int = 0
    """Versions of each of those extra canvases (spread over the history)."""
    memory_changes_per_user_day: float = 0.4
    """Memory entry additions, updates and deletions per user per day."""
    automations_per_user_day: float = 0.08
    automation_changes_per_day: float = 0.1
    """Updates (prompt, schedule, enabled) per automation per day."""
    recordings_per_user_day: float = 0.08
    codex_tasks_per_day: float = 1.0
    """New Codex tasks per workspace per day (each then updates 0-3 times)."""
    library_files_per_user_day: float = 0.2
    library_trash_rate: float = 0.2
    """Share of library files moved to the trash some time after creation (then 410)."""
    config_versions_per_day: float = 0.0
    """New configuration versions per GPT/project per day after the start (0: none, so the
    GPT and project endpoints serve exactly what they served before issue 21)."""
    expired_knowledge_file_rate: float = 0.0
    """Share of GPT/project knowledge files whose download answers 410."""

    @classmethod
    def names(cls) -> list[str]:
        """Names of all inventory knobs."""
        return [f.name for f in fields(cls)]
