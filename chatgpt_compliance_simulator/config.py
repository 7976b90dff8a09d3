"""Configuration dataclasses of the simulator: scale, quirks and faults."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from importlib import resources
from typing import Any

from .knobs import Inventory

# The event-type vocabulary is the tap's reference data (tap_chatgpt_compliance/event_types.json),
# read here without importing the tap: one list for both.
_EVENT_TYPES = json.loads(
    resources.files("tap_chatgpt_compliance").joinpath("event_types.json").read_text()
)
#: Log event types that live under ``/v1/compliance/workspaces/{workspace_id}/logs``.
WORKSPACE_EVENT_TYPES: tuple[str, ...] = tuple(_EVENT_TYPES["workspace"])
#: Log event types that live under ``/v1/compliance/organizations/{organization_id}/logs``.
ORG_EVENT_TYPES: tuple[str, ...] = tuple(_EVENT_TYPES["organization"])


def organization_named(event_type: str) -> bool:
    """Whether an extra type's name says it is organization-scoped (``…_ORGANIZATION_…``).

    Reference §1B: Fivetran's tables ``APP_ORGANIZATION_LOG`` and ``APP_AUTH_ORGANIZATION_LOG``
    (LOW: "may not equal the API values"); such a name in ``Oddities.extra_event_types`` lives
    under the organization path, like COSTS.
    """
    return "ORGANIZATION" in event_type.split("_")


#: Event types for which the simulator generates data (the others are accepted, always empty).
GENERATED_WORKSPACE_TYPES: tuple[str, ...] = (
    "CONVERSATION_MESSAGE",
    "AUDIT_LOG",
    "AUTH_LOG",
    "APP_LOG",
    "APP_AUTH_LOG",
    "CODEX_LOG",
    "CODEX_TURN",
)

SCOPE_LOGS_ALL = "chatgpt.enterprise.compliance_logs_platform.read"
SCOPE_EXPORT_READ = "chatgpt.enterprise.compliance_export.read"
#: Per-type read scopes of the Compliance Logs Platform (reference §3.6).
SCOPE_BY_TYPE: dict[str, str] = {
    "CONVERSATION_MESSAGE": "chatgpt.enterprise.compliance_logs_platform.conversation_message.read",
    "AUDIT_LOG": "chatgpt.enterprise.compliance_logs_platform.audit_log.read",
    "AUTH_LOG": "chatgpt.enterprise.compliance_logs_platform.auth_log.read",
    "COSTS": "chatgpt.enterprise.compliance_logs_platform.costs.read",
}
#: The scopes a key gets when ``issue_key(scopes=None)``.
ALL_READ_SCOPES: frozenset[str] = frozenset({SCOPE_LOGS_ALL, SCOPE_EXPORT_READ})


@dataclass
class Quirks:
    """Observed deviations of the real API (reference §3.2, §3.3, §5); on by default."""

    boundary_rereturn: bool = True
    """The file whose ``end_time`` equals ``after`` is returned again (ELASTIC, XSIAM)."""
    empty_pages: bool = True
    """Some listings answer ``{"data":[],"has_more":true,"last_end_time":null}`` once."""
    empty_page_rate: float = 0.1
    duplicate_events: bool = True
    """At-least-once delivery: some events appear again in a later file."""
    duplicate_rate: float = 0.03
    late_events: bool = True
    """Some events land in a later file than the window of their timestamp."""
    late_rate: float = 0.03
    bad_created_at: bool = True
    """``message.created_at`` missing or malformed on some events."""
    bad_created_at_rate: float = 0.03
    untitled_first: bool = True
    """Conversation title ``""`` on the first events of some conversations, set later."""
    tool_content: bool = True
    """Tool messages carry ``content: null`` or a JSON object/list as ``content.value``."""
    no_trailing_newline: bool = True
    """Some JSONL files lack the final newline."""
    no_trailing_newline_rate: float = 0.3
    expired_attachments: bool = True
    """Chat uploads expire 24 h after upload (410). Off: nothing ever expires."""
    short_pages: bool = True
    """Gen-1 lists sometimes return fewer than ``limit`` items with ``has_more: true``."""
    short_page_rate: float = 0.3
    empty_previous_message_id: bool = True
    """``previous_message_id`` is sometimes ``""`` on a first message instead of omitted."""
    string_ip_details: bool = True
    """``client_ip_details.asn/latitude/longitude`` are strings, sometimes ``""`` (published
    samples); off: numbers."""
    short_auth_action_data: bool = True
    """AUTH_LOG ``action_data`` is just ``{action, role}`` (published samples); off: also
    ``auth_provider_name, client_id, application_name, granted_scopes``."""
    whole_second_timestamps: bool = True
    """Some event ``timestamp`` values carry no fractional seconds (``…T10:53:18Z``)."""
    whole_second_rate: float = 0.2
    sparse_conversation_fields: bool = True
    """``conversation`` omits ``gpt_id/gpt_name/project_id/project_name`` when it has none;
    off: they are present as ``null``."""
    offset_file_names: bool = True
    """Some log ``file_name`` values are ``TYPE_<ts>+00:00.jsonl`` instead of
    ``TYPE_<ts>.jsonl``."""
    offset_file_name_rate: float = 0.5

    @classmethod
    def none(cls) -> Quirks:
        """Return a Quirks with every quirk switched off (no observed deviation).

        Not quite the API as documented: ``expired_attachments`` off also stops the
        documented ~24 h expiry of chat uploads (410, reference §3.3), so nothing expires.
        """
        q = cls()
        for f in fields(q):
            if f.type in ("bool", bool):
                setattr(q, f.name, False)
        return q

    @classmethod
    def names(cls) -> list[str]:
        """Names of the boolean quirk switches."""
        return [f.name for f in fields(cls) if f.type in ("bool", bool)]


@dataclass
class Faults:
    """Injected failures, all off by default and deterministic from the seed."""

    latency_ms: float = 0.0
    """Added latency per request (both hosts)."""
    error_rate: float = 0.0
    """Probability that a request starts a burst of 5xx answers on its route."""
    error_burst: int = 3
    """Length of a 5xx burst (requests to the same route template)."""
    reset_rate: float = 0.0
    """Probability that the connection is reset instead of answered."""
    truncate_rate: float = 0.0
    """Probability that a body is cut in half (Content-Length stays the full size)."""
    bad_sha_file_ids: set[str] = field(default_factory=set)
    """Log file ids whose listing reports a wrong ``file_sha256``, forever."""
    expired_signed_url_rate: float = 0.0
    """Probability that a freshly minted signed URL is already expired."""
    date_offset_seconds: float = 0.0
    """Seconds added to the ``Date`` header of every answer (both hosts): a server clock that
    is wrong, e.g. ``2_400_000_000 - time.time()`` for a Date in 2046. Settable at runtime."""
    bad_shape: str = ""
    """With ``bad_shape_rate``: how a listing page (``/logs`` and the Gen-1 lists) is broken, one
    of :data:`BAD_SHAPES` (``empty_object`` → ``{}``, ``null_data`` → ``"data": null``,
    ``no_data``, ``no_has_more``, ``no_last_id``, ``no_last_end_time``, ``data_not_list``)."""
    bad_shape_rate: float = 0.0
    """Probability that a listing page is served with ``bad_shape``."""
    trickle_rate: float = 0.0
    """Probability that a body (both hosts) is sent ``trickle_bytes`` every
    ``trickle_interval_ms`` instead of at once (a stalled download)."""
    trickle_bytes: int = 1
    trickle_interval_ms: float = 2000.0


BAD_SHAPES: tuple[str, ...] = (
    "empty_object",
    "null_data",
    "no_data",
    "data_not_list",
    "no_has_more",
    "no_last_id",
    "no_last_end_time",
)
"""Broken listing shapes the simulator can serve (``Faults.bad_shape``, ``inject(shape=…)``)."""


@dataclass
class Oddities:
    """Odd but plausible API shapes (issue #7), all off by default, deterministic from the seed.

    Ground truth (``Simulator.ground_truth()``) accounts for each of them; see
    docs/simulator.md.
    """

    listing_without_end_time: bool = False
    """Items of ``/logs`` listings omit ``end_time`` (the page keeps ``last_end_time``)."""
    listing_without_event_type: bool = False
    """Items of ``/logs`` listings omit ``event_type``."""
    future_end_time: bool = False
    """The newest CONVERSATION_MESSAGE file of the initial history is listed with ``end_time``
    ``2099-01-01T00:00:00Z`` (sorted last, so it is listed again after any ``after`` before
    2099); its content is normal and it downloads normally."""
    missing_event_id_rate: float = 0.0
    """Fraction of events (any type) without an event id: half without the key, half ``""``."""
    empty_message_id_rate: float = 0.0
    """Fraction of CONVERSATION_MESSAGE events whose ``message.id`` is ``""``."""
    foreign_events_rate: float = 0.0
    """Per CONVERSATION_MESSAGE event, probability of an extra AUDIT_LOG-shaped event
    (``type: "AUDIT_LOG"``) in the same CONVERSATION_MESSAGE file."""
    invalid_utf8_lines: int = 0
    """Lines (CONVERSATION_MESSAGE files of the initial history) that look like a JSON event
    but hold bytes that are not valid UTF-8 in a string value."""
    non_object_lines: int = 0
    """Lines (CONVERSATION_MESSAGE files of the initial history) that are not JSON objects:
    ``not json at all <n>``, ``[1, 2]``, ``"a string"`` in turn."""
    event_id_clash_rate: float = 0.0
    """Fraction of AUDIT_LOG/AUTH_LOG events that reuse the ``event_id`` of a
    CONVERSATION_MESSAGE event (different type and content)."""
    extra_event_types: tuple[str, ...] = ()
    """Additional event types, accepted by the listing and generated (a few events a day
    each), e.g. ``("CHATGPT_PLUGIN_DOCUMENT", "CHATGPT_PLUGIN_PRESENTATION")``. A name with the
    word ``ORGANIZATION`` (Fivetran's ``APP_ORGANIZATION_LOG``, reference §1B, LOW) is
    organization-scoped: listed under ``/organizations/{org}/logs`` only, like COSTS."""
    project_config_as_array: bool = False
    """Projects (list and get) carry ``latest_config`` as a JSON array of configurations."""
    stuck_listing: bool = False
    """The first page of a listing (per workspace and event types) is served with
    ``has_more: true``; every later call answers ``{"data": [], "has_more": true,
    "last_end_time": <after as given>}`` forever."""
    out_of_order_listing: bool = False
    """Listing pages return their items in descending ``end_time`` order (``last_end_time``
    stays the page's maximum)."""
    huge_message_bytes: int = 0
    """When > 0, the first user message of the initial history has a ``content.value`` of
    exactly this many bytes (ASCII)."""
    nul_in_message_text: bool = False
    """The first user message of the initial history has a NUL (``\\u0000`` in the JSON line)
    in the middle of its ``content.value``."""
    lone_surrogate_text: bool = False
    """The first user message of the initial history (the second one when
    ``nul_in_message_text`` takes the first) ends its ``content.value`` with a lone surrogate,
    ``\\ud83d`` in the JSON line (half an emoji: a client that cut a string between the two
    halves of a pair); so does its conversation's title from that message on, and the first
    member's ``name`` on ``/users``."""

    file_refs_in_content_rate: float = 0.0
    """Fraction of messages with uploads that reference them only from their content (PSOXY,
    reference §2.9, §6 #13): ``content.annotations[]`` items ``{"type": "file", "files":
    [{"id"}]}`` or, for one file, ``content.file_id``; ``message.files`` is then ``[]``."""
    actorless_upload_rate: float = 0.0
    """Fraction of CONVERSATION_MESSAGE events with uploads whose ``actor.user_id`` is ``null``
    (reference §2.9: ``actor`` fields vary by type; the upload route #9 needs the owner's user
    id). The other events of the conversation still name its user. Decided by a hash of the
    message id (nothing else moves)."""
    actorless_conversation_rate: float = 0.0
    """Fraction of conversations whose every event has ``actor.user_id`` ``null`` (no event
    names the owner of their uploads). Decided by a hash of the conversation id."""
    author_role_rate: float = 0.0
    """Fraction of CONVERSATION_MESSAGE events whose ``message.author`` carries ``role`` instead
    of ``type`` (the older encoding, reference §2.9 "sometimes author.role", §5 #7)."""

    listing_new_fields: bool = False
    """Items of ``/logs`` listings carry fields the reference does not list (as OpenAI may add
    at any time): ``line_count`` (lines in the file) and ``retention`` (``{"expires_at": end_time
    + 30 days}``, §3.2 "files expire 30 days after creation"). A tap must keep them."""

    multi_document_listing_rate: float = 0.0
    """Fraction of ``/logs`` listing queries answered once with a body of two JSON documents
    (the page, a newline, the page again: reference §5 #12, XSIAM's "newline-separated
    multi-document" listing responses); the identical next call gets one document."""

    @classmethod
    def names(cls) -> list[str]:
        """Names of all oddity fields."""
        return [f.name for f in fields(cls)]


@dataclass
class SimulatorConfig:
    """Everything that shapes a simulated deployment. Deterministic from ``seed``."""

    seed: int = 7
    tenants: int = 1
    users: int = 5
    conversations: int = 20
    messages_per_conversation: tuple[int, int] = (2, 8)
    attachment_rate: float = 0.2
    attachment_size: tuple[int, int] = (200, 200_000)
    span_days: float = 3.0
    speed: float = 1.0
    signed_url_ttl: float = 60.0
    """Real seconds a signed URL works."""
    signed_url_sim_ttl: float = 3600.0
    """Simulated seconds a signed URL works, whatever real time passed (reference §2.3 "The URL
    expires after 1 hour"; §6 #9: the worst of 1 h / 3 h). 0 or less: no simulated bound."""
    log_window_minutes: int = 10
    max_log_file_bytes: int = 15 * 1024 * 1024
    quirks: Quirks = field(default_factory=Quirks)
    faults: Faults = field(default_factory=Faults)
    oddities: Oddities = field(default_factory=Oddities)
    inventory: Inventory = field(default_factory=Inventory)
    """Canvases, memories, automations, recordings, Codex tasks, library files (issue 21)."""
    rate_limits: bool = True
    start: datetime | None = None
    """Initial simulated time (tz-aware). Default: the wall clock, truncated to the second."""
    gpts: int | None = None
    """GPTs per workspace (default: ``max(2, users // 2)``)."""
    projects: int | None = None
    """Projects per workspace (default: ``max(2, users // 2)``)."""
    retention_days: float = 30.0
    attachment_retention_hours: float = 24.0
    auto_advance: bool = False
    """Follow real time x speed with new activity (serve mode, demos)."""
    host: str = "127.0.0.1"
    port: int = 0
    signed_port: int = 0

    def with_overrides(self, **overrides: Any) -> SimulatorConfig:
        """Return a copy with the given fields replaced (unknown names raise TypeError)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown SimulatorConfig field(s): {sorted(unknown)}")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(overrides)
        return SimulatorConfig(**values)
