"""The mixer's exactness properties (non-interference: docs/routing.md; exactness: docs/design.md,
"Audio representation"), over random routing matrices and random int16 sources:

(a) before the limiter, every output is its matrix row applied to the sources, exactly;
(b) a source outside a listener's row never changes that listener's rendered output, bit for bit,
    limiter included, however loud the other rows get;
(c) mixing and rendering in blocks of any sizes equals doing it whole.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.mixer import Looped, Mixer, OneShot
from mpcmix.routing import Role, build_matrix

from tests.strategies import block_splits, call_states, int16_signals, routing_matrices

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def calls(draw, max_listeners: int = 12, max_sources: int = 12, max_samples: int = 1500):
    """(matrix, sources, total): a random matrix, and for each of its sources a random
    int16 signal placed once or looped at a random start, over `total` timeline samples."""
    m = draw(routing_matrices(max_listeners=max_listeners, max_sources=max_sources))
    total = draw(st.integers(1, max_samples))
    sources = {}
    for label in m.sources:
        pcm = draw(int16_signals(min_size=1, max_size=max_samples, levels=("speech", "loud", "full")))
        start = draw(st.integers(-200, total))
        sources[label] = Looped(pcm, start) if draw(st.booleans()) else OneShot(pcm, start)
    return m, sources, total


def reference_mix(m, sources, start: int, n: int) -> np.ndarray:
    """int64 (L, n): each row applied to the sources with numpy integer arithmetic."""
    block = np.array([sources[s].read(start, n) for s in m.sources], dtype=np.int64).reshape(len(m.sources), n)
    gains = np.array(m.gains, dtype=np.int64).reshape(len(m.listeners), len(m.sources))
    return gains @ block


@SETTINGS
@given(calls(), st.integers(-300, 300))
def test_every_output_is_its_row_applied_to_the_sources_exactly(call, start):
    m, sources, total = call
    out = Mixer(16000).mix(m, sources, start, total)
    assert out.dtype == np.float32 and out.shape == (len(m.listeners), total)
    np.testing.assert_array_equal(out.astype(np.int64), reference_mix(m, sources, start, total))
    assert np.array_equal(out, np.rint(out))  # integers, not near-integers


@SETTINGS
@given(calls(), st.data())
def test_a_source_outside_a_row_never_changes_that_output(call, data):
    m, sources, total = call
    label = data.draw(st.sampled_from(m.sources), label="replaced source")
    other = data.draw(int16_signals(min_size=1, max_size=2000, levels=("loud", "full")), label="replacement")
    swapped = dict(sources)
    swapped[label] = Looped(other, data.draw(st.integers(-100, total)))
    blocks = data.draw(block_splits(total), label="blocks")
    first, second = Mixer(16000), Mixer(16000)
    a = np.concatenate([first.render(m, sources, lo, hi - lo) for lo, hi in blocks], axis=1)
    b = np.concatenate([second.render(m, swapped, lo, hi - lo) for lo, hi in blocks], axis=1)
    column = m.sources.index(label)
    for i, listener in enumerate(m.listeners):
        if m.gains[i][column] == 0:
            np.testing.assert_array_equal(a[i], b[i], err_msg=f"{label} leaked into {listener}")


@SETTINGS
@given(calls(max_samples=3000), st.data())
def test_mixing_in_blocks_of_any_size_equals_mixing_whole(call, data):
    m, sources, total = call
    blocks = data.draw(block_splits(total, max_blocks=10))
    whole = Mixer(16000).mix(m, sources, 0, total)
    mixer = Mixer(16000)
    pieces = np.concatenate([mixer.mix(m, sources, lo, hi - lo) for lo, hi in blocks], axis=1)
    np.testing.assert_array_equal(pieces, whole)


@SETTINGS
@given(calls(max_samples=3000), st.data(), st.sampled_from([8000, 16000, 48000]))
def test_rendering_in_blocks_of_any_size_equals_rendering_whole(call, data, rate):
    m, sources, total = call
    blocks = data.draw(block_splits(total, max_blocks=10))
    whole = Mixer(rate).render(m, sources, 0, total)
    mixer = Mixer(rate)
    pieces = np.concatenate([mixer.render(m, sources, lo, hi - lo) for lo, hi in blocks], axis=1)
    np.testing.assert_array_equal(pieces, whole)


@SETTINGS
@given(call_states(), st.data())
def test_a_coaching_supervisor_never_changes_a_customer_output(state, data):
    """Non-interference (docs/routing.md) end to end: routing's matrix, then the mixer, limiter
    included."""
    m = build_matrix(state)
    n = 800
    sources = {
        label: OneShot(data.draw(int16_signals(min_size=n, max_size=n, levels=("loud", "full"))), 0)
        for label in m.sources
    }
    coaches = [p.name for p in state.participants if p.is_coaching]
    swapped = dict(sources)
    for name in coaches:
        swapped[f"voice:{name}"] = Looped(data.draw(int16_signals(min_size=1, max_size=500, levels=("full",))), 0)
    a = Mixer(16000).render(m, sources, 0, n)
    b = Mixer(16000).render(m, swapped, 0, n)
    for i, listener in enumerate(m.listeners):
        p = next((p for p in state.participants if p.name == listener), None)
        if p is not None and p.role.routes_as is Role.CUSTOMER:
            np.testing.assert_array_equal(a[i], b[i], err_msg=f"a coach reached customer {listener}")


@SETTINGS
@given(calls(max_samples=3000), st.data())
def test_the_internal_chunk_size_never_changes_the_output(call, data):
    m, sources, total = call
    chunk = data.draw(st.integers(1, 700), label="chunk_samples")
    np.testing.assert_array_equal(
        Mixer(16000, chunk_samples=chunk).mix(m, sources, 0, total), Mixer(16000).mix(m, sources, 0, total)
    )
    np.testing.assert_array_equal(
        Mixer(16000, chunk_samples=chunk).render(m, sources, 0, total), Mixer(16000).render(m, sources, 0, total)
    )
