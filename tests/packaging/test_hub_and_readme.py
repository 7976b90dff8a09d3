"""Publishing artefacts stay in sync with the tap: the Hub definition (valid against Meltano Hub's
own schemas), the extractor settings in meltano.yml, and the README settings table."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HUB_FILE = ROOT / "hub" / "tap-chatgpt-compliance.yml"


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


hubgen = _load_script("generate_hub_definition")
readme = _load_script("update_readme_settings")


def hub_schemas_dir() -> Path:
    """Meltano Hub's schemas: ../shared/hub-schemas beside the repository (not vendored)."""
    path = Path(os.environ.get("HUB_SCHEMAS_DIR") or ROOT.parent / "shared" / "hub-schemas")
    if not (path / "plugin_definitions" / "extractors.schema.json").is_file():
        msg = f"Meltano Hub schemas not found at {path} (set HUB_SCHEMAS_DIR)"
        if os.environ.get("CI") and not os.environ.get("GITHUB_ACTIONS"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="module")
def about() -> dict:
    return hubgen.about_json()


def test_hub_definition_is_generated_from_about(about):
    assert HUB_FILE.read_text() == hubgen.render_hub(hubgen.hub_definition(about)), (
        "hub/tap-chatgpt-compliance.yml is out of date: run `make hub`"
    )


def test_meltano_yml_settings_match_about(about):
    current = (ROOT / "meltano.yml").read_text()
    assert current == hubgen.render_meltano_yml(hubgen.settings_from_about(about)), (
        "meltano.yml extractor settings are out of date: run `make hub`"
    )


def test_hub_definition_validates_against_hub_schema():
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource

    root = hub_schemas_dir()
    files = {
        p.relative_to(root).as_posix(): json.loads(p.read_text())
        for p in root.rglob("*.schema.json")
    }

    def retrieve(uri: str) -> Resource:
        # The schemas $ref each other by relative path ("../common/x.schema.json",
        # "hub_metadata.schema.json"); resolve by path suffix inside the schema folder.
        tail = uri.split("://", 1)[-1].lstrip("/")
        while tail.startswith(("../", "./")):
            tail = tail.split("/", 1)[1]
        matches = [k for k in files if k == tail or k.endswith("/" + tail)]
        if len(matches) != 1:
            raise LookupError(f"cannot resolve {uri!r} in {root}")
        return Resource.from_contents(files[matches[0]])

    schema = files["plugin_definitions/extractors.schema.json"]
    validator = Draft7Validator(schema, registry=Registry(retrieve=retrieve))
    definition = yaml.safe_load(HUB_FILE.read_text())
    errors = sorted(validator.iter_errors(definition), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    # The validator really follows the $refs: a bad kind must be rejected.
    broken = {**definition, "settings": [{"name": "x", "kind": "no-such-kind"}]}
    assert list(validator.iter_errors(broken))


def test_hub_definition_content():
    d = yaml.safe_load(HUB_FILE.read_text())
    assert d["pip_url"] == "tap-chatgpt-compliance"
    assert "git+" not in d["pip_url"]
    assert {"state", "catalog", "discover"} <= set(d["capabilities"])
    kinds = {s["name"]: s for s in d["settings"]}
    assert kinds["api_key"]["kind"] == "password"
    assert kinds["api_key"]["sensitive"] is True
    assert "*.*" in d["select"] or any(s.startswith("files.") for s in d["select"])
    assert not any(s.startswith("!file") for s in d["select"])


def test_readme_settings_table_matches_about():
    text = (ROOT / "README.md").read_text()
    assert readme.START in text, "README.md lacks the settings markers"
    assert readme.END in text, "README.md lacks the settings markers"
    block = readme.settings_block(readme.about_markdown())
    assert readme.render(text, block) == text, (
        "README settings table drifted from `--about --format=markdown`: run `make readme-settings`"
    )
