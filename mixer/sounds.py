"""The built-in sounds: the enter/exit beeps (``beep:1``, ``beep:2``) and the default wait,
customer-hold and agent-hold musics, synthesised deterministically as int16 mono
(docs/semantics.md, Audio: Built-in sounds).
"""

from __future__ import annotations

import functools

import numpy as np

from .decode import FULL_SCALE, check_rate

__all__ = ["MUSIC_KINDS", "beep", "default_music"]

#: The kinds of built-in music `default_music` synthesises.
MUSIC_KINDS = ("wait", "customer_hold", "agent_hold")

BEEP_HZ = 880.0  # A5: clear on a phone line, not shrill
BEEP_MS = 150
BEEP_GAP_MS = 100
BEEP_FADE_MS = 10
BEEP_LEVEL = 0.3  # peak, of full scale (about -10.5 dBFS)


def beep(count: int, sample_rate: int) -> np.ndarray:
    """The built-in enter/exit cue: `count` short beeps (``beep:1``, ``beep:2``), int16 (n,).

    Each beep is 150 ms of 880 Hz (with a soft octave) shaped by 10 ms raised-cosine fades, beeps
    100 ms apart; ``count=0`` is an empty array. Read-only: the array is cached and shared.
    """
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"beep count must be a whole number >= 0, not {count!r}")
    check_rate(sample_rate)
    return _beep(count, int(sample_rate))


@functools.lru_cache(maxsize=32)
def _beep(count: int, sample_rate: int) -> np.ndarray:
    n = sample_rate * BEEP_MS // 1000
    t = np.arange(n) / sample_rate
    tone = np.sin(2 * np.pi * BEEP_HZ * t)
    if 2 * BEEP_HZ < 0.45 * sample_rate:
        tone += 0.25 * np.sin(2 * np.pi * 2 * BEEP_HZ * t)
    tone *= BEEP_LEVEL / 1.25 * _fades(n, sample_rate * BEEP_FADE_MS // 1000)
    one = _quantise(tone)
    gap = np.zeros(sample_rate * BEEP_GAP_MS // 1000, dtype=np.int16)
    pieces = [one if i == 0 else np.concatenate([gap, one]) for i in range(count)]
    out = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    out.flags.writeable = False
    return out


# Each built-in music: (note length in s, notes as chords of Hz, partial amplitudes, level).
# Distinct registers and timbres, so they are told apart by spectrum: wait music sits around
# 500-1000 Hz, customer hold music low (130-330 Hz), agent hold music high and bell-like.
_MUSIC: dict[str, tuple[float, tuple[tuple[float, ...], ...], tuple[float, ...], float]] = {
    "wait": (
        0.5,
        ((523.25,), (659.25,), (783.99,), (1046.50,), (783.99,), (659.25,), (587.33,), (493.88,)),
        (1.0, 0.3, 0.1),
        0.25,
    ),
    "customer_hold": (
        1.0,
        ((130.81, 196.00, 261.63), (110.00, 164.81, 220.00), (87.31, 130.81, 174.61),
         (98.00, 146.83, 196.00)),
        (1.0, 0.5, 0.25, 0.12),
        0.25,
    ),
    "agent_hold": (
        0.25,
        ((1318.51,), (1567.98,), (1975.53,), (1567.98,), (1760.00,), (2093.00,), (1760.00,),
         (1318.51,)) * 2,
        (1.0, 0.0, 0.2),
        0.2,
    ),
}


def default_music(kind: str, sample_rate: int) -> np.ndarray:
    """The built-in music of `kind` (``wait``, ``customer_hold``, ``agent_hold``), int16 (n,).

    Synthesised deterministically, 4 s long and seamless when looped (every note fades in and out),
    peaking at about -12 dBFS. Read-only: cached per (kind, rate) and shared.
    """
    if kind not in _MUSIC:
        raise ValueError(f"unknown music kind {kind!r}; expected one of {', '.join(MUSIC_KINDS)}")
    check_rate(sample_rate)
    return _default_music(kind, int(sample_rate))


@functools.lru_cache(maxsize=32)
def _default_music(kind: str, sample_rate: int) -> np.ndarray:
    note_s, chords, partials, level = _MUSIC[kind]
    n = round(note_s * sample_rate)
    t = np.arange(n) / sample_rate
    env = _fades(n, n // 10) * np.exp(-1.5 * t / note_s)
    notes = []
    for chord in chords:
        note = np.zeros(n)
        for f0 in chord:
            for k, a in enumerate(partials, start=1):
                if a and k * f0 < 0.45 * sample_rate:
                    note += a * np.sin(2 * np.pi * k * f0 * t)
        notes.append(note * env)
    music = np.concatenate(notes)
    music *= level / np.max(np.abs(music))
    out = _quantise(music)
    out.flags.writeable = False
    return out


def _fades(n: int, fade: int) -> np.ndarray:
    """float64 (n,): ones with raised-cosine fade-in and fade-out of `fade` samples each."""
    env = np.ones(n)
    fade = min(fade, n // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        env[:fade] = ramp
        env[n - fade:] = ramp[::-1]
    return env


def _quantise(x: np.ndarray) -> np.ndarray:
    """float (n,) of full scale 1.0 -> int16 (n,), rounded and clipped."""
    return np.clip(np.rint(x * FULL_SCALE), -32768, 32767).astype(np.int16)
