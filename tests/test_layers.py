"""The import layers: the web app and CLI use ingest and search, which use the store and config; never upwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each layer may import from the layers after it, never from those before it.
LAYERS = [
    (
        "the web app, the CLI and the services they share",
        ["archive.web", "archive.cli", "archive.services", "archive.__main__"],
    ),
    ("ingest", ["ingest"]),
    ("search", ["search"]),
    ("the store and configuration", ["archive"]),  # archive.config, archive.store, archive.errors ...
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
    sneaky.write_text("def f():\n    from archive.web import create_app\n    from ..web import pages\n")
    assert imports_of("archive.store.sneaky", sneaky) == ["archive.web", "archive.web"]
    assert layer_of("archive.web") < layer_of("archive.store.sneaky")
