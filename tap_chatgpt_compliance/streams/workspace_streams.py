"""The workspace-object streams (issue 21), in the order a run syncs them."""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance.streams.activity import (
    AutomationsStream,
    CodexTaskDetailsStream,
    CodexTasksStream,
    LibraryFilesStream,
    RecordingsStream,
    RecordingTranscriptsStream,
)
from tap_chatgpt_compliance.streams.canvases import CanvasesStream, CanvasVersionsStream
from tap_chatgpt_compliance.streams.history import (
    GPTConfigsStream,
    GPTSharedUsersStream,
    ProjectConfigsStream,
    ProjectSharedUsersStream,
)
from tap_chatgpt_compliance.streams.knowledge import (
    GPTFilePartsStream,
    GPTFilesStream,
    LibraryFileContentsStream,
    LibraryFilePartsStream,
    ProjectFilePartsStream,
    ProjectFilesStream,
)
from tap_chatgpt_compliance.streams.memories import MemoriesStream, MemoryEntriesStream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

WORKSPACE_OBJECT_STREAMS: tuple[type[Stream], ...] = (
    GPTConfigsStream,
    GPTFilesStream,
    GPTFilePartsStream,
    GPTSharedUsersStream,
    ProjectConfigsStream,
    ProjectFilesStream,
    ProjectFilePartsStream,
    ProjectSharedUsersStream,
    MemoriesStream,
    MemoryEntriesStream,
    CanvasesStream,
    CanvasVersionsStream,
    AutomationsStream,
    RecordingsStream,
    RecordingTranscriptsStream,
    CodexTasksStream,
    CodexTaskDetailsStream,
    LibraryFilesStream,
    LibraryFileContentsStream,
    LibraryFilePartsStream,
)
