"""The one-way data flow of docs/design.md, checked on the source.

routing imports nothing of ours; mixer at most routing; inside mpc/ (installed as `mpcmix`) each
package imports only from the packages below it: faces -> analysis, server -> scenario -> engine
-> model, media -> routing, mixer; and no module imports another in a circle, directly or not.
Every import counts, at the top of a module or inside a function.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Where each folder installs (pyproject.toml's package-dir).
INSTALLED = {"mpc": "mpcmix", "routing": "mpcmix.routing", "mixer": "mpcmix.mixer"}

#: The layers, lowest first: a package may import from its own layer's packages only itself,
#: and from every layer below.
LAYERS = [
    {"mpcmix.routing"},
    {"mpcmix.mixer"},
    {"mpcmix.errors"},
    {"mpcmix.model", "mpcmix.media", "mpcmix.live"},
    {"mpcmix.engine"},
    {"mpcmix.scenario"},
    {"mpcmix.analysis", "mpcmix.server"},
    {"mpcmix.batch"},
    {"mpcmix.api", "mpcmix.cli", "mpcmix.pytest_plugin", "mpcmix.testing"},
]
#: The faces (the Python API, the CLI, the pytest plugin and its helpers) are one package: they
#: may use each other.
FACES = LAYERS[-1]


def _modules() -> dict[str, pathlib.Path]:
    """Every module of ours by its installed name."""
    out = {}
    for folder, name in INSTALLED.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([name, *parts])] = path
    return out


def _imports(module: str, path: pathlib.Path) -> set[str]:
    """The modules of ours `module` imports (resolved, relative imports included)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from package import module` depends on the module; `from x import name` on x.
            submodules = [f"{target}.{a.name}" for a in node.names
                          if f"{target}.{a.name}" in _ALL_NAMES]
            targets = submodules if len(submodules) == len(node.names) else [target, *submodules]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for name in targets:
            head = name.split(".")[0]
            if head == "mpcmix" or head in INSTALLED:
                found.add(name)
    return found


_ALL_NAMES: set[str] = set()
MODULES = _modules()
_ALL_NAMES.update(MODULES)
GRAPH = {m: {t for t in _imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}
RAW = {m: _imports(m, p) for m, p in MODULES.items()}


def _package(module: str) -> str:
    """The layer package a module belongs to."""
    if module in FACES:
        return "faces"
    for layer in LAYERS:
        for package in layer:
            if module == package or module.startswith(package + "."):
                return package
    return module


def _rank(module: str) -> int | None:
    if module in FACES:
        return len(LAYERS) - 1
    package = _package(module)
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    return None


def test_routing_imports_nothing_of_ours():
    assert {t for m, ts in RAW.items() if m.startswith("mpcmix.routing") for t in ts
            if not t.startswith("mpcmix.routing")} == set()


def test_mixer_imports_at_most_routing():
    bad = {t for m, ts in RAW.items() if m.startswith("mpcmix.mixer") for t in ts
           if not t.startswith(("mpcmix.mixer", "mpcmix.routing"))}
    assert bad == set()


@pytest.mark.parametrize("package", ["routing", "mixer", "mpc"])
def test_no_top_level_imports_of_our_folders(package):
    bad = {t for m, ts in RAW.items() if m.startswith(INSTALLED[package]) for t in ts
           if t.split(".")[0] in INSTALLED}
    assert bad == set()


def test_every_module_of_mpc_belongs_to_a_layer():
    unplaced = [m for m in MODULES if m != "mpcmix" and _rank(m) is None]
    assert unplaced == []


def test_each_package_imports_only_from_the_layers_below_it():
    upward = []
    for module, targets in GRAPH.items():
        rank = _rank(module)
        if rank is None:
            continue  # mpcmix itself: its names are loaded lazily, by name
        for target in targets:
            if target == "mpcmix":
                continue  # __version__
            if _package(target) != _package(module) and (_rank(target) or 0) >= rank:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_module_imports_another_in_a_circle():
    # Tarjan's strongly connected components over the import graph (parent packages are not
    # implied: `import a.b` runs a/__init__, but that is Python's order, not a dependency).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(GRAPH[node]):
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
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_importing_routing_pulls_in_neither_numpy_nor_the_mixer():
    code = (
        "import sys, mpcmix.routing; "
        "bad = [m for m in ('numpy', 'mpcmix.mixer', 'mpcmix.model', 'fastapi') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_type_checker_sees_every_module():
    # mypy reads the package through typecheck/mpcmix (links to mpc/'s entries, mixer/, routing/)
    links = ROOT / "typecheck" / "mpcmix"
    expected = {p.name for p in (ROOT / "mpc").iterdir() if p.name != "__pycache__"}
    linked = {p.name for p in links.iterdir()} - {"mixer", "routing"}
    assert linked == expected
    assert all((links / name).resolve() == (ROOT / "mpc" / name).resolve() for name in expected)
    assert (links / "mixer").resolve() == ROOT / "mixer"
