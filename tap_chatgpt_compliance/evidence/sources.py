"""Read an archive back from where a Singer target wrote it: target-jsonl, target-s3, PostgreSQL.

An :class:`Archive` gives the records of every stream and a way to read the bytes behind a
``storage_uri`` (raw log files and attachments kept with ``file_content: storage``).

Two ways to read a stream:

- :meth:`Archive.iter_records` streams it, a record at a time (what ``verify`` uses: memory
  stays flat whatever the archive's size). A line or object that cannot be read is reported to
  ``on_error`` (``verify`` makes it a finding) and skipped; PostgreSQL rows come ordered by
  ``log_file_id`` where the table has it.
- :meth:`Archive.records` returns the whole stream as a list (small streams, tests); it raises
  :class:`ArchiveError` on anything unreadable.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import stat
import typing as t
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from tap_chatgpt_compliance.storage_uris import refused_uri
from tap_chatgpt_compliance.workspace_rows import SCHEMAS as _WORKSPACE_SCHEMAS

WORKSPACE_OBJECT_STREAMS = tuple(_WORKSPACE_SCHEMAS)
STORED_FILE_STREAMS = tuple(
    name
    for stream in ("gpt_files", "project_files", "library_file_contents")
    for name in (stream, f"{stream}_parts")
)
"""Knowledge, project and library files and their parts (verify hashes their bytes)."""
STREAMS = (
    "log_files",
    "log_file_parts",
    "messages",
    "conversations",
    "events",
    "unparsed_lines",
    "files",
    "file_parts",
    "users",
    "gpts",
    "projects",
    *WORKSPACE_OBJECT_STREAMS,  # issue 21: rows verify re-derives from their raw_item
    *STORED_FILE_STREAMS,  # issue 21: files whose bytes verify hashes
)
ORDERED_BY_LOG_FILE = (
    "log_file_parts",
    "messages",
    "conversations",
    "events",
    "unparsed_lines",
    "files",
)
"""Streams whose rows carry ``log_file_id`` (PostgreSQL reads them ordered by it)."""

Record = dict[str, t.Any]
OnError = t.Callable[[str, str], None]
"""``on_error(where, what)``: a line, object or row that cannot be read."""


class ArchiveError(Exception):
    """The archive cannot be read (missing folder, bucket, schema, or not an archive)."""


def _raise(where: str, what: str) -> t.NoReturn:
    msg = f"{where}: {what}"
    raise ArchiveError(msg)


@dataclass
class Archive:
    """The records of an archive and how to read stored objects.

    This base class holds its records in memory (``tables``): tests and small uses. The
    readers of targets (:func:`from_jsonl`, :func:`from_s3`, :func:`from_postgres`) stream.
    """

    description: str
    tables: dict[str, list[Record]] = field(default_factory=dict)
    storage_options: dict[str, t.Any] = field(default_factory=dict)
    nul_replaced: bool = False
    """The target stores NUL (``\\u0000``) and lone surrogates (``\\ud83d``) in text as U+FFFD
    (target-postgres ``sanitize_null_text_characters``, target-postgres-utf8): verify compares
    rows with that replacement."""
    upserts: bool = False
    """The target keeps one row per primary key, the last written (target-postgres): a
    conversation or attachment keeps only its latest row."""
    problems: list[tuple[str, str]] = field(default_factory=list)
    """``(where, what)``: what makes the rows verify reads possibly not the rows others read
    (a view in place of a table, row-level security): ``verify`` makes each a finding."""

    def streams(self) -> set[str]:
        """Return the streams the archive holds."""
        return set(self.tables)

    def iter_records(self, stream: str, on_error: OnError | None = None) -> t.Iterator[Record]:
        """Yield the records of one stream, one at a time (none when the stream is absent)."""
        del on_error
        yield from self.tables.get(stream, [])

    def records(self, stream: str) -> list[Record]:
        """Return the records of one stream as a list (raises ArchiveError if unreadable)."""
        return list(self.iter_records(stream, _raise))

    def read_object(self, uri: str, size: t.Any = None) -> bytes | None:
        """Return the bytes at a storage URI, or None when there is no object there.

        Raises :class:`RefusedURI`, before any I/O, for a URI that is no object store's
        (:func:`refused_uri`): the archive names it, and whoever can write the archive must not
        make verify or export fetch a web address or read through another protocol. Raises
        :class:`ObjectNotRead` for a local path that is no regular file (a FIFO would block the
        reader for ever, a device such as ``/dev/zero`` never ends) and for an object holding
        more than ``size`` bytes (its record's; :data:`MAX_OBJECT_BYTES` when it gives none):
        what the archive names cannot make the reader hang or exhaust its memory.
        """
        import fsspec

        why = refused_uri(uri)
        if why is not None:
            msg = f"{uri[:200]!r} was not opened: {why}"
            raise RefusedURI(msg)
        options = self.storage_options if "://" in uri and not uri.startswith("file:") else {}
        limit = size if type(size) is int and 0 <= size <= MAX_OBJECT_BYTES else MAX_OBJECT_BYTES
        try:
            fs, path = fsspec.core.url_to_fs(uri, **options)
            _regular_if_local(fs, path, uri)
            with fs.open(path, "rb") as source:
                return _read_at_most(source, limit, uri)
        except FileNotFoundError:
            return None


class RefusedURI(ValueError):
    """A storage URI named by the archive that verify and export never open."""


class ObjectNotRead(RefusedURI):
    """An object named by the archive that is not read (whole): no regular file, or too long."""


MAX_OBJECT_BYTES = 4 << 30
"""The most bytes read from one object whose record gives no size (4 GiB)."""

_CHUNK = 1 << 20


def _regular_if_local(fs: t.Any, path: str, uri: str) -> None:
    """Raise :class:`ObjectNotRead` when a local path is not a regular file (FIFO, device…)."""
    from fsspec.implementations.local import LocalFileSystem

    if not isinstance(fs, LocalFileSystem):
        return
    mode = Path(path).stat().st_mode  # follows a symlink: FileNotFoundError when dangling
    if not stat.S_ISREG(mode):
        msg = (
            f"{uri[:200]!r} was not read: not a regular file (a FIFO, device or folder; the "
            "store holds files only)"
        )
        raise ObjectNotRead(msg)


def _read_at_most(source: t.IO[bytes], limit: int, uri: str) -> bytes:
    """Read an object whole, or raise :class:`ObjectNotRead` past ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while chunk := source.read(min(_CHUNK, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            msg = (
                f"{uri[:200]!r} holds more than the {limit} bytes its record says: "
                "not read past them"
            )
            raise ObjectNotRead(msg)
    return b"".join(chunks)


def _unique_keys(pairs: list[tuple[str, t.Any]]) -> Record:
    """Return a JSON object's members as a dict; ValueError when a key is repeated.

    ``json.loads`` keeps the last of two values of one key, other readers the first: a line
    holding both is not one record (no target writes one).
    """
    record = dict(pairs)
    if len(record) != len(pairs):
        keys = [key for key, _ in pairs]
        twice = next(key for key in keys if keys.count(key) > 1)
        msg = f"the key {twice!r} twice in one object"
        raise ValueError(msg)
    return record


_loads = json.JSONDecoder(object_pairs_hook=_unique_keys).decode


def strict_json(text: str | bytes) -> t.Any:
    """Parse one JSON text whose objects repeat no key (ValueError otherwise).

    What a column holding JSON as text (a target that writes objects as text, a PostgreSQL
    ``json`` column) is read with: its objects are as one line's (:func:`_unique_keys`).
    """
    return _loads(text.decode("utf-8") if isinstance(text, bytes) else text)


_BOM = b"\xef\xbb\xbf"


def _decode(line: bytes, first: bool = True) -> t.Any:
    """Parse one JSON text (UTF-8) whose objects repeat no key (ValueError).

    A BOM is allowed before a file's first line only (an editor's): before a later line,
    stricter readers (Python's ``json.loads`` of text, jq) do not read the line.
    """
    if not first and line.startswith(_BOM):
        msg = "a byte order mark (BOM) after the first line"
        raise ValueError(msg)
    return _loads(line.decode("utf-8-sig"))


class JsonString(str):
    r"""A JSON string held by a ``json``/``jsonb`` column: a string, never JSON kept as text.

    A reader's ``event->'message'`` of a column holding ``"{\"message\": …}"`` is NULL: such a
    value equals no object, unlike the same text in a ``text`` column (JSON kept as text).
    """

    __slots__ = ()


def _column_json(text: str | bytes) -> t.Any:
    """Return a PostgreSQL ``json``/``jsonb`` value: parsed, or as text when a key repeats.

    psycopg parses them with ``json.loads`` (the last of two values of one key); kept as text,
    such a value equals no derivation (a ``column`` finding) and renders as nothing. A JSON
    string is a :class:`JsonString`.
    """
    try:
        value = strict_json(text)
    except ValueError:
        return text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return JsonString(value) if isinstance(value, str) else value


MAX_LINE_BYTES = 1 << 30
"""The longest line of a stream file read (1 GiB): a longer one is a finding, not read."""


def _packing(head: bytes, name: str | None) -> str | None:
    """Return why a file's packing is not what its name says (readers go by ``.gz``), if so."""
    if name is None or not head or (head == b"\x1f\x8b") == name.endswith(".gz"):
        return None
    if name.endswith(".gz"):
        why = "named .gz but not gzip-compressed"
    else:
        why = "gzip-compressed but its name does not end in .gz"
    return f"{why}: readers that go by the name cannot read it"


def _lines(
    source: t.IO[bytes], where: str, on_error: OnError, name: str | None = None
) -> t.Iterator[Record]:
    """Yield the JSON objects of a JSONL byte stream (gzip or not); report what is not one.

    Gzip or not by its first bytes; packing that its ``name`` does not say is reported (and
    the lines are read). Time is linear and memory bounded by :data:`MAX_LINE_BYTES` whatever
    the bytes: a file of one endless line (a sparse file of zeros) is one finding.
    """
    head = source.read(2)
    why = _packing(head, name)
    if why is not None:
        on_error(where, f"{why} (rename it)")
    stream: t.IO[bytes]
    if head == b"\x1f\x8b":
        source.seek(0)
        stream = t.cast("t.IO[bytes]", gzip.GzipFile(fileobj=source))
        first = b""
    else:
        stream, first = source, head
    lines = _LineSplitter(where, on_error)
    try:
        for chunk in itertools.chain((first,), iter(lambda: stream.read(1 << 20), b"")):
            for line in lines.feed(chunk):
                try:
                    record = _decode(line, lines.number == 1)
                except ValueError:
                    record = None  # reported by _one (a blank line is not reported)
                if type(record) is dict:
                    yield record
                else:
                    yield from _one(line, where, lines.number, on_error)
        if lines.pending and not lines.skipping:
            lines.number += 1
            yield from _one(bytes(lines.pending), where, lines.number, on_error)
    except (EOFError, OSError, zlib.error) as exc:
        on_error(where, f"unreadable after line {lines.number} ({type(exc).__name__}: {exc})")


class _LineSplitter:
    """Split chunks into lines in linear time; skip (and report) a line over the limit."""

    def __init__(self, where: str, on_error: OnError) -> None:
        self.where, self.on_error = where, on_error
        self.pending = bytearray()
        self.number = 0
        self.skipping = False

    def feed(self, chunk: bytes) -> t.Iterator[bytes]:
        """Yield the complete lines ``chunk`` ends (``number`` is the last one's)."""
        if b"\n" not in chunk:
            if not self.skipping:
                self.pending += chunk
                self._check_length()
            return
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            self.number += 1
            if self.skipping:
                self.skipping = False
                continue
            self.pending += piece
            line, self.pending = bytes(self.pending), bytearray()
            yield line
        self.pending += rest
        self._check_length()

    def _check_length(self) -> None:
        if len(self.pending) > MAX_LINE_BYTES and not self.skipping:
            self.on_error(
                f"{self.where} line {self.number + 1}",
                f"longer than {MAX_LINE_BYTES} bytes: not read (no record of the tap is)",
            )
            self.pending, self.skipping = bytearray(), True


def _one(line: bytes, where: str, number: int, on_error: OnError) -> t.Iterator[Record]:
    if not line.strip():
        return
    try:
        record = _decode(line, number == 1)
    except ValueError as exc:  # UnicodeDecodeError too
        on_error(f"{where} line {number}", f"not JSON ({exc})")
        return
    if not isinstance(record, dict):
        on_error(f"{where} line {number}", "not a JSON object")
        return
    yield record


_JSONL_NAME = re.compile(r"^(?P<stream>[a-z_]+?)(-[^/]*)?\.jsonl(\.gz)?$")


@dataclass
class JsonlArchive(Archive):
    """A target-jsonl folder, read file by file, line by line."""

    files: dict[str, list[Path]] = field(default_factory=dict)

    def streams(self) -> set[str]:
        """Return the streams with at least one file."""
        return set(self.files)

    def iter_records(self, stream: str, on_error: OnError | None = None) -> t.Iterator[Record]:
        """Yield the records of a stream's files, in file name order."""
        report = on_error or _raise
        for path in self.files.get(stream, []):
            try:
                with path.open("rb") as source:
                    yield from _lines(source, str(path), report, path.name)
            except OSError as exc:
                report(str(path), f"unreadable ({exc.strerror or exc})")


_NOT_REGULAR = (
    "not a regular file (a FIFO, socket, device or folder): not read, a reader of the folder "
    "fails or blocks on it (remove it)"
)


def from_jsonl(
    folder: str | Path,
    storage_options: dict[str, t.Any] | None = None,
    streams: t.Collection[str] = STREAMS,
) -> JsonlArchive:
    """Read a target-jsonl folder: ``<stream>.jsonl`` or ``<stream>-<timestamp>.jsonl`` files.

    Only the files of ``streams`` are read, and ``log_files``.
    """
    root = Path(folder)
    if not root.is_dir():
        msg = f"--jsonl {folder}: no such folder"
        raise ArchiveError(msg)
    archive = JsonlArchive(f"jsonl {root}", storage_options=dict(storage_options or {}))
    known = (*streams, "log_files")
    for path in sorted(root.iterdir()):
        match = _JSONL_NAME.match(path.name)
        near = next((s for s in known if path.name.startswith((f"{s}-", f"{s}."))), None)
        if near is not None and not path.is_file():  # stat only: a FIFO is never opened
            archive.problems.append((f"file {path.name}", _NOT_REGULAR))
            continue
        if not match or not path.is_file():
            if near is not None:  # `<stream>*` globs read it: not ignored
                archive.problems.append(
                    (
                        f"file {path.name}",
                        f"named like a file of {near} but not <stream>[-…].jsonl[.gz]: verify "
                        f"does not read it, a reader of {near}* would (rename or remove it)",
                    )
                )
            continue
        stream = match["stream"]
        if stream not in streams and stream != "log_files":
            continue
        archive.files.setdefault(stream, []).append(path)
    if "log_files" not in archive.files:
        msg = f"--jsonl {folder}: no log_files*.jsonl file: not an archive of this tap"
        raise ArchiveError(msg)
    return archive


@dataclass
class S3Archive(Archive):
    """target-s3 objects under a prefix, read object by object."""

    objects: dict[str, list[str]] = field(default_factory=dict)
    fs: t.Any = None

    def streams(self) -> set[str]:
        """Return the streams with at least one object."""
        return set(self.objects)

    def iter_records(self, stream: str, on_error: OnError | None = None) -> t.Iterator[Record]:
        """Yield the records of a stream's objects, in key order."""
        report = on_error or _raise
        for path in self.objects.get(stream, []):
            try:
                encoding = self._encoding(path)
                source = self.fs.open(path, "rb", block_size=1 << 22)
            except Exception as exc:  # any backend error: a removed object, network
                report(f"s3://{path}", f"unreadable ({type(exc).__name__})")
                continue
            if encoding:
                report(
                    f"s3://{path}",
                    f"stored with Content-Encoding {encoding[:40]!r}: a reader that decodes it "
                    "(any HTTP client) does not get the bytes verify read (store it without)",
                )
            try:
                with source:
                    yield from _lines(source, f"s3://{path}", report, path.rsplit("/", 1)[-1])
            except ArchiveError:
                raise
            except Exception as exc:  # a read that fails midway (network, removed object)
                report(f"s3://{path}", f"unreadable ({type(exc).__name__})")

    def _encoding(self, path: str) -> str | None:
        """Return the object's ``Content-Encoding`` when it has one but ``identity``."""
        bucket, key, _ = self.fs.split_path(path)
        head = self.fs.call_s3("head_object", Bucket=bucket, Key=key)
        encoding = str(head.get("ContentEncoding") or "")
        return encoding if encoding.strip().lower() not in ("", "identity") else None


def extra_hint(extra: str) -> str:
    """How to install the package extra ``extra``, bare or as a Meltano plugin."""
    return (
        f"install tap-chatgpt-compliance[{extra}] (Meltano: add [{extra}] to the plugin's "
        "pip_url, then meltano install)"
    )


def from_s3(
    url: str,
    storage_options: dict[str, t.Any] | None = None,
    streams: t.Collection[str] = STREAMS,
) -> S3Archive:
    """Read target-s3 objects under ``url``: ``<url>/<stream>/…/*.jsonl[.gz]``.

    Only the objects of ``streams`` are read, and ``log_files``: every object under a stream's
    folder, whatever its name (a reader of the folder, Athena or Spark, reads them all; one
    that is not JSONL is a ``read`` finding), gzip or not by its first bytes.
    """
    import fsspec

    options = dict(storage_options or {})
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
        fs.invalidate_cache()  # fsspec reuses instances: never trust an earlier listing
        listing = fs.find(root, detail=True)
    except Exception as exc:  # any backend error: missing bucket, credentials, network
        msg = f"--s3 {url}: cannot list ({type(exc).__name__}: {exc})"
        if isinstance(exc, ImportError):  # fsspec without s3fs
            msg += f": {extra_hint('s3')}"
        raise ArchiveError(" ".join(msg.split())) from exc
    archive = S3Archive(f"s3 {url}", storage_options=options, fs=fs)
    root = root.rstrip("/") + "/"
    for path in sorted(listing):
        segments = path[len(root) :].split("/") if path.startswith(root) else []
        if DOT_SEGMENTS.intersection(segments):  # wherever it is: resolved, it may be a stream's
            archive.problems.append((f"s3://{path}", _DOT_SEGMENT))
            continue
        stream = next((segment for segment in segments if segment), "")
        if stream not in streams and stream != "log_files":
            continue
        if "" in segments[:-1] or (segments[-1] == "" and listing[path].get("size") != 0):
            archive.problems.append((f"s3://{path}", _EMPTY_SEGMENT))
        elif len(segments) > 1 and segments[-1]:  # not a folder marker, nor <stream> itself
            archive.objects.setdefault(stream, []).append(path)
    if "log_files" not in archive.objects:
        msg = f"--s3 {url}: no log_files objects under it: not an archive of this tap"
        raise ArchiveError(msg)
    return archive


DOT_SEGMENTS = frozenset({".", ".."})
_DOT_SEGMENT = (
    "a key with a '.' or '..' path segment: readers that resolve it (a sync to a disk, a URL "
    "client) place it in another folder than its key names (not read; rename it)"
)
_EMPTY_SEGMENT = (
    "a key with an empty path segment ('//' or a trailing '/'): readers differ on which folder "
    "holds it (not read; rename it)"
)


@dataclass
class PostgresArchive(Archive):
    """The tables of a tenant's schema, read through server-side cursors."""

    dsn: str = ""
    schema: str = ""
    present: set[str] = field(default_factory=set)
    columns: dict[str, set[str]] = field(default_factory=dict)

    def streams(self) -> set[str]:
        """Return the streams with a table."""
        return set(self.present)

    def iter_records(self, stream: str, on_error: OnError | None = None) -> t.Iterator[Record]:
        """Yield the rows of a table (ordered by ``log_file_id`` where it has one)."""
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row
        from psycopg.types.json import set_json_loads

        if stream not in self.present:
            return
        report = on_error or _raise
        query = sql.SQL("SELECT * FROM {}.{}").format(
            sql.Identifier(self.schema), sql.Identifier(stream)
        )
        if stream in ORDERED_BY_LOG_FILE and "log_file_id" in self.columns.get(stream, ()):
            query = sql.SQL("{} ORDER BY log_file_id").format(query)
        try:
            with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
                _pin_session(conn)
                set_json_loads(_column_json, conn)  # before the cursor, which copies it
                with conn.cursor(name=f"verify_{stream}") as cursor:
                    cursor.itersize = 2000
                    cursor.execute(query)
                    yield from cursor
        except psycopg.Error as exc:
            report(f"table {self.schema}.{stream}", f"unreadable ({type(exc).__name__})")


def from_postgres(
    dsn: str,
    schema: str,
    storage_options: dict[str, t.Any] | None = None,
    streams: t.Collection[str] = STREAMS,
) -> PostgresArchive:
    """Read the tables of a tenant's schema written by target-postgres.

    Only the tables of ``streams`` are read, and ``log_files``.
    """
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:  # pragma: no cover - depends on the installation
        msg = f"--postgres needs psycopg, which is not installed: {extra_hint('postgres')}"
        raise ArchiveError(msg) from exc
    archive = PostgresArchive(
        f"postgres schema {schema}",
        storage_options=dict(storage_options or {}),
        nul_replaced=True,
        upserts=True,
        dsn=dsn,
        schema=schema,
    )
    try:
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            _pin_session(conn)
            rows = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            for row in rows:
                table = str(row["table_name"])
                if table in STREAMS and (table in streams or table == "log_files"):
                    archive.present.add(table)
                    archive.columns.setdefault(table, set()).add(str(row["column_name"]))
            archive.problems.extend(_not_stored_rows(conn, schema, sorted(archive.present)))
    except psycopg.Error as exc:
        msg = f"--postgres: {type(exc).__name__}: {exc}"
        raise ArchiveError(" ".join(msg.split())) from exc
    if "log_files" not in archive.present:
        msg = f"--postgres: schema {schema!r} has no log_files table: not an archive of this tap"
        raise ArchiveError(msg)
    return archive


_SESSION = (
    "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false), "
    "pg_catalog.set_config('extra_float_digits', '3', false), "
    "pg_catalog.set_config('DateStyle', 'ISO, MDY', false), "
    "pg_catalog.set_config('IntervalStyle', 'postgres', false), "
    "pg_catalog.set_config('TimeZone', 'UTC', false)"
)
"""What verify's session sets, whatever the role or database sets (``ALTER DATABASE … SET``):
names resolve in the catalog only (a ``search_path`` of ``evil, pg_catalog`` would let a
``pg_class`` of the database's owner answer verify's catalog queries), values reach it whole."""


def _pin_session(conn: t.Any) -> None:
    """Set verify's session as :data:`_SESSION` says (before any other query)."""
    conn.execute(_SESSION)


_RELATIONS = """
WITH RECURSIVE tree AS (
    SELECT c.oid, c.relname AS stream, c.relkind, c.relrowsecurity,
           c.oid::regclass::text AS name, 0 AS depth
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = ANY(%s)
  UNION ALL
    SELECT k.oid, tree.stream, k.relkind, k.relrowsecurity, k.oid::regclass::text, depth + 1
    FROM tree JOIN pg_catalog.pg_inherits i ON i.inhparent = tree.oid
    JOIN pg_catalog.pg_class k ON k.oid = i.inhrelid
)
SELECT stream, relkind, relrowsecurity, name, depth FROM tree ORDER BY stream, depth, name
"""
"""A stream's table and, recursively, its partitions and child tables (which its rows include)."""
_KINDS = {
    "v": "a view: verify reads what it computes for verify's query, which can differ from what "
    "it shows any other reader",
    "f": "a foreign table: its rows are not stored here, and what the server behind it answers "
    "can depend on who asks",
}


def _not_stored_rows(conn: t.Any, schema: str, tables: list[str]) -> list[tuple[str, str]]:
    """Return why the rows of a stream's table may not be the same for verify and others.

    A table is ordinary (``relkind`` r, or p partitioned), its partitions and children too, and
    has no row-level security (a policy makes the rows depend on who reads: one can hide a
    row from every reader but verify's role, or show others rows verify does not see).
    """
    out: list[tuple[str, str]] = []
    rows = conn.execute(_RELATIONS, (schema, tables)).fetchall()
    for row in rows:
        where = f"table {schema}.{row['stream']}"
        child = "" if not row["depth"] else f"its partition or child table {row['name']} is "
        kind = _KINDS.get(str(row["relkind"]))
        if kind is None and row["relkind"] not in ("r", "p"):
            kind = f"a relation of kind {row['relkind']!r}, not a table"
        if kind:
            out.append((where, child + kind))
        if row["relrowsecurity"]:
            on = f" on {row['name']}" if child else ""
            out.append(
                (
                    where,
                    f"row-level security is enabled{on}: which rows a reader sees depends on "
                    "who reads (a policy can hide rows from other readers, or show them rows "
                    "verify's role does not see)",
                )
            )
    return out
