"""Settings of the tap: their schema, defaults and the checks run before any request."""

from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import math
import os
import re
import sys
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from singer_sdk import typing as th

from tap_chatgpt_compliance.storage_faults import storage_cause, storage_fix
from tap_chatgpt_compliance.storage_uris import refused_uri

LOGGER = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.chatgpt.com/v1"
DEFAULT_REQUESTS_PER_MINUTE = 100
"""The documented limit of the Compliance Logs Platform and file routes, per route and minute."""
INTERVAL_SECONDS = 15.0
INTERVAL_VARIABLE = "TAP_CHATGPT_COMPLIANCE_PROGRESS_SECONDS"
"""Environment variable that changes the interval of progress and heartbeat lines (seconds;
0 turns them off)."""
RETENTION = timedelta(days=30)
"""How long OpenAI keeps Compliance Logs Platform files."""
MIB = 1024 * 1024
DEFAULT_MAX_INLINE_FILE_BYTES = 8 * MIB
"""Base64 grows bytes by 4/3: an 8 MiB part is an 11 MiB line, far below Meltano's 50 MiB."""
MAX_INLINE_FILE_BYTES_LIMIT = 32 * MIB
DEFAULT_MAX_RECORD_BYTES = 50 * MIB
"""Meltano's default line limit: half of its default ``elt.buffer_size`` (100 MiB)."""
RECORD_OVERHEAD = 64 * 1024
"""Room for the fields beside an inline attachment part in one Singer line."""
DAY_SECONDS = 86_400
"""Largest request_timeout, max_retry_wait and max_clock_skew_seconds: beyond, a deadline,
a wait or a clock overflows mid-run (OverflowError) instead of being refused up front."""
MAX_SEAL_RETENTION_DAYS = 36_500
"""A hundred years (S3 Object Lock's longest default retention); far beyond, the retain-until
date overflows when the run seals."""
STORAGE_PROBE = ".tap-chatgpt-compliance-write-probe"
#: The event-type vocabulary, defined once in ``event_types.json`` (the simulator reads it too).
_EVENT_TYPES = json.loads(
    resources.files("tap_chatgpt_compliance").joinpath("event_types.json").read_text()
)
WORKSPACE_EVENT_TYPES: tuple[str, ...] = tuple(_EVENT_TYPES["workspace"])
ORGANIZATION_EVENT_TYPES: tuple[str, ...] = tuple(_EVENT_TYPES["organization"])
FILE_CONTENT_MODES = ("inline", "storage", "none")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ORG = re.compile(r"^org-[A-Za-z0-9_-]+$")
_EVENT_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_KEY = re.compile(r"^[\x21-\x7e]+$")
"""An API key: printable ASCII without spaces (it travels in the Authorization header)."""

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
        "unavailable_log_file_ids",
        th.ArrayType(th.StringType),
        default=[],
        title="Unavailable log files",
        description=(
            "Ids of log files (eclf_…) the API refuses for good (its download answers 400, 403, "
            "404 or 410, or never matches its file_sha256) that the operator acknowledges as "
            "unavailable. Each run still tries such a file once; if it is still refused, the "
            "tap writes a log_files record with download_status unavailable (the listing item "
            "and the refusal) and archives the files after it, and verify names the file as a "
            "gap. Without this setting the run stops at the file (exit 1) and archives nothing "
            "of its event type after it. Never set by the tap itself."
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
            "before the record is emitted) or `none` (metadata only). The raw bytes of every "
            "log file follow it too (log_file_parts records, or the store, addressed by "
            "OpenAI's file_sha256), so `chatgpt-compliance verify` can prove them."
        ),
    ),
    th.Property(
        "file_storage_url",
        th.StringType,
        title="Attachment storage URL",
        description=(
            "fsspec URL for file_content=storage: a local folder, `s3://bucket/prefix`, "
            "`gs://…`, … Objects are written to `<url>/sha256/<aa>/<sha256>`. Credentials go in "
            "file_storage_options or the environment, never in the URL."
        ),
    ),
    th.Property(
        "file_storage_options",
        th.ObjectType(additional_properties=True),
        secret=True,
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
        "max_record_bytes",
        th.IntegerType(minimum=MIB),
        default=DEFAULT_MAX_RECORD_BYTES,
        title="Largest output line",
        description=(
            "Largest Singer line the tap writes, in bytes. The default is Meltano's default line "
            "limit (50 MiB, half of `elt.buffer_size`). A record above it fails the run with a "
            "message naming it, before its log file's bookmark moves (nothing is skipped): "
            "raise this and Meltano's `elt.buffer_size` (`MELTANO_ELT_BUFFER_SIZE`, at least "
            "twice this value) together."
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
        th.NumberType(minimum=1, maximum=DAY_SECONDS),
        default=120,
        title="Request timeout",
        description="Seconds to wait for the API before retrying a request (at most a day).",
    ),
    th.Property(
        "min_download_bytes_per_second",
        th.IntegerType(minimum=1),
        default=65536,
        title="Slowest download",
        description=(
            "Every request and download has a total deadline of request_timeout plus its size "
            "divided by this rate (64 KiB/s by default: a 100 MB attachment gets about 27 "
            "minutes). A body still arriving at its deadline is a stall: the try fails, naming "
            "the host, the file and the bytes received, and is retried like a timeout."
        ),
    ),
    th.Property(
        "max_clock_skew_seconds",
        th.IntegerType(minimum=1, maximum=DAY_SECONDS),
        default=300,
        title="Largest clock difference",
        description=(
            "The API's Date header is the run's clock (retention, start_date, the attachment "
            "retry window, future end_times). A Date more than this many seconds ahead of this "
            "machine's clock stops the run (exit 1) before anything moves; a log file whose "
            "end_time is more than this ahead of the API's Date is archived but never becomes "
            "the bookmark. At most a day."
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=50),
        default=8,
        title="Retries",
        description=(
            "Retries of a failed request (429, 5xx, timeouts, connection errors) before the run "
            "fails. A host that cannot be connected to at all (name not found, connection "
            "refused) is retried for 30 s only, and not by --test."
        ),
    ),
    th.Property(
        "max_retry_wait",
        th.NumberType(minimum=0, maximum=DAY_SECONDS),
        default=300,
        title="Longest retry wait",
        description=(
            "Upper bound in seconds on one wait between retries, Retry-After included (at most "
            "a day)."
        ),
    ),
    th.Property(
        "max_requests_per_minute",
        th.NumberType(minimum=1),
        default=DEFAULT_REQUESTS_PER_MINUTE,
        title="Requests per minute per route",
        description=(
            "Rate limit of the workspace, per API route (the documented 100 requests per minute "
            "per route). The tap paces each route itself, with a burst of at most one minute of "
            "requests, instead of learning the limit from 429 answers; the Gen-1 lists (users, "
            "GPTs, projects) are paced at half this rate, as documented. Log files and "
            "attachments are separate routes, read in parallel. Lower it if the workspace has a "
            "lower limit or shares its key with another client; a 429 also slows the route "
            "down for the rest of the run."
        ),
    ),
    th.Property(
        "seal_storage_url",
        th.StringType,
        title="Seal storage URL",
        description=(
            "fsspec URL where each run writes its seal (the chain heads it wrote, chained to the "
            "previous seal) under `<url>/<workspace_id>/`: on S3 with Object Lock in COMPLIANCE "
            "mode (the bucket must have Object Lock enabled), or a local folder. Default: "
            "`<file_storage_url>/seals` when file_storage_url is set, else no seals; `none` "
            "turns them off. `chatgpt-compliance verify --seals URL` checks them."
        ),
    ),
    th.Property(
        "seal_storage_options",
        th.ObjectType(additional_properties=True),
        secret=True,
        title="Seal storage options",
        description="fsspec options of the seal store (default: file_storage_options).",
    ),
    th.Property(
        "seal_retention_days",
        th.IntegerType(minimum=1, maximum=MAX_SEAL_RETENTION_DAYS),
        default=2555,
        title="Seal retention (days)",
        description=(
            "Object Lock COMPLIANCE retention of each seal on S3, in days (default 2555: seven "
            "years, SEC rule 17a-4; at most 36500, a hundred years). Nobody, the bucket owner "
            "included, can delete a seal before."
        ),
    ),
    th.Property(
        "directory_refresh_hours",
        th.NumberType(minimum=0),
        default=24,
        title="Workspace objects refresh (hours)",
        description=(
            "How often the workspace-object streams (GPT and project configuration history "
            "and shares, memories, canvases and their versions, automations, recordings, "
            "Codex tasks, library files) are refreshed, in hours: in the runs between they "
            "send no request. 0 refreshes them on every run. They are not selected by "
            "default: select them in the catalog (Meltano `select`)."
        ),
    ),
).to_dict()

_DEFAULTS: dict[str, t.Any] = {
    name: prop.get("default") for name, prop in CONFIG_SCHEMA["properties"].items()
}


def setting(config: t.Mapping[str, t.Any], name: str) -> t.Any:
    """Return a setting of a raw config, or the schema's default when it is unset.

    Unset is absent, null, or empty (``""``, ``[]``): the one place defaults are applied, for
    :meth:`Settings.from_config` and the checks run before it.
    """
    value = config.get(name)
    if value is None or (isinstance(value, (str, list)) and not value):
        return _DEFAULTS.get(name)
    return value


@dataclass(frozen=True)
class Settings:
    """The tap's settings, read once, with the schema's defaults (never repeated elsewhere).

    Values were validated by the schema and :func:`config_errors` before the first request.
    """

    api_key: str
    workspace_id: str
    organization_id: str | None
    start_date: str | None
    api_url: str
    event_types: tuple[str, ...]
    file_content: str
    file_storage_url: str | None
    file_storage_options: dict[str, t.Any]
    max_inline_file_bytes: int
    max_record_bytes: int
    max_file_bytes: int
    request_timeout: float
    max_retries: int
    max_retry_wait: float
    max_requests_per_minute: float
    min_download_bytes_per_second: int = 65536
    max_clock_skew_seconds: int = 300
    seal_storage_url: str | None = None
    seal_storage_options: dict[str, t.Any] | None = None
    seal_retention_days: int = 2555
    unavailable_log_file_ids: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Read a config (missing or null settings take the schema's default)."""

        def get(name: str) -> t.Any:
            return setting(config, name)

        return cls(
            api_key=str(get("api_key") or "").strip(),  # a key file's line break is no part
            workspace_id=str(get("workspace_id") or "").strip(),
            organization_id=get("organization_id"),
            start_date=get("start_date"),
            api_url=str(get("api_url")).rstrip("/"),
            event_types=tuple(dict.fromkeys(get("event_types"))),
            file_content=str(get("file_content")),
            file_storage_url=get("file_storage_url"),
            file_storage_options=dict(get("file_storage_options") or {}),
            max_inline_file_bytes=int(get("max_inline_file_bytes")),
            max_record_bytes=int(get("max_record_bytes")),
            max_file_bytes=int(get("max_file_bytes")),
            request_timeout=float(get("request_timeout")),
            max_retries=int(get("max_retries")),
            max_retry_wait=float(get("max_retry_wait")),
            max_requests_per_minute=float(get("max_requests_per_minute")),
            min_download_bytes_per_second=int(get("min_download_bytes_per_second")),
            max_clock_skew_seconds=int(get("max_clock_skew_seconds")),
            seal_storage_url=get("seal_storage_url"),
            seal_storage_options=get("seal_storage_options"),
            seal_retention_days=int(get("seal_retention_days")),
            unavailable_log_file_ids=frozenset(
                str(file_id).strip() for file_id in get("unavailable_log_file_ids") or ()
            ),
        )


_REQUIRED = re.compile(r"^'([A-Za-z0-9_]+)' is a required property$")
_NOT_A_LIST = re.compile(r"^(.*) is not of type 'array'(?:, 'null')? in config\['(\w+)'\]$")
_REFUSED = re.compile(r"^(?P<head>.*) in config\['(?P<name>\w+)'\](?:\[[^\]]*\])*$", re.S)
"""The SDK's shape of a schema error: ``<value> <why> in config['<setting>'][…]``."""
_DECIMAL = re.compile(r"^Decimal\('([^']*)'\)$")
_WHY = re.compile(
    r"^(?P<value>.*) (?P<why>is not of type '[^']*'(?:, '[^']*')*|is not one of \[.*\]"
    r"|is (?:less|greater) than (?:or equal to )?the (?:exclusive )?(?:minimum|maximum) of \S+"
    r"|should be non-empty|is too short|is too long)$",
    re.S,
)
"""jsonschema's reasons, after the value they quote (anything else is never quoted)."""


def explain_schema_errors(errors: list[str], schema: t.Mapping[str, t.Any]) -> list[str]:
    """Return the schema's errors as lines that name the setting first, then the fix.

    The SDK's ``'workspace_id' is a required property`` names the setting, what it is and how
    to set it; ``'AUDIT_LOG' is not of type 'array'`` (one event type written bare) shows the
    JSON list to write; any other refusal (``'eight' is not of type 'integer', 'null' in
    config['max_retries']``) says what the setting takes. One line per setting.
    """
    properties = schema.get("properties") or {}
    out: list[str] = []
    for error in errors:
        text = str(error).strip()
        missing = _REQUIRED.match(text)
        not_a_list = _NOT_A_LIST.match(text)
        refused = _REFUSED.match(text)
        if missing and missing.group(1) in properties:
            name = missing.group(1)
            what = str(properties[name].get("description") or "").rstrip(".")
            error = (
                f"{name} is not set: {what + '. ' if what else ''}Set it with `meltano config "
                f"set tap-chatgpt-compliance {name} <value>` or "
                f"TAP_CHATGPT_COMPLIANCE_{name.upper()}."
            )
        elif not_a_list and not_a_list.group(2) in properties:
            value, name = not_a_list.groups()
            example = json.dumps(properties[name].get("default") or ["…"])
            error = (
                f"{name} {value} is not a list: write it as a JSON list, e.g. {example!r} "
                f"(`meltano config set tap-chatgpt-compliance {name} '{example}'`)."
            )
        elif refused and refused.group("name") in properties:
            name = refused.group("name")
            why = _WHY.match(refused.group("head"))
            value, reason = why.group("value", "why") if why else ("", "")
            error = _refusal(name, value, reason, properties[name])
        if error not in out and not any(line.startswith(f"{_name(error)} ") for line in out):
            out.append(error)
    return out


def _name(line: str) -> str:
    """Return the first word of an error line (the setting it names, for the tap's lines)."""
    return line.split(" ", 1)[0]


def _refusal(name: str, value: str, why: str, prop: t.Mapping[str, t.Any]) -> str:
    """Return one line: the setting, its value (never a secret's), and what to set it to."""
    secret = bool(prop.get("secret") or prop.get("writeOnly")) or not value
    value = _DECIMAL.sub(r"\1", value)  # the SDK reads numbers as Decimal: shown bare
    if why in ("should be non-empty", "is too short"):
        problem = f"{name} is empty"
    else:
        problem = f"{name} {'' if secret else value + ' '}is not valid ({_why(why)})"
    default = prop.get("default")
    tail = f", or remove it to use the default ({json.dumps(default)})" if default else ""
    return f"{problem}: set it to {_expected(name, prop)}{tail}."


def _why(why: str) -> str:
    """Return the schema's reason without the value it quotes (a secret's is never shown)."""
    if why.startswith("is not of type"):
        return "wrong type"
    if why.startswith("is not one of"):
        return "not one of the choices"
    if why.startswith("is less than"):
        return "too small"
    if why.startswith("is greater than"):
        return "too large"
    return "refused by its schema"  # never quoted: it may hold the value


def _expected(name: str, prop: t.Mapping[str, t.Any]) -> str:
    """Return what a setting takes, in words: ``a whole number from 0 to 50``."""
    kinds = prop.get("type") or ()
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    if prop.get("enum"):
        return "one of " + ", ".join(str(choice) for choice in prop["enum"])
    if kinds & {"integer", "number"}:
        low, high = prop.get("minimum"), prop.get("maximum")
        what = "a whole number" if "integer" in kinds else "a number"
        if low is not None and high is not None:
            return f"{what} from {low} to {high}"
        if low is not None:
            return f"{what} of at least {low}"
        return what if high is None else f"{what} of at most {high}"
    if "object" in kinds:
        if name.endswith("storage_options"):
            return 'a JSON object, such as {"endpoint_url": "https://s3.example.com"}'
        return "a JSON object"
    if "array" in kinds:
        example = json.dumps(prop.get("default") or ["…"])
        return f"a JSON list of texts, such as {example}"
    if "boolean" in kinds:
        return "true or false"
    title = str(prop.get("title") or "").strip()
    return f"the {title}" if title else "a text"


SECRET_BUILTINS = frozenset({"stream_map_config"})
"""SDK settings that may carry secrets (e.g. a hash seed for map expressions)."""


def hide_secret_values(
    errors: list[str], config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]
) -> list[str]:
    """Return ``errors`` with the values of secret settings replaced by ``<hidden>``.

    A schema error quotes the value it refuses (``'…' is not of type 'object'``); for a secret
    setting (``secret``/``writeOnly`` in ``schema``, or :data:`SECRET_BUILTINS`) that value is
    the secret, so only the setting's name may be shown.
    """
    secret_names = SECRET_BUILTINS | {
        name
        for name, prop in (schema.get("properties") or {}).items()
        if prop.get("secret") or prop.get("writeOnly")
    }
    shown = set()
    for name in secret_names:
        value = config.get(name)
        if value is None:
            continue
        shown |= {repr(value), json.dumps(value, default=str)}
        if isinstance(value, str | int | float):
            shown.add(str(value))
    shown.discard("")
    patterns = [_secret_pattern(text) for text in sorted(shown, key=len, reverse=True)]
    hidden = []
    for error in errors:
        for pattern in patterns:
            error = pattern.sub("<hidden>", error)
        hidden.append(error)
    return hidden


WHOLE_TOKENS_BELOW = 8
"""A secret value shorter than this is hidden where it stands alone only (``'x'``), never
inside a word: a one-character key hid every such character of every line (``ma<hidden>_…``)."""


def _secret_pattern(text: str) -> re.Pattern[str]:
    """Return what hides ``text`` in a line: anywhere, or as a whole token if it is short."""
    if len(text) >= WHOLE_TOKENS_BELOW:
        return re.compile(re.escape(text))
    return re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])")


def values_from_strings(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Return the tap's own settings given as text as the types their schema asks for.

    ``"30"``, ``"0.5"`` and ``'["AUDIT_LOG"]'`` become numbers and lists (the tap has no
    boolean setting of its own).

    The Hub definition gives every one of the tap's settings Meltano's ``string`` kind: Meltano
    converts ``integer``, ``options``, ``array`` and ``object`` values itself and fails with its
    own traceback (not naming the setting) on a bad one, and its ``decimal`` kind cannot be
    written into the tap's config at all. So Meltano hands environment and ``meltano config set``
    values over as text, converted here. Text that does not convert is left as it is, for the
    schema to reject with the setting's name in one line.
    """
    out: dict[str, t.Any] = {}
    for name, prop in CONFIG_SCHEMA["properties"].items():
        value = config.get(name)
        if not isinstance(value, str):
            continue
        kinds = prop.get("type") or ()
        kinds = set((kinds,) if isinstance(kinds, str) else kinds)
        converted = _from_text(value.strip(), kinds)
        if converted is not None:
            out[name] = converted
    return out


def _from_text(text: str, kinds: set[str]) -> t.Any:
    """Return ``text`` as the first schema type it converts to, or None."""
    if kinds & {"number", "integer"}:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and ("number" in kinds or number.is_integer()):
            return int(number) if "number" not in kinds else number
    if kinds & {"array", "object"} and text[:1] in ("[", "{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        if ("array" in kinds and isinstance(parsed, list)) or (
            "object" in kinds and isinstance(parsed, dict)
        ):
            return parsed
    return None


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
    if org and str(org).strip() and not _ORG.match(str(org)):
        errors.append(
            f"organization_id {org!r} is not an OpenAI organization id: it starts with 'org-' "
            "(platform.openai.com → Settings → Organization); leave it unset unless you archive "
            "org-scoped event types such as COSTS."
        )
    key = str(config.get("api_key") or "").strip()
    if "api_key" in config and not key:
        errors.append("api_key is empty: set it to the workspace's Compliance API key.")
    elif key and not _KEY.match(key):  # the value itself is never shown
        errors.append(
            "api_key holds a space, a line break or a character that is not printable ASCII "
            "inside it: copy the key again from the OpenAI Admin Console and set api_key."
        )
    errors.extend(_event_type_errors(config))
    errors.extend(_blank_errors(config))
    errors.extend(_file_errors(config))
    errors.extend(_credential_url_errors(config))
    errors.extend(_start_date_errors(config))
    errors.extend(_api_url_errors(config))
    errors.extend(_bare_scheme_errors(config))
    errors.extend(_plain_http_store_errors(config))
    return errors


_BARE_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*$")
"""A URL that is a scheme only (``s3://``): stripped of its slashes it is ``s3:``, which fsspec
opens as a local folder of that name in the working directory."""


def _bare_scheme_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Name file_storage_url or seal_storage_url when it is a scheme without bucket or folder."""
    errors = []
    for name in ("file_storage_url", "seal_storage_url"):
        url = config.get(name)
        if isinstance(url, str) and _BARE_SCHEME.match(url.strip()):
            errors.append(
                f"{name} {url.strip()!r} names no bucket or folder (it would be a local folder "
                f"named {url.strip().rstrip('/')!r}): set it to s3://bucket/prefix or a folder "
                "path."
            )
    return errors


def _plain_http_store_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Name a store reached by plain http on another machine (the archive would cross unencrypted).

    ``file_storage_url``/``seal_storage_url`` as ``http://…`` and an ``endpoint_url`` in
    ``file_storage_options``/``seal_storage_options`` (or their ``client_kwargs``): the same rule
    as ``api_url`` and ``aws_endpoint_url``, refused before any request or name lookup.
    """
    found: list[tuple[str, object]] = []
    for name in ("file_storage_url", "seal_storage_url"):
        found.append((name, config.get(name)))
    for name in ("file_storage_options", "seal_storage_options"):
        options = config.get(name)
        if isinstance(options, dict):
            kwargs = options.get("client_kwargs")
            found.append((f"{name} endpoint_url", options.get("endpoint_url")))
            if isinstance(kwargs, dict):
                found.append((f"{name} client_kwargs.endpoint_url", kwargs.get("endpoint_url")))
    errors = []
    for name, value in found:
        if not isinstance(value, str):
            continue
        parts = urlparse(value.strip())
        host = parts.netloc.rpartition("@")[2]  # never a user:password@
        if parts.scheme.lower() == "http" and not is_loopback(parts.hostname or ""):
            errors.append(
                f"{name} 'http://{host}' is plain http to another machine: the archived "
                "communications would cross the network unencrypted. Use https:// (or s3://); "
                "plain http is accepted only for this machine (127.0.0.0/8, ::1, localhost)."
            )
    return errors


def config_file_problem(path: str) -> str | None:
    """Return why a ``--config`` file cannot give settings, or None when it can.

    A missing file, a folder, broken JSON or JSON that is no object: the line names the file
    and the fix, never the file's content (it holds the key).
    """
    if path == "ENV":  # --config=ENV: the TAP_CHATGPT_COMPLIANCE_* variables
        return None
    fix = (
        "give the path of a JSON file holding the settings as one object, or --config=ENV to "
        "read them from TAP_CHATGPT_COMPLIANCE_* variables"
    )
    problem, _ = read_json_object_file("--config", path, fix)
    return problem


def read_json_object_file(option: str, path: str, fix: str) -> tuple[str | None, str]:
    """Return ``(problem, text)`` of a file given on the command line that holds a JSON object.

    ``problem`` is None when it does; else one line naming ``option``, the path and ``fix``
    (a missing file, a folder, bytes that are not UTF-8, broken JSON, JSON that is no object),
    never the file's content (it may hold a key). ``-`` is standard input, as click reads it.
    """
    if path != "-" and Path(path).is_dir():
        return f"{option} {path} is a folder, not a file: {fix}.", ""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with Path(path).open(encoding="utf-8") as file:
                text = file.read()
        value = json.loads(text)
    except FileNotFoundError:
        return f"{option} {path}: no such file: {fix}.", ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return f"{option} {path} cannot be read ({reason}): {fix}.", ""
    except ValueError as exc:  # the position only: the text may hold the key
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "its text"
        return f"{option} {path} is not JSON (broken at {where}): {fix}.", ""
    if not isinstance(value, dict):
        return f"{option} {path} holds a JSON {type(value).__name__}, not an object: {fix}.", ""
    return None, text


def unknown_setting_errors(config: t.Mapping[str, t.Any], known: t.Iterable[str]) -> list[str]:
    """Return one line per setting the tap does not know (a misspelt name would be ignored).

    ``event_type`` for ``event_types`` would archive the default type only, and every run
    would exit 0. Only the name is shown, never the value (it may be a misspelt secret).
    """
    names = sorted(set(known))
    errors = []
    for name in sorted(set(config) - set(names)):
        close = difflib.get_close_matches(name, names, n=1)
        meant = f" (did you mean {close[0]}?)" if close else ""
        errors.append(
            f"Unknown setting {name!r}{meant}: the tap would ignore it. Fix its name or remove "
            "it; `tap-chatgpt-compliance --about` lists every setting."
        )
    return errors


def _start_date_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    value = config.get("start_date")
    if value is None:
        return []
    parsed = _parse_date(value)
    if parsed is None:
        return [
            f"start_date {value!r} is not a date: use ISO 8601, such as 2026-01-31 or "
            "2026-01-31T00:00:00Z, or leave it unset to start at the API's 30-day retention."
        ]
    if parsed > datetime.now(timezone.utc):  # every run would succeed having archived nothing
        return [
            f"start_date {value!r} is in the future: no log file ends after it yet, so every "
            "run would archive nothing. Set a date in the past, or leave it unset to start at "
            "the API's 30-day retention."
        ]
    return []


def _parse_date(value: t.Any) -> datetime | None:
    """Parse an ISO 8601 date or date-time; naive values are UTC. None when not a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _api_url_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    if "api_url" not in config:
        return []
    raw = config.get("api_url")
    api_url = str(raw or "").strip()
    if not api_url:
        return [f"api_url is empty: remove the setting to use {DEFAULT_API_URL}."]
    parts = urlparse(api_url)
    if "@" in parts.netloc:  # its password is named by _credential_url_errors, never shown
        api_url = api_url.replace(parts.netloc, "…@" + parts.netloc.rpartition("@")[2], 1)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return [f"api_url {api_url!r} is not an http(s) URL: use {DEFAULT_API_URL}."]
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        return [f"api_url {api_url!r} has an invalid port: use {DEFAULT_API_URL}."]
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        return [
            f"api_url {api_url!r} has an invalid host name (a label empty or longer than 63 "
            f"characters): use {DEFAULT_API_URL}."
        ]
    if parts.query or parts.fragment or api_url.endswith(("?", "#")):
        return [
            f"api_url {api_url.split('?')[0].split('#')[0] + '…'!r} has a query or fragment "
            f"(?… or #…, not shown: it may hold a credential), which would cut every route: "
            f"remove it, such as {DEFAULT_API_URL}."
        ]
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return [
            f"api_url {api_url!r} is plain http to another machine: the API key would cross "
            f"the network unencrypted. Use https:// (such as {DEFAULT_API_URL}); plain http is "
            "accepted only for this machine (127.0.0.0/8, ::1, localhost)."
        ]
    if "api.openai.com" in parts.hostname:
        return [
            f"api_url {api_url!r} points at the OpenAI platform API, which answers 404 for "
            f"compliance routes: use {DEFAULT_API_URL}."
        ]
    return []


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def storage_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Probe file_storage_url (file_content=storage): write, then delete, a small marker.

    Run before the first request, so that a store the tap cannot write fails the run at once
    rather than after the first attachment. A marker that cannot be deleted only warns: the
    tap itself never deletes (WORM buckets may refuse it).
    """
    url = str(config.get("file_storage_url") or "").rstrip("/")
    if config.get("file_content") != "storage" or not url:
        return []
    import fsspec  # only needed with file_content=storage

    try:
        fs, root = fsspec.core.url_to_fs(url, **dict(config.get("file_storage_options") or {}))
        root = root.rstrip("/")
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        if {"file", "local"} & set(protocols):
            fs.makedirs(root, exist_ok=True)  # a local folder is created, as the tap would
        marker = f"{root}/{STORAGE_PROBE}"
        fs.pipe_file(marker, b"tap-chatgpt-compliance write check\n")
    except Exception as exc:  # any failure of any fsspec backend
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        if isinstance(exc, ImportError):
            hint = "Install the filesystem's package (tap-chatgpt-compliance[s3] for s3://)."
        elif storage_cause(exc) in ("throttled", "full", "unreachable"):
            hint = storage_fix(exc, "file_storage_url")
        else:
            hint = "Check the URL, file_storage_options, credentials and permissions."
        return [f"file_storage_url {url!r} cannot be written ({reason}). {hint}"]
    _warn_if_unreadable_by_verify(url)
    try:
        fs.rm_file(marker)
    except Exception as exc:  # a WORM store may refuse deletes
        LOGGER.warning(
            "file_storage_url is writable, but the probe marker %s/%s could not be deleted "
            "(%s); it is harmless.",
            url,
            STORAGE_PROBE,
            type(exc).__name__,
        )
    return []


def _warn_if_unreadable_by_verify(url: str) -> None:
    """Warn when verify and export will not open the objects of ``file_storage_url``.

    They open local paths and object stores only (storage_uris.refused_uri): objects at
    ``memory://``, ``sftp://`` or a chained ``a::b`` URL are written, but an archive naming
    them cannot be verified (each is a finding).
    """
    why = refused_uri(f"{url}/sha256/00/{'0' * 64}")
    if why is not None:
        LOGGER.warning(
            "file_storage_url %r: chatgpt-compliance verify and export will not open its "
            "objects (%s): the archive cannot be verified; use a local folder or an object "
            "store.",
            url,
            why,
        )


def interval_seconds() -> float:
    """Return the interval of progress and heartbeat lines (``INTERVAL_VARIABLE``, else 15 s)."""
    value = os.environ.get(INTERVAL_VARIABLE)
    if not value:
        return INTERVAL_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        return INTERVAL_SECONDS


def _event_type_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    if config.get("event_types") == []:  # a list emptied by mistake, never "the default"
        return [
            "event_types is an empty list: the run would archive no log file. List the event "
            'types to archive (such as ["CONVERSATION_MESSAGE", "AUDIT_LOG"]), or remove the '
            "setting to archive the default (CONVERSATION_MESSAGE)."
        ]
    event_types = setting(config, "event_types")
    errors = [
        f"event_types entry {event_type!r} is not an event type name: use upper-case names "
        "such as CONVERSATION_MESSAGE, AUDIT_LOG or AUTH_LOG."
        for event_type in event_types
        if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type)
    ]
    org_types = [e for e in event_types if isinstance(e, str) and event_scope(e) == "organization"]
    if org_types and not config.get("organization_id"):
        errors.append(
            f"event_types {org_types} are organization-scoped: set organization_id "
            "(org-…) or remove them from event_types."
        )
    return errors


_CREDENTIALS_GO = {
    "file_storage_url": "file_storage_options or the environment (AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, a role, a profile)",
    "seal_storage_url": "seal_storage_options or the environment (AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, a role, a profile)",
    "api_url": "api_key (a proxy's own credentials go in HTTPS_PROXY)",
}
"""Where the credentials go instead of a URL setting's ``user:password@``."""


def _credential_url_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Refuse a URL setting holding a password: it would be in storage_uri fields and logs.

    The password is never shown (nor the user name, often a key id).
    """
    errors = []
    for name, where in _CREDENTIALS_GO.items():
        try:
            parts = urlparse(str(config.get(name) or ""))
            password = parts.password
        except ValueError:  # a URL that does not parse: its own check names it
            continue
        if password is None:
            continue
        errors.append(
            f"{name} holds credentials (user:password@ in the URL of "
            f"{parts.scheme}://…@{parts.hostname}): they would be written into the log (and "
            f"the archive's storage_uri fields). Remove them from the URL and put them in {where}."
        )
    return errors


_BLANK_FIX = {
    "organization_id": (
        "the OpenAI organization id (org-…), or remove the setting (only org-scoped event types "
        "such as COSTS need it)"
    ),
    "aws_region": (
        "the secret's region (such as eu-west-1), or remove the setting to use the region of "
        "the secret's ARN, AWS_REGION or the AWS profile's"
    ),
    "aws_endpoint_url": (
        "the Secrets Manager endpoint (https://…), or remove the setting to use AWS's own"
    ),
    "file_storage_url": (
        "a folder or an fsspec URL such as s3://bucket/chatgpt-files, or remove the setting "
        "(and use file_content=inline)"
    ),
    "seal_storage_url": (
        "a folder or an fsspec URL such as s3://bucket/seals, 'none' to write no seals, or "
        "remove the setting for the default (<file_storage_url>/seals)"
    ),
}
"""Text settings whose blank value would be taken for "not set", and what to set them to."""


def _blank_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Refuse a text setting present but blank (an unexpanded ``$VARIABLE``): it is no value."""
    return [
        f"{name} is empty: set it to {fix}."
        for name, fix in _BLANK_FIX.items()
        if isinstance(config.get(name), str) and not config[name].strip()
    ]


def _file_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    if config.get("file_content") == "storage" and config.get("file_storage_url") is None:
        return [
            "file_content is 'storage' but file_storage_url is not set: set it to a folder or "
            "an fsspec URL such as s3://bucket/chatgpt-files, or use file_content=inline."
        ]
    if setting(config, "file_content") == "inline":
        inline = int(setting(config, "max_inline_file_bytes"))
        largest = int(setting(config, "max_record_bytes"))
        line = base64_size(inline) + RECORD_OVERHEAD
        if line > largest:
            fits = (largest - RECORD_OVERHEAD) // 4 * 3
            return [
                f"max_inline_file_bytes {inline} makes file_parts lines of about {line} bytes, "
                f"above max_record_bytes {largest}: set max_inline_file_bytes to at most "
                f"{fits}, or raise max_record_bytes."
            ]
    return []


def base64_size(size: int) -> int:
    """Return the length of the base64 text of ``size`` bytes."""
    return (size + 2) // 3 * 4


def parse_start_date(value: str | None, now: datetime) -> datetime:
    """Return the configured start date, or the start of the retention window."""
    if not value:
        return now - RETENTION
    parsed = _parse_date(value)
    if parsed is None:  # config_errors rejects it before any request
        msg = f"start_date {value!r} is not a date"
        raise ValueError(msg)
    return parsed


def event_scope(event_type: str) -> str:
    """Return ``organization`` for org-scoped event types, else ``workspace``.

    Org-scoped: the reference's (COSTS), and a type whose name has the word ``ORGANIZATION``
    (Fivetran's ``APP_ORGANIZATION_LOG``, ``APP_AUTH_ORGANIZATION_LOG``: reference §1B, LOW),
    which the workspace path would refuse.
    """
    org = event_type in ORGANIZATION_EVENT_TYPES or "ORGANIZATION" in event_type.split("_")
    return "organization" if org else "workspace"
