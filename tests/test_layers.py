"""The import layers, as the folders show them, from the top down:

    archive/doors/     the CLI, the web app, the MCP server, the feeds (and ``python -m archive``)
    archive/library.py the one viewer-scoped Archive every door reaches the rest through
    ingest/            recordings in: transcription, speakers, companions, chapters, the queue
    search/            the index and the searcher
    archive/core/      the ground: config, errors, time codes, records, the store, the model files

A module may import from its own layer or the layers below it, never above; and no modules import
each other in a circle (a circle makes the order of imports matter and a move break at a distance)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each layer may import from the layers after it, never from those before it.
LAYERS = [
    ("the doors", ["archive.doors", "archive.__main__"]),
    ("the library", ["archive.library"]),
    ("ingest", ["ingest"]),
    ("search", ["search"]),
    ("the ground", ["archive.core", "archive"]),  # ``archive`` itself: the package's one-line __init__
]


def layer_of(module: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} belongs to no layer")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in ("archive", "ingest", "search"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(module: str, path: Path) -> list[str]:
    """Every project module ``module`` imports, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
    return [name for name in found if name.split(".")[0] in ("archive", "ingest", "search")]


@pytest.mark.parametrize("module, path", sorted(project_modules().items()))
def test_no_module_imports_a_layer_above_it(module, path):
    mine = layer_of(module)
    above = [name for name in imports_of(module, path) if layer_of(name) < mine]
    assert not above, f"{module} ({LAYERS[mine][0]}) imports {above} from a layer above it"


def test_the_rule_catches_an_upward_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from archive.doors.web import create_app\n    from ..doors import web\n")
    assert imports_of("archive.core.sneaky", sneaky) == ["archive.doors.web", "archive.doors"]
    assert layer_of("archive.doors.web") < layer_of("archive.core.sneaky")
    assert layer_of("search.engine") < layer_of("archive.core.store.records") < layer_of("archive") + 1


def test_every_top_level_module_of_archive_has_its_layer():
    """A new file at archive/'s top would belong to the ground by default: it must choose its folder."""
    top = {path.stem for path in (ROOT / "archive").glob("*.py")}
    assert top == {"__init__", "__main__", "library"}, top


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports (a package import counts as its __init__)."""
    modules = project_modules()
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in imports_of(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules that reach themselves through their imports, as strongly connected components (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_package_init_edge(module: str, target: str) -> bool:
    """A package's __init__ re-exporting its own submodules is not a circle worth the name."""
    return module.startswith(target + ".") or target.startswith(module + ".")


def test_no_modules_import_each_other_in_a_circle():
    graph = {m: {t for t in ts if not _is_package_init_edge(m, t)} for m, ts in import_graph().items()}
    assert circles(graph) == []


def test_the_circle_check_finds_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
