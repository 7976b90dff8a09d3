"""The package's layout stays acyclic (issue #8): no module imports one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import chatgpt_compliance_simulator

PACKAGE = Path(chatgpt_compliance_simulator.__file__).parent


def _graph() -> dict[str, set[str]]:
    """Intra-package imports of every module, including those under TYPE_CHECKING."""
    graph: dict[str, set[str]] = {}
    for f in PACKAGE.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
        graph[f.stem] = deps
    return graph


def test_no_import_cycle():
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph.get(name, ())):
            assert dep not in path, "import cycle: " + " -> ".join([*path, dep])
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(name)

    for name in sorted(graph):
        visit(name, [name])


def test_world_and_delivery_do_not_know_http():
    """Generation modules never import the HTTP side."""
    graph = _graph()
    http = {"api", "httpd", "logs_api", "rest_api", "responses", "server", "state"}
    for name in ("world", "messages", "background", "delivery", "events", "logfiles", "oracle"):
        assert not graph[name] & http, (name, graph[name] & http)
