"""Crash safety (docs/scenarios.md): a render killed at any moment (`kill -9`) leaves its output folder
either absent or complete, never partial; the next render of the same folder removes what the
killed one left beside it (`.NAME.<pid>.<random>.partial`, `.NAME.old-<pid>`).

These renders go to pytest's temporary folder on disk, where fsync is real.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mpcmix.scenario.folder import MARKER_TEXT, RENDER_MARKER

from ..audio_checks import FIXTURES
from ._fuzz import SUBPROCESS_SECONDS, check_complete, check_outcome, examples, run_in_process

VOICES = FIXTURES / "voices"


def _long_scenario(tmp_path: Path) -> Path:
    """A minute of a five-party call at 16 kHz with recordings: about two seconds of work, so
    that kills land while rendering, fsyncing and renaming."""
    lines = {f"+10{i}": {"audio": str(VOICES / f"{v}.wav")}
             for i, v in enumerate(["customer", "agent", "supervisor", "customer", "agent"])}
    events = [{"at": 0, "op": "add_participant", "as": name, "role": role, "from": "+1",
               "to": f"+10{i}", "stay_alone": True}
              for i, (name, role) in enumerate([("c1", "customer"), ("a1", "agent"),
                                                ("boss", "supervisor"), ("c2", "customer"),
                                                ("a2", "agent")])]
    events += [
        {"at": 0.5, "op": "start_recording", "file_format": "wav"},
        {"at": 1, "op": "start_participant_recording", "member": "a1", "file_format": "mp3",
         "record_track_type": "both"},
        {"at": 20, "op": "update_participant", "member": "c2", "hold": True},
        {"at": 40, "op": "update_participant", "member": "c2", "hold": False},
        {"at": 60, "op": "end"},
    ]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"mpc": "long", "sample_rate": 16000, "lines": lines,
                                "events": events}))
    return path


def _start(scenario: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mpcmix.cli", "render", str(scenario), "--out",
                             str(out), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _absent_or_complete(out: Path, context: str) -> str:
    if not out.exists():
        return "absent"
    try:
        check_complete(out)
        for path in out.rglob("*.json"):
            json.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # a partial folder: say when the kill came
        raise AssertionError(f"{context}: {out} is incomplete: {exc!r}") from exc
    return "complete"


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_the_folder_absent_or_complete(tmp_path):
    scenario = _long_scenario(tmp_path)
    out = tmp_path / "out"
    started = time.monotonic()
    code = _start(scenario, out).wait(timeout=SUBPROCESS_SECONDS)
    full = time.monotonic() - started
    assert code == 0
    reference = check_complete(out)
    seed = random.randrange(2**32)
    rnd = random.Random(seed)
    outcomes = []
    # Two kills over a complete render (which the new one replaces), then two into a fresh
    # folder, times MPCMIX_FUZZ_SCALE; moments spread over the whole run, its second half
    # (fsync, rename) weighted up.
    for replace in [True, True, False, False] * examples(1):
        if replace and not out.exists():
            assert run_in_process("render", str(scenario), "--out", str(out), "-q")[0] == 0
        if not replace and out.exists():
            shutil.rmtree(out)
        delay = full * (rnd.uniform(0.5, 0.95) if rnd.random() < 0.5 else rnd.uniform(0, 1))
        proc = _start(scenario, out)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=SUBPROCESS_SECONDS)  # reaped: its pid is gone, as after a crash
        context = f"kill after {delay:.2f} s of a {full:.2f} s render (seed {seed})"
        state = _absent_or_complete(out, context)
        left = _leftovers(out)
        if replace and state == "absent":  # killed between its two renames
            assert any(".old-" in name for name in left), f"{context}: the previous render is lost"
        outcomes.append((round(delay, 2), proc.returncode, state, left))
    # The next render cleans up after the killed ones and is whole.
    code, _stdout, stderr = run_in_process("render", str(scenario), "--out", str(out), "-q")
    assert check_outcome(code, stderr, out).keys() == reference.keys(), outcomes
    assert _leftovers(out) == [], outcomes


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _scenario(tmp_path: Path, *, end: float = 0.5) -> Path:
    path = tmp_path / "short.json"
    path.write_text(json.dumps({"mpc": "short", "sample_rate": 8000, "lines": {
        "+1": {"audio": str(VOICES / "customer.wav")}}, "events": [
        {"at": 0, "op": "add_participant", "as": "c", "role": "customer", "from": "+0",
         "to": "+1"},
        {"at": end, "op": "end"}]}))
    return path


def test_the_next_render_removes_stale_partials_and_keeps_live_ones(tmp_path):
    out = tmp_path / "out"
    dead, live = _dead_pid(), subprocess.Popen(["sleep", "30"])
    try:
        stale = tmp_path / f".out.{dead}.abc123_x.partial"
        running = tmp_path / f".out.{live.pid}.def456.partial"
        other = tmp_path / f".other.{dead}.abc123.partial"
        not_ours = tmp_path / f".out.{dead}.partial-notes"
        lookalike = tmp_path / f".out.{dead}.zzz9.partial"  # named like one, not a render's
        for folder in (stale, running, other, not_ours, lookalike):
            (folder / "listeners").mkdir(parents=True)
        for folder in (stale, running, other):  # a render's folders hold the marker at once
            (folder / RENDER_MARKER).write_text(MARKER_TEXT)
        code, _stdout, stderr = run_in_process("render", str(_scenario(tmp_path)), "--out",
                                               str(out), "-q")
        assert code == 0, stderr
        assert not stale.exists()
        assert running.exists() and other.exists() and not_ours.exists()
        assert (lookalike / "listeners").is_dir()  # never removed: it has no marker
    finally:
        live.kill()
        live.wait()


def test_a_render_killed_between_its_renames_gets_its_previous_render_back(tmp_path):
    out = tmp_path / "out"
    scenario = _scenario(tmp_path)
    assert run_in_process("render", str(scenario), "--out", str(out), "-q")[0] == 0
    before = (out / "mpc.json").read_bytes()
    dead = _dead_pid()
    out.rename(tmp_path / f".out.old-{dead}")  # moved aside, then killed before the new one
    (tmp_path / f".out.{dead}.zzz.partial").mkdir()  # came into place
    broken = tmp_path / "broken.json"  # an error found while rendering
    broken.write_text(json.dumps({"mpc": "x", "events": [
        {"at": 0, "op": "kick_participant", "member": "nobody"}]}))
    code, _stdout, stderr = run_in_process("render", str(broken), "--out", str(out), "-q")
    assert code == 2, stderr  # the render is refused, and yet the folder is whole again
    assert (out / "mpc.json").read_bytes() == before
    assert _leftovers(out) == []
