"""Streams of the tap, by family."""

from tap_chatgpt_compliance.streams.directory import GPTsStream, ProjectsStream, UsersStream
from tap_chatgpt_compliance.streams.files import FilePartsStream, FilesStream
from tap_chatgpt_compliance.streams.logs import (
    ConversationsStream,
    EventsStream,
    LogFilesStream,
    MessagesStream,
    UnparsedLinesStream,
)

__all__ = [
    "ConversationsStream",
    "EventsStream",
    "FilePartsStream",
    "FilesStream",
    "GPTsStream",
    "LogFilesStream",
    "MessagesStream",
    "ProjectsStream",
    "UnparsedLinesStream",
    "UsersStream",
]
