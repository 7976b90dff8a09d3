"""The log file parser's fast JSON decoder (orjson) reads every line as the standard one does.

orjson is used for speed (issue #20); where it would differ (integers beyond 64 bits, which it
turns into floats) or refuses a line (NaN, numbers out of range, lone surrogates, invalid
UTF-8), the standard decoder decides, so values, keys, errors and verbatim lines are the same.
"""

from __future__ import annotations

import json
import math
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
        assert parsed.message_lines == [raw.decode() if raw.isascii() else None]


# The writer's fast encoder (run/output.plain_json): the standard encoder's text, or None.


def _random_value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(10 if depth < 3 else 7)
    if pick == 0:
        return rng.randrange(-(2**70), 2**70) >> rng.randrange(70)
    if pick == 1:
        return rng.choice([0.00001, 1e-7, 1e16, 1e22, 0.5, -0.0, 123.0, 1.5e300])
    if pick in (2, 3):
        alphabet = [
            rng.randrange(0x80),
            rng.randrange(0x80, 0x800),
            rng.randrange(0x10000, 0x110000),
        ]
        return "".join(chr(rng.choice(alphabet)) for _ in range(rng.randrange(8)))
    if pick == 4:
        return rng.choice([True, False, None, "\x7f", "a:1.5", "[2e3", "\u2028", "\ufeff"])
    if pick in (5, 6):
        return f"{rng.randrange(10**9)}:{rng.randrange(99)}"
    if pick in (7, 8):
        return {rng.choice(["k", "é", "🙂", str(rng.randrange(9))]): _random_value(rng, depth + 1)}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_plain_json_writes_the_standard_encoders_text_or_declines() -> None:
    from tap_chatgpt_compliance.run.output import _ENCODE, plain_json

    rng = random.Random(7)
    written = declined = 0
    for _ in range(3000):
        record = {"id": "m", "x": _random_value(rng), "y": _random_value(rng)}
        text = plain_json(record)
        if text is None:
            declined += 1
        else:
            written += 1
            assert text == _ENCODE(record)
    assert written > 1000
    assert declined > 100  # floats, DEL, big integers: left to the standard encoder


@pytest.mark.parametrize(
    "value",
    [0.00001, 1.5e-7, 2**64, -(2**63) - 1, "\x7f", {1: "a"}, float("nan"), float("inf")],
)
def test_plain_json_declines_what_orjson_would_write_otherwise(value: object) -> None:
    from tap_chatgpt_compliance.run.output import plain_json

    if isinstance(value, float) and not math.isfinite(value):
        # orjson writes NaN and infinities as null: a plain record never holds them (the
        # parser leaves such lines to the standard decoder, which marks them not plain).
        parser = LineParser(CM)
        parser.line(b'{"event_id":"e","n":1e400}')
        assert parser.finish({}).message_plain == [False]
        return
    assert plain_json({"v": value}) is None


def test_plain_json_writes_floats_of_every_magnitude_as_json_does() -> None:
    from tap_chatgpt_compliance.run.output import _ENCODE, plain_json

    rng = random.Random(11)
    floats = [
        sign * rng.random() * 10.0**exponent
        for exponent in range(-320, 300)
        for sign in (1, -1)
        for _ in range(20)
    ]
    floats += [1e-5, 9.99e-5, 1e-4, 1e15, 1e16, 1.5e16, 1e22, 5e-324, 1.7976931348623157e308]
    written = 0
    for start in range(0, len(floats), 7):
        record = {"x": floats[start : start + 7], "at": "2026-01-01T00:00:28.000000+00:00"}
        text = plain_json(record)
        if text is not None:
            written += 1
            assert text == _ENCODE(record)
    assert written > 500


def test_a_plain_record_line_is_the_same_line() -> None:
    from tap_chatgpt_compliance.run.output import fast_record_parts

    rng = random.Random(3)
    for _ in range(500):
        record = {"id": "m", "content_text": _random_value(rng), "event": _random_value(rng)}
        verbatim = ("event", (json.dumps(record["event"]),)) if rng.random() < 0.5 else None
        slow = fast_record_parts('"messages"', dict(record), None, verbatim)
        fast = fast_record_parts('"messages"', dict(record), None, verbatim, plain=True)
        assert "".join(fast[:-1]) == "".join(slow[:-1])
