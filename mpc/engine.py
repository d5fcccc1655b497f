"""The call engine: a call model, the routing matrix and the mixer, advanced through time.

`CallEngine` is the one place where the data flow of docs/design.md is wired together. The
scenario renderer and the HTTP server both drive it the same way: apply operations to
`engine.model` at a frame boundary, `settle()`, then `advance_to()` the next moment something
happens. Between two such moments the routing matrix is constant, so the span is mixed in a few
large blocks, streamed to the listener files and recordings.

The mixing is `LiveMixer`'s, the one the server's real-time clock uses: each MPC is a call of
it (its routing matrix set when it changes), every call is advanced in one vectorised step, by
long blocks offline and by one frame per tick on the server's real-time clock. The samples do not
depend on the cut (tested against `Mixer.render`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
from mpcmix.mixer import SILENCE, LiveMixer, Looped, Mixer, OneShot, StreamWriter, WriteBehind
from mpcmix.routing import (
    CallState,
    RoutingMatrix,
    build_matrix,
    is_heard_by_conference,
    stack,
    voice_source,
)

from .media import MediaLibrary

#: A tap sees every block's pre-limiter mix: ``tap(start_sample, matrix, mix float32 (L, n))``,
#: row ``i`` being listener ``matrix.listeners[i]`` (see `CallEngine`).
Tap = Callable[[int, RoutingMatrix, np.ndarray], None]

#: Mixing block: bounds memory whatever the call's length (samples per block at any rate).
BLOCK_SAMPLES = 1 << 17
#: A participant counts as speaking when a frame of its voice is above this level (dBFS)...
SPEAK_THRESHOLD_DBFS = -40.0
#: ...and stops speaking after this much silence (hangover), so a pause between words is no stop.
SPEAK_HANGOVER_MS = 400
#: Blocks of at most this many frames (the server's ticks) are judged frame by frame in Python,
#: cheaper there than the array version's fixed cost.
_FEW_FRAMES = 4


class CallEngine:
    """A call model and its audio, rendered up to `now_ms` into `out_dir`.

    Files: ``out_dir/listeners/<label>.wav`` (what each participant heard, from time 0;
    from its MPC's creation with ``listener_origin="mpc"``) and
    ``out_dir/recordings/<recording_id>.<format>``. `subtype` is ``PCM_16`` or ``FLOAT``.

    Measuring (mpcmix.measure, the who-heard-whom report): `tap` is called with every block's
    pre-limiter mix, exact integers in float32 ``(L, n)``, before the block is limited and
    written; `silence_voices` names participants (labels) whose voice is replaced by silence,
    everything else (the call model, its timers and events) unchanged.
    """

    def __init__(
        self,
        model: Any,
        media: MediaLibrary,
        out_dir: str | Path,
        *,
        sample_rate: int = 16000,
        frame_ms: int = 20,
        subtype: str = "PCM_16",
        detect_speech: bool = True,
        on_progress: Callable[[int], None] | None = None,
        tap: Tap | None = None,
        silence_voices: Collection[str] = (),
        close_ended_listeners: bool = False,
        listener_origin: str = "timeline",
        kernel: str = "numpy",
    ) -> None:
        self.model = model
        self.media = media
        self.out_dir = Path(out_dir)
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.subtype = subtype
        self.detect_speech = detect_speech
        self.on_progress = on_progress
        self.tap = tap
        self._silenced = frozenset(voice_source(label) for label in silence_voices)
        # A scenario's streams all span the whole timeline (padded at close); a long-running
        # server instead closes a listener's file once its MPC has ended, so participants that
        # come and go cost no open file and no memory.
        self.close_ended_listeners = close_ended_listeners
        # Where a listener stream begins: at the timeline's 0 (a scenario: every stream lines up
        # with every other), or at its MPC's creation (a server: the streams of one MPC line up,
        # and a participant who joins after days of uptime costs no days of silence).
        if listener_origin not in ("timeline", "mpc"):
            raise ValueError(f"listener_origin must be 'timeline' or 'mpc', not {listener_origin!r}")
        self.listener_origin = listener_origin
        # numpy by default (renders and the server alike): numba's import and set-up (~0.5-0.9 s)
        # outweigh its gain on one render, and a server's tick is bound by the call model's
        # per-tick work at its scale of calls, not by the kernel (docs/design.md).
        self.mixer = LiveMixer(sample_rate, frame_ms, kernel=kernel)
        # MPC uuid -> (its state, the matrix the mixer has), so an unchanged state is not re-routed
        self._routed: dict[str, tuple[CallState, RoutingMatrix]] = {}
        self._tap_mixer: Mixer | None = None  # the pre-limiter mix for `tap` (matrix products)
        self._frames = np.empty((0, 0), dtype=np.int16)  # the inputs of a block, reused
        self._io = WriteBehind()  # files are written on a thread while the next block is mixed
        frame = sample_rate * frame_ms // 1000
        self.block = max(frame, BLOCK_SAMPLES // frame * frame)  # whole frames, for speech frames
        self.now_ms = 0
        self.listeners_dir = self.out_dir / "listeners"
        self.recordings_dir = self.out_dir / "recordings"
        self.listeners_dir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        self._listener_writers: dict[str, StreamWriter] = {}
        self._listener_start: dict[str, int] = {}  # label -> timeline sample its stream begins at
        self._recording_writers: dict[tuple[str, str], StreamWriter] = {}
        self._recording_files: dict[tuple[str, str], Path] = {}
        self._closed_recordings: set[tuple[str, str]] = set()
        self._sources: dict[str, tuple[tuple, Any]] = {}
        self._speech: dict[str, _SpeechTracker] = {}
        self._pending: list[Any] = []
        self.closed = False

    # -- time --------------------------------------------------------------------------------

    def samples(self, ms: int) -> int:
        """The timeline sample at `ms` (exact: frame boundaries are whole samples)."""
        return ms * self.sample_rate // 1000

    def settle(self, now_ms: int) -> list[Any]:
        """Judge the ending rules after operations at `now_ms`; the events produced so far."""
        self.model.settle(now_ms)
        return self.drain_events()

    def advance_to(self, target_ms: int) -> list[Any]:
        """Fire the model's timers up to `target_ms` and render the audio up to it."""
        if target_ms < self.now_ms:
            raise ValueError(f"time goes forward only: {target_ms} ms < {self.now_ms} ms")
        while True:
            due = self.model.next_timer_ms()
            if due is None or due > target_ms:
                break
            self._render_until(due)
            self.model.advance(due)
            self.model.settle(due)
        self._render_until(target_ms)
        return self.drain_events()

    def drain_events(self) -> list[Any]:
        """The events (callbacks) produced since the last call, in order."""
        self._pending.extend(self.model.drain_events())
        out, self._pending = self._pending, []
        return out

    # -- files -------------------------------------------------------------------------------

    def listener_path(self, label: str) -> Path:
        """The WAV file of what participant `label` heard."""
        return self.listeners_dir / f"{label}.wav"

    def recording_paths(self, recording_id: str) -> list[Path]:
        """The files of a recording (two for a participant recording of track type `both`)."""
        return [p for (rid, _), p in self._recording_files.items() if rid == recording_id]

    def recording_path(self, recording_id: str) -> Path | None:
        """The (first) file of a recording, or None if it has not begun."""
        paths = self.recording_paths(recording_id)
        return paths[0] if paths else None

    def is_recording_complete(self, recording_id: str) -> bool:
        """Whether every file of the recording is closed (safe to download in full)."""
        keys = [k for k in self._recording_files if k[0] == recording_id]
        return bool(keys) and all(k in self._closed_recordings for k in keys)

    def flush(self) -> None:
        """Flush every open file to disk (the server calls this about once a second)."""
        for w in [*self._listener_writers.values(), *self._recording_writers.values()]:
            w.flush()

    def close(self) -> None:
        """Close every file (fsynced). The engine renders nothing after this."""
        if self.closed:
            return
        try:
            for label, w in self._listener_writers.items():
                self._pad_listener(label, self.samples(self.now_ms))  # line every stream up
                w.close()
            for key, w in self._recording_writers.items():
                w.close()
                self._closed_recordings.add(key)
            self._recording_writers.clear()
        finally:
            self.closed = True
            self._io.close()  # the write-behind thread stops even when a file failed

    # -- rendering ---------------------------------------------------------------------------

    def _render_until(self, t_ms: int) -> None:
        if t_ms <= self.now_ms:
            return
        if self.closed:
            raise RuntimeError("the engine is closed")
        state = self.model.mix_state()
        calls: tuple[CallState, ...] = tuple(state.calls)
        matrices = self._route(state.mpc_uuids, calls)
        matrix = stack(matrices) if self.tap is not None else None
        sources = {spec.name: self._source(spec) for spec in state.sources}
        if len(self._sources) > len(sources):  # sources no MPC names any more (ended, left)
            self._sources = {k: v for k, v in self._sources.items() if k in sources}
        self._open_listeners(calls, state.mpc_created_ms)
        if self.close_ended_listeners:
            self._close_ended_listeners(calls)
        captures = self._open_recordings(state, calls)
        gates = self._voice_gates(calls)
        if len(self._speech) > len(gates):  # participants of no live MPC: nothing more to hear
            self._speech = {k: v for k, v in self._speech.items() if k in gates}
        start, end = self.samples(self.now_ms), self.samples(t_ms)
        for s in range(start, end, self.block):
            n = min(self.block, end - s)
            self._render_block(matrix, sources, gates, captures, s, n)
        self.now_ms = t_ms
        if self.on_progress is not None:
            self.on_progress(t_ms)

    def _route(self, uuids: tuple[str, ...], calls: tuple[CallState, ...]) -> list[RoutingMatrix]:
        """Give the mixer each MPC's routing matrix (where it changed) and forget ended MPCs."""
        if len(uuids) != len(calls):  # a model without uuids: its calls in order
            uuids = tuple(f"call-{i}" for i in range(len(calls)))
        matrices = []
        for key, call in zip(uuids, calls, strict=True):
            routed = self._routed.get(key)
            if routed is not None and (routed[0] is call or routed[0] == call):
                matrices.append(routed[1])  # unchanged state: the same matrix (the usual tick)
                continue
            m = build_matrix(call)
            matrices.append(m)
            if routed is None or routed[1] != m:
                self.mixer.set_call(key, m)
            self._routed[key] = (call, m)
        if len(self._routed) > len(calls):
            live = set(uuids)
            for key in [k for k in self._routed if k not in live]:
                del self._routed[key]
                self.mixer.remove_call(key)
        return matrices

    def _mix_block(self, sources: dict[str, Any], start: int, n: int
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
        """Every MPC's block ``[start, start + n)``: (listener -> int16 (n,) output, source label
        -> int16 (n,) input as mixed, source label -> its peak when the mixer measured it)."""
        live = self.mixer
        if self._frames.shape[0] < live.n_inputs or self._frames.shape[1] < n:
            self._frames = np.empty((live.n_inputs, n), dtype=np.int16)
        frames = self._frames[:live.n_inputs, :n]
        where: dict[str, int] = {}  # source label -> its (first) input row
        for key in live.calls:
            rows = live.input_rows(key)
            for k, label in enumerate(live.sources(key)):
                row = frames[rows.start + k]
                where.setdefault(label, rows.start + k)
                source = sources.get(label, SILENCE)
                read_into = getattr(source, "read_into", None)
                if source is SILENCE:
                    row[...] = 0
                elif read_into is not None:
                    read_into(row, start)
                else:
                    row[...] = source.read(start, n)
        out = live.advance(frames)
        rows_out: dict[str, np.ndarray] = {}
        for key in live.calls:
            lo = live.output_rows(key).start
            for i, name in enumerate(live.listeners(key)):
                rows_out[name] = out[lo + i]
        inputs = {label: frames[i] for label, i in where.items()}
        measured = live.last_peaks
        peaks = {label: int(measured[i]) for label, i in where.items()} if measured is not None else {}
        return rows_out, inputs, peaks

    def _render_block(
        self,
        matrix: RoutingMatrix | None,
        sources: dict[str, Any],
        gates: dict[str, bool],
        captures: list[tuple[StreamWriter, str, str | None]],
        start: int,
        n: int,
    ) -> None:
        if self.tap is not None and matrix is not None:
            # The mixer keeps its pre-limiter mix to itself, so a tapped block is mixed twice.
            if self._tap_mixer is None:
                self._tap_mixer = Mixer(self.sample_rate)
            self.tap(start, matrix, self._tap_mixer.mix(matrix, sources, start, n))
        rows, mixed, peaks = self._mix_block(sources, start, n)
        for label, row in rows.items():
            writer = self._listener_writers.get(label)
            if writer is not None:
                # A listener that left the matrix (its MPC ended) was not written meanwhile:
                # its silence is written only when needed, at the latest by close().
                self._pad_listener(label, start)
                writer.write(row)
        voices: dict[str, np.ndarray] = {}

        def voice(label: str) -> np.ndarray:
            if label not in voices:
                if not gates.get(label):
                    voices[label] = np.zeros(n, np.int16)
                elif (got := mixed.get(voice_source(label))) is not None:
                    voices[label] = got
                else:
                    voices[label] = sources.get(voice_source(label), SILENCE).read(start, n)
            return voices[label]

        for writer, row_name, member in captures:
            if member is None:
                row = rows.get(row_name)
                writer.write(row if row is not None else np.zeros(n, np.int16))
            elif row_name == "":
                writer.write(voice(member).copy())  # written later, by the write-behind thread
            else:
                heard = rows.get(member)
                if heard is None:
                    heard = np.zeros(n, np.int16)
                writer.write(np.stack([voice(member), heard]))
        if self.detect_speech:
            trackers = []
            for label in gates:
                tracker = self._speech.get(label)
                if tracker is None:
                    tracker = self._speech[label] = _SpeechTracker(self.sample_rate, self.frame_ms)
                trackers.append(tracker)
            frame = trackers[0].frame if trackers else 0
            frames = n // frame if frame else 0
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
                    peak = peaks.get(voice_source(label)) if heard is not None else None
                    found.append((label, tracker.feed(heard, start, n, peak)))
            for label, transitions in found:
                for at_sample, speaking in transitions:
                    at_ms = at_sample * 1000 // self.sample_rate
                    self.model.emit_speak_event(at_ms, label, speaking)

    def _source(self, spec: Any) -> Any:
        key = (spec.media, spec.start_ms, spec.loop)
        cached = self._sources.get(spec.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        if spec.media is None or spec.media == "none" or spec.name in self._silenced:
            source: Any = SILENCE
        else:
            # a voice or a Play plays once: streamed from disk where its file allows
            pcm = self.media.load(spec.media) if spec.loop else self.media.open(spec.media)
            start = self.samples(spec.start_ms)
            source = Looped(pcm, start) if spec.loop and len(pcm) else OneShot(pcm, start)
        self._sources[spec.name] = (key, source)
        return source

    def _open_listeners(self, calls: tuple[CallState, ...], created_ms: tuple[int, ...]) -> None:
        for i, call in enumerate(calls):
            for p in call.participants:
                if p.name not in self._listener_writers:
                    writer = StreamWriter(
                        self.listener_path(p.name), self.sample_rate, subtype=self.subtype,
                        background=self._io,
                    )
                    origin = 0
                    if self.listener_origin == "mpc" and i < len(created_ms):
                        origin = min(self.samples(created_ms[i]), self.samples(self.now_ms))
                    self._listener_writers[p.name] = writer
                    self._listener_start[p.name] = origin
                    self._pad_listener(p.name, self.samples(self.now_ms))

    def _pad_listener(self, label: str, upto: int) -> None:
        """Write silence to `label`'s stream up to timeline sample `upto` (exclusive)."""
        writer = self._listener_writers[label]
        _write_silence(writer, upto - self._listener_start[label] - writer.frames)

    def _close_ended_listeners(self, calls: tuple[CallState, ...]) -> None:
        """Close the files of listeners whose MPC has ended (they hear nothing from now on)."""
        present = {p.name for call in calls for p in call.participants}
        for label in [name for name in self._listener_writers if name not in present]:
            self._pad_listener(label, self.samples(self.now_ms))
            self._listener_writers.pop(label).close()
            del self._listener_start[label]

    def _open_recordings(
        self, state: Any, calls: tuple[CallState, ...]
    ) -> list[tuple[StreamWriter, str, str | None]]:
        """Writers for the recordings capturing now: (writer, listener row, member or None)."""
        live = {(r.recording_id, r.track) for r in state.recordings}
        for key in list(self._recording_writers):
            if key not in live:  # stopped, or its MPC ended: the file is complete
                self._recording_writers.pop(key).close()
                self._closed_recordings.add(key)
        ids = [r.recording_id for r in state.recordings]
        recording_rows = {u: c.recording_name for u, c in zip(state.mpc_uuids, calls, strict=True)}
        captures: list[tuple[StreamWriter, str, str | None]] = []
        for r in state.recordings:
            key = (r.recording_id, r.track)
            if not r.capturing or key in self._closed_recordings:
                continue
            writer = self._recording_writers.get(key)
            if writer is None:
                name = r.recording_id if ids.count(r.recording_id) == 1 else (
                    f"{r.recording_id}-{r.track}"
                )
                path = self.recordings_dir / f"{name}.{r.file_format}"
                channels = 2 if r.track == "all" else 1
                writer = StreamWriter(
                    path, self.sample_rate, channels=channels, subtype=self.subtype,
                    file_format=r.file_format, background=self._io,
                )
                self._recording_writers[key] = writer
                self._recording_files[key] = path
            if r.track == "conference":
                captures.append((writer, recording_rows[r.mpc_uuid], None))
            elif r.track == "participant":
                captures.append((writer, "", r.member))
            else:
                captures.append((writer, "all", r.member))
        return captures

    @staticmethod
    def _voice_gates(calls: tuple[CallState, ...]) -> dict[str, bool]:
        """Whether each participant's voice enters its conference now (in conference, unmuted)."""
        return {
            p.name: is_heard_by_conference(p, c.status) for c in calls for p in c.participants
        }


def _write_silence(writer: StreamWriter, n: int) -> None:
    """Append `n` samples of silence (nothing when `n` <= 0)."""
    if n <= 0:
        return
    block = np.zeros(min(n, BLOCK_SAMPLES), dtype=np.int16)
    while n > 0:
        k = min(n, len(block))
        writer.write(block[:k])
        n -= k


class _SpeechTracker:
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
        quiet = voice is None or (peak is not None and peak * peak * self.frame <= self.threshold)
        return self.feed_flags(None if quiet else self.loud_frames([voice], frames)[0], start, frames)

    def loud_frames(self, voices: list[np.ndarray], frames: int) -> np.ndarray:
        """bool (len(voices), frames): whether each of the first `frames` frames of each voice
        (int16, at least frames * frame samples) is above the threshold. Energies are exact in
        float64 (a sum of at most 2**23 squares of int16 stays below 2**53)."""
        x = np.stack([v[:frames * self.frame] for v in voices]).astype(np.float64)
        x = x.reshape(len(voices), frames, self.frame)
        return np.einsum("ijk,ijk->ij", x, x) > self.threshold

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


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder below `root` (before the atomic rename of a render)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
