"""The export's index: one pass over the archive into a temporary SQLite file.

Archives are written in arrival order, not by conversation: an export reads each stream once,
keeps what it renders on disk (the delivered ``event`` of every message, attachment records and
parts), then renders conversation by conversation from there. Memory stays flat whatever the
archive's size; the disk holds about the size of the messages' events.

Only proven values are indexed: a message's conversation, time, author, actor and title come from
its delivered ``event`` (re-derived as the tap derives its columns), never from the row's columns;
a user's email and name from the user's ``raw_item`` (the API item as delivered) when present, else
from the actors of the delivered events of the conversations being exported (whose log files
verify checks for the export).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import typing as t
from datetime import datetime, timezone
from pathlib import Path

from tap_chatgpt_compliance.directory_rows import escape_lone_surrogates
from tap_chatgpt_compliance.evidence.export_text import match_key
from tap_chatgpt_compliance.evidence.sources import strict_json
from tap_chatgpt_compliance.logfiles.records import message_record
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from tap_chatgpt_compliance.evidence.sources import Archive

Record = dict[str, t.Any]
BATCH = 2_000


class Copy(t.NamedTuple):
    """A row holding a message's delivered event (OpenAI may deliver an event in several files)."""

    log_file_id: str
    key: str | None
    """The key the tap gave an event without its own ``event_id`` (else None)."""
    named: str
    """Its log file as a finding names it (``None`` for a row without one)."""


_SCHEMA = """
CREATE TABLE messages (
    id TEXT PRIMARY KEY, conversation_id TEXT, at TEXT, actor_user_id TEXT, actor_email TEXT,
    title TEXT, event_at TEXT, workspace_id TEXT, log_file_id TEXT, event TEXT, digest TEXT,
    event_key TEXT
) WITHOUT ROWID;
CREATE INDEX messages_conversation ON messages (conversation_id, at, id);
CREATE INDEX messages_actor ON messages (actor_user_id);
CREATE TABLE copies (
    id TEXT, log_file_id TEXT, event_key TEXT, seq INTEGER, named TEXT,
    PRIMARY KEY (id, log_file_id)
) WITHOUT ROWID;
CREATE TABLE actors (user_id TEXT, email TEXT, PRIMARY KEY (user_id, email)) WITHOUT ROWID;
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, name TEXT) WITHOUT ROWID;
CREATE TABLE files (
    id TEXT PRIMARY KEY, status TEXT, sha256 TEXT, size INTEGER, name TEXT,
    storage_uri TEXT, part_count INTEGER, content_base64 TEXT
) WITHOUT ROWID;
CREATE TABLE file_parts (
    file_id TEXT, part_index INTEGER, content_base64 TEXT, PRIMARY KEY (file_id, part_index)
) WITHOUT ROWID;
CREATE TABLE selected (conversation_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE unplaced (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE problems (item TEXT, detail TEXT);
CREATE TABLE log_files (
    id TEXT PRIMARY KEY, end_time TEXT, chain_hash TEXT, chain_previous TEXT, event_type TEXT
) WITHOUT ROWID;
CREATE INDEX log_files_hash ON log_files (chain_hash);
CREATE TABLE refs (word TEXT, row INTEGER, message_id TEXT, log_file_id TEXT);
CREATE INDEX refs_word ON refs (word);
"""
_OBJECT_IDS = {
    "obj_gpts": "id",
    "obj_configs": "id",
    "obj_files": "id",
    "obj_canvas": "textdoc_id",
    "obj_memories": "user_id",
}
"""The workspace objects' ids in the index (export_objects), a finding can name."""
MESSAGE_EVENT_TYPE = "CONVERSATION_MESSAGE"
"""The event type of the log files whose lines are messages."""
_TEXT_COLUMNS = 12
"""Columns of the messages table (a derived message's values hold its refs after them)."""


def utc_text(when: datetime) -> str:
    """Return ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, the year always four digits.

    Not ``strftime("%Y")``: it writes the year 999 as ``999``, which sorts after ``2026`` as
    text (a message of 0999 inside ``--since 2026-11-01``) and no longer parses as a time.
    """
    when = when.astimezone(timezone.utc)
    return f"{when.year:04d}-{when:%m-%dT%H:%M:%S.%f}Z"


def sortable(value: t.Any) -> str | None:
    """Return a time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC; sorts as text), or None."""
    when = to_datetime(value)
    return None if when is None else utc_text(when)


def _rows(
    archive: Archive, stream: str, on_error: t.Callable[[str, str], None]
) -> Iterable[Record]:
    """Return a stream's rows, streamed when the source can stream them."""
    iterate = getattr(archive, "iter_records", None)
    if iterate is None:
        return archive.records(stream)
    return t.cast("Iterable[Record]", iterate(stream, on_error))


def json_object(value: t.Any) -> dict[str, t.Any]:
    """Return a JSON object given as a dict or as its text; ``{}`` for anything else.

    A text whose objects repeat a key is nothing: readers differ on which value they take.
    """
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _shown(value: t.Any) -> str | None:
    r"""Return a text that is only shown (a title, a name) as SQLite can hold it.

    A lone surrogate becomes its escape (``\ud83d``), as every page shows it anyway.
    """
    text = _text(value)
    return None if text is None else escape_lone_surrogates(text)


class Index:
    """What an export renders, on disk, with the problems met while reading it."""

    def __init__(self, folder: Path) -> None:
        """Create the index database in ``folder`` (a temporary folder the caller removes)."""
        self.db = sqlite3.connect(folder / "export-index.sqlite3")
        # How a typed id or email is compared (both sides alike; SQLite's lower() is ASCII only).
        self.db.create_function("match_key", 1, match_key, deterministic=True)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -16000")  # 16 MB
        self.db.executescript(_SCHEMA)
        self.workspaces: set[str] = set()
        self._copies = 0
        self.unplaced = 0
        """Messages whose delivered event names no conversation or time (in no production)."""
        self.unparsed = 0
        """Lines of message log files the tap could not parse (``unparsed_lines``, kept
        byte-exact): no selection holds them, whoever's message they are."""

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def problem(self, item: str, detail: str) -> None:
        """Note something the export cannot render as proven."""
        self.db.execute("INSERT INTO problems VALUES (?, ?)", (item, detail))

    def problems(self) -> list[tuple[str, str]]:
        """Return the problems noted, in order."""
        return list(self.db.execute("SELECT item, detail FROM problems ORDER BY rowid"))

    def load(self, archive: Archive) -> None:
        """Read the streams an export needs, once each."""
        self._messages(_rows(archive, "messages", self.problem))
        self._users(_rows(archive, "users", self.problem))
        self._files(_rows(archive, "files", self.problem))
        self._file_parts(_rows(archive, "file_parts", self.problem))
        for row in _rows(archive, "log_files", self.problem):
            workspace = _text(row.get("workspace_id"))
            if workspace:
                self.workspaces.add(workspace)
            ident = _text(row.get("id"))
            if ident:
                self.db.execute(
                    "INSERT OR IGNORE INTO log_files VALUES (?, ?, ?, ?, ?)",
                    (
                        ident,
                        sortable(row.get("end_time")),
                        _text(row.get("chain_hash")),
                        _text(row.get("chain_previous")),
                        _text(row.get("event_type")),
                    ),
                )
        self._unparsed(archive)
        self.db.commit()

    def _unparsed(self, archive: Archive) -> None:
        """Count the unparsed lines of message log files (a message no selection holds)."""
        if "unparsed_lines" not in archive.streams():
            return
        messages = {
            str(r[0])
            for r in self.db.execute(
                "SELECT id FROM log_files WHERE event_type = ?", (MESSAGE_EVENT_TYPE,)
            )
        }
        for row in _rows(archive, "unparsed_lines", self.problem):
            if str(row.get("log_file_id")) in messages:
                self.unparsed += 1

    def log_files_after(self, since: str | None) -> list[str]:
        """Return the log files that may hold an event at or after ``since`` (all without it).

        A listed ``end_time`` is at or after every event of its file: a file that ended before
        ``since`` holds no message of a slice that starts there. A file without an end time is
        kept, and so is one whose ``end_time`` may be a stand-in: a listing item without one is
        recorded with the end time before it (the bookmark, which can be days before its
        events), so a file that is its chain's first, or whose ``end_time`` is not after that
        of the record its ``chain_previous`` links to, bounds nothing (all chained values; a
        record without a ``chain_hash`` is a verify finding of its own).
        """
        if since is None:
            rows = self.db.execute("SELECT id FROM log_files ORDER BY id")
        else:
            rows = self.db.execute(
                "SELECT DISTINCT f.id FROM log_files f "
                "LEFT JOIN log_files p ON p.chain_hash = f.chain_previous "
                "WHERE f.end_time IS NULL OR f.end_time >= ?1 OR (f.chain_hash IS NOT NULL "
                "AND (p.id IS NULL OR p.end_time IS NULL OR f.end_time <= p.end_time)) "
                "ORDER BY f.id",
                (since,),
            )
        return [str(r[0]) for r in rows]

    def log_files_of(self, conversation_ids: list[str]) -> set[str]:
        """Return the log files that hold a message of these conversations (any time).

        Every copy's: a message delivered in several log files is shown from a proven one.
        """
        out: set[str] = set()
        for conversation_id in conversation_ids:
            rows = self.db.execute(
                "SELECT DISTINCT c.log_file_id FROM copies c JOIN messages m USING (id) "
                "WHERE m.conversation_id = ?",
                (conversation_id,),
            )
            out.update(str(r[0]) for r in rows)
        return out

    def _messages(self, rows: Iterable[Record]) -> None:
        batch: list[tuple[t.Any, ...]] = []
        for row in rows:
            batch.append(self._message(row))
            if len(batch) >= BATCH:
                self._insert_messages(batch)
                batch = []
        self._insert_messages(batch)

    def _message(self, row: Record) -> tuple[t.Any, ...]:
        event = row.get("event")
        if isinstance(event, str):
            try:
                event = strict_json(event)
            except ValueError:  # not JSON, or a key twice: nothing to render from
                event = None
        log_file_id = str(row.get("log_file_id") or "")
        if not isinstance(event, dict):
            ident = str(row.get("id") or row.get("event_id"))
            return (ident, *(None,) * 7, log_file_id, None, None, None, [], log_file_id)
        # ASCII JSON: exact, lone surrogates included (SQLite holds UTF-8 only).
        text = json.dumps(event, sort_keys=True, separators=(",", ":"))
        key = _derived_key(row, event)
        derived = message_record(event, "", log_file_id, key)
        conversation = json_object(event.get("conversation"))
        principal = json_object(event.get("principal"))
        return (
            str(derived["id"]),
            derived["conversation_id"],
            sortable(derived["created_at"]),
            _text(derived["actor_user_id"]),
            _text(derived["actor_email"]),
            _shown(conversation.get("title")),
            sortable(derived["event_timestamp"]) or "",
            _text(principal.get("id")),
            log_file_id,
            text,
            hashlib.sha256(text.encode("ascii")).hexdigest(),
            key,
            _refs(derived, str(row.get("log_file_id")), row),
            str(row.get("log_file_id")),  # its log file as findings name it (refs)
        )

    def _insert_messages(self, batch: list[tuple[t.Any, ...]]) -> None:
        db = self.db
        for values in batch:
            ident, event, digest = values[0], values[9], values[10]
            db.executemany("INSERT INTO refs VALUES (?, ?, ?, ?)", values[_TEXT_COLUMNS])
            if event is None:
                self.problem(f"messages row {ident}", "no delivered event to render from")
                continue
            if values[1] is None or values[2] is None:
                # In no conversation or at no time: in no selection (counted once per message).
                added = db.execute("INSERT OR IGNORE INTO unplaced VALUES (?)", (ident,))
                self.unplaced += added.rowcount
                continue
            kept = db.execute("SELECT digest FROM messages WHERE id = ?", (ident,)).fetchone()
            if kept is not None and kept[0] != digest:
                self.problem(
                    f"message {ident}",
                    "two rows with different delivered events (conflicting duplicates)",
                )
                continue
            # Each log file that delivered this very event: the one shown is a proven one.
            self._copies += 1
            db.execute(
                "INSERT OR IGNORE INTO copies VALUES (?, ?, ?, ?, ?)",
                (ident, values[8], values[11], self._copies, values[13]),
            )
            if kept is not None:
                continue
            db.execute(
                "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values[:_TEXT_COLUMNS]
            )
            if values[3]:
                db.execute("INSERT OR IGNORE INTO actors VALUES (?, ?)", (values[3], values[4]))

    def _users(self, rows: Iterable[Record]) -> None:
        for row in rows:
            item = json_object(row.get("raw_item"))
            ident = _shown(item.get("id"))
            if ident is None:
                continue  # no proven value: users are known by the events' actors
            self.db.execute(
                "INSERT OR IGNORE INTO users VALUES (?, ?, ?)",
                (ident, _shown(item.get("email")), _shown(item.get("name"))),
            )

    def _files(self, rows: Iterable[Record]) -> None:
        for row in rows:
            ident = _text(row.get("id"))
            if ident is None:
                continue
            part_count = row.get("part_count")
            self.db.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
                "status = excluded.status, sha256 = excluded.sha256, "
                "size = excluded.size, name = excluded.name, "
                "storage_uri = excluded.storage_uri, part_count = excluded.part_count, "
                "content_base64 = excluded.content_base64 "
                "WHERE files.status IS NOT 'archived' AND excluded.status IS NOT NULL",
                (
                    ident,
                    _text(row.get("status")),  # its status_reason proves nothing: not kept
                    _text(row.get("sha256")),
                    row.get("size") if isinstance(row.get("size"), int) else None,
                    _shown(row.get("name")),
                    _text(row.get("storage_uri")),
                    part_count if isinstance(part_count, int) else None,
                    _text(row.get("content_base64")),
                ),
            )

    def _file_parts(self, rows: Iterable[Record]) -> None:
        for part in rows:
            try:
                index = int(part.get("part_index"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                self.problem(f"attachment {part.get('file_id')}", "a file_parts row has no index")
                continue
            self.db.execute(
                "INSERT OR IGNORE INTO file_parts VALUES (?, ?, ?)",
                (str(part.get("file_id")), index, _text(part.get("content_base64"))),
            )

    # --- queries -------------------------------------------------------------------------

    def find_users(self, wanted: str) -> list[str]:
        """Return the user ids a user id or email names (case-insensitive), from proven values.

        An exact user id names that user alone. An email can name several users (an address
        moved from one account to another, or two accounts whose addresses differ only by
        case): all of them are returned, never one picked. Both sides are compared by
        :func:`match_key` (NFC, lower case beyond ASCII too).
        """
        union = (
            "SELECT id FROM users WHERE {users} UNION "
            "SELECT user_id FROM actors WHERE {actors} ORDER BY 1"
        )
        exact = union.format(users="id = ?1", actors="user_id = ?1")
        wanted = escape_lone_surrogates(wanted.strip())  # as stored; never a UTF-8 error
        found = [str(r[0]) for r in self.db.execute(exact, (wanted,))]
        if found:
            return found
        loose = union.format(
            users="match_key(id) = ?1 OR match_key(email) = ?1",
            actors="match_key(user_id) = ?1 OR match_key(email) = ?1",
        )
        return [str(r[0]) for r in self.db.execute(loose, (match_key(wanted),))]

    def email_delivered(self, user_id: str, email: str) -> bool:
        """Whether a delivered event (OpenAI's bytes) carries ``email`` for ``user_id``."""
        query = "SELECT 1 FROM actors WHERE user_id = ? AND match_key(email) = ? LIMIT 1"
        wanted = match_key(escape_lone_surrogates(email))
        return self.db.execute(query, (user_id, wanted)).fetchone() is not None

    def named_by_id(self, user_id: str, wanted: str) -> bool:
        """Whether ``wanted`` is the user's id (in any case): no email found the user."""
        return match_key(user_id) == match_key(escape_lone_surrogates(wanted))

    def select(self, conversation_ids: Iterable[str]) -> None:
        """Note the conversations an export renders: the only events a user's email comes from.

        Their log files are the ones verify checks for the export; a row of another
        conversation, in a log file verify may not have read (``--since``), proves nothing.
        """
        self.db.execute("DELETE FROM selected")
        self.db.executemany(
            "INSERT OR IGNORE INTO selected VALUES (?)", ((c,) for c in conversation_ids)
        )

    def user(self, user_id: str) -> tuple[str | None, str | None, bool]:
        """Return a user's (name, email, whether a delivered event carried that email).

        The name is from ``raw_item``; the email from the events, else from ``raw_item``.

        The email is the one an event of a selected conversation (:meth:`select`) carried for
        the user, else the ``raw_item``'s.
        The delivered events are OpenAI's bytes; a users row (its ``raw_item`` too) is a REST
        answer no hash or chain covers: its email never stands over the events' (a name only it
        gives is shown as not proven, provenance.NOT_PROVEN_NAME).
        """
        user_id = escape_lone_surrogates(user_id)  # a participant named by a tool: any text
        found = self.db.execute("SELECT name, email FROM users WHERE id = ?", (user_id,)).fetchone()
        name, listed = found or (None, None)
        email = self.db.execute(
            "SELECT actor_email FROM messages JOIN selected USING (conversation_id) "
            "WHERE actor_user_id = ? AND actor_email IS NOT NULL ORDER BY actor_email LIMIT 1",
            (user_id,),
        ).fetchone()
        return (name, email[0], True) if email else (name, listed, False)

    def conversations_of(self, user_id: str) -> list[str]:
        """Return the conversations in which a user acted (wrote, or owns), sorted."""
        rows = self.db.execute(
            "SELECT DISTINCT conversation_id FROM messages WHERE actor_user_id = ? "
            "ORDER BY conversation_id",
            (user_id,),
        )
        return [str(r[0]) for r in rows]

    def span(
        self, conversation_id: str, since: str | None, until: str | None
    ) -> tuple[int, str | None, str | None]:
        """Return a conversation's message count, first and last time in the range."""
        where, args = _range(conversation_id, since, until)
        found = self.db.execute(f"SELECT count(*), min(at), max(at) FROM messages {where}", args)  # noqa: S608
        count, first, last = found.fetchone()
        return int(count), first, last

    def messages(
        self, conversation_id: str, since: str | None, until: str | None
    ) -> Iterator[tuple[str, dict[str, t.Any], str, list[Copy]]]:
        """Yield (id, delivered event, time, copies) of a conversation's messages, in order.

        Its copies: (log file id, key) of each row holding this very event, in archive order;
        the key is the one the tap gave an event without its own ``event_id`` (else None): the
        message's id and event id then, as in its row.
        """
        where, args = _range(conversation_id, since, until)
        cursor = self.db.execute(
            f"SELECT id, event, at FROM messages {where} ORDER BY at, id",  # noqa: S608
            args,
        )
        for ident, event, at in cursor:
            yield str(ident), json.loads(event), str(at), self.copies(str(ident))

    def copies(self, message_id: str) -> list[Copy]:
        """Return each row holding a message's very event, in archive order."""
        rows = self.db.execute(
            "SELECT log_file_id, event_key, named FROM copies WHERE id = ? ORDER BY seq",
            (message_id,),
        )
        return [Copy(str(f), k, str(n)) for f, k, n in rows]

    def title(self, conversation_id: str) -> tuple[str, str] | None:
        """Return a conversation's title and the message whose delivered event carries it.

        The title is the latest non-empty title its delivered events carry.
        """
        found = self.db.execute(
            "SELECT title, id FROM messages WHERE conversation_id = ? AND title IS NOT NULL "
            "AND title != '' ORDER BY event_at DESC, at DESC, id DESC LIMIT 1",
            (conversation_id,),
        ).fetchone()
        return (str(found[0]), str(found[1])) if found else None

    def workspaces_of(self, conversation_id: str) -> list[str]:
        """Return the workspace ids (the events' principal) of a conversation."""
        rows = self.db.execute(
            "SELECT DISTINCT workspace_id FROM messages WHERE conversation_id = ? "
            "AND workspace_id IS NOT NULL ORDER BY workspace_id",
            (conversation_id,),
        )
        return [str(r[0]) for r in rows]

    def row_messages(self, key: str, log_file_id: str) -> set[str]:
        """Return the messages of a log file whose message, event or attachment id is ``key``."""
        rows = self.db.execute(
            "SELECT message_id FROM refs WHERE word = ? AND row = 1 AND log_file_id = ?",
            (escape_lone_surrogates(key), escape_lone_surrogates(log_file_id)),
        )
        return {str(r[0]) for r in rows}

    def messages_named(self, words: Iterable[str]) -> tuple[set[str], set[tuple[str, str]]]:
        """Return what ``words`` name: messages (by an id, conversation or actor), and copies.

        A word that is a log file's id names the copy of each message that file holds
        (message id, log file id): a message another log file holds too may be shown from it.
        """
        found: set[str] = set()
        copies: set[tuple[str, str]] = set()
        for word in words:
            rows = self.db.execute(
                "SELECT message_id, row, log_file_id FROM refs WHERE word = ?",
                (escape_lone_surrogates(word),),
            )
            for message_id, own, log_file_id in rows:
                if not own and word == log_file_id:
                    copies.add((str(message_id), str(log_file_id)))
                else:
                    found.add(str(message_id))
        return found, copies

    def known(self, words: Iterable[str]) -> bool:
        """Return whether any of ``words`` is an id of the archive (a table holds it)."""
        tables = [
            r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        columns = {"log_files": "id", "users": "id", "files": "id", "refs": "word"}
        columns.update(_OBJECT_IDS)
        for word in words:
            for table, column in columns.items():
                if (
                    table in tables
                    and self.db.execute(
                        f"SELECT 1 FROM {table} WHERE {column} = ? LIMIT 1",  # noqa: S608
                        (escape_lone_surrogates(word),),
                    ).fetchone()
                ):
                    return True
        return False

    def file(self, file_id: str) -> Record | None:
        """Return an attachment's record (the archived one when there is one)."""
        return file_record(self.db, "files", file_id)

    def parts(self, file_id: str) -> dict[int, str | None]:
        """Return an attachment's parts (base64) by index."""
        return file_parts(self.db, "file_parts", file_id)


def file_record(db: sqlite3.Connection, table: str, file_id: str) -> Record | None:
    """Return the row of ``file_id`` in a files table of the index, by column name."""
    cursor = db.execute(f"SELECT * FROM {table} WHERE id = ?", (file_id,))  # noqa: S608
    found = cursor.fetchone()
    if found is None:
        return None
    return dict(zip([d[0] for d in cursor.description], found, strict=True))


def file_parts(db: sqlite3.Connection, table: str, file_id: str) -> dict[int, str | None]:
    """Return the parts (base64) of ``file_id`` in a parts table of the index, by index."""
    rows = db.execute(
        f"SELECT part_index, content_base64 FROM {table} WHERE file_id = ?",  # noqa: S608
        (file_id,),
    )
    return {int(i): c for i, c in rows}


def _range(
    conversation_id: str, since: str | None, until: str | None
) -> tuple[str, tuple[str, ...]]:
    where, args = "WHERE conversation_id = ?", [conversation_id]
    if since:
        where += " AND at >= ?"
        args.append(since)
    if until:
        where += " AND at < ?"
        args.append(until)
    return where, tuple(args)


def _refs(
    derived: Record, log_file_id: str, row: Record | None = None
) -> list[tuple[str, int, str, str]]:
    """Return what a finding can name a message by: (word, 1 for its own row's ids, id, file).

    Its message, event and attachment ids name the row, and so do the row's own ``event_id``
    and ``id`` columns (verify keys a row by its ``event_id`` column: a row made up under the
    key of a real one is named by that key, whatever ids its event carries); its conversation,
    actor and log file (as the row holds it: ``None`` for a null one) name it with others.
    """
    ident = str(derived["id"])
    stored = [row.get("event_id"), row.get("id")] if row is not None else []
    rows = [derived.get("event_id"), ident, *(derived.get("attachment_ids") or []), *stored]
    others = [derived.get("conversation_id"), derived.get("actor_user_id"), log_file_id]
    return [
        (escape_lone_surrogates(str(word)), own, ident, log_file_id)
        for own, found in ((1, rows), (0, others))
        for word in found
        if isinstance(word, str) and word
    ]


def _derived_key(row: Record, event: dict[str, t.Any]) -> str | None:
    """Return the key the tap gave an event when not its own ``event_id`` (row says so)."""
    if row.get("event_id_derived") and isinstance(row.get("event_id"), str):
        return str(row["event_id"])
    return None if _text(event.get("event_id")) else _text(row.get("event_id"))
