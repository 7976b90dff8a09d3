"""The log file parser's fast JSON decoder (orjson) reads every line as the standard one does.

orjson is used for speed (issue #20); where it would differ (integers beyond 64 bits, which it
turns into floats) or refuses a line (NaN, numbers out of range, lone surrogates, invalid
UTF-8), the standard decoder decides, so values, keys, errors and verbatim lines are the same.
"""

from __future__ import annotations

import json
import random

import pytest

from tap_chatgpt_compliance.logfiles.logfile import LineParser, _strict_loads

CM = "CONVERSATION_MESSAGE"
LINES = [
    b'{"event_id":"e","n":123456789012345678901234567890}',
    b'{"event_id":"e","n":-9223372036854775809}',
    b'{"event_id":"e","n":18446744073709551616}',
    b'{"event_id":"e","n":1000000000000000000}',
    b'{"event_id":"e","n":1e400}',
    b'{"event_id":"e","n":-1e400}',
    b'{"event_id":"e","n":NaN}',
    b'{"event_id":"e","n":Infinity}',
    b'{"event_id":"e","s":"\\ud800"}',
    b'{"event_id":"e","s":"\\udc00x\\ud83d"}',
    b'{"event_id":"e","s":"\xff"}',
    b'{"event_id":"e","a":1,"a":2,"b":[0.1,-0.0,5e-324,1E5,1.5e-7]}',
    b' \t{"event_id":"e"} \r',
    b'{"event_id":"e"} x',
    b'\xef\xbb\xbf{"event_id":"e"}',
    b'{"event_id":"e","s":"caf\xc3\xa9 \\u00e9"}',
    b"[1, 2]",
    b"null",
    b"1234567890123456789012",
    b'"text"',
    b'{"event_id":"e","s":"\x01"}',
    b'{"event_id":"e","n":01}',
]


def _standard(raw: bytes) -> tuple[str, object]:
    try:
        return "ok", _strict_loads(raw)
    except UnicodeDecodeError as exc:
        return "invalid_utf8", str(exc)
    except ValueError as exc:
        return "invalid_json", str(exc)


def _what(raw: bytes) -> tuple[str, object]:
    parser = LineParser(CM)
    parser.line(raw)
    parsed = parser.finish({})
    if parsed.unparsed:
        line = parsed.unparsed[0]
        return line.reason, line.error
    events = parsed.messages + parsed.others
    return ("ok", events[0]) if events else ("blank", None)


def _same(left: object, right: object) -> bool:
    """Equal values of the same types, dict keys in the same order (repr shows all three)."""
    return repr(left) == repr(right)


@pytest.mark.parametrize("raw", LINES)
def test_every_odd_line_reads_as_the_standard_decoder_reads_it(raw: bytes) -> None:
    kind, value = _standard(raw)
    got_kind, got = _what(raw)
    if kind == "ok" and not isinstance(value, dict):
        assert got_kind == "not_an_object"
        return
    assert got_kind == kind
    assert _same(got, value)


def test_random_events_read_the_same_and_keep_their_verbatim_line() -> None:
    rng = random.Random(20)

    def value(depth: int) -> object:
        pick = rng.randrange(9 if depth < 3 else 6)
        if pick == 0:
            return rng.randrange(-(2**70), 2**70) >> rng.randrange(70)
        if pick == 1:
            return rng.uniform(-1e300, 1e300) * 10.0 ** -rng.randrange(600)
        if pick == 2:
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x10FFFF)]))
                for _ in range(rng.randrange(6))
            ).replace("\ud800", "")
        if pick == 3:
            return rng.choice([True, False, None])
        if pick in (4, 5):
            return str(rng.randrange(10**25))
        if pick in (6, 7):
            return {f"k{rng.randrange(9)}": value(depth + 1) for _ in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    for n in range(400):
        event = {"event_id": f"e{n}", "type": CM, "x": value(0)}
        ascii_only = rng.random() < 0.5
        raw = json.dumps(event, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        kind, expected = _standard(raw)
        parser = LineParser(CM)
        parser.line(raw)
        parsed = parser.finish({})
        if kind != "ok":
            assert parsed.unparsed[0].reason == kind
            continue
        assert _same(parsed.messages[0], expected), raw
        # The line as delivered; non-ASCII escaped exactly as ensure_ascii writes it.
        assert parsed.message_lines == [json.dumps(event, ensure_ascii=True)], raw
        assert parsed.message_lines[0] == raw.decode() or not raw.isascii()


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b' {"a":"caf\xc3\xa9"}\t', '{"a":"caf\\u00e9"}'),
        (
            '{"a": "\U0001f4ce \u2028", "b": [1.0, 1e-07]}'.encode(),
            '{"a": "\\ud83d\\udcce \\u2028", "b": [1.0, 1e-07]}',
        ),
        (b'{"a":"\x7f\xc3\xa9"}', None),  # DEL with non-ASCII: the encoder escapes both
        (b'{"a":"\x7f"}', '{"a":"\x7f"}'),  # ASCII lines were always kept as delivered
    ],
)
def test_verbatim_line_is_the_delivered_line_in_ascii(raw: bytes, line: str | None) -> None:
    parser = LineParser(CM)
    parser.line(raw)
    got = parser.finish({}).message_lines[0]
    assert got == line
    if got is not None:
        assert got.isascii()
        assert json.loads(got) == json.loads(raw)
