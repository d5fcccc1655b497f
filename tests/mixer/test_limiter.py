"""The per-output limiter (docs/design.md, "Audio representation"): transparent below full scale,
never wraps, back to unity within 500 ms, and bit-exact whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.mixer import Limiter
from mpcmix.mixer.limiter import UNITY, limit_rows, limit_rows_full

from tests.strategies import block_splits, int16_signals

RATES = [8000, 16000, 24000, 48000]


def reference_limiter(x: np.ndarray, sample_rate: int, release_ms: float = 250.0) -> np.ndarray:
    """The limiter's recursion, one sample at a time in Python integers (the model)."""
    r = Limiter(sample_rate, release_ms).release_per_sample
    g, out = UNITY, []
    for v in (int(s) for s in x):
        limit = 32768 if v < 0 else 32767
        target = UNITY if v == 0 else min(UNITY, limit * UNITY // abs(v))
        g = min(UNITY, target, g + r)
        out.append((v * g + (1 << 29)) >> 30)
    return np.array(out, dtype=np.int16)


@st.composite
def mixes(draw, max_size: int = 3000):
    """float32 (n,) integer mixes: sums of 1..6 random int16 signals (often beyond int16)."""
    n = draw(st.integers(0, max_size))
    k = draw(st.integers(1, 6))
    parts = [draw(int16_signals(min_size=n, max_size=n)) for _ in range(k)]
    return np.sum([p.astype(np.int64) for p in parts], axis=0).astype(np.float32).reshape(n)


def process_in_blocks(limiter: Limiter, x: np.ndarray, blocks) -> np.ndarray:
    return np.concatenate([limiter.process(x[lo:hi]) for lo, hi in blocks] or [np.zeros(0, np.int16)])


# --------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(int16_signals(max_size=4000, levels=("quiet", "speech", "loud", "full")), st.sampled_from(RATES))
def test_a_mix_within_int16_passes_unchanged(pcm, rate):
    limiter = Limiter(rate)
    out = limiter.process(pcm.astype(np.float32))
    np.testing.assert_array_equal(out, pcm)
    assert out.dtype == np.int16 and limiter.is_at_unity


def test_full_scale_at_both_ends_passes_unchanged():
    x = np.array([32767, -32768, 0, -32768, 32767] * 10, dtype=np.float32)
    limiter = Limiter(16000)
    np.testing.assert_array_equal(limiter.process(x), x)
    assert limiter.is_at_unity


@settings(max_examples=150, deadline=None)
@given(st.lists(mixes(max_size=1500), min_size=1, max_size=3), st.sampled_from(RATES),
       st.sampled_from([1.0, 5.0, 30.0, 250.0]))
def test_the_vectorised_limiter_equals_its_sample_by_sample_recursion(blocks, rate, release_ms):
    """Including blocks where the gain recovers part-way, or starts releasing from the last."""
    limiter = Limiter(rate, release_ms)
    out = np.concatenate([limiter.process(b) for b in blocks])
    np.testing.assert_array_equal(out, reference_limiter(np.concatenate(blocks), rate, release_ms))


@settings(max_examples=150, deadline=None)
@given(st.data(), mixes(max_size=4000), st.sampled_from(RATES), st.sampled_from([5.0, 250.0, 500.0]))
def test_limiting_in_blocks_of_any_size_equals_one_pass(data, x, rate, release_ms):
    whole_limiter, block_limiter = Limiter(rate, release_ms), Limiter(rate, release_ms)
    whole = whole_limiter.process(x)
    blocks = data.draw(block_splits(len(x), max_blocks=12))
    np.testing.assert_array_equal(process_in_blocks(block_limiter, x, blocks), whole)
    assert block_limiter.gain == whole_limiter.gain


@settings(max_examples=100, deadline=None)
@given(mixes(), st.sampled_from(RATES))
def test_a_loud_mix_never_wraps_and_keeps_its_sign(x, rate):
    loud = x * 64  # up to 6 * 64 full-scale sources: far beyond int16
    out = Limiter(rate).process(loud)
    assert out.dtype == np.int16
    y = out.astype(np.int64)
    assert np.all(np.sign(y) * np.sign(loud) >= 0)  # never the opposite sign
    assert np.all(np.abs(y) <= np.abs(loud))  # a limiter only ever turns down


def test_the_loudest_sample_lands_exactly_on_full_scale():
    """Instant attack: the overloading sample itself is brought to the int16 limit."""
    for peak in (32768, 50_000, 1_000_000, 16_000_000):
        for sign, limit in ((1, 32767), (-1, -32768)):
            out = Limiter(16000).process(np.array([0, sign * peak, 0], dtype=np.float32))
            assert out[1] == limit


def test_huge_sums_stay_inside_int16():
    x = np.array([2**24, -(2**24), 2**23, -(2**23), 40000, -40000, 1e12, -1e12], dtype=np.float32)
    out = Limiter(16000).process(x)
    assert out.min() >= -32768 and out.max() <= 32767
    np.testing.assert_array_equal(np.sign(out), np.sign(x))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("release_ms", [None, 100.0, 500.0])
def test_after_an_overload_the_gain_is_back_to_unity_within_500_ms(rate, release_ms):
    limiter = Limiter(rate) if release_ms is None else Limiter(rate, release_ms)
    burst = np.full(rate // 10, 16_000_000, dtype=np.float32)  # the deepest reduction a mix can ask
    limiter.process(burst)
    assert limiter.gain < 0.01
    steady = np.full(rate // 2, 20000, dtype=np.float32)  # 500 ms at a level inside int16
    out = limiter.process(steady)
    assert limiter.is_at_unity
    assert out[-1] == 20000
    recovered = np.flatnonzero(out != 20000)
    limit_ms = 500 if release_ms is None else release_ms
    assert len(recovered) == 0 or recovered[-1] < rate * limit_ms / 1000


def test_the_release_is_a_linear_ramp():
    limiter = Limiter(16000, 100.0)
    limiter.process(np.array([32767 * 4], dtype=np.float32))  # gain 1/4
    out = limiter.process(np.full(1600, 10000, dtype=np.float32)).astype(np.int64)
    steps = np.diff(out[:1000])
    assert np.all(steps >= 0)
    assert np.ptp(steps[steps > 0]) <= 1  # constant slope, to rounding
    assert out[-1] == 10000


def test_skipping_equals_processing_silence():
    a, b = Limiter(16000), Limiter(16000)
    loud = np.full(100, 100_000, dtype=np.float32)
    a.process(loud), b.process(loud)
    a.skip(1234)
    b.process(np.zeros(1234, dtype=np.float32))
    assert a.gain == b.gain
    tail = np.full(3000, 30000, dtype=np.float32)
    np.testing.assert_array_equal(a.process(tail), b.process(tail))


def test_each_limiter_has_its_own_state():
    a, b = Limiter(16000), Limiter(16000)
    a.process(np.full(10, 1e6, dtype=np.float32))
    assert not a.is_at_unity and b.is_at_unity
    np.testing.assert_array_equal(b.process(np.full(10, 30000, dtype=np.float32)), np.full(10, 30000))
    a.reset()
    assert a.is_at_unity


def test_release_must_be_positive_and_at_most_500_ms():
    for bad in (0, -1, 500.1, 1000):
        with pytest.raises(ValueError, match="release_ms"):
            Limiter(16000, bad)
    with pytest.raises(ValueError, match="one stream"):
        Limiter(16000).process(np.zeros((2, 4), np.float32))
    assert Limiter(16000).process(np.zeros(0, np.float32)).shape == (0,)


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(0, 600), st.integers(1, 8), st.sampled_from(RATES))
def test_the_fast_path_equals_the_full_limiter(data, n, k, rate):
    """`limit_rows` passes a row within int16 at unity gain unchanged, without evaluating it:
    the same samples and gains as the closed form evaluated on every row (`limit_rows_full`),
    whatever the mixture of such rows, overloading rows and rows still releasing."""
    rows = []
    for _ in range(k):
        parts = data.draw(st.integers(1, 4))  # one signal stays inside int16; sums may not
        rows.append(np.sum([data.draw(int16_signals(min_size=n, max_size=n, levels=("speech", "loud", "full")))
                            .astype(np.int64) for _ in range(parts)], axis=0).reshape(n))
    x = np.array(rows, dtype=np.int32).reshape(k, n)
    gains = np.array([data.draw(st.sampled_from([UNITY, UNITY, UNITY - 1, 0, UNITY // 3])) for _ in range(k)],
                     dtype=np.int64)
    r = Limiter(rate).release_per_sample
    full_gains = gains.copy()
    expected = limit_rows_full(x, full_gains, r)
    out = np.full((k, n), 7, dtype=np.int16)
    got = limit_rows(x, gains, r, out=out)
    assert got is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(gains, full_gains)
