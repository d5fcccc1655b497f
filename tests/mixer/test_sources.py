"""Timeline sources: what OneShot, Looped and SILENCE give at any timeline position, in blocks of
any size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.mixer import SILENCE, Looped, OneShot, Source

from tests.audio_checks import placed
from tests.strategies import block_splits, int16_signals

PCM = np.arange(1, 11, dtype=np.int16)  # 1..10: every sample tells where it came from


def test_a_one_shot_plays_once_from_its_start_then_falls_silent():
    src = OneShot(PCM, 5)
    np.testing.assert_array_equal(src.read(0, 20), [0] * 5 + list(range(1, 11)) + [0] * 5)
    assert src.end == 15
    assert not src.read(15, 100).any()
    assert not src.read(-50, 55).any()


def test_a_one_shot_may_start_before_the_timeline():
    np.testing.assert_array_equal(OneShot(PCM, -3).read(0, 8), [4, 5, 6, 7, 8, 9, 10, 0])


def test_a_loop_wraps_around_forever_from_its_start():
    src = Looped(PCM, 3)
    out = src.read(0, 33)
    np.testing.assert_array_equal(out[:3], [0, 0, 0])
    np.testing.assert_array_equal(out[3:], np.tile(PCM, 3))
    np.testing.assert_array_equal(src.read(3 + 10 * 1000 + 7, 5), [8, 9, 10, 1, 2])
    assert src.end is None


def test_a_loop_read_far_away_matches_the_modulo_of_its_position():
    pcm = np.random.default_rng(0).integers(-32768, 32768, 997).astype(np.int16)
    start = 123_456_789
    np.testing.assert_array_equal(Looped(pcm, 0).read(start, 2000), pcm[np.arange(start, start + 2000) % 997])


def test_an_empty_loop_is_silence():
    assert not Looped(np.zeros(0, np.int16), 0).read(0, 50).any()


def test_silence_is_silent_everywhere_and_ends_at_zero():
    assert not SILENCE.read(-100, 1000).any()
    assert SILENCE.read(0, 7).dtype == np.int16
    assert SILENCE.end == 0


def test_reads_return_fresh_int16_arrays_of_the_asked_length():
    for src in (OneShot(PCM, 0), Looped(PCM, 0), SILENCE):
        assert isinstance(src, Source)
        out = src.read(2, 4)
        assert out.dtype == np.int16 and out.shape == (4,)
        out[:] = 0  # the caller may write into what it got...
        assert src.read(2, 4).any() or src is SILENCE  # ...without touching the source
        assert src.read(0, 0).shape == (0,)
        with pytest.raises(ValueError, match="negative"):
            src.read(0, -1)


def test_sources_take_int16_mono_only():
    with pytest.raises(TypeError, match="int16"):
        OneShot(np.zeros(4, np.float32), 0)
    with pytest.raises(TypeError, match="int16"):
        Looped(np.zeros((2, 4), np.int16), 0)


@st.composite
def sources_and_spans(draw):
    pcm = draw(int16_signals(min_size=1, max_size=300))
    start = draw(st.integers(-400, 400))
    src = draw(st.sampled_from([OneShot(pcm, start), Looped(pcm, start), SILENCE]))
    a = draw(st.integers(-500, 500))
    total = draw(st.integers(0, 1500))
    return src, a, total, draw(block_splits(total))


@settings(max_examples=150, deadline=None)
@given(sources_and_spans())
def test_reading_in_blocks_of_any_size_equals_reading_whole(case):
    src, a, total, blocks = case
    whole = src.read(a, total)
    pieces = [src.read(a + lo, hi - lo) for lo, hi in blocks]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


@settings(max_examples=100, deadline=None)
@given(int16_signals(min_size=1, max_size=300), st.integers(-300, 300), st.booleans())
def test_a_source_is_its_pcm_placed_on_the_timeline(pcm, start, loop):
    src = Looped(pcm, start) if loop else OneShot(pcm, start)
    np.testing.assert_array_equal(src.read(0, 1000), placed(pcm, start, 1000, loop=loop))


# -- voices streamed from disk (PcmFile) -------------------------------------------------------

_RATE = 16000
_LONG = np.random.default_rng(3).integers(-32768, 32768, 3 * (1 << 14) + 77).astype(np.int16)


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    import soundfile as sf

    path = tmp_path_factory.mktemp("pcm") / "voice.wav"
    sf.write(path, _LONG, _RATE, subtype="PCM_16")
    return path


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_LONG)), st.sampled_from([0, 1, 320, 5000, 1 << 14, 40000])),
                min_size=1, max_size=30))
def test_a_voice_streamed_from_disk_reads_as_the_loaded_file_in_any_order_and_size(long_wav, reads):
    """Ticks read a frame at a time (served from a read-ahead window), renders read long blocks
    (straight from the file): any mix of the two, forwards or back, gives the file's samples."""
    from mpcmix.mixer import open_pcm

    pcm = open_pcm(long_wav, _RATE)
    assert pcm is not None and len(pcm) == len(_LONG)
    for lo, n in reads:
        n = min(n, len(_LONG) - lo)
        np.testing.assert_array_equal(pcm[lo:lo + n], _LONG[lo:lo + n])
        src = OneShot(pcm, 100)
        np.testing.assert_array_equal(src.read(lo, n), OneShot(_LONG, 100).read(lo, n))


def test_a_voice_file_cut_short_while_playing_is_refused_by_name(tmp_path):
    import soundfile as sf
    from mpcmix.mixer import AudioError, open_pcm

    path = tmp_path / "voice.wav"
    sf.write(path, _LONG, _RATE, subtype="PCM_16")
    pcm = open_pcm(path, _RATE)
    np.testing.assert_array_equal(pcm[0:320], _LONG[:320])
    with open(path, "r+b") as f:
        f.truncate(44 + 2 * 20000)
    with pytest.raises(AudioError, match=r"voice\.wav.*short read"):
        for lo in range(320, len(_LONG) - 320, 320):
            pcm[lo:lo + 320]
