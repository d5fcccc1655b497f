"""Offline render: `mpcmix render` against ffmpeg, sox, pydub, a numpy script and the I/O floor.

Every run is a whole process (start-up and imports included, as a user pays them), timed by wall
clock, its peak memory read from the kernel (``ru_maxrss`` of the child, via ``wait4``). Each
writes the same 11 files (10 listener streams, everyone but that party, and the recording) and
makes them durable (fsync), as `mpcmix render` does. Runs alternate peer by peer, round after
round, with dirty pages flushed (``sync``) between runs outside the timing; medians are reported.
Before any time is reported, every peer's outputs are compared with mpcmix's, sample for sample.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .workload import Workload

PEERS_DIR = Path(__file__).parent / "peers"


@dataclass
class Peer:
    """A way to produce the 11 outputs: `argv(workload, out_dir)` runs it, `outputs(out_dir)`
    maps output name -> file. `mixes` is False for the floor (its outputs are not mixes)."""

    name: str
    argv: Callable[[Workload, Path], list[str]]
    outputs: Callable[[Workload, Path], dict[str, Path]]
    mixes: bool = True
    walls: list[float] = field(default_factory=list)
    peaks_kb: list[int] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    max_diff: int | None = None

    @property
    def wall(self) -> float:
        """Median wall time (s)."""
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        """Median CPU time (user + system, all threads and child processes), s."""
        return statistics.median(self.cpus)

    @property
    def peak_mb(self) -> float:
        """Largest peak resident memory over the runs (MB)."""
        return max(self.peaks_kb) / 1024


def _flat(workload: Workload, out: Path) -> dict[str, Path]:
    return {name: out / f"{name}.wav" for name in workload.names}


def _mpcmix_outputs(workload: Workload, out: Path) -> dict[str, Path]:
    found = {f"p{i}": out / "listeners" / f"p{i}.wav" for i in range(len(workload.voices))}
    recordings = sorted((out / "recordings").glob("*.wav"))
    if len(recordings) != 1:
        raise RuntimeError(f"mpcmix wrote {len(recordings)} recordings, expected 1")
    found["recording"] = recordings[0]
    return found


def _script(name: str) -> Callable[[Workload, Path], list[str]]:
    def argv(w: Workload, out: Path) -> list[str]:
        return [sys.executable, str(PEERS_DIR / f"{name}.py"), str(w.folder), str(out), str(len(w.voices))]
    return argv


def mpcmix_argv(w: Workload, out: Path) -> list[str]:
    """`mpcmix render` as a user runs it (the console script of this interpreter's environment)."""
    script = Path(sys.executable).parent / "mpcmix"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mpcmix.cli"]
    return [*cmd, "render", str(w.scenario), "--out", str(out), "--quiet", "--force"]


def ffmpeg_argv(w: Workload, out: Path) -> list[str]:
    """One ffmpeg filter graph: each input split, one ``amix`` (normalize=0: plain sums) per
    output; then ``sync`` on the files (ffmpeg does not fsync)."""
    parties = len(w.voices)
    uses = {i: [] for i in range(parties)}
    mixes = []
    for k, name in enumerate(w.names):
        members = [j for j in range(parties) if j != k]  # the recording (k == parties) takes all
        labels = []
        for j in members:
            label = f"s{j}_{len(uses[j])}"
            uses[j].append(label)
            labels.append(f"[{label}]")
        mixes.append(f"{''.join(labels)}amix=inputs={len(members)}:normalize=0:duration=longest[o_{name}]")
    splits = [f"[{i}:a]asplit={len(uses[i])}{''.join(f'[{u}]' for u in uses[i])}" for i in range(parties)]
    graph = ";".join(splits + mixes)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for v in w.voices:
        cmd += ["-i", str(v)]
    cmd += ["-filter_complex", graph]
    for name in w.names:
        cmd += ["-map", f"[o_{name}]", "-c:a", "pcm_s16le", "-fflags", "+bitexact", str(out / f"{name}.wav")]
    files = " ".join(f"'{out / f'{n}.wav'}'" for n in w.names)
    return ["sh", "-c", f'"$0" "$@" && sync {files}', *cmd]


def sox_argv(w: Workload, out: Path) -> list[str]:
    """``sox -m`` once per output (volume 1 per input: plain sums, no dither), then ``sync``."""
    parties = len(w.voices)
    lines = []
    for k, name in enumerate(w.names):
        inputs = " ".join(f"-v 1 '{w.voices[j]}'" for j in range(parties) if j != k)
        lines.append(f"sox -V1 -D -m {inputs} '{out / f'{name}.wav'}'")
    files = " ".join(f"'{out / f'{n}.wav'}'" for n in w.names)
    return ["sh", "-c", " && ".join(lines) + f" && sync {files}"]


def make_peers(include: tuple[str, ...] = ("mpcmix", "io_floor", "ffmpeg", "sox", "pydub", "numpy")) -> list[Peer]:
    """The peers, mpcmix first (its outputs are the reference)."""
    table = {
        "mpcmix": Peer("mpcmix render", mpcmix_argv, _mpcmix_outputs),
        "io_floor": Peer("I/O floor (soundfile, no mixing)", _script("io_floor"), _flat, mixes=False),
        "ffmpeg": Peer("ffmpeg, one filter graph", ffmpeg_argv, _flat),
        "sox": Peer("sox -m, once per output", sox_argv, _flat),
        "pydub": Peer("pydub overlay chains", _script("pydub_mix"), _flat),
        "numpy": Peer("numpy script (float32, whole files)", _script("numpy_mix"), _flat),
    }
    return [table[name] for name in include if name in table]


#: Runs a command and reports (wall s, peak RSS KB, CPU s, exit code) as JSON in argv[1]. A tiny
#: process of its own: a child's ``ru_maxrss`` counts the memory of the process it was spawned
#: from (Linux records the pre-exec high-water mark), so spawning peers straight from this
#: benchmark (numpy, numba, matplotlib loaded) would report ~90 MB for every one of them.
_LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump([wall, ru.ru_maxrss, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)], f)
"""


def run_process(argv: list[str], log: Path) -> tuple[float, int, float]:
    """Run `argv` to completion: (wall seconds, peak RSS of the child in KB, CPU seconds of it and
    its children), measured by a small launcher process. Raises on failure."""
    report = log.with_suffix(".json")
    with open(log, "wb") as err:
        subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *argv],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, check=False)
    try:
        wall, peak, cpu, code = json.loads(report.read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"{argv[0]} could not be run: {log.read_text(errors='replace')[-2000:]}") from None
    if code != 0:
        raise RuntimeError(f"{argv[0]} failed ({code}): {log.read_text(errors='replace')[-2000:]}")
    return wall, peak, cpu


def compare(reference: dict[str, Path], other: dict[str, Path]) -> int:
    """The largest |difference| between two sets of outputs, sample for sample (lengths must
    match), read in blocks."""
    worst = 0
    for name, path in reference.items():
        with sf.SoundFile(str(path)) as a, sf.SoundFile(str(other[name])) as b:
            if a.frames != b.frames or a.channels != b.channels:
                raise AssertionError(f"{name}: {a.frames} frames vs {b.frames} in {other[name]}")
            while True:
                x = a.read(1 << 18, dtype="int32")
                y = b.read(1 << 18, dtype="int32")
                if not len(x):
                    break
                worst = max(worst, int(np.abs(x - y).max()))
    return worst


def run_offline(workload: Workload, peers: list[Peer], rounds: int, scratch: Path,
                log: Callable[[str], None] = print) -> list[Peer]:
    """Run every peer `rounds` times, alternating; check outputs against mpcmix's in round one."""
    scratch.mkdir(parents=True, exist_ok=True)
    reference: dict[str, Path] | None = None
    keep = scratch / "reference"
    for r in range(rounds):
        order = peers if r % 2 == 0 else [peers[0], *reversed(peers[1:])]
        for peer in order:
            out = scratch / "out"
            shutil.rmtree(out, ignore_errors=True)
            if peer.argv is not mpcmix_argv:
                out.mkdir()
            os.sync()
            wall, peak, cpu = run_process(peer.argv(workload, out), scratch / "stderr.log")
            peer.walls.append(wall)
            peer.peaks_kb.append(peak)
            peer.cpus.append(cpu)
            if r == 0:
                outputs = peer.outputs(workload, out)
                if reference is None:
                    shutil.rmtree(keep, ignore_errors=True)
                    shutil.copytree(out, keep)
                    reference = {k: keep / p.relative_to(out) for k, p in outputs.items()}
                    peer.max_diff = 0
                elif peer.mixes:
                    peer.max_diff = compare(reference, outputs)
                    if peer.max_diff > 1:
                        raise AssertionError(f"{peer.name}: outputs differ from mpcmix's by up to "
                                             f"{peer.max_diff} (more than int16 rounding)")
                else:
                    for name, path in outputs.items():  # the floor: the right files and lengths
                        if sf.info(str(path)).frames != sf.info(str(reference[name])).frames:
                            raise AssertionError(f"{peer.name}: {name} has the wrong length")
            log(f"  round {r + 1}/{rounds}  {peer.name:<40} {wall:6.2f} s  cpu {cpu:6.2f} s  {peak / 1024:7.1f} MB")
        shutil.rmtree(scratch / "out", ignore_errors=True)
    return peers


def render_memory(workload: Workload, scratch: Path, runs: int = 1) -> tuple[float, float]:
    """`mpcmix render` of `workload`: (median wall s, peak MB)."""
    walls, peaks = [], []
    for _ in range(runs):
        out = scratch / "out-long"
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        wall, peak, _ = run_process(mpcmix_argv(workload, out), scratch / "stderr.log")
        walls.append(wall)
        peaks.append(peak)
        shutil.rmtree(out, ignore_errors=True)
    return statistics.median(walls), max(peaks) / 1024


def precompile() -> None:
    """Byte-compile mpcmix's modules, as installing a wheel does (pip compiles at install): an
    editable install run with PYTHONDONTWRITEBYTECODE set (as on this machine) would otherwise
    compile every module of mpcmix at every start, ~0.1 s that no user of an installed package
    pays. numpy, soundfile and the peers' libraries come compiled from their wheels."""
    import compileall

    import mpcmix
    import mpcmix.mixer
    import mpcmix.routing

    for package in (mpcmix, mpcmix.routing, mpcmix.mixer):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def have(tool: str) -> bool:
    """Whether `tool` is on PATH."""
    return shutil.which(tool) is not None


def scratch_dir() -> Path:
    """A temporary folder on the same disk as the system's temp dir."""
    return Path(tempfile.mkdtemp(prefix="mpcmix-bench-"))
