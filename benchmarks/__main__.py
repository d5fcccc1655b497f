"""``python -m benchmarks`` (``make bench``): every benchmark, one table, docs/performance.md and
docs/performance.png.

1. Offline render of a 10-party call (16 kHz, 11 outputs) by `mpcmix render` and its peers, whole
   processes, alternating, medians; again at ordinary speech levels (against the I/O floor and
   ffmpeg); mpcmix's peak memory for a long call against a short one.
2. Live capacity: participants one core mixes in real time (16 kHz, 20 ms ticks, 10-party calls)
   by LiveMixer and its peers; tick latency at 100 and 1,000 calls.
3. Scaling: cost per participant by call size and by number of calls.
4. What `mpcmix render --report` adds to the bundled coaching scenario.

``--quick`` runs a tiny version of everything (the smoke test's), writing nowhere unless
``--out`` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from . import live, offline, report_cost
from .report import Results, render_markdown, render_plot, render_table, update_offline_section
from .workload import make_speech_workload, make_workload

DOCS = Path(__file__).resolve().parent.parent / "docs"


def run(quick: bool = False, rounds: int = 5, minutes: int = 10, long_minutes: int = 60,
        scratch: Path | None = None, log=print, offline_only: bool = False) -> Results:
    """Run every benchmark and return the figures (`quick`: a tiny workload, one round;
    `offline_only`: section 1 alone)."""
    if quick:
        rounds, seconds, long_seconds = 1, 6, 12
    else:
        seconds, long_seconds = minutes * 60, long_minutes * 60
    own_scratch = scratch is None
    scratch = scratch or offline.scratch_dir()
    results = Results(quick=quick, rounds=rounds, machine=_machine())
    try:
        # -- 1. offline ----------------------------------------------------------------------
        log(f"offline: 10 parties x {seconds} s at 16 kHz, {rounds} round(s)")
        offline.precompile()
        work = make_workload(scratch / "call", duration_s=seconds)
        names = ["mpcmix", "io_floor", "numpy"]
        names += [n for n, tool in (("ffmpeg", "ffmpeg"), ("sox", "sox")) if offline.have(tool)]
        if not quick:
            names.append("pydub")
        results.missing = [t for t in ("ffmpeg", "sox") if not offline.have(t)]
        peers = offline.run_offline(work, offline.make_peers(tuple(names)), rounds, scratch / "runs", log)
        results.offline = peers
        results.duration_s = seconds
        log(f"offline: the same call at ordinary speech levels (each voice peaking at -14 dBFS), {rounds} round(s)")
        speech = make_speech_workload(scratch / "speech", duration_s=seconds)
        names = ["mpcmix", "io_floor"] + (["ffmpeg"] if offline.have("ffmpeg") else [])
        results.speech = offline.run_offline(speech, offline.make_peers(tuple(names)), rounds, scratch / "runs", log)
        shutil.rmtree(scratch / "speech", ignore_errors=True)
        long_work = make_workload(scratch / "long", duration_s=long_seconds)
        log(f"offline: mpcmix render of a {long_seconds} s call (peak memory)")
        results.long = (long_seconds, *offline.render_memory(long_work, scratch / "runs"))
        shutil.rmtree(scratch / "long", ignore_errors=True)
        if offline_only:
            return results

        # -- 2. live capacity ---------------------------------------------------------------
        log("live: checking every peer's output against LiveMixer's")
        live.check_equal(4 if quick else 50, 10, ["mpcmix", "mpcmix_numpy", "matmul", "python", "copy"])
        live.check_equal(2, 50 if quick else 250, ["mpcmix", "mpcmix_numpy", "matmul", "python"])
        guesses = {"copy": 4000, "mpcmix": 3000, "mpcmix_numpy": 2000, "matmul": 300, "python": 30}
        for key in ("copy", "mpcmix", "mpcmix_numpy", "matmul", "python"):
            if quick:
                t = statistics.median(live.time_ticks([key], 20, 10, 5, rounds=1)[key])
                results.capacity[key] = (int(20 * 10 * 0.020 / t), t)
            else:
                results.capacity[key] = live.capacity(key, guess_calls=guesses[key])
            log(f"  capacity {live.PEERS[key].name:<28} {results.capacity[key][0]:>8} participants")
        for calls in (100, 1000) if not quick else (10,):
            times = live.time_ticks(["mpcmix", "matmul", "copy"], calls, 10, 60 if not quick else 5,
                                    rounds=rounds if not quick else 1)
            results.latency[calls] = {k: (statistics.median(v), live.percentile(v, 99)) for k, v in times.items()}

        # -- 3. scaling ---------------------------------------------------------------------
        sizes = (10, 50, 100, 250)
        total = 10_000 if not quick else 500
        for parties in sizes:
            one = live.time_ticks(["mpcmix", "matmul"], 1, parties, 200 if not quick else 5,
                                  rounds=rounds if not quick else 1)
            results.one_call[parties] = {k: statistics.median(v) / parties for k, v in one.items()}
            many = live.time_ticks(["mpcmix", "matmul"], max(1, total // parties), parties,
                                   20 if not quick else 3, rounds=3 if not quick else 1)
            results.many_calls[parties] = {k: statistics.median(v) / (total // parties * parties)
                                           for k, v in many.items()}
            log(f"  scaling: calls of {parties}: {results.many_calls[parties]}")
        for calls in ((1, 10, 100, 1000, 10_000) if not quick else (1, 10)):
            keys = ["mpcmix", "mpcmix_numpy", "matmul", "copy"] + (["python"] if calls <= 1000 else [])
            ticks = max(3, min(100, 20_000 // calls))
            times = live.time_ticks(keys, calls, 10, ticks, rounds=3 if not quick else 1)
            results.by_calls[calls] = {k: statistics.median(v) / (calls * 10) for k, v in times.items()}
            figures = {k: round(v * 1e6, 3) for k, v in results.by_calls[calls].items()}
            log(f"  scaling: {calls} calls of 10: {figures} us per participant")
        # -- 4. what --report adds ----------------------------------------------------------
        results.report_cost = report_cost.measure(1 if quick else rounds)
        log("  report: coaching render {:.2f} s, with --report {:.2f} s".format(*results.report_cost))
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return results


def _machine() -> dict[str, str]:
    import numpy as np

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the report (docs/ by default)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny workload, one round (smoke test)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--minutes", type=int, default=10, help="offline call length (default 10)")
    parser.add_argument("--long-minutes", type=int, default=60, help="long call for the memory figure")
    parser.add_argument("--out", type=Path, default=None, help="folder for performance.md/.png "
                                                               "(default docs/, none with --quick)")
    parser.add_argument("--offline-only", action="store_true",
                        help="the offline render alone (both workloads), rewriting only that section of "
                             "performance.md and its targets")
    args = parser.parse_args(argv)
    t0 = time.time()
    results = run(quick=args.quick, rounds=args.rounds, minutes=args.minutes, long_minutes=args.long_minutes,
                  log=lambda s: print(s, file=sys.stderr, flush=True), offline_only=args.offline_only)
    results.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results.machine["benchmark wall time"] = f"{time.time() - t0:.0f} s"
    print(render_table(results))
    out = args.out if args.out is not None else (None if args.quick else DOCS)
    if out is not None and args.offline_only:
        if not (out / "performance.md").exists():  # a folder of its own: a copy of ours to update
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DOCS / "performance.md", out / "performance.md")
        update_offline_section(out / "performance.md", results)
        print(f"wrote the offline section of {out / 'performance.md'}", file=sys.stderr)
    elif out is not None:
        out.mkdir(parents=True, exist_ok=True)
        render_plot(results, out / "performance.png")
        (out / "performance.md").write_text(render_markdown(results, "performance.png"))
        print(f"wrote {out / 'performance.md'} and {out / 'performance.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
