"""Issue 20 (P1 throughput): the run's cheaper paths give exactly what the plain ones give."""

from __future__ import annotations

import contextlib
import datetime
import decimal
import gc
import io
import json
import random
import struct
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from singer_sdk.singerlib import StateMessage
from singer_sdk.singerlib.json import serialize_json

from tap_chatgpt_compliance import timeparse
from tap_chatgpt_compliance.run import output
from tap_chatgpt_compliance.run.interpreter import (
    SWITCH_INTERVAL,
    YOUNG_THRESHOLD,
    lean_interpreter,
)

TIMES = [
    "2026-12-03T02:26:01.325784Z",
    "2026-12-03T02:26:01Z",
    "2026-12-03T02:26:01.325784+02:00",
    " 2026-12-03T02:26:01Z ",
    "2026-02-30T02:26:01Z",  # not a date
    "2026-12-03T25:26:01.000000Z",
    "2026-12-03",
    "",
    "not a time",
    "2026-12-03T02:26:01.325784z",
]


def test_interpreter_is_lean_during_the_sync_and_restored_after() -> None:
    before = gc.get_threshold()
    interval = sys.getswitchinterval()
    with lean_interpreter():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
        assert sys.getswitchinterval() == pytest.approx(min(interval, SWITCH_INTERVAL))
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == interval


def test_interpreter_restored_when_the_sync_fails() -> None:
    before = gc.get_threshold()
    try:
        with lean_interpreter():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_to_iso_memo_gives_what_parsing_gives() -> None:
    values = [*TIMES, 1764728761, 1764728761.5, None, True, *TIMES]
    expected = [timeparse._to_iso(value) for value in values]
    timeparse._ISO_MEMO.clear()
    assert [timeparse.to_iso(value) for value in values] == expected
    assert [timeparse.to_iso(value) for value in values] == expected  # from the memo


def test_to_iso_memo_stays_small() -> None:
    timeparse._ISO_MEMO.clear()
    for second in range(3 * timeparse.ISO_MEMO_SIZE):
        minute, sec = divmod(second, 60)
        value = f"2026-12-03T0{minute // 60}:{minute % 60:02d}:{sec:02d}Z"
        assert timeparse.to_iso(value) == timeparse._to_iso(value)
        assert len(timeparse._ISO_MEMO) <= timeparse.ISO_MEMO_SIZE


HOSTILE: list[object] = [
    "plain",
    "caf\u00e9 \u2014 \u65e5\u672c",
    "astral \U0001f600 \U00010000 \U0010ffff",
    "lone \ud800 and \udfff surrogates",
    'controls \x00\x01\x1f\x7f \b\f\n\r\t " \\ /',
    "\u2028\u2029",
    "[]",
    "[",
    "a[]b]",
    2**63,
    -(2**64) - 1,
    10**40,
    0.1,
    1e-7,
    1e22,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    True,
    False,
    None,
    [],
    {},
    {"nested": [{"a": ["\u00e9", 1, 2.5, None]}], "": ""},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
]


@pytest.mark.parametrize("value", HOSTILE)
def test_record_encoder_writes_what_json_dumps_writes(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    assert output._ENCODE(value) == expected
    assert output._ENCODE({"record": value, "k\u00e9y": value}) == json.dumps(
        {"record": value, "k\u00e9y": value}, ensure_ascii=True, separators=(",", ":")
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_record_encoder_refuses_what_the_sdk_must_write(value: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        output._ENCODE({"x": value})


def test_record_encoder_hands_decimals_to_the_sdk() -> None:
    with pytest.raises(TypeError):
        output._ENCODE({"x": decimal.Decimal("1.5")})
    when = datetime.datetime(2026, 12, 3, 2, 26, 1, 325784, tzinfo=datetime.timezone.utc)
    assert output._ENCODE({"at": when}) == '{"at":"2026-12-03T02:26:01.325784+00:00"}'


@pytest.mark.parametrize("with_descriptor", [True, False])
def test_writer_chunks_keep_every_line_whole_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_descriptor: bool
) -> None:
    """Records buffered past BUFFER_BYTES, then a STATE: every line whole, in order."""
    path = tmp_path / "out"
    with path.open("w") as out:
        monkeypatch.setattr(sys, "stdout", out if with_descriptor else io.StringIO())
        writer = output.LineLimitedWriter()
        count = 3 * output.BUFFER_BYTES // 400
        for n in range(count):
            writer.write_record("messages", {"id": str(n), "text": "caf\u00e9 \U0001f600" * 30})
        writer.write_message(StateMessage(value={"bookmarks": {"n": count}}))
        text = path.read_text() if with_descriptor else sys.stdout.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert text.endswith("\n")
    assert len(lines) == count + 1
    assert [json.loads(line)["record"]["id"] for line in lines[:-1]] == [
        str(n) for n in range(count)
    ]
    assert json.loads(lines[-1]) == {"type": "STATE", "value": {"bookmarks": {"n": count}}}
    assert writer.last_state_line == lines[-1]


def _stdlib(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _written(record: dict[str, Any]) -> str:
    """The record's text as the writer writes it: the SDK's encoder when the tap's refuses."""
    try:
        return output.encode_record(record)
    except ValueError:
        return serialize_json(record)


def _expected(record: dict[str, Any]) -> str:
    """The text written before orjson: the standard encoder's, else the SDK's (NaN as null)."""
    try:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return serialize_json(record)


def test_record_encoding_on_random_floats_anywhere() -> None:
    """Every double (by bit pattern and by decade), at the top, in lists and in objects."""
    rng = random.Random(22)
    special = [
        float("nan"),
        float("inf"),
        -float("inf"),
        -0.0,
        0.0,
        5e-324,
        2.2250738585072014e-308,
    ]
    for n in range(20_000):
        if n % 3 == 0:
            number = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        elif n % 3 == 1:
            number = rng.uniform(-10, 10) * 10.0 ** rng.randrange(-12, 23)
        else:
            number = rng.choice(special)
        record = {"f": number, "l": [1, number, "e-5"], "o": {"k": [number], "u": "1e-5"}}
        assert _written(record) == _expected(record), number


@pytest.mark.parametrize(
    "text",
    [
        "3f9e-4a2b-8c1d-1e-2",  # UUIDs and words with "e-" are texts, not floats
        "one-time re-run" * 200,
        ":1e-5, [2e-7]" * 3,
        "x" * 50 + "0.00001",
    ],
)
def test_record_encoding_of_texts_that_look_like_small_floats(text: str) -> None:
    for record in (
        {"id": text},
        {"a": [text, 1e-7]},
        {"n": -1.5e-9, "t": text},
        {"t": "\u00e9" + text},
    ):
        assert output.encode_record(record) == _stdlib(record)
    assert not output._SMALL_FLOAT_TEXT.search(orjson.dumps({"id": "3f9e-4a2b", "n": 1.5}))


@pytest.mark.parametrize("value", HOSTILE)
def test_record_encoding_by_orjson_is_the_standard_text(value: object) -> None:
    records: list[dict[Any, Any]] = [
        {"id": "x", "value": value},
        {"value": value, "list": [value] if isinstance(value, str) else [], "n": None},
    ]
    if isinstance(value, str):
        records.append({value: value, "ascii": "plain", "flag": True, "n": 7})
    for record in records:
        assert output.encode_record(record) == _stdlib(record)


def test_record_encoding_by_orjson_on_random_records() -> None:
    rng = random.Random(20)
    alphabet = [
        *(chr(c) for c in range(128)),
        "\u00e9",
        "\u2014",
        "\u2028",
        "\ud800",
        "\udfff",
        "\U0001f600",
        "\uffff",
    ]
    numbers = [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**30, 1.5, 1e-7]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    def value() -> object:
        kind = rng.randrange(7)
        if kind == 0:
            return rng.choice(numbers)
        if kind == 1:
            return rng.choice([True, False, None])
        if kind == 2:
            return [text() for _ in range(rng.randint(0, 3))]
        if kind == 3 and rng.random() < 0.5:
            return [rng.choice([*numbers, float("nan"), float("inf"), "[]", text()])]
        if kind == 3:
            return {"k": text()}
        return "".join(rng.choice(alphabet[32:127]) for _ in range(rng.randint(0, 30)))

    fast = 0
    for _ in range(5_000):
        record = {(text() if rng.random() < 0.1 else f"f{n}"): value() for n in range(6)}
        try:
            expected = output._ENCODE(record)  # the standard text (NaN refused: the SDK's path)
        except ValueError:
            assert _written(record) == serialize_json(record)  # NaN and infinities as null
            continue
        encoded = output.encode_record(record)
        assert encoded == expected == _stdlib(record)
        with contextlib.suppress(orjson.JSONEncodeError):
            fast += encoded == orjson.dumps(record).decode("utf-8", "replace")
    assert fast > 500  # the fast path was taken often


def test_record_encoding_by_orjson_on_random_nested_records() -> None:
    rng = random.Random(21)
    alphabet = [*(chr(c) for c in range(128)), "\u00e9", "\u2028", "\U0001f600", "\uffff", "\ud800"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))

    def value(depth: int) -> object:
        kind = rng.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return rng.choice([0, -1, 2**63 - 1, 2**64, -(2**63) - 1, 1.5, 1e-7, 1e16, -0.0])
        if kind == 1:
            return rng.choice([True, False, None])
        if kind <= 5:
            return text()
        if kind <= 7:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {text(): value(depth + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(5_000):
        record = {f"f{n}": value(0) for n in range(5)}
        try:
            expected = _stdlib(record)
        except ValueError:
            continue
        assert output.encode_record(record) == expected
