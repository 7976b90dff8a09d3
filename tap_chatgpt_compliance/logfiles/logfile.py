"""Download, verify and parse one Compliance Logs Platform file.

Every line of a file ends up somewhere: an event (kept, or dropped as a true duplicate), or an
unparsed line kept byte for byte. Events are keyed by ``event_id``; an event without one (absent
or ``""``) gets a key derived from its content (:func:`derived_event_key`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
import typing as t
from dataclasses import dataclass, field
from functools import cached_property

import orjson

from tap_chatgpt_compliance.errors import NOTHING_SKIPPED, ComplianceAPIError
from tap_chatgpt_compliance.http.downloads import Unavailable
from tap_chatgpt_compliance.http.transport import BadPathSegment, path_segment
from tap_chatgpt_compliance.jsondepth import NESTED_TOO_DEEPLY, nested_too_deeply
from tap_chatgpt_compliance.logfiles.listed import listed_sha256, note_listing, size_problem
from tap_chatgpt_compliance.run.output import DEL, ascii_json
from tap_chatgpt_compliance.timeparse import to_iso

if t.TYPE_CHECKING:
    import requests

    from tap_chatgpt_compliance.http.downloads import Downloader
    from tap_chatgpt_compliance.run.sync import RunCounts

LOGGER = logging.getLogger(__name__)
CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 256 * 1024
"""A downloaded log file stays in memory up to this size, else in a temporary file."""
UNPARSED_NUMBERS_KEPT = 11
SEGMENT_BYTES = 128 * 1024
"""A log file is parsed and its records written a segment of about this many bytes at a time:
memory holds one segment's events (about five times its bytes), whatever the file's size."""
SHA_TRIES = 2
CONVERSATION_MESSAGE = "CONVERSATION_MESSAGE"
DERIVED_KEY_PREFIX = "sha256:"
_JSON_SPACE = " \t\r"
"""JSON whitespace a line may carry around its object (the newline is not part of a line)."""
_TYPE_BITS = 0xFFFF
"""Low bits of a seen-event fingerprint that hash the event type (see :func:`parse_lines`)."""

Event = dict[str, t.Any]
SeenEvents = dict[str, t.Any]
"""event key → fingerprint (int), or a tuple of fingerprints once different events shared it."""


EventTimes = tuple["str | None", str, "str | None"]
"""(message time, where it came from, event time), as ISO 8601."""


def event_times(event: Event) -> EventTimes:
    """Return an event's message time, its source, and the event time.

    The message time is ``message.created_at``; the event time (``timestamp``) stands in when
    it is missing or malformed (source ``event_timestamp``).
    """
    event_at = to_iso(event.get("timestamp"))
    message = event.get("message")
    created_at = to_iso(message.get("created_at")) if type(message) is dict else None
    if created_at is not None:
        return (created_at, "message", event_at)
    return (event_at, "event_timestamp", event_at)


def _reject_constant(name: str) -> t.NoReturn:
    msg = f"{name} is not a JSON value"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    """Return the float of a JSON number; raise ValueError when no double holds it (1e400).

    Such a number would be archived as ``null`` (an infinity has no JSON form): the line is kept
    unparsed, byte-exact, instead.
    """
    value = float(text)
    if value in (math.inf, -math.inf):
        msg = f"the number {text[:40]} is beyond the range of a double"
        raise ValueError(msg)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
"""Strict JSON: NaN and Infinity are not JSON, nor is a number beyond a double for the tap (it
cannot be written back): such a line is kept unparsed."""
_RAW_DECODE = _DECODER.raw_decode
"""The same decoder without its two whitespace scans: for a line that is one JSON value."""
_FAST_LOADS = orjson.loads
"""orjson parses a line about 2.5 times faster than ``json``, into the same values, except for
what it refuses (NaN, numbers out of range, lone surrogates, invalid UTF-8: the standard
decoder then decides, with its own error) and integers beyond 64 bits, which it turns into
floats: a line with a run of 19 digits or more is left to the standard decoder."""
_DIGIT_MAP = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
"""``bytes.translate`` table: digits to ``0``, every other byte to ``.``."""
_LONG_DIGITS = b"0" * 19
"""The shortest digit run that may be an integer beyond 64 bits (2**63 has 19 digits)."""
_JSON_SPACE_BYTES = _JSON_SPACE.encode("ascii")


def verbatim_line(raw: bytes) -> str | None:
    """Return a parsed line as the ASCII JSON text a record carries, or None to re-encode it.

    The line as delivered, without the spaces around it; its non-ASCII characters (which JSON
    allows only inside strings) escaped as ``ensure_ascii`` escapes them, so that a record line
    stays ASCII. A line with DEL and non-ASCII text is left to the encoder (None), which escapes
    both, as it did before non-ASCII lines were kept (``tests/tap/test_fast_parse.py``).
    """
    line = raw.strip(_JSON_SPACE_BYTES)
    if line.isascii():
        return line.decode("ascii")
    if DEL in line:
        return None
    return ascii_json(line)


def derived_event_key(event: Event) -> str:
    """Return ``sha256:<hex>``: the SHA-256 of the event's canonical JSON.

    Canonical JSON is ``json.dumps(event, sort_keys=True, separators=(",", ":"),
    ensure_ascii=True)`` encoded as UTF-8: the same event always gets the same key, whatever the
    order of its fields or the whitespace of the line it came in.
    """
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DERIVED_KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_NOT_FAST = object()
"""Stands for a line orjson did not parse (None is the JSON ``null``)."""


def _strict_loads(raw: bytes) -> t.Any:
    """Parse a line with the standard decoder (strict: no NaN); raise its error if not JSON."""
    text = raw.decode("utf-8")
    try:
        event, end = _RAW_DECODE(text)
    except ValueError:
        end = -1
    if end != len(text):  # around whitespace, or not JSON: the strict decoder says
        event = _DECODER.decode(text)
    return event


@dataclass
class UnparsedLine:
    """A line that is not valid UTF-8 or not a JSON object, as it was in the file."""

    line_number: int
    """1-based; lines are separated by ``\\n``."""
    raw: bytes
    """The line's bytes, without the ``\\n`` that ends it."""
    reason: str
    """``invalid_utf8``, ``invalid_json`` or ``not_an_object``."""
    error: str


@dataclass
class ParsedLines:
    """What the lines of one file became."""

    line_count: int = 0
    blank_lines: int = 0
    duplicates: int = 0
    without_id: int = 0
    clashes: int = 0
    foreign: int = 0
    messages: list[Event] = field(default_factory=list)
    """CONVERSATION_MESSAGE events kept, in file order."""
    others: list[Event] = field(default_factory=list)
    """Events of every other type kept, in file order."""
    message_keys: list[str | None] = field(default_factory=list)
    """Beside ``messages`` (same index): the key given to the event when it is not its own
    ``event_id`` (derived, or ``<event_id>#sha256:…`` for a clash), else None."""
    other_keys: list[str | None] = field(default_factory=list)
    """Beside ``others`` (same index): as ``message_keys``."""
    message_lines: list[str | None] = field(default_factory=list)
    """Beside ``messages`` (same index): the event's line as delivered, non-ASCII escaped (the
    ``messages`` record carries it as its ``event`` without serialising it again), or None
    (:func:`verbatim_line`)."""
    unparsed: list[UnparsedLine] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Give events built without their side lists (tests, tools) None in each."""
        for events, side in (
            (self.messages, self.message_keys),
            (self.messages, self.message_lines),
            (self.others, self.other_keys),
        ):
            if len(side) != len(events):
                side[:] = [None] * len(events)


class SeenEventsStore(t.Protocol):
    """The run's memory of event keys (see runstore.SpillMap): read and written a file at a time."""

    def get_many(self, keys: t.Iterable[t.Any]) -> dict[t.Any, t.Any]:
        """Return the fingerprints kept under the keys present."""
        ...

    def set_many(self, items: t.Mapping[t.Any, t.Any]) -> None:
        """Add or replace the fingerprints of keys."""
        ...


class _DictStore:
    """A plain dict as the run's memory of event keys (tests, small uses)."""

    def __init__(self, seen: dict[str, t.Any]) -> None:
        self.seen = seen

    def get_many(self, keys: t.Iterable[str]) -> dict[str, t.Any]:
        seen = self.seen
        return {key: seen[key] for key in keys if key in seen}

    def set_many(self, items: t.Mapping[str, t.Any]) -> None:
        self.seen.update(items)


class LineParser:
    """Parse a file's lines as they arrive; :meth:`finish` then drops the true duplicates.

    Lines are parsed while the file downloads, so that neither the whole body nor its list of
    lines is ever held; the events are only used once the file's SHA-256 matched.
    """

    def __init__(self, file_event_type: str, first_line: int = 0) -> None:
        """Parse lines of a file of ``file_event_type``, numbered after ``first_line``."""
        self.file_event_type = file_event_type
        self.parsed = ParsedLines()
        self._pending: list[tuple[Event, str, int, bool, str, bytes]] = []
        """Events in file order: (event, key, fingerprint, derived key, type, line)."""
        self._tail = b""
        self._number = first_line

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the file."""
        lines = (self._tail + chunk).split(b"\n") if self._tail else chunk.split(b"\n")
        self._tail = lines.pop()
        for raw in lines:
            self.line(raw)

    @property
    def line_number(self) -> int:
        """Return the number of the last line parsed."""
        return self._number

    def end(self) -> None:
        """End the file: its last line needs no newline."""
        if self._tail:
            self.line(self._tail)
            self._tail = b""

    def line(self, raw: bytes) -> None:
        """Parse one line (without its newline)."""
        self._number += 1
        number = self._number
        parsed = self.parsed
        parsed.line_count = number
        if not raw:
            parsed.blank_lines += 1
            return
        if nested_too_deeply(raw):
            parsed.unparsed.append(UnparsedLine(number, raw, "invalid_json", NESTED_TOO_DEEPLY))
            return
        try:
            event = _FAST_LOADS(raw) if _LONG_DIGITS not in raw.translate(_DIGIT_MAP) else _NOT_FAST
        except orjson.JSONDecodeError:
            event = _NOT_FAST
        try:
            if event is _NOT_FAST:
                event = _strict_loads(raw)
        except UnicodeDecodeError as exc:
            parsed.unparsed.append(UnparsedLine(number, raw, "invalid_utf8", str(exc)))
            return
        except ValueError as exc:
            parsed.unparsed.append(UnparsedLine(number, raw, "invalid_json", str(exc)))
            return
        except RecursionError:
            parsed.unparsed.append(UnparsedLine(number, raw, "invalid_json", NESTED_TOO_DEEPLY))
            return
        if type(event) is not dict:
            kind = "null" if event is None else type(event).__name__
            parsed.unparsed.append(UnparsedLine(number, raw, "not_an_object", f"JSON {kind}"))
            return
        event_type = event.get("type")
        if type(event_type) is not str or not event_type:
            event_type = self.file_event_type
        elif event_type != self.file_event_type:
            parsed.foreign += 1
        key = event.get("event_id")
        if type(key) is str and key:
            fingerprint = (hash((event_type, raw)) & ~_TYPE_BITS) | (hash(event_type) & _TYPE_BITS)
            self._pending.append((event, key, fingerprint, False, event_type, raw))
        else:
            derived = derived_event_key(event)
            self._pending.append((event, derived, hash(event_type), True, event_type, raw))

    def finish(self, seen: SeenEvents | SeenEventsStore) -> ParsedLines:
        """Drop the true duplicates of events already kept in this run; keep the rest.

        ``seen`` is the run's memory of event keys: read once for the file's keys, and written
        once with what the file adds.
        """
        self.end()
        store: SeenEventsStore = _DictStore(seen) if isinstance(seen, dict) else seen
        pending, self._pending = self._pending, []
        known = store.get_many({entry[1] for entry in pending})
        changed: dict[str, t.Any] = {}
        parsed = self.parsed
        messages = parsed.messages
        message_keys = parsed.message_keys
        message_lines = parsed.message_lines
        others = parsed.others
        other_keys = parsed.other_keys
        for event, key, fingerprint, derived, event_type, raw in pending:
            previous = changed.get(key, known.get(key))
            given = key if derived else None
            if previous is None:
                changed[key] = fingerprint
            else:
                variants = (previous,) if type(previous) is int else tuple(previous)
                if fingerprint in variants:
                    parsed.duplicates += 1
                    continue
                changed[key] = [*variants, fingerprint]
                parsed.clashes += 1
                type_bits = fingerprint & _TYPE_BITS
                if any(v & _TYPE_BITS == type_bits for v in variants):
                    given = f"{key}#{derived_event_key(event)}"
            if derived and fingerprint == hash(event_type):
                parsed.without_id += 1
            if event_type == CONVERSATION_MESSAGE:
                messages.append(event)
                message_keys.append(given)
                message_lines.append(verbatim_line(raw))
            else:
                others.append(event)
                other_keys.append(given)
        if changed:
            store.set_many(changed)
        return parsed


def parse_lines(
    body: bytes, file_event_type: str, seen: SeenEvents | SeenEventsStore
) -> ParsedLines:
    """Split JSONL into events and unparsed lines, and drop the events already kept this run.

    An event's type is its ``type``, or the file's when it has none: CONVERSATION_MESSAGE
    events go to ``messages``, all others to ``others`` (an AUDIT_LOG event inside a
    CONVERSATION_MESSAGE file is not a message). Its key is its ``event_id``, or
    :func:`derived_event_key` when that is absent, empty or not a string.

    A repeated key is a true duplicate, and dropped, only when the event has the same type and
    the same line bytes as an event already kept under that key in this run (for derived keys,
    the key is the content: the same type suffices). Otherwise it is a clash: the event is kept
    and counted; when an earlier event of the same type holds the key, it is kept under
    ``<event_id>#sha256:<hex>`` so that an upserting target keeps both.

    ``seen`` costs one small int per event: the fingerprint packs a hash of the type (low 16
    bits, only ever compared to tell "same type") with a hash of type and line (the rest).
    """
    parser = LineParser(file_event_type)
    parser.feed(body)
    return parser.finish(seen)


@dataclass
class Segment:
    """A run of whole lines of a log file, parsed: what the child streams read.

    Child streams read one segment at a time (``LogFilesStream.open_segment``), so memory holds the
    events of a segment or two, whatever the size of the file.
    """

    log_file: LogFile
    index: int
    """1 for the file's first segment."""
    lines: ParsedLines
    last: bool
    """Whether this is the file's last segment."""

    @property
    def id(self) -> str:
        """Return the log file id."""
        return self.log_file.id

    @property
    def event_type(self) -> str:
        """Return the log file's event type."""
        return self.log_file.event_type

    @property
    def messages(self) -> list[Event]:
        """Return the CONVERSATION_MESSAGE events kept."""
        return self.lines.messages

    @property
    def other_events(self) -> list[Event]:
        """Return the events of every other type kept (what the events stream reads)."""
        return self.lines.others

    @cached_property
    def message_times(self) -> list[EventTimes]:
        """Return each message event's times (:func:`event_times`, same index).

        Computed once for the messages and conversations streams.
        """
        return [event_times(event) for event in self.lines.messages]


@dataclass
class LogFile:
    """A downloaded, verified log file, parsed a segment at a time (:meth:`next_segment`).

    The body waits in a spool (in memory while small, else in a temporary file); ``totals``
    holds what the segments parsed so far became, for the manifest.
    """

    meta: dict[str, t.Any]
    event_type: str
    """The listed ``event_type``, or the requested one when the listing item lacks it."""
    sha256: str
    size: int
    attempts: int
    totals: ParsedLines = field(default_factory=ParsedLines)
    """Counts over every segment parsed so far (its lists stay empty)."""
    body: t.IO[bytes] | None = None
    segments: int = 0
    """Segments parsed so far."""
    done: bool = False
    event_count: int = 0
    """Events kept in the segments parsed so far."""
    unparsed_total: int = 0
    unparsed_numbers: list[int] = field(default_factory=list)
    """Numbers of the first unparsed lines (for the warning)."""
    raw: t.IO[bytes] | None = None
    """The body, kept open past the last segment for its raw parts (:mod:`rawlogs`)."""
    raw_storage_uri: str | None = None
    """Where the raw bytes were stored and verified (file_content=storage)."""
    _carry: bytes = b""
    """The bytes read past the last segment (the start of the next one)."""
    _line_number: int = 0

    @property
    def id(self) -> str:
        """Return the log file id."""
        return str(self.meta["id"])

    def next_segment(
        self, seen: SeenEvents | SeenEventsStore, segment_bytes: int = 0
    ) -> Segment | None:
        """Parse the next segment; None when the file has none left.

        A segment is whole lines, about ``segment_bytes`` (default ``SEGMENT_BYTES``); an empty
        file has one segment, empty. Duplicates are dropped against ``seen`` as the segments
        are parsed, in file order.
        """
        body = self.body
        if body is None or self.done:
            return None
        limit = segment_bytes or SEGMENT_BYTES
        parser = LineParser(self.event_type, first_line=self._line_number)
        # The lines that start within ``limit`` bytes: a block, completed to its line's end.
        block = self._carry if self.segments else body.read(limit)
        if block and not block.endswith(b"\n"):
            block += body.readline()
        self._carry = body.read(limit)
        self.done = not self._carry
        lines = block.split(b"\n")
        if lines[-1] == b"":  # the newline that ends the block ends its last line
            lines.pop()
        line = parser.line
        for raw in lines:
            line(raw)
        del block, lines
        self._line_number = parser.line_number
        parsed = parser.finish(seen)
        self.segments += 1
        totals = self.totals
        totals.line_count = max(totals.line_count, parser.line_number)
        totals.blank_lines += parsed.blank_lines
        totals.duplicates += parsed.duplicates
        totals.without_id += parsed.without_id
        totals.clashes += parsed.clashes
        totals.foreign += parsed.foreign
        self.unparsed_total += len(parsed.unparsed)
        room = UNPARSED_NUMBERS_KEPT - len(self.unparsed_numbers)
        if room > 0:
            self.unparsed_numbers.extend(u.line_number for u in parsed.unparsed[:room])
        self.event_count += len(parsed.messages) + len(parsed.others)
        if self.done:
            self.close()
        return Segment(self, self.segments, parsed, self.done)

    def close(self) -> None:
        """Release the body (unless it is kept as ``raw``: see :meth:`close_raw`)."""
        if self.body is not None:
            if self.body is not self.raw:
                self.body.close()
            self.body = None

    def count_into(self, counts: RunCounts) -> None:
        """Add what this file's lines became to the run's counts."""
        totals = self.totals
        counts.log_files += 1
        counts.events += self.event_count
        counts.duplicates += totals.duplicates
        counts.unparsed_lines += self.unparsed_total
        counts.events_without_id += totals.without_id
        counts.id_clashes += totals.clashes
        counts.foreign_events += totals.foreign

    def close_raw(self) -> None:
        """Release the raw bytes kept past the last segment."""
        if self.raw is not None:
            self.raw.close()
            self.raw = None


def _reader(response: requests.Response) -> tuple[t.IO[bytes], str, int]:
    """Spool a body as it streams and hash it (a new spool per try)."""
    digest = hashlib.sha256()
    spool: t.IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        for chunk in response.iter_content(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, digest.hexdigest(), size


def fetch_log_file(
    downloader: Downloader,
    scope_path: str,
    meta: dict[str, t.Any],
    event_type: str,
) -> LogFile:
    """Download a listed file and check it against its listed SHA-256 (or, without, its size).

    A mismatch is downloaded once more (:mod:`~tap_chatgpt_compliance.logfiles.listed`).
    Raises ComplianceAPIError when the bytes still do not match: the caller must not
    advance state past this file. ``event_type`` is the file's type (the requested one when
    the listing item has none). Nothing is parsed yet (:meth:`LogFile.next_segment`).
    """
    expected = listed_sha256(meta)
    try:
        path = f"{scope_path}/logs/{path_segment(meta['id'])}"
    except BadPathSegment as exc:
        msg = f"A log file was listed with an id that is no file id ({exc}). {NOTHING_SKIPPED}"
        raise ComplianceAPIError(msg) from exc
    problem = ""
    for attempt in range(1, SHA_TRIES + 1):
        body, sha256, size = _download(downloader, path, meta)
        if expected and sha256 != expected:
            problem = f"SHA-256 {sha256} does not match the listed {expected}"
        else:
            problem = size_problem(meta, expected, size) or ""
        if not problem:
            note_listing(meta, expected, size)
            return LogFile(
                meta=meta,
                event_type=event_type,
                sha256=sha256,
                size=size,
                attempts=attempt,
                body=body,
            )
        body.close()
        LOGGER.warning("Log file %s: %s (try %d of %d).", meta["id"], problem, attempt, SHA_TRIES)
    check = "SHA-256 check" if expected else f"check against its file_size ({problem})"
    msg = (
        f"Log file {meta['id']} ({meta.get('file_name')}) failed its {check} "
        f"{SHA_TRIES} times: stopping without advancing state past it. Rerun later; if it "
        "persists, report the file id to OpenAI support."
    )
    raise ComplianceAPIError(msg)


def _download(
    downloader: Downloader, path: str, meta: dict[str, t.Any]
) -> tuple[t.IO[bytes], str, int]:
    """Download a listed file once: its spooled body, SHA-256 and size."""
    try:
        return downloader.download(path, _reader)
    except Unavailable as exc:
        if exc.status == 403:  # a scope problem: the message names the scope
            raise
        msg = (
            f"Log file {meta['id']} was listed but cannot be downloaded (HTTP {exc.status}: "
            f"{exc.detail}); it may have just passed the 30-day retention. State was not "
            "advanced past it: rerun the tap."
        )
        raise ComplianceAPIError(msg) from exc
