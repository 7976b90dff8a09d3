"""Work done ahead of the records: attachments fetched by a few threads, handed back in order.

Records are only ever written by the main thread, and every child record of a log file before
the file's manifest record and bookmark (sdk.py, item 2). What may run ahead is the network:
the attachments referenced by a file are queued as soon as the file is parsed
(:meth:`AttachmentPipeline.plan`), fetched by ``ATTACHMENT_WORKERS`` threads at most
``WINDOW`` attachments ahead of the records, and handed to the ``files`` stream in the order
they were planned (:meth:`AttachmentPipeline.results`), which builds and writes their records
before the file's manifest record. The attachments route is thus busy while log files are read.
"""

from __future__ import annotations

import threading
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from tap_chatgpt_compliance.attachments import AttachmentArchiver, AttachmentRef, Outcome

ATTACHMENT_WORKERS = 4
"""Threads downloading attachments (each waits for its route's pacing token)."""
WINDOW = 16
"""Attachments fetched ahead of the records at most: with spools in memory only up to 256 KiB
each (larger ones go to temporary files), they hold a few MiB."""


@dataclass
class _Job:
    key: str
    """The log file (or batch) whose ``files`` records this attachment belongs to."""
    ref: AttachmentRef
    future: Future[Outcome] | None = None


class AttachmentPipeline:
    """Attachments of the run, each fetched once, in the order of the files that reference them.

    ``handled`` is the run's set of attachment ids already planned: an attachment referenced
    again (by a later message or a duplicate event) is fetched and recorded once per run.
    """

    def __init__(
        self,
        archiver: AttachmentArchiver,
        handled: t.MutableSet[str],
        *,
        workers: int = ATTACHMENT_WORKERS,
        window: int = WINDOW,
    ) -> None:
        """Fetch with ``archiver`` on ``workers`` threads, at most ``window`` ahead."""
        self.archiver = archiver
        self.handled = handled
        self.workers = workers
        self.window = window
        self._jobs: deque[_Job] = deque()
        self._submitted = 0
        """How many jobs at the head of the queue have been handed to the threads."""
        self._planned: list[str] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def plan(self, key: str, refs: Iterable[AttachmentRef]) -> None:
        """Queue the attachments of ``key`` not handled yet in this run (once per key)."""
        with self._lock:
            if key in self._planned:
                return
            self._planned.append(key)
            for ref in refs:
                if ref.file_id in self.handled:
                    continue
                self.handled.add(ref.file_id)
                self._jobs.append(_Job(key, ref))
            self._feed()

    def results(self, key: str) -> Iterator[tuple[AttachmentRef, Outcome]]:
        """Yield the planned attachments of ``key`` with what fetching them gave, in order.

        Jobs of keys planned before ``key`` and never asked for (a stream map that filtered
        out their log file) are dropped, and their ids forgotten.
        """
        while True:
            with self._lock:
                self._drop_stale(key)
                if not self._jobs or self._jobs[0].key != key:
                    break
                job = self._jobs[0]
                self._feed()
            outcome = (
                job.future.result() if job.future is not None else self.archiver.fetch(job.ref)
            )
            with self._lock:
                self._jobs.popleft()
                if job.future is not None:
                    self._submitted -= 1
                self._feed()
            yield job.ref, outcome
        with self._lock:
            if key in self._planned:
                self._planned.remove(key)

    def close(self) -> None:
        """Stop: downloads not started are not started, running ones stop at their next chunk."""
        self.archiver.closing = True
        with self._lock:
            executor, self._executor = self._executor, None
            for job in self._jobs:
                if job.future is not None:
                    job.future.cancel()
            self._jobs.clear()
            self._submitted = 0
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _feed(self) -> None:
        """Hand the next jobs to the threads, up to ``window`` ahead (lock held)."""
        if not self.archiver.downloads or self.archiver.closing:
            return
        jobs = self._jobs
        while self._submitted < len(jobs) and self._submitted < self.window:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="tap-attachments"
                )
            job = jobs[self._submitted]
            job.future = self._executor.submit(self.archiver.fetch, job.ref)
            self._submitted += 1

    def _drop_stale(self, key: str) -> None:
        """Drop the jobs of keys planned before ``key`` (lock held)."""
        if key not in self._planned:
            return
        stale = set(self._planned[: self._planned.index(key)])
        if not stale:
            return
        while self._jobs and self._jobs[0].key in stale:
            job = self._jobs.popleft()
            if job.future is not None:
                self._submitted -= 1
                if not job.future.cancel() and job.future.done() and not job.future.exception():
                    job.future.result().close()
            self.handled.discard(job.ref.file_id)
        self._planned = [k for k in self._planned if k not in stale]
