"""The event-type vocabulary is defined once (tap_chatgpt_compliance/event_types.json) and both
the tap's settings and the simulator read it; no source repeats the list."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from chatgpt_compliance_simulator import config as simulator_config
from tap_chatgpt_compliance import settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "tap_chatgpt_compliance" / "event_types.json"


def _vocabulary() -> dict[str, list[str]]:
    return json.loads(DATA.read_text())


def test_tap_and_simulator_read_the_one_list():
    data = _vocabulary()
    assert tuple(data["workspace"]) == settings.WORKSPACE_EVENT_TYPES
    assert tuple(data["organization"]) == settings.ORGANIZATION_EVENT_TYPES
    assert tuple(data["workspace"]) == simulator_config.WORKSPACE_EVENT_TYPES
    assert tuple(data["organization"]) == simulator_config.ORG_EVENT_TYPES
    assert "CONVERSATION_MESSAGE" in data["workspace"]
    assert data["organization"] == ["COSTS"]


def copied_lists(path: Path, names: set[str]) -> list[int]:
    """Lines of list/tuple/set literals in ``path`` holding (nearly) the whole vocabulary.

    A subset such as the simulator's ``GENERATED_WORKSPACE_TYPES`` (5 of 10) is not a copy.
    """
    at_least = len(names) - 2
    hits = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if len(values & names) >= at_least:
                hits.append(node.lineno)
    return hits


def test_no_source_copies_the_list(tmp_path: Path):
    names = set(_vocabulary()["workspace"])
    sources = [
        *sorted((REPO_ROOT / "tap_chatgpt_compliance").rglob("*.py")),
        *sorted((REPO_ROOT / "chatgpt_compliance_simulator").rglob("*.py")),
    ]
    copies = {str(p.relative_to(REPO_ROOT)): copied_lists(p, names) for p in sources}
    assert {p: lines for p, lines in copies.items() if lines} == {}
    # The check finds a copy.
    copy = tmp_path / "copy.py"
    copy.write_text(f"TYPES = {tuple(sorted(names))[1:]!r}\n")
    assert copied_lists(copy, names) == [1]
