"""Recognise fixture sources inside rendered streams (shared by the test suite).

Two detectors, both described in ``fixtures/README.md``:

- **Correlation against the source** (`source_gain`, `is_present`, `voice_present`): the mix is
  exact, so a source that reaches a listener is additively in its stream, sample for sample. The
  least-squares coefficient of the placed source in the stream over a span is 1.0 when it is
  there at unity (a little less if the limiter engaged), about 0 when it is not. Use spans of at
  least 1 s: the fixture voices' cross-coefficients stay below 0.07 over any 1 s window (0.21
  over 0.5 s).
- **Pilot tones** (`tone_amplitude`, `pilot_present`): each fixture voice carries a continuous
  sine at its own frequency (-30 dBFS, amplitude about 1036), with every other fixture's
  harmonics kept at least 60 Hz away. Alignment-free, so it also works on MP3 recordings and
  with unknown answer times; 0.1 s spans suffice.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mpcmix.mixer import load_audio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

#: Pilot tone of each fixture voice (Hz), and its amplitude in int16 units (-30 dBFS).
PILOT_HZ = {"customer": 1000.0, "agent": 1500.0, "supervisor": 2500.0, "announcement": 3000.0}
PILOT_AMPLITUDE = 32768 * 10 ** (-30 / 20)

#: Thresholds on `source_gain`: present at or above, absent strictly within +-ABSENT_BELOW.
PRESENT_AT_LEAST = 0.5
ABSENT_BELOW = 0.15


def fixture_path(relative: str) -> Path:
    """The path of a committed fixture, e.g. ``fixture_path("voices/agent.wav")``."""
    return FIXTURES / relative


def voice_path(voice: str) -> Path:
    """The fixture file of `voice` (``customer``, ``agent``, ``supervisor``)."""
    return fixture_path(f"voices/{voice}.wav")


@functools.lru_cache(maxsize=64)
def load_fixture(relative: str, sample_rate: int = 16000) -> np.ndarray:
    """A fixture decoded as the mixer decodes it (`load_audio`): int16 (n,), read-only."""
    pcm = load_audio(fixture_path(relative), sample_rate)
    pcm.flags.writeable = False
    return pcm


def placed(pcm: np.ndarray, at: int, length: int, *, loop: bool = False) -> np.ndarray:
    """`pcm` on a timeline of `length` samples from sample `at` (once, or looped): int16.

    What a `OneShot(pcm, at)` (or `Looped`) contributes to a stream, for comparing against it.
    """
    out = np.zeros(length, dtype=np.int16)
    if at >= length or len(pcm) == 0:
        return out
    idx = np.arange(max(at, 0), length) - at
    if loop:
        out[max(at, 0):] = pcm[idx % len(pcm)]
    else:
        idx = idx[idx < len(pcm)]
        out[max(at, 0):max(at, 0) + len(idx)] = pcm[idx]
    return out


def _span(n: int, span: tuple[int, int] | None) -> slice:
    lo, hi = (0, n) if span is None else span
    if not 0 <= lo < hi <= n:
        raise ValueError(f"span {span} is not inside a stream of {n} samples")
    return slice(lo, hi)


def source_gain(
    stream: np.ndarray, reference: np.ndarray, span: tuple[int, int] | None = None
) -> float:
    """The least-squares coefficient of `reference` in `stream` over `span` (samples):
    ``<stream, reference> / <reference, reference>``. Both (n,) on the same timeline.

    1.0 when the reference is in the stream at unity gain, ~0 when it is not. Raises ValueError
    when the reference is (nearly) silent over the span, where the coefficient means nothing.
    """
    s = _span(len(stream), span)
    x = np.asarray(stream[s], dtype=np.float64)
    r = np.asarray(reference[s], dtype=np.float64)
    energy = float(np.dot(r, r))
    if energy < len(r) * 100.0**2:  # RMS under 100 (about -50 dBFS): nothing to detect
        raise ValueError(f"the reference is silent over span {span}; choose a span where it sounds")
    return float(np.dot(x, r)) / energy


def is_present(stream: np.ndarray, reference: np.ndarray,
               span: tuple[int, int] | None = None) -> bool:
    """Whether `reference` is in `stream` over `span` (coefficient >= 0.5)."""
    return source_gain(stream, reference, span) >= PRESENT_AT_LEAST


def is_absent(stream: np.ndarray, reference: np.ndarray,
              span: tuple[int, int] | None = None) -> bool:
    """Whether `reference` is clearly not in `stream` over `span` (|coefficient| < 0.15)."""
    return abs(source_gain(stream, reference, span)) < ABSENT_BELOW


def voice_present(
    stream: np.ndarray, voice: str, sample_rate: int, span_s: tuple[float, float],
    at_s: float = 0.0,
) -> bool:
    """Whether fixture `voice`, answered at `at_s` seconds, is heard in `stream` over `span_s`.

    `stream` is a listener stream (int16 (n,), timeline from 0) at `sample_rate`; `span_s` is
    (start, stop) in seconds, at least 1 s long for a robust answer.
    """
    pcm = load_fixture(f"voices/{voice}.wav", sample_rate)
    ref = placed(pcm, round(at_s * sample_rate), len(stream))
    span = (round(span_s[0] * sample_rate), round(span_s[1] * sample_rate))
    return is_present(stream, ref, span)


def tone_amplitude(stream: np.ndarray, freq: float, sample_rate: int,
                   span: tuple[int, int] | None = None) -> float:
    """The amplitude (int16 units) of a sine at `freq` Hz in `stream` over `span`: one
    Hann-windowed DFT bin at exactly `freq` (a Goertzel filter)."""
    x = np.asarray(stream[_span(len(stream), span)], dtype=np.float64)
    w = np.hanning(len(x))
    basis = np.exp(-2j * np.pi * freq * np.arange(len(x)) / sample_rate)
    return float(2 * abs(np.dot(x * w, basis)) / w.sum())


def pilot_present(stream: np.ndarray, voice: str, sample_rate: int,
                  span: tuple[int, int] | None = None) -> bool:
    """Whether the pilot tone of fixture `voice` is in `stream` over `span` at more than half
    its level (robust from 0.1 s spans on)."""
    return tone_amplitude(stream, PILOT_HZ[voice], sample_rate, span) > PILOT_AMPLITUDE / 2


def pilots_heard(stream: np.ndarray, sample_rate: int,
                 span: tuple[int, int] | None = None,
                 voices: Sequence[str] = ("customer", "agent", "supervisor")) -> set[str]:
    """The fixture voices whose pilot tones are in `stream` over `span`."""
    return {v for v in voices if pilot_present(stream, v, sample_rate, span)}
