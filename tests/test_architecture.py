"""The package's shape: no import cycle, no arrow up the layers, no private name shared across
modules, no module over 450 lines.

The import graph is read with :mod:`ast` from ``src/lulcmap``: every ``import`` and
``from ... import``, also inside functions and under ``TYPE_CHECKING`` (relative imports resolved).
An import of ``a.b.c`` is an edge to ``a.b.c`` and, because Python runs a package's
``__init__`` before any of its modules, to each package above it (``a.b``) whose ``__init__``
imports something of the package and that is not also a package of the importer (a module's own
packages are already being imported when it runs; an ``__init__`` that imports nothing adds no
dependency).

The root package ``lulcmap`` is the exception: Python runs ``lulcmap/__init__.py`` before every
submodule, but at run time it imports only :mod:`lulcmap.version` (its re-exports are loaded on
first use, PEP 562; its ``TYPE_CHECKING`` imports are still edges), so the implicit edge from
each submodule to the root is left out and the root sits on top of every layer, as the public
facade. A submodule that imports the root itself (``from lulcmap import __version__``)
therefore imports upward and makes a cycle, which is what the checks report.

The checks are plain functions over a package folder, so the tests at the bottom run them on a
tiny fake package with one fault each and prove that each can fail.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lulcmap"
MAX_LINES = 450

LAYERS: tuple[tuple[str, ...], ...] = (
    # L0 values: errors, version, legends, grids, validated configs, names of the compat layout
    ("errors", "version", "resources", "process", "data", "grid", "legend", "terrain", "config",
     "compat.layout"),
    # L1 pure planning and descriptions: chip plans, exact means, model cards and networks
    ("chips", "zonal", "model"),
    # L2 reading and writing: rasters and scenes, the chip stream, the chip-dataset format
    ("io", "stream", "chipdata"),
    # L3 engines on what is read: ancillary means, batched inference (chips, pixels), the synthetic
    # world
    ("ancillary", "inference", "pixels", "synthetic"),
    # L4 the original workflow's chip folders; evaluation of a model on a chip dataset
    ("compat", "evaluation"),
    # L5 prepare and train (train evaluates what it trains)
    ("training",),
    # L6 the table of commands (predict's scene-to-dataset steps among them) and the YAML runner
    ("commands",),
    # L7 the command line, and the shipped test kit (which drives it)
    ("cli", "testing"),
)  # fmt: skip
"""Layers, lowest first, by module name under ``lulcmap`` (a name covers its package; the
longest name that matches wins, so ``compat.layout`` sits below ``compat``). A module may import
its own layer and the layers below; the root ``lulcmap`` is above them all. Derived from the code:
each layer holds what imports only the layers below it, so the order is as strict as it is."""


@dataclass(frozen=True)
class Import:
    """One ``import`` statement's target inside the package."""

    importer: str
    module: str
    names: tuple[str, ...]
    line: int


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the package in folder ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(path):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(root: Path) -> list[Import]:
    """Every import of a module of the package by a module of the package."""
    modules = module_names(root)
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == root.name:
                        found.append(Import(name, alias.name, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, path, node)
                if target.split(".")[0] != root.name:
                    continue
                for alias in node.names:  # `from pkg import module` imports the module
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        found.append(Import(name, sub, (), node.lineno))
                    else:
                        found.append(Import(name, target, (alias.name,), node.lineno))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it makes Python import (see the module docstring for the rules)."""
    modules = module_names(root)
    found = imports(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in found:
        target = imp.module
        while target not in modules and "." in target:  # `import a.b.missing` -> a.b
            target = target.rsplit(".", 1)[0]
        graph[imp.importer].add(target)
    importing = {name for name, targets in graph.items() if targets - {name}}
    for name in list(graph):
        own = _packages(name, modules)
        for target in list(graph[name]):
            for package in _packages(target, modules):
                if package in importing and package not in {root.name, target, *own}:
                    graph[name].add(package)
    for name in graph:
        graph[name].discard(name)
    return graph


def _packages(name: str, modules: Mapping[str, Path]) -> list[str]:
    parts = name.split(".")
    return [
        ".".join(parts[:i])
        for i in range(1, len(parts) + 1)
        if ".".join(parts[:i]) in modules and _is_package(modules[".".join(parts[:i])])
    ]


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layer_of(module: str, layers: Sequence[Sequence[str]], root: str) -> int:
    """The index of the layer that names ``module`` (its longest named prefix); the root
    package is above every layer."""
    if module == root:
        return len(layers)
    best, depth = -1, 0
    parts = module.split(".")[1:]
    for level, names in enumerate(layers):
        for entry in names:
            size = len(entry.split("."))
            if parts[:size] == entry.split(".") and size > depth:
                best, depth = level, size
    return best


def unplaced(
    graph: Mapping[str, Iterable[str]], layers: Sequence[Sequence[str]], root: str
) -> list[str]:
    """Modules no layer names."""
    return sorted(m for m in graph if layer_of(m, layers, root) < 0)


def upward_imports(
    graph: Mapping[str, Iterable[str]], layers: Sequence[Sequence[str]], root: str
) -> list[str]:
    """``importer (Ln) -> imported (Lm)`` for every import of a higher layer (m > n)."""
    out = []
    for importer, targets in sorted(graph.items()):
        low = layer_of(importer, layers, root)
        for target in sorted(targets):
            high = layer_of(target, layers, root)
            if high > low >= 0:
                out.append(f"{importer} (L{low}) -> {target} (L{high})")
    return out


def private_imports(root: Path) -> list[str]:
    """``importer:line imports module._name`` for every private name taken from another
    module, and every private module imported from outside the package that holds it."""
    out = []
    for imp in imports(root):
        for name in imp.names:
            if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                out.append(f"{imp.importer}:{imp.line} imports {imp.module}.{name}")
        parts = imp.module.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and part != "__init__":
                package = ".".join(parts[:i])
                if imp.importer != package and not imp.importer.startswith(package + "."):
                    out.append(f"{imp.importer}:{imp.line} imports private module {imp.module}")
    return out


def long_modules(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``module: N lines`` for every module over ``limit`` lines."""
    out = []
    for name, path in module_names(root).items():
        n = len(path.read_text("utf-8").splitlines())
        if n > limit:
            out.append(f"{name}: {n} lines (limit {limit})")
    return out


# -- the package ---------------------------------------------------------------------------------
def test_no_import_cycle() -> None:
    found = cycles(import_graph(SRC))
    assert not found, "import cycles (strongly connected components): " + "; ".join(
        " <-> ".join(c) for c in found
    )


def test_every_module_has_a_layer() -> None:
    missing = unplaced(import_graph(SRC), LAYERS, SRC.name)
    assert not missing, f"modules no layer names: {missing}; add them to LAYERS"


def test_no_lower_layer_imports_a_higher_one() -> None:
    found = upward_imports(import_graph(SRC), LAYERS, SRC.name)
    assert not found, "imports up the layers:\n" + "\n".join(found)


def test_no_private_name_imported_across_modules() -> None:
    found = private_imports(SRC)
    assert not found, "private names imported from another module:\n" + "\n".join(found)


def test_no_module_over_the_size_limit() -> None:
    found = long_modules(SRC)
    assert not found, "modules over the size limit:\n" + "\n".join(found)


def test_io_grid_legend_model_are_below_the_commands() -> None:
    """The floor the issue asks for, whatever else LAYERS says."""
    commands = min(layer_of(f"lulcmap.{m}", LAYERS, "lulcmap") for m in ("commands", "cli"))
    for name in ("io", "chips", "grid", "legend", "model"):
        assert layer_of(f"lulcmap.{name}", LAYERS, "lulcmap") < commands, name


# -- the checker, on a fake package with one fault of each kind ------------------------------------
def _package(root: Path, files: Mapping[str, str]) -> Path:
    pkg = root / "fake"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return pkg


FAKE_LAYERS = (("low",), ("mid",), ("high",))


def test_checker_passes_a_clean_package(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from fake.high import run\n",
            "low.py": "X = 1\n",
            "mid/__init__.py": "from fake.mid.core import y\n",
            "mid/core.py": "from ..low import X\ny = X\n",
            "mid/_helpers.py": "z = 2\n",
            "mid/user.py": "from fake.mid._helpers import z\nfrom fake.mid import core\n",
            "high.py": "import fake.mid.core\n\ndef run():\n    from fake import low\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["fake.mid.core"] == {"fake.low"}
    assert graph["fake.high"] == {"fake.mid", "fake.mid.core", "fake.low"}
    assert graph["fake.mid.user"] == {"fake.mid._helpers", "fake.mid.core"}
    assert graph["fake"] == {"fake.high"}
    assert cycles(graph) == []
    assert upward_imports(graph, FAKE_LAYERS, "fake") == []
    assert unplaced(graph, FAKE_LAYERS, "fake") == []
    assert private_imports(pkg) == []
    assert long_modules(pkg, limit=5) == []


def test_checker_finds_a_cycle_through_a_function_import(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "def f():\n    from fake.mid import g\n",
            "mid.py": "from .low import f\ng = 1\n",
            "high.py": "",
        },
    )
    assert cycles(import_graph(pkg)) == [["fake.low", "fake.mid"]]


def test_checker_finds_a_cycle_through_the_root(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from fake.high import run\n__version__ = '1'\n",
            "low.py": "",
            "mid.py": "",
            "high.py": "from fake import __version__\n",
        },
    )
    graph = import_graph(pkg)
    assert cycles(graph) == [["fake", "fake.high"]]
    assert upward_imports(graph, FAKE_LAYERS, "fake") == ["fake.high (L2) -> fake (L3)"]


def test_checker_finds_a_cycle_through_a_package_init(tmp_path: Path) -> None:
    """``mid/__init__`` importing ``mid.a``, which imports ``high``, which imports ``mid.b``:
    importing ``mid.b`` runs ``mid/__init__`` first, so this is a cycle."""
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "",
            "mid/__init__.py": "from fake.mid.a import x\n",
            "mid/a.py": "from fake.high import y\nx = 1\n",
            "mid/b.py": "z = 1\n",
            "high.py": "from fake.mid.b import z\ny = 1\n",
        },
    )
    assert cycles(import_graph(pkg)) == [["fake.high", "fake.mid", "fake.mid.a"]]


def test_checker_skips_a_package_init_that_imports_nothing(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "from fake.high.names import N\n",
            "mid.py": "",
            "high/__init__.py": '"""Nothing imported here."""\n',
            "high/names.py": "N = 1\n",
        },
    )
    layers = (("low", "high.names"), ("mid",), ("high",))
    graph = import_graph(pkg)
    assert graph["fake.low"] == {"fake.high.names"}
    assert upward_imports(graph, layers, "fake") == []
    (pkg / "high" / "__init__.py").write_text("from fake.mid import x\n", "utf-8")
    graph = import_graph(pkg)
    assert graph["fake.low"] == {"fake.high.names", "fake.high"}
    assert upward_imports(graph, layers, "fake") == ["fake.low (L0) -> fake.high (L2)"]


def test_checker_finds_an_upward_import(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from fake.high import run\n",
            "mid.py": "",
            "high.py": "def run():\n    pass\n",
        },
    )
    found = upward_imports(import_graph(pkg), FAKE_LAYERS, "fake")
    assert found == ["fake.low (L0) -> fake.high (L2)"]


def test_checker_finds_a_module_no_layer_names(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"__init__.py": "", "low.py": "", "stray.py": ""})
    assert unplaced(import_graph(pkg), FAKE_LAYERS, "fake") == ["fake.stray"]


def test_checker_finds_private_imports(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "_SECRET = 1\n__all__ = []\n",
            "mid/__init__.py": "",
            "mid/_impl.py": "x = 1\n",
            "high.py": "from fake.low import _SECRET, __all__\nfrom .mid._impl import x\n",
        },
    )
    assert private_imports(pkg) == [
        "fake.high:1 imports fake.low._SECRET",
        "fake.high:2 imports private module fake.mid._impl",
    ]


def test_checker_finds_a_long_module(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"__init__.py": "", "low.py": "x = 1\n" * 6, "mid.py": "x = 1\n"})
    assert long_modules(pkg, limit=5) == ["fake.low: 6 lines (limit 5)"]


@pytest.mark.parametrize("text", ["import fake.low as l\n", "from fake import low\n"])
def test_checker_reads_both_import_forms(tmp_path: Path, text: str) -> None:
    pkg = _package(tmp_path, {"__init__.py": "", "low.py": "", "mid.py": text})
    assert import_graph(pkg)["fake.mid"] == {"fake.low"}


def test_every_layer_entry_names_a_module() -> None:
    modules = module_names(SRC)
    stale = [n for layer in LAYERS for n in layer if f"{SRC.name}.{n}" not in modules]
    assert not stale, f"LAYERS names modules that do not exist: {stale}; remove them"


def test_layers_name_each_module_once() -> None:
    names = [n for layer in LAYERS for n in layer]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(re.fullmatch(r"[a-z_][a-z0-9_.]*", n) for n in names)
