"""Work done ahead of the records: attachments fetched by a few threads, handed back in order.

Records are only ever written by the main thread, and every child record of a log file before
the file's manifest record and bookmark (sdk.py, item 2). What may run ahead is the network:
the attachments referenced by a file are queued as soon as the file is parsed
(:meth:`AttachmentPipeline.plan`), fetched by ``ATTACHMENT_WORKERS`` threads at most
``WINDOW`` attachments ahead of the records (one at a time until one succeeds, and after a
failure), and handed to the ``files`` stream in the order
they were planned (:meth:`AttachmentPipeline.results`), which builds and writes their records
before the file's manifest record. The attachments route is thus busy while log files are read.
"""

from __future__ import annotations

import queue
import threading
import typing as t
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from tap_chatgpt_compliance.attachments.archive import (
        AttachmentArchiver,
        AttachmentRef,
        Outcome,
    )
    from tap_chatgpt_compliance.run.store import SpillMap

P = t.TypeVar("P")
R = t.TypeVar("R")

LOG_FILES_AHEAD = 1
"""Log files downloaded, verified and parsed ahead of the one whose records are written."""
ATTACHMENT_WORKERS = 4
"""Threads downloading attachments (each waits for its route's pacing token)."""
WINDOW = 16
"""Attachments fetched ahead of the records at most: with spools in memory only up to 256 KiB
each (larger ones go to temporary files), they hold a few MiB."""


class DaemonPool:
    """A small thread pool whose threads never hold the process open.

    A run that fails ends at once, even while a thread waits on a slow download or a retry
    (``concurrent.futures.ThreadPoolExecutor`` joins its threads at exit).
    """

    def __init__(self, workers: int, name: str) -> None:
        """Start up to ``workers`` threads, named after ``name``, as work arrives."""
        self._workers = workers
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Future[t.Any], Callable[..., t.Any], tuple] | None]
        self._queue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., R], *args: t.Any) -> Future[R]:
        """Queue ``fn(*args)``; return its future."""
        future: Future[R] = Future()
        self._queue.put((future, fn, args))
        with self._lock:
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def shutdown(self) -> None:
        """Let the threads end once the queued work is done (cancelled futures are skipped)."""
        with self._lock:
            for _ in self._threads:
                self._queue.put(None)
            self._threads = []

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the thread that waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)


class ReadAhead(t.Generic[P, R]):
    """Run ``work`` on the items of ``source`` one thread, ``depth`` items ahead, in order.

    Iterating yields ``(item, work(item))`` in the order of ``source``. The source itself is
    read on the iterating thread (it may be a generator of the SDK's). An exception of ``work``
    is raised when its item is reached; an exception of ``source`` after every item read before
    it was yielded: what happens to the items before a failure does not change.
    """

    def __init__(
        self, source: Iterable[P], work: Callable[[P], R], depth: int = LOG_FILES_AHEAD
    ) -> None:
        """Read ``source`` lazily; run ``work`` up to ``depth`` items ahead of the consumer."""
        self.source = iter(source)
        self.work = work
        self.depth = depth

    def __iter__(self) -> Iterator[tuple[P, R]]:
        """Yield each item with its result, in order (``depth`` 0: no thread, no read-ahead)."""
        try:
            yield from self._iterate()
        finally:
            close = getattr(self.source, "close", None)
            if close is not None:  # a generator: its own clean-up runs now, not at exit
                close()

    def _iterate(self) -> Iterator[tuple[P, R]]:
        if self.depth <= 0:
            for item in self.source:
                yield item, self.work(item)
            return
        pool = DaemonPool(1, "tap-log-files")
        window: deque[tuple[P, Future[R]]] = deque()
        failure: BaseException | None = None
        exhausted = False
        try:
            while True:
                while not exhausted and failure is None and len(window) <= self.depth:
                    try:
                        item = next(self.source)
                    except StopIteration:
                        exhausted = True
                    except Exception as exc:  # raised once the items before it are done
                        failure = exc
                    else:
                        window.append((item, pool.submit(self.work, item)))
                if not window:
                    if failure is not None:
                        raise failure
                    return
                item, future = window.popleft()
                yield item, future.result()
        finally:
            for _, future in window:
                future.cancel()
            pool.shutdown()


def one_ahead(source: Iterable[P]) -> Iterator[P]:
    """Yield each item of ``source`` once the next one is computed: their work overlaps.

    An exception while computing the next item is raised once the current one was consumed,
    so what happens to an item never depends on a failure after it.
    """
    items = iter(source)
    try:
        try:
            current = next(items)
        except StopIteration:
            return
        while True:
            try:
                upcoming = next(items)
            except StopIteration:
                yield current
                return
            except Exception:
                yield current
                raise
            yield current
            current = upcoming
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


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
        handled: SpillMap[str, int],
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
        self._executor: DaemonPool | None = None
        self._healthy = False
        """False until an attachment was fetched, and after a failure that can clear: then one
        attachment at a time is tried, so that the run stops trying after a few failures in a
        row (attachments.FAILURES_BEFORE_PAUSE) without others already on their way."""

    def plan(self, key: str, refs: Iterable[AttachmentRef]) -> None:
        """Queue the attachments of ``key`` not handled yet in this run (once per key).

        An attachment referenced twice is fetched for its first reference that names a user (the
        route asks for the user): one without, then one with, is still fetched.
        """
        with self._lock:
            if key in self._planned:
                return
            self._planned.append(key)
            by_id: dict[str, AttachmentRef] = {}
            for ref in refs:  # the first reference that names a user to ask for the file
                kept = by_id.setdefault(ref.file_id, ref)
                if kept.user_id is None and ref.user_id is not None:
                    by_id[ref.file_id] = ref
            for file_id in self.handled.add_new(by_id, 1):
                self._jobs.append(_Job(key, by_id[file_id]))
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
                self._healthy = getattr(outcome, "streak", None) != "fail"
                if self._healthy:  # else the next one starts once this one is settled
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
            executor.shutdown()

    def _feed(self) -> None:
        """Hand the next jobs to the threads, up to ``window`` ahead (lock held)."""
        if not self.archiver.downloads or self.archiver.closing:
            return
        jobs = self._jobs
        ahead = self.window if self._healthy else 1
        while self._submitted < len(jobs) and self._submitted < ahead:
            if self._executor is None:
                self._executor = DaemonPool(self.workers, "tap-attachments")
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
        forgotten = []
        while self._jobs and self._jobs[0].key in stale:
            job = self._jobs.popleft()
            if job.future is not None:
                self._submitted -= 1
                if not job.future.cancel() and job.future.done() and not job.future.exception():
                    job.future.result().close()
            forgotten.append(job.ref.file_id)
        self.handled.discard_many(forgotten)
        self._planned = [k for k in self._planned if k not in stale]
