"""Mix plans evaluated by numpy (`kernel.evaluate`) and by the compiled kernel (`kernel_jit`):
every row of any 0/1 gain matrix, for many calls at once, equals the exact integer sum, and the
compiled kernel flags exactly the rows whose sum leaves int16 (the live mixer limits those)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.mixer import kernel_jit
from mpcmix.mixer.kernel import evaluate, plan_mix, row_bounds, source_peaks, tight_bounds

LEVELS = {"quiet": 300, "speech": 6000, "loud": 20000, "full": 32768}


@st.composite
def plans_and_frames(draw):
    """A random 0/1 matrix (listeners x sources, own columns given or not), its plan, and the
    frames of 1..5 calls, each call at its own level (quiet calls take the kernel's int16
    path, loud ones its int32 path)."""
    n_rows, n_cols = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    gains = np.array(draw(st.lists(st.lists(st.integers(0, 1), min_size=n_cols, max_size=n_cols),
                                   min_size=n_rows, max_size=n_rows)), dtype=np.int64)
    own = [draw(st.integers(-1, n_cols - 1)) for _ in range(n_rows)]
    plan = plan_mix(gains, own)
    calls, n = draw(st.integers(1, 5)), draw(st.sampled_from([1, 7, 80, 320]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = [LEVELS[draw(st.sampled_from(sorted(LEVELS)))] for _ in range(calls)]
    frames = np.stack([rng.integers(-level, level, (n_cols, n)) for level in levels])
    return gains, plan, np.clip(frames, -32768, 32767).astype(np.int16)


@settings(max_examples=300, deadline=None)
@given(plans_and_frames())
def test_numpy_evaluation_is_the_exact_sum_in_int32(case):
    gains, plan, frames = case
    exact = np.einsum("ls,csn->cln", gains, frames.astype(np.int64))
    got = evaluate(plan, frames, np.empty((frames.shape[0], *exact.shape[1:]), np.int32))
    np.testing.assert_array_equal(got, exact)


@settings(max_examples=300, deadline=None)
@given(plans_and_frames())
def test_bounds_refined_by_the_bases_still_bound_every_row_and_its_int16_result_is_exact(case):
    """`tight_bounds` (a row's base's actual peak plus its own terms' peaks) never under-bounds a
    row, never exceeds the bound from the sources alone, and where it places a row inside int16
    the wrapping int16 evaluation from its int32 bases is the exact sum."""
    gains, plan, frames = case
    exact = np.einsum("ls,csn->cln", gains, frames.astype(np.int64))
    peaks = source_peaks(frames)
    bounds, bases = tight_bounds(plan, frames, peaks)
    assert (np.abs(exact).max(axis=2) <= bounds).all()
    assert (bounds <= row_bounds(plan, peaks)).all()
    got = evaluate(plan, frames, np.empty(exact.shape, np.int16), bases)
    inside = bounds <= 32767
    np.testing.assert_array_equal(got[inside], exact[inside])


def test_voices_that_do_not_peak_together_are_placed_inside_int16_by_their_total():
    """Ten voices at -14 dBFS peaks (6,500), each loud where the others are quiet: the sources'
    peaks bound every "all but own" row at 58,500, outside int16; the total's actual peak (6,500)
    plus the own voice's places every row inside, so no row needs the int32 evaluation."""
    parties, n = 10, 1000
    frames = np.zeros((1, parties, n), np.int16)
    for j in range(parties):
        frames[0, j, j * 100:(j + 1) * 100] = np.where(np.arange(100) % 2, 6500, -6500)
    gains = 1 - np.eye(parties + 1, parties, dtype=np.int64)  # all but own, and the recording
    plan = plan_mix(gains, [*range(parties), -1])
    peaks = source_peaks(frames)
    assert (row_bounds(plan, peaks) > 32767).all(axis=1).any()
    bounds, bases = tight_bounds(plan, frames, peaks)
    assert bases is not None and (bounds <= 13000).all()
    exact = np.einsum("ls,csn->cln", gains, frames.astype(np.int64))
    np.testing.assert_array_equal(evaluate(plan, frames, np.empty(exact.shape, np.int16), bases), exact)


@pytest.mark.skipif(not kernel_jit.available(), reason="numba is not installed (server/bench extras)")
@settings(max_examples=300, deadline=None)
@given(plans_and_frames())
def test_the_compiled_kernel_is_the_exact_sum_and_flags_rows_outside_int16(case):
    gains, plan, frames = case
    exact = np.einsum("ls,csn->cln", gains, frames.astype(np.int64))
    out = np.empty(exact.shape, np.int16)
    bad = np.empty(exact.shape[:2], np.bool_)
    kernel_jit.mix_calls(kernel_jit.compile_plan(plan), frames, out, bad)
    outside = (exact > 32767) | (exact < -32768)
    np.testing.assert_array_equal(bad, outside.any(axis=2))
    inside = ~bad
    np.testing.assert_array_equal(out[inside], exact[inside])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.integers(1, 130), st.integers(-150, 300), st.integers(0, 2**32 - 1))
def test_compiled_gather_equals_numpy_reads(length, n, start, seed):
    """The compiled gather (`_numba_kernel.gather_rows`: whole runs, a division per wrap) reads
    the same samples as the numpy one, for one-shot and looped rows starting before, inside and
    after the block, and for empty buffers."""
    from mpcmix.mixer._numba_kernel import gather_rows
    from mpcmix.mixer.gather import _gather_numpy

    rng = np.random.default_rng(seed)
    buf = rng.integers(-32768, 32767, length).astype(np.int16)
    rows = rng.permutation(8).astype(np.int64)[:6]
    origins = rng.integers(-200, 320, 6).astype(np.int64)
    looped = rng.integers(0, 2, 6).astype(np.bool_)
    got = np.full((8, n), 7, np.int16)
    want = got.copy()
    gather_rows(buf, rows, origins, looped, got, start)
    _gather_numpy(buf, rows, origins, looped, want, start)
    assert np.array_equal(got, want)
