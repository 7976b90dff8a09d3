"""The tap's import rules (docs/architecture.md): no circles, no upward imports.

Every ``import`` of the tap package is read with ``ast`` (``TYPE_CHECKING`` blocks and
imports inside functions included: a type-only or late import is a dependency too) and checked
against the layering declared in :data:`LAYERS`, lowest first. A module may import modules of
its own layer and of lower layers; the modules of a package (``http``, ``run``,
``attachments``, ``logfiles``) may import each other. Between modules, no import circle,
whatever the layers.
"""

from __future__ import annotations

import ast
import re
import typing as t
from collections import Counter
from pathlib import Path

import pytest

PACKAGE = "tap_chatgpt_compliance"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

LAYERS: list[tuple[str, set[str]]] = [
    (
        "base",
        {"__init__", "errors", "timeparse", "schemas", "settings", "secrets", "directory_rows"},
    ),
    ("http", {"http"}),
    ("run", {"run"}),
    ("attachments", {"attachments"}),
    ("logfiles", {"logfiles"}),
    ("seam", {"sdk", "client"}),
    ("streams", {"streams"}),
    ("tap", {"tap", "cli", "__main__"}),
]
"""Layers, lowest first, by the first part of the module's name inside the package."""
LAYERS[0][1].update({"workspace_rows", "workspace_schemas"})  # issue 21: rows verify re-derives
LAYERS[0][1].add("jsondepth")  # how deep a JSON text nests: log lines and served items
LAYERS[0][1].add("storage_uris")  # which storage URIs verify and export open (the tap warns)
LAYERS[0][1].add("storage_faults")  # the fix of a storage error, by its cause
SEPARATE = {"evidence"}
"""The evidence tools: may import the tap's lower layers, never its streams or the tap."""
EVIDENCE_MAY_IMPORT = {"base", "http", "run", "attachments", "logfiles"}


def module_name(path: Path) -> str:
    """Return ``http.transport`` for tap_chatgpt_compliance/http/transport.py."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Return every module of the package by its name inside the package."""
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports(path: Path, known: set[str], at: Path | None = None) -> set[str]:
    """Return the package's modules that ``path`` imports (anywhere in the file).

    Relative imports (``from ..streams import logs``) are resolved against the package of
    ``at`` (default: ``path``).
    """
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, at or path)
            if module:
                names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        for name in names:
            if not name.startswith(PACKAGE + "."):
                continue
            inner = name[len(PACKAGE) + 1 :]
            # the longest known module the name starts with ("http.transport.Transport")
            while inner and inner not in known:
                inner = inner.rpartition(".")[0]
            if inner:
                found.add(inner)
    return found


_IMPORTERS = {"import_module", "__import__", "find_spec", "spec_from_file_location"}
"""Calls that import a module named by a string (``importlib.import_module("…")``)."""


def string_imports(source: str) -> list[tuple[int, str]]:
    """Return (line, module) of every import of a module named by a string constant.

    ``importlib.import_module("tap_chatgpt_compliance.evidence.seals")`` or
    ``__import__("singer_sdk.helpers._typing")`` is a dependency the ``import`` statements do not
    show: the layering and the SDK seam would not see it.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if name in _IMPORTERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((node.lineno, first.value))
    return found


def _absolute(node: ast.ImportFrom, path: Path) -> str | None:
    """Return the absolute module name of a ``from … import`` (relative ones resolved)."""
    if node.level == 0:
        return node.module
    try:
        package = list(path.relative_to(ROOT).parent.parts)
    except ValueError:  # a probe outside the package: relative to the package's top
        package = []
    if node.level - 1 > len(package):
        return None
    base = [PACKAGE, *package[: len(package) - (node.level - 1)]]
    return ".".join([*base, node.module] if node.module else base)


def layer_of(module: str) -> str:
    """Return the layer of a module (by its first name part)."""
    head = module.split(".")[0]
    if head in SEPARATE:
        return head
    for layer, heads in LAYERS:
        if head in heads:
            return layer
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


RANK = {layer: rank for rank, (layer, _) in enumerate(LAYERS)}


def graph(*, packages: bool = False) -> dict[str, set[str]]:
    """Return module → the package's modules it imports.

    A sub-package's ``__init__`` is left out of the circles (``from …http import transport``
    names both) but kept for the layering (``packages=True``): importing ``…streams`` from
    below is upward too.
    """
    found = modules()
    known = set(found)
    return {
        name: {
            m for m in imports(path, known) if m != name and (packages or not _is_package(m, known))
        }
        for name, path in found.items()
    }


def _is_package(module: str, known: set[str]) -> bool:
    return any(other.startswith(module + ".") for other in known)


def test_no_module_is_imported_by_a_string() -> None:
    """Every dependency of the tap and the evidence tools is an ``import`` the rules read."""
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{line} {module}"
        for path in modules().values()
        for line, module in string_imports(path.read_text(encoding="utf-8"))
        if module.split(".")[0] in (PACKAGE, "singer_sdk")
    ]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        'import importlib\ns = importlib.import_module("tap_chatgpt_compliance.evidence.seals")',
        'from importlib import import_module\nt = import_module("singer_sdk.helpers._typing")',
        'm = __import__("tap_chatgpt_compliance.tap")',
    ],
)
def test_an_import_by_a_string_is_seen(source: str) -> None:
    assert [module for _, module in string_imports(source)], source


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_upward_imports() -> None:
    upward = []
    for module, targets in graph(packages=True).items():
        layer = layer_of(module)
        for target in targets:
            target_layer = layer_of(target)
            if layer in SEPARATE:
                allowed = target_layer == layer or target_layer in EVIDENCE_MAY_IMPORT
            else:
                allowed = target_layer not in SEPARATE and RANK[target_layer] <= RANK[layer]
            if not allowed:
                upward.append(f"{module} ({layer}) imports {target} ({target_layer})")
    assert upward == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert cycles(graph()) == []


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The rules see a circle, an upward import and a type-only import."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = (
        "import typing as t\nif t.TYPE_CHECKING:\n"
        "    from tap_chatgpt_compliance.client import ComplianceStream\n"
        "def f():\n    from tap_chatgpt_compliance.http import transport\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert imports(probe, {"client", "http.transport", "http"}) == {
        "client",
        "http",
        "http.transport",
    }
    assert RANK[layer_of("client")] > RANK[layer_of("http.transport")]


@pytest.mark.parametrize(
    "line",
    [
        "from tap_chatgpt_compliance.streams.logs import LogFilesStream",
        "import tap_chatgpt_compliance.tap",
        "from tap_chatgpt_compliance import streams",
        "from ..streams import logs",
        "from .. import tap",
    ],
)
def test_an_upward_import_is_seen_in_every_form(line: str, tmp_path: Path) -> None:
    """Each way of writing an import of a higher layer from http/ is found by the rule."""
    probe = tmp_path / "probe.py"
    probe.write_text(f"{line}\n")
    at = ROOT / "http" / "_probe.py"  # read as if it stood there (never written)
    found = imports(probe, set(modules()), at)
    assert {m for m in found if RANK[layer_of(m)] > RANK["http"]}, line


@pytest.mark.parametrize("package", ["http", "run", "attachments", "logfiles"])
def test_each_package_says_what_it_owns_and_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    assert doc is not None
    assert "Owns" in doc
    assert "May import" in doc


MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60
LONGER_ALLOWED: dict[str, str] = {}
"""Known exceptions, each with its reason; nothing may be added without one."""


def test_no_class_or_function_too_long() -> None:
    """No class over ~200 lines and no function over ~60 in the tap (evidence aside)."""
    long = []
    for name, path in modules().items():
        if layer_of(name) in SEPARATE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            limit = (
                MAX_CLASS_LINES
                if isinstance(node, ast.ClassDef)
                else MAX_FUNCTION_LINES
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                else None
            )
            if limit is None:
                continue
            size = t.cast("int", node.end_lineno) - node.lineno + 1
            where = f"{path.relative_to(ROOT).as_posix()}:{node.name}"
            if size > limit and where not in LONGER_ALLOWED:
                long.append(f"{where} has {size} lines (at most {limit})")
    assert long == []


def id_calls(source: str) -> list[int]:
    """Return the lines that call the builtin ``id()`` (``obj.id``, ``def id`` are not calls).

    An object's ``id()`` as a key (``d[id(e)]``, ``d.get(id(e))``, ``{id(e): …}``, ``id(e) in
    d``, or kept in a variable first) is a side channel beside the object: the data it keys must
    travel with the object instead (issue 19). The tap has no other use for ``id()``, so every
    call is refused, whatever becomes of its result.
    """
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "id"
    )


def test_no_id_keyed_side_channels() -> None:
    """Nothing in the tap (evidence included) keys data by ``id(object)``."""
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{line}"
        for path in modules().values()
        for line in id_calls(path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "keys[id(event)] = key",
        "key = keys.get(id(event))",
        "cache = {id(event): times}",
        "if id(event) in seen:\n    pass",
        "marker = id(event)\nraws[marker] = text",
        "times.setdefault(id(e), [])",
    ],
)
def test_an_id_key_is_seen_in_every_form(source: str) -> None:
    assert id_calls(source) == [1]


def test_an_id_attribute_or_method_is_not_an_id_call() -> None:
    source = "class A:\n    def id(self):\n        return self.meta['id']\nx = a.id()\ny = a.id\n"
    assert id_calls(source) == []


# ------------------------------------------------------------------ dead code (vulture's rule)

REPO = ROOT.parent
PRODUCT_PACKAGES = [ROOT, REPO / "orchestration"]
"""Whose functions must be called by the product (the simulator is a library for users' tests)."""
PRODUCT_FILES = ["scripts", "benchmarks", "loaders", "meltano.yml", "pyproject.toml"]
"""What else calls into them: the scripts and benchmarks, the loaders, the entry points."""
_READ = {".py", ".yml", ".yaml", ".toml"}


def framework_hooks() -> set[str]:
    """Return the attribute names of the outside classes the tap's classes build on (a method
    of that name is an override the framework calls: ``get_url_params``)."""
    import json
    from http.server import BaseHTTPRequestHandler

    from singer_sdk import RESTStream, Tap, metrics
    from singer_sdk.authenticators import BearerTokenAuthenticator
    from singer_sdk.io_base import SingerWriter
    from singer_sdk.pagination import BaseAPIPaginator

    bases = (RESTStream, Tap, BaseAPIPaginator, BearerTokenAuthenticator, SingerWriter)
    bases += (metrics.Counter, metrics.Timer, json.JSONEncoder, BaseHTTPRequestHandler)
    return {name for base in bases for klass in base.__mro__ for name in vars(klass)}


def dynamic_prefixes(source: str) -> set[str]:
    """Return the constant heads of names built for ``getattr`` (``f"_check_{stream}"``)."""
    return {
        node.args[1].values[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "getattr"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.JoinedStr)
        and node.args[1].values
        and isinstance(node.args[1].values[0], ast.Constant)
    }


def unreferenced_functions(packages: list[Path], others: list[Path], hooks: set[str]) -> list[str]:
    """Return ``path:line name`` of each function or method whose name appears nowhere but in
    its own definition (in ``packages`` and ``others``): code nothing calls. Decorated ones
    (registered: ``@atexit.register``, ``@asset``, ``@override``) and dunders are left out."""
    sources = [(package, p) for package in packages for p in sorted(package.rglob("*.py"))]
    texts = [p.read_text(encoding="utf-8") for _, p in sources]
    for other in others:
        files = sorted(other.rglob("*")) if other.is_dir() else [other]
        texts += [f.read_text(encoding="utf-8") for f in files if f.suffix in _READ]
    words = Counter(re.findall(r"\w+", "\n".join(texts)))
    prefixes = set().union(*(dynamic_prefixes(text) for text in texts[: len(sources)]))
    unused = []
    for (package, path), text in zip(sources, texts, strict=False):
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name = node.name
            if name.startswith("__") or name in hooks or node.decorator_list:
                continue
            if any(name.startswith(prefix) for prefix in prefixes):
                continue
            if words[name] <= 1:
                where = path.relative_to(package.parent).as_posix()
                unused.append(f"{where}:{node.lineno} {name}")
    return unused


def test_no_function_that_nothing_calls() -> None:
    """Every function of the tap, the evidence tools and the fleet is called by the product
    (tests do not count: a function only a test calls belongs to the tests)."""
    others = [REPO / name for name in PRODUCT_FILES]
    found = unreferenced_functions(PRODUCT_PACKAGES, others, framework_hooks())
    assert found == [], "\n".join(found)


def test_the_dead_code_check_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text(
        "import atexit\n"
        "def used():\n    return 1\n"
        "def unused():\n    return used()\n"
        "@atexit.register\ndef at_exit():\n    pass\n"
        "class C:\n    def _check_x(self):\n        pass\n"
        "    def hook(self):\n        pass\n"
        "    def run(self, name):\n        return getattr(self, f'_check_{name}')()\n"
    )
    (tmp_path / "main.py").write_text("from pkg.a import C\nC().run('x')\n")
    found = unreferenced_functions([package], [tmp_path / "main.py"], {"hook"})
    assert found == ["pkg/a.py:4 unused"]
