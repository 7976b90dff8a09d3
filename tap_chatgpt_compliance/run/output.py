"""Singer output with a line-size check: no line that Meltano's buffer would reject unannounced.

Records are serialised with the standard library's C JSON encoder, about three times faster than
the SDK's simplejson writer, with the same output: ASCII only (``ensure_ascii``), compact
separators, datetimes as ``isoformat(sep="T")``. What the standard encoder would write
differently (``Decimal``, NaN and infinities, keys that are not strings or numbers) falls back
to the SDK's serialiser, so every line is the one the SDK would have written.

Lines are buffered and written in chunks; the buffer is always emptied before a STATE, a SCHEMA
or any other message, and at the end of the run, so nothing is reordered and a STATE never
reaches the target before the records it covers.

SIGTERM and SIGINT never tear a line: while the writer is writing to stdout, a signal is only
noted, and :class:`Interrupted` is raised once the line (or chunk of lines) is complete.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import datetime
import decimal
import json
import os
import re
import signal
import sys
import time
import typing as t
import weakref
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring_ascii,
)

import orjson
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.singerlib.json import serialize_json

from tap_chatgpt_compliance.errors import RecordTooLarge
from tap_chatgpt_compliance.settings import DEFAULT_MAX_RECORD_BYTES, MIB

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message

KEY_FIELDS = ("id", "event_id", "file_id")
BUFFER_BYTES = 256 * 1024
"""Records are written to stdout in chunks of about this size (and before any other message).

Each write lets the log file thread take the interpreter's lock, and the run waits to get it
back (up to the switch interval): with 64 KiB chunks, 4,000 writes of a 100k-message run cost
about a second of waiting (benchmark P1), with 256 KiB about half of that (1 MiB saves another
0.2 s, for 1 MB more of peak memory: P4). The chunk is one ``bytearray``, never copied whole."""
LARGE_LINE = 256 * 1024
"""A record line at least this long is written by pieces, straight to stdout."""


class Interrupted(BaseException):  # like KeyboardInterrupt: not an Exception
    """SIGTERM or SIGINT: the run stops after the line being written, exit 128 + signal.

    A ``BaseException``, so that no ``except Exception`` on the way (an attachment's error
    handling, a retry) can swallow it.
    """

    def __init__(self, signum: int) -> None:
        """Name the signal."""
        self.signum = signum
        try:
            self.signame = signal.Signals(signum).name
        except ValueError:
            self.signame = f"signal {signum}"
        super().__init__(self.message)

    @property
    def exit_code(self) -> int:
        """Return the shell's code for a process ended by the signal: 130 SIGINT, 143 SIGTERM."""
        return 128 + self.signum

    @property
    def message(self) -> str:
        """Return the one line that ends the run."""
        return (
            f"Stopped by {self.signame} (exit code {self.exit_code}): the run ended after the "
            "line being written; the last STATE covers only what was written, so a rerun "
            "resumes there (nothing is skipped)."
        )


class _NotStdlib(TypeError):
    """A value the standard encoder would write differently from the SDK's: use the SDK's."""


def _default(value: t.Any) -> t.Any:
    """Encode what JSON has no type for, as the SDK's ``_default_encoding`` does."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep="T")
    if isinstance(value, decimal.Decimal):
        raise _NotStdlib  # simplejson writes it as a number
    return str(value)


_ENCODER = json.JSONEncoder(
    separators=(",", ":"),
    ensure_ascii=True,
    allow_nan=False,
    check_circular=False,  # records are trees of JSON values: no cycle to look for
    default=_default,
)
_C_ENCODER = c_make_encoder and c_make_encoder(
    None, _default, encode_basestring_ascii, None, ":", ",", False, False, False
)
"""The C encoder ``_ENCODER.encode`` builds at every call (same arguments, built once)."""


def _encode_with_c(value: t.Any) -> str:
    """Return ``_ENCODER.encode(value)``, without building the C encoder again (10% of it)."""
    return "".join(t.cast("t.Callable[..., tuple[str, ...]]", _C_ENCODER)(value, 0))


_ENCODE: t.Callable[[t.Any], str] = _ENCODER.encode if _C_ENCODER is None else _encode_with_c

_JSON_ESCAPE = "tap_chatgpt_compliance.json_escape"


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    r"""Write non-ASCII characters as ``ensure_ascii`` does (``\u00e9``, surrogate pairs)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return encode_basestring_ascii(error.object[error.start : error.end])[1:-1], error.end


codecs.register_error(_JSON_ESCAPE, _json_escape)


def ascii_json(data: bytes) -> str:
    r"""Return compact UTF-8 JSON as ``ensure_ascii`` would write it: non-ASCII escaped.

    Non-ASCII characters can only be inside JSON strings, where ``\uXXXX`` (a surrogate pair
    beyond the BMP) means the same character; everything else is kept as it is.
    """
    return data.decode("utf-8").encode("ascii", _JSON_ESCAPE).decode("ascii")


DEL = b"\x7f"
"""The one ASCII character ``ensure_ascii`` escapes (``\\u007f``) and orjson does not."""
_ORJSON_DUMPS = orjson.dumps
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""Refuse what orjson would write its own way (dates, dataclasses, subclasses of str, int, dict
and list): the standard encoder writes those, as before."""
_SMALL_FLOAT_TEXT = re.compile(rb"e-[0-9][,\]}]")
"""How orjson writes a float below 1e-5 with a one-digit exponent: ``9e-6``, where ``repr``
writes ``9e-06`` (from 1e-5 to 1e-4 it writes ``0.00001``, where ``repr`` writes ``1e-05``;
every other float, and ``-0.0``, ``1e+16``, ``1e-10``, ``5e-324``, as ``repr`` does). A number
is followed by ``,``, ``]`` or ``}``."""


def encode_record(record: dict[str, t.Any]) -> str:
    """Return the text the standard encoder writes for a record, by orjson when it is the same.

    orjson writes JSON values as the standard encoder does (compact), once its non-ASCII
    characters are escaped as ``ensure_ascii`` escapes them (:func:`ascii_json`), except:
    DEL, which ``ensure_ascii`` escapes and orjson does not; floats below 1e-4 (found in its
    text: a text that looks like one only costs the standard encoder); values it refuses
    (integers beyond 64 bits, lone surrogates, keys that are not strings, and by
    :data:`_ORJSON_OPTIONS` dates, dataclasses and subclasses). Those records are written by
    the standard encoder. NaN and infinities, which
    the standard encoder refuses (then the SDK's encoder writes them, as ``null``), orjson
    writes as ``null`` too. Record values are JSON values, as parsed or built by the tap
    (``tests/tap/test_lean_paths.py`` compares the two encoders on hostile values).
    """
    try:
        data = _ORJSON_DUMPS(record, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _ENCODE(record)
    if DEL in data or b"0.0000" in data or _SMALL_FLOAT_TEXT.search(data):
        return _ENCODE(record)
    return data.decode("ascii") if data.isascii() else ascii_json(data)


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
    names a field whose JSON text is already known: the event as delivered by the API (parsed
    strictly, non-ASCII escaped: ``logfile.verbatim_line``), or base64 content between quotes;
    it is written as it is, last, instead of being serialised again (a base64 part of 11 MiB is
    never copied into a line).
    """
    head = '{"type":"RECORD","stream":' + stream_json + ',"record":'
    tail = (
        ',"time_extracted":' + extraction_time() + "}"
        if version is None
        else f',"version":{version},"time_extracted":{extraction_time()}}}'
    )
    if verbatim is None or verbatim[0] not in record:
        return [head, encode_record(record), tail]
    name, pieces = verbatim
    value = record.pop(name)
    try:
        body = encode_record(record)
    finally:
        record[name] = value
    separator = "," if len(record) > 1 else ""
    key = _NAMES.get(name) or _NAMES.setdefault(name, _ENCODE(name) + ":")
    return [head, body[:-1], separator, key, *pieces, "}", tail]


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
        self._buffer = bytearray()
        """Whole lines, each with its newline, waiting for :meth:`flush`."""
        self._stream_json: dict[str, str] = {}
        self._writing = False
        """Whether a line is being written to stdout (a signal then waits for its end)."""
        self.deferred: Interrupted | None = None
        """The interruption noted while a line was being written, raised at its end."""
        self.interrupted: Interrupted | None = None
        """The interruption raised (later signals are ignored: the run is already stopping)."""
        self.last_state_line: str | None = None
        """The last STATE line written: it covers only records written before it."""
        _WRITERS.add(self)

    def interrupt(self, signum: int) -> None:
        """Stop the run for a signal: now, or at the end of the line being written."""
        if self.interrupted is not None or self.deferred is not None:
            return  # already stopping: a second signal changes nothing
        stop = Interrupted(signum)
        if self._writing:
            self.deferred = stop
            return
        self.interrupted = stop
        raise stop

    def written_state(self) -> dict[str, t.Any] | None:
        """Return the value of the last STATE line written (what a target persists), if any.

        The streams' state in memory can be ahead of it for a moment (a bookmark moves before
        its STATE is written): what a run reports as done must come from here.
        """
        line = self.last_state_line
        return None if line is None else t.cast("dict[str, t.Any]", json.loads(line)["value"])

    def _raise_deferred(self) -> None:
        stop = self.deferred
        if stop is not None and self.interrupted is None:
            self.deferred = None
            self.interrupted = stop
            raise stop

    def end_interrupted(self) -> None:
        """Write the whole lines still buffered, then the last STATE again (the final one).

        The last STATE written covers only records written before it; the records written
        after it are written again by the next run (duplicates, never a gap).
        """
        self._writing = True
        try:
            self.flush()
            if self.last_state_line is not None:
                write_stdout(self.last_state_line + "\n")
        finally:
            self._writing = False

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
            buffer = self._buffer
            buffer += "".join(parts).encode("utf-8")
            buffer += b"\n"
            if len(buffer) >= BUFFER_BYTES:
                self.flush()
            return
        self.flush()  # a large line is written piece by piece, never joined in memory
        self._writing = True
        try:
            for part in parts:
                write_stdout(part)
            write_stdout("\n")
        finally:
            self._writing = False
        self._raise_deferred()

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
            self._buffer += line.encode("utf-8")
            self._buffer += b"\n"
            if len(self._buffer) >= BUFFER_BYTES:
                self.flush()
            return
        if isinstance(message, StateMessage):
            self.last_state_line = line  # written next (a signal waits for the line's end)
        self._buffer += line.encode("utf-8")
        self._buffer += b"\n"
        self.flush()

    def flush(self) -> None:
        """Write the buffered lines to stdout (whole lines: a signal waits for the end)."""
        nested = self._writing
        self._writing = True
        try:
            if self._buffer:
                data, self._buffer = self._buffer, bytearray()
                write_stdout_bytes(data)
            else:
                sys.stdout.flush()
        finally:
            self._writing = nested
        if not nested:
            self._raise_deferred()


_WRITERS: weakref.WeakSet[LineLimitedWriter] = weakref.WeakSet()


def write_stdout(text: str) -> None:
    """Write ``text`` to stdout whole (see :func:`write_stdout_bytes`)."""
    write_stdout_bytes(text.encode("utf-8"))


def write_stdout_bytes(data: bytes | bytearray) -> None:
    """Write ``data`` (UTF-8) to stdout whole, even when a signal interrupts the write.

    Python's buffered stdout loses the rest of a write that a signal interrupts part way
    (a pipe full, the reader slow): the line would be torn. The bytes go to the file
    descriptor directly instead, each partial write followed by the rest. Whatever was
    written to ``sys.stdout`` before is flushed first, so nothing is reordered.
    """
    out = sys.stdout
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (tests)
        out.write(data.decode("utf-8"))
        out.flush()
        return
    out.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
