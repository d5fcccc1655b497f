"""Load and soak for `mpcmix serve` on the real-time clock, driven over loopback with httpx.

Starts a real `mpcmix serve --clock realtime` subprocess on a free loopback port, opens MPCs of
three participants each (customer, agent, coaching supervisor; a WAV recording running), drives a
bounded stream of API requests at them (get, list participants, mute/unmute, hold/unhold) and
reads the server's own tick lateness from `GET /emulator/stats`, its CPU time and memory from
/proc. Everything is bounded: a set number of seconds per step and a set request rate.

    python -m benchmarks.load                      # ramp, streams all then none: the largest N
    python -m benchmarks.load --listener-streams none --steps 500,1000      # those N only
    python -m benchmarks.load --mpcs 8 --seconds 30          # one N
    python -m benchmarks.load --workers 2 ...                # passed to mpcmix serve --workers
    python -m benchmarks.load --soak 600 --mpcs 8            # 10-minute soak: memory over time
    python -m benchmarks.load --workers 2                    # the ramp against 2 shard processes

With ``--workers N`` the server is N shard processes behind a front (docs/server.md, Every core):
CPU, memory and open files are summed over the front and its shards, ticks over the shards, and
the lateness percentiles are the worst shard's.

A tick is late when it finishes more than one frame (20 ms) after the boundary that made it due;
"keeps up" means p99 lateness under one frame over the step's window (60 s, 5 requests a
second). Each step of a ramp runs its own server on a fresh data folder, deleted after the step;
it reports how long creating its MPCs over HTTP took, and the server's CPU per MPC per tick by
part of the work (from `GET /emulator/stats`: the ticker thread's parts; from /proc: every
other thread, the files' write-behind and the HTTP server). `make load` and `make soak` run the
ramp and the soak.

Memory is "flat" when the server's RSS grows by less than `--flat` MiB a minute (0.1 by default)
over the second half of the soak (the first half is warm-up: caches, the event log's memory and
malloc's arenas fill), the slope fitted by least squares to the samples of that half; the soak
also prints the RSS at the start, the midpoint and the end, and the open files.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
AUTH_ID = "MALOADBENCH000000001"
FROM = "+14155550000"
CUSTOMER, AGENT, SUPERVISOR = "+14155550100", "+14155550101", "+14155550102"
LINES = f"""\
"{CUSTOMER}": {{audio: voices/customer.wav}}
"{AGENT}": {{audio: voices/agent.wav}}
"{SUPERVISOR}": {{audio: voices/supervisor.wav}}
"""
#: The ramp's steps (MPCs) by --listener-streams.
STEPS = {"all": (250, 500, 750, 1000, 1250, 1500, 2000),
         "none": (500, 1000, 1500, 2000, 2500, 3000, 3500, 4000)}


# --- the server under test ------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    token: str
    data_dir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(AUTH_ID, self.token), timeout=30)


@contextlib.contextmanager
def running_server(frame_ms: int, sample_rate: int, keep: bool = False,
                   listener_streams: str = "all", workers: int = 1) -> Iterator[Server]:
    """`mpcmix serve --clock realtime` in a subprocess, stopped (SIGINT) when the block ends.

    Its data folder (recordings: a 10-minute soak writes ~3 GB) is deleted afterwards unless `keep`.
    """
    from mpcmix.server.process import serve_process

    folder = Path(tempfile.mkdtemp(prefix="mpcmix-load-"))
    try:
        (folder / "lines.yaml").write_text(LINES)
        token = secrets.token_hex(16)
        args = [
            "--clock", "realtime",
            "--account", f"{AUTH_ID}:{token}", "--media-root", str(ROOT / "fixtures"),
            "--lines", str(folder / "lines.yaml"), "--data-dir", str(folder / "data"),
            "--frame-ms", str(frame_ms), "--sample-rate", str(sample_rate),
            "--log-level", "warning", "--listener-streams", listener_streams,
        ]
        if workers > 1:  # the sharded server (one process a worker)
            args += ["--workers", str(workers)]
        with serve_process(args) as served:
            yield Server(served.process, served.url, token, folder / "data")
    finally:
        used = disk_mib(folder)
        if keep:
            print(f"data kept: {folder} ({used:.0f} MiB)", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"data written: {used:.0f} MiB (deleted; --keep keeps it)", flush=True)
        os.sync()  # the next step starts on a disk with nothing of this one left to write


# --- measuring the process ------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """`pid` and its child processes (a front and its shards), from /proc."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return [pid, *children]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` and its children (all their threads), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for one in tree(pid):
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def disk_mib(folder: Path) -> float:
    """Bytes on disk under `folder`, in MiB."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file()) / 2**20


def rss_mib(pid: int) -> float:
    total = 0.0
    for one in tree(pid):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def open_files(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{one}/fd")) for one in tree(pid))


def ticker(stats: dict[str, Any]) -> dict[str, Any]:
    """The tick window of `GET /emulator/stats`; a sharded server's (its `shards`) combined:
    ticks and late ticks summed, lateness percentiles the worst shard's."""
    if "shards" not in stats:
        window: dict[str, Any] = stats["ticker"]["window"]
        return window
    windows = [s["ticker"]["window"] for s in stats["shards"]]
    worst = {k: max((w[k] for w in windows if w[k] is not None), default=None)
             for k in ("p50_ms", "p99_ms", "max_ms")}
    return {"ticks": sum(w["ticks"] for w in windows), "late_ticks": sum(w["late_ticks"] for w in windows), **worst}


# --- the workload ---------------------------------------------------------------------------------


class Calls:
    """The MPCs the load keeps open, and the requests it sends them."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.base = f"/v1/Account/{AUTH_ID}/MultiPartyCall"
        self.live: list[tuple[str, list[str]]] = []  # (name, member_ids)
        self._serials = itertools.count(1)
        self._lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.latencies: list[float] = []

    def _send(self, method: str, path: str, client: httpx.Client | None = None,
              **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        response = (client or self.client).request(method, self.base + path, **kwargs)
        with self._lock:
            self.latencies.append(time.perf_counter() - started)
            self.requests += 1
            if response.status_code >= 400:
                self.errors += 1
        return response

    def open(self, client: httpx.Client | None = None) -> None:
        """One MPC: its three participants added, its recording started (on `client`, or this
        one's)."""
        name = f"load_{next(self._serials)}"
        for role, to, extra in (("customer", CUSTOMER, {}), ("agent", AGENT, {}),
                                ("supervisor", SUPERVISOR, {"coach_mode": True})):
            response = self._send("POST", f"/name_{name}/Participant/", client,
                                  json={"role": role, "from": FROM, "to": to, **extra})
            if response.status_code != 201:
                raise RuntimeError(f"add_participant failed: {response.status_code} {response.text}")
        self._send("POST", f"/name_{name}/Record/", client, json={"file_format": "wav"})
        members = [p["member_id"] for p in
                   self._send("GET", f"/name_{name}/Participant/", client).json()["objects"]]
        with self._lock:
            self.live.append((name, members))

    def open_many(self, n: int, server: Server, connections: int) -> None:
        """Open MPCs until `n` are live, over `connections` connections at once (as a load test
        opens its calls; 1: one request after another)."""
        if connections <= 1:
            while len(self.live) < n:
                self.open()
            return
        wanted = n - len(self.live)
        shares = [wanted // connections + (k < wanted % connections) for k in range(connections)]

        def opener(count: int) -> None:
            with server.client() as client:
                for _ in range(count):
                    self.open(client)

        with ThreadPoolExecutor(connections) as pool:
            for done in [pool.submit(opener, k) for k in shares if k]:
                done.result()

    def close_oldest(self) -> None:
        name, _ = self.live.pop(0)
        self._send("DELETE", f"/name_{name}/")

    def one_request(self, i: int) -> None:
        """The i-th request of the driven load: reads, and mute/hold changes that re-route."""
        name, members = self.live[i % len(self.live)]
        kind = i % 5
        member = members[(i // 5) % len(members)]
        if kind in (0, 1):
            self._send("GET", f"/name_{name}/")
        elif kind == 2:
            self._send("GET", f"/name_{name}/Participant/")
        elif kind == 3:
            self._send("POST", f"/name_{name}/Participant/{member}/", json={"mute": (i // 5) % 2 == 0})
        else:
            self._send("POST", f"/name_{name}/Participant/{member}/", json={"hold": (i // 5) % 2 == 0})


def drive(calls: Calls, seconds: float, rate: float, churn_every_s: float | None = None) -> None:
    """Send `rate` requests a second for `seconds` (paced, never more); churn MPCs if asked."""
    start = time.monotonic()
    i = 0
    next_churn = start + churn_every_s if churn_every_s else None
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            return
        if next_churn is not None and now >= next_churn and calls.live:
            calls.close_oldest()
            calls.open()
            next_churn += churn_every_s  # type: ignore[operator]
        if rate > 0:
            calls.one_request(i)
            i += 1
            pause = start + i / rate - time.monotonic()
        else:
            pause = 0.1
        if pause > 0:
            time.sleep(pause)


@dataclass
class Step:
    mpcs: int
    seconds: float
    ticks: int
    late_ticks: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    cpu_percent: float
    rss_mib: float
    open_files: int
    requests: int
    request_errors: int
    request_p99_ms: float | None
    t_s: float | None = None  # soak: seconds since the soak began, at the end of this sample
    listener_streams: str = "all"
    workers: int = 1
    create_s: float | None = None  # creating the step's MPCs over HTTP, seconds
    #: CPU microseconds per MPC per tick: the ticker's parts, then other threads by name
    cost_us: dict[str, float] | None = None

    @property
    def keeps_up(self) -> bool:
        return self.p99_ms is not None and self.p99_ms < FRAME_MS


FRAME_MS = 20


def measure(server: Server, calls: Calls, seconds: float, rate: float,
            churn_every_s: float | None = None) -> Step:
    pid = server.process.pid
    calls.latencies.clear()
    requests, errors = calls.requests, calls.errors
    before = shard_costs(calls.client.get("/emulator/stats", params={"window_s": 1}).json())
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    drive(calls, seconds, rate, churn_every_s)
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    answer = calls.client.get("/emulator/stats", params={"window_s": seconds}).json()
    window = ticker(answer)
    cost = per_mpc_tick(before, shard_costs(answer), cpu1 - cpu0)
    lat = sorted(calls.latencies)
    return Step(
        mpcs=len(calls.live), seconds=round(wall1 - wall0, 1), ticks=window["ticks"],
        late_ticks=window["late_ticks"], p50_ms=window["p50_ms"], p99_ms=window["p99_ms"],
        max_ms=window["max_ms"], cpu_percent=round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
        rss_mib=round(rss_mib(pid), 1), open_files=open_files(pid),
        requests=calls.requests - requests, request_errors=calls.errors - errors,
        request_p99_ms=round(1000 * lat[int(0.99 * (len(lat) - 1))], 1) if lat else None,
        cost_us=cost,
    )


def shard_costs(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The `costs` of `GET /emulator/stats`, one per shard of a sharded server (one in all for
    one process)."""
    bodies = stats.get("shards") or [stats]
    return [body["costs"] for body in bodies if body.get("costs")]


def per_mpc_tick(before: list[dict[str, Any]], after: list[dict[str, Any]],
                 total: float) -> dict[str, float] | None:
    """CPU microseconds per MPC per tick over a window: the ticker threads' parts (their own
    accounting, summed over shards), the rest of their threads, their flushes, the other threads
    and the whole process (from /proc: `total` CPU seconds of the server's processes over the
    window, threads that ended meanwhile included), each divided by the MPC-ticks mixed (each
    shard's ticks times its MPCs)."""
    if not before or not after or len(before) != len(after):
        return None
    mpc_ticks = sum((a["ticks"] - b["ticks"]) * max(1, a["live_mpcs"]) for b, a in zip(before, after, strict=True))
    if mpc_ticks <= 0:
        return None
    scale = 1e6 / mpc_ticks

    def delta(get: Callable[[dict[str, Any]], float]) -> float:
        return sum(get(a) - get(b) for b, a in zip(before, after, strict=True))

    out = {part: round(scale * delta(lambda c, part=part: c["parts_s"].get(part, 0.0)), 2)
           for part in after[0]["parts_s"]}
    ticker = delta(lambda c: c["ticker_s"])
    out["ticker other"] = round(max(0.0, scale * ticker - sum(out.values())), 2)
    out["flush"] = round(scale * delta(lambda c: c["flush_s"]), 2)
    # Python's thread names are not the kernel's: the other threads (files' write-behind, HTTP,
    # saving; a sharded server's front) as the processes' total less the tickers'
    out["other threads"] = round(scale * total - scale * ticker - out["flush"], 2)
    out["process"] = round(scale * total, 2)
    return out


def _row(step: Step) -> str:
    return (f"{step.mpcs:>5} {step.ticks:>6} {step.late_ticks:>5} {step.p50_ms!s:>8} "
            f"{step.p99_ms!s:>8} {step.max_ms!s:>8} {step.cpu_percent:>6} {step.rss_mib:>8} "
            f"{step.open_files:>5} {step.requests:>5} {step.request_errors:>4} "
            f"{step.request_p99_ms!s:>8}")


HEADER = ("mpcs  ticks  late   p50 ms   p99 ms   max ms   cpu%  rss MiB   fds  reqs errs "
          "req p99ms")


def ramp(args: argparse.Namespace, listener_streams: str) -> list[Step]:
    """One server per step of N MPCs (its data deleted after it); stop after the first N whose
    p99 lateness reaches one frame, or whose MPCs could not all be created (a request timed out
    or failed: the step is reported as not kept, the steps before it stand)."""
    steps: list[Step] = []
    print(f"\n--listener-streams {listener_streams}, {args.workers} worker(s)\n" + HEADER
          + "  create s", flush=True)
    for n in args.steps or STEPS[listener_streams]:
        with running_server(args.frame_ms, args.sample_rate, args.keep, listener_streams,
                            args.workers) as server, server.client() as client:
            calls = Calls(client)
            started = time.monotonic()
            try:
                calls.open_many(n, server, args.connections)
            except (httpx.HTTPError, RuntimeError) as exc:  # a request timed out or was refused
                print(f"{n:>5}  not kept: creating its MPCs failed after "
                      f"{time.monotonic() - started:.1f} s, {len(calls.live)} open: {exc!r}", flush=True)
                break
            create_s = round(time.monotonic() - started, 1)
            time.sleep(args.settle)
            step = measure(server, calls, args.seconds, args.rate)
        step.listener_streams, step.workers, step.create_s = listener_streams, args.workers, create_s
        steps.append(step)
        print(_row(step) + f" {create_s:>8}", flush=True)
        if step.cost_us:
            print("    us per MPC per tick: " + ", ".join(f"{k} {v}" for k, v in step.cost_us.items()
                                                        if v), flush=True)
        if not step.keeps_up:
            break
    good = [s for s in steps if s.keeps_up]
    best = max(good, key=lambda s: s.mpcs) if good else None
    print(f"largest N keeping up (p99 lateness < {args.frame_ms} ms), --listener-streams "
          f"{listener_streams}: {best.mpcs if best else 'none'}"
          + (f" (cpu {best.cpu_percent}%, rss {best.rss_mib} MiB, {best.late_ticks} late ticks "
             f"of {best.ticks}, created in {best.create_s} s)" if best else ""), flush=True)
    return steps


def soak(args: argparse.Namespace) -> list[Step]:
    """N MPCs for `--soak` seconds, one closed and one opened every `--churn` seconds."""
    samples: list[Step] = []
    streams = "all" if args.listener_streams == "both" else args.listener_streams
    with running_server(args.frame_ms, args.sample_rate, args.keep, streams, args.workers) as server, \
            server.client() as client:
        calls = Calls(client)
        for _ in range(args.mpcs):
            calls.open()
        time.sleep(args.settle)
        print(f"soak: {args.mpcs} MPCs, {args.rate} req/s, churn every {args.churn} s, "
              f"{args.soak} s\n" + "   t s " + HEADER, flush=True)
        started = time.monotonic()
        while time.monotonic() - started < args.soak:
            left = args.soak - (time.monotonic() - started)
            step = measure(server, calls, min(args.sample_every, left), args.rate,
                           args.churn or None)
            step.t_s = round(time.monotonic() - started, 1)
            samples.append(step)
            print(f"{step.t_s:>6.0f} " + _row(step), flush=True)
    if samples:
        print("\n" + soak_summary(samples, args.soak, args.flat))
    return samples


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def soak_summary(samples: list[Step], soak_s: float, flat: float) -> str:
    """The soak's verdict: requests, errors, RSS start/mid/end, the second half's RSS slope."""
    second = [s for s in samples if (s.t_s or 0) > soak_s / 2] or samples[-1:]
    mid = second[0]
    slope = slope_per_minute([(s.t_s or 0, s.rss_mib) for s in second])
    verdict = "flat" if slope < flat else "NOT flat"
    return (
        f"requests {sum(s.requests for s in samples)}, errors "
        f"{sum(s.request_errors for s in samples)}; late ticks {sum(s.late_ticks for s in samples)} "
        f"of {sum(s.ticks for s in samples)}, worst p99 {max((s.p99_ms or 0) for s in samples)} "
        f"ms\nrss start {samples[0].rss_mib} MiB (t={samples[0].t_s:.0f} s), mid {mid.rss_mib} MiB "
        f"(t={mid.t_s:.0f} s), end {samples[-1].rss_mib} MiB (t={samples[-1].t_s:.0f} s), peak "
        f"{max(s.rss_mib for s in samples)} MiB; open files start {samples[0].open_files}, end "
        f"{samples[-1].open_files}\nmemory {verdict}: rss slope over the second half "
        f"{slope:+.3f} MiB/min ({len(second)} samples; flat means < {flat} MiB/min), end - mid "
        f"{samples[-1].rss_mib - mid.rss_mib:+.1f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mpcs", type=int, help="one step of N MPCs (the soak's N; default 8)")
    parser.add_argument("--steps", help="comma-separated N to try in turn (default: "
                        + "; ".join(f"{k}: " + ",".join(map(str, v)) for k, v in STEPS.items()) + ")")
    parser.add_argument("--seconds", type=float, default=60, help="measuring time per step")
    parser.add_argument("--settle", type=float, default=3, help="seconds after opening MPCs")
    parser.add_argument("--rate", type=float, default=5, help="requests per second driven")
    parser.add_argument("--listener-streams", dest="listener_streams", default="both",
                        choices=("all", "none", "both"),
                        help="mpcmix serve --listener-streams for the ramp (both: all, then none)")
    parser.add_argument("--workers", type=int, default=1,
                        help="mpcmix serve --workers N (the sharded server), 1: one process")
    parser.add_argument("--connections", type=int, default=4,
                        help="connections opening a step's MPCs at once (1: one request after another)")
    parser.add_argument("--soak", type=float, help="soak for this many seconds instead")
    parser.add_argument("--churn", type=float, default=5,
                        help="soak: end one MPC and open another every S seconds (0: never)")
    parser.add_argument("--sample-every", dest="sample_every", type=float, default=30)
    parser.add_argument("--flat", type=float, default=0.1,
                        help="soak: memory is flat below this RSS slope, MiB/min (second half)")
    parser.add_argument("--frame-ms", dest="frame_ms", type=int, default=20)
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, default=16000)
    parser.add_argument("--json", help="write every step as JSON lines to this file")
    parser.add_argument("--append", action="store_true",
                        help="add to the --json file (the ramps of several worker counts in one file)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the server's data folder (recordings, events) afterwards")
    args = parser.parse_args(argv)
    global FRAME_MS
    FRAME_MS = args.frame_ms
    if args.soak:
        args.mpcs = args.mpcs or 8
        steps = soak(args)
    else:
        args.steps = ([args.mpcs] if args.mpcs else
                      [int(n) for n in args.steps.split(",")] if args.steps else None)
        modes = ("all", "none") if args.listener_streams == "both" else (args.listener_streams,)
        steps = [step for mode in modes for step in ramp(args, mode)]
    if args.json:
        with open(args.json, "a" if args.append else "w", encoding="utf-8") as out:
            for step in steps:
                out.write(json.dumps({**asdict(step), "keeps_up": step.keeps_up}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
