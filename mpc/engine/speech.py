"""Who is speaking: ParticipantSpeakStart/Stop from each voice as it enters the conference.

A frame is loud when its energy is above `SPEAK_THRESHOLD_DBFS`; a participant speaks from its
first loud frame until `SPEAK_HANGOVER_MS` of frames have passed with none loud. The decisions do
not depend on how the timeline is cut into blocks (a render's long blocks, the server's one-frame
ticks): `SpeechTracker` carries the hangover across blocks, and `Speech.feed` judges a block of
every voice at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

#: A participant counts as speaking when a frame of its voice is above this level (dBFS)...
SPEAK_THRESHOLD_DBFS = -40.0
#: ...and stops speaking after this much silence (hangover), so a pause between words is no stop.
SPEAK_HANGOVER_MS = 400
#: Blocks of at most this many frames (the server's ticks) are judged frame by frame in Python,
#: cheaper there than the array version's fixed cost.
_FEW_FRAMES = 4


class SpeechTracker:
    """Speak start/stop from a voice's frame energy, with a hangover; block-size independent.

    A frame is loud when its energy is above `SPEAK_THRESHOLD_DBFS`; the participant is speaking
    from its first loud frame until `SPEAK_HANGOVER_MS` of frames have passed with none loud.
    """

    def __init__(self, sample_rate: int, frame_ms: int) -> None:
        self.frame = sample_rate * frame_ms // 1000
        self.threshold = (10 ** (SPEAK_THRESHOLD_DBFS / 20) * 32768) ** 2 * self.frame
        self.hangover = max(1, SPEAK_HANGOVER_MS // frame_ms)
        self.speaking = False
        self.last_loud = -(1 << 40)  # index of the last loud frame, relative to the next block
        self._buffer = np.empty((0, self.frame), dtype=np.float32)

    def feed(
        self, voice: np.ndarray | None, start: int, n: int, peak: int | None = None
    ) -> list[tuple[int, bool]]:
        """Transitions (sample, speaking) found in this block; blocks start on frame boundaries.

        `peak`, when known (the mixer measured it), bounds ``|voice|`` over the block."""
        frames = n // self.frame
        if frames == 0:
            return []
        if frames <= _FEW_FRAMES:  # a tick of the real-time clock: no array machinery
            return self._feed_few(voice, start, frames, peak)
        if voice is None:
            loud = np.zeros(frames, dtype=bool)
        else:
            x = voice[: frames * self.frame].reshape(frames, self.frame)
            if peak is None:
                peak = max(int(x.max()), -int(x.min()))
            if peak * peak * self.frame <= self.threshold:  # no frame can be loud: skip the sums
                loud = np.zeros(frames, dtype=bool)
            else:
                loud = self._loud(x, frames)
        idx = np.arange(frames)
        last = np.maximum.accumulate(np.where(loud, idx, self.last_loud))
        speaking = (idx - last) < self.hangover
        previous = np.concatenate(([self.speaking], speaking[:-1]))
        changes = np.flatnonzero(speaking != previous)
        self.speaking = bool(speaking[-1])
        self.last_loud = int(last[-1]) - frames
        return [(start + int(i) * self.frame, bool(speaking[i])) for i in changes]

    def _feed_few(self, voice: np.ndarray | None, start: int, frames: int, peak: int | None
                  ) -> list[tuple[int, bool]]:
        """`feed` frame by frame (the same decisions)."""
        if voice is None or (peak is not None and peak * peak * self.frame <= self.threshold):
            return self.feed_flags(None, start, frames)  # no frame can be loud
        return self.feed_flags(self.loud_frames([voice], frames)[0], start, frames)

    def loud_frames(self, voices: list[np.ndarray], frames: int) -> np.ndarray:
        """bool (len(voices), frames): whether each of the first `frames` frames of each voice
        (int16, at least frames * frame samples) is above the threshold. Energies are exact in
        float64 (a sum of at most 2**23 squares of int16 stays below 2**53)."""
        x = np.stack([v[:frames * self.frame] for v in voices]).astype(np.float64)
        x = x.reshape(len(voices), frames, self.frame)
        loud: np.ndarray = np.einsum("ijk,ijk->ij", x, x) > self.threshold
        return loud

    def feed_flags(self, loud: np.ndarray | None, start: int, frames: int) -> list[tuple[int, bool]]:
        """`feed` for a block whose frames' loudness is known (`loud` bool (frames,), None: all
        quiet): the transitions (sample, speaking)."""
        found = []
        speaking, last = self.speaking, self.last_loud
        for i in range(frames):
            if loud is not None and loud[i]:
                last = i
            now = i - last < self.hangover
            if now != speaking:
                found.append((start + i * self.frame, now))
                speaking = now
        self.speaking, self.last_loud = speaking, last - frames
        return found

    def _loud(self, x: np.ndarray, frames: int) -> np.ndarray:
        """bool (frames,): whether each frame of `x` int16 (frames, frame) is above the threshold.

        float32 energies (relative error < frame * 2**-24), then the frames near the threshold
        again in exact integers: the same decisions as exact sums, cheaply."""
        if self._buffer.shape[0] < frames:  # reused: fresh memory costs page faults
            self._buffer = np.empty((frames, self.frame), dtype=np.float32)
        xf = self._buffer[:frames]
        np.copyto(xf, x, casting="same_kind")
        energy = (xf[:, None, :] @ xf[:, :, None]).reshape(frames)  # batched dots: the fastest here
        loud = energy > self.threshold
        near = np.flatnonzero(np.abs(energy - self.threshold) <= 1e-3 * self.threshold)
        if near.size:
            exact = np.square(x[near], dtype=np.int64).sum(axis=1)
            loud[near] = exact > self.threshold
        return loud


class Speech:
    """The speech trackers of every participant of an engine, fed block by block."""

    def __init__(self, sample_rate: int, frame_ms: int) -> None:
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self._trackers: dict[str, SpeechTracker] = {}

    def __len__(self) -> int:
        return len(self._trackers)

    def forget_all_but(self, labels: Mapping[str, object]) -> None:
        """Drop the trackers of participants no live MPC has (nothing more to hear)."""
        if len(self._trackers) > len(labels):
            self._trackers = {k: v for k, v in self._trackers.items() if k in labels}

    def feed(self, gates: Mapping[str, bool], voice: Callable[[str], np.ndarray],
             peaks: Mapping[str, int], start: int, n: int) -> list[tuple[str, int, bool]]:
        """(label, sample, speaking) transitions in block ``[start, start + n)``.

        `gates[label]`: whether the participant's voice enters its conference now (in
        conference, unmuted); `voice(label)` its int16 samples of the block; `peaks[label]`, when
        the mixer measured it, bounds their magnitude.
        """
        trackers = []
        for label in gates:
            tracker = self._trackers.get(label)
            if tracker is None:
                tracker = self._trackers[label] = SpeechTracker(self.sample_rate, self.frame_ms)
            trackers.append(tracker)
        if not trackers:
            return []
        frames = n // trackers[0].frame
        if 0 < frames <= _FEW_FRAMES:  # a tick: every voice's frame energies in one step
            on = [label for label in gates if gates[label]]
            loud = dict(zip(on, trackers[0].loud_frames([voice(label) for label in on], frames),
                            strict=True)) if on else {}
            found = [(label, tracker.feed_flags(loud.get(label), start, frames))
                     for label, tracker in zip(gates, trackers, strict=True)]
        else:
            found = []
            for label, tracker in zip(gates, trackers, strict=True):
                heard = voice(label) if gates[label] else None
                peak = peaks.get(label) if heard is not None else None
                found.append((label, tracker.feed(heard, start, n, peak)))
        return [(label, at, speaking) for label, transitions in found
                for at, speaking in transitions]
