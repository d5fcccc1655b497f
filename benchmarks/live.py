"""Live mixing: one frame (16 kHz, 20 ms) of many calls per tick, on one thread.

Peers, each given the same stacked input frames ``int16 (calls * parties, 320)`` and writing
``int16 (calls * (parties + 1), 320)`` (each party's stream, then the call's recording):

- `LiveMixer` (mpcmix.mixer.live): calls batched by plan, total minus own voice, in int16 with
  a peak bound, exact int32 where needed, per-output limiters;
- a per-call numpy matrix product (float32, exact for these integers), clipped to int16;
- a per-call Python loop (for each listener, add up the sources it hears with numpy);
- the copy floor: every input sample read once and every output sample written once.

Inputs are speech-like (workload.voice_chunk: parties talk in turns over a quiet floor), several
distinct tick inputs in turn so that no peer mixes the same memory twice in a row. Before any
time is taken, every peer's output of a tick is checked equal to LiveMixer's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from mpcmix.mixer.live import LiveMixer
from mpcmix.routing import CallPhase, CallState, MpcStatus, ParticipantState, Role, build_matrix

from .workload import voice_chunk

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME = SAMPLE_RATE * FRAME_MS // 1000
_POOL_FRAMES = 50  # distinct frames per voice in the input pool (1 s)
_VARIANTS = 3  # distinct tick inputs, used in turn


def conference(parties: int) -> CallState:
    """A call of `parties` in conference (a customer and agents): every stream is all but own."""
    people = tuple(ParticipantState(f"p{i}", Role.CUSTOMER if i == 0 else Role.AGENT, CallPhase.ANSWERED)
                   for i in range(parties))
    return CallState(MpcStatus.ACTIVE, people)


def voice_gains(parties: int) -> np.ndarray:
    """int (parties + 1, parties): the routing matrix's voice columns (all but own; all)."""
    m = build_matrix(conference(parties))
    cols = [m.sources.index(f"voice:p{i}") for i in range(parties)]
    return np.array(m.gains, dtype=np.int64)[:, cols]


def make_inputs(calls: int, parties: int) -> list[np.ndarray]:
    """`_VARIANTS` tick inputs, int16 (calls * parties, FRAME) each, speech-like, deterministic."""
    pool = np.stack([voice_chunk(p, parties, 0, _POOL_FRAMES * FRAME, SAMPLE_RATE) for p in range(parties)])
    pool = pool.reshape(parties, _POOL_FRAMES, FRAME)
    party = np.tile(np.arange(parties), calls)
    out = []
    for v in range(_VARIANTS):
        which = (np.repeat(np.arange(calls), parties) * 7 + v * 13 + party) % _POOL_FRAMES
        out.append(np.ascontiguousarray(pool[party, which]))
    return out


@dataclass
class LivePeer:
    """A way to mix one tick: `prepare(calls, parties)` returns ``tick(frames, out)``."""

    name: str
    prepare: Callable[[int, int], Callable[[np.ndarray, np.ndarray], None]]


def _mpcmix(calls: int, parties: int, kernel: str = "auto") -> Callable[[np.ndarray, np.ndarray], None]:
    live = LiveMixer(SAMPLE_RATE, FRAME_MS, kernel=kernel)
    matrix = build_matrix(conference(parties))
    for c in range(calls):
        live.set_call(c, matrix)
    live.pack()  # no free slots: the frames laid out as every peer's
    assert live.n_inputs == calls * parties and live.n_outputs == calls * (parties + 1)
    assert all(live.sources(0)[i] == f"voice:p{i}" for i in range(parties))

    def tick(frames: np.ndarray, out: np.ndarray) -> None:
        live.tick(frames, out)
    return tick


def _matmul(calls: int, parties: int) -> Callable[[np.ndarray, np.ndarray], None]:
    gains = voice_gains(parties).astype(np.float32)
    block = np.empty((parties, FRAME), dtype=np.float32)
    mix = np.empty((parties + 1, FRAME), dtype=np.float32)

    def tick(frames: np.ndarray, out: np.ndarray) -> None:
        for c in range(calls):
            np.copyto(block, frames[c * parties:(c + 1) * parties], casting="unsafe")
            np.matmul(gains, block, out=mix)
            np.clip(mix, -32768, 32767, out=mix)
            np.copyto(out[c * (parties + 1):(c + 1) * (parties + 1)], mix, casting="unsafe")
    return tick


def _python_loop(calls: int, parties: int) -> Callable[[np.ndarray, np.ndarray], None]:
    rows = [[j for j in range(parties) if g[j]] for g in voice_gains(parties)]
    acc = np.empty(FRAME, dtype=np.int32)

    def tick(frames: np.ndarray, out: np.ndarray) -> None:
        for c in range(calls):
            x = frames[c * parties:(c + 1) * parties]
            for i, row in enumerate(rows):
                acc[:] = 0
                for j in row:
                    np.add(acc, x[j], out=acc)
                np.clip(acc, -32768, 32767, out=acc)
                out[c * (parties + 1) + i] = acc
    return tick


def _copy_floor(calls: int, parties: int) -> Callable[[np.ndarray, np.ndarray], None]:
    def tick(frames: np.ndarray, out: np.ndarray) -> None:
        o = out.reshape(calls, parties + 1, FRAME)
        x = frames.reshape(calls, parties, FRAME)
        o[:, :parties] = x
        o[:, parties] = x[:, 0]
    return tick


def _mpcmix_numpy(calls: int, parties: int) -> Callable[[np.ndarray, np.ndarray], None]:
    return _mpcmix(calls, parties, kernel="numpy")


PEERS = {
    "mpcmix": LivePeer("mpcmix LiveMixer", _mpcmix),
    "mpcmix_numpy": LivePeer("LiveMixer, numpy kernel", _mpcmix_numpy),
    "matmul": LivePeer("per-call numpy matmul", _matmul),
    "python": LivePeer("per-call Python loop", _python_loop),
    "copy": LivePeer("copy floor", _copy_floor),
}


def check_equal(calls: int, parties: int, peers: list[str]) -> None:
    """Every peer's output of one tick equals LiveMixer's (the copy floor excepted)."""
    frames = make_inputs(calls, parties)[0]
    outs = {}
    for key in peers:
        out = np.empty((calls * (parties + 1), FRAME), dtype=np.int16)
        PEERS[key].prepare(calls, parties)(frames, out)
        outs[key] = out
    for key in peers:
        if key not in ("copy", "mpcmix") and "mpcmix" in outs:  # mpcmix_numpy is checked too
            diff = np.abs(outs[key].astype(np.int32) - outs["mpcmix"]).max(initial=0)
            if diff > 1:
                raise AssertionError(f"{PEERS[key].name}: differs from LiveMixer by {diff}")


def time_ticks(peers: list[str], calls: int, parties: int, ticks: int, rounds: int = 3,
               budget_s: float = 2.0) -> dict[str, list[float]]:
    """Per-tick seconds of each peer, `rounds` rounds alternating peers, `ticks` ticks a round
    (fewer when a peer would pass `budget_s` a round)."""
    inputs = make_inputs(calls, parties)
    out = np.empty((calls * (parties + 1), FRAME), dtype=np.int16)
    ticks_of = {key: PEERS[key].prepare(calls, parties) for key in peers}
    times: dict[str, list[float]] = {key: [] for key in peers}
    for r in range(rounds):
        for key in (peers if r % 2 == 0 else list(reversed(peers))):
            tick = ticks_of[key]
            tick(inputs[0], out)  # warm-up (first-touch of the output)
            spent = 0.0
            for t in range(ticks):
                t0 = time.perf_counter()
                tick(inputs[t % _VARIANTS], out)
                dt = time.perf_counter() - t0
                times[key].append(dt)
                spent += dt
                if spent > budget_s and t >= 2:
                    break
    return times


def capacity(key: str, parties: int = 10, guess_calls: int = 1000, rounds: int = 3) -> tuple[int, float]:
    """The participants one core mixes in real time: (participants, median tick s at that load).

    Estimated from the median tick at `guess_calls`, then measured again at the estimate (and
    corrected once more), so the figure is a load at which the median tick fits in its frame.
    """
    frame_s = FRAME_MS / 1000
    calls = guess_calls
    for _ in range(2):
        t = statistics.median(time_ticks([key], calls, parties, 15, rounds=rounds)[key])
        calls = max(1, int(calls * frame_s / t))
    t = statistics.median(time_ticks([key], calls, parties, 15, rounds=rounds)[key])
    while t > frame_s and calls > 1:
        calls = max(1, int(calls * 0.95))
        t = statistics.median(time_ticks([key], calls, parties, 15, rounds=rounds)[key])
    return calls * parties, t


def percentile(xs: list[float], q: float) -> float:
    """The `q`-th percentile (0..100) of `xs`, nearest rank."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]
