"""Restructuring changes no byte: renders of fixed scenarios against digests recorded before.

Each render's files are hashed (SHA-256) and compared with `digests.json`: audio (listener
streams and recordings) must never change unless the mixing itself is meant to; the JSON files
(events, MPC objects, responses) change only with a deliberate change of the API's wire format,
and then the digests are recorded again, in the same commit, with

    MPCMIX_GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/golden

`scenario.json` holds absolute paths and is left out.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from mpcmix.scenario import render_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DIGESTS = HERE / "digests.json"
AUDIO = (".wav", ".mp3")


def _benchmark_call(tmp: Path) -> Path:
    from benchmarks.workload import make_workload

    return make_workload(tmp / "bench", parties=10, duration_s=20).scenario


CASES = {
    "coaching": lambda tmp: ROOT / "fixtures" / "scenarios" / "coaching.yaml",
    "rich": lambda tmp: HERE / "rich.yaml",
    "benchmark-10x20s": _benchmark_call,
}


def _digests(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "scenario.json":
            out[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize(("case", "subtype"), [
    (case, subtype) for case in sorted(CASES) for subtype in ("PCM_16", "FLOAT")
    if (case, subtype) != ("rich", "FLOAT")  # MP3 recordings: PCM_16 only, before this change
])
def test_a_render_writes_the_bytes_recorded_before(case, subtype, tmp_path):
    scenario = CASES[case](tmp_path)
    render_scenario(scenario, tmp_path / "out", subtype=subtype)
    found = _digests(tmp_path / "out")
    key = f"{case}/{subtype}"
    recorded = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    if os.environ.get("MPCMIX_GOLDEN_UPDATE"):
        recorded[key] = found
        DIGESTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        return
    expected = recorded[key]
    audio = {k: v for k, v in expected.items() if k.endswith(AUDIO)}
    assert {k: v for k, v in found.items() if k.endswith(AUDIO)} == audio, "audio bytes changed"
    assert found == expected, "JSON files changed (a wire-format change records new digests)"
