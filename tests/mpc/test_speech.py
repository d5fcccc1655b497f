"""Speech detection (mpc/engine.py `SpeechTracker`): the same speak start/stop samples however
the voice is cut into blocks (a render's long blocks, the server's one-frame ticks), equal to
exact integer frame energies with the hangover rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.engine import SPEAK_HANGOVER_MS, SpeechTracker

RATE, FRAME_MS = 8000, 10
FRAME = RATE * FRAME_MS // 1000
HANGOVER = SPEAK_HANGOVER_MS // FRAME_MS


def reference(voice: np.ndarray, threshold: float) -> list[tuple[int, bool]]:
    """Exact energies (Python ints), then the rule: speaking from a loud frame until HANGOVER
    frames pass with none loud."""
    found, speaking, last = [], False, -(1 << 40)
    for i in range(len(voice) // FRAME):
        x = voice[i * FRAME:(i + 1) * FRAME].astype(np.int64)
        if int((x * x).sum()) > threshold:
            last = i
        now = i - last < HANGOVER
        if now != speaking:
            found.append((i * FRAME, now))
            speaking = now
    return found


def _frame_with_energy(target: int) -> np.ndarray:
    """int (FRAME,) whose sum of squares is exactly `target` (most samples at one level, the
    last few found by search)."""
    level = int(np.sqrt(target / FRAME))
    for free in range(3, 8):
        rest = target - (FRAME - free) * level * level
        found = _squares(rest, free, level + 40)
        if found is not None:
            return np.array([level] * (FRAME - free) + found)
    raise AssertionError(f"no frame of energy {target}")


def _squares(rest: int, k: int, top: int) -> list[int] | None:
    if k == 1:
        r = int(np.sqrt(rest)) if rest >= 0 else -1
        return [r] if r >= 0 and r * r == rest else None
    for a in range(min(top, int(np.sqrt(max(rest, 0)))), -1, -1):
        got = _squares(rest - a * a, k - 1, a)
        if got is not None:
            return [a, *got]
        if a * a * k < rest:  # the others are at most `a`: cannot reach `rest` any more
            return None
    return None


@st.composite
def voices(draw):
    """Frames of silence, noise floor, speech, full scale, and frames within a hair of the
    threshold (where float32 energies alone could decide wrongly)."""
    threshold = SpeechTracker(RATE, FRAME_MS).threshold
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames = []
    for kind in draw(st.lists(st.sampled_from(["zero", "floor", "speech", "full", "edge"]),
                              min_size=1, max_size=120)):
        if kind == "zero":
            x = np.zeros(FRAME)
        elif kind == "floor":
            x = rng.normal(0, 20, FRAME)
        elif kind == "speech":
            x = rng.normal(0, 3000, FRAME)
        elif kind == "full":
            x = rng.choice([-32768, 32767], FRAME)
        else:  # energy exactly the threshold's integer part, or one more (just below, above)
            x = rng.permutation(_frame_with_energy(int(threshold) + draw(st.integers(0, 1))))
        frames.append(np.clip(np.rint(x), -32768, 32767).astype(np.int16))
    return np.concatenate(frames)


@settings(max_examples=150, deadline=None)
@given(voices(), st.lists(st.integers(1, 40), min_size=1, max_size=30), st.booleans())
def test_speak_transitions_do_not_depend_on_the_blocks(voice, cuts, with_peaks):
    tracker = SpeechTracker(RATE, FRAME_MS)
    found, start, k = [], 0, 0
    total = len(voice)
    while start < total:
        n = min(cuts[k % len(cuts)] * FRAME, total - start)  # 1..4 frames: the per-frame path
        block = voice[start:start + n]
        peak = int(np.abs(block.astype(np.int32)).max()) if with_peaks else None
        found += tracker.feed(block, start, n, peak)
        start += n
        k += 1
    assert found == reference(voice, tracker.threshold)


def test_a_muted_voice_block_counts_as_silence_for_the_hangover():
    tracker = SpeechTracker(RATE, FRAME_MS)
    loud = np.full(FRAME, 10000, np.int16)
    assert tracker.feed(loud, 0, FRAME) == [(0, True)]
    assert tracker.feed(None, FRAME, HANGOVER * FRAME) == [(HANGOVER * FRAME, False)]
