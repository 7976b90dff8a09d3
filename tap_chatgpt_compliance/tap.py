"""The tap: settings, streams, and how a run starts and ends."""

from __future__ import annotations

import sys
import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_chatgpt_compliance import streams
from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.run import SyncRun
from tap_chatgpt_compliance.settings import CONFIG_SCHEMA, config_errors

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

STREAM_TYPES: tuple[type[Stream], ...] = (
    streams.LogFilesStream,
    streams.MessagesStream,
    streams.ConversationsStream,
    streams.FilesStream,
    streams.FilePartsStream,
    streams.EventsStream,
    streams.UsersStream,
    streams.GPTsStream,
    streams.ProjectsStream,
)


class TapChatGPTCompliance(Tap):
    """Archive a ChatGPT Enterprise/Edu workspace through OpenAI's Compliance API."""

    name = "tap-chatgpt-compliance"
    config_jsonschema = CONFIG_SCHEMA
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up the run's shared memory before the streams are built."""
        self.sync_run = SyncRun()
        super().__init__(*args, **kwargs)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the schema, then what a schema cannot say, with the fix for each setting."""
        errors = super()._validate_config(raise_errors=raise_errors)
        if errors:
            return errors
        errors = config_errors(self.config)
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
        """Sync every selected stream, log the run summary, then fail if a stream was skipped."""
        super().sync_all()
        self.log_summary()
        if self.sync_run.failures:
            raise ComplianceAPIError(" | ".join(self.sync_run.failures))

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; a fatal API error ends it with one readable line and exit code 1."""
        try:
            super().invoke(*args, **kwargs)
        except FatalAPIError as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)
