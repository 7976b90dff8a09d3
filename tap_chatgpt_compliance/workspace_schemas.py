"""JSON schemas of the workspace-object streams (issue 21).

Every row keeps the item as served (``item``, and ``raw_item``: its canonical JSON text, with
``raw_sha256``) beside the columns derived from it (``workspace_rows.derive_row``). Shapes the
reference marks as uncertain (automations, recordings, transcripts, Codex task details) derive
only ids and times: the rest is read from ``item``.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_chatgpt_compliance.schemas import ITEM_DESCRIPTION

_ANY_OBJECT = th.ObjectType(additional_properties=True)
_ANY = th.CustomType({})
_RAW_ITEM = (
    "The item as the API served it, as canonical JSON text (keys sorted, no spaces, UTF-8): "
    "every other column is derived from it and from the parent ids "
    "(workspace_rows.derive_row), which `chatgpt-compliance verify` can recompute."
)


def _object(*properties: th.Property, time_fields: t.Iterable[str] = ()) -> dict:
    """Return a schema: the given columns, workspace_id, times, and the item as served."""
    times = [
        th.Property(name, th.DateTimeType, description="From Unix seconds, as UTC ISO 8601.")
        for name in time_fields
    ]
    return th.PropertiesList(
        *properties,
        th.Property("workspace_id", th.StringType, required=True),
        *times,
        th.Property("item", _ANY_OBJECT, description=ITEM_DESCRIPTION),
        th.Property("raw_item", th.StringType, description=_RAW_ITEM),
        th.Property("raw_sha256", th.StringType, description="SHA-256 of raw_item (UTF-8)."),
    ).to_dict()


def _config_schema(parent: str) -> dict:
    return _object(
        th.Property("id", th.StringType, required=True, description="Configuration id."),
        th.Property(parent, th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("instructions", th.StringType),
        th.Property("categories", th.ArrayType(_ANY)),
        th.Property("conversation_starters", th.ArrayType(_ANY)),
        th.Property("version_author", _ANY_OBJECT),
        th.Property(
            "version_author_id", th.StringType, description="version_author.id, when given."
        ),
        th.Property("files", _ANY, description="Knowledge files, as delivered (file_format=id)."),
        th.Property("file_ids", th.ArrayType(th.StringType), description="Ids in files."),
        th.Property("tools", _ANY),
        time_fields=("created_at",),
    )


def _shared_user(parent: str) -> dict:
    return _object(
        th.Property("id", th.StringType, required=True, description="User id (user-…)."),
        th.Property(parent, th.StringType, required=True),
        th.Property("email", th.StringType),
        th.Property("name", th.StringType),
        th.Property("role", th.StringType),
        th.Property("status", th.StringType),
        th.Property("permissions", _ANY_OBJECT),
        time_fields=("created_at",),
    )


GPT_CONFIG = _config_schema("gpt_id")
PROJECT_CONFIG = _config_schema("project_id")
GPT_SHARED_USER = _shared_user("gpt_id")
PROJECT_SHARED_USER = _shared_user("project_id")

MEMORY = _object(
    th.Property("id", th.StringType, required=True, description="The user id (Memory.id)."),
    th.Property("memory_contexts", th.ArrayType(_ANY_OBJECT)),
    th.Property("entry_count", th.IntegerType, description="Entries in all contexts."),
)
MEMORY_ENTRY = _object(
    th.Property("id", th.StringType, required=True, description="Memory entry id."),
    th.Property("user_id", th.StringType, required=True),
    th.Property("memory_context_id", th.StringType),
    th.Property("content", _ANY),
    time_fields=("updated_at",),
)
CANVAS = _object(
    th.Property("id", th.StringType, required=True, description="Canvas (textdoc) id."),
    th.Property("user_id", th.StringType, required=True),
)
CANVAS_VERSION = _object(
    th.Property("textdoc_id", th.StringType, required=True),
    th.Property("version", th.IntegerType, required=True, description="1 first."),
    th.Property("user_id", th.StringType, required=True),
    th.Property("textdoc_type", th.StringType, description="Of the canvas (from its content)."),
    th.Property("name", th.StringType),
    th.Property("content", _ANY),
    th.Property("comments", th.ArrayType(_ANY)),
    time_fields=("updated_at",),
)
AUTOMATION = _object(
    th.Property("id", th.StringType, required=True),
    th.Property("user_id", th.StringType, required=True),
    time_fields=("created_at", "updated_at"),
)
RECORDING = _object(
    th.Property("id", th.StringType, required=True),
    th.Property("user_id", th.StringType, required=True),
    time_fields=("created_at",),
)
RECORDING_TRANSCRIPT = _object(
    th.Property("recording_id", th.StringType, required=True),
    th.Property("user_id", th.StringType, required=True),
)
CODEX_TASK = _object(
    th.Property("id", th.StringType, required=True),
    th.Property("title", th.StringType),
    th.Property("created_by_id", th.StringType),
    time_fields=("created_at", "updated_at"),
)
CODEX_TASK_DETAIL = _object(
    th.Property("id", th.StringType, required=True),
    th.Property(
        "task_id",
        th.StringType,
        description="The task asked for (codex_tasks/{task_id}); the id of an answer that is "
        "not an object.",
    ),
    time_fields=("created_at", "updated_at"),
)
LIBRARY_FILE = _object(
    th.Property("id", th.StringType, required=True),
    th.Property("user_id", th.StringType, required=True),
    th.Property("name", th.StringType),
    th.Property("mime_type", th.StringType),
    th.Property("state", th.StringType),
    th.Property("is_project", th.BooleanType),
    time_fields=("created_at", "trashed_at"),
)
