"""Canaries: the singer-sdk internals the tap relies on (tap_chatgpt_compliance/sdk.py).

Each test names the item of sdk.py it guards. When one fails after an SDK upgrade, the tap's
ordering, state or output guarantees may be broken: read that item before changing anything.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import io
import json
import logging
import re
import typing as t
from contextlib import redirect_stdout
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.singerlib.json import serialize_json

from tap_chatgpt_compliance import sdk
from tap_chatgpt_compliance.run.output import (
    LineLimitedWriter,
    fast_record_parts,
    record_line,
)
from tap_chatgpt_compliance.tap import TapChatGPTCompliance

CONFIG = {
    "api_key": "sk-test",
    "workspace_id": "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0",
    "api_url": "http://127.0.0.1:9/v1",
}


def fast_record_line(
    stream_json: str, record: dict[str, t.Any], version: int | None, verbatim: t.Any
) -> str:
    """Return the RECORD line the fast path writes for ``record``."""
    return "".join(fast_record_parts(stream_json, record, version, verbatim))


def test_sdk_series_is_the_one_checked() -> None:
    """Every item: the internals were checked against this series."""
    version = importlib.metadata.version("singer-sdk")
    assert version.startswith(sdk.SDK_SERIES + "."), (
        f"singer-sdk {version}: re-check every item of tap_chatgpt_compliance/sdk.py against "
        "this version, then update SDK_SERIES"
    )


def test_sync_all_is_final_and_extended() -> None:
    """Item 1: ``Tap.sync_all`` is @final; the tap's override still calls it."""
    assert getattr(Tap.sync_all, "__final__", False)
    assert TapChatGPTCompliance.sync_all is sdk.SeamTap.sync_all  # extended in the seam only
    assert "super().sync_all" in inspect.getsource(sdk.SeamTap.sync_all)


# A tiny tap without HTTP: a parent stream with a child, written through the tap's writer.


class _Parent(Stream):
    name = "parent"
    schema: t.ClassVar[dict] = th.PropertiesList(
        th.Property("id", th.StringType), th.Property("n", th.IntegerType)
    ).to_dict()
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "n"
    is_sorted = True

    def get_records(self, context: t.Any) -> t.Iterable[dict]:
        for n in range(3):
            yield {"id": f"p{n}", "n": n}

    def get_child_context(self, record: dict, context: t.Any) -> dict:
        return {"parent_id": record["id"]}


class _Child(Stream):
    name = "child"
    parent_stream_type = _Parent
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema: t.ClassVar[dict] = th.PropertiesList(
        th.Property("id", th.StringType), th.Property("parent_id", th.StringType)
    ).to_dict()
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: t.Any) -> t.Iterable[dict]:
        for n in range(2):
            yield {"id": f"{context['parent_id']}-c{n}", "parent_id": context["parent_id"]}


class _Tiny(Tap):
    name = "tap-tiny"
    config_jsonschema = th.PropertiesList().to_dict()
    message_writer_class = LineLimitedWriter

    def discover_streams(self) -> list[Stream]:
        return [_Parent(self), _Child(self)]


def _messages(tap: Tap) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        tap.sync_all()
        t.cast("LineLimitedWriter", tap.message_writer).flush()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_run_connection_test_is_final_extended_and_what_test_runs() -> None:
    """Item 14: ``Tap.run_connection_test`` is @final, ``--test`` runs it; the seam extends it."""
    assert getattr(Tap.run_connection_test, "__final__", False)
    assert TapChatGPTCompliance.run_connection_test is sdk.SeamTap.run_connection_test
    assert "super().run_connection_test" in inspect.getsource(sdk.SeamTap.run_connection_test)
    assert "tap.run_connection_test()" in inspect.getsource(Tap.cb_test)


def test_children_are_written_before_their_parent_record_and_bookmark() -> None:
    """Item 2: a parent record's children come first, then the record, then its bookmark."""
    messages = _messages(_Tiny(config={}))
    order = [
        (m["type"], m.get("stream"), (m.get("record") or {}).get("id"))
        for m in messages
        if m["type"] == "RECORD"
    ]
    for n in range(3):
        parent = order.index(("RECORD", "parent", f"p{n}"))
        children = [order.index(("RECORD", "child", f"p{n}-c{c}")) for c in range(2)]
        assert max(children) < parent
        if n:
            assert parent > order.index(("RECORD", "parent", f"p{n - 1}"))
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states[-1]["bookmarks"]["parent"]["replication_key_value"] == 2


def test_state_message_written_only_when_not_flushed() -> None:
    """Item 3: ``_write_state_message`` writes only while ``state_manager.is_flushed`` is False."""
    tap = _Tiny(config={})
    stream = tap.streams["parent"]
    out = io.StringIO()
    with redirect_stdout(out):
        stream.state_manager.is_flushed = True
        stream._write_state_message()
        tap.message_writer.flush()  # type: ignore[attr-defined]
        assert out.getvalue() == ""
        stream.state_manager.is_flushed = False
        stream._write_state_message()
        tap.message_writer.flush()  # type: ignore[attr-defined]
    assert json.loads(out.getvalue())["type"] == "STATE"
    assert stream.state_manager.is_flushed is True


def test_validate_config_returns_errors_without_raising() -> None:
    """Item 4: ``Tap._validate_config(raise_errors=False)`` returns the error lines."""
    parameters = inspect.signature(Tap._validate_config).parameters
    assert "raise_errors" in parameters
    tap = TapChatGPTCompliance(config={**CONFIG, "workspace_id": "nope"}, validate_config=False)
    errors = tap._validate_config(raise_errors=False)
    assert any("workspace_id" in e for e in errors)


def test_schema_message_is_written_at_every_sync_of_a_child() -> None:
    """Item 5: the SDK writes a child's SCHEMA at each sync (once per parent record)."""
    messages = _messages(_Tiny(config={}))
    schemas_of_child = [m for m in messages if m["type"] == "SCHEMA" and m["stream"] == "child"]
    assert len(schemas_of_child) == 3  # the tap's OncePerRunSchema brings this down to one


def test_the_tap_writes_each_schema_once_per_run() -> None:
    """Item 5, the tap's side: a child stream's SCHEMA is written once."""
    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    child = tap.streams["messages"]
    out = io.StringIO()
    with redirect_stdout(out):
        child._write_schema_message()
        child._write_schema_message()
        tap.message_writer.flush()  # type: ignore[attr-defined]
    assert len(out.getvalue().splitlines()) == 1


def test_every_message_goes_through_the_writer_class() -> None:
    """Item 6: ``message_writer_class`` builds ``tap.message_writer``; STATE goes through it."""
    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    assert isinstance(tap.message_writer, LineLimitedWriter)
    assert isinstance(tap.state_writer, StateWriter)
    assert tap.state_writer._message_writer is tap.message_writer


def test_generate_record_messages_is_selection_conformance_and_maps() -> None:
    """Item 7: the SDK's record path pops deselected properties, conforms, then maps."""
    source = inspect.getsource(Stream._generate_record_messages)
    for step in ("pop_deselected_record_properties", "conform_record_data_types", "stream_maps"):
        assert step in source
    assert "_generate_record_messages" in inspect.getsource(Stream._write_record_message)


def _sample_message() -> dict[str, t.Any]:
    event = {
        "event_id": "e1",
        "type": "CONVERSATION_MESSAGE",
        "timestamp": "2026-11-26T10:00:00.000001Z",
        "message": {"id": "m1", "content": {"type": "text", "value": "héllo ✓ 😀"}},
    }
    return {
        "id": "m1",
        "workspace_id": CONFIG["workspace_id"],
        "conversation_id": None,
        "created_at": "2026-11-26T10:00:00.000001+00:00",
        "content_text": "héllo ✓ 😀",
        "attachment_ids": [],
        "event_id_derived": False,
        "log_file_id": "eclf_1",
        "event": event,
    }


@pytest.mark.parametrize("stream_name", ["messages", "conversations", "events", "files"])
def test_fast_path_writes_what_the_sdk_writes(stream_name: str) -> None:
    """Item 7, the tap's side: the fast path's line equals the SDK path's, as JSON."""
    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    stream = tap.streams[stream_name]
    path = sdk.record_path(stream)
    assert path.fast
    assert path.selection_is_total
    record = {name: None for name in stream.schema["properties"]}
    if stream_name == "messages":
        record.update(_sample_message())
    record["odd"] = "not in the schema"
    (message,) = stream._generate_record_messages(dict(record))
    expected = message.to_dict()
    line = fast_record_line('"' + stream.name + '"', path.conform(stream, dict(record)), None, None)
    got = json.loads(line)
    assert got["time_extracted"]
    del got["time_extracted"], expected["time_extracted"]
    assert got == json.loads(serialize_json(expected))
    assert line.isascii()


def test_spliced_event_is_the_same_json() -> None:
    """Item 7: a record written with its event's line as delivered parses to the same record."""
    record = _sample_message()
    raw = json.dumps(record["event"], separators=(", ", ": "))  # other spacing, same value
    line = fast_record_line('"messages"', record, None, ("event", (raw,)))
    assert json.loads(line)["record"] == json.loads(json.dumps(record))
    assert list(record)[-1] == "event"  # the record is left as it was


def test_values_the_standard_encoder_would_write_differently_use_the_sdks() -> None:
    """Item 7: Decimal, NaN and datetimes are written as the SDK's simplejson writer does."""
    moment = datetime(2026, 11, 26, 10, 0, 0, 123, tzinfo=timezone.utc)
    record = {"d": Decimal("1.10"), "nan": float("nan"), "when": moment, "s": "ü"}
    line = record_line("s", record, None, moment)
    expected = serialize_json(
        RecordMessage(stream="s", record=record, time_extracted=moment).to_dict()
    )
    assert line == expected
    assert record_line("s", {"when": moment}, None, moment) == serialize_json(
        RecordMessage(stream="s", record={"when": moment}, time_extracted=moment).to_dict()
    )
    state = StateMessage(value={"a": 1})
    assert LineLimitedWriter().serialize_message(state) == serialize_json(state.to_dict())


def test_sync_calls_the_meters_and_logs_that_the_tap_overrides() -> None:
    """Item 8: ``Stream.sync`` → ``_sync_records`` uses the counter, the timer and ``log``."""
    sync = inspect.getsource(Stream.sync)
    records = inspect.getsource(Stream._sync_records)
    assert "self.log(" in sync
    assert sdk.BEGINNING_SYNC in sync
    assert "get_record_counter" in records
    assert "get_sync_timer" in records
    counter, timer = sdk.run_meters(_Child(_Tiny(config={})))
    for name in ("_ready_to_log", "_pop", "value"):
        assert hasattr(counter, name)
    assert hasattr(timer, "start_time")


def test_per_file_meters_log_once_per_run(caplog: pytest.LogCaptureFixture) -> None:
    """Item 8, the tap's side: a child stream logs one record_count for the run, not per file."""
    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    stream = tap.streams["messages"]
    counter, timer = sdk.run_meters(stream)
    with caplog.at_level(logging.INFO, logger="singer_sdk.metrics"):
        for _ in range(3):
            with counter, timer:
                counter.increment()
        sdk.close_run_meters([stream])
    lines = [r.getMessage() for r in caplog.records if "record_count" in r.getMessage()]
    assert len(lines) == 1
    assert '"value":3' in lines[0]


def test_process_record_and_increment_state_do_nothing_for_the_skipped_cases() -> None:
    """Item 9: what ``_process_record`` and ``_increment_stream_state`` do."""
    process = inspect.getsource(Stream._process_record)
    assert "generate_child_contexts" in process
    assert "_sync_children" in process
    increment = inspect.getsource(Stream._increment_stream_state)
    assert "REPLICATION_INCREMENTAL" in increment


def test_sync_records_loop_is_the_one_the_lean_loop_reproduces() -> None:
    """Item 10: the SDK's record loop, per record: post_process, process, write, count."""
    source = inspect.getsource(Stream._sync_records)
    for step in (
        "self.post_process(",
        "self._process_record(",
        "self._write_record_message(record)",
        "self._increment_stream_state(",
        "record_counter.increment()",
        "self._check_max_record_limit(",
        "self._write_state_message()",
    ):
        assert step in source, step
    assert "write_messages" in inspect.signature(Stream._sync_records).parameters
    assert "_sync_records(context=context)" in inspect.getsource(Stream.sync)


def test_lean_loop_writes_what_the_sdk_loop_writes() -> None:
    """Item 10, the tap's side: the child of the tiny tap, by both loops."""
    sdk_lines = [m for m in _messages(_Tiny(config={})) if m["type"] == "RECORD"]

    class _LeanChild(_Child):
        def _sync_records(
            self, context: t.Any = None, *, write_messages: bool = True
        ) -> t.Generator[dict, t.Any, t.Any]:
            lean = sdk.lean_sync_records(self, context, write_messages)
            assert lean is not None
            yield from lean

    class _LeanTiny(_Tiny):
        def discover_streams(self) -> list[Stream]:
            return [_Parent(self), _LeanChild(self)]

    lean_lines = [m for m in _messages(_LeanTiny(config={})) if m["type"] == "RECORD"]
    for line in sdk_lines + lean_lines:
        line.pop("time_extracted", None)
    assert lean_lines == sdk_lines


def test_sync_children_is_the_loop_the_tap_reproduces() -> None:
    """Item 11: the SDK syncs each selected child (or parent of one), catching aborted syncs."""
    source = inspect.getsource(Stream._sync_children)
    for step in (
        "child_context is None",
        "for child_stream in self.child_streams",
        "child_stream.selected or child_stream.has_selected_descendents",
        "child_stream.sync(context=child_context)",
        "AbortedSyncFailedException, AbortedSyncPausedException",
    ):
        assert step in source, step


def test_children_with_nothing_to_write_are_synced_once_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 11: after its first sync (its SCHEMA), a child is synced only for a segment that
    holds what it reads, and ``file_parts`` only for an attachment whose bytes are spooled."""
    from tap_chatgpt_compliance.logfiles.logfile import LogFile, ParsedLines, Segment

    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    synced: list[str] = []
    for stream in tap.streams.values():
        monkeypatch.setattr(
            stream, "sync", lambda context=None, name=stream.name: synced.append(name)
        )
    parent = tap.streams["log_files"]
    selected = sorted(
        c.name for c in parent.child_streams if c.selected or c.has_selected_descendents
    )
    context = {"log_file_id": "eclf_1"}
    parent._sync_children(context)
    assert sorted(synced) == selected  # the first sync of each: SCHEMA messages as before
    synced.clear()
    parent._sync_children(context)  # no file open: nothing to read
    assert synced == []
    log_file = LogFile(
        meta={"id": "eclf_1"}, event_type="CONVERSATION_MESSAGE", sha256="", size=0, attempts=1
    )
    message = {"event_id": "e1", "type": "CONVERSATION_MESSAGE"}
    segment = Segment(log_file, 1, ParsedLines(messages=[message]), last=False)
    parent._open_segment = segment
    parent._sync_children(context)
    assert sorted(synced) == ["conversations", "files", "messages"]
    segment.lines = ParsedLines(others=[{"event_id": "a1", "type": "AUDIT_LOG"}])
    synced.clear()
    parent._sync_children(context)
    assert synced == ["events"]

    files = tap.streams["files"]
    part_context = {"file_id": "f1", "sha256": "0" * 64, "part_count": 2}
    synced.clear()
    files._sync_children(part_context)
    files._sync_children(part_context)
    assert synced == ["file_parts"]  # the first sync only: no bytes spooled for parts
    files._open_spool = ("f1", io.BytesIO(b"xy"))
    files._sync_children(part_context)
    assert synced == ["file_parts", "file_parts"]


def test_termination_handler_is_the_one_installed() -> None:
    """Item 12: the SDK installs ``_handle_termination`` for SIGTERM and SIGINT."""
    from singer_sdk.plugin_base import PluginBase

    source = inspect.getsource(PluginBase)
    assert "signal.signal(signal.SIGTERM, self._handle_termination)" in source
    assert "signal.signal(signal.SIGINT, self._handle_termination)" in source
    assert TapChatGPTCompliance._handle_termination is sdk.SeamTap._handle_termination


def test_stream_keeps_its_tap_and_selected_has_a_setter() -> None:
    """Item 13: SeamStream.tap reads ``Stream._tap``; SeamStream.selected keeps the SDK's setter."""
    tap = _Tiny(config={}, parse_env_config=False)
    stream = tap.streams["parent"]
    assert stream._tap is tap
    prop = Stream.__dict__["selected"]
    assert isinstance(prop, property)
    assert prop.fset is not None


SEAM_MODULE = "tap_chatgpt_compliance/sdk.py"
_SDK_CLASSES = (RESTStream, Tap)
_SDK_ATTRIBUTES = {
    name for cls in _SDK_CLASSES for klass in cls.__mro__ for name in vars(klass)
} | {
    name  # the instance attributes the SDK sets (``self._schema = …``), read from its source
    for cls in _SDK_CLASSES
    for klass in cls.__mro__
    if klass.__module__.startswith("singer_sdk")
    for name in re.findall(r"self\.(_[a-z][a-z_0-9]*)\s*[:=]", inspect.getsource(klass))
}
"""Class attributes of the SDK's RESTStream and Tap, and the instance attributes they set."""
_PRIVATE = {n for n in _SDK_ATTRIBUTES if n.startswith("_") and not n.startswith("__")}


def _private_sdk_module(name: str) -> bool:
    """Whether ``name`` is a dotted path into a private part of singer-sdk."""
    parts = name.split(".")
    return parts[0] == "singer_sdk" and any(p.startswith("_") for p in parts[1:])


def sdk_privates_named(source: str) -> list[tuple[int, str]]:
    """Return (line, name) of every SDK private the source names: defined, read, or imported.

    A method or attribute (``def _sync_records``, ``stream._tap``), a name in a string given
    to ``getattr``/``setattr``/``hasattr``, and an import from a private module of the SDK
    (``singer_sdk.helpers._state``), by a statement or by a string (``importlib``).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value
            if _private_sdk_module(name):  # importlib.import_module("singer_sdk.helpers._x")
                found.append((node.lineno, name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, module) for module in modules if _private_sdk_module(module)]
        if name in _PRIVATE:
            found.append((node.lineno, name))
    return found


OUTSIDE_THE_SEAM: dict[str, str] = {}
"""Known uses outside sdk.py, each with its reason (the canary missed RESTStream's privates
before; nothing may be added without a reason)."""


def test_sdk_privates_are_touched_in_the_seam_only() -> None:
    """No module of the tap but sdk.py overrides, reads or imports a private of singer-sdk (nor
    imports one in the evidence tools)."""
    root = Path(sdk.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "sdk.py" and path.parent == root:
            continue
        where = path.relative_to(root).as_posix()
        for line, name in sdk_privates_named(path.read_text()):
            if "evidence" in path.parts and not _private_sdk_module(name):
                continue  # the evidence tools' own ``_config`` is no SDK attribute
            if f"{where} {name}" not in OUTSIDE_THE_SEAM:
                found.append(f"{where}:{line} {name}")
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "def _sync_records(self): ...",
        "x = stream._tap",
        "x = stream._schema",  # an instance attribute the SDK sets
        "x = self._state_manager",
        "x = getattr(stream, '_tap')",
        "from singer_sdk.helpers._state import StateWriter",
        "import singer_sdk.helpers._typing",
        "from singer_sdk.helpers import _typing",
        'typing = importlib.import_module("singer_sdk.helpers._typing")',
        'conform = __import__("singer_sdk.helpers._typing", fromlist=["x"])',
    ],
)
def test_the_seam_canary_sees_every_way_of_naming_a_private(source: str) -> None:
    assert sdk_privates_named(source), source


def test_the_quieted_start_up_lines_are_the_sdks_templates() -> None:
    """The SDK logs its per-stream start-up lines with these templates (kept for DEBUG)."""
    import inspect
    import logging

    from singer_sdk import tap_base

    source = inspect.getsource(tap_base)
    for template in sdk._StreamListLines.TEMPLATES:
        assert f'"{template}"' in source, template
    quiet = sdk._StreamListLines()
    logger = logging.getLogger("tap-quiet-canary")
    record = logger.makeRecord(
        logger.name, logging.INFO, "", 0, "Skipping deselected stream '%s'.", ("x",), None
    )
    logger.setLevel(logging.INFO)
    assert not quiet.filter(record)
    logger.setLevel(logging.DEBUG)
    assert quiet.filter(record)
