"""The tenants and loaders of the Meltano project, read from ``meltano.yml`` (listed once)."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, replace
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
    #: Why the tenant cannot be archived as ``meltano.yml`` declares it (one line naming it and
    #: the fix): its step fails with it, without running Meltano; the other tenants run.
    problem: str | None = None
    #: The tenants it inherits from (``inherit_from: tap-chatgpt-compliance--<other>``), nearest
    #: first: Meltano reads their variables too.
    parents: tuple[str, ...] = ()
    #: The workspace its runs archive, as Meltano resolves it: the variables
    #: (``TAP_CHATGPT_COMPLIANCE__<TENANT>_WORKSPACE_ID``) before ``meltano.yml``, at each level
    #: of the inheritance. None when neither names one.
    effective_workspace_id: str | None = None
    #: ``annotations: {chatgpt_compliance_fleet: {shares_workspace: true}}``: the user says this
    #: tenant archives a workspace another tenant archives too, on purpose.
    shares_workspace: bool = False

    @property
    def env_prefix(self) -> str:
        """Meltano's environment prefix of the extractor (``TAP_CHATGPT_COMPLIANCE__ACME``)."""
        return env_prefix(self.extractor)

    @property
    def secret_env(self) -> str:
        """Environment variable holding the tenant's API key (Meltano's naming)."""
        return self.env_prefix + "_API_KEY"


def env_prefix(plugin: str) -> str:
    """Meltano's environment prefix of a plugin name (``TAP_CHATGPT_COMPLIANCE__ACME``)."""
    return re.sub(r"[^A-Z0-9]", "_", plugin.upper())


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


def _chain(plugin: dict[str, Any], by_name: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the plugin and its ancestors in ``meltano.yml``, nearest first, up to the base.

    Empty when the chain does not reach :data:`BASE_EXTRACTOR` (a misspelt ``inherit_from``, a
    cycle, another plugin).
    """
    chain, seen = [plugin], {str(plugin.get("name"))}
    while True:
        parent = str(chain[-1].get("inherit_from") or "")
        if parent == BASE_EXTRACTOR:
            return chain
        if not parent.startswith(TENANT_PREFIX) or parent in seen or parent not in by_name:
            return []
        seen.add(parent)
        chain.append(by_name[parent])


def _inherited(chain: list[dict[str, Any]], base: Mapping[str, Any], key: str) -> Any:
    """Return a tenant's ``config`` value ``key`` as Meltano resolves it from ``meltano.yml``."""
    for plugin in [*chain, base]:
        value = (plugin.get("config") or {}).get(key)
        if value is not None:
            return value
    return None


#: The fleet's key under a plugin's ``annotations`` in ``meltano.yml`` (Meltano ignores them).
ANNOTATION = "chatgpt_compliance_fleet"


def _workspace(
    chain: list[dict[str, Any]], base: Mapping[str, Any], environ: Mapping[str, str]
) -> str | None:
    """Return the tenant's ``workspace_id`` as Meltano resolves it.

    At each level of the inheritance, nearest first, the plugin's variable before its
    ``meltano.yml`` config; then the base's.
    """
    for plugin in [*chain, {**base, "name": BASE_EXTRACTOR}]:
        value = environ.get(env_prefix(str(plugin.get("name"))) + "_WORKSPACE_ID") or (
            plugin.get("config") or {}
        ).get("workspace_id")
        if value is not None and str(value).strip():
            return str(value).strip().lower()
    return None


def _shares_workspace(plugin: dict[str, Any]) -> bool:
    """Whether the tenant's ``annotations`` say it archives a shared workspace on purpose."""
    fleet = (plugin.get("annotations") or {}).get(ANNOTATION) or {}
    return isinstance(fleet, dict) and fleet.get("shares_workspace") is True


def _tenant(
    plugin: dict[str, Any],
    by_name: Mapping[str, dict[str, Any]],
    count: int,
    environ: Mapping[str, str],
) -> Tenant:
    """One ``tap-chatgpt-compliance--<tenant>`` extractor, and what keeps it from running."""
    name = str(plugin.get("name"))
    tenant = name[len(TENANT_PREFIX) :]
    base = by_name.get(BASE_EXTRACTOR, {})
    chain = _chain(plugin, by_name)
    problem = None
    if not chain:
        problem = (
            f"{name} does not inherit from {BASE_EXTRACTOR} (inherit_from: "
            f"{plugin.get('inherit_from')!r}): it is not archived. Set inherit_from: "
            f"{BASE_EXTRACTOR} (or another tenant)"
        )
    elif count > 1:
        problem = (
            f"{name} is declared {count} times in meltano.yml (Meltano uses the first): keep one"
        )
    elif not tenant.strip(" -_"):
        problem = f"{name!r} names no tenant after '--': name it {TENANT_PREFIX}<tenant>"
    # Meltano's load_schema: the variable, else the nearest declared, else the base's namespace.
    load_schema = environ.get(env_prefix(name) + "__LOAD_SCHEMA") or next(
        (str(p["load_schema"]) for p in [*chain, base] if p.get("load_schema")),
        str(base.get("namespace") or tenant),
    )
    return Tenant(
        name=tenant,
        extractor=name,
        load_schema=load_schema,
        workspace_id=_inherited(chain, base, "workspace_id"),
        api_key_secret_id=_inherited(chain, base, "api_key_secret_id"),
        problem=problem,
        parents=tuple(str(p["name"])[len(TENANT_PREFIX) :] for p in chain[1:]),
        effective_workspace_id=_workspace(chain, base, environ) if chain else None,
        shares_workspace=_shares_workspace(plugin),
    )


def _others(tenant: Tenant, group: list[Tenant]) -> str:
    return ", ".join(t.extractor for t in group if t is not tenant)


def _apart(tenants: list[Tenant]) -> list[Tenant]:
    """Give a problem to tenants the fleet cannot tell apart; one per Dagster name.

    Names that differ only in case or punctuation (``a-1``, ``a_1``) share Meltano's variables
    (``TAP_CHATGPT_COMPLIANCE__A_1_API_KEY``) and, but for case, the Dagster asset key; two
    tenants with one ``load_schema`` write into one S3 prefix and PostgreSQL schema; two
    tenants with one workspace (a copy-paste) leave the workspace meant for one of them
    unarchived, unless every one of them says it shares it on purpose (:data:`ANNOTATION`).
    """
    by_prefix: dict[str, list[Tenant]] = {}
    by_schema: dict[str, list[Tenant]] = {}
    by_workspace: dict[str, list[Tenant]] = {}
    for t in tenants:
        by_prefix.setdefault(t.env_prefix, []).append(t)
        if not t.problem:
            by_schema.setdefault(t.load_schema, []).append(t)
            if t.effective_workspace_id:
                by_workspace.setdefault(t.effective_workspace_id, []).append(t)
    out: dict[str, Tenant] = {}
    for t in tenants:
        problem = t.problem
        same_name, same_schema = by_prefix[t.env_prefix], by_schema.get(t.load_schema, [])
        if not problem and len(same_name) > 1:
            problem = (
                f"{t.extractor} and {_others(t, same_name)} are one tenant to Meltano (variables "
                f"{t.env_prefix}_*) and Dagster: rename one (names must differ in more than "
                "case and punctuation)"
            )
        elif not problem and len(same_schema) > 1:
            problem = (
                f"{t.extractor} writes to load_schema {t.load_schema!r} like "
                f"{_others(t, same_schema)}: their records would mix in one S3 prefix and "
                "PostgreSQL schema. Give each tenant its own load_schema"
            )
        elif not problem and _copied_workspace(t, by_workspace):
            problem = (
                f"{t.extractor} archives workspace_id {t.effective_workspace_id} like "
                f"{_others(t, by_workspace[str(t.effective_workspace_id)])}: a copy-paste leaves "
                "the workspace meant for one of them unarchived. Set each tenant's own "
                f"workspace_id (or, to archive one workspace twice on purpose, annotate each: "
                f"annotations: {{{ANNOTATION}: {{shares_workspace: true}}}})"
            )
        key = identifier(t.name)
        if key in out:  # the same asset key: one asset, its step fails with the first problem
            continue
        out[key] = replace(t, problem=problem) if problem != t.problem else t
    return list(out.values())


def _copied_workspace(tenant: Tenant, by_workspace: Mapping[str, list[Tenant]]) -> bool:
    """Whether another tenant archives ``tenant``'s workspace and not all say it is on purpose."""
    group = by_workspace.get(str(tenant.effective_workspace_id), [])
    return len(group) > 1 and not all(t.shares_workspace for t in group)


@dataclass(frozen=True)
class Retired:
    """Tenants and destinations the fleet stopped archiving on purpose (Dagster names).

    ``annotations: {chatgpt_compliance_fleet: {retired_tenants: [globex], retired_destinations:
    [target-postgres]}}`` of the base extractor: the alert sensor stays quiet about their
    assets, which it otherwise reports as gone (``sensors.py``).
    """

    tenants: frozenset[str] = frozenset()
    destinations: frozenset[str] = frozenset()

    def covers(self, tenant: str, destination: str) -> bool:
        """Whether asset ``chatgpt_compliance/<tenant>/<destination>`` was retired on purpose."""
        return tenant in self.tenants or destination in self.destinations


def _names(value: Any) -> frozenset[str]:
    """Dagster names of an annotation's list (a single name too; anything else names none)."""
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(
        identifier(v.removeprefix(TENANT_PREFIX).strip()) for v in values if isinstance(v, str)
    )


def load_retired(root: Path | None = None) -> Retired:
    """Return the tenants and destinations the base extractor's annotations retire.

    A value that is no name nor list of names retires nothing: the alerts it would silence fire.
    """
    data = _load(root or project_root())
    plugins = (data.get("plugins") or {}).get("extractors") or []
    base = next((p for p in plugins if isinstance(p, dict) and p.get("name") == BASE_EXTRACTOR), {})
    annotations = base.get("annotations")
    fleet = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(fleet, dict):
        return Retired()
    return Retired(_names(fleet.get("retired_tenants")), _names(fleet.get("retired_destinations")))


def load_tenants(
    root: Path | None = None, *, required: bool = False, environ: Mapping[str, str] | None = None
) -> list[Tenant]:
    """Every ``tap-chatgpt-compliance--<tenant>`` extractor of the project, sorted by name.

    A tenant inherits from the base tap or from another tenant. One that cannot be archived as
    declared (a misspelt ``inherit_from``, declared twice, a name, ``load_schema`` or
    workspace shared with another) is listed with its :attr:`Tenant.problem`: its step fails
    saying so, the others run. ``required``: none is an error (:class:`ProjectError`) naming
    the project file, so a code location pointed at the wrong project fails loudly instead of
    validating empty.
    """
    root = root or project_root()
    environ = os.environ if environ is None else environ
    data = _load(root)
    plugins = [
        p for p in (data.get("plugins") or {}).get("extractors") or [] if isinstance(p, dict)
    ]
    counts = Counter(str(p.get("name", "")) for p in plugins)
    by_name: dict[str, dict[str, Any]] = {}
    for plugin in plugins:
        by_name.setdefault(str(plugin.get("name", "")), plugin)  # Meltano uses the first
    tenants = [
        _tenant(plugin, by_name, counts[name], environ)
        for name, plugin in by_name.items()
        if name.startswith(TENANT_PREFIX)
    ]
    if required and not tenants:
        msg = (
            f"No tenant in {root / 'meltano.yml'}: add extractors named {TENANT_PREFIX}<tenant> "
            f"with inherit_from: {BASE_EXTRACTOR} (docs/fleet.md), or point "
            "MELTANO_PROJECT_ROOT at the project that has them"
        )
        raise ProjectError(msg)
    return _apart(sorted(tenants, key=lambda t: t.name))


def tenant_environment(
    environ: Mapping[str, str], tenant: Tenant, tenants: Iterable[Tenant]
) -> dict[str, str]:
    """``environ`` without the other tenants' variables: what one tenant's Meltano sees.

    A fleet's environment holds every tenant's ``TAP_CHATGPT_COMPLIANCE__<TENANT>_*`` (API key,
    workspace, extras). One tenant's ``meltano`` commands get only their own: a tenant's run
    cannot read another's key, and Meltano, which copies its whole environment thousands of
    times while resolving settings, does not pay for every tenant of the fleet on each run. A
    variable belongs to the tenant with the longest matching prefix (``ACME_EU`` is not
    ``ACME``'s); one that matches no tenant is kept (the base extractor's, say), and so are
    those of the tenants it inherits from (Meltano reads them for an inherited plugin).
    """
    own = {tenant.env_prefix + "_"} | {env_prefix(TENANT_PREFIX + p) + "_" for p in tenant.parents}
    prefixes = sorted({t.env_prefix + "_" for t in tenants} | own, key=len, reverse=True)
    kept = {}
    for name, value in environ.items():
        if name.startswith(TENANT_ENV_PREFIX):
            owner = next((p for p in prefixes if name.startswith(p)), tenant.env_prefix + "_")
            if owner not in own:
                continue
        kept[name] = value
    return kept


def identifier(name: str) -> str:
    """Return a Dagster-safe identifier (letters, digits, underscores) for a name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
