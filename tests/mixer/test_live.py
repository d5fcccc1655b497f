"""The live mixer (mixer/live.py): many calls advanced a frame at a time, equal to `Mixer.render`
bit for bit; non-interference exact; one limiter per output; calls of any size and roles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.mixer import Limiter, LiveMixer, Looped, Mixer, OneShot
from mpcmix.mixer.kernel import plan_mix
from mpcmix.mixer.limiter import UNITY, limit_rows
from mpcmix.routing import (
    CallPhase,
    CallState,
    MpcStatus,
    ParticipantState,
    Role,
    RoutingMatrix,
    build_matrix,
    voice_source,
)

from tests.strategies import call_states, int16_signals, routing_matrices

SETTINGS = settings(max_examples=40, deadline=None)
RATE, FRAME_MS = 8000, 10  # 80-sample frames: many ticks in a short signal
#: Both evaluations of a tick: the compiled kernel (numba comes with the server and bench extras)
#: and whole-array numpy. Each must give Mixer.render's samples.
KERNELS = ["numba", "numpy"]


def sources_for(draw, labels, total):
    """A random int16 source (once or looped, quiet to full scale) for each label."""
    out = {}
    for label in labels:
        pcm = draw(int16_signals(min_size=1, max_size=total + 50, levels=("quiet", "speech", "loud", "full")))
        start = draw(st.integers(-100, total))
        out[label] = Looped(pcm, start) if draw(st.booleans()) else OneShot(pcm, start)
    return out


def tick_frames(live: LiveMixer, sources: dict, tick: int) -> np.ndarray:
    """The stacked input of one tick, read from each call's sources by label."""
    frames = np.zeros((live.n_inputs, live.frame), dtype=np.int16)
    for key in live.calls:
        rows = live.input_rows(key)
        for k, label in enumerate(live.sources(key)):
            frames[rows.start + k] = sources[key][label].read(tick * live.frame, live.frame)
    return frames


@st.composite
def live_calls(draw, max_calls: int = 4):
    """(matrices per tick per call, sources per call, ticks): 1..4 calls from random call states
    (any roles, mute, hold, coach_mode, status, overlays) or random 0/1 matrices, some re-routed
    (a new state, possibly with other participants) at a random tick."""
    n_calls = draw(st.integers(1, max_calls))
    ticks = draw(st.integers(1, 8))
    schedule, sources = {}, {}
    for c in range(n_calls):
        if draw(st.booleans()):
            first = build_matrix(draw(call_states(max_participants=8)))
            second = build_matrix(draw(call_states(max_participants=8)))
        else:
            first = draw(routing_matrices(max_listeners=8, max_sources=8))
            second = first
        change = draw(st.integers(0, ticks))
        schedule[c] = [first if t < change else second for t in range(ticks)]
        labels = sorted({*first.sources, *second.sources})
        sources[c] = sources_for(draw, labels, ticks * RATE * FRAME_MS // 1000)
    return schedule, sources, ticks


@pytest.mark.parametrize("kernel", KERNELS)
@SETTINGS
@given(live_calls(), st.sampled_from([1 << 8, 1 << 12, 1 << 18]))
def test_the_live_mixer_equals_mixer_render_for_every_call_and_tick(kernel, calls, chunk_bytes):
    schedule, sources, ticks = calls
    live = LiveMixer(RATE, FRAME_MS, chunk_bytes=chunk_bytes, kernel=kernel)
    offline = {c: Mixer(RATE) for c in schedule}
    n = live.frame
    for t in range(ticks):
        for c, matrices in schedule.items():
            if t == 0 or matrices[t] is not matrices[t - 1]:
                live.set_call(c, matrices[t])
        out = live.tick(tick_frames(live, sources, t))
        for c, matrices in schedule.items():
            expected = offline[c].render(matrices[t], sources[c], t * n, n)
            np.testing.assert_array_equal(out[live.output_rows(c)], expected, err_msg=f"call {c}, tick {t}")


@pytest.mark.parametrize("kernel", KERNELS)
@SETTINGS
@given(live_calls(max_calls=3), st.lists(st.integers(1, 700), min_size=1, max_size=6),
       st.sampled_from([1 << 8, 1 << 12, 1 << 18]))
def test_advancing_by_any_blocks_equals_mixer_render_over_the_same_blocks(kernel, calls, cuts, chunk_bytes):
    """`advance` takes blocks of any length (the offline renderer's are long, the server's one
    frame): cut the timeline anywhere, re-route between blocks, and every output is still
    `Mixer.render`'s over the same blocks, limiter and peaks included."""
    schedule, sources, ticks = calls
    live = LiveMixer(RATE, FRAME_MS, chunk_bytes=chunk_bytes, kernel=kernel)
    offline = {c: Mixer(RATE) for c in schedule}
    start = 0
    for b, n in enumerate(cuts):
        step = min(b, ticks - 1)
        for c, matrices in schedule.items():
            live.set_call(c, matrices[step])
        frames = np.zeros((live.n_inputs, n), dtype=np.int16)
        for c in live.calls:
            rows = live.input_rows(c)
            for k, label in enumerate(live.sources(c)):
                frames[rows.start + k] = sources[c][label].read(start, n)
        out = live.advance(frames)
        if kernel == "numpy":
            expected_peaks = np.abs(frames.astype(np.int32)).max(axis=1, initial=0)
            np.testing.assert_array_equal(live.last_peaks, expected_peaks)
        for c, matrices in schedule.items():
            expected = offline[c].render(matrices[step], sources[c], start, n)
            np.testing.assert_array_equal(out[live.output_rows(c)], expected, err_msg=f"call {c}, block {b}")
        start += n
    assert live.samples == start


def coaching_call(customers: int = 2, agents: int = 1) -> CallState:
    people = [ParticipantState(f"c{i}", Role.CUSTOMER, CallPhase.ANSWERED) for i in range(customers)]
    people += [ParticipantState(f"a{i}", Role.AGENT, CallPhase.ANSWERED) for i in range(agents)]
    people.append(ParticipantState("boss", Role.SUPERVISOR, CallPhase.ANSWERED, coach_mode=True))
    return CallState(MpcStatus.ACTIVE, tuple(people))


@pytest.mark.parametrize("kernel", KERNELS)
@SETTINGS
@given(st.integers(1, 5), st.integers(1, 3), st.data())
def test_a_coaching_supervisor_never_changes_a_customer_output_bit_for_bit(kernel, customers, agents, data):
    m = build_matrix(coaching_call(customers, agents))
    ticks = 6
    total = ticks * RATE * FRAME_MS // 1000
    srcs = sources_for(data.draw, m.sources, total)
    other = dict(srcs)
    other[voice_source("boss")] = Looped(data.draw(int16_signals(min_size=1, max_size=300, levels=("full",))), 0)
    outs = []
    for s in (srcs, other):
        live = LiveMixer(RATE, FRAME_MS, kernel=kernel)
        live.set_call("mpc", m)
        frames = [tick_frames(live, {"mpc": s}, t)[live.input_rows("mpc")] for t in range(ticks)]
        outs.append(np.concatenate([live.tick_calls({"mpc": f})["mpc"] for f in frames], axis=1))
    for i, name in enumerate(m.listeners):
        if name.startswith("c"):
            np.testing.assert_array_equal(outs[0][i], outs[1][i], err_msg=f"the coach leaked into {name}")


@pytest.mark.parametrize("kernel", KERNELS)
@SETTINGS
@given(routing_matrices(max_listeners=10, max_sources=10), st.data())
def test_a_source_outside_a_row_never_changes_that_output_in_any_call(kernel, m, data):
    column = data.draw(st.integers(0, len(m.sources) - 1))
    n_calls = data.draw(st.integers(1, 3))
    ticks = 5
    total = ticks * RATE * FRAME_MS // 1000
    srcs = {c: sources_for(data.draw, m.sources, total) for c in range(n_calls)}
    swapped = {c: dict(s) for c, s in srcs.items()}
    for c in swapped:
        swapped[c][m.sources[column]] = Looped(np.full(7, 32767, np.int16), 0)
    outs = []
    for s in (srcs, swapped):
        live = LiveMixer(RATE, FRAME_MS, kernel=kernel)
        for c in range(n_calls):
            live.set_call(c, m)
        outs.append(np.concatenate([live.tick(tick_frames(live, s, t)) for t in range(ticks)], axis=1))
    for c in range(n_calls):
        rows = live.output_rows(c)
        for i in range(len(m.listeners)):
            if m.gains[i][column] == 0:
                np.testing.assert_array_equal(outs[0][rows][i], outs[1][rows][i])


@SETTINGS
@given(st.lists(int16_signals(min_size=1, max_size=400, levels=("loud", "full")), min_size=1, max_size=6),
       st.lists(st.integers(0, UNITY), min_size=6, max_size=6), st.sampled_from([8000, 16000, 48000]))
def test_limit_rows_is_each_rows_own_limiter_bit_for_bit(signals, start_gains, rate):
    n = min(map(len, signals))
    x = np.array([s[:n] for s in signals], dtype=np.int64) * 3  # beyond int16: the limiter works
    gains = np.array(start_gains[:len(signals)], dtype=np.int64)
    expected, after = [], []
    for row, g in zip(x, gains, strict=True):
        lim = Limiter(rate)
        lim._gain = int(g)
        expected.append(lim.process(row.astype(np.float32)))
        after.append(lim._gain)
    out = limit_rows(x, gains, Limiter(rate).release_per_sample)
    np.testing.assert_array_equal(out, np.array(expected))
    np.testing.assert_array_equal(gains, after)


@pytest.mark.parametrize("kernel", KERNELS)
def test_an_overloaded_output_limits_only_itself(kernel):
    m = RoutingMatrix(("loud", "quiet"), ("s0", "s1"), ((1, 1), (1, 0)))
    live = LiveMixer(RATE, FRAME_MS, kernel=kernel)
    live.set_call("a", m)
    live.set_call("b", m)
    frames = np.full((live.n_inputs, live.frame), 30000, dtype=np.int16)
    out = live.tick(frames)
    for key in ("a", "b"):
        loud, quiet = out[live.output_rows(key)]
        assert loud.max() == 32767 and live.limiter_gain(key, "loud") < 1.0
        np.testing.assert_array_equal(quiet, frames[0])
        assert live.limiter_gain(key, "quiet") == 1.0
    # the next frame is quiet: the loud output is still releasing, the others are exact
    out = live.tick(np.full((live.n_inputs, live.frame), 100, dtype=np.int16))
    assert (out[live.output_rows("a")][0] < 200).all()
    np.testing.assert_array_equal(out[live.output_rows("a")][1], np.full(live.frame, 100))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("parties", [1, 2, 3, 10, 50, 250])
def test_calls_of_any_size_are_mixed_exactly_and_at_a_flat_cost_per_participant(kernel, parties):
    people = tuple(ParticipantState(f"p{i}", Role.AGENT if i else Role.CUSTOMER, CallPhase.ANSWERED)
                   for i in range(parties))
    m = build_matrix(CallState(MpcStatus.ACTIVE, people))
    live = LiveMixer(16000, 20, kernel=kernel)
    live.set_call(0, m)
    live.set_call(1, m)
    rng = np.random.default_rng(parties)
    frames = rng.integers(-32768, 32768, (live.n_inputs, live.frame)).astype(np.int16)
    out = live.tick(frames)
    for key in (0, 1):
        x = frames[live.input_rows(key)].astype(np.int64)
        gains = np.array(m.gains, dtype=np.int64)[:, [m.sources.index(s) for s in live.sources(key)]]
        exact = gains @ x
        inside = (np.abs(exact) <= 32767).all(axis=1)
        np.testing.assert_array_equal(out[live.output_rows(key)][inside], exact[inside])
    plan = plan_mix(np.array(m.gains)[:, [m.sources.index(s) for s in live.sources(0)]],
                    [live.sources(0).index(voice_source(p.name)) if voice_source(p.name) in live.sources(0) else -1
                     for p in people] + [-1])
    assert plan.cost() <= 2 * (parties + 1)  # ~P for the base, one per row: not P per row


def test_the_layout_follows_calls_added_and_removed():
    small = build_matrix(coaching_call(1, 1))
    big = build_matrix(coaching_call(3, 2))
    live = LiveMixer(RATE, FRAME_MS)
    live.set_call("x", small)
    live.set_call("y", big)
    live.set_call("z", small)

    def spans() -> list[tuple[int, int]]:
        return sorted((r.start, r.stop) for k in live.calls
                      for r in (live.input_rows(k), live.output_rows(k)))

    for key, m in (("x", small), ("y", big), ("z", small)):  # rows of its own, inside the layout
        assert live.input_rows(key).stop - live.input_rows(key).start == 3 if m is small else 6
        assert live.output_rows(key).stop <= live.n_outputs and live.input_rows(key).stop <= live.n_inputs
    ins = sorted((live.input_rows(k).start, live.input_rows(k).stop) for k in live.calls)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ins))  # no two calls share an input row
    assert live.listeners("y") == big.listeners
    before, epoch = (live.input_rows("y"), live.output_rows("z")), live.layout_epoch
    live.remove_call("x")
    assert live.calls == ("y", "z")
    assert (live.input_rows("y"), live.output_rows("z")) == before  # nobody else moved
    live.set_call("w", small)  # takes the slot "x" left: no call moves, no layout epoch
    assert live.layout_epoch == epoch and (live.input_rows("y"), live.output_rows("z")) == before
    assert len(set(spans())) == len(spans())
    live.take_moved()
    for n in range(20):  # a cohort that grows moves its calls, and says so; nothing overlaps
        live.set_call(f"more-{n}", small)
    moved = live.take_moved()
    assert live.layout_epoch > epoch or ("z" in moved and "y" not in moved)
    ins = sorted((live.input_rows(k).start, live.input_rows(k).stop) for k in live.calls)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ins)) and ins[-1][1] <= live.n_inputs
    epoch = live.layout_epoch
    live.pack()  # no free slot left: the rows of the calls alone, side by side
    assert live.layout_epoch > epoch
    assert live.n_inputs == sum(len(live.sources(k)) for k in live.calls)
    assert live.n_outputs == sum(len(live.listeners(k)) for k in live.calls)
    ins = sorted((live.input_rows(k).start, live.input_rows(k).stop) for k in live.calls)
    assert ins[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(ins))
    with pytest.raises(ValueError, match="int16"):
        live.tick(np.zeros((live.n_inputs + 1, live.frame), dtype=np.int16))
    with pytest.raises(ValueError, match="kernel"):
        LiveMixer(kernel="fortran")
    assert LiveMixer(kernel="auto").kernel == "numba"  # installed with the server and bench extras
    with pytest.raises(ValueError, match="whole number"):
        LiveMixer(44100, 3)  # 132.3 samples
