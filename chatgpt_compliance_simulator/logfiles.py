"""Log delivery: lines → JSONL files cut per (event type, time window), ≤ max bytes each.

A file's ``end_time`` is the latest *delivery* instant of the lines it holds, rounded up to
the whole second, and strictly increasing within a stream (bumped by one second on a tie).
Normal events are delivered at their timestamp; late events and duplicates later.
Files are cut only for windows that are complete at the simulated ``now``.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

from .clock import DAY_US, US, iso_s
from .config import ORG_EVENT_TYPES, WORKSPACE_EVENT_TYPES, SimulatorConfig, organization_named


@dataclass
class LogFile:
    """One immutable, pre-rendered JSONL file."""

    id: str
    event_type: str
    owner_id: str
    end_us: int
    body: bytes
    sha256: str
    n_lines: int
    max_event_us: int
    offset_name: bool = False

    @property
    def end_time(self) -> str:
        """``end_time`` as served (ISO 8601 UTC, seconds, ``Z``)."""
        return iso_s(self.end_us)

    @property
    def file_name(self) -> str:
        """``<EVENT_TYPE>_<iso>.jsonl`` (reference §2.8), or ``…+00:00.jsonl`` (published)."""
        return f"{self.event_type}_{self.end_time[:-1]}{'+00:00' if self.offset_name else ''}.jsonl"

    def metadata(
        self,
        sha256: str | None = None,
        end_time: str | None = None,
        omit: tuple[str, ...] = (),
        new_fields: bool = False,
    ) -> dict[str, object]:
        """Return the LogFileMetadata object of a listing.

        ``omit``: keys left out; ``new_fields``: with fields the reference does not list
        (``Oddities.listing_new_fields``).
        """
        meta: dict[str, object] = {
            "id": self.id,
            "event_type": self.event_type,
            "end_time": end_time or self.end_time,
            "file_name": self.file_name,
            "file_size": len(self.body),
            "file_sha256": sha256 or self.sha256,
        }
        if new_fields:
            meta["line_count"] = self.n_lines
            meta["retention"] = {"expires_at": iso_s(self.end_us + 30 * DAY_US)}
        for k in omit:
            meta.pop(k, None)
        return meta


class Stream:
    """All files of one (principal, event type)."""

    def __init__(
        self,
        owner_id: str,
        event_type: str,
        seed: int,
        window_us: int,
        max_bytes: int,
        no_newline_rate: float,
        offset_name_rate: float = 0.0,
    ) -> None:
        self.owner_id = owner_id
        self.event_type = event_type
        self.rng = random.Random(f"{seed}:stream:{owner_id}:{event_type}")
        self.name_rng = random.Random(f"{seed}:names:{owner_id}:{event_type}")
        self.offset_name_rate = offset_name_rate
        self.window_us = window_us
        self.max_bytes = max_bytes
        self.no_newline_rate = no_newline_rate
        self.pending: list[tuple[int, int, bytes]] = []  # (deliver_us, ts_us, line)
        self.files: list[LogFile] = []
        self.ends: list[int] = []
        self.by_id: dict[str, LogFile] = {}
        self.max_event_us: int | None = None

    def deliver(self, deliver_us: int, ts_us: int, line: bytes) -> None:
        """Queue one JSONL line (without newline) for the file covering ``deliver_us``."""
        self.pending.append((deliver_us, ts_us, line))

    def cut(self, now_us: int) -> list[LogFile]:
        """Cut files for every window complete at ``now_us``; return the new files."""
        boundary = (now_us // self.window_us) * self.window_us
        ready = [p for p in self.pending if p[0] < boundary]
        if not ready:
            return []
        self.pending = [p for p in self.pending if p[0] >= boundary]
        ready.sort(key=lambda p: (p[0], p[1]))
        new: list[LogFile] = []
        chunk: list[tuple[int, int, bytes]] = []
        size = 0
        window = ready[0][0] // self.window_us
        for item in ready:
            w = item[0] // self.window_us
            line_size = len(item[2]) + 1
            if chunk and (w != window or size + line_size > self.max_bytes):
                new.append(self._make(chunk))
                chunk, size = [], 0
            window = w
            chunk.append(item)
            size += line_size
        if chunk:
            new.append(self._make(chunk))
        return new

    def _make(self, chunk: list[tuple[int, int, bytes]]) -> LogFile:
        body = b"\n".join(line for _, _, line in chunk)
        if self.rng.random() >= self.no_newline_rate:
            body += b"\n"
        last_deliver = max(p[0] for p in chunk)
        end_us = -(-last_deliver // US) * US
        if self.ends and end_us <= self.ends[-1]:
            end_us = self.ends[-1] + US
        max_ts = max(p[1] for p in chunk)
        self.max_event_us = max_ts if self.max_event_us is None else max(self.max_event_us, max_ts)
        f = LogFile(
            id="eclf_" + f"{self.rng.getrandbits(96):024x}",
            event_type=self.event_type,
            owner_id=self.owner_id,
            end_us=end_us,
            body=body,
            sha256=hashlib.sha256(body).hexdigest(),
            n_lines=len(chunk),
            max_event_us=max_ts,
            offset_name=self.name_rng.random() < self.offset_name_rate,
        )
        self.files.append(f)
        self.ends.append(end_us)
        self.by_id[f.id] = f
        return f

    def publish(self, body: bytes, now_us: int) -> LogFile:
        """Publish a file holding exactly ``body`` (any bytes), listed from now on.

        Its ``end_time`` is ``now_us`` rounded up to the whole second, bumped past the stream's
        last file as :meth:`cut` does; its id is derived from the stream, its position and the
        bytes (the stream's random generator is not used: later files keep their ids).
        """
        end_us = -(-now_us // US) * US
        if self.ends and end_us <= self.ends[-1]:
            end_us = self.ends[-1] + US
        seed = f"{self.owner_id}:{self.event_type}:{len(self.files)}:".encode()
        f = LogFile(
            id="eclf_" + hashlib.sha256(seed + body).hexdigest()[:24],
            event_type=self.event_type,
            owner_id=self.owner_id,
            end_us=end_us,
            body=body,
            sha256=hashlib.sha256(body).hexdigest(),
            n_lines=body.count(b"\n") + (not body.endswith(b"\n") and bool(body)),
            max_event_us=now_us,
        )
        self.max_event_us = now_us if self.max_event_us is None else max(self.max_event_us, now_us)
        self.files.append(f)
        self.ends.append(end_us)
        self.by_id[f.id] = f
        return f

    def iter_from(
        self, after_us: int, inclusive: bool, before_us: int | None, oldest_us: int
    ) -> Iterator[tuple[int, str, LogFile]]:
        """Files with end > after (>= if inclusive), end < before, end > oldest (retention)."""
        lo = (
            bisect.bisect_left(self.ends, after_us)
            if inclusive
            else bisect.bisect_right(self.ends, after_us)
        )
        lo = max(lo, bisect.bisect_right(self.ends, oldest_us))
        for f in self.files[lo:]:
            if before_us is not None and f.end_us >= before_us:
                return
            yield (f.end_us, f.id, f)

    def visible(self, now_us: int, retention_us: int) -> list[LogFile]:
        """Files currently listed (within retention)."""
        lo = bisect.bisect_right(self.ends, now_us - retention_us)
        return self.files[lo:]


class LogStore:
    """The streams of one workspace and its organization, their files by id, and retention."""

    def __init__(self, cfg: SimulatorConfig, workspace_id: str, org_id: str) -> None:
        q = cfg.quirks
        rate = q.no_trailing_newline_rate if q.no_trailing_newline else 0.0
        names = q.offset_file_name_rate if q.offset_file_names else 0.0
        self.window_us = cfg.log_window_minutes * 60 * US
        self.retention_us = int(cfg.retention_days * DAY_US)
        extras = [t for t in dict.fromkeys(cfg.oddities.extra_event_types)]
        self.extra_types = tuple(
            t for t in extras if t not in ORG_EVENT_TYPES and not organization_named(t)
        )
        """``Oddities.extra_event_types`` that get a workspace stream."""
        self.extra_org_types = tuple(
            t for t in extras if t not in ORG_EVENT_TYPES and organization_named(t)
        )
        """``Oddities.extra_event_types`` that get an organization stream."""

        def stream(owner: str, event_type: str) -> Stream:
            return Stream(
                owner, event_type, cfg.seed, self.window_us, cfg.max_log_file_bytes, rate, names
            )

        self.streams: dict[str, Stream] = {
            t: stream(workspace_id, t)
            for t in dict.fromkeys(WORKSPACE_EVENT_TYPES + self.extra_types)
        }
        self.org_streams: dict[str, Stream] = {
            t: stream(org_id, t) for t in ORG_EVENT_TYPES + self.extra_org_types
        }
        self._files: dict[str, LogFile] = {}
        self._org_files: dict[str, LogFile] = {}

    def scope(self, org: bool) -> dict[str, Stream]:
        """Return the streams of the organization (``org``) or of the workspace, by event type."""
        return self.org_streams if org else self.streams

    def all_streams(self) -> list[Stream]:
        """Every stream, workspace ones first."""
        return [*self.streams.values(), *self.org_streams.values()]

    def stream(self, event_type: str) -> Stream:
        """Return the stream of ``event_type`` (organization or workspace); KeyError if unknown."""
        return self.org_streams.get(event_type) or self.streams[event_type]

    def file(self, file_id: str, org: bool | None = None) -> LogFile | None:
        """Return the file ``file_id`` of the organization, the workspace, or (``None``) either."""
        if org is None:
            return self._files.get(file_id) or self._org_files.get(file_id)
        return (self._org_files if org else self._files).get(file_id)

    def oldest_us(self, now_us: int) -> int:
        """Files whose ``end_time`` is at or before this instant are out of retention."""
        return now_us - self.retention_us

    def visible(self, event_type: str, now_us: int) -> list[LogFile]:
        """Files of ``event_type`` currently listed (within retention)."""
        return self.stream(event_type).visible(now_us, self.retention_us)

    def publish(self, event_type: str, body: bytes, now_us: int) -> LogFile:
        """Publish a file of ``event_type`` holding exactly ``body`` (:meth:`Stream.publish`)."""
        org = event_type in self.org_streams
        f = self.stream(event_type).publish(body, now_us)
        (self._org_files if org else self._files)[f.id] = f
        return f

    def cut(self, now_us: int) -> list[LogFile]:
        """Cut files for complete windows in every stream."""
        new: list[LogFile] = []
        for s in self.streams.values():
            for f in s.cut(now_us):
                self._files[f.id] = f
                new.append(f)
        for s in self.org_streams.values():
            for f in s.cut(now_us):
                self._org_files[f.id] = f
                new.append(f)
        return new
