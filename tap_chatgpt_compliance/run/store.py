"""Run-wide memory that stays small: maps kept in memory up to a size, then in a temporary file.

What a run must remember across all its log files (the keys of the events kept, for dedupe; what
it has seen of each conversation; the attachments already handled) grows with the workspace: a
30-day backfill holds tens of millions of messages. Each :class:`SpillMap` lives in a dict up to
``limit`` entries, then moves to a table of a temporary SQLite file (deleted at the end of the
run), read and written a log file at a time (``get_many``/``set_many``), with a page cache of
about 512 KiB. Memory therefore stays flat however long the run; the exact semantics are kept
(dedupe across the whole run, conversations seen over the whole run).

Once spilled, a map gathers its writes in a dict of up to ``WRITE_BATCH`` entries, written to the
table in key order when full: one pass over the table's pages instead of a random page per key.
The map of event keys (:class:`HashedKeys`) also keeps a Bloom filter of its keys
(:class:`KeyFilter`, 2 MiB): nearly every event key looked up is new, and a key the filter has
never seen is answered without a query.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import marshal
import os
import socket
import sqlite3
import tempfile
import threading
import time
import typing as t
from datetime import datetime, timezone
from pathlib import Path

K = t.TypeVar("K", int, str)
V = t.TypeVar("V")

BATCH = 500
"""Keys per SELECT (below SQLite's limit on parameters)."""
CACHE_KIB = 512
WRITE_BATCH = 5_000
"""Most writes a spilled map gathers before it writes them to its table (no more than its
``limit``): fewer, denser passes over the table's pages, and a key seen again soon after (a
duplicate in the next log file) is answered from memory."""
FILTER_BITS = 1 << 24
"""Bits of a spilled map's key filter (2 MiB): about 1% false positives at a million keys, 9%
at three million; a false positive only costs a query."""


class KeyFilter:
    """A Bloom filter of ``hash(key)``: two bit positions, its low and next 24 bits.

    Event keys are hashes already (:class:`HashedKeys`), and ``hash`` of a string is SipHash:
    the bits need no mixing. Not thread-safe: a map uses it under its file's lock.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._bits = bytearray(FILTER_BITS // 8)

    def add_many(self, keys: t.Iterable[t.Any]) -> None:
        """Remember keys."""
        bits, low = self._bits, FILTER_BITS - 1
        for key in keys:
            h = hash(key)
            p = h & low
            bits[p >> 3] |= 1 << (p & 7)
            p = (h >> 24) & low
            bits[p >> 3] |= 1 << (p & 7)

    def maybe(self, keys: t.Iterable[t.Any]) -> list[t.Any]:
        """Return the keys that may have been added (never leaves out one that was)."""
        bits, low = self._bits, FILTER_BITS - 1
        found = []
        for key in keys:
            h = hash(key)
            p = h & low
            q = (h >> 24) & low
            if bits[p >> 3] >> (p & 7) & 1 and bits[q >> 3] >> (q & 7) & 1:
                found.append(key)
        return found


RUN_FILE_PREFIX = "tap-chatgpt-compliance-run-"
"""A run file is named ``<prefix><pid>-<random>.sqlite`` in the temporary directory."""


def remove_stale_run_files(directory: str | None = None) -> list[Path]:
    """Delete the run files of processes that no longer exist (runs that were killed).

    A run deletes its own file when it ends; a SIGKILLed one cannot. Return what was deleted.
    """
    folder = Path(directory or tempfile.gettempdir())
    removed = []
    for path in folder.glob(f"{RUN_FILE_PREFIX}*-*.sqlite"):
        pid_text = path.name[len(RUN_FILE_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


class RunFile:
    """The temporary SQLite file of a run, opened at the first spill, deleted at :meth:`close`."""

    def __init__(self, directory: str | None = None) -> None:
        """Create nothing yet: most runs never spill."""
        self._directory = directory
        self._db: sqlite3.Connection | None = None
        self._path: str | None = None
        self.lock = threading.RLock()

    def connection(self) -> sqlite3.Connection:
        """Return the connection, creating the file at first use."""
        with self.lock:
            if self._db is None:
                remove_stale_run_files(self._directory)
                fd, self._path = tempfile.mkstemp(
                    prefix=f"{RUN_FILE_PREFIX}{os.getpid()}-", suffix=".sqlite", dir=self._directory
                )
                os.close(fd)
                db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA locking_mode=EXCLUSIVE")  # one process: no lock per statement
                db.execute("PRAGMA journal_mode=OFF")
                db.execute("PRAGMA synchronous=OFF")
                db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
                db.execute("PRAGMA temp_store=FILE")
                self._db = db
            return self._db

    @property
    def path(self) -> str | None:
        """Return the file's path once created."""
        return self._path

    def close(self) -> None:
        """Close and delete the file."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._path is not None:
                with contextlib.suppress(OSError):
                    Path(self._path).unlink()
                self._path = None


class SpillMap(t.Generic[K, V]):
    r"""A map of the run: a dict up to ``limit`` entries, then a table of the run's file.

    ``encode``/``decode`` turn values into plain values and back (by default, the identity);
    SQLite stores ints and strings as they are, anything else (lists, tuples of plain values)
    as ``marshal`` bytes: the file is the run's own, written and read by this process only.
    A string SQLite cannot hold as text (a served id with a lone surrogate, JSON's ``\ud83d``)
    goes in as its bytes (:func:`_key`, :func:`_encode`) and comes back exactly.
    """

    def __init__(
        self,
        name: str,
        run_file: RunFile,
        limit: int,
        encode: t.Callable[[V], t.Any] | None = None,
        decode: t.Callable[[t.Any], V] | None = None,
    ) -> None:
        """Name the table; spill past ``limit`` entries."""
        self.name = name
        self.limit = limit
        self._file = run_file
        self._memory: dict[K, V] | None = {}
        self._writes: dict[K, V] = {}
        """Entries of the spilled map not written to its table yet (below ``WRITE_BATCH``)."""
        self.filtered = False
        """Whether the map keeps a :class:`KeyFilter` once spilled (most keys looked up new)."""
        self._filter: KeyFilter | None = None
        """Every key of the spilled map (a deleted key stays: a false positive)."""
        self._encode: t.Callable[[V], t.Any] = (
            _encode if encode is None else (lambda value: _encode(encode(value)))
        )
        self._decode: t.Callable[[t.Any], V] = (
            _decode if decode is None else (lambda value: decode(_decode(value)))
        )

    @property
    def spilled(self) -> bool:
        """Whether the map has moved to the run's file."""
        return self._memory is None

    def __len__(self) -> int:
        """Return the number of entries."""
        if self._memory is not None:
            return len(self._memory)
        with self._file.lock:
            self._flush()
            query = f"SELECT COUNT(*) FROM {self.name}"  # noqa: S608
            return int(self._file.connection().execute(query).fetchone()[0])

    def get_many(self, keys: t.Iterable[K]) -> dict[K, V]:
        """Return the entries of the keys present."""
        memory = self._memory
        if memory is not None:
            return {key: memory[key] for key in keys if key in memory}
        found: dict[K, V] = {}
        decode = self._decode
        with self._file.lock:
            writes = self._writes
            wanted = []
            for key in dict.fromkeys(keys):
                if key in writes:
                    found[key] = writes[key]
                else:
                    wanted.append(key)
            if self._filter is not None:
                wanted = self._filter.maybe(wanted)
            db = self._file.connection()
            for start in range(0, len(wanted), BATCH):
                chunk = wanted[start : start + BATCH]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT k, v FROM {self.name} WHERE k IN ({marks})"  # noqa: S608
                for key, value in db.execute(query, [_key(key) for key in chunk]):
                    found[_unkey(key)] = decode(value)
        return found

    def set_many(self, items: t.Mapping[K, V]) -> None:
        """Add or replace entries."""
        memory = self._memory
        if memory is not None:
            memory.update(items)
            if len(memory) > self.limit:
                self._spill()
            return
        with self._file.lock:
            if self._filter is not None:
                self._filter.add_many(items)
            self._writes.update(items)
            if len(self._writes) >= min(self.limit, WRITE_BATCH):
                self._flush()

    def _flush(self) -> None:
        """Write the gathered entries to the table, in key order (lock held)."""
        writes = self._writes
        if not writes:
            return
        encode = self._encode
        rows = [(_key(key), encode(writes[key])) for key in sorted(writes)]
        with _transaction(self._file.connection()) as db:
            db.executemany(
                f"INSERT INTO {self.name} (k, v) VALUES (?, ?) "  # noqa: S608
                "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                rows,
            )
        self._writes = {}

    def add_new(self, keys: t.Iterable[K], value: V) -> list[K]:
        """Add the keys not present yet (with ``value``); return them, in order."""
        keys = list(dict.fromkeys(keys))
        present = self.get_many(keys)
        new = [key for key in keys if key not in present]
        if new:
            self.set_many(dict.fromkeys(new, value))
        return new

    def discard_many(self, keys: t.Iterable[K]) -> None:
        """Remove entries (absent keys are ignored)."""
        memory = self._memory
        if memory is not None:
            for key in keys:
                memory.pop(key, None)
            return
        keys = list(keys)
        with self._file.lock:
            for key in keys:
                self._writes.pop(key, None)
            with _transaction(self._file.connection()) as db:
                db.executemany(
                    f"DELETE FROM {self.name} WHERE k = ?",  # noqa: S608
                    [(_key(key),) for key in keys],
                )

    def _spill(self) -> None:
        memory = t.cast("dict[K, V]", self._memory)
        encode = self._encode
        rows = [(_key(key), encode(value)) for key, value in memory.items()]
        with self._file.lock, _transaction(self._file.connection()) as db:
            db.execute(f"CREATE TABLE {self.name} (k PRIMARY KEY, v) WITHOUT ROWID")
            db.executemany(f"INSERT INTO {self.name} (k, v) VALUES (?, ?)", rows)  # noqa: S608
        with self._file.lock:
            if self.filtered:
                self._filter = KeyFilter()
                self._filter.add_many(memory)
            self._memory = None


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> t.Iterator[sqlite3.Connection]:
    """Run the block in one transaction, rolled back if it fails (the map stays usable)."""
    db.execute("BEGIN")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _storable(text: str) -> bool:
    """Whether SQLite can hold ``text`` as text (UTF-8): not with a lone surrogate."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _key(key: t.Any) -> t.Any:
    """Return a key as SQLite holds it: a string with a lone surrogate as its bytes.

    The bytes (UTF-8 with ``surrogatepass``) are a BLOB, never equal to any TEXT key, so no
    two keys meet; :func:`_unkey` gives the string back exactly.
    """
    if type(key) is str and not _storable(key):
        return key.encode("utf-8", "surrogatepass")
    return key


def _unkey(key: t.Any) -> t.Any:
    """Return the key of :func:`_key` (a map's keys are ints or strings, never bytes)."""
    return key.decode("utf-8", "surrogatepass") if type(key) is bytes else key


def _encode(value: t.Any) -> t.Any:
    if value is None or type(value) is int or (type(value) is str and _storable(value)):
        return value
    return marshal.dumps(value)  # lists and tuples of plain values: a few µs, written by us


def _decode(value: t.Any) -> t.Any:
    if type(value) is bytes:
        return marshal.loads(value)  # noqa: S302  (the run's own temporary file)
    return value


class HashedKeys:
    """Keep a store's keys as 64-bit hashes of the event keys: a fifth of the memory or disk.

    Two different keys of one run share a hash with a probability of about 3e-6 for ten
    million events; the fingerprint (type and line) must match too for an event to be dropped,
    so such a collision can only make an event count as a clash (kept under a derived key),
    never drop it.
    """

    def __init__(self, store: SpillMap[int, t.Any]) -> None:
        """Wrap a map keyed by hashes (it keeps a key filter once spilled)."""
        self.store = store
        store.filtered = True

    def get_many(self, keys: t.Iterable[str]) -> dict[str, t.Any]:
        """Return the fingerprints kept under the keys present."""
        by_hash = {hash(key): key for key in keys}
        return {by_hash[h]: value for h, value in self.store.get_many(by_hash).items()}

    def set_many(self, items: t.Mapping[str, t.Any]) -> None:
        """Add or replace the fingerprints of keys."""
        self.store.set_many({hash(key): value for key, value in items.items()})


LEASE_PREFIX = "tap-chatgpt-compliance-lease-"
"""A workspace's lease is ``<prefix><hash of api_url and workspace_id>.json`` beside the run
files (the temporary directory)."""
HEARTBEAT_SECONDS = 15.0


class LeaseHeld(Exception):
    """Another live run holds the workspace's lease."""


class WorkspaceLease:
    """One run per workspace: an exclusive lock on a lease file, with who holds it.

    The lock is the operating system's (``flock``): it is released when the holder ends, however
    it ends (SIGKILL, OOM), so the lease of a dead run is taken over at once. The file says who
    holds it (pid, host, start, heartbeat every ``HEARTBEAT_SECONDS``) for the refusal line.
    """

    def __init__(self, api_url: str, workspace_id: str, directory: str | None = None) -> None:
        """Name the lease of a workspace (the same workspace behind another URL is another)."""
        digest = hashlib.sha256(f"{api_url.rstrip('/')}\n{workspace_id}".encode()).hexdigest()
        folder = Path(directory or tempfile.gettempdir())
        self.path = folder / f"{LEASE_PREFIX}{digest[:24]}.json"
        self.workspace_id = workspace_id
        self._fd: int | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._started = time.time()

    def acquire(self) -> None:
        """Take the lease, or raise :class:`LeaseHeld` naming the run that holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_lease(fd)
                os.close(fd)
                raise LeaseHeld(self._refusal(holder)) from None
            try:
                current = self.path.stat().st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
            os.close(fd)  # the holder deleted the file as it ended: lock the new one
        self._fd = fd
        self._write()
        thread = threading.Thread(target=self._beat, name="tap-lease-heartbeat", daemon=True)
        thread.start()

    def release(self) -> None:
        """Give the lease back and delete its file (a run that opened it meanwhile retries)."""
        self._stop.set()
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    self.path.unlink()
                os.close(fd)  # closing releases the lock

    def _write(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._write_locked(self._fd)

    def _write_locked(self, fd: int) -> None:
        data = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started_at": _iso(self._started),
                "heartbeat_at": _iso(time.time()),
            }
        ).encode()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self._write()

    def _refusal(self, holder: dict[str, t.Any]) -> str:
        who = (
            f"pid {holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started_at')}, last heartbeat {holder.get('heartbeat_at')}"
            if holder
            else "a run starting now"
        )
        return (
            f"Another run of workspace {self.workspace_id} is in progress ({who}); this one "
            "stops before reading anything: two runs at once write every record twice and "
            "the older bookmark can be saved last. Wait for it to end (its lease is released "
            f"when it ends, even if it is killed): {self.path}."
        )


def _read_lease(fd: int) -> dict[str, t.Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
