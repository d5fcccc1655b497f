"""The one-way data flow of docs/design.md, checked on the source: routing imports nothing of ours,
mixer imports at most routing, and nothing imports mpc."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _our_imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "mpcmix":
                    found.add(".".join(parts[:2]) if len(parts) > 1 else "mpcmix")
                elif parts[0] in ("routing", "mixer", "mpc"):
                    found.add(f"top-level {parts[0]}")
    return found


def test_routing_imports_nothing_of_ours():
    assert _our_imports("routing") == set()


def test_mixer_imports_at_most_routing():
    assert _our_imports("mixer") <= {"mpcmix.routing"}


@pytest.mark.parametrize("package", ["routing", "mixer"])
def test_no_top_level_imports_of_our_folders(package):
    assert not any(name.startswith("top-level") for name in _our_imports(package))


def test_importing_routing_pulls_in_neither_numpy_nor_the_mixer():
    code = (
        "import sys, mpcmix.routing; "
        "bad = [m for m in ('numpy', 'mpcmix.mixer', 'mpcmix.model', 'fastapi') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
