"""The call engine: a call model, the routing matrix and the mixer, advanced through time.

`CallEngine` is the one place where the data flow of docs/design.md is wired together. The
scenario driver and the HTTP server both drive it the same way: apply operations to
`engine.model` at a frame boundary, `settle()`, then `advance_to()` the next moment something
happens. Between two such moments the routing matrix is constant, so the span is mixed in a few
large blocks, written to the listener files and recordings (`Outputs`).

The mixing is `LiveMixer`'s: each MPC is a call of it (its routing matrix set when it changes),
every call is advanced in one vectorised step, by long blocks offline and by one frame per tick
on the server's real-time clock. The samples do not depend on the cut (tested against
`Mixer.render`).

Hooks, for what watches a render rather than writes it: `tap` sees every block's pre-limiter mix
(the who-heard-whom measure), `on_span` every span of constant state (the timeline, which runs
with ``mix=False``: the call model alone, no audio at all).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from mpcmix.errors import MediaError, MediaPending
from mpcmix.media import MediaLibrary
from mpcmix.mixer import SILENCE, LiveMixer, Looped, Mixer, OneShot, Source
from mpcmix.model import LIVE_PREFIX, CallModel, Event, MixState, SourceSpec, is_live
from mpcmix.routing import (
    CallPhase,
    CallState,
    RoutingMatrix,
    build_matrix,
    is_heard_by_conference,
    stack,
    voice_source,
)

from .live import LiveHub
from .outputs import Capture, Outputs
from .speech import Speech

#: A tap sees every block's pre-limiter mix: ``tap(start_sample, matrix, mix float32 (L, n))``,
#: row ``i`` being listener ``matrix.listeners[i]`` (see `CallEngine`).
Tap = Callable[[int, RoutingMatrix, np.ndarray], None]
#: `on_span(start_ms, end_ms, state)`: the model's state held over ``[start_ms, end_ms)``.
SpanHook = Callable[[int, int, MixState], None]

_VOICE = voice_source("")  # the prefix of a voice's source label

#: Mixing block: bounds memory whatever the call's length (samples per block at any rate).
BLOCK_SAMPLES = 1 << 17
#: What a block's arrays may take, in bytes: a block is cut shorter (whole frames, one at least)
#: when the calls have so many inputs and listeners that `BLOCK_SAMPLES` would take more. Each row
#: (an input or a listener) costs about `BYTES_PER_ROW_SAMPLE` bytes a sample in a block (its
#: int16 input or output, the kernel's wider sums, the copy queued for the file), so memory
#: stays about 64 MiB whatever the number of participants, and per participant it is what its
#: file, source and speech tracker hold (docs/reliability.md, Rendering).
BLOCK_BUDGET_BYTES = 64 << 20
BYTES_PER_ROW_SAMPLE = 12
#: What a render holds per participant besides the block (its listener file's buffers, its
#: voice's read-ahead window, its speech tracker and limiter): about 45 KiB measured with 2000
#: participants, counted as 64 KiB.
BYTES_PER_PARTICIPANT = 64 << 10
#: What a render holds whatever its size: the interpreter, numpy and scipy, and the block.
BASE_BYTES = (96 << 20) + BLOCK_BUDGET_BYTES


def render_memory_bytes(participants: int) -> int:
    """About the most memory a render of `participants` participants takes, in bytes."""
    return BASE_BYTES + participants * BYTES_PER_PARTICIPANT


class CallEngine:
    """A call model and its audio, rendered up to `now_ms` (see the module docstring).

    Files (when `out_dir` is not None): ``out_dir/listeners/<label>.wav`` (what each participant
    heard, from time 0; from its MPC's creation with ``listener_origin="mpc"``) and
    ``out_dir/recordings/<recording_id>.<format>``; `subtype` is ``PCM_16`` or ``FLOAT``. With
    `out_dir` None nothing is written: the mix goes to `tap` and the speech detection only.

    Measuring: `tap` is called with every block's pre-limiter mix, exact integers in float32
    ``(L, n)``, before the block is limited and written; `silence_voices` names participants
    (labels) whose voice is replaced by silence, everything else (the call model, its timers
    and events) unchanged. `mix` False runs the call model alone: spans go to `on_span`, no
    audio is decoded or mixed.
    """

    def __init__(
        self,
        model: CallModel,
        media: MediaLibrary,
        out_dir: str | Path | None,
        *,
        sample_rate: int = 16000,
        frame_ms: int = 20,
        subtype: str = "PCM_16",
        detect_speech: bool = True,
        on_progress: Callable[[int], None] | None = None,
        tap: Tap | None = None,
        on_span: SpanHook | None = None,
        mix: bool = True,
        silence_voices: Collection[str] = (),
        close_ended_listeners: bool = False,
        listener_origin: str = "timeline",
        kernel: str = "numpy",
    ) -> None:
        self.model = model
        self.media = media
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.detect_speech = detect_speech and mix
        self.on_progress = on_progress
        self.tap = tap
        self.on_span = on_span
        self.mixes = mix
        self._silenced = frozenset(voice_source(label) for label in silence_voices)
        self.outputs: Outputs | None = None
        if out_dir is not None and mix:
            self.outputs = Outputs(Path(out_dir), sample_rate, subtype=subtype,
                                   listener_origin=listener_origin,
                                   close_ended_listeners=close_ended_listeners)
        # numpy by default (renders and the server alike): numba's import and set-up (~0.5-0.9 s)
        # outweigh its gain on one render (docs/performance.md).
        self.mixer = LiveMixer(sample_rate, frame_ms, kernel=kernel)
        # MPC uuid -> (its state, the matrix the mixer has), so an unchanged state is not re-routed
        self._routed: dict[str, tuple[CallState, RoutingMatrix]] = {}
        self._tap_mixer: Mixer | None = None  # the pre-limiter mix for `tap` (matrix products)
        self._frames = np.empty((0, 0), dtype=np.int16)  # the inputs of a block, reused
        frame = sample_rate * frame_ms // 1000
        self.block = max(frame, BLOCK_SAMPLES // frame * frame)  # whole frames, for speech frames
        self.now_ms = 0
        self._sources: dict[str, tuple[tuple[str | None, int, bool], Source]] = {}
        # sources whose medium is being prepared: (their key, the media version then)
        self._waiting: dict[str, tuple[tuple[str | None, int, bool], int]] = {}
        self._speech = Speech(sample_rate, frame_ms)
        self._pending: list[Event] = []
        self.closed = False
        #: live voices in, mix feeds out (mpcmix.engine.live)
        self.live = LiveHub(sample_rate, frame_ms)
        self._answered: frozenset[str] = frozenset()  # labels whose call is answered, this span

    # -- time --------------------------------------------------------------------------------

    def samples(self, ms: int) -> int:
        """The timeline sample at `ms` (exact: frame boundaries are whole samples)."""
        return ms * self.sample_rate // 1000

    def settle(self, now_ms: int) -> list[Event]:
        """Judge the ending rules after operations at `now_ms`; the events produced so far."""
        self.model.settle(now_ms)
        if self.live.active():  # a live voice or feed whose call just ended ends now
            state = self.model.mix_state()
            self._sync_live(state.calls, [build_matrix(c).listeners for c in state.calls])
        return self.drain_events()

    def _sync_live(self, calls: tuple[CallState, ...], rows: list[tuple[str, ...]]) -> None:
        """Tell the live hub who is in a call now, and which listener rows exist."""
        self._answered = frozenset(p.name for c in calls for p in c.participants
                                   if p.phase is CallPhase.ANSWERED)
        self.live.keep(self._answered, [row for listeners in rows for row in listeners])

    def advance_to(self, target_ms: int) -> list[Event]:
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

    def drain_events(self) -> list[Event]:
        """The events (callbacks) produced since the last call, in order."""
        self._pending.extend(self.model.drain_events())
        out, self._pending = self._pending, []
        return out

    # -- files -------------------------------------------------------------------------------

    def listener_path(self, label: str) -> Path:
        """The WAV file of what participant `label` heard."""
        return self._files().listener_path(label)

    def recording_paths(self, recording_id: str) -> list[Path]:
        """The files of a recording (two for a participant recording of track type `both`)."""
        return self._files().recording_paths(recording_id)

    def is_recording_complete(self, recording_id: str) -> bool:
        """Whether every file of the recording is closed (safe to download in full)."""
        return self._files().is_recording_complete(recording_id)

    def flush(self) -> None:
        """Flush every open file to disk (fsync)."""
        if self.outputs is not None:
            self.outputs.flush()

    def update_headers(self, *, wait: bool = False) -> None:
        """Make every open WAV file's header count the samples written so far (no fsync: what a
        reader, or a restart after kill -9, needs); `wait` until they are in the files."""
        if self.outputs is not None and not self.closed:
            self.outputs.update_headers(wait=wait)

    def close(self) -> None:
        """Close every file (fsynced). The engine renders nothing after this."""
        if self.closed:
            return
        self.live.close()
        try:
            if self.outputs is not None:
                self.outputs.close(self.samples(self.now_ms))
        finally:
            self.closed = True

    def retained(self) -> dict[str, int]:
        """What the engine holds for live MPCs, counted (a long-running server's memory): decoded
        sources, speech trackers, routed calls, open files. All 0 once no MPC is live."""
        files = 0 if self.outputs is None else len(self.outputs.writers())
        return {"sources": len(self._sources), "speech": len(self._speech),
                "routed": len(self._routed), "files": files}

    def _files(self) -> Outputs:
        if self.outputs is None:
            raise RuntimeError("this engine writes no files (out_dir is None)")
        return self.outputs

    # -- rendering ---------------------------------------------------------------------------

    def _render_until(self, t_ms: int) -> None:
        if t_ms <= self.now_ms:
            return
        if self.closed:
            raise RuntimeError("the engine is closed")
        state = self.model.mix_state()
        if self.on_span is not None:
            self.on_span(self.now_ms, t_ms, state)
        if self.mixes:
            self._mix_span(state, t_ms)
        self.now_ms = t_ms
        if self.on_progress is not None:
            self.on_progress(t_ms)

    def _mix_span(self, state: MixState, t_ms: int) -> None:
        """Mix, write and listen to ``[now_ms, t_ms)``, over which `state` holds."""
        calls = state.calls
        matrices = self._route(state.mpc_uuids, calls)
        matrix = stack(matrices) if self.tap is not None else None
        self._sync_live(calls, [m.listeners for m in matrices])
        sources = {spec.name: self._source(spec) for spec in state.sources}
        if len(self._sources) > len(sources):  # sources no MPC names any more (ended, left)
            self._sources = {k: v for k, v in self._sources.items() if k in sources}
        if len(self._waiting) > len(sources):
            self._waiting = {k: v for k, v in self._waiting.items() if k in sources}
        now = self.samples(self.now_ms)
        captures: list[Capture] = []
        if self.outputs is not None:
            self.outputs.open_listeners(calls, [self.samples(ms) for ms in state.mpc_created_ms],
                                        now)
            captures = self.outputs.open_recordings(state)
        gates = {p.name: is_heard_by_conference(p, c.status)
                 for c in calls for p in c.participants}
        self._speech.forget_all_but(gates)  # participants of no live MPC: nothing more to hear
        end = self.samples(t_ms)
        block = self._block_for(self.mixer.n_inputs + self.mixer.n_outputs)
        for s in range(now, end, block):
            self._mix_block(matrix, sources, gates, captures, s, min(block, end - s))

    def _block_for(self, rows: int) -> int:
        """Samples per block for `rows` inputs and listeners: `self.block`, or fewer whole frames
        so the block's arrays stay within `BLOCK_BUDGET_BYTES`. The samples do not depend on it."""
        frame = self.sample_rate * self.frame_ms // 1000
        fits = BLOCK_BUDGET_BYTES // (max(1, rows) * BYTES_PER_ROW_SAMPLE)
        return max(frame, min(self.block, fits // frame * frame))

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

    def _mix_inputs(self, sources: Mapping[str, Source], start: int, n: int
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

    def _mix_block(self, matrix: RoutingMatrix | None, sources: Mapping[str, Source],
                   gates: Mapping[str, bool], captures: list[Capture], start: int, n: int) -> None:
        if self.tap is not None and matrix is not None:
            # The mixer keeps its pre-limiter mix to itself, so a tapped block is mixed twice.
            if self._tap_mixer is None:
                self._tap_mixer = Mixer(self.sample_rate)
            self.tap(start, matrix, self._tap_mixer.mix(matrix, sources, start, n))
        rows, mixed, peaks = self._mix_inputs(sources, start, n)
        if self.outputs is not None:
            self.outputs.write_listeners(rows, start)
        voices: dict[str, np.ndarray] = {}

        def voice(label: str) -> np.ndarray:
            """The participant's voice as its conference receives it in this block."""
            if label not in voices:
                if not gates.get(label):
                    voices[label] = np.zeros(n, np.int16)
                elif (got := mixed.get(voice_source(label))) is not None:
                    voices[label] = got
                else:
                    voices[label] = sources.get(voice_source(label), SILENCE).read(start, n)
            return voices[label]

        self.live.deliver(start, rows, voice)
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
            voice_peaks = {label: peaks[voice_source(label)] for label in gates
                           if voice_source(label) in peaks}
            for label, at_sample, speaking in self._speech.feed(gates, voice, voice_peaks, start,
                                                                n):
                self.model.emit_speak_event(at_sample * 1000 // self.sample_rate, label, speaking)

    def _source(self, spec: SourceSpec) -> Source:
        if is_live(spec.media) and spec.name.startswith(_VOICE):
            label = spec.name[len(_VOICE):]
            if label not in self._answered or spec.name in self._silenced:
                return SILENCE  # left the call: its live voice is closed
            assert spec.media is not None
            return self.live.voice(label, spec.media[len(LIVE_PREFIX):], spec.start_ms)
        key = (spec.media, spec.start_ms, spec.loop)
        cached = self._sources.get(spec.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        waiting = self._waiting.get(spec.name)
        if waiting is not None and waiting == (key, self.media.version):
            return SILENCE  # still being prepared: not asked again until a decode ends
        source: Source
        if spec.media is None or spec.media == "none" or spec.name in self._silenced:
            source = SILENCE
        else:
            # streamed from disk where its file allows (a voice, a Play, music alike)
            try:
                pcm: Any = self.media.open(spec.media)
            except MediaPending:  # being prepared off this path: silence until it is
                self._waiting[spec.name] = (key, self.media.version)
                return SILENCE
            except MediaError:
                pcm = None  # the call model is told (`media_failed`); silence meanwhile
            start = self.samples(spec.start_ms)
            if pcm is None:
                source = SILENCE
            else:
                source = Looped(pcm, start) if spec.loop and len(pcm) else OneShot(pcm, start)
        self._sources[spec.name] = (key, source)
        self._waiting.pop(spec.name, None)
        return source
