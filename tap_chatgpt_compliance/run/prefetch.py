"""Rows read ahead by background producers, handed to the main thread in order (issue 21).

A :class:`Prefetch` runs a few producer threads. Each job is one generator of rows (one
stream's refresh, the same requests in the same order as when the main thread ran it); its rows
go to a :class:`Spool`, a temporary file, so memory stays bounded however far a producer runs
ahead. The main thread drains a job's spool (:meth:`Prefetch.rows`) when it reaches it: the
very same rows in the same order, blocking while the producer is still running. An exception of
the producer is raised in the main thread where the rows end, so the caller handles it as if it
had run the generator itself.

Nothing here writes state or records: only the main thread does, after it drained the rows.
:meth:`Prefetch.close` stops the producers (at their next row or :meth:`Prefetch.check`) and
deletes the spools; the threads are daemons, so a producer waiting for its route's rate limit
never holds the process at exit.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
import threading
import typing as t
from collections import deque

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_PRODUCERS = 8
"""Producer threads at most: most of their time is spent waiting for their route's tokens."""
WAIT_SECONDS = 0.5
"""How long the main thread waits for a row at a time (a signal is handled in between)."""
_LENGTH = struct.Struct("<Q")


class Stopped(BaseException):  # not an Exception: nothing on the way swallows it
    """The run no longer wants a producer's rows (the run ends, or its rows were abandoned)."""


class Spool:
    """The rows of one job in a temporary file: appended by its producer, read by the main thread.

    Rows are pickled (any row a generator yields comes back equal, types included).
    """

    def __init__(self) -> None:
        """Start empty, not finished."""
        self._file = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        self._cond = threading.Condition()
        self._written = 0
        self._read = 0
        self._done = False
        self._error: BaseException | None = None
        self.abandoned = False
        """True once the main thread stopped reading: the producer stops."""

    def put(self, row: t.Any) -> None:
        """Append one row (the producer's thread)."""
        data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
        with self._cond:
            if self._file.closed:
                raise Stopped
            self._file.seek(self._written)
            self._file.write(_LENGTH.pack(len(data)))
            self._file.write(data)
            self._written += _LENGTH.size + len(data)
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """Mark the end of the rows; ``error``: what ended the producer instead."""
        with self._cond:
            self._done = True
            self._error = error
            self._cond.notify_all()

    def _next(self) -> tuple[bool, t.Any]:
        """Return ``(True, row)``, or ``(False, None)`` at the end; raise the producer's error."""
        with self._cond:
            while self._read >= self._written and not self._done:
                self._cond.wait(WAIT_SECONDS)
            if self._read < self._written:
                self._file.seek(self._read)
                (size,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
                data = self._file.read(size)
                self._read += _LENGTH.size + size
                return True, pickle.loads(data)  # noqa: S301  # our own file, this run's rows
            if self._error is not None:
                raise self._error
            return False, None

    def drain(self) -> Iterator[t.Any]:
        """Yield every row in order (the main thread); stopping early abandons the rest."""
        try:
            while True:
                more, row = self._next()
                if not more:
                    return
                yield row
        finally:
            self.close()

    def close(self) -> None:
        """Delete the file; a producer still running stops at its next row."""
        with self._cond:
            self.abandoned = True
            self._file.close()


class Prefetch:
    """Jobs run by up to :data:`MAX_PRODUCERS` daemon threads, in the order added."""

    def __init__(self, producers: int = MAX_PRODUCERS) -> None:
        """Start with no job; threads start with :meth:`start`."""
        self.producers = max(1, producers)
        self._jobs: deque[tuple[Spool, Callable[[], Iterator[t.Any]]]] = deque()
        self._spools: dict[str, Spool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._released = threading.Event()
        self._local = threading.local()
        self._threads: list[threading.Thread] = []

    def add(self, key: str, rows: Callable[[], Iterator[t.Any]]) -> None:
        """Queue a job: ``rows()`` is called in a producer thread (before :meth:`start`)."""
        spool = Spool()
        self._spools[key] = spool
        self._jobs.append((spool, rows))

    def start(self) -> None:
        """Start the producer threads."""
        for number in range(min(self.producers, len(self._jobs))):
            thread = threading.Thread(target=self._work, name=f"prefetch-{number + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def has(self, key: str) -> bool:
        """Whether a job was added under ``key`` and not taken yet."""
        return key in self._spools

    def rows(self, key: str) -> Iterator[t.Any]:
        """Return the rows of the job ``key`` (once), as its generator would have yielded them."""
        return self._spools.pop(key).drain()

    def release(self) -> None:
        """Note that the main thread reached the jobs' rows (see :attr:`released`)."""
        self._released.set()

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called: a job waiting for a condition waits no more."""
        return self._released.is_set()

    def check(self) -> None:
        """In a producer: raise :class:`Stopped` if the run no longer wants its rows."""
        spool: Spool | None = getattr(self._local, "spool", None)
        if spool is not None and (spool.abandoned or self._stop.is_set()):
            raise Stopped

    def close(self, wait: float = 2.0) -> None:
        """Stop every producer, delete the spools not drained; wait a little for the threads."""
        self._stop.set()
        with self._lock:
            self._jobs.clear()
        for spool in list(self._spools.values()):
            spool.close()
        self._spools.clear()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(wait / max(1, len(self._threads)))

    def _work(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._jobs:
                    return
                spool, rows = self._jobs.popleft()
            self._local.spool = spool
            try:
                self.check()
                for row in rows():
                    self.check()
                    spool.put(row)
            except BaseException as exc:  # raised again in the main thread
                spool.finish(exc)
            else:
                spool.finish()
            finally:
                self._local.spool = None
