"""The Mixer: one exact matrix product per block, then one limiter per listener name."""

from __future__ import annotations

import numpy as np
import pytest
from mpcmix.mixer import SILENCE, Looped, Mixer, OneShot
from mpcmix.mixer.engine import CHUNK_SAMPLES, MAX_ROW_GAIN
from mpcmix.routing import RoutingMatrix

A = np.array([100, 200, 300, 400], dtype=np.int16)
B = np.array([-1, -2, -3, -4], dtype=np.int16)


class Unreadable:
    """A source that must never be read (its column is all zeros, or it is silence)."""

    end = None

    def read(self, start: int, n: int) -> np.ndarray:
        raise AssertionError("a source no listener takes was read")


def matrix(gains, listeners=None, sources=None) -> RoutingMatrix:
    listeners = listeners or tuple(f"l{i}" for i in range(len(gains)))
    sources = sources or tuple(f"s{j}" for j in range(len(gains[0]) if gains else 0))
    return RoutingMatrix(tuple(listeners), tuple(sources), tuple(tuple(r) for r in gains))


def test_each_row_is_the_sum_of_the_sources_it_takes():
    m = matrix([[1, 0], [0, 1], [1, 1], [0, 0]])
    out = Mixer(16000).mix(m, {"s0": OneShot(A, 0), "s1": OneShot(B, 0)}, 0, 4)
    assert out.dtype == np.float32 and out.shape == (4, 4)
    np.testing.assert_array_equal(out, [A, B, A.astype(int) + B, [0, 0, 0, 0]])


def test_missing_sources_and_silence_mix_as_silence():
    m = matrix([[1, 1, 1]])
    out = Mixer(16000).mix(m, {"s0": OneShot(A, 0), "s2": SILENCE}, 0, 4)
    np.testing.assert_array_equal(out, [A])


def test_a_column_no_listener_takes_is_never_read():
    m = matrix([[1, 0], [1, 0]])
    out = Mixer(16000).mix(m, {"s0": OneShot(A, 0), "s1": Unreadable()}, 0, 4)
    np.testing.assert_array_equal(out, [A, A])


def test_sources_are_read_at_their_timeline_positions():
    m = matrix([[1, 1]])
    srcs = {"s0": OneShot(A, 2), "s1": Looped(B, 0)}
    out = Mixer(16000).mix(m, srcs, 0, 8)
    np.testing.assert_array_equal(out[0], [-1, -2, 97, 196, 299, 398, -3, -4])


def test_empty_blocks_and_empty_matrices_have_the_right_shapes():
    mixer = Mixer(16000)
    assert mixer.mix(matrix([[1]]), {"s0": OneShot(A, 0)}, 0, 0).shape == (1, 0)
    assert mixer.render(matrix([[1]]), {"s0": OneShot(A, 0)}, 0, 0).shape == (1, 0)
    assert mixer.mix(RoutingMatrix((), ("s0",), ()), {}, 0, 5).shape == (0, 5)
    assert mixer.render(RoutingMatrix(("l0",), (), ((),)), {}, 0, 5).shape == (1, 5)


def test_render_limits_each_row_and_keeps_quiet_rows_exact():
    loud = np.full(400, 30000, dtype=np.int16)
    m = matrix([[1, 1], [1, 0]])
    out = Mixer(16000).render(m, {"s0": OneShot(loud, 0), "s1": OneShot(loud, 0)}, 0, 400)
    assert out.dtype == np.int16
    assert out[0].max() == 32767 and out[0].min() > 0  # 60000 limited, not wrapped
    np.testing.assert_array_equal(out[1], loud)  # the other row never saw the overload


def test_a_limiter_follows_its_listener_name_across_matrices():
    mixer = Mixer(16000)
    loud = {"s0": OneShot(np.full(100, 32000, np.int16), 0), "s1": OneShot(np.full(100, 32000, np.int16), 0)}
    mixer.render(matrix([[1, 1]], listeners=["agent"]), loud, 0, 100)
    assert not mixer.limiter("agent").is_at_unity
    # the next matrix lists the agent second, beside a fresh listener: the state goes with the name
    quiet = {"s0": OneShot(np.full(100, 1000, np.int16), 100)}
    out = mixer.render(matrix([[1, 0], [1, 0]], listeners=["boss", "agent"]), quiet, 100, 100)
    np.testing.assert_array_equal(out[0], np.full(100, 1000))
    assert (out[1] < 1000).any()  # the agent's limiter is still releasing


def test_a_listener_absent_from_a_matrix_keeps_its_limiter_and_the_gap_counts_as_silence():
    loud = np.full(200, 32000, np.int16)
    srcs = {"s0": OneShot(loud, 0), "s1": OneShot(loud, 0), "s2": Looped(np.full(10, 9000, np.int16), 0)}
    with_gap, whole = Mixer(16000), Mixer(16000)
    both = matrix([[1, 1, 0], [0, 0, 1]], listeners=["x", "y"])
    only_y = matrix([[0, 0, 1]], listeners=["y"])
    parts = [with_gap.render(both, srcs, 0, 200)[0]]
    with_gap.render(only_y, srcs, 200, 300)  # x is not in this matrix: its stream is silent here
    parts.append(np.zeros(300, np.int16))
    then = matrix([[0, 0, 1], [0, 0, 1]], listeners=["x", "y"])
    parts.append(with_gap.render(then, srcs, 500, 3000)[0])
    # the same stream, with x present throughout and hearing nothing in the gap
    silent_x = matrix([[0, 0, 0], [0, 0, 1]], listeners=["x", "y"])
    reference = [whole.render(both, srcs, 0, 200)[0], whole.render(silent_x, srcs, 200, 300)[0],
                 whole.render(then, srcs, 500, 3000)[0]]
    np.testing.assert_array_equal(np.concatenate(parts), np.concatenate(reference))


def test_render_refuses_to_go_back_in_time():
    mixer = Mixer(16000)
    m = matrix([[1]])
    mixer.render(m, {"s0": OneShot(A, 0)}, 0, 4)
    with pytest.raises(ValueError, match="'l0': rendered up to sample 4, cannot render from 2"):
        mixer.render(m, {"s0": OneShot(A, 0)}, 2, 4)


def test_mix_is_stateless_and_may_be_repeated():
    mixer = Mixer(16000)
    m, srcs = matrix([[1, 1]]), {"s0": OneShot(A, 0), "s1": OneShot(B, 0)}
    np.testing.assert_array_equal(mixer.mix(m, srcs, 0, 4), mixer.mix(m, srcs, 0, 4))


def test_gains_that_would_break_exactness_are_refused():
    srcs = {"s0": OneShot(A, 0)}
    with pytest.raises(ValueError, match="integers"):
        Mixer(16000).mix(matrix([[0.5]]), srcs, 0, 4)
    with pytest.raises(ValueError, match=f"at most {MAX_ROW_GAIN}"):
        Mixer(16000).mix(matrix([[1] * (MAX_ROW_GAIN + 1)]), srcs, 0, 4)
    with pytest.raises(ValueError, match="distinct"):
        Mixer(16000).mix(matrix([[1], [1]], listeners=["a", "a"]), srcs, 0, 4)


def test_a_row_of_512_full_scale_sources_is_still_exact():
    """The documented bound: 512 sources at -32768 sum to -2**24, exact in float32."""
    n_sources = MAX_ROW_GAIN
    m = matrix([[1] * n_sources, [1] * (n_sources - 1) + [0]])
    full = np.array([-32768, 32767, -32768, 1], dtype=np.int16)
    srcs = {f"s{j}": OneShot(full, 0) for j in range(n_sources)}
    out = Mixer(16000).mix(m, srcs, 0, 4)
    expected = full.astype(np.int64) * np.array([[n_sources], [n_sources - 1]])
    np.testing.assert_array_equal(out.astype(np.int64), expected)


def test_a_block_longer_than_a_chunk_is_mixed_whole_and_exactly():
    rng = np.random.default_rng(5)
    n = 3 * CHUNK_SAMPLES + 123
    pcms = [rng.integers(-32768, 32768, n).astype(np.int16) for _ in range(3)]
    m = matrix([[1, 1, 0], [0, 1, 1], [1, 1, 1]])
    srcs = {f"s{j}": OneShot(p, 0) for j, p in enumerate(pcms)}
    expected = np.array(m.gains, dtype=np.int64) @ np.array(pcms, dtype=np.int64)
    np.testing.assert_array_equal(Mixer(16000).mix(m, srcs, 0, n).astype(np.int64), expected)
    whole = Mixer(16000).render(m, srcs, 0, n)
    mixer = Mixer(16000)
    split = np.concatenate([mixer.render(m, srcs, 0, 5000), mixer.render(m, srcs, 5000, n - 5000)], axis=1)
    np.testing.assert_array_equal(split, whole)
