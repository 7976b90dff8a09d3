"""Ground truth of what a workspace holds (issue 21): every item and version up to a time.

Items are the JSON the API serves (``file_format=id`` for configurations), so a test can compare
an archived raw item with ``==``. See docs/simulator.md, "Inventory ground truth".
"""

from __future__ import annotations

from typing import Any

from .clock import iso_us
from .generator import Workspace
from .inventory import Versioned
from .model import GPT_FILE, PROJECT_FILE, Container
from .rest_api import RestApi
from .state import SimState


def _configs(rest: RestApi, cs: list[Container], t: int) -> dict[str, list[dict[str, Any]]]:
    return {
        c.id: [rest._config_json(c, x, "id") for x in c.configs if x.created_us <= t]
        for c in cs
        if c.created_us <= t
    }


def _versioned(objs: list[Versioned], t: int) -> dict[str, dict[str, Any]]:
    return {
        o.id: {"user_id": o.user_id, "versions": o.versions_at(t)}
        for o in sorted(objs, key=lambda o: (o.created_us, o.id))
        if o.created_us <= t
    }


def inventory_truth(state: SimState, ws: Workspace, t: int) -> dict[str, Any]:
    """Return every item and version of ``ws`` that existed at or before ``t`` (µs)."""
    inv, world = ws.inventory, ws.world
    rest = RestApi(state)
    files: dict[str, dict[str, dict[str, Any]]] = {GPT_FILE: {}, PROJECT_FILE: {}}
    for kind in files:
        for a in world.attachments_of(kind):
            if a.uploaded_us <= t:
                files[kind][a.id] = {
                    "sha256": a.sha256,
                    "size": a.size,
                    "name": a.name,
                    "mime_type": a.mime_type,
                    "expired": inv.knowledge_file_expired(a.id),
                }
    memory_entries = {}
    for uid, entries in inv.memories.items():
        for e in entries:
            versions = [v for v in e.versions if v.from_us <= t]
            if not versions:
                continue
            memory_entries[e.id] = {
                "user_id": uid,
                "context_id": e.context_id,
                "versions": [
                    {
                        "content": v.content,
                        "updated_at": v.updated_us / 1e6,
                        "valid_from": v.from_us / 1e6,
                        "valid_until": (
                            v.until_us / 1e6 if v.until_us is not None and v.until_us <= t else None
                        ),
                    }
                    for v in versions
                ],
                "deleted_at": (
                    e.deleted_us / 1e6 if e.deleted_us is not None and e.deleted_us <= t else None
                ),
            }
    memories = {}
    for uid in sorted(inv.memories):
        m = inv.memory_json(uid, t)
        if m is not None:
            memories[uid] = m
    canvases = {
        c.id: {
            "user_id": c.user_id,
            "created_at": c.created_us / 1e6,
            "textdoc_type": c.textdoc_type,
            "versions": [v.to_json() for v in c.versions_at(t)],
        }
        for cs in inv.canvases.values()
        for c in sorted(cs, key=lambda c: (c.created_us, c.id))
        if c.created_us <= t
    }
    recordings = {
        r.id: {
            "user_id": r.user_id,
            "item": r.item,
            "transcript": r.transcript,
            "summary": r.summary,
        }
        for rs in inv.recordings.values()
        for r in sorted(rs, key=lambda r: (r.created_us, r.id))
        if r.created_us <= t
    }
    automations: dict[str, dict[str, Any]] = {}
    for objs in inv.automations.values():
        automations.update(_versioned(objs, t))
    library: dict[str, dict[str, Any]] = {}
    for objs in inv.library.values():
        for fid, entry in _versioned(objs, t).items():
            a = inv.library_files[fid]
            entry.update(
                sha256=a.sha256,
                size=a.size,
                mime_type=a.mime_type,
                downloadable=entry["versions"][-1]["trashed_at"] is None,
            )
            library[fid] = entry
    tasks = _versioned(inv.codex_tasks, t)
    for entry in tasks.values():
        entry["created_by_id"] = entry.pop("user_id")
        entry["item"] = inv.task_item(entry["versions"][-1])
    return {
        "workspace_id": ws.id,
        "as_of": iso_us(t),
        "gpt_configs": _configs(rest, world.gpts, t),
        "project_configs": _configs(rest, world.projects, t),
        "gpt_shared_users": {c.id: list(c.shared_user_ids) for c in world.gpts},
        "project_shared_users": {c.id: list(c.shared_user_ids) for c in world.projects},
        "gpt_files": files[GPT_FILE],
        "project_files": files[PROJECT_FILE],
        "memories": memories,
        "memory_entries": memory_entries,
        "canvases": canvases,
        "automations": automations,
        "recordings": recordings,
        "codex_tasks": tasks,
        "library_files": library,
    }
