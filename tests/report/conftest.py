"""Fixtures of the report tests: the bundled coaching scenario rendered once with --report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._support import COACHING, ROOT


@pytest.fixture(scope="session")
def coaching_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mpcmix render fixtures/scenarios/coaching.yaml --out DIR --report`: DIR."""
    out = tmp_path_factory.mktemp("coaching") / "out"
    result = subprocess.run([sys.executable, "-m", "mpcmix.cli", "render",
                             str(COACHING.relative_to(ROOT)), "--out", str(out), "--report"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"report     {out / 'report.html'}" in result.stdout
    return out
