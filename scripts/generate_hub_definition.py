#!/usr/bin/env python3
"""Generate the Meltano Hub plugin definition from ``tap-chatgpt-compliance --about --format=json``.

Writes ``hub/tap-chatgpt-compliance.yml`` and refreshes the extractor's ``settings`` in
``meltano.yml`` (comments kept), so both always describe the tap's real settings.

    python scripts/generate_hub_definition.py          # write both files
    python scripts/generate_hub_definition.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from tap_chatgpt_compliance.settings import CONFIG_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
OWN_SETTINGS = frozenset(CONFIG_SCHEMA["properties"])
HUB_FILE = ROOT / "hub" / "tap-chatgpt-compliance.yml"
MELTANO_YML = ROOT / "meltano.yml"

# Publishing metadata that `--about` does not carry. VARIANT/REPO: the GitHub owner the project
# is published under (Hub convention: variant = repository owner).
VARIANT = "tap-chatgpt-compliance"
REPO = "https://github.com/tap-chatgpt-compliance/tap-chatgpt-compliance"
# The Hub serves logos from its static/ folder: logo_url is that site path, and the file is kept
# here at the same path under hub/static/ (copy it as-is into the Hub pull request).
LOGO_URL = "/assets/logos/extractors/chatgpt-compliance.svg"
LOGO_FILE = ROOT / "hub" / "static" / LOGO_URL.lstrip("/")
PREREQ = """\
From the owner of the ChatGPT Enterprise/Edu workspace you need:

- a **Compliance API key** (OpenAI Admin Console → Credentials → Admin keys) with the scopes
  - `chatgpt.enterprise.compliance_logs_platform.read` (or the per-type scopes it covers, such as
    `chatgpt.enterprise.compliance_logs_platform.conversation_message.read` and
    `chatgpt.enterprise.compliance_logs_platform.audit_log.read`) to read the log files, and
  - `chatgpt.enterprise.compliance_export.read` to download attachments and list users, GPTs
    and projects;
- the **workspace ID**, a UUID shown at chatgpt.com/admin → Workspace details;
- the **organization ID** (`org-…`) only to archive organization-scoped event types such as
  `COSTS`.
"""
USAGE = """\
```bash
meltano config set tap-chatgpt-compliance workspace_id <workspace UUID>
meltano config set tap-chatgpt-compliance api_key <Compliance API key>  # stored in .env
meltano config test tap-chatgpt-compliance   # runs the tap to its first record
meltano run tap-chatgpt-compliance target-postgres
meltano invoke tap-chatgpt-compliance:verify --postgres "host=… dbname=…" --schema <load_schema>
```

- **Keys in AWS Secrets Manager**: set `api_key_secret_id` (the ARN, or the name with
  `aws_region`; `aws_endpoint_url`) instead of `api_key`, and allow
  `secretsmanager:GetSecretValue` on it. The key is read at the start of every run, so a
  rotated key is used by the next run.
- Extras: `pip_url` installs `[s3]` (attachments and verify on S3), `[aws]` (Secrets Manager)
  and `[postgres]` (verify/export reading PostgreSQL), so every use above works; drop those you
  do not need. `[fleet]` is the Dagster code location.
- **Run it at least hourly** (`meltano job add archive --tasks "tap-chatgpt-compliance
  target-postgres"`, then `meltano schedule add archive-hourly --job archive --interval @hourly`,
  which keeps the state of `meltano run`; or any orchestrator): chat attachments expire about
  24 hours after upload and log files 30 days after they are written; each run downloads what
  is new, attachments included, and resumes from its bookmark.
- Every stream is selected by default (`*.*`): attachments (`files`, and `file_parts` for large
  ones) are archived beside the transcripts. Set `file_content: storage` and `file_storage_url`
  to keep the bytes in S3/GCS/a folder instead of inline.
- Streams, every run: `log_files`, `log_file_parts`, `messages`, `conversations`, `files`,
  `file_parts`, `events`, `unparsed_lines`, `users`, `gpts`, `projects`. Workspace objects
  (docs/streams.md), refreshed every `directory_refresh_hours` (24): `gpt_configs`,
  `gpt_shared_users`, `gpt_files`, `gpt_files_parts`, `project_configs`,
  `project_shared_users`, `project_files`, `project_files_parts`, `memories`,
  `memory_entries`, `canvases`, `canvas_versions`, `automations`, `recordings`,
  `recording_transcripts`, `codex_tasks`, `codex_task_details`, `library_files`,
  `library_file_contents`, `library_file_contents_parts`. Without a catalog the tap selects
  only the first group; `*.*` selects every stream: add rules such as `'!recordings.*'` to
  leave some out.
- `tap-chatgpt-compliance --test` reads one record per stream.
- target-postgres writes `timestamp without time zone` columns: the values are UTC.
- The repository's `transform/` dbt package (docs/destinations.md; your `packages.yml`) turns
  the PostgreSQL tables into ordered transcripts, conversations, attachments with their archive
  status, daily activity and a completeness report.
"""
META: dict[str, Any] = {
    "label": "ChatGPT Enterprise Compliance",
    "logo_url": LOGO_URL,
    "domain_url": "https://developers.openai.com/docs/enterprise/compliance-api",
    "keywords": [
        "api",
        "meltano_sdk",
        "chatgpt",
        "openai",
        "compliance",
        "archiving",
        "ediscovery",
    ],
    "quality": "silver",
    "maintenance_status": "active",
    # Everything, attachments included (`files`, and `file_parts` for large inline ones):
    # archiving them beside the transcripts is the point of the tap.
    "select": ["*.*"],
    "prereq": PREREQ,
    "usage": USAGE,
}
# Plugin commands: the evidence tools run inside the plugin's own venv
# (`meltano invoke tap-chatgpt-compliance:verify --jsonl output`; extra arguments are appended).
COMMANDS: dict[str, Any] = {
    "verify": {
        "executable": "chatgpt-compliance",
        "args": "verify",
        "description": "Prove the archive (add --jsonl DIR, --postgres DSN --schema NAME or "
        "--s3 URL; --report FILE). Exit 1 on any finding.",
    },
    "verify-jsonl": {
        "executable": "chatgpt-compliance",
        "args": "verify --jsonl $MELTANO_PROJECT_ROOT/output",
        "description": "Prove what target-jsonl wrote to its default folder (output/).",
    },
    "export": {
        "executable": "chatgpt-compliance",
        "args": "export",
        "description": "Write an RSMF + HTML production (add the archive as for verify, "
        "--custodian EMAIL or --conversation ID, --out DIR).",
    },
}
# The extras `pip_url` installs: what the usage above and the settings need (`[aws]` for
# api_key_secret_id, `[postgres]` and `[s3]` for :verify; tests/packaging/test_extras.py).
PIP_EXTRAS = ("s3", "aws", "postgres")
# The key is given either as api_key or as an AWS Secrets Manager secret (api_key_secret_id).
KEY_SETTINGS = ("api_key", "api_key_secret_id")
# Every Singer SDK tap answers `--test` (one record per stream), which is what the Hub's `test`
# capability announces; added here even while the tap's --about does not list it.
EXTRA_CAPABILITIES = ("test",)
# Settings that can carry credentials although the tap does not mark them secret:
# file_storage_options holds fsspec options (key/secret/token of the store); stream_map_config
# holds the values map expressions use, such as a hash seed for pseudonymising emails.
ALWAYS_SENSITIVE = frozenset({"file_storage_options", "stream_map_config"})


def about_json(executable: str | None = None) -> dict[str, Any]:
    """Return the tap's ``--about --format=json`` output."""
    exe = executable or str(Path(sys.executable).with_name("tap-chatgpt-compliance"))
    out = subprocess.run(
        [exe, "--about", "--format=json"], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return json.loads(out)


def _types(prop: dict[str, Any]) -> list[str]:
    t = prop.get("type", [])
    types = [t] if isinstance(t, str) else list(t)
    for alt in prop.get("anyOf", []) + prop.get("oneOf", []):
        types += _types(alt)
    return [x for x in types if x != "null"]


def is_secret(prop: dict[str, Any]) -> bool:
    """Tell whether the tap marks the setting secret."""
    return bool(prop.get("secret") or prop.get("writeOnly"))


def setting_kind(prop: dict[str, Any]) -> str:
    """Map a JSON-schema property to a Meltano setting kind (a secret string is a password)."""
    types = _types(prop)
    if is_secret(prop) and (not types or "string" in types):
        return "password"
    if prop.get("enum"):
        return "options"
    if "string" in types and prop.get("format") in ("date-time", "date"):
        return "date_iso8601"
    for json_type, kind in (
        ("object", "object"),
        ("array", "array"),
        ("boolean", "boolean"),
        ("integer", "integer"),
        # Meltano's `decimal` kind cannot be written into the tap's config when the value comes
        # from the environment ("Decimal is not JSON serializable"): numbers go as text, which
        # the tap reads back as numbers (settings.numbers_from_strings).
        ("number", "string"),
    ):
        if json_type in types:
            return kind
    return "string"


def meltano_kind(name: str, prop: dict[str, Any]) -> str:
    """Return the kind Meltano is told: ``string`` for the tap's own typed settings.

    Meltano converts ``integer``, ``options``, ``array`` and ``object`` values itself and ends
    with its own traceback, without naming the setting, on a bad one (``decimal`` cannot be
    written into a config at all). As text they reach the tap, which converts them
    (settings.values_from_strings) and refuses a bad one in one line naming the setting. The
    SDK's built-in settings keep their kinds.
    """
    kind = setting_kind(prop)
    if name in OWN_SETTINGS and kind in ("integer", "options", "array", "object"):
        return "string"
    return kind


def settings_from_about(about: dict[str, Any]) -> list[dict[str, Any]]:
    """Meltano setting definitions for every setting the tap declares."""
    out = []
    for name, prop in about["settings"]["properties"].items():
        kind = meltano_kind(name, prop)
        s: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "label": prop.get("title") or name.replace("_", " ").title(),
        }
        if prop.get("description"):
            s["description"] = " ".join(prop["description"].split())
        if kind == "password" or is_secret(prop) or name in ALWAYS_SENSITIVE:
            s["sensitive"] = True
        if kind == "options":
            s["options"] = [{"label": str(v), "value": v} for v in prop["enum"] if v is not None]
        elif prop.get("enum"):
            values = ", ".join(f"`{v}`" for v in prop["enum"] if v is not None)
            s["description"] = f"{s.get('description', '')} One of: {values}.".strip()
        if "default" in prop and prop["default"] is not None:
            s["value"] = prop["default"]
        out.append(s)
    return out


def hub_definition(about: dict[str, Any], pyproject_name: str = "tap-chatgpt-compliance") -> dict:
    """Build the Meltano Hub plugin definition."""
    required = [n for n in about["settings"].get("required") or [] if n not in KEY_SETTINGS]
    keys = [k for k in KEY_SETTINGS if k in about["settings"]["properties"]]
    groups = [[k, *required] for k in keys] if keys else [list(required)]
    return {
        "name": about["name"],
        "namespace": about["name"].replace("-", "_"),
        "variant": VARIANT,
        "label": META["label"],
        "description": about["description"],
        "logo_url": META["logo_url"],
        "pip_url": f"{pyproject_name}[{','.join(PIP_EXTRAS)}]",
        "executable": about["name"],
        "repo": REPO,
        "docs": f"{REPO}#readme",
        "domain_url": META["domain_url"],
        "keywords": META["keywords"],
        "quality": META["quality"],
        "maintenance_status": META["maintenance_status"],
        "supported_python_versions": about.get("supported_python_versions", []),
        "capabilities": sorted(set(about["capabilities"]) | set(EXTRA_CAPABILITIES)),
        "settings_group_validation": groups if any(groups) else [],
        "settings": settings_from_about(about),
        "select": META["select"],
        "commands": COMMANDS,
        # markdown, written as YAML block scalars (`|`) so the file stays readable
        "prereq": LiteralScalarString(META["prereq"]),
        "usage": LiteralScalarString(META["usage"]),
    }


def _yaml() -> YAML:
    y = YAML()
    y.indent(mapping=2, sequence=2, offset=0)
    y.width = 4096  # never re-wrap long lines (keeps meltano.yml diffs small)
    return y


def render_hub(definition: dict) -> str:
    """Render the Hub definition as YAML."""
    buf = io.StringIO()
    buf.write(
        "# Generated by scripts/generate_hub_definition.py from "
        "`tap-chatgpt-compliance --about --format=json`. Do not edit by hand.\n"
    )
    _yaml().dump(definition, buf)
    return buf.getvalue()


def render_meltano_yml(settings: list[dict[str, Any]]) -> str:
    """Render meltano.yml with the extractor's settings replaced."""
    y = _yaml()
    y.preserve_quotes = True
    doc = y.load(MELTANO_YML.read_text())
    tap = next(p for p in doc["plugins"]["extractors"] if p["name"] == "tap-chatgpt-compliance")
    tap["settings"] = settings
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


def main() -> int:
    """Write or check the generated files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    if not LOGO_FILE.is_file():
        print(f"logo_url {LOGO_URL} has no file at {LOGO_FILE.relative_to(ROOT)}", file=sys.stderr)
        return 1
    about = about_json()
    wanted = {
        HUB_FILE: render_hub(hub_definition(about)),
        MELTANO_YML: render_meltano_yml(settings_from_about(about)),
    }
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run `make hub`", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(wanted[p])
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
