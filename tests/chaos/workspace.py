"""The workspace-object streams (issue 21) under kills and faults: catalog and reconciliation.

:func:`check_workspace` checks the union of every run's records against the simulator's
inventory ground truth (``sim.inventory_truth``), two ways:

- **no watermark past unwritten rows**: whenever a run's last complete STATE records a
  refresh of a stream (``refreshed_at`` = R), every item and version the run's listing saw
  (the truth at the run's simulated time, which stands still during a run) is in the records
  of that run or an earlier one, and R is not later than that time plus the tap's 10-minute
  overlap (the next run's watermark would skip items else);
- **nothing lost**: after the final clean run, every item and version of the truth is
  archived, byte for byte (``raw_item``): every GPT and project configuration, every version
  of every canvas, the current version of every memory entry, memory, automation, Codex
  task (and its detail), library file, every share and canvas, and each knowledge file
  of an archived configuration archived (its true SHA-256) or ``expired`` where the truth
  says so. Records sent twice must be identical (``archive._check_keys``).
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chatgpt_compliance_simulator import Simulator
from tap_chatgpt_compliance.workspace_rows import derive_row
from tests.support import tap as support_tap

from .archive import Verdict
from .tapproc import TapRun

WS = "/v1/compliance/workspaces/{workspace_id}"
#: The workspace-object streams a chaos run selects (transcripts and the *_parts left out:
#: a transcript can be 404 for a while by design, and parts go with file_content inline).
WORKSPACE_STREAMS = frozenset(
    {
        "gpt_configs",
        "project_configs",
        "gpt_shared_users",
        "project_shared_users",
        "gpt_files",
        "project_files",
        "memories",
        "memory_entries",
        "canvases",
        "canvas_versions",
        "automations",
        "recordings",
        "codex_tasks",
        "codex_task_details",
        "library_files",
    }
)
#: Their routes, for injected faults (keys used by schedules).
WORKSPACE_ROUTES = {
    "memories": f"{WS}/memories",
    "configs": f"{WS}/gpts/{{gpt_id}}/configs",
    "project_configs": f"{WS}/projects/{{project_id}}/configs",
    "shares": f"{WS}/gpts/{{gpt_id}}/shared_users",
    "canvases": f"{WS}/users/{{user_id}}/canvases",
    "canvas": f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}",
    "automations": f"{WS}/users/{{user_id}}/automations",
    "recordings": f"{WS}/users/{{user_id}}/recordings",
    "codex": f"{WS}/codex_tasks",
    "codex_task": f"{WS}/codex_tasks/{{task_id}}",
    "library": f"{WS}/users/{{user_id}}/library_files",
    "gpt_file": f"{WS}/gpt_files/{{file_id}}",
}
#: Streams whose records of one key may legitimately differ between runs (a file download
#: that failed, then succeeded): see ``_check_files``.
FILE_STREAMS = frozenset({"gpt_files", "project_files", "library_file_contents"})


@functools.cache
def _discovered() -> str:
    config = {"api_key": "sk-discovery", "workspace_id": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0"}
    with tempfile.TemporaryDirectory() as tmp:
        return subprocess.run(
            [*support_tap.tap_command(config, None, Path(tmp)), "--discover"],
            capture_output=True,
            text=True,
            check=True,
            env=support_tap.tap_env(),
            timeout=120,
        ).stdout


def catalog(extra: Iterable[str], *, defaults: bool = True) -> dict[str, Any]:
    """The discovered catalog with the streams selected by default (``defaults``) and ``extra``."""
    result: dict[str, Any] = json.loads(_discovered())
    wanted = set(extra)
    for stream in result["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                meta = entry["metadata"]
                by_default = bool(meta.get("selected-by-default", False)) and defaults
                meta["selected"] = stream["tap_stream_id"] in wanted or by_default
    return result


def _raw(record: dict[str, Any]) -> Any:
    return json.loads(record["raw_item"])


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def expected(truth: dict[str, Any]) -> dict[str, dict[Any, str]]:
    """stream -> {key: canonical raw item (or "" when only the key matters)} the truth demands."""
    out: dict[str, dict[Any, str]] = {}
    for kind in ("gpt", "project"):
        out[f"{kind}_configs"] = {
            (cid, config["id"]): _canon(config)
            for cid, configs in truth[f"{kind}_configs"].items()
            for config in configs
        }
        out[f"{kind}_shared_users"] = {
            (cid, uid): "" for cid, uids in truth[f"{kind}_shared_users"].items() for uid in uids
        }
    out["canvas_versions"] = {
        (cid, v["version"]): _canon(v)
        for cid, canvas in truth["canvases"].items()
        for v in canvas["versions"]
    }
    out["canvases"] = {(c["user_id"], cid): "" for cid, c in truth["canvases"].items()}
    out["memories"] = {uid: _canon(memory) for uid, memory in truth["memories"].items()}
    entries = {}
    for eid, entry in truth["memory_entries"].items():
        if entry["deleted_at"] is None:
            when = derive_row(
                "memory_entries", {"updated_at": entry["versions"][-1]["updated_at"]}, "w"
            )
            entries[(eid, when["updated_at"])] = ""
    out["memory_entries"] = entries
    out["automations"] = {oid: _canon(e["versions"][-1]) for oid, e in truth["automations"].items()}
    out["codex_tasks"] = {oid: _canon(e["item"]) for oid, e in truth["codex_tasks"].items()}
    out["codex_task_details"] = {
        oid: _canon(e["versions"][-1]) for oid, e in truth["codex_tasks"].items()
    }
    out["library_files"] = {
        fid: _canon(e["versions"][-1]) for fid, e in truth["library_files"].items()
    }
    out["recordings"] = {rid: _canon(e["item"]) for rid, e in truth["recordings"].items()}
    return out


#: How a record is found among the expected keys: its key, and whether its raw item must match.
_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "gpt_configs": lambda r: (r["gpt_id"], r["id"]),
    "project_configs": lambda r: (r["project_id"], r["id"]),
    "gpt_shared_users": lambda r: (r["gpt_id"], r["id"]),
    "project_shared_users": lambda r: (r["project_id"], r["id"]),
    "canvas_versions": lambda r: (r["textdoc_id"], r["version"]),
    "canvases": lambda r: (r["user_id"], r["id"]),
    "memories": lambda r: r["id"],
    "memory_entries": lambda r: (r["id"], r["updated_at"]),
    "automations": lambda r: r["id"],
    "codex_tasks": lambda r: r["id"],
    "codex_task_details": lambda r: r["id"],
    "library_files": lambda r: r["id"],
    "recordings": lambda r: r["id"],
}


class Archived:
    """What the runs so far archived: per stream, key -> the set of raw items seen."""

    def __init__(self) -> None:
        self.items: dict[str, dict[Any, set[str]]] = {s: {} for s in _KEYS}
        self.sent: dict[str, int] = dict.fromkeys(_KEYS, 0)

    def add(self, run: TapRun) -> None:
        """Take one run's records."""
        for stream, key in _KEYS.items():
            for record in run.records.get(stream, []):
                self.sent[stream] += 1
                self.items[stream].setdefault(key(record), set()).add(_canon(_raw(record)))

    def missing(self, want: dict[str, dict[Any, str]], streams: Iterable[str]) -> dict[str, list]:
        """stream -> keys of ``want`` not archived (or archived with another raw item)."""
        out: dict[str, list] = {}
        for stream in streams:
            got = self.items.get(stream, {})
            lost = [
                key
                for key, raw in want.get(stream, {}).items()
                if key not in got or (raw and raw not in got[key])
            ]
            if lost:
                out[stream] = lost
        return out


def _refreshes(state: dict[str, Any] | None) -> dict[str, str]:
    """stream -> refreshed_at recorded in a state (streams whose rows were written only)."""
    bookmarks = (state or {}).get("bookmarks", {})
    return {
        stream: entry["refreshed_at"]
        for stream, entry in bookmarks.items()
        if stream in _KEYS
        and isinstance(entry, dict)
        and entry.get("refreshed_at")
        and not entry.get("rows_not_emitted")
    }


#: The tap's overlap: a watermark is the recorded refresh time less this.
OVERLAP = timedelta(minutes=10)


def check_workspace(
    sim: Simulator,
    runs: list[TapRun],
    sim_times: list[datetime],
    verdict: Verdict,
    selected: Iterable[str] = WORKSPACE_STREAMS,
    skewed: list[bool] | None = None,
) -> None:
    """Reconcile every run (``sim_times``: the simulated time during each run) with the truth.

    ``skewed``: per run, whether the API's ``Date`` was made to lie (ahead of the data's own
    clock): a refresh time past the overlap is then a note, not a failure (the tap takes the
    API's Date as the API's clock; the loss check after the final run still applies).
    """
    streams = [s for s in _KEYS if s in set(selected)]
    archived = Archived()
    previous: dict[str, str] = {}
    lies = skewed or [False] * len(runs)
    for run, sim_now, lie in zip(runs, sim_times, lies, strict=True):
        archived.add(run)
        recorded = _refreshes(run.state)
        for stream, at in sorted(recorded.items()):
            if stream not in streams or previous.get(stream) == at:
                continue
            # The simulated clock stands still during a run: what the refresh listed is the
            # truth at sim_now (R is in the API's Date, which a schedule may skew).
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            if when - OVERLAP > sim_now:
                what = (
                    f"{run.label}: {stream} recorded a refresh at {at}, more than the overlap "
                    f"after the data's time {sim_now.isoformat()} (its watermark skips items)"
                )
                if lie:
                    verdict.notes.append(what + ", as the skewed API Date said")
                else:
                    verdict.fail(what)
            truth = sim.inventory_truth(as_of=sim_now)
            lost = archived.missing(expected(truth), [stream]).get(stream)
            if lost:
                verdict.fail(
                    f"{run.label}: {stream} recorded a refresh at {at} but these items of that "
                    "time were never written (the next watermark skips them)",
                    lost,
                )
        previous.update(recorded)
    final = sim.inventory_truth(as_of=sim_times[-1])
    for stream, lost in archived.missing(expected(final), streams).items():
        verdict.fail(f"{stream}: items of the ground truth not archived after the final run", lost)
    _check_files(final, runs, verdict, set(selected))
    for stream in streams:
        verdict.stats[f"ws_{stream}_keys"] = len(archived.items[stream])
        verdict.stats[f"ws_{stream}_sent"] = archived.sent[stream]
    if not any(archived.items[s] for s in streams):
        verdict.fail("no workspace object archived at all: the check would prove nothing")


def _check_files(
    truth: dict[str, Any], runs: list[TapRun], verdict: Verdict, selected: set[str]
) -> None:
    """Each knowledge file of an archived configuration ends archived (true SHA-256) or
    expired (only where the truth says so)."""
    for kind in ("gpt", "project"):
        stream = f"{kind}_files"
        if stream not in selected or f"{kind}_configs" not in selected:
            continue
        referenced = {
            fid
            for run in runs
            for record in run.records.get(f"{kind}_configs", [])
            for fid in record.get("file_ids") or []
        }
        final: dict[str, dict[str, Any]] = {}
        for run in runs:
            for record in run.records.get(stream, []):
                if final.get(record["id"], {}).get("status") != "archived":
                    final[record["id"]] = record
        wrong = []
        for fid in sorted(referenced):
            want = truth[stream].get(fid)
            got = final.get(fid)
            if want is None or got is None:
                wrong.append(f"{fid} (no record)" if got is None else f"{fid} (not in truth)")
            elif want["expired"]:
                if got["status"] != "expired":
                    wrong.append(f"{fid} ({got['status']}, truth: expired)")
            elif got["status"] != "archived" or got["sha256"] != want["sha256"]:
                wrong.append(f"{fid} ({got['status']} {got.get('sha256')})")
        if wrong:
            verdict.fail(f"{stream}: knowledge files not archived as the truth says", wrong)


def advance(sim: Simulator, minutes: int) -> None:
    """Move the simulated clock on (new versions, configurations, memories, tasks appear)."""
    sim.advance(timedelta(minutes=minutes))
