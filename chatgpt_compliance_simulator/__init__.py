"""A local simulator of OpenAI's ChatGPT Enterprise Compliance API (for tests and demos)."""

from .config import (
    ALL_READ_SCOPES,
    ORG_EVENT_TYPES,
    SCOPE_BY_TYPE,
    SCOPE_EXPORT_READ,
    SCOPE_LOGS_ALL,
    WORKSPACE_EVENT_TYPES,
    Faults,
    Oddities,
    Quirks,
    SimulatorConfig,
)
from .knobs import Inventory
from .server import SIGNED_ROUTE, Simulator, Tenant

__all__ = [
    "ALL_READ_SCOPES",
    "ORG_EVENT_TYPES",
    "SCOPE_BY_TYPE",
    "SCOPE_EXPORT_READ",
    "SCOPE_LOGS_ALL",
    "SIGNED_ROUTE",
    "WORKSPACE_EVENT_TYPES",
    "Faults",
    "Inventory",
    "Oddities",
    "Quirks",
    "Simulator",
    "SimulatorConfig",
    "Tenant",
]
