"""Download, verify and parse one Compliance Logs Platform file.

Every line of a file ends up somewhere: an event (kept, or dropped as a true duplicate), or an
unparsed line kept byte for byte. Events are keyed by ``event_id``; an event without one (absent
or ``""``) gets a key derived from its content (:func:`derived_event_key`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import typing as t
from dataclasses import dataclass, field

from tap_chatgpt_compliance.downloads import Unavailable, download
from tap_chatgpt_compliance.errors import ComplianceAPIError

if t.TYPE_CHECKING:
    import requests

    from tap_chatgpt_compliance.client import ComplianceStream

LOGGER = logging.getLogger(__name__)
CHUNK = 1024 * 1024
SHA_TRIES = 2
CONVERSATION_MESSAGE = "CONVERSATION_MESSAGE"
DERIVED_KEY_PREFIX = "sha256:"
_TYPE_BITS = 0xFFFF
"""Low bits of a seen-event fingerprint that hash the event type (see :func:`parse_lines`)."""

Event = dict[str, t.Any]
SeenEvents = dict[str, t.Any]
"""event key → fingerprint (int), or a tuple of fingerprints once different events shared it."""


def _reject_constant(name: str) -> t.NoReturn:
    msg = f"{name} is not a JSON value"
    raise ValueError(msg)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""Strict JSON: NaN and Infinity are not JSON, such a line is kept unparsed."""


def derived_event_key(event: Event) -> str:
    """Return ``sha256:<hex>``: the SHA-256 of the event's canonical JSON.

    Canonical JSON is ``json.dumps(event, sort_keys=True, separators=(",", ":"),
    ensure_ascii=True)`` encoded as UTF-8: the same event always gets the same key, whatever the
    order of its fields or the whitespace of the line it came in.
    """
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DERIVED_KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    keys: dict[int, str] = field(default_factory=dict)
    """``id(event)`` → key, for the few events whose key is not their own ``event_id``."""
    unparsed: list[UnparsedLine] = field(default_factory=list)


def parse_lines(body: bytes, file_event_type: str, seen: SeenEvents) -> ParsedLines:
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
    parsed = ParsedLines()
    lines = body.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the final newline ends the last line, it does not start another
    parsed.line_count = len(lines)
    decode = _DECODER.decode
    messages = parsed.messages
    others = parsed.others
    for number, raw in enumerate(lines, 1):
        if not raw:
            parsed.blank_lines += 1
            continue
        try:
            event = decode(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            parsed.unparsed.append(UnparsedLine(number, raw, "invalid_utf8", str(exc)))
            continue
        except ValueError as exc:
            parsed.unparsed.append(UnparsedLine(number, raw, "invalid_json", str(exc)))
            continue
        if type(event) is not dict:
            kind = "null" if event is None else type(event).__name__
            parsed.unparsed.append(UnparsedLine(number, raw, "not_an_object", f"JSON {kind}"))
            continue
        event_type = event.get("type")
        if type(event_type) is not str or not event_type:
            event_type = file_event_type
        elif event_type != file_event_type:
            parsed.foreign += 1
        key = event.get("event_id")
        if type(key) is str and key:
            type_hash = hash(event_type)
            fingerprint = (hash((event_type, raw)) & ~_TYPE_BITS) | (type_hash & _TYPE_BITS)
        else:
            key = derived_event_key(event)
            parsed.keys[id(event)] = key
            fingerprint = hash(event_type)
        previous = seen.get(key)
        if previous is None:
            seen[key] = fingerprint
        elif previous == fingerprint or (type(previous) is tuple and fingerprint in previous):
            parsed.duplicates += 1
            parsed.keys.pop(id(event), None)
            continue
        else:
            variants = previous if type(previous) is tuple else (previous,)
            seen[key] = (*variants, fingerprint)
            parsed.clashes += 1
            type_bits = fingerprint & _TYPE_BITS
            if any(v & _TYPE_BITS == type_bits for v in variants):
                parsed.keys[id(event)] = f"{key}#{derived_event_key(event)}"
        if fingerprint == hash(event_type) and id(event) in parsed.keys:
            parsed.without_id += 1
        if event_type == CONVERSATION_MESSAGE:
            messages.append(event)
        else:
            others.append(event)
    return parsed


@dataclass
class LogFile:
    """A downloaded, verified log file and what its lines became."""

    meta: dict[str, t.Any]
    event_type: str
    """The listed ``event_type``, or the requested one when the listing item lacks it."""
    sha256: str
    size: int
    attempts: int
    lines: ParsedLines = field(default_factory=ParsedLines)

    @property
    def id(self) -> str:
        """Return the log file id."""
        return str(self.meta["id"])

    @property
    def messages(self) -> list[Event]:
        """Return the CONVERSATION_MESSAGE events kept (messages, conversations, files)."""
        return self.lines.messages

    @property
    def events(self) -> list[Event]:
        """Return the CONVERSATION_MESSAGE events kept (the attachments are read from these)."""
        return self.lines.messages

    @property
    def other_events(self) -> list[Event]:
        """Return the events of every other type kept (what the events stream reads)."""
        return self.lines.others

    @property
    def event_count(self) -> int:
        """Return the number of events kept."""
        return len(self.lines.messages) + len(self.lines.others)

    def key_of(self, event: Event) -> str | None:
        """Return the key given to an event when it is not its own ``event_id``, else None."""
        keys = self.lines.keys
        return keys.get(id(event)) if keys else None


def _read_all(response: requests.Response) -> tuple[bytes, str]:
    digest = hashlib.sha256()
    chunks = []
    for chunk in response.iter_content(CHUNK):
        digest.update(chunk)
        chunks.append(chunk)
    return b"".join(chunks), digest.hexdigest()


def fetch_log_file(
    stream: ComplianceStream,
    scope_path: str,
    meta: dict[str, t.Any],
    event_type: str,
    seen: SeenEvents,
) -> LogFile:
    """Download a listed file, check its SHA-256 (a mismatch is downloaded once more), parse it.

    Raises ComplianceAPIError when the bytes still do not match: the caller must not
    advance state past this file. ``event_type`` is the file's type (the requested one when
    the listing item has none); ``seen`` is the run's memory of event keys.
    """
    expected = str(meta.get("file_sha256") or "").lower()
    path = f"{scope_path}/logs/{meta['id']}"
    for attempt in range(1, SHA_TRIES + 1):
        try:
            body, sha256 = download(stream, path, _read_all)
        except Unavailable as exc:
            if exc.status == 403:  # a scope problem: the message names the scope
                raise
            msg = (
                f"Log file {meta['id']} was listed but cannot be downloaded (HTTP {exc.status}: "
                f"{exc.detail}); it may have just passed the 30-day retention. State was not "
                "advanced past it: rerun the tap."
            )
            raise ComplianceAPIError(msg) from exc
        if not expected or sha256 == expected:
            if not expected:
                LOGGER.warning("Log file %s was listed without file_sha256.", meta["id"])
            return LogFile(
                meta=meta,
                event_type=event_type,
                sha256=sha256,
                size=len(body),
                attempts=attempt,
                lines=parse_lines(body, event_type, seen),
            )
        LOGGER.warning(
            "Log file %s: SHA-256 %s does not match the listed %s (try %d of %d).",
            meta["id"],
            sha256,
            expected,
            attempt,
            SHA_TRIES,
        )
    msg = (
        f"Log file {meta['id']} ({meta.get('file_name')}) failed its SHA-256 check "
        f"{SHA_TRIES} times: stopping without advancing state past it. Rerun later; if it "
        "persists, report the file id to OpenAI support."
    )
    raise ComplianceAPIError(msg)
