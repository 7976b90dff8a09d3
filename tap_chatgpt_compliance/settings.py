"""Settings of the tap: their schema, defaults and the checks run before any request."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timedelta, timezone

from singer_sdk import typing as th

DEFAULT_API_URL = "https://api.chatgpt.com/v1"
RETENTION = timedelta(days=30)
"""How long OpenAI keeps Compliance Logs Platform files."""
MIB = 1024 * 1024
DEFAULT_MAX_INLINE_FILE_BYTES = 8 * MIB
"""Base64 grows bytes by 4/3: an 8 MiB part is an 11 MiB line, far below Meltano's 50 MiB."""
MAX_INLINE_FILE_BYTES_LIMIT = 32 * MIB
WORKSPACE_EVENT_TYPES = (
    "CONVERSATION_MESSAGE",
    "AUDIT_LOG",
    "AUTH_LOG",
    "APP_LOG",
    "APP_AUTH_LOG",
    "CODEX_LOG",
    "CODEX_SECURITY_LOG",
    "CODEX_TURN",
    "CUSTOM_AGENTS_LOG",
    "CHATGPT_PLUGIN_SPREADSHEET",
)
ORGANIZATION_EVENT_TYPES = ("COSTS",)
FILE_CONTENT_MODES = ("inline", "storage", "none")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ORG = re.compile(r"^org-[A-Za-z0-9_-]+$")
_EVENT_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType(min_length=1),
        required=True,
        secret=True,
        title="Compliance API key",
        description=(
            "Compliance API key of the workspace (Admin Console → Credentials → Admin keys, "
            "with the Compliance Logs Platform read scope and the compliance export read scope). "
            "Never logged."
        ),
    ),
    th.Property(
        "workspace_id",
        th.StringType,
        required=True,
        title="Workspace ID",
        description=(
            "UUID of the ChatGPT Enterprise/Edu workspace (chatgpt.com/admin → Workspace details)."
        ),
        examples=["f7f33107-5fb9-4ee1-8922-3eae76b5b5a0"],
    ),
    th.Property(
        "organization_id",
        th.StringType,
        title="Organization ID",
        description=(
            "OpenAI organization id (`org-…`). Only needed for "
            "org-scoped event types such as COSTS."
        ),
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description=(
            "Earliest log file end time to read on the first run. Default: the start of the "
            "API's 30-day retention window."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="API base URL",
        description=(
            "Base URL of the Compliance API. Change it only to point at a simulator or proxy."
        ),
    ),
    th.Property(
        "event_types",
        th.ArrayType(th.StringType),
        default=["CONVERSATION_MESSAGE"],
        title="Event types",
        description=(
            "Compliance Logs Platform event types to archive. CONVERSATION_MESSAGE feeds the "
            "conversations, messages and files streams; every other type (AUDIT_LOG, AUTH_LOG, "
            "APP_LOG, CODEX_LOG, …, or org-scoped COSTS) goes to the events stream."
        ),
    ),
    th.Property(
        "file_content",
        th.StringType,
        default="inline",
        allowed_values=list(FILE_CONTENT_MODES),
        title="Attachment content",
        description=(
            "Where attachment bytes go: `inline` (base64 in the files record; attachments larger "
            "than max_inline_file_bytes are split into file_parts records, so any target keeps "
            "every byte), `storage` (written to file_storage_url, content-addressed by SHA-256, "
            "before the record is emitted) or `none` (metadata only)."
        ),
    ),
    th.Property(
        "file_storage_url",
        th.StringType,
        title="Attachment storage URL",
        description=(
            "fsspec URL for file_content=storage: a local folder, `s3://bucket/prefix`, "
            "`gs://…`, … Objects are written to `<url>/sha256/<aa>/<sha256>`."
        ),
    ),
    th.Property(
        "file_storage_options",
        th.ObjectType(additional_properties=True),
        title="Attachment storage options",
        description=(
            "Options passed to the fsspec filesystem, e.g. "
            '`{"endpoint_url": "https://s3.example.com"}` for an S3-compatible store.'
        ),
    ),
    th.Property(
        "max_inline_file_bytes",
        th.IntegerType(minimum=1024, maximum=MAX_INLINE_FILE_BYTES_LIMIT),
        default=DEFAULT_MAX_INLINE_FILE_BYTES,
        title="Largest inline record",
        description=(
            "With file_content=inline, the most bytes carried by one record: larger attachments "
            "go to file_parts records of this size."
        ),
    ),
    th.Property(
        "max_file_bytes",
        th.IntegerType(minimum=0),
        default=0,
        title="Largest attachment to archive",
        description=(
            "Attachments larger than this are hashed but not archived (status `too_large`). "
            "0 means no limit."
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType(minimum=1),
        default=120,
        title="Request timeout",
        description="Seconds to wait for the API before retrying a request.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=50),
        default=8,
        title="Retries",
        description=(
            "Retries of a failed request (429, 5xx, connection errors) before the run fails."
        ),
    ),
    th.Property(
        "max_retry_wait",
        th.NumberType(minimum=0),
        default=300,
        title="Longest retry wait",
        description="Upper bound in seconds on one wait between retries, Retry-After included.",
    ),
).to_dict()


def config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Return one readable line per invalid setting, each naming the setting and the fix."""
    errors: list[str] = []
    workspace_id = config.get("workspace_id")
    if isinstance(workspace_id, str) and not _UUID.match(workspace_id.strip()):
        errors.append(
            f"workspace_id {workspace_id!r} is not a UUID: copy the Workspace ID from "
            "chatgpt.com/admin → Workspace details (it looks like "
            "f7f33107-5fb9-4ee1-8922-3eae76b5b5a0)."
        )
    org = config.get("organization_id")
    if org and not _ORG.match(str(org)):
        errors.append(
            f"organization_id {org!r} is not an OpenAI organization id: it starts with 'org-' "
            "(platform.openai.com → Settings → Organization); leave it unset unless you archive "
            "org-scoped event types such as COSTS."
        )
    if "api_key" in config and not str(config.get("api_key") or "").strip():
        errors.append("api_key is empty: set it to the workspace's Compliance API key.")
    errors.extend(_event_type_errors(config))
    errors.extend(_file_errors(config))
    api_url = str(config.get("api_url") or DEFAULT_API_URL)
    if not api_url.startswith(("https://", "http://")):
        errors.append(f"api_url {api_url!r} is not an http(s) URL: use {DEFAULT_API_URL}.")
    elif "api.openai.com" in api_url:
        errors.append(
            f"api_url {api_url!r} points at the OpenAI platform API, which answers 404 for "
            f"compliance routes: use {DEFAULT_API_URL}."
        )
    return errors


def _event_type_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    event_types = config.get("event_types") or ["CONVERSATION_MESSAGE"]
    errors = [
        f"event_types entry {event_type!r} is not an event type name: use upper-case names "
        "such as CONVERSATION_MESSAGE, AUDIT_LOG or AUTH_LOG."
        for event_type in event_types
        if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type)
    ]
    org_types = [e for e in event_types if e in ORGANIZATION_EVENT_TYPES]
    if org_types and not config.get("organization_id"):
        errors.append(
            f"event_types {org_types} are organization-scoped: set organization_id "
            "(org-…) or remove them from event_types."
        )
    return errors


def _file_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    if config.get("file_content") == "storage" and not config.get("file_storage_url"):
        return [
            "file_content is 'storage' but file_storage_url is not set: set it to a folder or "
            "an fsspec URL such as s3://bucket/chatgpt-files, or use file_content=inline."
        ]
    return []


def parse_start_date(value: str | None, now: datetime) -> datetime:
    """Return the configured start date, or the start of the retention window."""
    if not value:
        return now - RETENTION
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def event_scope(event_type: str) -> str:
    """Return ``organization`` for org-scoped event types, else ``workspace``."""
    return "organization" if event_type in ORGANIZATION_EVENT_TYPES else "workspace"
