"""The project's ``meltano.yml`` and the Hub definition install every extra their documented
uses need: a setting whose description names an extra (``api_key_secret_id``: `[aws]`), the
plugin commands' ``--postgres`` and ``--s3``, an ``s3://`` storage URL. The repository's own
``meltano.yml`` installed ``-e .[s3]``, so a tenant with ``api_key_secret_id`` (docs/fleet.md)
stopped at once (``needs boto3``) and ``:verify --postgres`` needed psycopg."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = set(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
)

#: What documentation says that needs an extra beyond a setting's "`[x]` extra".
MENTIONS = {r"--postgres\b": "postgres", r"--s3\b": "s3", r"\bs3://": "s3"}


def needed(documented: str) -> set[str]:
    """The extras text that documents a plugin's uses needs."""
    named = set(re.findall(r"`\[(\w+)\]` extra", documented))
    return named | {extra for pattern, extra in MENTIONS.items() if re.search(pattern, documented)}


def installed(pip_url: str) -> set[str]:
    """The extras a ``pip_url`` installs of this package (``-e .[s3,aws]``, ``name[aws] @ …``)."""
    match = re.search(r"(?:^|\s)(?:-e\s+\.|tap-chatgpt-compliance)\[([\w,\s]+)\]", pip_url)
    return {x.strip() for x in match.group(1).split(",")} if match else set()


def documented(plugin: dict[str, Any], text: str = "") -> str:
    """Everything a definition documents: its settings, commands and usage, and ``text``."""
    parts = [str(s.get("description", "")) for s in plugin.get("settings") or []]
    parts += [yaml.safe_dump(plugin.get("commands") or {}), str(plugin.get("usage", "")), text]
    return "\n".join(parts)


def test_the_rule_finds_what_the_secret_setting_and_the_commands_need() -> None:
    assert needed("Needs the `[aws]` extra (boto3)") == {"aws"}
    assert needed("verify --postgres DSN --schema x; verify --s3 URL") == {"postgres", "s3"}
    assert installed("-e .[s3]") == {"s3"}
    assert installed("tap-chatgpt-compliance[s3, aws] @ file:///x.whl") == {"s3", "aws"}
    assert installed("tap-chatgpt-compliance") == set()


def test_the_project_meltano_yml_installs_what_its_tenants_and_commands_need() -> None:
    text = (ROOT / "meltano.yml").read_text()
    (base,) = [p for p in yaml.safe_load(text)["plugins"]["extractors"]
               if p["name"] == "tap-chatgpt-compliance"]  # fmt: skip
    need = needed(documented(base, text))
    assert {"aws", "postgres", "s3"} <= need  # the secret setting, :verify --postgres, s3://
    assert need <= EXTRAS, need - EXTRAS
    missing = need - installed(base["pip_url"])
    assert not missing, f"meltano.yml's pip_url {base['pip_url']!r} lacks {sorted(missing)}"


def test_the_hub_definition_installs_what_its_usage_needs() -> None:
    hub = yaml.safe_load((ROOT / "hub" / "tap-chatgpt-compliance.yml").read_text())
    need = needed(documented(hub))
    assert {"aws", "postgres", "s3"} <= need
    assert need <= EXTRAS, need - EXTRAS
    missing = need - installed(hub["pip_url"])
    assert not missing, f"the Hub's pip_url {hub['pip_url']!r} lacks {sorted(missing)}"
