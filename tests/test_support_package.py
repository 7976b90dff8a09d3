"""Tests, benchmarks and scripts take their tools from ``tests/support`` and never edit sys.path.

Reads the sources (no process is started): the tap is launched by hand nowhere but in
``tests/support/tap.py``, no file changes ``sys.path``, and no file imports a conftest by an
absolute name (another folder's, or its own as a second copy): shared helpers live in
``tests/support``.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SUPPORT = REPO_ROOT / "tests" / "support"


def _sources() -> list[Path]:
    folders = ("tests", "benchmarks", "scripts")
    return [p for f in folders for p in sorted((REPO_ROOT / f).rglob("*.py"))]


def _is_sys(node: object) -> bool:
    return isinstance(node, ast.Name) and node.id == "sys"


def _imports_a_conftest(node: ast.ImportFrom) -> bool:
    """An absolute import of a conftest (or of the old helper modules it replaced)."""
    last = (node.module or "").split(".")[-1]
    return node.level == 0 and last in ("conftest", "harness", "simhelpers")


def findings(path: Path) -> list[str]:
    """``sys.path`` edits, hand-built ``python -m tap_chatgpt_compliance`` lines and absolute
    imports of a conftest in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and _imports_a_conftest(node):
            found.append(f"{node.lineno}: import {node.module}")
        value = getattr(node, "value", None)
        if isinstance(node, ast.Attribute) and node.attr == "path" and _is_sys(value):
            found.append(f"{node.lineno}: sys.path")
        if isinstance(node, (ast.List, ast.Tuple)):
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for a, b in itertools.pairwise(values):
                if a == "-m" and b == "tap_chatgpt_compliance":
                    found.append(f"{node.lineno}: python -m tap_chatgpt_compliance")
    return found


def test_no_sys_path_edits_and_one_tap_launcher():
    sources = _sources()
    assert len(sources) > 50
    bad = {
        str(p.relative_to(REPO_ROOT)): findings(p)
        for p in sources
        if p.parent != SUPPORT and p != Path(__file__).resolve()
    }
    assert {p: f for p, f in bad.items() if f} == {}
    assert findings(SUPPORT / "tap.py") == [f"{_launch_line()}: python -m tap_chatgpt_compliance"]


def _launch_line() -> int:
    lines = (SUPPORT / "tap.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if '"-m", "tap_chatgpt_compliance"' in line)


def test_the_check_finds_both(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sys\nsys.path.insert(0, '.')\n"
        "cmd = [sys.executable, '-m', 'tap_chatgpt_compliance', '--about']\n"
        "from e2e.conftest import meltano\nfrom .conftest import ok\n"
    )
    assert sorted(findings(sample)) == [
        "2: sys.path",
        "3: python -m tap_chatgpt_compliance",
        "4: import e2e.conftest",
    ]
