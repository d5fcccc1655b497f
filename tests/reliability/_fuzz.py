"""Running fuzz cases: `mpcmix render` in process or as a subprocess, under a time limit, and the
checks every case must pass.

Every case ends with exit status 0 or 2 (never 3, the CLI's "internal error", never an exception
out of `main`, never a traceback on stderr), within `CASE_SECONDS`, and leaves either a complete
render folder (exit 0) or none (exit 2), with no temporary folder beside it.

`MPCMIX_FUZZ_SCALE` multiplies every fuzz test's number of cases (`make fuzz` sets it); the
counts of cases run are kept in `COUNTS` and printed at the end of the session (conftest.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
from mpcmix.cli import main

#: Multiplies the number of cases of every fuzz test (1 in `make test`).
FUZZ_SCALE = float(os.environ.get("MPCMIX_FUZZ_SCALE", "1"))
#: Wall-clock limit of one case (one or a few renders of a short scenario): more is a hang.
CASE_SECONDS = float(os.environ.get("MPCMIX_FUZZ_CASE_SECONDS", "10"))
#: A subprocess case pays for the interpreter and the imports too.
SUBPROCESS_SECONDS = 60.0

#: Cases run this session, by kind; and the wall time they took.
COUNTS: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()


def examples(n: int) -> int:
    """The number of cases a fuzz test runs: `n` in `make test`, scaled in `make fuzz`."""
    return max(1, round(n * FUZZ_SCALE))


class CaseTimeout(BaseException):
    """A case ran past `CASE_SECONDS`: a hang."""


@contextlib.contextmanager
def time_limit(seconds: float = CASE_SECONDS) -> Iterator[None]:
    """Raise `CaseTimeout` in the main thread if the block runs longer than `seconds`."""

    def _expired(signum, frame):
        raise CaseTimeout(f"the case ran longer than {seconds:g} s (a hang)")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def counted(kind: str) -> Iterator[None]:
    """Count one case of `kind` and its wall time."""
    start = time.perf_counter()
    try:
        yield
    finally:
        COUNTS[kind] += 1
        SECONDS[kind] += time.perf_counter() - start


def scratch_root(tmp_path_factory) -> Path:
    """Where cases write: a tmpfs when there is one (a render fsyncs every file, and thousands
    of fsyncs on a disk would cost more than the renders), else pytest's temporary folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="mpcmix-fuzz-", dir=shm))
    return tmp_path_factory.mktemp("fuzz")


@contextlib.contextmanager
def case_dir(root: Path) -> Iterator[Path]:
    """A fresh folder for one case, removed afterwards. Cases sit two levels below `root`, so a
    scenario there reaches `root/audio` as ``../../audio``."""
    (root / "cases").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=root / "cases"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_in_process(*args: str) -> tuple[int, str, str]:
    """`mpcmix ARGS` in this process under the time limit: (exit status, stdout, stderr).

    With MPCMIX_TRACEBACK set, an internal error (exit 3) escapes `main` as the exception itself,
    so a failing case shows where the bug is.
    """
    out, err = io.StringIO(), io.StringIO()
    previous = os.environ.get("MPCMIX_TRACEBACK")
    os.environ["MPCMIX_TRACEBACK"] = "1"
    try:
        with time_limit(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse refusing the arguments
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        if previous is None:
            del os.environ["MPCMIX_TRACEBACK"]
        else:
            os.environ["MPCMIX_TRACEBACK"] = previous
    return code, out.getvalue(), err.getvalue()


def run_subprocess(*args: str) -> tuple[int, str, str]:
    """``python -m mpcmix.cli ARGS`` as a real process: (exit status, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", "mpcmix.cli", *args], capture_output=True,
                            text=True, timeout=SUBPROCESS_SECONDS, check=False)
    return result.returncode, result.stdout, result.stderr


def check_outcome(code: int, stderr: str, out: Path) -> dict[str, np.ndarray]:
    """The promises of every render: exit 0 with a complete folder, or exit 2 with a message
    and no folder; never a traceback; no temporary folder left beside `out`. Returns the
    listener streams (empty after an exit 2)."""
    assert "Traceback" not in stderr, stderr
    assert code in (0, 2), f"exit status {code} (3 is an internal error: a bug): {stderr}"
    leftovers = sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))
    assert not leftovers, f"left beside the output folder: {leftovers}"
    if code == 2:
        assert not out.exists(), "a refused render left its output folder"
        assert any(line.startswith("mpcmix: error: ") for line in stderr.splitlines()), stderr
        return {}
    return check_complete(out)


def check_complete(out: Path) -> dict[str, np.ndarray]:
    """A complete render folder: every JSON file parses, every audio file reads, and all
    listener streams have the same length. Returns the listener streams by name."""
    doc = json.loads((out / "mpc.json").read_text(encoding="utf-8"))
    assert set(doc) == {"mpc", "participants"}
    for name in ("events.jsonl", "responses.jsonl"):
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            json.loads(line)
    for path in (out / "mpcs").glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    json.loads((out / "scenario.json").read_text(encoding="utf-8"))
    streams = {}
    for path in sorted((out / "listeners").glob("*.wav")):
        streams[path.stem], _ = sf.read(path, dtype="int16")
    lengths = {name: len(x) for name, x in streams.items()}
    assert len(set(lengths.values())) <= 1, f"listener streams differ in length: {lengths}"
    for path in (out / "recordings").iterdir():
        with sf.SoundFile(path) as f:
            f.read(dtype="int16")
    return streams


def folder_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a folder by its relative path: for comparing two renders byte for byte."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
