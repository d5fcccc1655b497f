"""Renders that must be refused: each ends with exit status 2 and a message naming the problem,
and nothing is written or deleted (docs/reliability.md, Rendering).

Real processes (`python -m mpcmix.cli`): a FIFO would block an in-process render for good.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest
from mpcmix.scenario.folder import MARKER_TEXT, RENDER_MARKER
from mpcmix.scenario.load import MAX_PARTICIPANTS

from ..audio_checks import FIXTURES
from ._fuzz import SUBPROCESS_SECONDS, run_subprocess

VOICE = str(FIXTURES / "voices" / "customer.wav")


def scenario(tmp_path: Path, voice: str = VOICE, *, adds: int = 2, name: str = "s.json") -> Path:
    lines = {"+1001": {"audio": voice}, "+1002": {"audio": VOICE}}
    events = [{"at": 0, "op": "add_participant", "as": f"p{i}", "role": "agent" if i else "customer",
               "from": "+1", "to": "+1001" if i == 0 else "+1002",
               **({"friendly_name": f"m{i // 10}"} if adds > 10 else {})}
              for i in range(adds)]
    events.append({"at": 1, "op": "end"})
    path = tmp_path / name
    path.write_text(json.dumps({"mpc": "m0" if adds > 10 else "m", "lines": lines,
                                "events": events}))
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (the folder itself included in the names), with its bytes."""
    return {str(p.relative_to(folder.parent)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*")) if not p.is_fifo()}


def refused(code: int, stderr: str, *words: str) -> None:
    assert code == 2, (code, stderr)
    assert "Traceback" not in stderr and stderr.startswith("mpcmix: error: "), stderr
    for word in words:
        assert word in stderr, (word, stderr)


def test_a_fifo_as_a_voice_is_refused_naming_it_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "voice.wav"
    os.mkfifo(fifo)
    code, _out, err = run_subprocess("render", str(scenario(tmp_path, str(fifo))), "--out",
                                     str(tmp_path / "out"))  # a read would block: the timeout
    refused(code, err, str(fifo), "regular file")
    assert not (tmp_path / "out").exists()


def test_a_fifo_or_a_folder_as_the_scenario_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        code, _out, err = run_subprocess("render", str(path), "--out", str(tmp_path / "out"))
        refused(code, err, str(path), "regular file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("voice", ["file:///tmp/ag%00ent.wav", "file://%00", "file:///tmp/a%00b/../x.wav"])
def test_a_nul_in_a_voice_is_refused_naming_it(tmp_path: Path, voice: str) -> None:
    code, _out, err = run_subprocess("render", str(scenario(tmp_path, voice)), "--out",
                                     str(tmp_path / "out"))
    refused(code, err, "+1001")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_render_did_not_write_is_never_deleted(tmp_path: Path, force: bool) -> None:
    """A folder holding an `mpc.json` (as a render's does), other files and folders: kept whole,
    with or without --force; through DIR/.. too."""
    folder = tmp_path / "mine"
    (folder / "notes").mkdir(parents=True)
    (folder / "mpc.json").write_text('{"mine": true}')
    (folder / "notes" / "todo.txt").write_text("keep me")
    (folder / "listeners").mkdir()
    before = tree(folder)
    flags = ["--force"] if force else []
    for out in (folder, folder / "notes" / "..", folder / "listeners" / ".."):
        code, _out, err = run_subprocess("render", str(scenario(tmp_path)), "--out", str(out),
                                         *flags)
        refused(code, err, str(folder), RENDER_MARKER)
        assert tree(folder) == before
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mine.")] == []


def test_the_root_and_a_symbolic_link_are_never_render_folders(tmp_path: Path) -> None:
    code, _out, err = run_subprocess("render", str(scenario(tmp_path)), "--out", "/", "--force")
    refused(code, err, "root")
    render = tmp_path / "render"
    assert run_subprocess("render", str(scenario(tmp_path)), "--out", str(render))[0] == 0
    link = tmp_path / "link"
    link.symlink_to(render)
    code, _out, err = run_subprocess("render", str(scenario(tmp_path)), "--out", str(link))
    refused(code, err, "symbolic link")
    assert link.is_symlink() and (render / RENDER_MARKER).read_text() == MARKER_TEXT


def test_a_previous_render_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_subprocess("render", str(scenario(tmp_path)), "--out", str(out))[0] == 0
    assert (out / RENDER_MARKER).read_text() == MARKER_TEXT
    assert run_subprocess("render", str(scenario(tmp_path)), "--out", str(out))[0] == 0


def test_more_participants_than_a_scenario_takes_are_refused_before_rendering(
        tmp_path: Path) -> None:
    path = scenario(tmp_path, adds=MAX_PARTICIPANTS + 1)
    code, _out, err = run_subprocess("render", str(path), "--out", str(tmp_path / "out"))
    refused(code, err, f"at most {MAX_PARTICIPANTS} participants")
    assert not (tmp_path / "out").exists()


def test_participants_beyond_the_open_file_limit_are_refused_before_rendering(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    path = scenario(tmp_path, adds=300)

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    result = subprocess.run([sys.executable, "-m", "mpcmix.cli", "render", str(path), "--out",
                             str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=SUBPROCESS_SECONDS, preexec_fn=limit_files, check=False)
    refused(result.returncode, result.stderr, "300 participants", "open files", "ulimit")
    assert not (tmp_path / "out").exists()
