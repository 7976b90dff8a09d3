"""Produce a custodian's (or one conversation's) ChatGPT messages for review: RSMF 2.0 and HTML.

Only what is proven is shown: every message is rendered from its delivered ``event`` (the JSON of
the raw log line, which ``verify`` traces to the raw file hashing to OpenAI's SHA-256), never from
the row's derived columns; custodians are found by proven values (users' ``raw_item``, the events'
actors). The command line verifies the archive first and refuses to produce when verify (or the
export itself) has findings, unless ``--allow-findings``, which stamps every page with them.

Output folder:

- ``rsmf/<conversation>_<YYYY-MM-DD>_<n>.rsmf``: one RFC 5322 email per conversation per UTC day
  (at most :data:`MAX_EVENTS` events each), ``X-RSMF-*`` headers, a plain-text skim and an
  ``rsmf.zip`` attachment holding ``rsmf_manifest.json`` (RSMF 2.0.0) and the attachments (the
  archived bytes, or a text placeholder naming why they are missing);
- ``html/<conversation>.html``: one self-contained transcript per conversation, headed with the
  custodian, workspace, date range, export time and verify verdict; ``index.html``;
- ``production_manifest.json`` and ``.csv``: every produced file with its SHA-256, conversation,
  message count, production numbers and source log files; ``production_messages.csv``: every
  message with its production number; optionally ``production.dat`` (Concordance load file).

The production is written in ``<out>/INCOMPLETE-export-in-progress`` and moved into ``<out>``
once complete (its manifest last); a failure removes it.

The same archive, selection and ``export_time`` always give byte-identical files. Export streams:
it indexes the archive once into a temporary SQLite file and renders conversation by conversation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import hashlib
import html
import json
import re
import shutil
import tempfile
import time
import typing as t
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

from tap_chatgpt_compliance.directory_rows import escape_lone_surrogates
from tap_chatgpt_compliance.evidence import dat
from tap_chatgpt_compliance.evidence.export_findings import Concerns, located
from tap_chatgpt_compliance.evidence.export_index import Copy, Index, sortable, utc_text
from tap_chatgpt_compliance.evidence.export_index import json_object as _obj
from tap_chatgpt_compliance.evidence.export_objects import (
    OBJECT_STREAMS,
    ObjectIndex,
    ObjectPages,
    Selection,
)
from tap_chatgpt_compliance.evidence.export_objects import select as select_objects
from tap_chatgpt_compliance.evidence.export_text import (
    csv_cell,
    file_stem,
    inert_name,
    one_line,
    short_hash,
    show_controls,
)
from tap_chatgpt_compliance.evidence.hashed_file import HashedFile
from tap_chatgpt_compliance.evidence.provenance import (
    NOT_PROVEN_NAME,
    PROVENANCE,
    TAP_RECORD,
    UNPROVEN_MARK,
    messages_provenance,
)
from tap_chatgpt_compliance.evidence.sources import ArchiveError
from tap_chatgpt_compliance.logfiles.records import message_record
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_chatgpt_compliance.evidence.sources import Archive

Record = dict[str, t.Any]
RSMF_VERSION = "2.0.0"
MAX_EVENTS = 10_000
"""Relativity's advice: at most this many events per RSMF file."""
PLATFORM = "ChatGPT Enterprise"
GENERATOR = "tap-chatgpt-compliance export"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
PROGRESS_EVERY = 15.0
"""Seconds between progress lines, as the tap."""
LISTED_EMAIL = "(the users listing's email, not proven)"
"""Follows an email no delivered event carried: the users listing's, a REST answer."""
LISTED_EMAIL_SOURCE = (
    "the users listing (a REST answer: no OpenAI hash, on no chain), not a delivered event: "
    "not proven"
)
"""An RSMF participant's ``email source`` when no delivered event carried the email."""
IN_PROGRESS = "INCOMPLETE-export-in-progress"
"""The folder inside ``--out`` a production is written in, moved out of it only once complete."""
PLACEHOLDER_SUFFIX = "-NOT-ARCHIVED.txt"
EMPTY_TOOL_OUTPUT = "(empty tool output)"
EMPTY_MESSAGE = "(empty message)"
STAMPED = 20
"""Findings listed one by one on each page (all of them are in production_manifest.json)."""
UNPROVEN = "named in the verify report"
"""How an attachment a finding or limitation of verify names is counted (never as verified)."""
PREFIX = re.compile(r"[A-Za-z0-9._-]{0,24}")
EXPORT_STREAMS = ("messages", "users", "files", "file_parts", *OBJECT_STREAMS)
"""What an export renders from (verify reads the whole archive before)."""
MANIFEST_COLUMNS = (
    "path",
    "sha256",
    "md5",
    "bytes",
    "kind",
    "conversation_id",
    "title",
    "message_count",
    "first_production_number",
    "last_production_number",
    "source_log_files",
    "verify",
    "note",
)
MESSAGE_COLUMNS = (
    "production_number",
    "message_id",
    "conversation_id",
    "timestamp",
    "participant",
    "author_type",
    "rsmf_path",
    "html_path",
    "event_id",
    "log_file_id",
    "verify",
    "note",
)
"""``verify``: the verdict; ``note``: the NOT PROVEN mark of a message a finding names."""


class SelectionError(ArchiveError):
    """The selection matches nothing (no such custodian or conversation, or an empty range)."""


@dataclass
class Stamp:
    """What verify said about the archive, shown on every page of the production."""

    verdict: str
    findings: list[str] = field(default_factory=list)
    located: list[tuple[str, str]] | None = None
    """Each finding's (check, item), what it concerns is read from (else parsed from its line)."""
    unproven_columns: list[str] = field(default_factory=list)
    """``stream.column`` that verify names as not proven (verify.UNPROVEN_COLUMNS)."""

    def places(self) -> list[tuple[str, str]]:
        """Return each finding's (check, item)."""
        if self.located is not None:
            return self.located
        return [located(line) for line in self.findings]

    @classmethod
    def unverified(cls) -> Stamp:
        """Return the stamp of an export run without verify (the API, in tests)."""
        return cls("VERDICT: not verified (exported without running verify)")


@dataclass
class Message:
    """One message of the production, derived from its delivered event."""

    record: Record
    at: datetime
    participant: str
    number: str
    """Its production number."""
    copies: list[Copy] = field(default_factory=list)
    """The rows holding its delivered event, the one shown first (its log file, its key)."""

    @property
    def id(self) -> str:
        """Return the message id."""
        return str(self.record["id"])


@dataclass
class Attachment:
    """One attachment as produced: the archived bytes, or a placeholder."""

    entry: str
    display: str
    data: bytes
    status: str
    """``included``, or the reason it is a placeholder (expired, not in the archive, …)."""
    sha256: str | None
    """The verified SHA-256 of the archived bytes; None for a placeholder."""
    file_id: str = ""
    """The attachment's id (a finding that names it marks it NOT PROVEN)."""


@dataclass
class Conversation:
    """A selected conversation: its messages in the range."""

    id: str
    count: int
    first: str
    last: str


def _time(value: t.Any) -> datetime | None:
    when = value if isinstance(value, datetime) else to_datetime(value)
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


def _iso(when: datetime) -> str:
    return utc_text(when)


def parse_bound(value: str | None, *, end: bool) -> datetime | None:
    """Return a --since/--until bound; a bare date as --until covers that whole day."""
    if not value:
        return None
    name = "--until" if end else "--since"
    try:
        day = _day(value)
        when = day or _time(value)
        if when is not None and end and day is not None:
            when += timedelta(days=1)
    except OverflowError:  # in UTC (or its next day) it leaves the years 1-9999
        msg = f"{name} {value!r} is outside the years 1 to 9999 in UTC (use 2026-11-26)"
        raise SelectionError(msg) from None
    if when is None:
        msg = f"{name} {value!r} is not a date (use 2026-11-26)"
        raise SelectionError(msg)
    return when


_ZONE = re.compile(r"(?:[Zz]|(?P<sign>[+-])(?P<h>\d\d)(?::?(?P<m>\d\d))?)$")
"""A UTC offset at the end of an ISO 8601 value."""


def _day(value: str) -> datetime | None:
    """Return the start of a bound that is a date without a time (any ISO 8601 form), else None.

    ``2026-11-26``, ``20261126``, ``2026-W48-4``, ``2026-11-26Z``: that day in UTC;
    ``2026-11-26+01:00``: that day where the offset is (Python reads it as 01:00 otherwise).
    """
    text = value.strip()
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
    except ValueError:
        pass
    zone = _ZONE.search(text)
    if zone is None:
        return None
    try:
        day = date.fromisoformat(text[: zone.start()])
    except ValueError:
        return None
    offset = timedelta(hours=int(zone["h"] or 0), minutes=int(zone["m"] or 0))
    if zone["sign"] == "-":
        offset = -offset
    if offset >= timedelta(days=1):
        return None
    return datetime.combine(day, datetime.min.time(), timezone(offset)).astimezone(timezone.utc)


def parse_prefix(value: str | None) -> str:
    """Return a --production-prefix (letters, digits, ``.``, ``_``, ``-``; at most 24)."""
    if value is None:
        return ""
    if not PREFIX.fullmatch(value):
        msg = (
            f"--production-prefix {one_line(value)!r}: use at most 24 letters, digits, '.', '_' "
            "or '-' (e.g. ACME-)"
        )
        raise SelectionError(msg)
    return value


def parse_export_time(value: str | None) -> datetime:
    """Return the export time: --export-time, else now (UTC, whole seconds)."""
    if not value:
        return datetime.now(timezone.utc).replace(microsecond=0)
    when = _time(value)
    if when is None:
        msg = f"--export-time {one_line(value)!r} is not a time (use 2026-11-26T12:00:00Z)"
        raise SelectionError(msg)
    return when


class Production:
    """What an export wrote: every file listed (on disk, in the index database)."""

    def __init__(self, out: Path, db: t.Any) -> None:
        """Write into ``out``; list files in the ``db`` (the export index's SQLite)."""
        self.out = out
        self.db = db
        db.execute(
            "CREATE TABLE IF NOT EXISTS produced (key TEXT PRIMARY KEY, path TEXT, sha256 TEXT, "
            "md5 TEXT, bytes INTEGER, kind TEXT, conversation_id TEXT, title TEXT, "
            "message_count INTEGER, first_number TEXT, last_number TEXT, "
            "source_log_files TEXT, custodian TEXT, begin TEXT, end TEXT, not_proven INTEGER)"
        )
        db.execute("DELETE FROM produced")
        db.execute(
            "CREATE TABLE IF NOT EXISTS produced_conversations (id TEXT PRIMARY KEY, title TEXT, "
            "path TEXT, count INTEGER, first TEXT, last TEXT, numbers TEXT, sources TEXT, "
            "not_proven INTEGER)"
        )
        db.execute("DELETE FROM produced_conversations")
        self.kinds: Counter[str] = Counter()
        self.attachments: Counter[str] = Counter()
        """Attachment entries of the production: ``included``, or a placeholder's status."""
        self.messages = 0
        self.conversations = 0
        self.not_proven: Counter[str] = Counter()
        """What the production shows marked NOT PROVEN: messages, attachments, objects."""
        self.objects: list[tuple[str, str, int, str]] = []
        """Workspace-object pages: (path, title, items, kind) (export_objects)."""
        self.object_items = 0
        self.first: str | None = None
        self.last: str | None = None
        self.manifest_digests: dict[str, str] = {}
        """The SHA-256 of ``production_manifest.json`` and ``.csv``: no file of the production
        can list them, so the summary gives them, to be kept apart from the production."""

    @property
    def files(self) -> list[dict[str, t.Any]]:
        """Return the files written, sorted by path."""
        return list(self.iter_files())

    def iter_files(self, kind: str | None = None) -> Iterator[dict[str, t.Any]]:
        """Yield the files written (of one kind), sorted by path."""
        cursor = (
            self.db.execute("SELECT * FROM produced WHERE kind = ? ORDER BY path", (kind,))
            if kind
            else self.db.execute("SELECT * FROM produced ORDER BY path")
        )
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def iter_conversations(self) -> Iterator[dict[str, t.Any]]:
        """Yield the conversations produced, sorted by id."""
        cursor = self.db.execute("SELECT * FROM produced_conversations ORDER BY id")
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def summary_lines(self, seconds: float) -> list[str]:
        """Return the summary block printed at the end of an export."""
        kinds = self.kinds
        included = self.attachments["included"]
        unproven = self.attachments[UNPROVEN]
        placeholders = Counter(
            {s: n for s, n in self.attachments.items() if s not in ("included", UNPROVEN)}
        )
        extra = " and production.dat" if kinds["dat"] else ""
        return [
            f"Exported {self.messages:,} messages of {self.conversations:,} "
            f"conversations to {self.out} in {seconds:.1f} s.",
            f"  Production: {self.out.resolve()}",
            f"  Files: {sum(kinds.values()) + 2:,}: {kinds['rsmf']:,} RSMF, {kinds['html']:,} HTML "
            f"transcripts, {kinds['index']:,} index.html, {kinds['attachment']:,} attachment "
            f"files, production_messages.csv{extra}, production_manifest.json and .csv (every "
            "file's SHA-256).",
            *(
                f"  Manifest: {name} SHA-256 {digest} (keep it apart from the production: "
                "every file's hash is in the manifest, an edit of either then shows)."
                for name, digest in sorted(self.manifest_digests.items(), reverse=True)
            ),
            f"  Conversations: {self.conversations:,}; messages: {self.messages:,}"
            + (f", {self.first} .. {self.last}." if self.first else "."),
            f"  Attachments: {included:,} included (archived bytes, SHA-256 verified), "
            + (
                f"{unproven:,} included but named in the verify report (NOT PROVEN), "
                if unproven
                else ""
            )
            + f"{sum(placeholders.values()):,} placeholders"
            + (
                " ("
                + ", ".join(f"{n:,} {status}" for status, n in sorted(placeholders.items()))
                + ")."
                if placeholders
                else "."
            ),
        ] + (
            [
                f"  Workspace objects: {kinds['canvas']:,} canvases, {kinds['memories']:,} "
                f"memory pages, {kinds['gpt']:,} GPTs; {self.object_items:,} items numbered "
                f"(production_objects.csv), {kinds['knowledge_file']:,} knowledge files "
                "included."
            ]
            if self.objects
            else []
        )

    def claim(self, relative: str, sha256: str) -> bool:
        """Return True when ``relative`` is new; False when it holds the same bytes already.

        Two different files never share a name, also on a case-insensitive file system: a clash
        is an error (never a file silently dropped).
        """
        found = self.db.execute(
            "SELECT path, sha256 FROM produced WHERE key = ?", (relative.casefold(),)
        ).fetchone()
        if found is None:
            return True
        if found[0] == relative and found[1] == sha256:
            return False
        msg = f"two produced files would share the name {relative!r} (with {found[0]!r})"
        raise ArchiveError(msg)

    def write(self, relative: str, data: bytes, **about: t.Any) -> None:
        """Write one file of the production and list it with its SHA-256 (once)."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.claim(relative, sha256):
            return
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.listed(relative, sha256, hashlib.md5(data).hexdigest(), len(data), **about)  # noqa: S324

    def listed(self, relative: str, sha256: str, md5: str, size: int, **about: t.Any) -> None:
        """List a file written (its hashes and what it holds)."""
        kind = str(about.get("kind", ""))
        self.kinds[kind] += 1
        if about.get("not_proven") and kind in ("attachment", "knowledge_file"):
            self.not_proven["attachments"] += 1
        self.db.execute(
            "INSERT INTO produced VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                relative.casefold(),
                relative,
                sha256,
                md5,
                size,
                kind,
                about.get("conversation_id", ""),
                about.get("title", ""),
                about.get("message_count", 0),
                about.get("first_number", ""),
                about.get("last_number", ""),
                ";".join(about.get("source_log_files", [])),
                about.get("custodian", ""),
                about.get("begin", ""),
                about.get("end", ""),
                about.get("not_proven", 0),
            ),
        )


class Exporter:
    """Index an archive once, select messages, write the production."""

    def __init__(self, archive: Archive, workdir: str | Path | None = None) -> None:
        """Index the archive's messages, users and attachments in a temporary folder."""
        self.archive = archive
        self._tmp = tempfile.TemporaryDirectory(prefix="chatgpt-export-", dir=workdir)
        self.index = Index(Path(self._tmp.name))
        self.index.load(archive)
        self.objects = ObjectIndex(self.index.db, self.index.problem)
        self.objects.load(archive)
        self.object_selection = Selection()
        """The custodian's canvases, memories and GPTs selected (export_objects)."""
        self._names: dict[str, tuple[str | None, str | None, bool]] = {}
        self.custodian_note: str | None = None
        """How the custodian was found when no proven value names them (the listing's email)."""

    def close(self) -> None:
        """Remove the index."""
        self.index.close()
        self._tmp.cleanup()

    def __enter__(self) -> Exporter:
        """Return the exporter."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the index."""
        self.close()

    def slice_log_files(
        self, conversations: list[Conversation], since: datetime | None
    ) -> list[str]:
        """Return the log files a slice's rows can come from (what verify must check).

        The files holding a message of the selected conversations, and every log file that
        ended at or after a day before ``since`` (all of them without ``since``): a row deleted
        from the slice is missing from one of those files, whichever conversation it was in.
        """
        low = _iso(since - timedelta(days=1)) if since else None
        chosen = set(self.index.log_files_after(low))
        chosen |= self.index.log_files_of([c.id for c in conversations])
        return sorted(chosen)

    def problems(self) -> list[str]:
        """Return what the export itself cannot render as proven, one line each."""
        return [
            f"export: {one_line(item)}: {one_line(detail)}"
            for item, detail in self.index.problems()
        ]

    def problem_items(self) -> list[tuple[str, str]]:
        """Return the export's own problems as (check, item), as :meth:`problems` lists them."""
        return [("export", item) for item, _ in self.index.problems()]

    def select(
        self,
        custodian: str | None,
        conversation: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[str | None, list[Conversation]]:
        """Return the custodian's user id and the selected conversations (sorted by id)."""
        user_id = None
        if custodian:
            found = self.index.find_users(custodian)
            if not found:
                msg = f"--custodian {one_line(custodian)}: no such user id or email in the archive"
                raise SelectionError(msg)
            if len(found) > 1:
                msg = (
                    f"--custodian {one_line(custodian)} names {len(found)} users "
                    f"({', '.join(one_line(u) for u in found)}): give one user id"
                )
                raise SelectionError(msg)
            user_id = found[0]
            if not self.index.named_by_id(user_id, custodian) and not self.index.email_delivered(
                user_id, custodian
            ):
                self.custodian_note = (
                    f"found by the email {one_line(custodian.strip())} of the users listing "
                    "(a REST answer no hash or chain covers): no delivered message carries it "
                    "for this user, not proven"
                )
            chosen = self.index.conversations_of(user_id)
        else:
            chosen = [str(conversation)]
        low = _iso(since) if since else None
        high = _iso(until) if until else None
        selected = []
        for conversation_id in chosen:
            count, first, last = self.index.span(conversation_id, low, high)
            if count:
                selected.append(Conversation(conversation_id, count, str(first), str(last)))
        self.index.select(c.id for c in selected)
        if user_id:
            email = self.index.user(user_id)[1]  # the GPTs they own: by either email
            self.object_selection = select_objects(self.objects, user_id, email, low, high)
        if not selected and not self.object_selection.count:
            who = f"custodian {custodian}" if custodian else f"conversation {conversation}"
            msg = (
                f"nothing to export: no message of {one_line(who)} in the archive for the "
                "range given"
            )
            raise SelectionError(msg)
        return user_id, selected

    @staticmethod
    def _participant(record: Record) -> str:
        author = str(record.get("author_type") or "unknown")
        if author == "user":
            return str(record.get("actor_user_id") or "user:unknown")
        message = _obj(_obj(record.get("event")).get("message"))
        name = _obj(message.get("author")).get("name") or record.get("author_model")
        return f"{author}:{name}" if name else author

    def _user(self, user_id: str) -> tuple[str | None, str | None, bool]:
        """Return a user's name, email, and whether a delivered event carried that email."""
        if user_id not in self._names:
            if len(self._names) > 10_000:
                self._names.clear()
            self._names[user_id] = self.index.user(user_id)
        return self._names[user_id]

    def _display(self, participant: str) -> tuple[str, str | None]:
        """Return how a participant is shown, and their email.

        A user's name (the users listing's: not proven, and two users can share one) is never
        shown without the email a delivered event carried, or else the user id.
        """
        name, email, delivered = self._user(participant)
        if name:
            shown = _email_shown(email, delivered, bracketed=True) or f"({participant})"
            return one_line(f"{_listed_name(name)} {shown}"), email
        if email:
            return one_line(_email_shown(email, delivered)), email
        kind, _, rest = participant.partition(":")
        if kind == "assistant":
            return one_line(f"ChatGPT ({rest})" if rest else "ChatGPT"), None
        if kind == "user" or kind.startswith("user-"):
            return one_line(participant), None
        return one_line(f"{kind}: {rest}" if rest else kind), None

    def custodian_line(self, user_id: str | None) -> str:
        """Return how pages name the custodian."""
        if not user_id:
            return "none (a single conversation was selected)"
        name, email, delivered = self._user(user_id)
        listed = _listed_name(name) if name else None
        who = " ".join(p for p in (listed, _email_shown(email, delivered, bracketed=True)) if p)
        line = f"{who} ({user_id})" if who else user_id
        return one_line(f"{line}; {self.custodian_note}" if self.custodian_note else line)

    def attachment_bytes(self, record: Record) -> bytes | None:
        """Return an archived attachment's bytes when the archive holds them intact."""
        try:
            if record.get("content_base64") is not None:
                data = base64.b64decode(record["content_base64"], validate=True)
            elif record.get("storage_uri"):
                data = (
                    self.archive.read_object(str(record["storage_uri"]), record.get("size")) or b""
                )
            else:
                parts = self.index.parts(str(record.get("id")))
                count = int(record.get("part_count") or 0)
                if not count or any(parts.get(i) is None for i in range(count)):
                    return None
                data = b"".join(
                    base64.b64decode(str(parts[i]), validate=True) for i in range(count)
                )
        except (ValueError, TypeError, binascii.Error, OSError):
            return None
        return data if hashlib.sha256(data).hexdigest() == record.get("sha256") else None

    def attachments_of(self, record: Record) -> list[Attachment]:
        """Return a message's attachments: archived bytes that verify, else placeholders."""
        names = {
            str(f.get("id")): f.get("name")
            for f in _files_of(_obj(_obj(record.get("event")).get("message")))
        }
        out = []
        for file_id in record.get("attachment_ids") or []:
            file_id = str(file_id)
            files_record = self.index.file(file_id)
            name = one_line(names.get(file_id) or (files_record or {}).get("name") or file_id)
            status = (files_record or {}).get("status") or "not in the archive"
            data = (
                self.attachment_bytes(files_record)
                if files_record and status == "archived"
                else None
            )
            if data is not None:
                entry = f"{file_stem(file_id)}-{inert_name(name)}"
                sha = hashlib.sha256(data).hexdigest()
                out.append(Attachment(entry, name, data, "included", sha, file_id))
                continue
            if status == "archived":
                status = "archived bytes missing or not matching their SHA-256"
            # The status only: it is chained; the record's status_reason is not (the tap's
            # note of the download, which neither a chain nor a raw line proves).
            shown = one_line(status)
            text = (
                f"Attachment {name} ({one_line(file_id)}) is not in this production: "
                f"status {shown}.\n"
            )
            out.append(
                Attachment(
                    f"{file_stem(file_id)}{PLACEHOLDER_SUFFIX}",
                    f"{name} (not archived: {shown})",
                    text.encode(),
                    one_line(status),
                    None,
                    file_id,
                )
            )
        return out

    @staticmethod
    def body(record: Record) -> str:
        """Return a message's text (tool output as JSON); never blank."""
        text = record.get("content_text")
        if isinstance(text, str) and text:
            return text
        value = record.get("content_json")
        if value is not None:
            return json.dumps(value, sort_keys=True, ensure_ascii=False)
        if record.get("author_type") == "tool":
            return EMPTY_TOOL_OUTPUT
        return EMPTY_MESSAGE

    def _messages(
        self,
        conversation: Conversation,
        since: str | None,
        until: str | None,
        first: int,
        prefix: str,
        concerns: Concerns,
    ) -> Iterator[Message]:
        """Yield a conversation's messages, each from a copy no finding concerns if it has one."""
        number = first
        for ident, event, at, copies in self.index.messages(conversation.id, since, until):
            shown = concerns.shown(ident, copies)
            copies = [shown, *(c for c in copies if c != shown)]
            record = message_record(event, "", shown.log_file_id, shown.key)
            when = _time(at)
            assert when is not None  # indexed times are valid
            yield Message(record, when, self._participant(record), f"{prefix}{number:06d}", copies)
            number += 1

    def export(
        self,
        out: Path,
        custodian: str | None = None,
        conversation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        progress: t.Callable[[str], None] | None = None,
        every: float = PROGRESS_EVERY,
        *,
        stamp: Stamp | None = None,
        prefix: str = "",
        export_time: datetime | None = None,
        load_file: bool = False,
    ) -> Production:
        """Write the production folder; return what was written.

        ``progress`` gets a line at the start, then every ``every`` seconds (conversations and
        messages done of the total, files written). ``stamp`` is what verify said (shown on every
        page); ``prefix`` starts every production number; ``load_file`` adds production.dat.
        The production is written in ``out/INCOMPLETE-export-in-progress`` and moved into
        ``out`` once complete, its manifest last; a failure removes it (nothing is left that
        looks produced).
        """
        user_id, selected = self.select(custodian, conversation, since, until)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        staging = out / IN_PROGRESS
        staging.mkdir()
        run = _Run(
            self,
            Production(staging, self.index.db),
            stamp or Stamp.unverified(),
            prefix,
            (export_time or datetime.now(timezone.utc).replace(microsecond=0)),
            user_id,
            _iso(since) if since else None,
            _iso(until) if until else None,
        )
        if progress:
            progress(
                f"Export: {sum(c.count for c in selected):,} messages of {len(selected):,} "
                f"conversations selected; writing {out}"
            )
        try:
            run.write(selected, progress, every)
            if self.object_selection.count:
                ObjectPages(run, self.objects, self.archive).write(self.object_selection)
                run.production.object_items = self.object_selection.count
            run.index_page(len(selected))
            if load_file:
                run.load_file()
            run.manifest(custodian, conversation)
        except BaseException:  # nothing of an incomplete production is left behind
            shutil.rmtree(staging, ignore_errors=True)
            if created:
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise
        _publish(staging, out)
        run.production.out = out
        return run.production


def _publish(staging: Path, out: Path) -> None:
    """Move a complete production from its in-progress folder into ``out``, its manifest last."""

    def order(path: Path) -> tuple[bool, bool]:
        return path.name.startswith("production_manifest."), path.suffix == ".json"

    for child in sorted(staging.iterdir(), key=order):
        child.rename(out / child.name)
    staging.rmdir()


class _Run:
    """One export being written."""

    def __init__(
        self,
        exporter: Exporter,
        production: Production,
        stamp: Stamp,
        prefix: str,
        export_time: datetime,
        user_id: str | None,
        since: str | None,
        until: str | None,
    ) -> None:
        self.exporter = exporter
        self.production = production
        self.stamp = stamp
        self.prefix = prefix
        self.export_time = _iso(export_time.replace(microsecond=0))[:19] + "Z"
        self.user_id = user_id
        self.since = since
        self.until = until
        self.number = 0
        self.messages_csv: t.Any = None
        self.workspaces = sorted(exporter.index.workspaces)
        self.concerns = Concerns.of(stamp.places(), exporter.index)
        """What the findings concern: those messages, attachments and objects are marked."""
        self.custodian = exporter.custodian_line(user_id)
        if user_id and self.listed_unproven(user_id):
            self.custodian += f" ({UNPROVEN_MARK})"

    def listed_unproven(self, participant: str) -> bool:
        """Return whether a participant is shown by a users row that a finding names."""
        name, email, delivered = self.exporter._user(participant)
        return bool(name or (email and not delivered)) and self.concerns.user(participant)

    def display(self, participant: str) -> str:
        """Return how a participant is shown: marked when a finding names their users row."""
        shown = self.exporter._display(participant)[0]
        return f"{shown} ({UNPROVEN_MARK})" if self.listed_unproven(participant) else shown

    def unproven(self, message: Message) -> bool:
        """Return whether a finding concerns this message as shown (export_findings)."""
        return self.concerns.message(message.id, message.copies)

    def numbered(self, n: int) -> str:
        return f"{self.prefix}{n:06d}"

    def write(
        self,
        selected: list[Conversation],
        progress: t.Callable[[str], None] | None,
        every: float,
    ) -> None:
        """Write every conversation (pages, RSMF files) and production_messages.csv."""
        production = self.production
        total = sum(c.count for c in selected)
        started = last = time.monotonic()
        messages_csv = HashedFile(production.out / "production_messages.csv")
        self.messages_csv = csv.writer(messages_csv, lineterminator="\n")
        self.messages_csv.writerow(MESSAGE_COLUMNS)
        for done, item in enumerate(selected, 1):
            self.conversation(item)
            now = time.monotonic()
            if progress and now - last >= every:
                last = now
                progress(
                    f"Export progress: {done:,}/{len(selected):,} conversations, "
                    f"{production.messages:,}/{total:,} messages, "
                    f"{sum(production.kinds.values()):,} files written ({now - started:.0f} s)"
                )
        sha, md5, size = messages_csv.close()
        production.listed(
            "production_messages.csv", sha, md5, size, kind="messages", message_count=self.number
        )

    # --- one conversation ----------------------------------------------------------------

    def conversation(self, item: Conversation) -> None:
        exporter = self.exporter
        production = self.production
        found = exporter.index.title(item.id)
        title = one_line(found[0] if found else item.id)
        if found and self.concerns.message(  # its event is named by a finding
            found[1], [self.concerns.shown(found[1], exporter.index.copies(found[1]))]
        ):
            title = f"{title} ({UNPROVEN_MARK})"
        stem = file_stem(item.id)
        html_name = f"html/{stem}.html"
        first_number = self.numbered(self.number + 1)
        last_number = self.numbered(self.number + item.count)
        workspaces = exporter.index.workspaces_of(item.id) or self.workspaces
        production.claim(html_name, "")  # a clash is one readable error, not a traceback
        page = HashedFile(production.out / html_name)
        page.write(
            self.page_head(
                title,
                f"Conversation {one_line(item.id)} · {item.count} messages · {PLATFORM}",
                workspaces,
                item.first,
                item.last,
                f"{first_number} .. {last_number}",
            )
        )
        chunk: list[Message] = []
        day = ""
        chunks = Counter[str]()
        sources: set[str] = set()
        not_proven = 0
        for message in exporter._messages(
            item, self.since, self.until, self.number + 1, self.prefix, self.concerns
        ):
            self.number += 1
            sources.add(str(message.record.get("log_file_id")))
            message_day = message.at.astimezone(timezone.utc).date().isoformat()
            if chunk and (message_day != day or len(chunk) >= MAX_EVENTS):
                self.rsmf(item.id, title, day, chunks, chunk)
                chunk = []
            day = message_day
            chunk.append(message)
            not_proven += self.unproven(message)
            page.write(self.html_message(item.id, message))
            self.messages_csv.writerow(
                csv_cell(v)
                for v in (
                    message.number,
                    message.id,
                    item.id,
                    _iso(message.at),
                    message.participant,
                    message.record.get("author_type") or "",
                    self.rsmf_name(item.id, day, chunks[day] + 1),
                    f"{html_name}#m-{message.id}",
                    message.record.get("event_id") or "",
                    message.record.get("log_file_id") or "",
                    self.stamp.verdict,
                    UNPROVEN_MARK if self.unproven(message) else "",
                )
            )
        if chunk:
            self.rsmf(item.id, title, day, chunks, chunk)
        page.write("</body></html>\n")
        sha, md5, size = page.close()
        production.listed(
            html_name,
            sha,
            md5,
            size,
            kind="html",
            conversation_id=item.id,
            title=title,
            message_count=item.count,
            first_number=first_number,
            last_number=last_number,
            source_log_files=sorted(sources),
            not_proven=not_proven,
        )
        production.messages += item.count
        production.not_proven["messages"] += not_proven
        production.conversations += 1
        production.first = min(production.first or item.first, item.first)
        production.last = max(production.last or item.last, item.last)
        production.db.execute(
            "INSERT INTO produced_conversations VALUES (?,?,?,?,?,?,?,?,?)",
            (
                item.id,
                title,
                html_name,
                item.count,
                item.first,
                item.last,
                f"{first_number} .. {last_number}",
                json.dumps(sorted(sources)),
                not_proven,
            ),
        )

    # --- HTML ------------------------------------------------------------------------------

    def page_head(
        self,
        title: str,
        subtitle: str,
        workspaces: list[str],
        first: str,
        last: str,
        numbers: str,
        *,
        objects: bool = False,
    ) -> str:
        """Return a page's head; ``objects``: the page shows workspace objects (REST answers)."""
        sources = messages_provenance(self.concerns.raw_less) + (
            " " + PROVENANCE["objects"] if objects else ""
        )
        rows = [
            ("Custodian", self.custodian),
            ("Workspace", ", ".join(one_line(w) for w in workspaces) or "unknown"),
            ("Date range", f"{first} .. {last} (selection {self.selection()})"),
            ("Exported", f"{self.export_time} (UTC)"),
            ("Production numbers", numbers),
            ("Verify", self.stamp.verdict),
            ("Sources", sources),
        ]
        table = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
        )
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f'<h1>{html.escape(title)}</h1><p class="meta">{html.escape(subtitle)}</p>'
            f'<table class="head">{table}</table>{self.findings_html()}\n'
        )

    def selection(self) -> str:
        return f"{self.since or 'start'} .. {self.until or 'end'}, end exclusive"

    def findings_html(self) -> str:
        findings = self.stamp.findings
        if not findings:
            return ""
        items = "".join(f"<li>{html.escape(f)}</li>" for f in findings[:STAMPED])
        more = (
            f"<li>… and {len(findings) - STAMPED} more (production_manifest.json lists all)</li>"
            if len(findings) > STAMPED
            else ""
        )
        return (
            f'<div class="findings"><b>NOT PROVEN: {len(findings)} findings; produced with '
            f"--allow-findings.</b><ul>{items}{more}</ul></div>"
        )

    def html_message(self, conversation_id: str, message: Message) -> str:
        record = message.record
        links = []
        for attachment in self.exporter.attachments_of(record):
            named = self.concerns.any(attachment.file_id)
            included = named and attachment.sha256 is not None
            self.production.attachments[UNPROVEN if included else attachment.status] += 1
            path = f"attachments/{attachment.entry}"
            self.production.write(
                f"html/{path}",
                attachment.data,
                kind="attachment",
                conversation_id=conversation_id,
                not_proven=int(named),
            )
            if attachment.sha256:
                shown = f"<code>sha256 {html.escape(attachment.sha256)}</code>"
            else:
                shown = f"<b>{html.escape(attachment.status)}</b>"
            if named:
                shown += f" <b>{UNPROVEN_MARK}</b>"
            links.append(
                f'<li><a href="{html.escape(path)}">{html.escape(attachment.display)}</a> '
                f"{shown}</li>"
            )
        author = self.display(message.participant)
        css = "user" if record.get("author_type") == "user" else "other"
        if self.unproven(message):
            css += " unproven"
        body = self.exporter.body(record)
        empty = body in (EMPTY_TOOL_OUTPUT, EMPTY_MESSAGE) and not record.get("content_text")
        return (
            f'<div class="msg {css}" id="m-{html.escape(message.id)}">'
            f'<div class="meta"><span class="bates">{html.escape(message.number)}</span> · '
            f"{html.escape(_iso(message.at))} · <b>{html.escape(author)}</b>"
            + (f" · <b>{UNPROVEN_MARK}</b>" if "unproven" in css else "")
            + "</div>"
            f'<div class="body{" empty" if empty else ""}">'
            f"{html.escape(show_controls(body))}</div>"
            + (f"<ul>{''.join(links)}</ul>" if links else "")
            + "</div>\n"
        )

    def index_page(self, conversations: int) -> None:
        production = self.production
        numbers = f"{self.numbered(1)} .. {self.numbered(self.number)}"
        page = HashedFile(production.out / "index.html")
        page.write(
            self.page_head(
                "ChatGPT production",
                f"{conversations} conversations · {production.messages} messages · {PLATFORM}",
                self.workspaces,
                production.first or "",
                production.last or "",
                numbers,
                objects=bool(production.objects),
            )
            + "<ul>"
        )
        for r in production.iter_conversations():
            marked = f"{r['not_proven']} marked {UNPROVEN_MARK}, " if r["not_proven"] else ""
            page.write(
                f'<li><a href="{html.escape(r["path"])}">{html.escape(r["title"])}</a> '
                f"({r['count']} messages, {html.escape(marked)}{html.escape(r['numbers'])})</li>\n"
            )
        page.write("</ul>")
        if production.objects:
            page.write("<h2>Canvases, memories and GPTs</h2><ul>")
            for path, title, count, kind in production.objects:
                page.write(
                    f'<li><a href="{html.escape(path)}">{html.escape(title)}</a> '
                    f"({html.escape(kind)}, {count} items)</li>\n"
                )
            page.write("</ul>")
        page.write("</body></html>\n")
        sha, md5, size = page.close()
        production.listed("index.html", sha, md5, size, kind="index")

    # --- RSMF ------------------------------------------------------------------------------

    @staticmethod
    def rsmf_name(conversation_id: str, day: str, number: int) -> str:
        return f"rsmf/{file_stem(conversation_id)}_{day}_{number:02d}.rsmf"

    def rsmf(
        self, conversation_id: str, title: str, day: str, chunks: Counter[str], chunk: list[Message]
    ) -> None:
        chunks[day] += 1
        name = self.rsmf_name(conversation_id, day, chunks[day])
        self.production.claim(name, "")
        out = HashedFile(self.production.out / name)
        try:
            attachments = self.write_rsmf(out, conversation_id, title, chunk)
        finally:
            sha, md5, size = out.close()
        self.production.listed(
            name,
            sha,
            md5,
            size,
            kind="rsmf",
            conversation_id=conversation_id,
            title=title,
            message_count=len(chunk),
            first_number=chunk[0].number,
            last_number=chunk[-1].number,
            source_log_files=sorted({str(m.record.get("log_file_id")) for m in chunk}),
            custodian=self.custodian if self.user_id else "",
            begin=_iso(chunk[0].at),
            end=_iso(chunk[-1].at),
            # Its messages so marked, and the attachments of its zip so marked.
            not_proven=sum(map(self.unproven, chunk)) + attachments,
        )

    def rsmf_manifest(
        self, conversation_id: str, title: str, messages: list[Message], archive: _Zip
    ) -> dict[str, t.Any]:
        """Return the RSMF manifest of a slice; write its attachments into ``archive``."""
        exporter = self.exporter
        in_slice = {m.id for m in messages}
        ids = {m.participant for m in messages}
        if self.user_id:
            ids.add(self.user_id)
        participant_ids = sorted(ids)
        participants = []
        for pid in participant_ids:
            email = exporter._display(pid)[1]
            entry: dict[str, t.Any] = {"id": pid, "display": self.display(pid)}
            custom = []
            if self.listed_unproven(pid):
                custom.append({"name": "verify", "value": UNPROVEN_MARK})
            name, _, delivered = exporter._user(pid)
            if name:
                custom.append({"name": "display", "value": NOT_PROVEN_NAME})
            if email and not delivered:
                custom.append({"name": "email source", "value": LISTED_EMAIL_SOURCE})
            if email and _ADDRESS.fullmatch(email):
                entry["email"] = email
            elif email:  # RSMF wants an address there (idn-email): kept, as delivered
                custom.append({"name": "email", "value": email})
            if custom:
                entry["custom"] = custom
            participants.append(entry)
        events: list[dict[str, t.Any]] = []
        if self.stamp.findings:
            events.append(
                {
                    "id": f"verify-{short_hash(conversation_id + messages[0].number, 16)}",
                    "type": "disclaimer",
                    "conversation": conversation_id,
                    "timestamp": _iso(messages[0].at),
                    "body": _findings_text(self.stamp),
                }
            )
        for message in messages:
            record = message.record
            event: dict[str, t.Any] = {
                "id": message.id,
                "type": "message",
                "participant": message.participant,
                "conversation": conversation_id,
                "timestamp": _iso(message.at),
                "body": exporter.body(record),
                "direction": "outgoing" if record.get("author_type") == "user" else "incoming",
            }
            parent = record.get("parent_id") or record.get("previous_message_id")
            if parent and parent in in_slice:
                event["parent"] = parent
            custom = [{"name": "production_number", "value": message.number}]
            if self.unproven(message):
                custom.append({"name": "verify", "value": UNPROVEN_MARK})
            attachments = []
            found = exporter.attachments_of(record)
            shown = Counter(a.display for a in found)
            for attachment in found:
                archive.add(attachment.entry, attachment.data)
                named = self.concerns.any(attachment.file_id)
                if named:
                    archive.marked.add(attachment.entry)
                attachments.append(
                    {
                        "id": attachment.entry,
                        "display": f"{attachment.display} ({UNPROVEN_MARK})"
                        if named
                        else attachment.display,
                        "size": len(attachment.data),
                    }
                )
                # Two attachments of one name: each field names its own (by its entry).
                label = attachment.display
                if shown[label] > 1:
                    label = f"{label} ({attachment.entry})"
                if named:
                    custom.append({"name": f"verify {label}", "value": UNPROVEN_MARK})
                if attachment.sha256:
                    custom.append({"name": f"sha256 {label}", "value": attachment.sha256})
                else:
                    custom.append({"name": f"status {label}", "value": attachment.status})
            if attachments:
                event["attachments"] = attachments
            for name in ("event_id", "log_file_id", "parent_id", "author_model"):
                if record.get(name):
                    custom.append({"name": name, "value": str(record[name])})
            event["custom"] = custom
            events.append(event)
        conversation_custom = [
            {"name": "verify_verdict", "value": self.stamp.verdict},
            {"name": "export_time", "value": self.export_time},
            {"name": "workspace", "value": ", ".join(self.workspaces) or "unknown"},
            {"name": "provenance", "value": messages_provenance(self.concerns.raw_less)},
            {
                "name": "production_numbers",
                "value": f"{messages[0].number} .. {messages[-1].number}",
            },
        ]
        conversation_custom += [
            {"name": f"finding {n}", "value": line}
            for n, line in enumerate(self.stamp.findings[:STAMPED], 1)
        ]
        conversation: dict[str, t.Any] = {
            "id": conversation_id,
            "display": title,
            "platform": PLATFORM,
            "type": "direct",
            "participants": participant_ids,
            "custom": conversation_custom,
        }
        if self.user_id:
            conversation["custodian"] = self.user_id
        return {
            "version": RSMF_VERSION,
            "participants": participants,
            "conversations": [conversation],
            "events": events,
            "eventcollectionid": conversation_id,
        }

    def write_rsmf(
        self, out: HashedFile, conversation_id: str, title: str, messages: list[Message]
    ) -> int:
        """Write one RSMF file: its zip is built in a spool file, attachments one at a time.

        Return how many attachments of its zip are marked NOT PROVEN.
        """
        with _Zip() as archive:
            manifest = self.rsmf_manifest(conversation_id, title, messages, archive)
            archive.add("rsmf_manifest.json", _json_bytes(manifest, compact=True))
            digest = archive.close()
            self._write_mime(out, conversation_id, title, messages, manifest, archive, digest)
            return len(archive.marked)

    def _write_mime(
        self,
        out: HashedFile,
        conversation_id: str,
        title: str,
        messages: list[Message],
        manifest: dict[str, t.Any],
        archive: _Zip,
        digest: str,
    ) -> None:
        begin, end = messages[0].at, messages[-1].at
        _, email, delivered = self.exporter._user(self.user_id) if self.user_id else ("", "", True)
        custodian_email = _email_shown(email, delivered)
        attachment_count = len(archive.names) - 1
        headers = [
            ("From", f"{GENERATOR} <export@tap-chatgpt-compliance.invalid>"),
            ("To", one_line(custodian_email or self.user_id or "production")),
            ("Subject", f"{PLATFORM}: {title} ({begin.date().isoformat()})"),
            ("Date", format_datetime(begin.astimezone(timezone.utc))),
            ("Message-ID", f"<{digest[:32]}@rsmf.invalid>"),
            ("MIME-Version", "1.0"),
            ("X-RSMF-Version", RSMF_VERSION),
            ("X-RSMF-Generator", GENERATOR),
            ("X-RSMF-Application", PLATFORM),
            ("X-RSMF-BeginDate", _iso(begin)),
            ("X-RSMF-EndDate", _iso(end)),
            ("X-RSMF-EventCount", str(len(manifest["events"]))),
            ("X-RSMF-AttachmentCount", str(attachment_count)),
            ("X-RSMF-EventCollectionID", one_line(conversation_id)),
        ]
        if self.user_id:
            headers.append(("X-RSMF-Custodian", one_line(self.user_id)))
        headers += [
            (
                "X-RSMF-Participants",
                # One id per item: a comma inside an id (a tool's name) is shown escaped.
                ", ".join(
                    one_line(p["id"]).replace(",", "\\u002c") for p in manifest["participants"]
                ),
            ),
            ("X-Production-Numbers", f"{messages[0].number} .. {messages[-1].number}"),
            ("X-Verify-Verdict", self.stamp.verdict),
        ]
        if self.stamp.findings:
            headers.append(("X-Verify-Findings", str(len(self.stamp.findings))))
        skim = [
            title,
            f"Custodian: {self.custodian}",
            f"Exported: {self.export_time} (UTC)",
            self.stamp.verdict,
            f"Sources: {messages_provenance(self.concerns.raw_less)}",
        ]
        if self.stamp.findings:
            skim.append(_findings_text(self.stamp))
        skim.append("")
        for message in messages:
            display = self.display(message.participant)
            # Every further line of a text indented: only a message starts a line (a text
            # cannot forge "000009 [time] someone: …").
            body = _SKIM_BREAK.sub(
                "\n" + SKIM_INDENT, show_controls(self.exporter.body(message.record))
            )
            # The mark before the author: no text of the archive stands there.
            mark = f"({UNPROVEN_MARK}) " if self.unproven(message) else ""
            skim.append(f"{message.number} [{_iso(message.at)}] {mark}{display}: {body}")
        _mime(out, headers, "\n".join(skim) + "\n", archive, "rsmf-" + digest[:40])

    # --- manifests -------------------------------------------------------------------------

    def load_file(self) -> None:
        """Write production.dat: one line per RSMF file, its native path and hashes."""
        out = HashedFile(self.production.out / "production.dat")
        out.write(dat.header())
        for row in self.production.iter_files("rsmf"):
            out.write(
                dat.line(
                    (
                        row["first_number"],
                        row["last_number"],
                        row["custodian"],
                        _dat_time(row["begin"]),
                        _dat_time(row["end"]),
                        row["title"],
                        one_line(row["conversation_id"]),
                        row["message_count"],
                        row["path"],
                        row["path"].rsplit("/", 1)[-1],
                        row["md5"],
                        row["sha256"],
                        self.stamp.verdict,
                        _not_proven_note(row["not_proven"]),
                    )
                )
            )
        sha, md5, size = out.close()
        self.production.listed("production.dat", sha, md5, size, kind="dat")

    def manifest(self, custodian: str | None, conversation: str | None) -> None:
        """Write production_manifest.json and .csv, a file at a time."""
        production = self.production
        verdict = self.stamp.verdict
        head = {
            "selection": {
                "custodian": custodian,
                "conversation": conversation,
                "since": self.since,
                "until": self.until,
            },
            "custodian": self.custodian,
            "workspaces": self.workspaces,
            "export_time": self.export_time,
            "production_prefix": self.prefix,
            "production_numbers": [self.numbered(1), self.numbered(self.number)],
            "verify": {
                "verdict": verdict,
                "findings": self.stamp.findings,
                "unproven_columns": self.stamp.unproven_columns,
            },
            "source": self.exporter.archive.description,
            "provenance": PROVENANCE,
            "message_count": production.messages,
            "object_count": production.object_items,
            # What the production shows marked NOT PROVEN (each file's and conversation's below).
            "not_proven": {
                k: production.not_proven[k] for k in ("messages", "attachments", "objects")
            },
            # What the archive holds that no selection can: a reviewer reads it here too.
            "outside_every_selection": {
                "messages_naming_no_conversation_or_time": self.exporter.index.unplaced,
                "unparsed_message_lines": self.exporter.index.unparsed,
            },
        }
        document = HashedFile(production.out / "production_manifest.json")
        table = HashedFile(production.out / "production_manifest.csv")
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        document.write("{\n")
        for key, value in head.items():
            document.write(f"  {_dumps(key)}: {_dumps(value)},\n")
        document.write('  "conversations": {')
        for n, r in enumerate(production.iter_conversations()):
            entry = {
                "title": r["title"],
                "messages": r["count"],
                "first": r["first"],
                "last": r["last"],
                "production_numbers": r["numbers"],
                "source_log_files": json.loads(r["sources"]),
                "not_proven": r["not_proven"],
            }
            document.write(f"{',' if n else ''}\n    {_dumps(r['id'])}: {_dumps(entry)}")
        document.write('\n  },\n  "files": [')
        for n, f in enumerate(production.iter_files()):
            entry = {
                "path": f["path"],
                "sha256": f["sha256"],
                "md5": f["md5"],
                "bytes": f["bytes"],
                "kind": f["kind"],
                "conversation_id": f["conversation_id"],
                "title": f["title"],
                "message_count": f["message_count"],
                "first_production_number": f["first_number"],
                "last_production_number": f["last_number"],
                "source_log_files": f["source_log_files"],
            }
            document.write(
                f"{',' if n else ''}\n    {_dumps({**entry, 'not_proven': f['not_proven']})}"
            )
            writer.writerow(
                csv_cell(v) for v in (*entry.values(), verdict, _not_proven_note(f["not_proven"]))
            )
        document.write("\n  ]\n}\n")
        production.manifest_digests["production_manifest.json"] = document.close()[0]
        for line in self.stamp.findings:
            writer.writerow(
                csv_cell(v)
                for v in ("", "", "", "", "finding", "", "", "", "", "", "", verdict, line)
            )
        production.manifest_digests["production_manifest.csv"] = table.close()[0]


_ADDRESS_LIKE = re.compile(
    "[<>@\uff1c\uff1e\uff20\ufe6b\u2039\u203a"
    "()\uff08\uff09\ufe59\ufe5a\u207d\u207e\u208d\u208e\u2768\u2769\u276a\u276b\u2e28\u2e29]"
)
"""What makes a name read as an address or a user id: brackets, ``@``, parentheses (and their
look-alike forms)."""


def _listed_name(name: str) -> str:
    r"""Return a user's listed name as shown: its brackets, ``@`` and parentheses escaped.

    Only the address a delivered event carried is shown as one, and only the user's own id in
    parentheses: a name typed as ``Dana Scully <dana@example.com>`` or ``Dana Scully
    (user-Dana)`` never reads as Dana's address or id before its user's own (``\u003c``,
    ``\u0028``).
    """
    return _ADDRESS_LIKE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def _not_proven_note(count: int) -> str:
    """Return a manifest's note on a file showing ``count`` items marked NOT PROVEN."""
    return f"{UNPROVEN_MARK} ({count} shown so marked)" if count else ""


def _email_shown(email: str | None, delivered: bool, *, bracketed: bool = False) -> str | None:
    """Return an email as shown, labelled when no delivered event carried it (a REST answer)."""
    if not email:
        return None
    shown = f"<{email}>" if bracketed else email
    return shown if delivered else f"{shown} {LISTED_EMAIL}"


def _dumps(value: t.Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _header(name: str, value: str) -> bytes:
    """Return one header line (RFC 2047-encoded and folded when not short ASCII).

    A value holding ``=?`` is encoded too: written bare, a mail reader would decode what merely
    looks like an encoded word (a title typed as ``=?utf-8?b?…?=``) into other text.
    """
    value = one_line(value)
    if value.isascii() and "=?" not in value and len(name) + len(value) < 900:
        return f"{name}: {value}\r\n".encode("ascii")
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


SKIM_INDENT = "    "
"""Starts each further line of a message's text in the skim."""
_SKIM_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
"""What a plain-text reader may show as a line break."""
_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
"""An email address as RSMF's ``idn-email`` takes it (one ``@``, no space or control)."""


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _mime(
    out: HashedFile, headers: list[tuple[str, str]], text: str, archive: _Zip, boundary: str
) -> None:
    """Write the RSMF email: headers, the plain-text skim, rsmf.zip (streamed from its spool).

    Written as the email package writes them, an order of magnitude faster.
    """
    for name, value in headers:
        out.write_bytes(_header(name, value))
    out.write(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n')
    out.write(f"--{boundary}\r\n")
    out.write('Content-Type: text/plain; charset="utf-8"\r\n')
    out.write("Content-Transfer-Encoding: base64\r\n\r\n")
    out.write_bytes(_base64_lines(text.encode("utf-8")))
    out.write(f"\r\n--{boundary}\r\n")
    out.write("Content-Type: application/zip\r\n")
    out.write("Content-Transfer-Encoding: base64\r\n")
    out.write('Content-Disposition: attachment; filename="rsmf.zip"\r\n\r\n')
    for chunk in archive.chunks(57 * 1024):  # whole base64 lines (57 bytes each)
        out.write_bytes(_base64_lines(chunk))
    out.write(f"\r\n--{boundary}--\r\n")


def _dat_time(value: str) -> str:
    return value[:19].replace("T", " ") if value else ""


def _findings_text(stamp: Stamp) -> str:
    lines = [f"NOT PROVEN: {len(stamp.findings)} findings; produced with --allow-findings:"]
    lines += [f"- {f}" for f in stamp.findings[:STAMPED]]
    if len(stamp.findings) > STAMPED:
        lines.append(f"- … and {len(stamp.findings) - STAMPED} more (production_manifest.json)")
    return "\n".join(lines)


def _files_of(message: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    files = message.get("files")
    if isinstance(files, dict):
        files = files.get("data")
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
"""A page runs no script, loads nothing, submits nothing (a second wall behind escaping)."""
_CSS = (
    # A long unbroken run (a token, a URL, a name) breaks inside the page: never beyond its
    # edge, where a printout or a PDF of the page cuts it off.
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;color:#222;"
    "overflow-wrap:anywhere}"
    ".msg{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}"
    ".user{background:#eef5ff}.other{background:#f7f7f7}.meta{color:#666;font-size:.85rem}"
    ".body{white-space:pre-wrap;margin-top:.3rem}.empty{color:#888;font-style:italic}"
    "code{font-size:.75rem;color:#555}.bates{font-family:monospace;color:#000}"
    "table.head{border-collapse:collapse;font-size:.85rem;margin-bottom:1rem}"
    "table.head th{text-align:left;padding:.1rem .8rem .1rem 0;color:#555;white-space:nowrap;"
    "overflow-wrap:normal}"
    ".findings{border:2px solid #b00;background:#fff0f0;padding:.5rem .8rem;color:#700}"
    ".unproven{border:2px solid #b00}"
)


def _json_bytes(value: t.Any, *, compact: bool = False) -> bytes:
    """Return JSON as UTF-8: non-ASCII as itself, a lone surrogate as its escape (exact)."""
    if compact:  # the C encoder: an RSMF manifest of 10,000 events in a blink
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return (escape_lone_surrogates(text) + "\n").encode()


class _Zip:
    """A deterministic zip built in a spool file (memory up to 16 MB, then disk)."""

    def __init__(self) -> None:
        self.spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115
        self.zip: zipfile.ZipFile | None = zipfile.ZipFile(self.spool, "w")
        self.names: dict[str, str] = {}
        """Each entry's SHA-256."""
        self.marked: set[str] = set()
        """The entries of attachments marked NOT PROVEN."""

    def __enter__(self) -> _Zip:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.zip is not None:
            self.zip.close()
        self.spool.close()

    def add(self, name: str, data: bytes) -> None:
        """Add an entry once (fixed time and mode: the same bytes for the same entries).

        The same bytes under one name are one entry; other bytes under a name already taken
        are an error (never an entry silently left out, its manifest pointing at the other's).
        """
        sha256 = hashlib.sha256(data).hexdigest()
        if name in self.names and self.names[name] != sha256:
            msg = f"two attachments of one RSMF file would share the zip entry {name!r}"
            raise ArchiveError(msg)
        if name in self.names or self.zip is None:
            return
        self.names[name] = sha256
        info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, data)

    def close(self) -> str:
        """Finish the zip; return its SHA-256."""
        if self.zip is not None:
            self.zip.close()
            self.zip = None
        digest = hashlib.sha256()
        for chunk in self.chunks(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()

    def chunks(self, size: int) -> Iterator[bytes]:
        """Yield the finished zip's bytes."""
        self.spool.seek(0)
        while chunk := self.spool.read(size):
            yield chunk


__all__ = [
    "EXPORT_STREAMS",
    "NOT_PROVEN_NAME",
    "PROVENANCE",
    "TAP_RECORD",
    "Exporter",
    "Production",
    "SelectionError",
    "Stamp",
    "parse_bound",
    "sortable",
]
