"""What a workspace holds beyond users, GPTs and projects (issue 21; reference §1A, §2.4-2.7).

Canvases and their versions, memories, automations, recordings, Codex tasks, library files and
(knob ``config_versions_per_day``) new GPT/project configuration versions. Each object is driven
by a Poisson process with its own random stream, seeded by ``<seed>:ws:<n>:inventory:<object>``,
so the rest of the world (users, GPTs, log files) is unchanged by this module and the state at a
time ``T`` does not depend on how the clock was stepped. Nothing is ever forgotten: every
version keeps its time, so the oracle can tell what existed at any time up to now.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .clock import DAY_US, US, iso_us
from .config import SimulatorConfig
from .knobs import Inventory
from .model import FILE_KIND_WEIGHTS, FILE_KINDS, GPT_FILE, PROJECT_FILE, Attachment, Config
from .rand import ALNUM, LOWER_ALNUM, hash01, rand_token, rand_uuid
from .world import World

LIBRARY_FILE = "library"
"""Kind of a library file (``users/{uid}/library_files/{id}``)."""

_NOTES = [
    "Prefers concise answers with bullet points.",
    "Works in the finance team in Berlin.",
    "Is preparing the Q3 vendor review.",
    "Writes Python and SQL daily.",
    "Wants drafts in British English.",
    "Manages a team of six analysts.",
    "Is travelling to Tokyo in September.",
    "Uses metric units.",
    "Likes a short summary first, details after.",
    "Is learning Japanese — “日本語” — at weekends.",
]
_CANVAS_LINES = [
    "## Summary",
    "The pilot covers three teams and runs for six weeks.",
    "def total(rows):\n    return sum(r.amount for r in rows)",
    "- Risk: upstream vendor delay",
    "Next steps: agree the budget, then schedule the kickoff.",
    "| item | owner |\n|---|---|\n| budget | Ana |",
    "Ünïcödé stays intact: ✅ 📎 “quotes”.",
    "SELECT region, SUM(amount) FROM orders GROUP BY region;",
]
_CANVAS_TYPES = ["document", "document", "code/python", "code/sql", "document"]
_SCHEDULES = ["0 9 * * 1-5", "0 8 * * 1", "30 17 * * 5", "0 7 1 * *", "0 12 * * *"]
_TASK_STATUSES = ["queued", "running", "completed"]
_REPOS = ["acme/billing", "acme/web", "acme/data-pipeline", "acme/infra"]
_SPEAKERS = ["Speaker 1", "Speaker 2", "Speaker 3"]


def _gap(rng: random.Random, per_day: float) -> int:
    """Draw the time to the next event of a process with ``per_day`` events a day (µs, ≥ 1)."""
    return max(1, int(rng.expovariate(per_day) * DAY_US))


class Process:
    """A Poisson process: event times ``> start`` at ``per_day`` a day (at most ``limit``)."""

    def __init__(
        self, rng: random.Random, per_day: float, start_us: int, limit: int | None = None
    ) -> None:
        self.rng = rng
        self.per_day = per_day
        self.left = limit
        self.next_us = start_us + _gap(rng, per_day) if per_day > 0 else None

    def due(self, to_us: int) -> Iterator[int]:
        """Yield the event times ``<= to_us`` not yet yielded (draws in a fixed order)."""
        while self.next_us is not None and self.next_us <= to_us:
            if self.left is not None:
                if self.left <= 0:
                    self.next_us = None
                    return
                self.left -= 1
            t = self.next_us
            self.next_us = t + _gap(self.rng, self.per_day)
            yield t


def knowledge_file_expired(cfg: SimulatorConfig, file_id: str) -> bool:
    """Whether a GPT/project file has expired (``Inventory.expired_knowledge_file_rate``)."""
    rate = cfg.inventory.expired_knowledge_file_rate
    return rate > 0 and hash01(cfg.seed, "knowledge-expired", file_id) < rate


def _secs(us: int) -> float:
    return us / US


# ---------------------------------------------------------------------- objects
@dataclass
class CanvasVersion:
    """One version of a canvas (reference §2.6 ``VersionContent``)."""

    version: int
    created_us: int
    content: str
    name: str | None
    comments: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """Return the ``version_contents.data`` item (``updated_at`` is an ISO date-time)."""
        return {
            "content": self.content,
            "updated_at": iso_us(self.created_us),
            "version": self.version,
            "name": self.name,
            "comments": self.comments,
        }


@dataclass
class Canvas:
    """A canvas (textdoc) of a user, with every version it ever had."""

    id: str
    user_id: str
    created_us: int
    textdoc_type: str
    title: str
    rng: random.Random
    versions: list[CanvasVersion] = field(default_factory=list)
    proc: Process | None = None

    def add_version(self, t_us: int) -> None:
        """Append the next version (an edit of the previous content)."""
        rng = self.rng
        prev = self.versions[-1].content if self.versions else f"# {self.title}"
        lines = prev.split("\n")
        if len(lines) > 3 and rng.random() < 0.3:
            lines.pop(rng.randrange(1, len(lines)))
        lines.append(rng.choice(_CANVAS_LINES))
        content = "\n".join(lines)
        comments = []
        if rng.random() < 0.25:
            start = rng.randrange(0, max(1, len(content) - 5))
            comments.append(
                {
                    "type": "comment",
                    "id": rand_uuid(rng),
                    "start": start,
                    "end": min(len(content), start + rng.randint(3, 40)),
                    "content": rng.choice(_NOTES),
                }
            )
        name = self.title if rng.random() < 0.5 else None
        self.versions.append(CanvasVersion(len(self.versions) + 1, t_us, content, name, comments))

    def versions_at(self, t_us: int) -> list[CanvasVersion]:
        """Versions that existed at ``t_us``."""
        return [v for v in self.versions if v.created_us <= t_us]


@dataclass
class MemoryVersion:
    """One state of a memory entry, served from ``from_us`` until ``until_us`` (None: now).

    ``updated_us`` is the ``updated_at`` it shows: ``from_us`` or that instant's whole second.
    """

    content: str
    updated_us: int
    from_us: int
    until_us: int | None = None


@dataclass
class MemoryEntry:
    """A memory entry of a user in a context, with its history."""

    id: str
    user_id: str
    context_id: str
    versions: list[MemoryVersion]
    deleted_us: int | None = None

    def at(self, t_us: int) -> MemoryVersion | None:
        """Return the version current at ``t_us`` (None: not created yet, or deleted)."""
        if self.deleted_us is not None and self.deleted_us <= t_us:
            return None
        cur = None
        for v in self.versions:
            if v.from_us <= t_us:
                cur = v
        return cur


@dataclass
class Versioned:
    """An object served as a JSON item that changes over time (automation, task, library file)."""

    id: str
    user_id: str
    created_us: int
    versions: list[tuple[int, dict[str, Any]]]
    """(valid from, item JSON), oldest first."""
    rng: random.Random
    proc: Process | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def at(self, t_us: int) -> dict[str, Any] | None:
        """Return the item as served at ``t_us`` (None before creation)."""
        cur = None
        for t, item in self.versions:
            if t <= t_us:
                cur = item
        return cur

    def versions_at(self, t_us: int) -> list[dict[str, Any]]:
        """Every state the item had up to ``t_us``, oldest first."""
        return [item for t, item in self.versions if t <= t_us]


@dataclass
class Recording:
    """A recording with its transcript (shapes are GUESSES; reference §1A #21-22)."""

    id: str
    user_id: str
    created_us: int
    item: dict[str, Any]
    transcript: dict[str, Any]
    summary: str


# ---------------------------------------------------------------------- the inventory
class WorkspaceInventory:
    """The inventory of one workspace and the processes that change it."""

    def __init__(self, cfg: SimulatorConfig, tag: str, world: World) -> None:
        self.cfg = cfg
        self.knobs: Inventory = cfg.inventory
        self.tag = tag + ":inventory"
        self.world = world
        self.canvases: dict[str, list[Canvas]] = {}
        """user id -> canvases in creation order."""
        self.canvas_by_id: dict[str, Canvas] = {}
        self.memories: dict[str, list[MemoryEntry]] = {}
        """user id -> entries in creation order."""
        self.automations: dict[str, list[Versioned]] = {}
        self.recordings: dict[str, list[Recording]] = {}
        self.codex_tasks: list[Versioned] = []
        self.library: dict[str, list[Versioned]] = {}
        self.library_files: dict[str, Attachment] = {}
        self._procs: list[tuple[Process, Callable[[int], None]]] = []
        self._now = 0

    def rng(self, name: str) -> random.Random:
        """Return the random stream of one object or process."""
        return random.Random(f"{self.tag}:{name}")

    # ------------------------------------------------------------------ setup
    def populate(self, start_us: int) -> None:
        """Create the processes and run them from the history's origin to ``start_us``."""
        k = self.knobs
        origin = start_us - int(k.history_days * DAY_US)
        self._now = origin
        users = sorted(self.world.users, key=lambda u: u.id)
        for u in users:
            uid = u.id
            self.canvases[uid], self.memories[uid] = [], []
            self.automations[uid], self.recordings[uid], self.library[uid] = [], [], []
            self._every(f"canvases:{uid}", k.canvases_per_user_day, origin, self._new_canvas(uid))
            self._every(
                f"memory:{uid}", k.memory_changes_per_user_day, origin, self._memory_change(uid)
            )
            self._every(
                f"automations:{uid}", k.automations_per_user_day, origin, self._new_automation(uid)
            )
            self._every(
                f"recordings:{uid}", k.recordings_per_user_day, origin, self._new_recording(uid)
            )
            self._every(
                f"library:{uid}", k.library_files_per_user_day, origin, self._new_library_file(uid)
            )
        self._every("codex", k.codex_tasks_per_day, origin, self._new_task)
        if k.config_versions_per_day > 0:
            for c in [*self.world.gpts, *self.world.projects]:
                self._every(
                    f"config:{c.id}", k.config_versions_per_day, start_us, self._new_config(c.id)
                )
        if users and k.heavy_user_canvases > 0:
            self._heavy(users[0].id, origin, start_us)
        self.advance(start_us)

    def _every(self, name: str, per_day: float, start_us: int, fn: Callable[[int], None]) -> None:
        if per_day > 0:
            self._procs.append((Process(self.rng(name), per_day, start_us), fn))

    def _heavy(self, uid: str, origin: int, start_us: int) -> None:
        k = self.knobs
        span = max(1, start_us - origin)
        for i in range(k.heavy_user_canvases):
            t0 = origin + i * max(1, span // (4 * k.heavy_user_canvases))
            cv = self._canvas(uid, t0, f"heavy:{uid}:{i}", edits_from=start_us)
            n = max(1, k.heavy_user_versions)
            step = max(1, (start_us - t0) // n)
            for j in range(1, n):
                cv.add_version(t0 + j * step)

    def advance(self, to_us: int) -> None:
        """Run every process up to ``to_us`` (new objects' own processes included)."""
        i = 0
        while i < len(self._procs):  # processes added while running are run too
            proc, fn = self._procs[i]
            for t in proc.due(to_us):
                fn(t)
            i += 1
        self._now = max(self._now, to_us)

    # ------------------------------------------------------------------ canvases
    def _canvas(self, uid: str, t_us: int, name: str, edits_from: int | None = None) -> Canvas:
        rng = self.rng(f"canvas:{name}")
        cid = rand_token(rng, 32, "0123456789abcdef")
        cv = Canvas(
            id=cid,
            user_id=uid,
            created_us=t_us,
            textdoc_type=rng.choice(_CANVAS_TYPES),
            title=rng.choice(_TOPICS_SHORT),
            rng=rng,
        )
        cv.add_version(t_us)
        self.canvases[uid].append(cv)
        self.canvas_by_id[cid] = cv
        self._every(
            f"canvas-versions:{cid}",
            self.knobs.canvas_versions_per_day,
            t_us if edits_from is None else edits_from,
            cv.add_version,
        )
        return cv

    def _new_canvas(self, uid: str) -> Callable[[int], None]:
        count = [0]

        def fn(t: int) -> None:
            count[0] += 1
            self._canvas(uid, t, f"{uid}:{count[0]}")

        return fn

    # ------------------------------------------------------------------ memories
    def _memory_change(self, uid: str) -> Callable[[int], None]:
        rng = self.rng(f"memory-content:{uid}")
        projects = [p.id for p in self.world.projects if p.owner.id == uid]

        def fn(t: int) -> None:
            # some entries carry whole-second times (to make since_timestamp=updated_at testable)
            t_at = t - t % US if rng.random() < 0.3 else t
            live = [e for e in self.memories[uid] if e.deleted_us is None]
            roll = rng.random()
            if not live or roll < 0.5:
                ctx = rng.choice(projects) if projects and rng.random() < 0.25 else uid
                self.memories[uid].append(
                    MemoryEntry(
                        rand_uuid(rng), uid, ctx, [MemoryVersion(rng.choice(_NOTES), t_at, t)]
                    )
                )
            elif roll < 0.85:
                e = rng.choice(live)
                e.versions[-1].until_us = t
                text = rng.choice(_NOTES) + f" (rev {len(e.versions) + 1})"
                e.versions.append(MemoryVersion(text, t_at, t))
            else:
                e = rng.choice(live)
                e.deleted_us = t
                e.versions[-1].until_us = t

        return fn

    def memory_json(
        self, uid: str, t_us: int, since_us: int | None = None
    ) -> dict[str, Any] | None:
        """Return the user's Memory at ``t_us`` (entries updated at/after ``since_us``) or None."""
        contexts: dict[str, list[dict[str, Any]]] = {}
        for e in self.memories.get(uid, []):
            v = e.at(t_us)
            if v is None or (since_us is not None and v.updated_us < since_us):
                continue
            contexts.setdefault(e.context_id, []).append(
                {
                    "object": "compliance.workspace.user.memory.context.entry",
                    "id": e.id,
                    "content": v.content,
                    "updated_at": _secs(v.updated_us),
                }
            )
        if not contexts:
            return None
        order = sorted(contexts, key=lambda c: (c != uid, c))  # primary context first
        return {
            "object": "compliance.workspace.user.memory",
            "id": uid,
            "memory_contexts": [
                {
                    "object": "compliance.workspace.user.memory.context",
                    "id": c,
                    "memory_entries": contexts[c],
                }
                for c in order
            ],
        }

    # ------------------------------------------------------------------ automations
    def _new_automation(self, uid: str) -> Callable[[int], None]:
        rng = self.rng(f"automation-ids:{uid}")

        def fn(t: int) -> None:
            aid = "auto_" + rand_token(rng, 24, LOWER_ALNUM)
            arng = self.rng(f"automation:{aid}")
            item = {
                "object": "compliance.workspace.user.automation",
                "id": aid,
                "title": arng.choice(_TOPICS_SHORT),
                "prompt": arng.choice(_NOTES),
                "schedule": arng.choice(_SCHEDULES),
                "is_enabled": True,
                "created_at": _secs(t),
                "updated_at": _secs(t),
            }
            a = Versioned(aid, uid, t, [(t, item)], arng)
            self.automations[uid].append(a)

            def change(t2: int) -> None:
                new = dict(a.versions[-1][1])
                what = arng.random()
                if what < 0.4:
                    new["is_enabled"] = not new["is_enabled"]
                elif what < 0.7:
                    new["schedule"] = arng.choice(_SCHEDULES)
                else:
                    new["prompt"] = arng.choice(_NOTES)
                new["updated_at"] = _secs(t2)
                a.versions.append((t2, new))

            self._every(
                f"automation-changes:{aid}", self.knobs.automation_changes_per_day, t, change
            )

        return fn

    # ------------------------------------------------------------------ recordings
    def _new_recording(self, uid: str) -> Callable[[int], None]:
        rng = self.rng(f"recording-ids:{uid}")

        def fn(t: int) -> None:
            rid = "rec_" + rand_token(rng, 24, ALNUM)
            rr = self.rng(f"recording:{rid}")
            segments: list[dict[str, Any]] = []
            at = 0.0
            for _ in range(rr.randint(2, 8)):
                dur = round(rr.uniform(2.0, 40.0), 2)
                segments.append(
                    {
                        "start": round(at, 2),
                        "end": round(at + dur, 2),
                        "speaker": rr.choice(_SPEAKERS),
                        "text": rr.choice(_CANVAS_LINES[1:2] + _NOTES),
                    }
                )
                at += dur
            title = rr.choice(_TOPICS_SHORT)
            item = {
                "object": "compliance.workspace.user.recording",
                "id": rid,
                "title": title,
                "created_at": _secs(t),
                "duration_seconds": round(at, 2),
                "status": "completed",
            }
            transcript = {
                "object": "compliance.workspace.user.recording.transcript",
                "recording_id": rid,
                "language": "en",
                "text": " ".join(str(s["text"]) for s in segments),
                "segments": segments,
            }
            summary = f"{title}: " + rr.choice(_NOTES)
            self.recordings[uid].append(Recording(rid, uid, t, item, transcript, summary))

        return fn

    # ------------------------------------------------------------------ codex tasks
    def _new_task(self, t: int) -> None:
        rng = self.rng(f"codex-ids:{len(self.codex_tasks)}")
        tid = "task_e_" + rand_token(rng, 32, "0123456789abcdef")
        tr = self.rng(f"codex:{tid}")
        users = sorted(self.world.users, key=lambda u: u.id)
        author = tr.choice(users).id
        prompt = tr.choice(_CANVAS_LINES)
        detail: dict[str, Any] = {
            "object": "compliance.workspace.codex_task",
            "id": tid,
            "title": tr.choice(_TOPICS_SHORT),
            "created_by_id": author,
            "created_at": _secs(t),
            "updated_at": _secs(t),
            "status": "queued",
            "environment_id": "env_" + rand_token(tr, 16, LOWER_ALNUM),
            "repository": tr.choice(_REPOS),
            "branch": "main",
            "prompt": prompt,
            "turns": [
                {"id": rand_uuid(tr), "role": "user", "content": prompt, "created_at": _secs(t)}
            ],
            "pull_request_url": None,
        }
        task = Versioned(tid, author, t, [(t, detail)], tr)
        self.codex_tasks.append(task)

        def update(t2: int) -> None:
            new = dict(task.versions[-1][1])
            step = _TASK_STATUSES.index(new["status"]) + 1 if new["status"] in _TASK_STATUSES else 2
            new["status"] = _TASK_STATUSES[min(step, 2)]
            new["turns"] = [
                *new["turns"],
                {
                    "id": rand_uuid(tr),
                    "role": "assistant",
                    "content": tr.choice(_CANVAS_LINES),
                    "created_at": _secs(t2),
                },
            ]
            if new["status"] == "completed" and tr.random() < 0.5:
                new["pull_request_url"] = (
                    f"https://github.com/{new['repository']}/pull/{tr.randint(1, 900)}"
                )
            new["updated_at"] = _secs(t2)
            task.versions.append((t2, new))

        n = tr.randint(0, 3)
        if n:
            self._procs.append((Process(self.rng(f"codex-updates:{tid}"), 6.0, t, limit=n), update))

    @staticmethod
    def task_item(detail: dict[str, Any]) -> dict[str, Any]:
        """Return the list item of a Codex task (reference §1A #23)."""
        return {k: detail[k] for k in ("id", "title", "created_by_id", "created_at", "updated_at")}

    # ------------------------------------------------------------------ library files
    def _new_library_file(self, uid: str) -> Callable[[int], None]:
        rng = self.rng(f"library-ids:{uid}")

        def fn(t: int) -> None:
            fid = "file-" + rand_token(rng, 24, ALNUM)
            lr = self.rng(f"library:{fid}")
            ext, mime, _ = FILE_KINDS[lr.choices(range(8), weights=FILE_KIND_WEIGHTS[:8])[0]]
            lo, hi = self.cfg.attachment_size
            a = Attachment(
                id=fid,
                name=f"{lr.choice(_TOPICS_SHORT).lower().replace(' ', '-')}.{ext}",
                mime_type=mime,
                size=lr.randint(lo, min(hi, max(lo, 50_000))),
                kind=LIBRARY_FILE,
                uploaded_us=t,
                content_seed=lr.getrandbits(64),
                user_id=uid,
            )
            item = {
                "id": fid,
                "name": a.name,
                "mime_type": mime,
                "state": "ready",
                "created_at": _secs(t),
                "trashed_at": None,
                "is_project": lr.random() < 0.2,
            }
            lf = Versioned(fid, uid, t, [(t, item)], lr)
            self.library[uid].append(lf)
            self.library_files[fid] = a
            if lr.random() < self.knobs.library_trash_rate:

                def trash(t2: int) -> None:
                    new = dict(lf.versions[-1][1], state="trashed", trashed_at=_secs(t2))
                    lf.versions.append((t2, new))

                self._procs.append((Process(self.rng(f"library-trash:{fid}"), 1.0, t, 1), trash))

        return fn

    def library_trashed(self, fid: str, t_us: int) -> bool:
        """Whether the library file was trashed at ``t_us``."""
        lf = next((x for xs in self.library.values() for x in xs if x.id == fid), None)
        item = lf.at(t_us) if lf else None
        return bool(item and item["trashed_at"] is not None)

    # ------------------------------------------------------------------ GPT/project configs
    def _new_config(self, cid: str) -> Callable[[int], None]:
        rng = self.rng(f"config-content:{cid}")

        def fn(t: int) -> None:
            c = next(x for x in [*self.world.gpts, *self.world.projects] if x.id == cid)
            prev = c.configs[0]
            kind = GPT_FILE if c.kind == "gpt" else PROJECT_FILE
            files = [f for f in prev.files if rng.random() < 0.7]
            for _ in range(rng.choice([0, 1, 1, 2])):
                files.append(self._knowledge_file(rng, kind, t))
            users = sorted(self.world.users, key=lambda u: u.id)
            c.configs.insert(
                0,
                Config(
                    id=("gzm_cnf_" if c.kind == "gpt" else "pr_cnf_")
                    + rand_token(rng, 24, LOWER_ALNUM),
                    name=prev.name,
                    description=prev.description,
                    instructions=rng.choice(_NOTES) + " " + prev.instructions,
                    created_us=t,
                    author=rng.choice(users),
                    conversation_starters=list(prev.conversation_starters),
                    categories=list(prev.categories),
                    tools=[dict(x, created_at=_secs(t)) for x in prev.tools],
                    files=files,
                ),
            )

        return fn

    def _knowledge_file(self, rng: random.Random, kind: str, t: int) -> Attachment:
        ext, mime, _ = FILE_KINDS[rng.choices(range(8), weights=FILE_KIND_WEIGHTS[:8])[0]]
        lo, hi = self.cfg.attachment_size
        a = Attachment(
            id="file-" + rand_token(rng, 24),
            name=f"{rand_token(rng, 6, string.ascii_lowercase)}.{ext}",
            mime_type=mime,
            size=rng.randint(lo, hi),
            kind=kind,
            uploaded_us=t,
            content_seed=rng.getrandbits(64),
        )
        self.world.attachments[a.id] = a
        return a

    def knowledge_file_expired(self, file_id: str) -> bool:
        """Whether a GPT/project file answers 410 (knob ``expired_knowledge_file_rate``)."""
        return knowledge_file_expired(self.cfg, file_id)

    def user_ids(self) -> set[str]:
        """Ids of the workspace's users."""
        return {u.id for u in self.world.users}


_TOPICS_SHORT = [
    "Vendor summary",
    "Travel policy",
    "SQL review",
    "Customer email",
    "Onboarding checklist",
    "Budget variance",
    "Release notes",
    "Contract comparison",
    "Meeting recap",
    "Incident postmortem",
    "Hiring plan",
    "Pricing table",
]
