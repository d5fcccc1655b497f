"""The benchmark figures as one printed table, docs/performance.md and docs/performance.png."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .live import FRAME_MS, PEERS
from .offline import Peer

TARGET_FLOOR = 1.2  # offline: mpcmix wall at most this many times the I/O floor's
TARGET_FFMPEG = 1.5  # offline: mpcmix at least this many times faster than ffmpeg
TARGET_SPEECH_FFMPEG = 4.0  # offline at ordinary speech levels: at least this many times faster than ffmpeg
OFFLINE_BEGIN = "## 1. Offline render"
OFFLINE_END = "## 2. Live capacity"
TARGET_COPY = 0.7  # live: capacity at least this fraction of the copy floor's
TARGET_FLAT = 1.5  # scaling: cost per participant within this factor from 10- to 250-party calls
#: `make load` and `make soak` (benchmarks/load.py --json) leave their samples here; `make bench`
#: and those targets write the server section of docs/performance.md from them.
LOAD_JSON = Path(__file__).resolve().parent.parent / "docs" / "load.jsonl"
SOAK_JSON = Path(__file__).resolve().parent.parent / "docs" / "soak.jsonl"
LOAD_BEGIN, LOAD_END = "<!-- server-load: written by make load / make soak -->", "<!-- /server-load -->"


@dataclass
class Results:
    """Every figure of one run."""

    quick: bool
    rounds: int
    machine: dict[str, str]
    duration_s: int = 0
    offline: list[Peer] = field(default_factory=list)
    speech: list[Peer] = field(default_factory=list)  # the same call at ordinary speech levels
    missing: list[str] = field(default_factory=list)
    long: tuple[int, float, float] | None = None  # (seconds, wall s, peak MB)
    capacity: dict[str, tuple[int, float]] = field(default_factory=dict)  # participants, tick s
    latency: dict[int, dict[str, tuple[float, float]]] = field(default_factory=dict)  # median, p99
    one_call: dict[int, dict[str, float]] = field(default_factory=dict)  # s per participant-tick
    many_calls: dict[int, dict[str, float]] = field(default_factory=dict)
    by_calls: dict[int, dict[str, float]] = field(default_factory=dict)
    report_cost: tuple[float, float] | None = None  # coaching render s without, with --report

    def peer(self, prefix: str, peers: list[Peer] | None = None) -> Peer | None:
        for p in self.offline if peers is None else peers:
            if p.name.startswith(prefix):
                return p
        return None

    def targets(self) -> list[tuple[str, str, str, bool | None]]:
        """(what, target, measured, met) for the headline."""
        rows: list[tuple[str, str, str, bool | None]] = []
        ours, floor, ffmpeg = self.peer("mpcmix"), self.peer("I/O floor"), self.peer("ffmpeg")
        if ours and floor:
            r = ours.wall / floor.wall
            rows.append(("offline render wall time vs the I/O floor", f"<= {TARGET_FLOOR}x", f"{r:.2f}x",
                         r <= TARGET_FLOOR))
            c = ours.cpu / floor.cpu
            rows.append(("offline render CPU time vs the I/O floor (context)", "-", f"{c:.2f}x", None))
        if ours and ffmpeg:
            r = ffmpeg.wall / ours.wall
            rows.append(("offline render speed vs ffmpeg", f">= {TARGET_FFMPEG}x faster", f"{r:.2f}x faster",
                         r >= TARGET_FFMPEG))
        ours, floor, ffmpeg = (self.peer(k, self.speech) for k in ("mpcmix", "I/O floor", "ffmpeg"))
        if ours and floor:
            r = ours.wall / floor.wall
            rows.append(("offline render at speech levels, wall time vs the I/O floor", f"<= {TARGET_FLOOR}x",
                         f"{r:.2f}x", r <= TARGET_FLOOR))
        if ours and ffmpeg:
            r = ffmpeg.wall / ours.wall
            rows.append(("offline render at speech levels, speed vs ffmpeg", f">= {TARGET_SPEECH_FFMPEG}x faster",
                         f"{r:.2f}x faster", r >= TARGET_SPEECH_FFMPEG))
        ours = self.peer("mpcmix")
        if ours and self.long:
            rows.append((f"peak memory, {self.long[0] // 60}-min call vs {self.duration_s // 60}-min call",
                         "flat", f"{self.long[2]:.0f} MB vs {ours.peak_mb:.0f} MB",
                         self.long[2] <= 1.25 * ours.peak_mb))
        if "mpcmix" in self.capacity and "copy" in self.capacity:
            r = self.capacity["mpcmix"][0] / self.capacity["copy"][0]
            rows.append(("live capacity vs the copy floor", f">= {TARGET_COPY}x", f"{r:.2f}x", r >= TARGET_COPY))
        if 10 in self.many_calls and 250 in self.many_calls:
            a, b = self.many_calls[10]["mpcmix"], self.many_calls[250]["mpcmix"]
            r = max(a, b) / min(a, b)
            rows.append(("cost per participant, 250-party vs 10-party calls", f"within {TARGET_FLAT}x",
                         f"{b / a:.2f}x", r <= TARGET_FLAT))
        return rows


def _met(m: bool | None) -> str:
    return "" if m is None else ("met" if m else "NOT met")


def render_table(res: Results) -> str:
    """The one printed table."""
    lines = [f"{'':<56}{'figure':>24}"]
    lines.append(f"-- offline: 10 parties x {res.duration_s} s, 16 kHz, 11 outputs (median of {res.rounds})")
    for p in res.offline:
        lines.append(f"  {p.name:<54}{p.wall:8.2f} s wall {p.cpu:6.2f} s cpu "
                     f"{res.duration_s / p.wall:7.0f}x RT {p.peak_mb:7.0f} MB  max diff {p.max_diff}")
    if res.speech:
        lines.append(f"-- offline at ordinary speech levels (each voice peaking at -14 dBFS), median of {res.rounds}")
    for p in res.speech:
        lines.append(f"  {p.name:<54}{p.wall:8.2f} s wall {p.cpu:6.2f} s cpu "
                     f"{res.duration_s / p.wall:7.0f}x RT {p.peak_mb:7.0f} MB  max diff {p.max_diff}")
    if res.long:
        lines.append(f"  mpcmix render, {res.long[0]} s call{'':<33}{res.long[1]:8.2f} s wall {res.long[2]:16.0f} MB")
    lines.append(f"-- live: 10-party calls, 16 kHz, {FRAME_MS} ms ticks, one thread")
    for key, (n, t) in res.capacity.items():
        lines.append(f"  capacity {PEERS[key].name:<45}{n:8d} participants (median tick {t * 1e3:.1f} ms)")
    for calls, peers in res.latency.items():
        for key, (med, p99) in peers.items():
            lines.append(f"  tick at {calls:>5} calls, {PEERS[key].name:<35}"
                         f"median {med * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms")
    lines.append("-- scaling: microseconds per participant per tick")
    def cells(peers: dict[str, float]) -> str:
        return "".join(f"  {PEERS[k].name} {v * 1e6:8.3f}" for k, v in peers.items())

    for parties, peers in res.one_call.items():
        lines.append(f"  one call of {parties:<4}" + cells(peers))
    for parties, peers in res.many_calls.items():
        lines.append(f"  calls of {parties:<4}(~10k participants)" + cells(peers))
    for calls, peers in res.by_calls.items():
        lines.append(f"  {calls:>6} calls of 10  " + cells(peers))
    lines.append("-- targets")
    for what, target, got, met in res.targets():
        lines.append(f"  {what:<54}{got:>16}  (target {target}) {_met(met)}")
    return "\n".join(lines)


def render_markdown(res: Results, image: str) -> str:
    """docs/performance.md."""
    out = ["# Performance", "",
           "Written by `make bench` (`python -m benchmarks`); every figure below comes from one run, in which "
           "each peer ran on the same inputs as mpcmix, alternating with it, and its outputs were checked equal "
           "to mpcmix's (sample for sample, at most 1 of int16 rounding) before any time was kept. Ratios are "
           "the headline: this machine is shared and noisy, and absolute times move with its load. "
           "Successive runs of `make bench` here have moved the ratios by up to about 0.15 (see this file's "
           "history), so a ratio within that of its target is a near miss or a near pass, not a verdict.", "",
           "## Targets", "", "| what | target | measured | |", "|---|---|---|---|"]
    for what, target, got, met in res.targets():
        out.append(f"| {what} | {target} | {got} | {_met(met)} |")
    out += ["", f"![throughput against call count and call size]({image})", ""]
    out += render_offline_section(res)
    out += ["## 2. Live capacity", "",
            f"10-party calls at 16 kHz, {FRAME_MS} ms ticks, one thread (BLAS limited to one thread). A tick "
            "takes every call's input frames, int16 (calls x 10, 320), and writes 11 streams per call. Capacity "
            "is the number of participants at which the median tick fits in its frame (found by measuring, "
            "re-measured at the estimate). The copy floor reads every input sample once and writes every output "
            "sample once.", "", "| peer | participants per core | median tick at that load (ms) |", "|---|---|---|"]
    for key, (n, t) in res.capacity.items():
        out.append(f"| {PEERS[key].name} | {n:,} | {t * 1e3:.1f} |")
    out += ["", "Tick latency (ms):", "", "| calls of 10 | peer | median | p99 |", "|---|---|---|---|"]
    for calls, peers in res.latency.items():
        for key, (med, p99) in peers.items():
            out.append(f"| {calls:,} | {PEERS[key].name} | {med * 1e3:.2f} | {p99 * 1e3:.2f} |")
    out += ["", "## 3. Scaling", "", "Microseconds per participant per tick (lower is better).", "",
            "| call size | LiveMixer, one call | matmul, one call | LiveMixer, ~10k participants | "
            "matmul, ~10k participants |", "|---|---|---|---|---|"]
    for parties in res.one_call:
        one, many = res.one_call[parties], res.many_calls.get(parties, {})
        out.append(f"| {parties} | {one.get('mpcmix', 0) * 1e6:.3f} | {one.get('matmul', 0) * 1e6:.3f} | "
                   f"{many.get('mpcmix', 0) * 1e6:.3f} | {many.get('matmul', 0) * 1e6:.3f} |")
    keys = ("mpcmix", "mpcmix_numpy", "matmul", "python", "copy")
    out += ["", "| calls of 10 | " + " | ".join(PEERS[k].name for k in keys) + " |", "|---|---|---|---|---|---|"]
    for calls, peers in res.by_calls.items():
        cells = [f"{peers[k] * 1e6:.3f}" if k in peers else "-" for k in keys]
        out.append(f"| {calls:,} | " + " | ".join(cells) + " |")
    if res.report_cost is not None:
        plain, reported = res.report_cost
        out += ["", "## 4. What `--report` adds", "",
                "The bundled coaching scenario (20 s, 3 participants), rendered in process with and without "
                "`--report`, alternating, medians (`benchmarks/report_cost.py`). The report renders once more "
                "per participant voice (3 here) to measure who heard whom, then draws the page with matplotlib.",
                "", "| render | seconds |", "|---|---|",
                f"| without the report | {plain:.2f} |", f"| with the report | {reported:.2f} |",
                f"| added by the report | {reported - plain:.2f} |"]
    out += ["", "## How mpcmix gets there", "",
            "- **One mixer** (`mixer/live.py`, `LiveMixer`): the call engine behind `mpcmix render` and "
            "`mpcmix serve` mixes every MPC with it, by long blocks offline and one frame per tick on the "
            "server's real-time clock (the offline figures above use its numpy kernel, the live ones its "
            "compiled kernel; the samples are the same).",
            "- **One plan per routing shape** (`mixer/kernel.py`): rows completed with the listener's own voice "
            "that several rows share become a base sum; each row is its base minus its own voice. A call of P "
            "costs about P additions plus one subtraction per row, flat per participant, where a matrix product "
            "costs P per row.",
            "- **Exact integers, cheaply**: the plan runs in wrapping int16 (arithmetic modulo 2**16, exact in "
            "any order); the peak of every source bounds every row, and only rows the bound cannot place inside "
            "int16 are evaluated again in int32 and limited. Non-interference and block/tick invariance stay "
            "bit-exact (property tests in tests/mixer/).",
            "- **Batched calls** (`mixer/live.py`): calls with the same plan lie side by side and are evaluated "
            "together, a few hundred kilobytes at a time so the work stays in cache; limiters are vectorised "
            "across outputs (`limit_rows`, bit-identical to `Limiter` per output).",
            "- **Offline I/O**: voices at the call's rate stream from disk (`PcmFile`, `os.preadv` into the mix "
            "buffer), int16 is written with plain `pwrite`s (float WAVs and MP3s through libsndfile), a "
            "write-behind thread writes while the "
            "next block is mixed, each output asks the kernel to start writing back every 256 KiB "
            "(`sync_file_range`), so the fsync that makes the render durable finds little left to write, and lets "
            "it drop from its page cache what the previous request sent to the disk (`posix_fadvise`; the "
            "header's page and the last 256 KiB stay); buffers "
            "are reused (fresh memory costs page faults here); speech detection skips blocks whose peak cannot "
            "reach its threshold and uses float32 energies re-checked exactly near it.",
            "- **Real-time ticks** (the server): an MPC whose state did not change keeps its matrix; every "
            "file's frame goes into a tick ring (one copy a tick), each file written a second at a time (one "
            "`pwrite`, its header patched after) at its own turn, a tick's turns one task for the write-behind "
            "thread; voices are read ahead 16384 samples at a time, speech is judged frame by frame with exact "
            "float64 energies.", "",
            "## The live mixer, for the server's clock", "",
            "`mpcmix.mixer.LiveMixer` is what the live figures measure and what the call engine drives, and it "
            "gives `Mixer.render`'s samples bit for bit (property-tested per call, tick and block, "
            "`tests/mixer/test_live.py`), so the server's real-time ticks and an offline render are "
            "interchangeable:", "",
            "```python",
            "live = LiveMixer(sample_rate=16000, frame_ms=20)   # kernel='auto': numba if installed",
            "live.set_call(mpc_uuid, matrix)                   # on every routing change; limiters kept",
            "# each tick: one int16 frame per heard source, in live.sources(key) order",
            "frames = np.empty((live.n_inputs, live.frame), np.int16)",
            "frames[live.input_rows(key)] = ...",
            "out = live.tick(frames)                           # int16 (live.n_outputs, live.frame)",
            "out[live.output_rows(key)]                        # rows in live.listeners(key) order",
            "live.remove_call(mpc_uuid)",
            "```", "",
            "`tick_calls({key: frames})` does the stacking for callers holding frames per call (a Python "
            "loop over calls). Each cohort keeps free slots (doubling when full, in a new place at the end "
            "of the layout), so adding, removing or re-routing a call moves that call's rows alone: read "
            "`input_rows`/`output_rows` (or `row_starts`) of the calls you set again after "
            "`set_call`/`remove_call`, those `take_moved` names (their cohort grew), and every call's when "
            "`layout_epoch` changed (laid out again, packed; `pack()` does it on demand). The compiled kernel "
            "needs numba "
            "(the `server` and `bench` extras bring it); its import (~0.3-0.8 s) and first compile (~5 s, then "
            "cached on disk) are paid once per process. A render uses the numpy kernel (numba's start-up "
            "costs more than it saves there); the server uses the compiled one, with every input row read by "
            "one compiled gather per buffer (`mixer/gather.py`) and every file's frame copied into one tick "
            "ring (section 5).", "",
            render_load_section(), "",
            _batch_section(), "",
            "## Machine", "", "| | |", "|---|---|"]
    for k, v in res.machine.items():
        out.append(f"| {k} | {v} |")
    out.append("")
    return "\n".join(out)


def _batch_section() -> str:
    """Section 6 (make bench's benchmarks/batch.py), from its docs/batch.json."""
    from .batch import read_figures, render_section

    return render_section(read_figures())


def render_offline_section(res: Results) -> list[str]:
    """Section 1 of docs/performance.md (its heading to the next section's), as lines."""
    out = [OFFLINE_BEGIN, "",
            f"A 10-party call of {res.duration_s} s at 16 kHz: 10 distinct mono PCM16 voices (generated "
            "deterministically, `benchmarks/workload.py`), everyone in conference the whole time and recorded, so "
            "the 11 outputs are 10 \"all but own\" streams and the full mix. Whole processes (start-up and imports "
            "included), wall clock, CPU time (user + system of the process and its children) and peak resident "
            f"memory (`ru_maxrss` of the child); outputs fsynced by every peer; median of {res.rounds} alternating "
            "rounds, dirty pages flushed between runs.", "",
            ]
    out += _peer_rows(res, res.offline)
    ours = res.peer("mpcmix")
    if res.missing:
        out += ["", f"Not installed, so not run: {', '.join(res.missing)}."]
    if res.long and ours:
        out += ["", f"Memory does not grow with the call: `mpcmix render` of a {res.long[0] // 60}-minute call of the "
                f"same shape peaked at **{res.long[2]:.0f} MB** ({res.long[1]:.1f} s wall), against "
                f"{ours.peak_mb:.0f} MB for {res.duration_s // 60} minutes: voices at the call's rate are read from "
                "disk as the timeline reaches them (`PcmFile`), outputs are streamed."]
    floor = res.peer("I/O floor")
    if ours and floor and ours.wall > TARGET_FLOOR * floor.wall:
        out += ["", f"**The I/O-floor target is not met** ({ours.wall / floor.wall:.2f}x, {ours.cpu - floor.cpu:.2f} s "
                "more CPU than the floor). Where the difference goes, measured in-process (thread CPU time): "
                "`mpcmix render` imports a call model, routing and the scenario loader (~0.05 s more than numpy + "
                "soundfile, byte-compiled), mixes (~0.18 s for 600 s x 11 outputs, reads included), detects "
                "speech in each voice for the speak events (~0.1 s) and writes events and `mpc.json`. The floor "
                "does none of that; both write the same bytes, and mpcmix's writeback overlaps the disk with the "
                "mixing, so the margin is the computing, and how much of it the two shared cores overlap."]
    out += ["", "Peers: `ffmpeg` runs one filter graph (`asplit` of each input, one `amix=normalize=0` per "
            "output); `sox -m -v 1 ...` runs once per output; pydub chains `overlay`; the numpy script loads "
            "everything as float32, subtracts each voice from the total and lets libsndfile convert to PCM16; the "
            "I/O floor reads the inputs and writes the outputs with soundfile, no mixing. Scripts: "
            "`benchmarks/peers/`, `benchmarks/offline.py`.", ""]
    if res.speech:
        out += ["### At ordinary speech levels", "",
                "The same call with speech at ordinary levels (`make_speech_workload` in `benchmarks/workload.py`): "
                "each voice is the bundled fixture speech (`fixtures/voices`), re-cut and pitched per party, peaking "
                "at -14 dBFS and talking all the time. The sum of the sources' peaks is twice full scale, so the "
                "bound from source peaks cannot place any output inside int16, though the mixes themselves never "
                "leave it (checked when the workload is written). For such a block the renderer sums the "
                "total exactly (int32) once, measures its actual peak, and bounds each \"all but own\" row by that "
                "peak plus its own voice's (`kernel.tight_bounds`): every row is placed inside int16 and mixed "
                "in wrapping int16 as on quiet inputs, and no limiter runs. Same method, same run, "
                "alternating with the peers; outputs checked equal to mpcmix's.", ""]
        out += _peer_rows(res, res.speech)
        speech, floor = res.peer("mpcmix", res.speech), res.peer("I/O floor", res.speech)
        quiet = res.peer("mpcmix")
        if speech and floor and quiet and speech.wall > TARGET_FLOOR * floor.wall:
            out += ["", f"**The I/O-floor target is not met at speech levels** ({speech.wall / floor.wall:.2f}x; "
                    f"{speech.cpu:.2f} s CPU against {quiet.cpu:.2f} s on the quiet inputs). The limiters cost "
                    "nothing here (every row is placed inside int16 by the total's actual peak); what the louder "
                    "inputs add is the exact int32 sum of the total and its peak, once a block, and speech "
                    "detection, because every voice talks all the time (a quiet voice's block is skipped by its "
                    "peak)."]
        out += [""]
    return out


def _peer_rows(res: Results, peers: list[Peer]) -> list[str]:
    out = ["| peer | wall (s) | CPU (s) | real-time factor | peak memory (MB) | vs mpcmix (wall) | max diff |",
           "|---|---|---|---|---|---|---|"]
    ours = res.peer("mpcmix", peers)
    for p in peers:
        rel = f"{p.wall / ours.wall:.2f}x" if ours else ""
        out.append(f"| {p.name} | {p.wall:.2f} | {p.cpu:.2f} | {res.duration_s / p.wall:.0f}x | {p.peak_mb:.0f} | "
                   f"{rel} | {'-' if p.max_diff is None else p.max_diff} |")
    return out


def put_section(text: str, begin: str, end: str, section: str, before: str | None = None) -> str:
    """`text` with its part from marker `begin` to marker `end` replaced by `section` (which
    carries both markers); without the markers, `section` goes before the line `before` (a
    heading) when there is one, else at the end. Every benchmark writes its part of
    docs/performance.md (or live-media.md) so, leaving the rest as it was."""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + section + rest.split(end, 1)[1]
    if before is not None and f"\n{before}" in text:
        head, rest = text.split(f"\n{before}", 1)
        return head.rstrip("\n") + "\n\n" + section + f"\n\n{before}" + rest
    return text.rstrip("\n") + "\n\n" + section + "\n"


def update_offline_section(doc: Path, res: Results) -> None:
    """Rewrite section 1 of `doc` (docs/performance.md) and the offline rows of its targets
    from `res` (``python -m benchmarks --offline-only``), leaving the rest as it was."""
    text = doc.read_text()
    if OFFLINE_BEGIN not in text or OFFLINE_END not in text:
        raise ValueError(f"{doc} has no section {OFFLINE_BEGIN!r}: run the whole `make bench`")
    text = put_section(text, OFFLINE_BEGIN, OFFLINE_END,
                       "\n".join(render_offline_section(res)) + "\n" + OFFLINE_END)
    lines = text.split("\n")
    fresh = [f"| {what} | {target} | {got} | {_met(met)} |" for what, target, got, met in res.targets()
             if what.startswith("offline")]
    kept = [i for i, line in enumerate(lines) if line.startswith("| offline render")]
    if kept:
        lines[kept[0]:kept[-1] + 1] = fresh
    doc.write_text("\n".join(lines))


def render_plot(res: Results, path: Path) -> None:
    """docs/performance.png: cost per participant against number of calls and call size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    styles = {"mpcmix": ("C0", "o"), "mpcmix_numpy": ("C2", "D"), "matmul": ("C1", "s"), "python": ("C3", "^"),
              "copy": ("C7", "x")}
    calls = sorted(res.by_calls)
    for key in ("mpcmix", "mpcmix_numpy", "matmul", "python", "copy"):
        xs = [c for c in calls if key in res.by_calls[c]]
        if xs:
            color, marker = styles[key]
            left.plot(xs, [20e-3 / res.by_calls[c][key] for c in xs], marker=marker, color=color,
                      label=PEERS[key].name)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("calls of 10 mixed per tick")
    left.set_ylabel(f"participants per core in real time ({FRAME_MS} ms ticks)")
    left.set_title("Throughput against call count")
    left.grid(True, which="both", alpha=0.3)
    left.legend()
    sizes = sorted(res.one_call)
    for key, label, data, style in (
        ("mpcmix", "LiveMixer, ~10k participants", res.many_calls, "-"),
        ("matmul", "per-call matmul, ~10k participants", res.many_calls, "-"),
        ("mpcmix", "LiveMixer, one call", res.one_call, "--"),
        ("matmul", "per-call matmul, one call", res.one_call, "--"),
    ):
        xs = [s for s in sizes if s in data and key in data[s]]
        if xs:
            color, marker = styles[key]
            right.plot(xs, [20e-3 / data[s][key] for s in xs], style, marker=marker, color=color, label=label)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("participants per call")
    right.set_ylabel("participants per core in real time")
    right.set_title("Throughput against call size")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("mpcmix live mixing, 16 kHz, one thread" + (" (quick run)" if res.quick else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _read_jsonl(path: Path) -> list[dict]:
    import json

    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def _stamp(path: Path) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime))


def render_load_section(load_json: Path = LOAD_JSON, soak_json: Path = SOAK_JSON) -> str:
    """The server section of docs/performance.md, from the last `make load` and `make soak`
    (between markers, so either target rewrites it alone)."""
    out = [LOAD_BEGIN, "## 5. The server under load (`make load`, `make soak`)", "",
           "`mpcmix serve --clock realtime` as a subprocess, driven over loopback by `benchmarks/load.py` "
           "(httpx): MPCs of three participants (customer, agent, coaching supervisor), each recorded, and a "
           "bounded stream of API requests at them. A tick is late when it ends more than one frame (20 ms) "
           "after the boundary that made it due; N keeps up when the p99 lateness stays under one frame. CPU "
           "and memory of the server process from /proc. Details and the promises they back: "
           "docs/reliability.md."]
    steps = _read_jsonl(load_json)
    if steps:
        out += ["", "Each step of the ramp is a fresh server (its data folder deleted after the step) holding N MPCs "
                    "for 60 s at 5 API requests a second (reads, mute/hold changes that re-route), `--listener-"
                    "streams all` (4 files an MPC: 3 listener streams and the recording) then `none` (the recording "
                    "only). `create s`: opening the step's MPCs over HTTP (5 requests an MPC), over 4 connections "
                    "at once as a load test opens its calls (`--connections 1`: one request after another).", "",
                f"Ramp ({_stamp(load_json)}):", "",
                "| streams | workers | MPCs | create s | ticks | late | p50 (ms) | p99 (ms) | max (ms) | CPU % | "
                "RSS (MiB) | requests | errors |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for st in steps:
            out.append(f"| {st.get('listener_streams', 'all')} | {st.get('workers', 1)} | {st['mpcs']} | "
                       f"{st.get('create_s')} | {st['ticks']} | {st['late_ticks']} | {st['p50_ms']} | "
                       f"{st['p99_ms']} | {st['max_ms']} | {st['cpu_percent']} | {st['rss_mib']} | "
                       f"{st['requests']} | {st['request_errors']} |")
        largest: dict[tuple[str, int], int] = {}
        for mode, workers in sorted({(st.get("listener_streams", "all"), st.get("workers", 1)) for st in steps}):
            kept = [st for st in steps if st.get("keeps_up") and st.get("listener_streams", "all") == mode
                    and st.get("workers", 1) == workers]
            if not kept:
                continue
            best = max(kept, key=lambda st: st["mpcs"])
            largest[(mode, workers)] = best["mpcs"]
            out += ["", f"**Largest N keeping up, `--listener-streams {mode}`, {workers} worker(s): "
                        f"{best['mpcs']} MPCs** ({3 * best['mpcs']} participants, {best['mpcs']} recordings), "
                        f"{best['cpu_percent']} % of a core, {best['rss_mib']} MiB, created in "
                        f"{best.get('create_s')} s."]
            one = largest.get((mode, 1))
            if workers > 1 and one:
                out += ["", f"{workers} workers keep {best['mpcs'] / one:.2f}x the MPCs of one "
                            f"({best['mpcs']} / {one})."]
            cost = best.get("cost_us")
            if cost:
                out += ["", "CPU per MPC per 20 ms tick (µs) at that N: " + ", ".join(
                    f"{k} {v}" for k, v in cost.items()) + "."]
        out += ["", "The parts: `model` (due timers, the call model's snapshot), `plan` (the plan of the MPCs "
                    "the model says changed: routing, sources, files, written in place into per-row tables), "
                    "`gather` (every source's "
                    "frame, one compiled loop per buffer), `mix` (the compiled mixing kernel and limiters), "
                    "`files` (one copy of every file's frame into the tick ring, the files whose turn it is "
                    "handed their second of frames and their header's patch, as one task for the write-behind "
                    "thread), `speech` (only "
                    "participants subscribed to speak events), `events`, `flush` (the headers of files the "
                    "ring does not feed); `other threads`: the write-behind thread writing the files (plain "
                    "`pwrite`s of 16-bit PCM), the HTTP server (and a sharded server's front) and the saver.",
                "",
                "Where the rest goes: a tick where nothing changed costs about 3 µs per MPC recorded (the "
                "gather, the mix and the ring's copy under 1 µs each; the write-behind thread's `pwrite`s and "
                "the HTTP server the rest). A change (a mute, a hold, a new participant) costs the MPCs it "
                "touches: the call model names them, the engine re-plans them in place; what still grows with "
                "the number of MPCs at a change is a few whole-array steps (the gather's grouping, the "
                "tables' scan: under a millisecond at thousands of MPCs), once a tick at most; the call "
                "model's snapshot copies a dict of per-MPC parts and nothing more. Creating MPCs slows as N "
                "grows mostly because the ticker takes a growing share of the core (the request that "
                "arrives renders the frames due before it applies). A sharded server's front forwards over "
                "its own keep-alive connections (about 1 ms of CPU per request). With every listener stream "
                "written, the limit is the disk: an "
                "MPC writes four 32 kB/s files, 1,000 MPCs 128 MB/s; beyond that the page cache's writeback "
                "falls behind, the write-behind thread's queue fills and the ticker waits on it. Two workers "
                "share this machine's two cores with the front, the load generator and the disk's writeback "
                "(several GB a step). The ramp ran on a shared 2-core virtual machine (CPU steal seen up to "
                "15 %): the figures are what this run saw.",
                "", "![tick lateness vs MPCs; MPCs kept vs workers](load.png)"]
        try:
            plot_load(steps, load_json.parent / "load.png")
        except ImportError:
            pass
    else:
        out += ["", "No `make load` figures yet."]
    samples = _read_jsonl(soak_json)
    if samples:
        first, last = samples[0], samples[-1]
        total = last.get("t_s") or 0
        second = [st for st in samples if (st.get("t_s") or 0) > total / 2] or samples[-1:]
        n = len(second)
        mean_t = sum(st["t_s"] for st in second) / n
        mean_v = sum(st["rss_mib"] for st in second) / n
        var = sum((st["t_s"] - mean_t) ** 2 for st in second)
        slope = 60 * sum((st["t_s"] - mean_t) * (st["rss_mib"] - mean_v) for st in second) / var if var else 0.0
        out += ["", f"Soak ({_stamp(soak_json)}): {first['mpcs']} MPCs for {total:.0f} s, with churn (an MPC "
                    "ended and a new one started every 5 s).", "",
                "| | |", "|---|---|",
                f"| requests, errors | {sum(st['requests'] for st in samples)}, "
                f"{sum(st['request_errors'] for st in samples)} |",
                f"| late ticks | {sum(st['late_ticks'] for st in samples)} of {sum(st['ticks'] for st in samples)} |",
                f"| RSS start, midpoint, end (MiB) | {first['rss_mib']}, {second[0]['rss_mib']}, {last['rss_mib']} |",
                f"| RSS slope over the second half | {slope:+.3f} MiB/min (flat: under 0.1) |",
                f"| open files start, end | {first['open_files']}, {last['open_files']} |"]
    else:
        out += ["", "No `make soak` figures yet."]
    return "\n".join([*out, LOAD_END])


def plot_load(steps: list[dict], path: Path) -> None:
    """Tick lateness percentiles vs MPCs (per --listener-streams and workers), and the most MPCs
    kept vs workers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    runs: dict[tuple[str, int], list[dict]] = {}
    for st in steps:
        runs.setdefault((st.get("listener_streams", "all"), st.get("workers", 1)), []).append(st)
    for (mode, workers), run in sorted(runs.items()):
        run = sorted(run, key=lambda st: st["mpcs"])
        x = [st["mpcs"] for st in run]
        for key, style in (("p50_ms", ":"), ("p99_ms", "-"), ("max_ms", "--")):
            left.plot(x, [st[key] or 0 for st in run], style, marker="o",
                      label=f"{mode}, {workers} worker(s): {key[:-3]}")
    left.axhline(20, color="grey", lw=0.8)
    left.set_yscale("log")
    left.set_xlabel("MPCs (3 participants, recorded)")
    left.set_ylabel("tick lateness (ms), 60 s window")
    left.legend(fontsize=7)
    modes = sorted({m for m, _ in runs})
    workers = sorted({w for _, w in runs})
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        kept = [max([st["mpcs"] for st in runs.get((mode, w), []) if st.get("keeps_up")], default=0)
                for w in workers]
        right.bar([w + (i - (len(modes) - 1) / 2) * width for w in workers], kept, width,
                  label=f"--listener-streams {mode}")
    right.set_xticks(workers)
    right.set_xlabel("workers")
    right.set_ylabel("most MPCs kept (p99 lateness < 20 ms)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def update_load_section(doc: Path, load_json: Path = LOAD_JSON, soak_json: Path = SOAK_JSON) -> None:
    """Rewrite the server section of `doc` (docs/performance.md) from the load and soak files,
    leaving the rest as `make bench` wrote it (appended if the markers are missing)."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    section = render_load_section(load_json, soak_json)
    doc.write_text(put_section(text, LOAD_BEGIN, LOAD_END, section))


if __name__ == "__main__":  # `make load` / `make soak`: the server section of docs/performance.md
    update_load_section(LOAD_JSON.parent / "performance.md")
    print(f"wrote the server section of {LOAD_JSON.parent / 'performance.md'}")
