"""``python -m benchmarks.batch`` (part of ``make bench``): `mpcmix render-many` on Dask.

A grid of 1,000 short scenarios (10 voices x 10 coaching times x 10 call lengths, 1.2-3 s of
audio, three participants, each render measured for who heard whom and its `expect:` checked):

1. serial, in process: every job through `run_job` in a loop, no Dask: the cost of a render, and
   the reference folders every batch is compared with, file for file;
2. a LocalCluster of 1 and of 2 worker processes (`render_many(client=...)`, both clusters started
   before the clock, their batches alternating, the best of 2 rounds each: the machine is shared);
3. a separately started ``dask scheduler`` with 1 and 2 ``dask worker`` processes on loopback;
4. the scheduler's overhead per task: 2,000 tasks that do nothing, on the 2-worker LocalCluster;
5. a projection to 8, 32 and 128 workers: rate(W) = min(W / t_task, 1 / t_sched), t_task the
   measured time a 1-worker batch takes per render (render + task overhead), t_sched the measured
   overhead per no-op task (the scheduler's and client's serial share).

Figures go to docs/batch.json, docs/batch.png and the batch section of docs/performance.md.
``--n`` runs a smaller grid (the smoke test's); ``--out`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .report import put_section

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VOICES = ROOT / "fixtures" / "voices"
BEGIN, END = "<!-- batch: written by make bench (benchmarks/batch.py) -->", "<!-- /batch -->"
#: The files of a render compared with the serial reference, byte for byte.
SAME = ("listeners", "recordings", "events.jsonl", "mpc.json", "mpcs", "responses.jsonl", "who-heard-whom.json")
TARGET = 1.7

TEMPLATE = """\
mpc: bench
lines:
  "+100": {{audio: {voices}/customer.wav}}
  "+101": {{audio: ${{voice}}}}
  "+102": {{audio: {voices}/supervisor.wav}}
events:
  - {{at: 0, op: add_participant, as: customer, role: customer, from: "+1", to: "+100"}}
  - {{at: 0, op: add_participant, as: agent, role: agent, from: "+1", to: "+101"}}
  - {{at: ${{coach_at}}, op: add_participant, as: boss, role: supervisor, coach_mode: true, from: "+1", to: "+102"}}
  - {{at: ${{end}}, op: end}}
expect:
  - {{never_hears: [customer, boss]}}
"""


def make_grid(folder: Path, n: int) -> Path:
    """A grid of about `n` renders (voices x coaching times x lengths) in `folder`."""
    side = max(1, round(n ** (1 / 3)))
    voices = folder / "voices"
    voices.mkdir(parents=True)
    source, rate = sf.read(VOICES / "agent.wav", dtype="int16")
    for i in range(side):  # distinct voices: the fixture from another offset, another gain
        start = (i * rate // 3) % max(1, len(source) - 3 * rate)
        piece = (source[start:start + 3 * rate].astype(np.int32) * (10 - i % 5) // 10).astype(np.int16)
        sf.write(voices / f"v{i}.wav", piece, rate, subtype="PCM_16")
    (folder / "bench.yaml").write_text(TEMPLATE.format(voices=VOICES))
    grid = folder / "bench.grid.yaml"
    coach = [round(0.1 * (i + 1), 1) for i in range(side)]
    ends = [round(1.2 + 0.2 * i, 1) for i in range(side)]
    grid.write_text("template: bench.yaml\nvars:\n"
                    f"  voice: [{', '.join(str(voices / f'v{i}.wav') for i in range(side))}]\n"
                    f"  coach_at: [{', '.join(map(str, coach))}]\n"
                    f"  end: [{', '.join(map(str, ends))}]\n")
    return grid


def _noop(i: int) -> int:
    return i


def _compare(batch: Path, serial: Path, names: list[str]) -> int:
    """Files differing between the batch's renders and the serial ones (0: bit-identical)."""
    differing = 0
    for name in names:
        ref = serial / "renders" / name
        for entry in SAME:
            base = ref / entry
            files = [p for p in base.rglob("*") if p.is_file()] if base.is_dir() else [base]
            for f in files:
                other = batch / "renders" / name / f.relative_to(ref)
                if not other.is_file() or other.read_bytes() != f.read_bytes():
                    differing += 1
    return differing


def _cpu() -> float:
    """This process's CPU seconds (user + system), run on each worker."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed_batch(client: Any, grid: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, the workers' CPU seconds) of one batch."""
    from mpcmix.batch import render_many

    before = sum(client.run(_cpu).values())
    start = time.perf_counter()
    table = render_many([grid], out, client=client)
    wall = time.perf_counter() - start
    cpu = sum(client.run(_cpu).values()) - before
    statuses = set(table.column("status").to_pylist())
    assert statuses == {"ok"}, statuses
    assert not any(table.column("reused").to_pylist())
    return wall, cpu


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", *args], stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(n: int = 1000, rounds: int = 2, log: Any = print) -> dict[str, Any]:
    """Every measurement above on a grid of about `n` renders; the figures."""
    from distributed import Client
    from mpcmix.batch import expand
    from mpcmix.batch.run import local_cluster
    from mpcmix.batch.task import RENDERS, run_job

    scratch = Path(tempfile.mkdtemp(prefix="mpcmix-bench-batch-"))
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "cores": os.cpu_count(), "load_start": os.getloadavg()[0]}
    try:
        grid = make_grid(scratch / "in", n)
        jobs = expand([grid], options={"subtype": "PCM_16", "report": False, "dataset": False})
        names = [j.name for j in jobs]
        res["renders"] = len(jobs)
        res["side"] = max(1, round(n ** (1 / 3)))
        res["audio_s"] = sum(float(j.vars[2][1]) for j in jobs)
        log(f"batch: {len(jobs)} renders, {res['audio_s']:.0f} s of calls")
        # 1. serial, in process
        serial = scratch / "serial"
        (serial / RENDERS).mkdir(parents=True)
        (scratch / "warm" / RENDERS).mkdir(parents=True)
        run_job(jobs[0], str(scratch / "warm"))  # imports and caches once
        start = time.perf_counter()
        for job in jobs:
            row = run_job(job, str(serial))
            assert row["status"] == "ok", row
        res["serial_s"] = time.perf_counter() - start
        log(f"  serial in process: {res['serial_s']:.1f} s ({len(jobs) / res['serial_s']:.1f} renders/s)")
        res["differing"] = {}
        # 2. LocalCluster: both clusters up, batches alternating, the best of `rounds` each
        with local_cluster(1) as client1, local_cluster(2) as client2:
            clients = {1: client1, 2: client2}
            for client in clients.values():
                client.run(lambda: __import__("mpcmix.batch.task"))  # imports before the clock
            for r in range(rounds):
                for workers, client in clients.items():
                    out = scratch / f"local{workers}"
                    wall, cpu = _timed_batch(client, grid, out)
                    res.setdefault(f"local{workers}_rounds", []).append(wall)
                    if wall <= min(res[f"local{workers}_rounds"]):
                        res[f"local{workers}_s"], res[f"local{workers}_cpu"] = wall, cpu
                    res["differing"][f"local{workers}"] = res["differing"].get(f"local{workers}", 0) \
                        + _compare(out, serial, names)
                    shutil.rmtree(out)
                    log(f"  LocalCluster, {workers} worker(s), round {r + 1}: {wall:.1f} s, "
                        f"{res['differing'][f'local{workers}']} files differing from serial")
            # 4. the scheduler's overhead per task
            count = 2000
            client2.gather(client2.map(_noop, range(100), pure=False))
            start = time.perf_counter()
            client2.gather(client2.map(_noop, range(count), pure=False))
            res["noop_task_s"] = (time.perf_counter() - start) / count
            log(f"  no-op tasks: {res['noop_task_s'] * 1e3:.2f} ms each")
        # 3. dask scheduler + dask worker processes on loopback
        for workers in (1, 2):
            folder = scratch / f"cluster{workers}"
            folder.mkdir()
            file = folder / "scheduler.json"
            procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(file)], folder / "scheduler.log")]
            try:
                deadline = time.monotonic() + 60
                while not file.exists() or not file.read_text().strip():
                    assert time.monotonic() < deadline and procs[0].poll() is None, "no scheduler"
                    time.sleep(0.1)
                address = json.loads(file.read_text())["address"]
                procs += [_start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard",
                                  "--host", "127.0.0.1"], folder / f"worker{i}.log") for i in range(workers)]
                with Client(address, timeout="60s") as client:
                    client.wait_for_workers(workers, timeout=60)
                    client.run(lambda: __import__("mpcmix.batch.task"))
                    out = scratch / f"remote{workers}"
                    res[f"remote{workers}_s"], res[f"remote{workers}_cpu"] = _timed_batch(client, grid, out)
                    res["differing"][f"remote{workers}"] = _compare(out, serial, names)
                    shutil.rmtree(out)
                log(f"  dask scheduler + {workers} dask worker(s): {res[f'remote{workers}_s']:.1f} s, "
                    f"{res['differing'][f'remote{workers}']} files differing from serial")
            finally:
                _stop(procs[1:])
                _stop(procs[:1])
        res["load_end"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def derived(res: dict[str, Any]) -> dict[str, Any]:
    """Rates, the speed-up, the task overhead and the projection."""
    n = res["renders"]
    out = {k.replace("_s", "_rate"): n / v for k, v in res.items()
           if k.endswith("_s") and k.split("_")[0] in ("serial", "local1", "local2", "remote1", "remote2")}
    out["speedup_local"] = res["local1_s"] / res["local2_s"]
    out["speedup_remote"] = res["remote1_s"] / res["remote2_s"]
    t_task = res["local1_s"] / n
    out["render_s"] = res["serial_s"] / n
    out["task_overhead_s"] = t_task - out["render_s"]
    out["projection"] = {w: min(w / t_task, 1 / res["noop_task_s"]) for w in (1, 2, 8, 32, 128)}
    return out


def render_section(res: dict[str, Any] | None, image: str = "batch.png") -> str:
    """The batch section of docs/performance.md."""
    out = [BEGIN, "## 6. Batches on Dask (`mpcmix render-many`)", ""]
    if res is None:
        return "\n".join([*out, "No figures yet: run `make bench`.", END])
    d = derived(res)
    rounds = len(res.get("local1_rounds", [0]))
    met = "met" if d["speedup_local"] >= TARGET else "**not met**"
    same = all(v == 0 for v in res["differing"].values())
    out += [
        f"`benchmarks/batch.py` ({res['date']}, {res['cores']} cores, load average {res['load_start']:.2f} at "
        f"the start, {res['load_end']:.2f} at the end): a grid of {res['renders']} short scenarios "
        f"({res['side']} voices x {res['side']} coaching times x {res['side']} lengths, "
        f"{res['audio_s']:.0f} s of calls, three participants each), every render "
        "measured for who heard whom and its `expect:` checked, as `render-many` always does. Clusters are "
        "started before the clock; each batch writes into a fresh folder; the LocalCluster batches alternate"
        + (f", best of {rounds} rounds each (all rounds: 1 worker "
           f"{', '.join(f'{x:.1f}' for x in res['local1_rounds'])} s; 2 workers "
           f"{', '.join(f'{x:.1f}' for x in res['local2_rounds'])} s)" if rounds > 1 else ", one round each")
        + ".", "",
        "| run | seconds | renders/s | vs 1 worker | workers' CPU (s) | cores the workers got | "
        "files differing from serial |", "|---|---|---|---|---|---|---|",
        f"| serial, in process (no Dask) | {res['serial_s']:.1f} | {d['serial_rate']:.1f} | | | | (the reference) |"]
    for key, label in (("local1", "LocalCluster, 1 worker"), ("local2", "LocalCluster, 2 workers"),
                       ("remote1", "`dask scheduler` + 1 `dask worker`, loopback"),
                       ("remote2", "`dask scheduler` + 2 `dask worker`, loopback")):
        base = res[f"{key[:-1]}1_s"]
        cpu = res.get(f"{key}_cpu")
        cpu_cells = "| |" if cpu is None else f"{cpu:.1f} | {cpu / res[f'{key}_s']:.2f} |"
        out.append(f"| {label} | {res[f'{key}_s']:.1f} | {d[f'{key}_rate']:.1f} | "
                   f"{base / res[f'{key}_s']:.2f}x | {cpu_cells} {res['differing'][key]} |")
    out += [
        "", f"- **2 workers against 1 (LocalCluster): {d['speedup_local']:.2f}x** (target >= {TARGET}x: {met}); "
        f"scheduler + worker processes: {d['speedup_remote']:.2f}x.",
        f"- Every render of every batch {'is' if same else 'is **not**'} bit-identical to the serial render of "
        "the same scenario (listener streams, recordings, events, MPC JSON, responses, who-heard-whom).",
        f"- A render costs {d['render_s'] * 1e3:.0f} ms in process; as a task on 1 worker "
        f"{res['local1_s'] / res['renders'] * 1e3:.0f} ms ({d['task_overhead_s'] * 1e3:+.1f} ms of task overhead: "
        "shipping the job, the result, the client's bookkeeping). The scheduler's cost per task, from 2,000 "
        f"no-op tasks on 2 workers: {res['noop_task_s'] * 1e3:.2f} ms.",
        f"- Projection: rate(W) = min(W / {res['local1_s'] / res['renders'] * 1e3:.0f} ms, 1 / "
        f"{res['noop_task_s'] * 1e3:.2f} ms): " + ", ".join(
            f"{w} workers {r:.0f} renders/s" for w, r in d["projection"].items() if w >= 8)
        + ". The scheduler stops adding throughput near "
        f"{1 / res['noop_task_s'] / (res['renders'] / res['local1_s']):.0f} workers at this render size; longer "
        "calls move that limit up in proportion. It assumes the workers' disks keep up and the inputs sit on a "
        "path they share.", "",
        f"![renders per second against workers]({image})", END]
    if max(res["load_start"], res["load_end"]) > res["cores"]:
        got = "" if "local2_cpu" not in res else (
            f" The 2 LocalCluster workers got {res['local2_cpu'] / res['local2_s']:.2f} cores of CPU between "
            f"them (their CPU seconds over the batch's wall time), for {res['local2_cpu'] / res['renders'] * 1e3:.0f} "
            f"ms of CPU a render against {res['local1_cpu'] / res['renders'] * 1e3:.0f} ms on 1 worker: the "
            "work per render does not grow with the workers; the cores free for them did not reach 2.")
        out.insert(-2, f"**A shared machine.** The load average ({res['load_start']:.1f} at the start, "
                   f"{res['load_end']:.1f} at the end, on {res['cores']} cores) says other jobs ran beside "
                   "this one and their load changed during it: the batches then measure the share of the "
                   "cores they got as much as Dask. Here the serial run, the 1-worker runs and the "
                   "scheduler-and-workers pair were timed under different loads, so the task overhead, the "
                   "pair's ratio and the projection (built on the 1-worker figure) carry that noise; the "
                   "bit-identity holds whatever the load. Rerun `make bench` on a quiet machine for clean "
                   "figures." + got)
        out.insert(-2, "")
    return "\n".join(out)


def render_plot(res: dict[str, Any], path: Path) -> None:
    """docs/batch.png: measured renders/s against workers, and the projection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = derived(res)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    ws = sorted(d["projection"])
    ax.plot(ws, [d["projection"][w] for w in ws], "--", color="C7", label="projection min(W/t_task, 1/t_sched)")
    ax.plot([1, 2], [d["local1_rate"], d["local2_rate"]], "o-", color="C0", label="LocalCluster (measured)")
    ax.plot([1, 2], [d["remote1_rate"], d["remote2_rate"]], "s-", color="C1",
            label="dask scheduler + workers, loopback (measured)")
    ax.axhline(d["serial_rate"], color="C2", linewidth=0.8, label="serial, in process")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("workers (one process, one thread each)")
    ax.set_ylabel("renders per second")
    ax.set_title(f"mpcmix render-many: {res['renders']} short scenarios")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_figures(path: Path = DOCS / "batch.json") -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def update_doc(doc: Path, res: dict[str, Any] | None) -> None:
    """Put the batch section into `doc` (between its markers, else before ## Machine or at the end)."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    section = render_section(res)
    doc.write_text(put_section(text, BEGIN, END, section, before="## Machine"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="renders in the grid (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="LocalCluster rounds (default 2)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder of performance.md (default docs/)")
    args = parser.parse_args(argv)
    res = run(args.n, args.rounds, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(render_section(res))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.json").write_text(json.dumps(res, indent=1) + "\n")
    render_plot(res, args.out / "batch.png")
    update_doc(args.out / "performance.md", res)
    print(f"wrote {args.out / 'performance.md'} (section 6), batch.json and batch.png", file=sys.stderr)
    d = derived(res)
    return 0 if d["speedup_local"] >= TARGET and all(v == 0 for v in res["differing"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
