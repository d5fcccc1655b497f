"""Who heard whom, measured from the audio: each voice's contribution to each listener's mix.

For every participant's voice, the scenario is rendered again with that voice silenced (the call
model, its timers and every other source unchanged), and each listener's mix *before its limiter*
is compared with the mix of the original render. The mixer is exact (integers in float32), so the
difference is exactly what the voice added to that listener, and it is zero wherever the voice
did not reach it. Comparing before the limiter matters: a listener whose limiter is recovering
from an overload caused by that voice would otherwise show a difference after the voice has
stopped reaching it, and that is not hearing (docs/routing.md, Non-interference).

The comparison is made per frame (`frame_ms`): a frame in which the difference has any non-zero
sample is a frame in which the listener heard the voice. Heard frames are joined into spans;
nothing else is smoothed, so a voice's digital silence (a pause of exact zeros, the time after
its file ends) is not heard. The level is the RMS of the difference over the heard frames, in
dBFS (0 dBFS: a full-scale square wave, RMS 32768).

The allowed spans come from the routing rules (`StateTimeline.allowed_spans`). For a conference
recording's row, both the allowed and the heard spans are limited to the spans in which the
recording captures: what its files hold.

Cost: one extra render per participant whose line has audio, which writes no file (its mix is
compared with the baseline's as it is tapped); the original render is tapped as it runs
(`MixTape`), so `mpcmix render --report` renders N + 1 times for N voices.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from mpcmix.routing import RoutingMatrix
from mpcmix.scenario import LoadedScenario, ScenarioDriver, scenario_engine

from .timeline import StateTimeline, merge_spans

#: JSON and report name of a conference recording's row (docs/routing.md: the listener "recording").
RECORDING = "recording"
_FULL_SCALE = 32768.0


class MixTape:
    """The pre-limiter mix of every listener row of one render, as it is rendered.

    Use ``tape.record`` as a `CallEngine` tap. Rows are kept as raw float32 files in a private
    temporary folder (a long call does not have to fit in memory); `read` gives them back, zeros
    where a row was never mixed. A context manager: the folder goes on `close`.
    """

    def __init__(self, sample_rate: int, frame_ms: int) -> None:
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self._dir = Path(tempfile.mkdtemp(prefix="mpcmix-tape-"))
        self._files: dict[str, IO[bytes]] = {}

    def record(self, start: int, matrix: RoutingMatrix, mix: np.ndarray) -> None:
        """Keep `mix` (float32 (L, n), row i listener ``matrix.listeners[i]``) from sample `start`."""
        for i, name in enumerate(matrix.listeners):
            f = self._file(name)
            f.seek(start * 4)
            f.write(np.ascontiguousarray(mix[i], dtype=np.float32).tobytes())

    def read(self, name: str, start: int, n: int) -> np.ndarray:
        """Row `name`'s samples ``[start, start + n)``: float32 (n,)."""
        out = np.zeros(n, dtype=np.float32)
        f = self._files.get(name)
        if f is None:
            return out
        f.flush()
        f.seek(start * 4)
        data = np.frombuffer(f.read(n * 4), dtype=np.float32)
        out[: len(data)] = data
        return out

    def _file(self, name: str) -> IO[bytes]:
        f = self._files.get(name)
        if f is None:
            f = self._files[name] = open(self._dir / f"{len(self._files)}.f32", "w+b")
        return f

    def close(self) -> None:
        """Remove the tape's files."""
        for f in self._files.values():
            f.close()
        self._files.clear()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MixTape:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Difference:
    """A tap comparing each block of a render with a baseline `MixTape`, frame by frame."""

    def __init__(self, baseline: MixTape, frame: int) -> None:
        self.baseline = baseline
        self.frame = frame
        self.energy: dict[str, np.ndarray] = {}  # per frame: sum of the difference squared
        self.samples: dict[str, np.ndarray] = {}  # per frame: non-zero samples of the difference

    def record(self, start: int, matrix: RoutingMatrix, mix: np.ndarray) -> None:
        n = mix.shape[1]
        if n == 0:
            return
        first, last = start // self.frame, (start + n - 1) // self.frame
        index = (np.arange(start, start + n) // self.frame) - first
        for i, name in enumerate(matrix.listeners):
            diff = (self.baseline.read(name, start, n) - mix[i]).astype(np.float64)
            if not diff.any():
                continue
            energy = np.bincount(index, weights=diff * diff, minlength=last - first + 1)
            nonzero = np.bincount(index, weights=diff != 0, minlength=last - first + 1)
            self._grow(name, last + 1)
            self.energy[name][first : last + 1] += energy
            self.samples[name][first : last + 1] += nonzero

    def _grow(self, name: str, frames: int) -> None:
        for table in (self.energy, self.samples):
            old = table.get(name, np.zeros(0))
            if len(old) < frames:
                table[name] = np.concatenate([old, np.zeros(max(frames, 2 * len(old)) - len(old))])


@dataclass(frozen=True)
class Pair:
    """One (listener, source) pair of the who-heard-whom measure. Times in seconds."""

    listener: str
    source: str
    allowed_spans: tuple[tuple[float, float], ...]
    heard_spans: tuple[tuple[float, float], ...]
    level_dbfs: float | None

    @property
    def leaks(self) -> tuple[tuple[float, float], ...]:
        """The parts of heard spans outside every allowed span."""
        return tuple(outside(self.heard_spans, self.allowed_spans))

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``who-heard-whom.json``."""
        return {
            "listener": self.listener,
            "source": self.source,
            "allowed_spans": [list(s) for s in self.allowed_spans],
            "heard_spans": [list(s) for s in self.heard_spans],
            "level_dbfs": self.level_dbfs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pair:
        return cls(
            listener=data["listener"],
            source=data["source"],
            allowed_spans=tuple((a, b) for a, b in data["allowed_spans"]),
            heard_spans=tuple((a, b) for a, b in data["heard_spans"]),
            level_dbfs=data["level_dbfs"],
        )


def tape_render(scenario: LoadedScenario, out: Path | None = None,
                subtype: str = "PCM_16") -> MixTape:
    """Render `scenario`, keeping every row's pre-limiter mix (its files into `out`, a scratch
    folder, or none at all when `out` is None)."""
    tape = MixTape(scenario.sample_rate, scenario.frame_ms)
    try:
        engine = scenario_engine(scenario, out, subtype=subtype, tap=tape.record)
        ScenarioDriver(scenario, engine).run()
    except BaseException:
        tape.close()
        raise
    return tape


def measure(scenario: LoadedScenario, baseline: MixTape, timeline: StateTimeline) -> list[Pair]:
    """Who heard whom in `scenario`, whose original render is `baseline` (see the module doc).

    One pair per listener row (each participant, then each conference recording, named
    ``recording`` for the scenario's MPC) and participant voice of the same MPC, the listener's
    own voice included (mix-minus: never heard). One render per voice that has audio.
    """
    frame = scenario.sample_rate * scenario.frame_ms // 1000
    differences: dict[str, _Difference] = {}
    for voice in timeline.participants():
        difference = differences[voice] = _Difference(baseline, frame)
        if not _has_audio(timeline, voice):
            continue  # a silent line contributes nothing: no render needed
        # The voice's own render writes no file: only its tap, compared as it goes.
        engine = scenario_engine(scenario, None, tap=difference.record, silence_voices={voice},
                                 detect_speech=False)
        ScenarioDriver(scenario, engine).run()
    total_frames = -(-timeline.end_ms // scenario.frame_ms)
    pairs = []
    for listener in timeline.listeners():
        capture = _frame_mask(timeline, listener, total_frames)
        for voice in timeline.participants():
            if not timeline.same_call(listener, voice):
                continue
            allowed = timeline.allowed_spans(listener, voice)
            d = differences[voice]
            energy = _fit(d.energy.get(listener), total_frames)
            samples = _fit(d.samples.get(listener), total_frames)
            heard = (samples > 0) & capture
            level = None
            if heard.any():
                mean_square = energy[heard].sum() / (heard.sum() * frame)
                level = round(10 * math.log10(mean_square / _FULL_SCALE**2), 1)
            pairs.append(Pair(
                listener=listener,
                source=voice,
                allowed_spans=tuple((a / 1000, b / 1000) for a, b in allowed),
                heard_spans=tuple(_frames_to_spans(heard, scenario.frame_ms)),
                level_dbfs=level,
            ))
    return pairs


def outside(spans: tuple[tuple[float, float], ...], allowed: tuple[tuple[float, float], ...]
            ) -> list[tuple[float, float]]:
    """The parts of `spans` that no span of `allowed` covers."""
    out = []
    for start, end in spans:
        pieces = [(start, end)]
        for a, b in allowed:
            pieces = [p for s, e in pieces for p in ((s, min(e, a)), (max(s, b), e)) if p[0] < p[1]]
        out.extend(pieces)
    return out


def _has_audio(timeline: StateTimeline, voice: str) -> bool:
    label = timeline.source_label(voice)
    return any(
        spec.name == label and spec.media not in (None, "none")
        for span in timeline.spans for spec in span.state.sources
    )


def _frame_mask(timeline: StateTimeline, listener: str, frames: int) -> np.ndarray:
    """Frames in which `listener`'s stream exists as a file: all, or a recording's capture."""
    if listener not in timeline.recording_rows():
        return np.ones(frames, dtype=bool)
    mask = np.zeros(frames, dtype=bool)
    for start, end in timeline.capture_spans(listener):
        mask[start // timeline.frame_ms : -(-end // timeline.frame_ms)] = True
    return mask


def _fit(values: np.ndarray | None, frames: int) -> np.ndarray:
    out = np.zeros(frames)
    if values is not None:
        k = min(frames, len(values))
        out[:k] = values[:k]
    return out


def _frames_to_spans(heard: np.ndarray, frame_ms: int) -> list[tuple[float, float]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], heard.astype(np.int8), [0]))))
    spans = [(int(a) * frame_ms, int(b) * frame_ms) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return [(a / 1000, b / 1000) for a, b in merge_spans(spans)]
