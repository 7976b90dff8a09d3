"""The tap: settings, streams, and how a run starts and ends."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_chatgpt_compliance import streams
from tap_chatgpt_compliance.attachments import AttachmentArchiver
from tap_chatgpt_compliance.errors import ComplianceAPIError, fatal_message
from tap_chatgpt_compliance.output import LineLimitedWriter
from tap_chatgpt_compliance.pipeline import AttachmentPipeline
from tap_chatgpt_compliance.run import SyncRun
from tap_chatgpt_compliance.sdk import close_run_meters
from tap_chatgpt_compliance.settings import (
    CONFIG_SCHEMA,
    Settings,
    config_errors,
    storage_errors,
)
from tap_chatgpt_compliance.transport import Transport

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
    streams.UsersStream,
    streams.GPTsStream,
    streams.ProjectsStream,
)


class TapChatGPTCompliance(Tap):
    """Archive a ChatGPT Enterprise/Edu workspace through OpenAI's Compliance API."""

    name = "tap-chatgpt-compliance"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = LineLimitedWriter
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
        if isinstance(self.message_writer, LineLimitedWriter):
            self.message_writer.max_line_bytes = self.settings.max_record_bytes

    @cached_property
    def settings(self) -> Settings:
        """Return the settings, read once (after validation, at the first use in a sync)."""
        return Settings.from_config(self.config)

    @cached_property
    def transport(self) -> Transport:
        """Return the run's HTTP transport: sessions, per-route pacing, retries."""
        return Transport(self.settings, self.logger)

    @cached_property
    def attachments(self) -> AttachmentPipeline:
        """Return the run's attachment pipeline: fetched ahead by a few threads, in order."""
        archiver = AttachmentArchiver(
            self.settings, self.transport, self.streams["files"].logger, self.sync_run.counts
        )
        return AttachmentPipeline(archiver, self.sync_run.handled_attachment_ids)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the schema, then what a schema cannot say, with the fix for each setting."""
        errors = super()._validate_config(raise_errors=raise_errors)
        if errors:
            return errors
        errors = config_errors(self.config)
        if not errors and raise_errors:  # a real run, not --discover: probe the store too
            errors = storage_errors(self.config)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    def discover_streams(self) -> list[Stream]:
        """Return every stream; none calls the API before a sync."""
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    def log_summary(self) -> None:
        """Log what the run archived and every attachment it could not archive."""
        summary, *problems = self.sync_run.summary_lines()
        self.logger.info(summary)
        for line in problems:
            self.logger.warning(line)

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK; extended, not replaced
        """Sync every selected stream, log the run summary, then fail if a stream was skipped.

        The summary is logged even when the run fails: the error line then comes last.
        """
        try:
            t.cast("streams.FilesStream", self.streams["files"]).retry_pending_attachments()
            super().sync_all()
        finally:
            if "attachments" in self.__dict__:
                self.attachments.close()
            close_run_meters(self.streams.values())
            self.sync_run.close()
            self.log_summary()
            if "transport" in self.__dict__:
                self.logger.info("%s", self.transport.pacer.summary())
        if self.sync_run.failures:
            raise ComplianceAPIError(" | ".join(self.sync_run.failures))

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; any failure ends it with readable lines, never a traceback, and exit 1.

        Invalid settings give one line each; every other error (API errors, retries
        exhausted, an unreachable API, storage errors, …) gives one line, which is the last
        line of the log. The traceback is logged only at DEBUG level.
        """
        try:
            super().invoke(*args, **kwargs)
        except ConfigValidationError as exc:
            for error in exc.errors or [str(exc)]:
                cls.logger.error("%s", " ".join(str(error).split()))
            sys.exit(1)
        except Exception as exc:  # every failure must end as one line and exit code 1
            cls.logger.debug("Traceback of the failure", exc_info=True)
            cls.logger.error("%s", fatal_message(exc))
            sys.exit(1)
