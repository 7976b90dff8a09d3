"""Publishing artefacts stay in sync with the tap: the Hub definition (valid against Meltano Hub's
own schemas), the extractor settings in meltano.yml, and the README settings table."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

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


def hub_validator(plugin_type: str):
    """A validator of Meltano Hub's schema of ``plugin_type`` (extractors, loaders)."""
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

    schema = files[f"plugin_definitions/{plugin_type}.schema.json"]
    return Draft7Validator(schema, registry=Registry(retrieve=retrieve))


def test_hub_definition_validates_against_hub_schema():
    validator = hub_validator("extractors")
    definition = yaml.safe_load(HUB_FILE.read_text())
    errors = sorted(validator.iter_errors(definition), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    # The validator really follows the $refs: a bad kind must be rejected.
    broken = {**definition, "settings": [{"name": "x", "kind": "no-such-kind"}]}
    assert list(validator.iter_errors(broken))


def test_the_target_s3_definition_of_the_quick_start():
    """loaders/target-s3.yml, which the README's quick start adds `--from-ref`: a valid Hub
    definition installable from PyPI, whose defaults never overwrite an object."""
    definition = yaml.safe_load((ROOT / "loaders" / "target-s3.yml").read_text())
    validator = hub_validator("loaders")
    errors = sorted(validator.iter_errors(definition), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert definition["pip_url"].startswith("plinxore-target-s3==")
    assert "git+" not in definition["pip_url"]
    defaults = {s["name"]: s.get("value") for s in definition["settings"]}
    assert defaults["append_uuid"] is True
    assert defaults["format.format_type"] == "jsonl"
    assert defaults["prefix"]
    for s in definition["settings"]:
        if "secret" in s["name"] or "token" in s["name"]:
            assert s.get("sensitive") is True, s["name"]
    assert "loaders/target-s3.yml" in (ROOT / "README.md").read_text()


def test_hub_definition_content():
    d = yaml.safe_load(HUB_FILE.read_text())
    assert d["pip_url"] == "tap-chatgpt-compliance[s3,aws,postgres]"  # test_extras.py
    assert "git+" not in d["pip_url"]
    assert {"state", "catalog", "discover"} <= set(d["capabilities"])
    kinds = {s["name"]: s for s in d["settings"]}
    assert kinds["api_key"]["kind"] == "password"
    assert kinds["api_key"]["sensitive"] is True
    assert "*.*" in d["select"] or any(s.startswith("files.") for s in d["select"])
    assert not any(s.startswith("!file") for s in d["select"])


def test_hub_definition_declares_test_and_helps_the_user():
    d = yaml.safe_load(HUB_FILE.read_text())
    assert "test" in d["capabilities"]  # `tap-chatgpt-compliance --test`
    for needed in (
        "chatgpt.enterprise.compliance_logs_platform.read",
        "chatgpt.enterprise.compliance_export.read",
        "chatgpt.com/admin",
        "Workspace details",
        "organization",
    ):
        assert needed in d["prereq"], needed
    for needed in ("meltano config test tap-chatgpt-compliance", "hourly", "UTC"):
        assert needed in d["usage"], needed


def test_every_secret_bearing_setting_is_sensitive(about):
    d = yaml.safe_load(HUB_FILE.read_text())
    settings = {s["name"]: s for s in d["settings"]}
    secret_in_about = {
        name
        for name, prop in about["settings"]["properties"].items()
        if prop.get("secret") or prop.get("writeOnly")
    }
    # api_key: the key; file_storage_options: the store's credentials (key/secret/token);
    # stream_map_config: values map expressions use, e.g. a hash seed.
    must_hide = {"api_key", "file_storage_options", "stream_map_config"} | secret_in_about
    for name in must_hide:
        assert settings[name].get("sensitive") is True, name
    # a secret string becomes a password; a secret object is text to Meltano like every
    # typed setting of the tap's own (the tap converts it and names it when it cannot)
    assert settings["file_storage_options"]["kind"] == "string"
    assert settings["api_key"]["kind"] == "password"
    assert all(s["kind"] != "password" or s.get("sensitive") for s in d["settings"])


def test_logo_url_names_a_real_logo_in_the_repository():
    d = yaml.safe_load(HUB_FILE.read_text())
    url = d["logo_url"]
    # Hub serves static/<logo_url> and its API prefixes the Hub's own address: a site path.
    assert url.startswith("/assets/logos/extractors/"), url
    path = ROOT / "hub" / "static" / url.lstrip("/")
    assert path == hubgen.LOGO_FILE
    assert path.is_file(), f"{url} has no file at {path.relative_to(ROOT)}"
    assert 200 < path.stat().st_size < 200_000
    if path.suffix == ".svg":
        root = ElementTree.parse(path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.get("viewBox")
    else:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_meltano_yml_capabilities_match_the_hub_definition():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-chatgpt-compliance")
    d = yaml.safe_load(HUB_FILE.read_text())
    assert sorted(tap["capabilities"]) == sorted(d["capabilities"])


@pytest.mark.slow
def test_meltano_add_from_ref_in_a_fresh_project(tmp_path):
    """The README's command, in a new Meltano 4 project, offline: one extractor, nothing else
    (`meltano add extractor … --from-ref` would also add a stray utility)."""
    meltano = str(Path(sys.executable).with_name("meltano"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["MELTANO_HUB_URL"] = "http://127.0.0.1:9"  # a closed loopback port: no Hub request

    def run(*args: str, cwd: Path) -> None:
        proc = subprocess.run(
            [meltano, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    run("init", "fresh", "--no-usage-stats", cwd=tmp_path)
    project_dir = tmp_path / "fresh"
    run(
        "add",
        "tap-chatgpt-compliance",
        "--from-ref",
        str(HUB_FILE),
        "--no-install",
        cwd=project_dir,
    )
    plugins = yaml.safe_load((project_dir / "meltano.yml").read_text())["plugins"]
    assert list(plugins) == ["extractors"], plugins.keys()
    (tap,) = plugins["extractors"]
    assert tap["name"] == "tap-chatgpt-compliance"
    assert tap["pip_url"] == "tap-chatgpt-compliance[s3,aws,postgres]"
    assert "test" in tap["capabilities"]
    settings = {s["name"]: s for s in tap["settings"]}
    for name in ("api_key", "file_storage_options"):
        assert settings[name].get("sensitive") is True, name
    # the README's loaders, by their definitions (test_loader_definitions.py)
    env["TARGET_POSTGRES_PASSWORD"] = "not-a-real-password"
    for loader in ("target-s3", "target-postgres"):
        ref = str(ROOT / "loaders" / f"{loader}.yml")
        run("add", loader, "--from-ref", ref, "--no-install", cwd=project_dir)
    printed = subprocess.run(
        [meltano, "config", "print", "target-postgres"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    config = json.loads(printed)
    tested = next(
        p
        for p in yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["loaders"]
        if p["name"] == "target-postgres"
    )["config"]
    assert config["stream_maps"] == tested["stream_maps"]  # escapes survive YAML and Meltano
    assert config["sanitize_null_text_characters"] is True
    assert config["password"] != "not-a-real-password"  # shown redacted


def test_readme_settings_table_matches_about():
    text = (ROOT / "README.md").read_text()
    assert readme.START in text, "README.md lacks the settings markers"
    assert readme.END in text, "README.md lacks the settings markers"
    block = readme.settings_block(readme.about_markdown())
    assert readme.render(text, block) == text, (
        "README settings table drifted from `--about --format=markdown`: run `make readme-settings`"
    )


# Command forms Meltano 4.4 refuses or reads otherwise: `meltano config <plugin> set` (now
# `meltano config set <plugin>`), `meltano add loader target-x` (the type is a name: a utility
# called `loader`), `meltano elt` and `schedule add --extractor` (a state of its own).
_OLD_MELTANO = re.compile(
    r"meltano (elt\b|add (?:extractor|loader|utility|transformer|orchestrator|mapper)s? "
    r"|config (?!set|unset|list|print|reset|test)[a-z][\w-]* (?:list|set|unset|reset|print|test)\b)"
    r"|meltano schedule add [^`\n]*--extractor"
)


def test_docs_use_meltano_4_commands():
    files = [ROOT / "README.md", HUB_FILE, *sorted((ROOT / "docs").glob("*.md"))]
    files += [ROOT / "transform" / "README.md"]
    found = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _OLD_MELTANO.search(line) and "would look for a utility named" not in line:
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
    assert _OLD_MELTANO.search("`meltano config tap-chatgpt-compliance--acme set …`")
    assert _OLD_MELTANO.search("meltano add loader target-jsonl")
    assert not _OLD_MELTANO.search("meltano config set tap-chatgpt-compliance api_key x")
