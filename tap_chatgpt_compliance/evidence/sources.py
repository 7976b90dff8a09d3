"""Read an archive back from where a Singer target wrote it: target-jsonl, target-s3, PostgreSQL.

An :class:`Archive` is the records of every stream, keyed by stream name, plus a way to read the
bytes behind a ``storage_uri`` (raw log files and attachments kept with ``file_content:
storage``). The streams read are read whole into memory (about 12 KB per message with inline raw
files and attachments, see docs/evidence.md); export reads only the streams it needs.
"""

from __future__ import annotations

import gzip
import json
import re
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

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
)


class ArchiveError(Exception):
    """The archive cannot be read (missing folder, bucket, schema, or not an archive)."""


@dataclass
class Archive:
    """The records of an archive and how to read stored objects."""

    description: str
    tables: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)
    storage_options: dict[str, t.Any] = field(default_factory=dict)
    nul_replaced: bool = False
    """The target stores NUL (``\\u0000``) in text as U+FFFD (target-postgres
    ``sanitize_null_text_characters``): verify compares events with that replacement."""

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        """Return the records of one stream (none when the stream is absent)."""
        return self.tables.get(stream, [])

    def read_object(self, uri: str) -> bytes | None:
        """Return the bytes at a storage URI, or None when there is no object there."""
        import fsspec

        options = self.storage_options if "://" in uri and not uri.startswith("file:") else {}
        try:
            with fsspec.open(uri, "rb", **options) as source:
                return t.cast("bytes", source.read())
        except FileNotFoundError:
            return None


def _parse_lines(data: bytes, where: str) -> list[dict[str, t.Any]]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError as exc:
            msg = f"{where} line {number} is not JSON ({exc})"
            raise ArchiveError(msg) from exc
    return out


_JSONL_NAME = re.compile(r"^(?P<stream>[a-z_]+?)(-[^/]*)?\.jsonl(\.gz)?$")


def from_jsonl(
    folder: str | Path,
    storage_options: dict[str, t.Any] | None = None,
    streams: t.Collection[str] = STREAMS,
) -> Archive:
    """Read a target-jsonl folder: ``<stream>.jsonl`` or ``<stream>-<timestamp>.jsonl`` files.

    Only the files of ``streams`` are read, and ``log_files``.
    """
    root = Path(folder)
    if not root.is_dir():
        msg = f"--jsonl {folder}: no such folder"
        raise ArchiveError(msg)
    archive = Archive(f"jsonl {root}", storage_options=dict(storage_options or {}))
    for path in sorted(root.iterdir()):
        match = _JSONL_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        stream = match["stream"]
        if stream not in streams and stream != "log_files":
            continue
        archive.tables.setdefault(stream, []).extend(_parse_lines(path.read_bytes(), str(path)))
    if "log_files" not in archive.tables:
        msg = f"--jsonl {folder}: no log_files*.jsonl file: not an archive of this tap"
        raise ArchiveError(msg)
    return archive


def from_s3(
    url: str,
    storage_options: dict[str, t.Any] | None = None,
    streams: t.Collection[str] = STREAMS,
) -> Archive:
    """Read target-s3 objects under ``url``: ``<url>/<stream>/…/*.jsonl[.gz]``.

    Only the objects of ``streams`` are read, and ``log_files``.
    """
    import fsspec

    options = dict(storage_options or {})
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
        paths = sorted(fs.find(root))
    except Exception as exc:  # any backend error: missing bucket, credentials, network
        msg = f"--s3 {url}: cannot list ({type(exc).__name__}: {exc})"
        raise ArchiveError(" ".join(msg.split())) from exc
    archive = Archive(f"s3 {url}", storage_options=options)
    root = root.rstrip("/")
    for path in paths:
        relative = path[len(root) :].lstrip("/")
        stream = relative.split("/", 1)[0]
        if "/" not in relative or not re.search(r"\.jsonl?(\.gz)?$", relative):
            continue
        if stream not in streams and stream != "log_files":
            continue
        data = fs.cat_file(path)
        archive.tables.setdefault(stream, []).extend(_parse_lines(data, f"s3://{path}"))
    if "log_files" not in archive.tables:
        msg = f"--s3 {url}: no log_files objects under it: not an archive of this tap"
        raise ArchiveError(msg)
    return archive


def from_postgres(
    dsn: str,
    schema: str,
    storage_options: dict[str, t.Any] | None = None,
    streams: t.Collection[str] = STREAMS,
) -> Archive:
    """Read the tables of a tenant's schema written by target-postgres.

    Only the tables of ``streams`` are read, and ``log_files``.
    """
    try:
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row
    except ImportError as exc:  # pragma: no cover - depends on the installation
        msg = "--postgres needs psycopg: pip install 'psycopg[binary]'"
        raise ArchiveError(msg) from exc
    archive = Archive(
        f"postgres schema {schema}",
        storage_options=dict(storage_options or {}),
        nul_replaced=True,
    )
    try:
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            present = {str(row["table_name"]) for row in rows}
            for stream in STREAMS:
                if stream in present and (stream in streams or stream == "log_files"):
                    query = sql.SQL("SELECT * FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(stream)
                    )
                    archive.tables[stream] = list(conn.execute(query).fetchall())
    except psycopg.Error as exc:
        msg = f"--postgres: {type(exc).__name__}: {exc}"
        raise ArchiveError(" ".join(msg.split())) from exc
    if "log_files" not in archive.tables:
        msg = f"--postgres: schema {schema!r} has no log_files table: not an archive of this tap"
        raise ArchiveError(msg)
    return archive
