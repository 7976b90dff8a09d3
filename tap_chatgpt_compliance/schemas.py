"""JSON schemas of every stream, declared once."""

from __future__ import annotations

from singer_sdk import typing as th

_ANY_OBJECT = th.ObjectType(additional_properties=True)
_STRINGS = th.ArrayType(th.StringType)

LOG_FILE = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="Log file id (eclf_…)."),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("organization_id", th.StringType),
    th.Property("scope", th.StringType, description="workspace or organization."),
    th.Property("event_type", th.StringType, required=True),
    th.Property("end_time", th.DateTimeType, required=True, description="Provider end_time."),
    th.Property("file_name", th.StringType),
    th.Property("file_size", th.IntegerType, description="Size announced by the listing."),
    th.Property("provider_sha256", th.StringType, description="file_sha256 from the listing."),
    th.Property("verified_sha256", th.StringType, description="SHA-256 of the bytes downloaded."),
    th.Property("bytes_downloaded", th.IntegerType),
    th.Property("download_attempts", th.IntegerType),
    th.Property("line_count", th.IntegerType, description="JSON lines in the file."),
    th.Property("event_count", th.IntegerType, description="Events kept (new in this run)."),
    th.Property("duplicates_dropped", th.IntegerType, description="Events already seen."),
    th.Property(
        "malformed_lines", _STRINGS, description="Lines that are not JSON objects, verbatim."
    ),
    th.Property("processed_at", th.DateTimeType, description="When the tap finished the file."),
).to_dict()

CONVERSATION = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("title", th.StringType, description="Latest non-empty title seen."),
    th.Property(
        "title_seen_at",
        th.DateTimeType,
        description="Time of the event that carried the title: the latest one wins downstream.",
    ),
    th.Property("created_at", th.DateTimeType),
    th.Property("owner_user_id", th.StringType),
    th.Property("owner_email", th.StringType),
    th.Property("is_pinned", th.BooleanType),
    th.Property("is_temporary_chat", th.BooleanType),
    th.Property("gpt_id", th.StringType),
    th.Property("gpt_name", th.StringType),
    th.Property("project_id", th.StringType),
    th.Property("project_name", th.StringType),
    th.Property("mode", th.StringType),
    th.Property("first_message_seen_at", th.DateTimeType),
    th.Property("last_message_seen_at", th.DateTimeType),
    th.Property("message_count_seen", th.IntegerType),
    th.Property("log_file_id", th.StringType, description="Log file that emitted this record."),
).to_dict()

MESSAGE = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("conversation_id", th.StringType),
    th.Property("previous_message_id", th.StringType),
    th.Property("parent_id", th.StringType),
    th.Property(
        "created_at",
        th.DateTimeType,
        description="message.created_at, or the event timestamp when it is missing or malformed.",
    ),
    th.Property(
        "created_at_raw", th.StringType, description="message.created_at as delivered (JSON text)."
    ),
    th.Property("created_at_source", th.StringType, description="message or event_timestamp."),
    th.Property("event_timestamp", th.DateTimeType),
    th.Property("author_type", th.StringType, description="author.type, or author.role."),
    th.Property("author_model", th.StringType),
    th.Property("author_client_type", th.StringType),
    th.Property("author_tools_used", _STRINGS),
    th.Property("author_skills_used", _STRINGS),
    th.Property("actor_type", th.StringType),
    th.Property("actor_user_id", th.StringType),
    th.Property("actor_email", th.StringType),
    th.Property("content_type", th.StringType),
    th.Property("content_text", th.StringType, description="content.value when it is text."),
    th.Property(
        "content_json", th.StringType, description="content.value as JSON text when it is not text."
    ),
    th.Property("content_annotations", th.ArrayType(_ANY_OBJECT)),
    th.Property("attachment_ids", _STRINGS),
    th.Property("event_id", th.StringType),
    th.Property("log_file_id", th.StringType),
    th.Property("event", _ANY_OBJECT, description="The original event, as delivered."),
).to_dict()

FILE = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="File id (file-…)."),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("conversation_id", th.StringType),
    th.Property("message_id", th.StringType),
    th.Property("user_id", th.StringType),
    th.Property("name", th.StringType),
    th.Property("mime_type", th.StringType),
    th.Property("size", th.IntegerType),
    th.Property("sha256", th.StringType, description="SHA-256 computed while downloading."),
    th.Property(
        "status",
        th.StringType,
        description=("archived, expired, not_found, forbidden, too_large or metadata_only."),
    ),
    th.Property("status_reason", th.StringType),
    th.Property("archived_at", th.DateTimeType),
    th.Property("storage_uri", th.StringType),
    th.Property(
        "content_base64",
        th.CustomType({"type": ["string", "null"], "contentEncoding": "base64"}),
    ),
    th.Property(
        "part_count",
        th.IntegerType,
        description="Number of file_parts records holding the content (inline mode, large files).",
    ),
    th.Property("log_file_id", th.StringType),
    th.Property("event_id", th.StringType),
).to_dict()

FILE_PART = th.PropertiesList(
    th.Property("file_id", th.StringType, required=True),
    th.Property("part_index", th.IntegerType, required=True, description="0-based."),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("part_count", th.IntegerType),
    th.Property("offset", th.IntegerType, description="Byte offset of the part in the file."),
    th.Property("size", th.IntegerType),
    th.Property("sha256", th.StringType, description="SHA-256 of the file (not of the part)."),
    th.Property(
        "content_base64",
        th.CustomType({"type": ["string", "null"], "contentEncoding": "base64"}),
    ),
).to_dict()

EVENT = th.PropertiesList(
    th.Property("event_id", th.StringType, required=True),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("organization_id", th.StringType),
    th.Property("type", th.StringType),
    th.Property("timestamp", th.DateTimeType),
    th.Property("actor", _ANY_OBJECT),
    th.Property("log_file_id", th.StringType),
    th.Property("event", _ANY_OBJECT, description="The original event, as delivered."),
).to_dict()

USER = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("email", th.StringType),
    th.Property("name", th.StringType),
    th.Property("role", th.StringType),
    th.Property("status", th.StringType),
    th.Property("created_at", th.DateTimeType),
).to_dict()


def _shared_object(*extra: th.Property) -> dict:
    """Return the schema of a GPT or project: owner, sharing and latest configuration."""
    return th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("workspace_id", th.StringType, required=True),
        th.Property("created_at", th.DateTimeType),
        th.Property("owner_id", th.StringType),
        th.Property("owner_email", th.StringType),
        *extra,
        th.Property("sharing", _ANY_OBJECT),
        th.Property("latest_config", _ANY_OBJECT),
    ).to_dict()


GPT = _shared_object(th.Property("builder_name", th.StringType))
PROJECT = _shared_object()
