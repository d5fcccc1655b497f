"""load_audio: any libsndfile input decoded once to int16 mono at the call's rate; broken inputs
refused with a message naming the file; the built-in beeps and music; pydub interop.

Every file here is a real one, written by soundfile (or by hand, for broken headers) in tmp_path.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer import AudioError, beep, default_music, load_audio, to_audiosegment
from mpcmix.mixer.decode import MAX_INPUT_RATE, wav_data_size_ok
from mpcmix.mixer.sounds import MUSIC_KINDS


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    """float64 (n,) sine of full scale 1.0."""
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def peak_hz(pcm: np.ndarray, rate: int) -> float:
    """The frequency of the strongest FFT bin of the middle of `pcm` (edges skipped)."""
    mid = pcm[len(pcm) // 8 : -len(pcm) // 8].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    return float(np.argmax(spectrum) * rate / len(mid))


def amplitude(pcm: np.ndarray) -> float:
    """Sine amplitude from RMS (int16 units), edges skipped."""
    mid = pcm[len(pcm) // 8 : -len(pcm) // 8].astype(np.float64)
    return float(np.sqrt(2 * np.mean(mid**2)))


# --------------------------------------------------------------------------------------------
# What comes back


def test_mono_pcm16_at_the_call_rate_comes_back_sample_for_sample(tmp_path):
    pcm = np.random.default_rng(0).integers(-32768, 32768, 5000).astype(np.int16)
    sf.write(tmp_path / "x.wav", pcm, 16000, subtype="PCM_16")
    out = load_audio(tmp_path / "x.wav", 16000)
    assert out.dtype == np.int16 and out.shape == (5000,)
    np.testing.assert_array_equal(out, pcm)


def test_stereo_is_mixed_down_to_the_mean_of_its_channels(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.integers(-32768, 32768, (4000, 2)).astype(np.int16)
    sf.write(tmp_path / "s.wav", stereo, 16000, subtype="PCM_16")
    expected = np.rint(stereo.astype(np.float64).mean(axis=1)).astype(np.int16)
    np.testing.assert_array_equal(load_audio(tmp_path / "s.wav", 16000), expected)


def test_any_channel_count_is_mixed_down_to_the_mean(tmp_path):
    five = np.stack([tone(300 * (c + 1), 0.5, 16000, 0.15) for c in range(5)], axis=1)
    sf.write(tmp_path / "five.wav", five, 16000, subtype="FLOAT")
    expected = np.rint(five.astype(np.float32).astype(np.float64).mean(axis=1) * 32768)
    out = load_audio(tmp_path / "five.wav", 16000)
    assert np.max(np.abs(out - expected)) <= 1  # float32 decoding may move a tie by one step


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_resampling_keeps_the_duration_and_the_tone_frequency(tmp_path, rate):
    sf.write(tmp_path / "t.wav", tone(1000, 1.0, rate), rate, subtype="PCM_16")
    out = load_audio(tmp_path / "t.wav", 16000)
    assert len(out) == -(-rate * 16000 // rate)  # ceil(n * up / down): 1 s stays 1 s
    assert abs(peak_hz(out, 16000) - 1000) <= 2
    assert abs(amplitude(out) - 0.5 * 32768) < 0.01 * 32768


def test_resampling_down_to_8k_keeps_a_tone_inside_the_band(tmp_path):
    sf.write(tmp_path / "t.wav", tone(2500, 1.0, 44100), 44100, subtype="PCM_16")
    out = load_audio(tmp_path / "t.wav", 8000)
    assert len(out) == 8000
    assert abs(peak_hz(out, 8000) - 2500) <= 2


def test_float_samples_are_scaled_to_the_int16_grid_and_clipped(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 1 / 32768, 0.25 / 32768], dtype=np.float32)
    sf.write(tmp_path / "f.wav", x, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(
        load_audio(tmp_path / "f.wav", 16000), [0, 16384, -16384, 32767, -32768, 32767, -32768, 1, 0]
    )


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_24", "PCM_32", "DOUBLE"])
def test_integer_and_double_samples_of_any_width_are_rounded_once(tmp_path, subtype):
    x = tone(440, 0.2, 16000, 0.7)
    sf.write(tmp_path / "w.wav", x, 16000, subtype=subtype)
    stored, _ = sf.read(tmp_path / "w.wav", dtype="float64")  # what the file really holds
    expected = np.clip(np.rint(stored * 32768), -32768, 32767)
    out = load_audio(tmp_path / "w.wav", 16000)
    assert np.max(np.abs(out - expected)) <= 1  # decoded through float32: at most one step


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix", "lossless"),
    [
        ("FLAC", "PCM_16", "flac", True),
        ("OGG", "VORBIS", "ogg", False),
        ("OGG", "OPUS", "opus", False),
        ("MP3", "MPEG_LAYER_III", "mp3", False),
    ],
)
def test_compressed_formats_decode_to_the_same_tone(tmp_path, fmt, subtype, suffix, lossless):
    rate = 48000 if subtype == "OPUS" else 44100  # Opus runs at 48 kHz
    x = np.stack([tone(1000, 1.0, rate, 0.4), tone(1000, 1.0, rate, 0.2)], axis=1)
    path = tmp_path / f"t.{suffix}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    out = load_audio(path, 16000)
    assert abs(len(out) - 16000) <= 16000 // 50  # within one 20 ms frame of 1 s
    assert abs(peak_hz(out, 16000) - 1000) <= 2
    assert abs(amplitude(out) - 0.3 * 32768) < (0.01 if lossless else 0.05) * 32768


def test_flac_is_lossless_sample_for_sample(tmp_path):
    pcm = np.random.default_rng(2).integers(-20000, 20000, 3000).astype(np.int16)
    sf.write(tmp_path / "x.flac", pcm, 16000, format="FLAC", subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(tmp_path / "x.flac", 16000), pcm)


@pytest.mark.parametrize("fmt", ["RF64", "WAVEX", "W64"])
def test_other_wav_containers_load(tmp_path, fmt):
    pcm = np.arange(-500, 500, dtype=np.int16)
    sf.write(tmp_path / "x.wav", pcm, 16000, format=fmt, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(tmp_path / "x.wav", 16000), pcm)


def test_a_str_path_works_as_well_as_a_pathlike(tmp_path):
    pcm = np.arange(100, dtype=np.int16)
    sf.write(tmp_path / "x.wav", pcm, 16000)
    np.testing.assert_array_equal(load_audio(str(tmp_path / "x.wav"), 16000), pcm)


# --------------------------------------------------------------------------------------------
# pydub interop


def test_an_audiosegment_round_trips_sample_for_sample():
    pcm = np.random.default_rng(3).integers(-32768, 32768, 1600).astype(np.int16)
    seg = to_audiosegment(pcm, 16000)
    assert (seg.frame_rate, seg.channels, seg.sample_width) == (16000, 1, 2)
    assert len(seg) == 100  # pydub measures in ms
    np.testing.assert_array_equal(load_audio(seg, 16000), pcm)


def test_a_stereo_audiosegment_is_mixed_down_and_resampled():
    left = np.rint(tone(500, 1.0, 8000, 0.4) * 32768).astype(np.int16)
    seg = to_audiosegment(np.stack([left, left]), 8000)
    assert seg.channels == 2
    out = load_audio(seg, 16000)
    assert len(out) == 16000
    assert abs(peak_hz(out, 16000) - 500) <= 2


@pytest.mark.parametrize("width", [1, 3, 4])
def test_audiosegments_of_other_sample_widths_are_scaled_to_int16(width):
    AudioSegment = type(to_audiosegment(np.zeros(1, np.int16), 16000))  # pydub, imported quietly

    values = np.array([0, 1, -1, 64, -64, 127, -128], dtype=np.int64) << (8 * width - 8)
    raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in values)
    seg = AudioSegment(data=raw, sample_width=width, frame_rate=16000, channels=1)
    np.testing.assert_array_equal(load_audio(seg, 16000), [0, 256, -256, 16384, -16384, 32512, -32768])


def test_an_empty_audiosegment_is_refused():
    with pytest.raises(AudioError, match=r"AudioSegment.*no audio") as err:
        load_audio(to_audiosegment(np.zeros(0, np.int16), 16000), 16000)
    assert err.value.path == "<AudioSegment>"


# --------------------------------------------------------------------------------------------
# Refusals: each names the file and the rule


def _wav_bytes(tmp_path, n=1000, **kw) -> bytearray:
    sf.write(tmp_path / "good.wav", np.arange(n, dtype=np.int16), 16000, subtype="PCM_16", **kw)
    return bytearray((tmp_path / "good.wav").read_bytes())


def _truncated(tmp_path, data):
    return bytes(data[: len(data) - 700])


def _nan(tmp_path, data):
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2]), 16000, subtype="FLOAT")
    return (tmp_path / "nan.wav").read_bytes()


def _inf(tmp_path, data):
    sf.write(tmp_path / "inf.wav", np.array([0.1, -np.inf, 0.2]), 16000, subtype="DOUBLE")
    return (tmp_path / "inf.wav").read_bytes()


def _zero_frames(tmp_path, data):
    sf.write(tmp_path / "z.wav", np.zeros(0, np.int16), 16000, subtype="PCM_16")
    return (tmp_path / "z.wav").read_bytes()


def _patched(offset, fmt, value):
    def patch(tmp_path, data):
        data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
        return bytes(data)

    return patch


BROKEN = {
    "empty": (lambda tmp_path, data: b"", "empty"),
    "text renamed .wav": (lambda tmp_path, data: b"hello, this is not audio\n" * 40, "not a readable audio"),
    "random bytes": (lambda tmp_path, data: bytes(range(256)) * 8, "not a readable audio"),
    "truncated": (_truncated, r"declares 2000 bytes of audio but the file holds 1300 \(truncated\)"),
    "NaN": (_nan, "NaN or infinite"),
    "inf": (_inf, "NaN or infinite"),
    "zero frames": (_zero_frames, r"no audio \(0 frames\)"),
    "4 GHz rate": (_patched(24, "<I", 4_000_000_000), "sample rate of 4000000000 Hz"),
    "2 GHz rate": (_patched(24, "<I", 2_000_000_000), "sample rate of 2000000000 Hz"),
    "0 Hz rate": (_patched(24, "<I", 0), "sample rate of 0 Hz"),
    "0 channels": (_patched(22, "<H", 0), "declares 0 channels"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_is_refused_with_a_message_naming_it(tmp_path, case):
    make, rule = BROKEN[case]
    path = tmp_path / "customer.wav"
    path.write_bytes(make(tmp_path, _wav_bytes(tmp_path)))
    with pytest.raises(AudioError, match=rule) as err:
        load_audio(path, 16000)
    assert err.value.path == str(path)
    assert str(err.value).startswith(f"{path}: ")
    assert isinstance(err.value, ValueError)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(AudioError, match=r"customer\.wav: no such file"):
        load_audio(tmp_path / "customer.wav", 16000)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path, 16000)


def test_a_huge_declared_rate_is_refused_at_once(tmp_path):
    """A header claiming more than 768 kHz is refused before any resampling is attempted."""
    path = tmp_path / "x.wav"
    path.write_bytes(_patched(24, "<I", MAX_INPUT_RATE + 1)(tmp_path, _wav_bytes(tmp_path)))
    with pytest.raises(AudioError, match=f"sample rate of {MAX_INPUT_RATE + 1} Hz"):
        load_audio(path, 16000)


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF])
def test_streaming_writers_placeholder_data_sizes_are_not_truncation(tmp_path, placeholder):
    data = _wav_bytes(tmp_path)
    data[40:44] = struct.pack("<I", placeholder)  # the data chunk's size
    data[4:8] = struct.pack("<I", placeholder)  # and the RIFF size
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(data))
    assert wav_data_size_ok(path)
    np.testing.assert_array_equal(load_audio(path, 16000), np.arange(1000, dtype=np.int16))


def test_a_truncated_wav_fails_the_data_size_check_and_a_whole_one_passes(tmp_path):
    data = _wav_bytes(tmp_path)
    (tmp_path / "cut.wav").write_bytes(bytes(data[:-1]))
    assert wav_data_size_ok(tmp_path / "good.wav")
    assert not wav_data_size_ok(tmp_path / "cut.wav")


def test_libsndfile_alone_would_read_a_truncated_wav_silently(tmp_path):
    """Why the RIFF check exists: without it the truncated file plays as a shorter one."""
    (tmp_path / "cut.wav").write_bytes(bytes(_wav_bytes(tmp_path)[:-700]))
    assert sf.info(tmp_path / "cut.wav").frames == 650


def test_a_bad_sample_rate_argument_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(tmp_path / "x.wav", 0)


# --------------------------------------------------------------------------------------------
# Built-in sounds


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_beep_1_is_one_short_880_hz_beep_and_beep_2_two(rate):
    one, two = beep(1, rate), beep(2, rate)
    assert one.dtype == np.int16 and len(one) == rate * 150 // 1000
    assert abs(peak_hz(one, rate) - 880) <= 8  # 150 ms: ~7 Hz bins
    assert one[0] == 0 and abs(int(one[-1])) < 50  # faded in and out: no click
    assert len(two) == 2 * len(one) + rate // 10
    np.testing.assert_array_equal(two[: len(one)], one)
    np.testing.assert_array_equal(two[-len(one) :], one)
    assert not two[len(one) : len(one) + rate // 10].any()  # the gap is silent
    assert len(beep(0, rate)) == 0


def test_built_in_sounds_are_cached_and_read_only():
    assert default_music("wait", 16000) is default_music("wait", 16000)
    assert beep(2, 16000) is beep(2, 16000)
    with pytest.raises(ValueError, match="read-only"):
        default_music("wait", 16000)[0] = 1


def _centroid(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    return float(np.sum(freqs * spectrum) / np.sum(spectrum))


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_each_kind_of_default_music_is_told_apart_by_its_spectrum(rate):
    music = {kind: default_music(kind, rate) for kind in MUSIC_KINDS}
    centroids = {kind: _centroid(pcm, rate) for kind, pcm in music.items()}
    # customer hold music is low, wait music mid, agent hold music high: far apart
    assert centroids["customer_hold"] < 350 < centroids["wait"] < 1000 < centroids["agent_hold"]
    for pcm in music.values():
        assert len(pcm) == 4 * rate
        assert 0.1 * 32768 < np.max(np.abs(pcm)) <= 0.26 * 32768
        assert abs(int(pcm[0])) < 100 and abs(int(pcm[-1])) < 100  # loops without a click


def test_default_music_is_deterministic_and_refuses_unknown_kinds():
    from mpcmix.mixer.sounds import _default_music

    fresh = _default_music.__wrapped__("agent_hold", 16000)
    np.testing.assert_array_equal(fresh, default_music("agent_hold", 16000))
    with pytest.raises(ValueError, match="unknown music kind 'elevator'"):
        default_music("elevator", 16000)
