"""Singer output with a line-size check: no line that Meltano's buffer would reject unannounced."""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage

from tap_chatgpt_compliance.errors import RecordTooLarge
from tap_chatgpt_compliance.settings import DEFAULT_MAX_RECORD_BYTES, MIB

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message

KEY_FIELDS = ("id", "event_id", "file_id")


class LineLimitedWriter(SingerWriter):
    """Write each message as one line, refusing lines longer than ``max_line_bytes``.

    The line is serialised once, as the SDK does, and measured: the SDK's JSON is ASCII
    (``ensure_ascii``), so its length in characters is its length in bytes, known in O(1).
    A refused record raises :class:`RecordTooLarge` before anything of it is written; the
    bookmark of its log file is written only after all its records, so nothing is skipped.
    """

    max_line_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def write_message(self, message: Message) -> None:
        """Write one message and a newline, or fail if the line is too long."""
        line = self.format_message(message)
        size = len(line) if line.isascii() else len(line.encode("utf-8"))
        if size > self.max_line_bytes:
            raise RecordTooLarge(too_large_message(message, size, self.max_line_bytes))
        sys.stdout.write(line)
        sys.stdout.write("\n")
        sys.stdout.flush()


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
