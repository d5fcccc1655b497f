"""The committed fixtures: rebuilt byte for byte by fixtures/generate.py, and recognisable by the
signatures fixtures/README.md documents (what tests/audio_checks.py relies on)."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer import default_music
from mpcmix.mixer.sounds import MUSIC_KINDS

from tests.audio_checks import (
    FIXTURES,
    PILOT_AMPLITUDE,
    PILOT_HZ,
    is_absent,
    load_fixture,
    pilots_heard,
    placed,
    source_gain,
    tone_amplitude,
    voice_present,
)

VOICES = ("customer", "agent", "supervisor")
COMMITTED = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("[vms]*/*.wav"))
SR = 16000


def _generator():
    spec = importlib.util.spec_from_file_location("fixtures_generate", FIXTURES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    _generator().generate(out)
    return out


def test_generate_py_rebuilds_every_committed_fixture_byte_for_byte(regenerated):
    made = sorted(p.relative_to(regenerated).as_posix() for p in regenerated.rglob("*.wav"))
    assert made == COMMITTED
    for rel in made:
        assert (regenerated / rel).read_bytes() == (FIXTURES / rel).read_bytes(), rel


def test_fixtures_are_small_16k_mono_pcm16_wavs():
    total = 0
    for rel in COMMITTED:
        info = sf.info(FIXTURES / rel)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "WAV", "PCM_16"), rel
        total += (FIXTURES / rel).stat().st_size
    assert total < 2.5e6


@pytest.mark.parametrize(("voice", "seconds"), [("customer", 18), ("agent", 19), ("supervisor", 16)])
def test_each_voice_talks_throughout_peaking_near_minus_6_dbfs(voice, seconds):
    pcm = load_fixture(f"voices/{voice}.wav")
    assert len(pcm) == seconds * SR
    assert 0.4 * 32768 < np.max(np.abs(pcm)) <= 0.5 * 32768
    loud = np.flatnonzero(np.abs(pcm) > 3000)
    assert loud[0] < 0.5 * SR and loud[-1] > len(pcm) - 0.5 * SR
    assert np.max(np.diff(loud)) < 0.5 * SR  # pauses are short


@pytest.mark.parametrize("voice", VOICES)
def test_each_voice_carries_its_own_pilot_tone_and_no_other(voice):
    pcm = load_fixture(f"voices/{voice}.wav")
    for lo in range(SR, len(pcm) - SR, 3 * SR):  # 0.1 s windows across the file
        span = (lo, lo + SR // 10)
        assert pilots_heard(pcm, SR, span) == {voice}
        assert abs(tone_amplitude(pcm, PILOT_HZ[voice], SR, span) - PILOT_AMPLITUDE) < 0.05 * PILOT_AMPLITUDE
        assert tone_amplitude(pcm, PILOT_HZ["announcement"], SR, span) < 0.1 * PILOT_AMPLITUDE


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_the_voices_are_told_apart_in_a_mix_by_correlation_and_by_pilot(rate):
    voices = {v: load_fixture(f"voices/{v}.wav", rate) for v in VOICES}
    n = 16 * rate
    customer_hears = placed(voices["agent"], 0, n).astype(np.int64)  # agent only
    recording = sum(placed(pcm, 0, n).astype(np.int64) for pcm in voices.values())
    for lo in range(0, n - rate, 2 * rate):  # 1 s spans
        span_s = (lo / rate, lo / rate + 1)
        assert voice_present(customer_hears, "agent", rate, span_s)
        assert not voice_present(customer_hears, "supervisor", rate, span_s)
        assert all(voice_present(recording, v, rate, span_s) for v in VOICES)
        span = (lo, lo + rate)
        for other in ("customer", "supervisor"):
            assert is_absent(customer_hears, placed(voices[other], 0, n), span)
        assert pilots_heard(customer_hears, rate, span) == {"agent"}
        assert pilots_heard(recording, rate, span) == set(VOICES)


def test_voice_cross_correlation_stays_small_over_any_1_s_window():
    voices = {v: load_fixture(f"voices/{v}.wav").astype(np.float64) for v in VOICES}
    for a, b in itertools.permutations(VOICES, 2):
        n = min(len(voices[a]), len(voices[b]))
        for lo in range(0, n - SR, SR // 2):
            assert abs(source_gain(voices[a], voices[b], (lo, lo + SR))) < 0.1, (a, b, lo)


def test_a_late_answer_is_found_only_at_its_offset():
    agent = load_fixture("voices/agent.wav")
    stream = placed(agent, SR, 10 * SR)  # answered after 1 s
    assert voice_present(stream, "agent", SR, (3.0, 4.0), at_s=1.0)
    assert not voice_present(stream, "agent", SR, (3.0, 4.0), at_s=0.0)


MUSIC = ("music/wait.wav", "music/hold_customer.wav", "music/hold_agent.wav")


def test_the_music_fixtures_loop_and_differ_from_each_other_and_from_the_defaults():
    pieces = {rel: load_fixture(rel) for rel in MUSIC}
    pieces |= {f"default:{kind}": default_music(kind, SR) for kind in MUSIC_KINDS}
    for rel in MUSIC:
        pcm = pieces[rel]
        assert 4 * SR <= len(pcm) <= 6 * SR
        assert abs(int(pcm[0])) < 100 and abs(int(pcm[-1])) < 100  # seamless loop point
    for a, b in itertools.permutations(pieces, 2):
        n = min(len(pieces[a]), len(pieces[b]))
        looped_b = placed(pieces[b], 0, n, loop=True)
        assert is_absent(placed(pieces[a], 0, n), looped_b), (a, b)


def test_the_sounds_are_short_and_the_announcement_has_its_pilot():
    chime = load_fixture("sounds/chime.wav")
    announcement = load_fixture("sounds/announcement.wav")
    assert 0.3 * SR <= len(chime) <= 1.0 * SR
    assert len(announcement) == 3 * SR
    assert pilots_heard(announcement, SR, (SR, 2 * SR), voices=[*VOICES, "announcement"]) == {"announcement"}
