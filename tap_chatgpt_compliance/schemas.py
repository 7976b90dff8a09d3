"""JSON schemas of every stream, declared once."""

from __future__ import annotations

from singer_sdk import typing as th

_ANY_OBJECT = th.ObjectType(additional_properties=True)
_STRINGS = th.ArrayType(th.StringType)
_EVENT_ID = (
    "The event's event_id; when it has none (absent or empty), sha256:<hex> of its canonical "
    "JSON; when a different event of the same type already used it in the run, "
    "<event_id>#sha256:<hex>. The original is always in event."
)
_EVENT_ID_DERIVED = "True when event_id is not the event's own (see event_id)."
ITEM_DESCRIPTION = (
    "The list item exactly as delivered by the API: fields the tap does not know are kept."
)
RAW_ITEM_DESCRIPTION = (
    "The list item as the API served it, as canonical JSON text (keys sorted, no spaces, "
    "UTF-8): every other column is derived from it (directory_rows.derive_row), which "
    "`chatgpt-compliance verify` recomputes."
)
CHAIN_VERSION_DESCRIPTION = (
    "Version of the chained field set (chain.py, docs/evidence.md); absent: version 1."
)

LOG_FILE = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="Log file id (eclf_…)."),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("organization_id", th.StringType),
    th.Property("scope", th.StringType, description="workspace or organization."),
    th.Property(
        "event_type",
        th.StringType,
        required=True,
        description="Listed event type, or the type requested when the listing item has none.",
    ),
    th.Property(
        "end_time",
        th.DateTimeType,
        required=True,
        description="Provider end_time (see end_time_source when the listing item had none).",
    ),
    th.Property(
        "end_time_source",
        th.StringType,
        description=(
            "listing (the item's end_time), page (the item had none: the page's last_end_time) "
            "or previous (the item had none: the end_time of the file before it)."
        ),
    ),
    th.Property(
        "bookmark_capped",
        th.BooleanType,
        description="end_time was later than the current time: the bookmark did not move to it.",
    ),
    th.Property("file_name", th.StringType),
    th.Property(
        "listing_item",
        _ANY_OBJECT,
        description=(
            "The listing's item for this file exactly as served: fields the tap does not know "
            "(added by OpenAI later) are kept here."
        ),
    ),
    th.Property("file_size", th.IntegerType, description="Size announced by the listing."),
    th.Property("provider_sha256", th.StringType, description="file_sha256 from the listing."),
    th.Property("verified_sha256", th.StringType, description="SHA-256 of the bytes downloaded."),
    th.Property("bytes_downloaded", th.IntegerType),
    th.Property("download_attempts", th.IntegerType),
    th.Property(
        "line_count",
        th.IntegerType,
        description=(
            "Lines in the file (separated by \\n): event_count + duplicates_dropped + "
            "unparsed_lines + blank_lines."
        ),
    ),
    th.Property("event_count", th.IntegerType, description="Events kept (new in this run)."),
    th.Property(
        "duplicates_dropped",
        th.IntegerType,
        description="Events already kept in this run: same key, same type, same bytes.",
    ),
    th.Property(
        "unparsed_lines",
        th.IntegerType,
        description="Lines not UTF-8 or not a JSON object, kept in the unparsed_lines stream.",
    ),
    th.Property("blank_lines", th.IntegerType, description="Empty lines (no bytes)."),
    th.Property(
        "events_without_id",
        th.IntegerType,
        description="Events kept without an event_id: keyed by the SHA-256 of their content.",
    ),
    th.Property(
        "id_clashes",
        th.IntegerType,
        description="Events kept although a different event already used their event_id.",
    ),
    th.Property(
        "foreign_events",
        th.IntegerType,
        description="Events whose type differs from the file's (routed by their own type).",
    ),
    th.Property("processed_at", th.DateTimeType, description="When the tap finished the file."),
    th.Property(
        "download_status",
        th.StringType,
        description=(
            "archived (downloaded, verified, read); unavailable (refused by the API for good "
            "and acknowledged in unavailable_log_file_ids: its events are not archived); "
            "expired (refused until it left the listing: its events are lost)."
        ),
    ),
    th.Property(
        "download_error",
        th.StringType,
        description="Why an unavailable or expired file was not archived (the API's answer).",
    ),
    th.Property(
        "raw_content",
        th.StringType,
        description=(
            "Where the file's bytes are kept, as delivered: storage (raw_storage_uri), inline "
            "(raw_part_count log_file_parts records) or none (not kept)."
        ),
    ),
    th.Property(
        "raw_storage_uri",
        th.StringType,
        description="The stored copy of the file (<file_storage_url>/sha256/<aa>/<sha256>).",
    ),
    th.Property("raw_part_count", th.IntegerType, description="log_file_parts of the file."),
    th.Property(
        "chain_seq", th.IntegerType, description="Position in its event type's chain (1 first)."
    ),
    th.Property(
        "chain_previous",
        th.StringType,
        description="chain_hash of the previous file of the event type (64 zeros for the first).",
    ),
    th.Property(
        "chain_hash",
        th.StringType,
        description="SHA-256 linking this record to chain_previous (see docs/evidence.md).",
    ),
    th.Property("chain_version", th.IntegerType, description=CHAIN_VERSION_DESCRIPTION),
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
        "content_json",
        th.ObjectType(additional_properties=True),
        description=(
            "Content that is not text, as a JSON object (jsonb in PostgreSQL): content.value "
            "when it is an object (tool output, …); the whole content object when its value is "
            "an array, number or boolean, or when it has other fields but no value."
        ),
    ),
    th.Property("content_annotations", th.ArrayType(_ANY_OBJECT)),
    th.Property("attachment_ids", _STRINGS),
    th.Property("event_id", th.StringType, description=_EVENT_ID),
    th.Property("event_id_derived", th.BooleanType, description=_EVENT_ID_DERIVED),
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
        description=(
            "archived; forbidden (HTTP 403) or failed (retries spent on 5xx, timeouts or network "
            "errors, or a storage error): retried by later runs until retry_until; gave_up "
            "(still not archived when its retry window ended); expired (410), not_found (404), "
            "too_large or metadata_only."
        ),
    ),
    th.Property("status_reason", th.StringType),
    th.Property("archived_at", th.DateTimeType),
    th.Property(
        "storage_uri",
        th.StringType,
        description="file_content=storage: the object, verified to hash to sha256.",
    ),
    th.Property(
        "retry_until",
        th.DateTimeType,
        description=(
            "Set when status is forbidden or failed: later runs retry the download until this "
            "time (the message's time plus the retry window); a later record settles it."
        ),
    ),
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
    th.Property(
        "chain_seq",
        th.IntegerType,
        description="Position in the workspace's files chain (1 first).",
    ),
    th.Property(
        "chain_previous",
        th.StringType,
        description="chain_hash of the previous files record (64 zeros for the first).",
    ),
    th.Property(
        "chain_previous_id",
        th.StringType,
        description=(
            "Attachment id of the record chain_previous links to: a target that keeps only the "
            "latest record of an attachment accounts for the earlier one by it."
        ),
    ),
    th.Property(
        "chain_hash",
        th.StringType,
        description="SHA-256 linking this record to chain_previous (see docs/evidence.md).",
    ),
    th.Property("chain_version", th.IntegerType, description=CHAIN_VERSION_DESCRIPTION),
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
    th.Property("event_id", th.StringType, required=True, description=_EVENT_ID),
    th.Property("event_id_derived", th.BooleanType, description=_EVENT_ID_DERIVED),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("organization_id", th.StringType),
    th.Property(
        "type",
        th.StringType,
        required=True,
        description="The event's type, or its log file's when it has none.",
    ),
    th.Property("timestamp", th.DateTimeType),
    th.Property("actor", _ANY_OBJECT),
    th.Property("log_file_id", th.StringType),
    th.Property("event", _ANY_OBJECT, description="The original event, as delivered."),
).to_dict()

UNPARSED_LINE = th.PropertiesList(
    th.Property("log_file_id", th.StringType, required=True),
    th.Property(
        "line_number", th.IntegerType, required=True, description="1-based, lines split on \\n."
    ),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("event_type", th.StringType, description="Event type of the log file."),
    th.Property(
        "reason", th.StringType, description="invalid_utf8, invalid_json or not_an_object."
    ),
    th.Property("error", th.StringType, description="What the parser said."),
    th.Property("byte_count", th.IntegerType, description="Bytes of the line, without its \\n."),
    th.Property("sha256", th.StringType, description="SHA-256 of the line's bytes."),
    th.Property(
        "content_base64",
        th.CustomType({"type": ["string"], "contentEncoding": "base64"}),
        description="The line's bytes, exactly as in the file (without its \\n).",
    ),
).to_dict()

USER = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="User id (user-…)."),
    th.Property("workspace_id", th.StringType, required=True),
    th.Property("email", th.StringType),
    th.Property("name", th.StringType),
    th.Property("display_name", th.StringType, description="Seen in published samples."),
    th.Property("role", th.StringType, description="account-owner, standard-user, …"),
    th.Property("status", th.StringType, description="active, inactive, …"),
    th.Property("created_at", th.DateTimeType),
    th.Property("item", _ANY_OBJECT, description=ITEM_DESCRIPTION),
    th.Property("raw_item", th.StringType, description=RAW_ITEM_DESCRIPTION),
).to_dict()

_OBJECT_OR_ARRAY = th.CustomType({"type": ["object", "array", "null"]})
"""``latest_config`` is a list object in the reference, a bare array in published samples."""


def _shared_object() -> dict:
    """Return the schema of a GPT or project: owner, sharing and latest configuration."""
    return th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("workspace_id", th.StringType, required=True),
        th.Property("created_at", th.DateTimeType),
        th.Property("owner_id", th.StringType),
        th.Property("owner_email", th.StringType),
        th.Property("builder_name", th.StringType),
        th.Property("sharing", _ANY_OBJECT),
        th.Property(
            "latest_config",
            _OBJECT_OR_ARRAY,
            description="As delivered: a list object ({object, data, …}) or an array.",
        ),
        th.Property("item", _ANY_OBJECT, description=ITEM_DESCRIPTION),
        th.Property("raw_item", th.StringType, description=RAW_ITEM_DESCRIPTION),
    ).to_dict()


GPT = _shared_object()
PROJECT = _shared_object()
