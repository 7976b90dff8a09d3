"""The tap: settings, streams, and how a run starts and ends."""

from __future__ import annotations

import logging
import os
import sys
import typing as t
from functools import cached_property

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_chatgpt_compliance import streams
from tap_chatgpt_compliance.attachments.archive import AttachmentArchiver
from tap_chatgpt_compliance.attachments.pipeline import AttachmentPipeline
from tap_chatgpt_compliance.cli import CommandLineTap
from tap_chatgpt_compliance.errors import ComplianceAPIError, fatal_message
from tap_chatgpt_compliance.http.transport import Transport
from tap_chatgpt_compliance.logfiles.seals import seal_errors, seal_run, selected_columns
from tap_chatgpt_compliance.run.interpreter import lean_interpreter
from tap_chatgpt_compliance.run.output import Interrupted, LineLimitedWriter
from tap_chatgpt_compliance.run.store import WorkspaceLease
from tap_chatgpt_compliance.run.summary import (
    Bookmark,
    CountingWriter,
    RunSummary,
    written_bookmarks,
)
from tap_chatgpt_compliance.run.sync import SyncRun
from tap_chatgpt_compliance.sdk import (
    METRICS_LOG_LEVEL,
    close_run_meters,
)
from tap_chatgpt_compliance.secrets import (
    key_source,
    name_the_secret,
    resolve_api_key,
    secret_config_errors,
    with_secret_settings,
)
from tap_chatgpt_compliance.settings import (
    CONFIG_SCHEMA,
    Settings,
    config_errors,
    explain_schema_errors,
    hide_secret_values,
    storage_errors,
    unknown_setting_errors,
    values_from_strings,
)
from tap_chatgpt_compliance.streams.files import say_if_every_one_missing
from tap_chatgpt_compliance.streams.overlap import start_overlap, stop_overlap
from tap_chatgpt_compliance.streams.rawparts import LogFilePartsStream
from tap_chatgpt_compliance.streams.state import (
    check_state,
    note_selection,
    stamp_state,
)
from tap_chatgpt_compliance.streams.workspace_streams import WORKSPACE_OBJECT_STREAMS

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

STREAM_TYPES: tuple[type[Stream], ...] = (
    streams.LogFilesStream,
    streams.MessagesStream,
    streams.ConversationsStream,
    streams.FilesStream,
    streams.FilePartsStream,
    streams.EventsStream,
    streams.UnparsedLinesStream,
    LogFilePartsStream,
    streams.UsersStream,
    streams.GPTsStream,
    streams.ProjectsStream,
    *WORKSPACE_OBJECT_STREAMS,
)


def run_transport(tap: TapChatGPTCompliance) -> Transport:
    """Return the run's HTTP transport, with the key's secret read again after a 401."""
    transport = Transport(tap.settings, tap.logger)
    if getattr(tap, "_read_secret", False):  # a key rotated during the run: secrets.py
        transport.key_source = key_source(tap.config, tap.settings.api_key, tap.logger)
    if tap.connection_test:  # --test: a host that cannot be connected to fails at once
        transport.reachability.budget = 0.0
    return transport


class TapChatGPTCompliance(CommandLineTap):
    """Archive a ChatGPT Enterprise/Edu workspace through OpenAI's Compliance API."""

    name = "tap-chatgpt-compliance"
    config_jsonschema = with_secret_settings(CONFIG_SCHEMA)
    message_writer_class = CountingWriter
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.TEST,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up the run's shared memory before the streams are built."""
        self.sync_run = SyncRun()
        super().__init__(*args, **kwargs)
        quiet_sdk_metrics(self.metrics_logger)
        progress = self.sync_run.progress
        progress.logger = self.logger
        if isinstance(self.message_writer, CountingWriter):
            records = self.message_writer.records
            progress.records_total = lambda: sum(records.values())
            self.message_writer.first_record = lambda stream: _note_selection(self, stream)
        statuses = self.sync_run.attachment_statuses
        progress.attachments_total = lambda: sum(statuses.values())
        if isinstance(self.message_writer, LineLimitedWriter):
            self.message_writer.max_line_bytes = self.settings.max_record_bytes

    @cached_property
    def settings(self) -> Settings:
        """Return the settings, read once (after validation, at the first use in a sync)."""
        # The key's secret is read only for a run or --test, never for --discover or --about.
        read_secret = getattr(self, "_read_secret", False)
        return Settings.from_config(resolve_api_key(self.config) if read_secret else self.config)

    @cached_property
    def transport(self) -> Transport:
        """Return the run's HTTP transport: sessions, per-route pacing, retries."""
        return run_transport(self)

    @cached_property
    def attachments(self) -> AttachmentPipeline:
        """Return the run's attachment pipeline: fetched ahead by a few threads, in order."""
        archiver = AttachmentArchiver(
            self.settings, self.transport, self.streams["files"].logger, self.sync_run.counts
        )
        return AttachmentPipeline(archiver, self.sync_run.handled_attachment_ids)

    @override
    def config_from_strings(self, config: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return typed settings given as text (Meltano passes every setting as a string)."""
        return values_from_strings(config)

    @override
    def hide_secrets(self, errors: list[str]) -> list[str]:
        """Return schema errors without secret values, a missing setting with how to set it."""
        errors = explain_schema_errors(errors, self.config_jsonschema)
        return hide_secret_values(errors, self.config, self.config_jsonschema)

    @override
    def check_settings(self, *, raise_errors: bool) -> list[str]:
        """Check what a schema cannot say, with the fix for each setting."""
        self._read_secret = raise_errors
        errors = unknown_setting_errors(self.config, self.config_jsonschema["properties"])
        errors += config_errors(self.config) + secret_config_errors(self.config)
        if not errors and raise_errors:  # a real run, not --discover: probe the store too
            # the content store, then the seal store (Object Lock on S3)
            errors = storage_errors(self.config) or seal_errors(self.config)
        errors = self.hide_secrets(errors)  # a store's error may quote its options
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Load a state this tap wrote for the workspace, else stop before any request."""
        workspace_id = str(self.config.get("workspace_id") or "")
        check_state(state, workspace_id)
        super().load_state(state)
        stamp_state(self.state.setdefault("bookmarks", {}), workspace_id)

    @override
    def discover_streams(self) -> list[Stream]:
        """Return every stream; none calls the API before a sync."""
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    def run_summary(self, fatal: BaseException | None = None) -> RunSummary:
        """Gather the end-of-run summary (``fatal``: the error that ends the run, if any)."""
        writer = self.message_writer
        return RunSummary(
            run=self.sync_run,
            records=dict(writer.records) if isinstance(writer, CountingWriter) else {},
            bookmarks=_bookmarks(self),
            pacing=self.transport.pacer.summary() if "transport" in self.__dict__ else None,
            clock=self.transport.clock if "transport" in self.__dict__ else None,
            fatal=None if fatal is None else _fatal_line(fatal),
            fatal_exit_code=fatal.exit_code if isinstance(fatal, Interrupted) else None,
        )

    @override
    def on_termination(self, signum: int) -> None:
        """SIGTERM/SIGINT: stop after the line being written, never in the middle of one.

        Replaces the SDK's handler, which wrote the state of the moment (possibly ahead of the
        records written) in the middle of a line, and exited 0.
        """
        writer = self.message_writer
        if isinstance(writer, LineLimitedWriter):
            writer.interrupt(signum)
        else:
            raise Interrupted(signum)

    def log_summary(self, fatal: BaseException | None = None) -> None:
        """Log the run summary block; its last line is ``Run summary (json): {...}``."""
        try:
            lines = self.run_summary(fatal).lines()
        except Exception as exc:  # the summary must never hide the run's outcome, nor trace
            self.logger.debug("Traceback of the summary", exc_info=True)
            self.logger.warning("The run summary could not be built (%s).", _named(exc))
            return
        for line in lines:
            self.logger.info("%s", line)

    @override
    def around_sync(self, sync_streams: t.Callable[[], None]) -> None:
        """Sync every selected stream, log the run summary, then fail if a stream was skipped.

        The summary is logged even when the run fails: the error line then comes last.
        """
        if not any(stream.selected for stream in self.streams.values()):
            raise ConfigValidationError("Nothing selected", errors=[NOTHING_SELECTED])
        lease = WorkspaceLease(self.settings.api_url, self.settings.workspace_id)
        lease.acquire()  # one run per workspace: a second one stops here, before any request
        fatal: BaseException | None = None
        try:
            with lean_interpreter():  # run/interpreter.py: GC and thread switches (P1)
                t.cast("streams.FilesStream", self.streams["files"]).retry_pending_attachments()
                start_overlap(self)  # the workspace-object streams' routes overlap (overlap.py)
                sync_streams()
                say_if_every_one_missing(self.sync_run, self.logger)  # streams/files.py
            seal_run(self)  # after the final STATE: anchors only what was written
        except BaseException as exc:
            name_the_secret(exc, self.config)
            fatal = exc
            if isinstance(exc, Interrupted) and isinstance(self.message_writer, LineLimitedWriter):
                self.message_writer.end_interrupted()  # whole lines, then the final STATE
            raise
        finally:
            stop_overlap(self)
            if "attachments" in self.__dict__:
                self.attachments.close()
            close_run_meters(self.streams.values())
            self.sync_run.close()
            self.log_summary(fatal)
            lease.release()
        if self.sync_run.failures:
            raise ComplianceAPIError(" | ".join(self.sync_run.failures))


NOTHING_SELECTED = (
    "select: the catalog selects no stream, so the run would archive nothing. Select what to "
    "archive: Meltano's `select` extra of the extractor (e.g. `messages.*`, `files.*`; `meltano "
    "select tap-chatgpt-compliance --list --all` lists every stream), or `selected: true` in the "
    "catalog given with --catalog"
)
"""A run with nothing selected fails before any request: an empty archive is never a success."""


def _bookmarks(tap: TapChatGPTCompliance) -> dict[str, Bookmark]:
    """Return each event type's bookmark in the last STATE written (summary.py)."""
    stream = tap.streams.get("log_files")
    if stream is None or "settings" not in tap.__dict__:
        return {}
    writer = tap.message_writer
    written = writer.written_state() if isinstance(writer, LineLimitedWriter) else None
    return written_bookmarks(written, stream, tap.settings.event_types)


def _named(exc: BaseException) -> str:
    """Return an error as ``Class: message`` on one line, shortened."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _fatal_line(exc: BaseException) -> str:
    """Return the one line of the error that ends the run."""
    return exc.message if isinstance(exc, Interrupted) else fatal_message(exc)


def _note_selection(tap: TapChatGPTCompliance, stream: str) -> None:
    """Keep in the state the columns selected for ``stream`` (its first record of the run).

    ``verify --state`` then tells a column deleted from every row from one deselected.
    """
    bookmarks = tap.state.setdefault("bookmarks", {})
    note_selection(bookmarks, selected_columns(tap.streams, {stream: 1}))


def quiet_sdk_metrics(logger: logging.Logger) -> None:
    """Hide the SDK's METRIC lines (one per listing page and stream) unless asked for.

    They come back with ``TAP_CHATGPT_COMPLIANCE_METRICS_LOG_LEVEL=INFO``, or with the whole
    log at DEBUG (``TAP_CHATGPT_COMPLIANCE_LOGLEVEL=DEBUG``).
    """
    wanted = os.environ.get(METRICS_LOG_LEVEL)
    if wanted:
        logger.setLevel(wanted.upper())
    elif logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.WARNING)
