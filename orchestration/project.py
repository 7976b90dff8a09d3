"""The tenants and loaders of the Meltano project, read from ``meltano.yml`` (listed once)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: The base extractor; each tenant is an inherited plugin ``tap-chatgpt-compliance--<tenant>``.
BASE_EXTRACTOR = "tap-chatgpt-compliance"
TENANT_PREFIX = f"{BASE_EXTRACTOR}--"
#: What every tenant's environment variables start with (Meltano's naming of ``TENANT_PREFIX``).
TENANT_ENV_PREFIX = "TAP_CHATGPT_COMPLIANCE__"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tenant:
    """One tenant: its inherited extractor and the ``load_schema`` its loaders write to."""

    name: str
    extractor: str
    load_schema: str
    workspace_id: str | None
    #: AWS Secrets Manager secret of the tenant's key (``api_key_secret_id``), if it has one.
    api_key_secret_id: str | None = None

    @property
    def env_prefix(self) -> str:
        """Meltano's environment prefix of the extractor (``TAP_CHATGPT_COMPLIANCE__ACME``)."""
        return re.sub(r"[^A-Z0-9]", "_", self.extractor.upper())

    @property
    def secret_env(self) -> str:
        """Environment variable holding the tenant's API key (Meltano's naming)."""
        return self.env_prefix + "_API_KEY"


class ProjectError(ValueError):
    """The Meltano project cannot be found, or has no tenant: one line saying what to set."""


def project_root() -> Path:
    """Root of the Meltano project the fleet archives.

    ``MELTANO_PROJECT_ROOT`` (the one setting of the code location, docs/fleet.md), else the
    current folder when it holds a ``meltano.yml``, else this repository (a clone).
    """
    named = os.environ.get("MELTANO_PROJECT_ROOT", "").strip()
    if named:
        root = Path(named).expanduser()
        if not (root / "meltano.yml").is_file():
            msg = f"MELTANO_PROJECT_ROOT={named!r} has no meltano.yml: point it at your project"
            raise ProjectError(msg)
        return root
    for root in (Path.cwd(), REPO_ROOT):
        if (root / "meltano.yml").is_file():
            return root
    msg = "No Meltano project found: set MELTANO_PROJECT_ROOT to the folder of your meltano.yml"
    raise ProjectError(msg)


def _load(root: Path) -> dict[str, Any]:
    with (root / "meltano.yml").open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{root / 'meltano.yml'} is not a Meltano project file")
    return data


def load_tenants(root: Path | None = None, *, required: bool = False) -> list[Tenant]:
    """Every ``tap-chatgpt-compliance--<tenant>`` extractor inheriting from the base tap.

    ``required``: none is an error (:class:`ProjectError`) naming the project file, so a code
    location pointed at the wrong project fails loudly instead of validating empty.
    """
    root = root or project_root()
    data = _load(root)
    tenants = []
    for plugin in (data.get("plugins") or {}).get("extractors") or []:
        name = str(plugin.get("name", ""))
        if not name.startswith(TENANT_PREFIX) or plugin.get("inherit_from") != BASE_EXTRACTOR:
            continue
        tenant = name[len(TENANT_PREFIX) :]
        config = plugin.get("config") or {}
        tenants.append(
            Tenant(
                name=tenant,
                extractor=name,
                load_schema=str(plugin.get("load_schema") or tenant),
                workspace_id=config.get("workspace_id"),
                api_key_secret_id=config.get("api_key_secret_id"),
            )
        )
    if required and not tenants:
        msg = (
            f"No tenant in {root / 'meltano.yml'}: add extractors named {TENANT_PREFIX}<tenant> "
            f"with inherit_from: {BASE_EXTRACTOR} (docs/fleet.md), or point "
            "MELTANO_PROJECT_ROOT at the project that has them"
        )
        raise ProjectError(msg)
    return sorted(tenants, key=lambda t: t.name)


def tenant_environment(
    environ: Mapping[str, str], tenant: Tenant, tenants: Iterable[Tenant]
) -> dict[str, str]:
    """``environ`` without the other tenants' variables: what one tenant's Meltano sees.

    A fleet's environment holds every tenant's ``TAP_CHATGPT_COMPLIANCE__<TENANT>_*`` (API key,
    workspace, extras). One tenant's ``meltano`` commands get only their own: a tenant's run
    cannot read another's key, and Meltano, which copies its whole environment thousands of
    times while resolving settings, does not pay for every tenant of the fleet on each run. A
    variable belongs to the tenant with the longest matching prefix (``ACME_EU`` is not
    ``ACME``'s); one that matches no tenant is kept (the base extractor's, say).
    """
    own = tenant.env_prefix + "_"
    prefixes = sorted({t.env_prefix + "_" for t in tenants} | {own}, key=len, reverse=True)
    kept = {}
    for name, value in environ.items():
        if name.startswith(TENANT_ENV_PREFIX):
            owner = next((p for p in prefixes if name.startswith(p)), own)
            if owner != own:
                continue
        kept[name] = value
    return kept


def identifier(name: str) -> str:
    """Return a Dagster-safe identifier (letters, digits, underscores) for a name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
