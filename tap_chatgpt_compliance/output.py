"""Singer output with a line-size check: no line that Meltano's buffer would reject unannounced.

Records are serialised with the standard library's C JSON encoder, about three times faster than
the SDK's simplejson writer, with the same output: ASCII only (``ensure_ascii``), compact
separators, datetimes as ``isoformat(sep="T")``. What the standard encoder would write
differently (``Decimal``, NaN and infinities, keys that are not strings or numbers) falls back
to the SDK's serialiser, so every line is the one the SDK would have written.

Lines are buffered and written in chunks; the buffer is always emptied before a STATE, a SCHEMA
or any other message, and at the end of the run, so nothing is reordered and a STATE never
reaches the target before the records it covers.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import decimal
import json
import sys
import time
import typing as t
import weakref

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.json import serialize_json

from tap_chatgpt_compliance.errors import RecordTooLarge
from tap_chatgpt_compliance.settings import DEFAULT_MAX_RECORD_BYTES, MIB

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message

KEY_FIELDS = ("id", "event_id", "file_id")
BUFFER_BYTES = 64 * 1024
"""Records are written to stdout in chunks of about this size (and before any other message)."""
LARGE_LINE = 256 * 1024
"""A record line at least this long is written by pieces, straight to stdout."""


class _NotStdlib(TypeError):
    """A value the standard encoder would write differently from the SDK's: use the SDK's."""


def _default(value: t.Any) -> t.Any:
    """Encode what JSON has no type for, as the SDK's ``_default_encoding`` does."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep="T")
    if isinstance(value, decimal.Decimal):
        raise _NotStdlib  # simplejson writes it as a number
    return str(value)


_ENCODE = json.JSONEncoder(
    separators=(",", ":"),
    ensure_ascii=True,
    allow_nan=False,
    check_circular=False,  # records are trees of JSON values: no cycle to look for
    default=_default,
).encode


def record_line(
    stream: str,
    record: dict[str, t.Any],
    version: int | None,
    time_extracted: datetime.datetime | None,
) -> str:
    """Return the RECORD line the SDK would write for these values (``RecordMessage.to_dict``)."""
    message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
    if version is not None:
        message["version"] = version
    if time_extracted is not None:
        message["time_extracted"] = time_extracted
    try:
        return _ENCODE(message)
    except (TypeError, ValueError):  # Decimal, NaN/Infinity, odd keys: the SDK's encoder
        return serialize_json(message)


_clock = time.time
_stamp: list[t.Any] = [0, ""]
"""The extraction time last formatted: (hundredths of a second, JSON string)."""


def extraction_time() -> str:
    """Return the current UTC time as the JSON string of ``time_extracted`` (10 ms grain).

    The SDK stamps each record with ``datetime.now(timezone.utc)``; formatting it once per
    hundredth of a second gives the same strings at a fraction of the cost.
    """
    now = _clock()
    tick = int(now * 100)
    if tick != _stamp[0]:
        moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        _stamp[0], _stamp[1] = tick, _ENCODE(moment.isoformat())
    return t.cast("str", _stamp[1])


_NAMES: dict[str, str] = {}
"""Field name → its JSON text and the colon."""
Verbatim = tuple[str, tuple[str, ...]]
"""A record field written as given: its name, and the pieces of its JSON text."""


def fast_record_parts(
    stream_json: str, record: dict[str, t.Any], version: int | None, verbatim: Verbatim | None
) -> list[str]:
    """Return the pieces of the RECORD line of ``record`` (stream name already JSON).

    Joined, they are the line ``record_line`` gives (``time_extracted`` aside). ``verbatim``
    names a field whose JSON text is already known: the event as delivered by the API (ASCII,
    parsed strictly), or base64 content between quotes; it is written as it is, last, instead
    of being serialised again (a base64 part of 11 MiB is never copied into a line).
    """
    head = '{"type":"RECORD","stream":' + stream_json + ',"record":'
    tail = (
        ',"time_extracted":' + extraction_time() + "}"
        if version is None
        else f',"version":{version},"time_extracted":{extraction_time()}}}'
    )
    if verbatim is None or verbatim[0] not in record:
        return [head, _ENCODE(record), tail]
    name, pieces = verbatim
    value = record.pop(name)
    try:
        body = _ENCODE(record)
    finally:
        record[name] = value
    separator = "," if len(record) > 1 else ""
    key = _NAMES.get(name) or _NAMES.setdefault(name, _ENCODE(name) + ":")
    return [head, body[:-1], separator, key, *pieces, "}", tail]


def fast_record_line(
    stream_json: str, record: dict[str, t.Any], version: int | None, verbatim: Verbatim | None
) -> str:
    """Return the RECORD line of ``record`` (see :func:`fast_record_parts`)."""
    return "".join(fast_record_parts(stream_json, record, version, verbatim))


class LineLimitedWriter(SingerWriter):
    """Write each message as one line, refusing lines longer than ``max_line_bytes``.

    The JSON is ASCII (``ensure_ascii``, as the SDK's), so a line's length in characters is its
    length in bytes. A refused record raises :class:`RecordTooLarge` before anything of it is
    written; the bookmark of its log file is written only after all its records, so nothing is
    skipped.
    """

    max_line_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def __init__(self) -> None:
        """Start with an empty buffer, emptied at exit whatever happens."""
        super().__init__()
        self._buffer: list[str] = []
        self._buffered = 0
        self._stream_json: dict[str, str] = {}
        _WRITERS.add(self)

    def _check(self, line: str, message: Message | None, stream: str, record: dict) -> None:
        size = len(line) if line.isascii() else len(line.encode("utf-8"))
        if size > self.max_line_bytes:
            if message is None:
                message = RecordMessage(stream=stream, record=record)
            raise RecordTooLarge(too_large_message(message, size, self.max_line_bytes))

    def write_record(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None = None,
        verbatim: Verbatim | None = None,
    ) -> None:
        """Write one RECORD (the fast path of ``tap_chatgpt_compliance.sdk``)."""
        stream_json = self._stream_json.get(stream)
        if stream_json is None:
            stream_json = self._stream_json[stream] = _ENCODE(stream)
        try:
            parts = fast_record_parts(stream_json, record, version, verbatim)
        except (TypeError, ValueError):  # Decimal, NaN/Infinity, odd keys: the SDK's encoder
            parts = [
                record_line(stream, record, version, datetime.datetime.now(datetime.timezone.utc))
            ]
        size = sum(map(len, parts))  # every piece is ASCII JSON: characters are bytes
        if size > self.max_line_bytes:
            self._check("".join(parts), None, stream, record)
        if size < LARGE_LINE:
            self._buffer.append("".join(parts))
            self._buffered += size + 1
            if self._buffered >= BUFFER_BYTES:
                self.flush()
            return
        self.flush()  # a large line is written piece by piece, never joined in memory
        write = sys.stdout.write
        for part in parts:
            write(part)
        write("\n")
        sys.stdout.flush()

    def serialize_message(self, message: Message) -> str:
        """Serialise a message: RECORDs by the standard encoder, the rest by the SDK's."""
        if isinstance(message, RecordMessage):
            return record_line(
                message.stream, message.record, message.version, message.time_extracted
            )
        return super().serialize_message(message)

    def write_message(self, message: Message) -> None:
        """Write one message and a newline, or fail if the line is too long."""
        line = self.format_message(message)
        record = message.record if isinstance(message, RecordMessage) else {}
        self._check(line, message, "", record)
        if isinstance(message, RecordMessage):
            self._buffer.append(line)
            self._buffered += len(line) + 1
            if self._buffered >= BUFFER_BYTES:
                self.flush()
            return
        self._buffer.append(line)
        self.flush()

    def flush(self) -> None:
        """Write the buffered lines to stdout."""
        if self._buffer:
            self._buffer.append("")
            text = "\n".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            sys.stdout.write(text)
        sys.stdout.flush()


_WRITERS: weakref.WeakSet[LineLimitedWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """Write what is still buffered when the process ends (a failed run included)."""
    for writer in list(_WRITERS):
        with contextlib.suppress(Exception):
            writer.flush()


def too_large_message(message: Message, size: int, limit: int) -> str:
    """Name the record, its size, and the two settings to raise."""
    what = f"A {type(message).__name__}"
    if isinstance(message, RecordMessage):
        record = message.record
        key = next((f"{k} {record[k]}" for k in KEY_FIELDS if record.get(k)), "")
        where = f", log file {record['log_file_id']}" if record.get("log_file_id") else ""
        what = f"The {message.stream} record ({key}{where})"
        if not key:
            what = f"A {message.stream} record"
    buffer = -(-2 * (size + 1) // MIB) * MIB  # Meltano's line limit is half its buffer
    return (
        f"{what} is a Singer line of {size} bytes, above max_record_bytes ({limit}; Meltano's "
        "default line limit is 50 MiB, half of elt.buffer_size). It was not written and nothing "
        "is skipped: the bookmark stays before its log file. To archive it, set "
        "max_record_bytes to at least "
        f"{size} and Meltano's elt.buffer_size to at least {buffer} (MELTANO_ELT_BUFFER_SIZE="
        f"{buffer}), then rerun."
    )
