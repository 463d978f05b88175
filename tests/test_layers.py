"""The layer contract: edges -> composition -> adapters -> core -> ports, never upwards.

Each module of `oie` (and `infra`) is in one layer; it may import its own layer and those
below. Imports inside `if TYPE_CHECKING:` are types only and not counted. The core and the
ports never import a cloud client library or DuckDB: adapters do. `make lint` runs this.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ports", "core", "adapters", "composition", "edges")
# Longest prefix wins: `oie.warehouse` is the port, `oie.warehouse.duckdb_adapter` an adapter.
LAYER_OF = {
    "oie": "ports",
    "oie.errors": "ports",
    "oie.settings": "ports",
    "oie.logs": "ports",
    "oie.keys": "ports",
    "oie.times": "ports",
    "oie.manifest": "ports",
    "oie.warehouse": "ports",
    "oie.storage": "ports",
    "oie.classify": "core",
    "oie.dataset": "core",
    "oie.pipeline": "core",
    "oie.catalog": "core",
    "oie.explore": "core",
    "oie.tables": "core",
    "oie.links": "core",
    "oie.cloud": "adapters",
    "oie.warehouse.duckdb_adapter": "adapters",
    "oie.warehouse.sql": "adapters",
    "oie.warehouse.key_index": "adapters",
    "oie.warehouse.bigquery_adapter": "adapters",
    "oie.storage.folder": "adapters",
    "oie.storage.gcs": "adapters",
    "oie.classify.classifier": "adapters",
    "oie.classify.model": "adapters",
    "oie.classify.vision": "adapters",
    "oie.app": "composition",
    "oie.pipeline.handlers": "edges",
    "oie.web": "edges",
    "oie.local": "edges",
    "oie.cli": "edges",
    "oie.provision": "edges",
    "infra": "edges",
}
THIRD_PARTY_ADAPTERS = ("google.cloud", "google.api_core", "google.auth", "duckdb")


def layer(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = LAYER_OF.get(".".join(parts[:n]))
        if found:
            return found
    raise KeyError(module)


def modules() -> dict[str, Path]:
    out = {}
    for top in (ROOT / "shared", ROOT):
        for package in ("oie", "infra"):
            for path in sorted((top / package).rglob("*.py")):
                name = ".".join(path.relative_to(top).with_suffix("").parts)
                out[name.removesuffix(".__init__")] = path
    return out


def _type_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, module) of every runtime import, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_only(node):
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else []
                found.extend((node.lineno, n) for n in names or [target])
            elif node.module:
                found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def violations(known: dict[str, Path]) -> list[str]:
    out = []
    for module, path in known.items():
        own = LAYERS.index(layer(module))
        for line, target in imports(module, path):
            where = f"{path}:{line}"
            if target.split(".")[0] in ("oie", "infra"):
                name = (
                    target if target in LAYER_OF or target in known else target.rpartition(".")[0]
                )
                theirs = LAYERS.index(layer(name))
                if theirs > own:
                    out.append(f"{where}: {layer(module)} {module} imports {layer(name)} {name}")
            elif own <= LAYERS.index("core") and target.startswith(THIRD_PARTY_ADAPTERS):
                out.append(f"{where}: {layer(module)} {module} imports {target}")
    return out


def test_every_module_has_a_layer() -> None:
    for module in modules():
        assert layer(module) in LAYERS


def test_no_import_goes_up_a_layer() -> None:
    assert violations(modules()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..app import App\n", "core oie.pipeline.runner imports composition oie.app"),
        ("import duckdb\n", "core oie.pipeline.runner imports duckdb"),
    ],
)
def test_the_check_catches_an_upward_import(source: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "runner.py"
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import duckdb\n"
    path.write_text(type_only + source)
    found = violations({"oie.pipeline.runner": path})
    assert len(found) == 1 and found[0].endswith(expected)
