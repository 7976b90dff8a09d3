"""The loader definitions a user adds to their own Meltano project (`meltano add … --from-ref
loaders/<name>.yml`) are the loaders this repository's tests run: same executable, settings and
defaults as meltano.yml's (that Meltano reads them as written: test_hub_and_readme.py's fresh
project)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = "git+https://github.com/tap-chatgpt-compliance/tap-chatgpt-compliance@v0.1.0"


def _tested(name: str) -> dict:
    """The loader of this repository's meltano.yml (the one the end-to-end tests run)."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return next(p for p in project["plugins"]["loaders"] if p["name"] == name)


def _definition(name: str) -> dict:
    return yaml.safe_load((ROOT / "loaders" / f"{name}.yml").read_text())


def test_target_postgres_is_the_tested_loader():
    tested, definition = _tested("target-postgres"), _definition("target-postgres")
    for key in ("name", "namespace", "executable"):
        assert definition[key] == tested[key], key
    assert sorted(definition["capabilities"]) == sorted(tested["capabilities"])
    settings = {s["name"]: s for s in definition["settings"]}
    assert {s["name"] for s in tested["settings"]} <= set(settings)
    for name, value in tested["config"].items():
        assert settings[name].get("value") == value, name
    for name in ("password", "sqlalchemy_url"):
        assert settings[name].get("sensitive") is True, name
    # the same target, and the wrapper from this repository's release instead of a local path
    target, wrapper = definition["pip_url"].split()
    tested_target, tested_wrapper = tested["pip_url"].split()
    assert target == tested_target
    folder = tested_wrapper.removeprefix("./")
    assert wrapper == f"{GITHUB}#subdirectory={folder}"
    pyproject = (ROOT / folder / "pyproject.toml").read_text()
    scripts = pyproject.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert f"\n{definition['executable']} = " in scripts
