r"""Run target-postgres, storing each lone surrogate as U+FFFD instead of failing the whole load.

JSON can carry half of a surrogate pair (``\ud83d``: half an emoji, which a client that cuts a
string between the two halves sends); UTF-8 and PostgreSQL cannot hold it. meltanolabs
target-postgres 0.8.1 hands such a string to psycopg, which fails (``UnicodeEncodeError:
surrogates not allowed``): the load stops at that record and every later run stops at it again.
Here the target's reader (the SDK's documented ``message_reader_class``) replaces each lone
surrogate, in keys and values at any depth, by U+FFFD, as the target's
``sanitize_null_text_characters`` does for NUL; ``chatgpt-compliance verify --postgres``
accepts exactly that replacement and says so in a note. Everything else is target-postgres's
own code, unchanged.
"""

from __future__ import annotations

import re
import sys
import typing as t

from singer_sdk.io_base import SingerReader
from target_postgres.target import TargetPostgres
from typing_extensions import override

REQUIRED = "meltanolabs-target-postgres 0.8.1"
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
"""In a parsed string every surrogate is a lone one (a pair is parsed as one character)."""
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
"""How a surrogate looks in the line (an escape): a line without one is left as parsed."""


def replace_lone_surrogates(value: t.Any) -> t.Any:
    """Return a parsed JSON value with each lone surrogate of its strings (and keys) as U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    return value


class Utf8Reader(SingerReader):
    """The SDK's reader; a line holding a surrogate escape is made storable (U+FFFD)."""

    @override
    def deserialize_json(self, line: str) -> dict:
        """Parse a line; replace each lone surrogate of a line that has any."""
        message = super().deserialize_json(line)
        if _ESCAPED_SURROGATE.search(line):
            return t.cast("dict", replace_lone_surrogates(message))
        return message


class TargetPostgresUtf8(TargetPostgres):
    """target-postgres, its name and settings unchanged, with :class:`Utf8Reader`."""

    message_reader_class = Utf8Reader


def main() -> None:
    """Run the ``target-postgres`` command with the reader that replaces lone surrogates."""
    if TargetPostgres.message_reader_class is not SingerReader:
        sys.exit(
            "target-postgres-utf8: TargetPostgres.message_reader_class is not the SDK's "
            f"SingerReader; this wrapper is written for {REQUIRED}: use the executable "
            "target-postgres"
        )
    TargetPostgresUtf8.cli()


if __name__ == "__main__":
    main()
