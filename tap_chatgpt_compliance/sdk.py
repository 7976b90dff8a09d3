"""The singer-sdk internals the tap relies on, gathered in one place.

Each item below has a canary test in ``tests/tap/test_sdk_internals.py`` that fails loudly when a
singer-sdk upgrade changes it (the tap is pinned to the 0.54 series, tested on 0.54.9):

1. ``Tap.sync_all`` is ``@final``: the tap extends it anyway (retry list first, summary last).
2. ``Stream._sync_records`` syncs a parent record's child streams (``_process_record`` →
   ``_sync_children``) *before* it writes that record and moves the bookmark: every child record
   of a log file is written before the file's manifest record and bookmark.
3. ``Stream._write_state_message`` writes a STATE only while ``state_manager.is_flushed`` is
   False: the tap clears the flag to force a STATE at a file boundary.
4. ``Tap._validate_config(raise_errors=...)`` returns the errors: the tap adds its own checks.
5. ``Stream._write_schema_message`` writes a stream's SCHEMA; the SDK calls it at every sync of
   a child stream (once per parent record): the tap sends it once per run.
6. ``PluginBase.message_writer_class`` is the class of ``tap.message_writer``, which writes every
   message (STATE included, through ``StateWriter``).
7. ``Stream._generate_record_messages`` (selection mask, type conformance, stream maps) and
   ``Stream._write_record_message``: :class:`RecordPath` reproduces them for the streams whose
   records are plain JSON values, without the per-key walks (see :func:`write_record`).
8. ``Stream.get_record_counter``, ``Stream.get_sync_timer`` and ``Stream.log`` are called by
   every ``Stream.sync``: child streams run once per log file, so their metrics are kept per run
   (:class:`RunCounter`, :class:`RunTimer`) instead of one METRIC line per file.
9. ``Stream._process_record`` only syncs the record's child streams (and copies partition keys
   into it), and ``Stream._increment_stream_state`` does nothing without a replication key:
   ``ComplianceStream`` skips both calls per record for the streams where they do nothing.
10. ``Stream._sync_records`` (called by the ``@final`` ``Stream.sync``) is, for a full-table
    stream without children synced for one context, per record: ``post_process``, then (when
    selected) ``_write_record_message`` and the record counter: :func:`lean_sync_records`
    runs exactly that, with the record written by the fast path, and falls back to the SDK's
    loop in every other case (dry runs with a record limit included). ``Stream.sync`` discards
    what the loop yields: the lean loop yields an empty dict, so no record outlives its line.
11. ``Stream._sync_children`` calls ``sync`` of every selected child (or parent of a selected
    one) for each parent record, catching the aborted-sync exceptions: :func:`sync_children`
    does the same, but skips the syncs a child says cannot write a record (a log file segment
    without the events it reads, a ``files`` record without parts) once its first sync (with
    its SCHEMA) is done: thousands of syncs per run that only did the SDK's bookkeeping.
12. ``PluginBase`` installs ``_handle_termination`` as the SIGTERM and SIGINT handler of a
    run: the tap replaces it (:meth:`SeamTap.on_termination`) to stop between whole lines.
13. ``Stream._tap`` is the tap that runs the stream (:attr:`SeamStream.tap`), and
    ``Stream.selected`` is a property with a setter (:attr:`SeamStream.selected` keeps it).
14. ``Tap.run_connection_test`` is ``@final`` and is what ``--test`` runs: the tap extends it
    (:attr:`SeamTap.connection_test`: a host that cannot be connected to fails at once).

Every override of an SDK private lives in :class:`SeamStream` and :class:`SeamTap` below:
the streams and the tap answer their public hooks (a canary test checks that no other module
of the tap names an SDK private).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import typing as t

from singer_sdk import RESTStream, Tap, metrics
from singer_sdk.cli import plugin_cli
from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    ConfigValidationError,
)
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _is_exclusive_boolean_type,
    _warn_unmapped_properties,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_chatgpt_compliance.http.transport import hide_url_queries

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from types import FrameType

    import click
    import requests
    from singer_sdk.streams import Stream

    from tap_chatgpt_compliance.run.output import Verbatim

SDK_SERIES = "0.54"
"""The singer-sdk series whose internals this module was checked against."""
BEGINNING_SYNC = "Beginning sync of"
"""How ``Stream.sync`` starts the INFO line it logs at every sync (every log file, for children)."""
UNHANDLED_ERROR = "An unhandled error occurred while syncing"
"""How ``Stream.sync`` starts the ERROR line it logs when a sync ends by an exception."""

_PLAIN_TYPES = frozenset({str, int, bool, type(None), dict, list})
_BOOL_OR_NONE = frozenset({bool, type(None)})
"""Types that ROOT_ONLY conformance leaves as they are, except under a boolean-only property,
where only booleans and None are left as they are (``value != 0`` for the others)."""


class RecordPath:
    """How one stream's records become RECORD messages, decided once per selection.

    It is usable (:attr:`fast`) when the SDK would only check the top level of the record
    (``TYPE_CONFORMANCE_LEVEL`` ROOT_ONLY), the only stream map is the default one with
    flattening off, and the tap's writer can write records directly. Then:

    - the selection mask is applied only if something in it is deselected (the SDK walks every
      key of every nested object of every record to find out, even when all is selected);
    - the top level is conformed exactly as the SDK does, but a record whose values are all
      plain JSON types under properties of the schema is written as it is, without a copy;
    - the record is written by the tap's writer (stdlib ``json``, see ``output.py``) without
      building a ``RecordMessage``.
    """

    def __init__(self, stream: Stream) -> None:
        """Decide for the stream's current selection, schema and stream maps."""
        self.mask = stream.mask
        self.selection_is_total = all(stream.mask.values())
        schema = stream.effective_schema
        self.properties: dict[str, dict] = schema.get("properties") or {}
        self.names = frozenset(self.properties)
        self.additional = bool(schema.get("additionalProperties"))
        self.exact = tuple(
            name for name, prop in self.properties.items() if _is_exclusive_boolean_type(prop)
        )
        maps = stream.stream_maps
        self.alias = maps[0].stream_alias if maps else stream.name
        writer = getattr(stream._tap, "message_writer", None)
        self.write: t.Callable[..., None] | None = getattr(writer, "write_record", None)
        self.fast = (
            self.write is not None
            and stream.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.ROOT_ONLY
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
        )

    def conform(self, stream: Stream, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return the record as ROOT_ONLY conformance makes it (the same dict if unchanged)."""
        if record.keys() <= self.names and _PLAIN_TYPES.issuperset(map(type, record.values())):
            for name in self.exact:
                if type(record.get(name)) not in _BOOL_OR_NONE:
                    break
            else:
                return record
        properties = self.properties
        output: dict[str, t.Any] = {}
        unmapped: list[str] = []
        for name, value in record.items():
            prop = properties.get(name)
            if prop is None:
                if self.additional:
                    output[name] = value
                else:
                    unmapped.append(name)
            elif _kept_whole(value, prop):
                output[name] = value
            else:
                output[name] = _conform_primitive_property(value, prop)
        if unmapped:
            _warn_unmapped_properties(stream.name, tuple(unmapped), stream.logger)
        return output


def _kept_whole(value: t.Any, prop: dict) -> bool:
    """Whether ROOT_ONLY conformance keeps a list or an object as it is (not a primitive)."""
    if isinstance(value, list):
        return bool(is_uniform_list(prop))
    return isinstance(value, dict) and bool(is_object_type(prop)) and "properties" in prop


def record_path(stream: Stream) -> RecordPath:
    """Return the stream's :class:`RecordPath`, rebuilt when its selection changed."""
    path: RecordPath | None = getattr(stream, "_tap_record_path", None)
    if path is None or path.mask is not stream.mask:
        path = RecordPath(stream)
        stream._tap_record_path = path  # type: ignore[attr-defined]
    return path


def write_record(
    stream: Stream,
    record: dict[str, t.Any],
    sdk_write: t.Callable,
    verbatim: Verbatim | None = None,
) -> None:
    """Write one record as ``Stream._write_record_message`` would, by the fast path if usable.

    ``sdk_write`` is the SDK's own ``_write_record_message``, used for every other stream.
    ``verbatim`` is a field whose JSON text is known (the event as delivered, base64 content),
    written as it is when nothing of the record is deselected.
    """
    path = record_path(stream)
    if not path.fast:
        sdk_write(record)
        return
    if not path.selection_is_total:
        pop_deselected_record_properties(record, stream.schema, path.mask)
        verbatim = None
    t.cast("t.Callable", path.write)(
        path.alias,
        path.conform(stream, record),
        stream._stream_version,
        verbatim,
    )
    stream.state_manager.is_flushed = False


def lean_sync_records(
    stream: Stream, context: t.Any, write_messages: bool
) -> t.Iterator[dict[str, t.Any]] | None:
    """Return the record loop of ``Stream._sync_records`` for a child stream, or None.

    None when the SDK's own loop must run: a stream with children, a replication key or a
    record limit (``--test``), no context, no writing, or records that need the SDK's path.
    """
    if (
        context is None
        or not write_messages
        or stream.child_streams
        or stream.replication_key
        or stream.ABORT_AT_RECORD_COUNT is not None
    ):
        return None
    path = record_path(stream)
    if not path.fast:
        return None
    return _lean_loop(stream, context, path)


_WRITTEN: dict[str, t.Any] = {}
"""What the lean loop yields for each record written (``Stream.sync`` discards it)."""


def _lean_loop(stream: Stream, context: t.Any, path: RecordPath) -> t.Iterator[dict[str, t.Any]]:
    record_counter = stream.get_record_counter()
    timer = stream.get_sync_timer()
    selected = stream.selected
    total = path.selection_is_total
    write = t.cast("t.Callable[..., None]", path.write)
    conform = path.conform
    alias = path.alias
    version = stream._stream_version
    schema = stream.schema
    mask = path.mask
    post_process = stream.post_process
    written = 0
    with record_counter, timer:
        record_counter.with_context(context)
        timer.with_context(context)
        partition_context = stream._get_state_partition_context(context)
        stream._write_starting_replication_value(context)
        for record in t.cast("t.Iterable[dict[str, t.Any]]", stream.get_records(context)):
            processed = post_process(record, context)
            if processed is None or not selected:
                continue
            known = getattr(stream, "_verbatim", None)
            verbatim = known[1] if known is not None and known[0] is record else None
            if not total:
                pop_deselected_record_properties(processed, schema, mask)
                verbatim = None
            write(alias, conform(stream, processed), version, verbatim)
            written += 1
            # Stream.sync ignores what is yielded: hold nothing, so that a record (and an
            # 8 MiB part it may carry) is freed before the next one is built.
            record = processed = None  # type: ignore[assignment]
            yield _WRITTEN
        if written:
            record_counter.increment(written)
            stream.state_manager.is_flushed = False
        if context == partition_context:
            stream._finalize_state(stream.get_context_state(context))
    stream._write_state_message()


def sync_children(stream: Stream, child_context: t.Any) -> bool:
    """Sync the stream's children for one parent record as ``Stream._sync_children`` does.

    A child whose ``may_have_records(context)`` is False is not synced, unless it was never
    synced in this run (its first sync writes its SCHEMA, as before). Return False when the
    SDK's own method must run instead (no context: it logs a warning).
    """
    if child_context is None:
        return False
    for child in stream.child_streams:
        if not (child.selected or child.has_selected_descendents):
            continue
        may_have_records = getattr(child, "may_have_records", None)
        if (
            may_have_records is not None
            and getattr(child, "_tap_synced", False)
            and not may_have_records(child_context)
        ):
            continue
        child._tap_synced = True  # type: ignore[attr-defined]
        try:
            child.sync(context=child_context)
        except (AbortedSyncFailedException, AbortedSyncPausedException):
            continue  # as the SDK: an interrupted child does not stop the others
    return True


class RunCounter(metrics.Counter):
    """A record counter kept across all the syncs of a child stream in one run.

    ``Stream.sync`` enters and leaves the stream's counter at each sync (each log file), and the
    SDK's counter logs a METRIC line at each exit. This one logs every ``log_interval`` seconds
    and once at the end of the run (:meth:`close`), without the per-file context.
    """

    def with_context(self, value: t.Any) -> None:
        """Keep no per-file context: the counts are the run's."""

    def __enter__(self) -> RunCounter:
        """Enter a sync of the stream (the interval keeps running)."""
        return self

    def exit(self) -> None:
        """Leave a sync of the stream: log only if the interval has passed."""
        if self._ready_to_log():
            self._pop()

    def close(self) -> None:
        """Log what was counted since the last line."""
        if self.value:
            self._pop()


class RunTimer(metrics.Timer):
    """A sync timer kept across all the syncs of a child stream: it logs once, at the end."""

    def __init__(self, metric: metrics.Metric, tags: dict | None = None) -> None:
        """Start with nothing timed."""
        super().__init__(metric, tags)
        self.total = 0.0
        self.failed = False
        self.used = False

    def with_context(self, value: t.Any) -> None:
        """Keep no per-file context."""

    def __enter__(self) -> RunTimer:
        """Start timing one sync."""
        self.start_time = time.time()
        self.used = True
        return self

    def __exit__(self, exc_type: t.Any, exc_val: t.Any, exc_tb: t.Any) -> None:
        """Add the sync's duration to the run's."""
        self.total += time.time() - self.start_time
        self.failed = self.failed or exc_type is not None

    def close(self) -> None:
        """Log the run's total duration of this stream."""
        if not self.used:
            return
        status = metrics.Status.FAILED if self.failed else metrics.Status.SUCCEEDED
        self.tags[metrics.Tag.STATUS] = status
        metrics.log(self.logger, metrics.Point("timer", self.metric, self.total, self.tags))
        self.used = False


def run_meters(stream: Stream) -> tuple[RunCounter, RunTimer]:
    """Return the run-wide counter and timer of a child stream (created at first use)."""
    meters: tuple[RunCounter, RunTimer] | None = getattr(stream, "_tap_run_meters", None)
    if meters is None:
        tags = {metrics.Tag.STREAM: stream.name}
        meters = (
            RunCounter(metrics.Metric.RECORD_COUNT, dict(tags)),
            RunTimer(metrics.Metric.SYNC_DURATION, dict(tags)),
        )
        stream._tap_run_meters = meters  # type: ignore[attr-defined]
    return meters


def close_run_meters(streams: t.Iterable[Stream]) -> None:
    """Log the final METRIC lines of every child stream's run-wide meters."""
    for stream in streams:
        meters = getattr(stream, "_tap_run_meters", None)
        if meters is not None:
            for meter in meters:
                meter.close()


def sync_log_level(stream: Stream, message: str, level: int) -> int:
    """Return the level for a ``Stream.log`` line.

    DEBUG: a child's per-file "Beginning sync", and the SDK's "An unhandled error occurred
    while syncing" (the exception goes on to end the run as its one ERROR line, tap.py; at
    ``--test`` it is the SDK stopping every stream at its first record, not an error).
    """
    if stream.parent_stream_type is not None and message.startswith(BEGINNING_SYNC):
        return logging.DEBUG
    if message.startswith(UNHANDLED_ERROR):
        return logging.DEBUG
    return level


class SeamStream(RESTStream[t.Any]):
    """Every override of a singer-sdk private hook by the tap's streams, and its own hooks.

    The streams never override an SDK private method: they answer the public hooks below,
    which the overrides here ask (items 2, 3, 5, 7, 8, 9, 10, 11 of this module's docstring).
    """

    _verbatim: tuple[dict[str, t.Any], Verbatim] | None = None
    """A record about to be written, and a field of it whose JSON text is known (output.py)."""
    runs_for_selected_children: t.ClassVar[bool] = False
    """True: the stream syncs when a child is selected, even when it is not (log_files)."""

    # The tap's hooks (public, ours).

    @property
    def tap(self) -> Tap:
        """Return the tap that runs this stream (the SDK keeps it in ``_tap``)."""
        return self._tap

    def send_prepared(self, prepared: requests.PreparedRequest) -> requests.Response:
        """Send one request with the stream's retries and checks, outside ``request_records``.

        The SDK's ``_request`` under ``request_decorator``, as its own pagination sends.
        """
        return t.cast("requests.Response", self.request_decorator(self._request)(prepared, None))

    @property
    def emits_records(self) -> bool:
        """Return whether the stream writes its SCHEMA and RECORD messages (default: yes)."""
        return True

    def writes_record(self, record: dict[str, t.Any]) -> bool:
        """Return False for a stand-in record: synced for its children, never written."""
        return True

    def bookmark_record(self, latest_record: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return what the SDK moves the bookmark to after ``latest_record`` (default: it)."""
        return latest_record

    def may_have_records(self, context: t.Any) -> bool:
        """Whether a sync for ``context`` can write a record (False: it is skipped).

        A stream read from the log files says so by its ``log_file(context)``: None when the
        segment holds nothing it reads.
        """
        log_file = getattr(self, "log_file", None)
        return log_file is None or log_file(context) is not None

    def state_changed(self) -> None:
        """Mark the state as changed: the next :meth:`write_state` writes a STATE (item 3)."""
        self.state_manager.is_flushed = False

    def write_state(self) -> None:
        """Write a STATE message now if the state changed since the last one (item 3)."""
        self._write_state_message()

    # The SDK's hooks.

    @property
    @override
    def selected(self) -> bool:
        """Return whether the catalog selects the stream (or, if it runs for them, a child)."""
        if self.runs_for_selected_children:
            return self.emits_records or self.has_selected_descendents
        return bool(RESTStream.selected.fget(self))  # type: ignore[attr-defined]

    @selected.setter
    def selected(self, value: bool | None) -> None:
        RESTStream.selected.fset(self, value)  # type: ignore[attr-defined]

    @override
    def _write_schema_message(self) -> None:
        if self.emits_records:
            super()._write_schema_message()

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write a RECORD by the tap's fast path when the SDK's would only copy it (item 7)."""
        if not self.writes_record(record):
            return
        if not self.emits_records:
            self.state_changed()
            return
        known = self._verbatim
        verbatim = known[1] if known is not None and known[0] is record else None
        write_record(self, record, super()._write_record_message, verbatim)

    @override
    def _sync_records(
        self, context: t.Any = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        """Run the SDK's record loop, or its lean equivalent for a child stream (item 10)."""
        lean = lean_sync_records(self, context, write_messages)
        if lean is None:
            yield from super()._sync_records(context, write_messages=write_messages)
        else:
            yield from lean

    @override
    def _process_record(
        self,
        record: dict[str, t.Any],
        child_context: t.Any = None,
        partition_context: t.Any = None,
    ) -> None:
        """Sync the record's child streams; a stream without any has nothing to do (item 9)."""
        if self.child_streams or partition_context:
            super()._process_record(record, child_context, partition_context)

    @override
    def _sync_children(self, child_context: t.Any) -> None:
        """Sync the child streams, skipping those with nothing to write (item 11)."""
        if not sync_children(self, child_context):
            super()._sync_children(child_context)

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: t.Any = None
    ) -> None:
        """Move the bookmark; a stream without a replication key has none to move (item 9)."""
        if self.replication_key and self.writes_record(latest_record):
            super()._increment_stream_state(self.bookmark_record(latest_record), context=context)

    @override
    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        """Count a child stream's records over the run, not once per log file (item 8)."""
        if self.parent_stream_type is None:
            return super().get_record_counter(**kwargs)
        return run_meters(self)[0]

    @override
    def get_sync_timer(self) -> metrics.Timer:
        """Time a child stream over the run, not once per log file (item 8)."""
        if self.parent_stream_type is None:
            return super().get_sync_timer()
        return run_meters(self)[1]

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """Log; a child stream's "Beginning sync" line at each log file is DEBUG (item 8)."""
        super().log(message, *args, level=sync_log_level(self, message, level), **kwargs)


class OncePerRunSchema(SeamStream):
    """A child stream that sends its SCHEMA message once per run, not once per parent (item 5).

    The SDK re-sends a child's SCHEMA for every parent context (every log file here): thousands
    of identical messages that cost time in the tap and make some targets flush their batches.
    """

    _schema_sent = False

    @override
    def _write_schema_message(self) -> None:
        if not self._schema_sent:
            super()._write_schema_message()
            self._schema_sent = True


class _StreamListLines(logging.Filter):
    """Keep the SDK's per-stream start-up lines for DEBUG.

    "Added 'x' as child stream to 'y'" and "Skipping deselected stream 'x'.": with 40 streams,
    most of them off by default, they would be most of an hourly run's log.
    """

    TEMPLATES = frozenset(
        {"Added '%s' as child stream to '%s'", "Skipping deselected stream '%s'."}
    )

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the two templates unless the logger shows DEBUG."""
        if record.msg in self.TEMPLATES:
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


class LastLine(logging.Filter):
    """Drop every log record once the line that ends the run (its error) was let through.

    Threads still at work as a run fails (a log file read ahead, between two retries) logged
    after the error line, which was then no longer the last line of the log (3 runs in 6 with
    a retried download). Installed on every handler of the root logger by :meth:`open`.

    A handler filters a record before it takes its lock: a record that passed while the last
    line was on its way was written after it. The handler's ``emit`` asks again, under its lock.
    """

    closed = False
    """Whether the last line went out (one run per process: reset by :meth:`open`)."""

    @classmethod
    def open(cls) -> None:
        """Let records through again, and filter every handler of the root logger."""
        cls.closed = False
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, LastLine) for f in handler.filters):
                handler.addFilter(cls())
                handler.emit = _emit_unless_ended(handler.emit)  # type: ignore[method-assign]

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Let a record through unless the last line went out (to any handler)."""
        if getattr(record, "last_line", False):
            LastLine.closed = True
            return True
        return not LastLine.closed


def _emit_unless_ended(emit: t.Callable[[logging.LogRecord], None]) -> t.Callable[..., None]:
    """Return ``emit`` dropping a record the run's last line overtook (see :class:`LastLine`)."""

    def emit_unless_ended(record: logging.LogRecord) -> None:
        if LastLine.closed and not getattr(record, "last_line", False):
            return
        emit(record)

    return emit_unless_ended


def log_last_lines(logger: logging.Logger, lines: list[str]) -> None:
    """Log the lines that end the run at ERROR; nothing is logged after them (:class:`LastLine`)."""
    for number, line in enumerate(lines, 1):
        logger.error("%s", line, extra={"last_line": number == len(lines)})


METRICS_LOG_LEVEL = "TAP_CHATGPT_COMPLIANCE_METRICS_LOG_LEVEL"
"""Environment variable that sets the level of the SDK's METRIC lines (default: WARNING)."""
LOG_LEVEL_VARIABLES = ("TAP_CHATGPT_COMPLIANCE_LOGLEVEL", "LOGLEVEL", METRICS_LOG_LEVEL)
"""Environment variables holding a log level name (the SDK reads the first two)."""


def log_level_errors() -> list[str]:
    """Return one line per log level variable of the environment that names no level."""
    errors = []
    for variable in LOG_LEVEL_VARIABLES:
        value = os.environ.get(variable)
        if value and not isinstance(logging.getLevelName(value.strip().upper()), int):
            errors.append(
                f"{variable} {value!r} is not a log level: use DEBUG, INFO, WARNING or ERROR, "
                "or unset it."
            )
    return errors


class SeamTap(Tap):
    """The tap's overrides of singer-sdk hooks that are private or final (items 1, 4 and 14).

    The tap answers the public hooks below; it never overrides ``_validate_config`` or the
    ``@final`` ``sync_all`` and ``run_connection_test`` itself.
    """

    connection_test = False
    """Whether this run is a connection test (``--test``), set before it syncs anything."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Create the tap: start-up lines kept for DEBUG, URL queries hidden from every log line."""
        logger = logging.getLogger(type(self).name)
        if not any(isinstance(f, _StreamListLines) for f in logger.filters):
            logger.addFilter(_StreamListLines())
        hide_url_queries()  # before anything is logged: signed URLs' queries are credentials
        LastLine.open()  # the error that ends the run is the log's last line
        super().__init__(*args, **kwargs)

    @plugin_cli
    def cli(cls) -> click.Command:
        """Return the command line, once the log levels of the environment are known good.

        The SDK sets its logging up from them before anything else, and ended a name that is
        no level (``verbose``) in a traceback: one line naming the variable instead, exit 1.
        """
        errors = log_level_errors()
        for error in errors:
            sys.stderr.write(f"ERROR {error}\n")
        if errors:
            sys.exit(1)
        return super().cli

    def config_from_strings(self, config: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return settings to replace before validation (default: none)."""
        return {}

    def check_settings(self, *, raise_errors: bool) -> list[str]:
        """Return the errors a JSON schema cannot find (asked only when the schema passed)."""
        return []

    def on_termination(self, signum: int) -> None:
        """Handle SIGTERM or SIGINT (default: the SDK's handler)."""
        super()._handle_termination(signum, None)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Handle the SDK's SIGTERM/SIGINT (item 12) by :meth:`on_termination`."""
        self.on_termination(signum)

    def hide_secrets(self, errors: list[str]) -> list[str]:
        """Return schema errors with the values of secret settings hidden (the tap's hook)."""
        return errors

    def around_sync(self, sync_streams: t.Callable[[], None]) -> None:
        """Run ``sync_streams`` (the SDK's sync of every selected stream) and what surrounds it."""
        sync_streams()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the schema (item 4), then :meth:`check_settings`."""
        self._config.update(self.config_from_strings(self._config))
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise ConfigValidationError(
                str(exc), errors=self.hide_secrets(exc.errors), schema=exc.schema
            ) from None
        if errors:
            return self.hide_secrets(errors)
        return self.check_settings(raise_errors=raise_errors)

    @override  # type: ignore[misc]  # @final in the SDK: extended, not replaced (item 1)
    def sync_all(self) -> None:
        """Sync every selected stream through :meth:`around_sync`."""
        self.around_sync(super().sync_all)

    @override  # type: ignore[misc]  # @final in the SDK: extended, not replaced (item 14)
    def run_connection_test(self) -> bool:
        """Run ``--test`` (the SDK's dry run) with :attr:`connection_test` set."""
        self.connection_test = True
        return super().run_connection_test()
