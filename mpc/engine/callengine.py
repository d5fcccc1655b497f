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

from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from time import thread_time
from typing import Any

import numpy as np
from mpcmix.errors import MediaError, MediaPending
from mpcmix.media import MediaLibrary
from mpcmix.mixer import SILENCE, LiveMixer, Looped, Mixer, OneShot, Source
from mpcmix.model import LIVE_PREFIX, CallModel, Event, MixState, MpcMix, SourceSpec, is_live
from mpcmix.routing import (
    CallPhase,
    CallState,
    RoutingMatrix,
    build_matrix,
    stack,
    voice_source,
)

from .live import LiveHub
from .outputs import Capture, Outputs, TickRing
from .plan import Buffers, CallPlan, Rows, SpanPlan, call_plan, heard_row
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


#: The parts of `CallEngine.costs`.
COST_PARTS = ("model", "plan", "gather", "mix", "files", "speech")

#: Blocks of at most this many frames (the server's ticks, a catch-up of a few) feed the files
#: through the tick ring; longer ones (a render's) are written to each file directly.
TICK_FRAMES = 4


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
        listener_streams: bool = True,
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
                                   close_ended_listeners=close_ended_listeners,
                                   listener_streams=listener_streams)
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
        #: CPU seconds of the rendering thread spent in each part of the work, summed (what
        #: `make load` reports per MPC per tick): the call model (timers, its snapshot), planning
        #: a new state, reading the sources, mixing, handing the files their frames, speech.
        self.costs = dict.fromkeys(COST_PARTS, 0.0)
        self._span: SpanPlan | None = None  # the plan of the state being mixed (`_plan_span`)
        self._call_plans: dict[str, CallPlan] = {}  # each MPC's part of it, by key
        self._buffers = Buffers()  # the sample buffers sources play, shared by every MPC
        # The planned state, kept from span to span and changed where an MPC changed:
        self._layout: dict[str, tuple[CallPlan, int, int]] = {}  # key -> (plan, in row, out row)
        self._rows = Rows()  # per-row tables: what each input reads, which file each row feeds
        self._epoch = -1  # the mixer's layout they were laid out for
        self._planned_serial = 0  # the model's number of the state planned last (0: none)
        self._waiting_keys: set[str] = set()  # MPCs with a source still being prepared
        self._listened: dict[str, tuple[bool, int | None, Source]] = {}  # speech: label -> voice
        self._listened_of: dict[str, tuple[str, ...]] = {}  # key -> its listened labels
        # recordings capturing: (id, track) -> [capture, its MPC, resolved, where it is fed]
        self._caps: dict[tuple[str, str], list[Any]] = {}
        self._caps_of: dict[str, set[tuple[str, str]]] = {}  # MPC -> its recordings' keys
        self._direct: dict[tuple[str, str], tuple[Any, ...]] = {}  # captures each block writes
        self._mem_calls: tuple[Any, dict[str, str]] = (None, {})
        self.closed = False
        #: live voices in, mix feeds out (mpcmix.engine.live)
        self.live = LiveHub(sample_rate, frame_ms)
        self._state_now: MixState | None = None  # the state being planned
        self._answered: frozenset[str] | None = None  # labels whose call is answered in them

    # -- time --------------------------------------------------------------------------------

    def samples(self, ms: int) -> int:
        """The timeline sample at `ms` (exact: frame boundaries are whole samples)."""
        return ms * self.sample_rate // 1000

    def settle(self, now_ms: int) -> list[Event]:
        """Judge the ending rules after operations at `now_ms`; the events produced so far."""
        self.model.settle(now_ms)
        if self.live.active():  # a live voice or feed whose call just ended ends now
            state = self.model.mix_state()
            self._sync_live(state, lambda: [build_matrix(c) for c in state.calls])
        return self.drain_events()

    def _sync_live(self, state: MixState, matrices: Callable[[], list[RoutingMatrix]]) -> None:
        """Tell the live hub who is in a call now, and which listener rows exist (nothing to
        tell, and no step per call, while no live voice or feed exists)."""
        self._state_now, self._answered = state, None
        if self.live.active():
            self.live.keep(self._answered_now(), [row for m in matrices() for row in m.listeners])

    def _answered_now(self) -> frozenset[str]:
        """Labels whose call is answered in the state being planned (made when a live voice asks)."""
        if self._answered is None:
            calls = self._state_now.calls if self._state_now is not None else ()
            self._answered = frozenset(p.name for c in calls for p in c.participants
                                       if p.phase is CallPhase.ANSWERED)
        return self._answered

    def advance_to(self, target_ms: int) -> list[Event]:
        """Fire the model's timers up to `target_ms` and render the audio up to it."""
        if target_ms < self.now_ms:
            raise ValueError(f"time goes forward only: {target_ms} ms < {self.now_ms} ms")
        costs, clock = self.costs, thread_time
        while True:
            t0 = clock()
            due = self.model.next_timer_ms()
            costs["model"] += clock() - t0
            if due is None or due > target_ms:
                break
            self._render_until(due)
            t0 = clock()
            self.model.advance(due)
            self.model.settle(due)
            costs["model"] += clock() - t0
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
        t0 = thread_time()
        state = self.model.mix_state()
        self.costs["model"] += thread_time() - t0
        if self.on_span is not None:
            self.on_span(self.now_ms, t_ms, state)
        if self.mixes:
            self._mix_span(state, t_ms)
        self.now_ms = t_ms
        if self.on_progress is not None:
            self.on_progress(t_ms)

    def _mix_span(self, state: MixState, t_ms: int) -> None:
        """Mix, write and listen to ``[now_ms, t_ms)``, over which `state` holds."""
        span = self._span
        if span is None or span.state is not state or (
                span.version is not None and span.version != self.media.version):
            t0 = thread_time()
            span = self._span = self._plan_span(state)
            self.costs["plan"] += thread_time() - t0
        now = self.samples(self.now_ms)
        end = self.samples(t_ms)
        block = self._block_for(self.mixer.n_inputs + self.mixer.n_outputs)
        for s in range(now, end, block):
            self._mix_block(span, s, min(block, end - s))

    def _plan_span(self, state: MixState) -> SpanPlan:
        """What every block of a span of `state` needs (`plan.SpanPlan`): made again only for
        the MPCs whose state, sources or matrix changed (and for every MPC when the mixer's
        layout moved), written into per-row tables (`plan.Rows`) in place, then read by array
        steps: a change to one MPC costs no Python step per other MPC (each MPC's part is
        compared by identity only when the model cannot say which changed: the first span, or
        one planned long before)."""
        parts = state.parts
        plans = self._call_plans
        # The MPCs to look at: those the model says changed since the state planned last (and
        # those waiting for a medium), in creation order, or, when it cannot say, every MPC.
        hint = self.model.mix_changes_since(self._planned_serial) \
            if state.serial and self._planned_serial else None
        look: list[str]
        if hint is None:
            look = list(parts)
            gone = [k for k in {**self._routed, **plans} if k not in parts]
        else:
            look = state.in_order(hint | self._waiting_keys)
            gone = [k for k in hint if k not in parts and (k in self._routed or k in plans)]
        self._route(parts, look, gone)
        routed = self._routed

        def all_matrices() -> list[RoutingMatrix]:
            return [routed[u][1] for u in parts]

        matrix = stack(all_matrices()) if self.tap is not None else None
        self._sync_live(state, all_matrices)  # before sources: live voices ask who is answered
        version = self.media.version
        stale: list[str] = []
        for key in look:
            plan = plans.get(key)
            part = parts[key]
            if (plan is None or plan.call is not part.call or plan.specs is not part.sources
                    or plan.matrix is not routed[key][1] or (plan.waiting and plan.version != version)):
                stale.append(key)
        ended = [key for key in gone if key in plans]
        now = self.samples(self.now_ms)
        outputs = self.outputs
        live = self.mixer
        if outputs is not None:
            if ended and outputs.close_ended_listeners:
                outputs.close_listeners([p.name for key in ended for p in plans[key].call.participants],
                                        now)
            # only the MPCs whose plan changed can have new people
            outputs.open_listeners([parts[k].call for k in stale],
                                   [self.samples(parts[k].created_ms) for k in stale], now)
            if outputs.ring is None:
                outputs.ring = TickRing(self.sample_rate * self.frame_ms // 1000)
                outputs.deepen_queue()
        rows = self._rows
        layout = self._layout
        moved = live.layout_epoch != self._epoch
        shifted = live.take_moved()  # MPCs whose rows moved (their cohort grew), plans unchanged
        if moved:  # every MPC's rows moved: the tables are laid out again from each plan
            rows.reset(live.n_inputs, live.n_outputs)
            self._epoch = live.layout_epoch
        else:
            rows.extend(live.n_inputs, live.n_outputs)
        changed: list[str] = list(ended)
        if shifted and not moved:
            restale = set(stale)
            for moved_key in shifted:
                key = str(moved_key)
                if key in layout and key not in restale:
                    rows.clear(*layout[key])
                    changed.append(key)
        n_relocated = len(changed) - len(ended)
        dropped_names: list[str] = []
        for key in ended:
            plan, in_lo, out_lo = layout.pop(key)
            del plans[key]
            dropped_names.extend(plan.sources)
            if not moved:
                rows.clear(plan, in_lo, out_lo)
        for key in stale:
            call, specs = parts[key].call, parts[key].sources
            sources = {spec.name: self._source(spec) for spec in specs}
            waiting = any(spec.name in self._waiting for spec in specs)
            old = layout.get(key)
            if old is not None and not moved:
                rows.clear(*old)
            plan = plans[key] = call_plan(
                call, specs, routed[key][1], sources, live.sources(key), live.listeners(key), parts[key].speakers,
                self._buffers, outputs.listener_writer if outputs is not None else lambda _: None,
                waiting, version)
            if old is not None:
                dropped_names.extend(name for name in old[0].sources if name not in plan.sources)
            if old is not None and outputs is not None and outputs.ring is not None:
                feeds = {id(w) for _, w in plan.out_writers}
                for _, writer in old[0].out_writers:  # no longer fed a frame a tick: handed
                    if id(writer) not in feeds:  # what it gathered, its slot freed
                        outputs.ring.drain(writer, release=True)
            changed.append(key)
        in_starts, out_starts = live.row_starts()
        ring = outputs.ring if outputs is not None else None
        for key in (plans if moved else changed[len(ended):]):  # relocated, then re-planned
            plan = plans[key]
            if ring is not None and plan.out_writers and (plan.slots is None or plan.ring is not ring):
                plan.slots = ring.slots([w for _, w in plan.out_writers])
                plan.ring = ring
                plan.out_local = np.array([i for i, _ in plan.out_writers], dtype=np.int64)
            in_lo, out_lo = in_starts[key], out_starts[key]
            layout[key] = (plan, in_lo, out_lo)
            rows.put(plan, in_lo, out_lo)
        for name in dropped_names:  # what no MPC names any more (ended, left)
            self._sources.pop(name, None)
            self._waiting.pop(name, None)
        for key in ended:
            self._waiting_keys.discard(key)
        for key in changed[len(ended) + n_relocated:]:
            if plans[key].waiting:
                self._waiting_keys.add(key)
            else:
                self._waiting_keys.discard(key)
        self._update_listened(ended if not moved else list(self._listened_of),
                              changed[len(ended):] if not moved else list(plans))
        if outputs is not None:
            self._update_captures(state, hint, changed, moved)
        self._planned_serial = state.serial
        if self.verify_plan:
            self._check_plan(tuple(parts))
        caps = self._caps
        span = SpanPlan(state, version if self._waiting_keys else None, matrix, layout,
                        rows.gather(self._buffers, compiled=live.kernel == "numba"),
                        lambda: [entry[2] for entry in caps.values() if entry[2] is not None],
                        self._listened)
        if ring is not None:
            span.out_slots, span.out_index, span.in_slots, span.in_index = rows.feeds()
            span.direct = list(self._direct.values())
        return span

    def _update_listened(self, dropped: list[str], changed: list[str]) -> None:
        """Speech detection's voices: (gate, input row, source) by label, for the MPCs that
        changed (their old labels dropped first)."""
        for key in dropped:
            for label in self._listened_of.pop(key, ()):
                self._listened.pop(label, None)
        for key in changed:
            for label in self._listened_of.pop(key, ()):
                self._listened.pop(label, None)
            plan = self._call_plans[key]
            if plan.listened:
                self._listened_of[key] = plan.listened
                for label in plan.listened:
                    self._listened[label] = heard_row(self._layout, key, label)
        if dropped:
            self._speech.forget_all_but(self._listened)  # nothing more to hear, or nobody to tell

    #: Tests set this: every span plan changed in place is checked against one laid out from
    #: scratch (tests/conftest.py).
    verify_plan = False

    def _check_plan(self, uuids: tuple[str, ...]) -> None:
        """Assert that the tables changed in place equal tables laid out from every plan."""
        live = self.mixer
        in_starts, out_starts = live.row_starts()
        assert set(self._layout) == set(self._call_plans) == set(uuids), "plan: stale MPCs"
        fresh = Rows()
        fresh.reset(live.n_inputs, live.n_outputs)
        for key, (plan, in_lo, out_lo) in self._layout.items():
            assert plan is self._call_plans[key], f"plan: {key} stale"
            assert (in_lo, out_lo) == (in_starts[key], out_starts[key]), f"plan: {key} moved"
            fresh.put(plan, in_lo, out_lo)
        rows = self._rows
        for name in ("buffers", "origins", "looped", "listen"):
            assert np.array_equal(getattr(rows, name), getattr(fresh, name)), f"plan: table {name}"
        assert rows.alone == fresh.alone, "plan: sources read alone"
        for rkey, entry in self._caps.items():
            assert entry[2] == self._resolve(entry[0], entry[1]), f"plan: capture {rkey}"
            if entry[3] is not None:
                name, row, slot = entry[3]
                getattr(fresh, name)[row] = slot
        assert np.array_equal(rows.rec_out, fresh.rec_out), "plan: rec_out"
        assert np.array_equal(rows.rec_in, fresh.rec_in), "plan: rec_in"
        listened = {label: heard_row(self._layout, key, label)
                    for key, plan in self._call_plans.items() for label in plan.listened}
        assert listened == self._listened, "plan: speech voices"
        assert self._waiting_keys == {k for k, p in self._call_plans.items() if p.waiting}

    def _update_captures(self, state: MixState, hint: frozenset[str] | None, changed: list[str],
                         moved: bool) -> None:
        """The recordings capturing now, each resolved to the rows it reads (`_resolve`) and
        fed by the tick ring where it can be: those opened, changed or closed since the last
        span, and those of the MPCs that changed (all of them when the layout moved)."""
        outputs = self.outputs
        assert outputs is not None
        opened, closed = outputs.recordings_changed(state, hint)
        redo: set[tuple[str, str]] = set()
        for rkey in closed:
            self._forget_capture(rkey)
        for rkey, capture, mpc_uuid in opened:
            self._forget_capture(rkey)
            if capture is None:  # paused, or not capturing yet: nothing written
                continue
            self._caps[rkey] = [capture, mpc_uuid, None, None]
            self._caps_of.setdefault(mpc_uuid, set()).add(rkey)
            redo.add(rkey)
        if moved:
            redo.update(self._caps)
        else:
            for key in changed:
                redo.update(self._caps_of.get(key, ()))
        for rkey in redo:
            entry = self._caps[rkey]
            if entry[2] is not None:
                self._unapply(rkey, entry, release=False)
        for rkey in redo:
            self._apply(rkey, self._caps[rkey])

    def _forget_capture(self, rkey: tuple[str, str]) -> None:
        """Take capture `rkey` out of the tables and the engine's books (if it is there)."""
        entry = self._caps.pop(rkey, None)
        if entry is not None:
            self._unapply(rkey, entry)
            owner = self._caps_of.get(entry[1])
            if owner is not None:
                owner.discard(rkey)

    def _unapply(self, rkey: tuple[str, str], entry: list[Any], *, release: bool = True) -> None:
        """Take a capture out of the tables (its ring feed, or the direct writes); `release`
        False keeps its ring slot and what it gathered there (it is applied again at once:
        `_apply` takes the same slot, or hands it over when it is written directly)."""
        applied = entry[3]
        if applied is not None:
            name, row, slot = applied
            table = getattr(self._rows, name)  # the table now (it may have been laid out anew)
            if row < len(table) and table[row] == slot:
                table[row] = -1
            ring = self.outputs.ring if self.outputs is not None else None
            if ring is not None and release:  # no longer fed a frame a tick: handed what it
                ring.drain(entry[2][0], release=True)  # gathered, its slot freed
        self._direct.pop(rkey, None)
        entry[2] = entry[3] = None

    def _apply(self, rkey: tuple[str, str], entry: list[Any]) -> None:
        """Resolve a capture's rows and feed it from the tick ring where one mono row is all it
        takes (a conference's mix, a voice as it enters the conference), else write it
        directly each block."""
        resolved = entry[2] = self._resolve(entry[0], entry[1])
        writer, kind = resolved[0], resolved[1]
        ring = self.outputs.ring if self.outputs is not None else None
        rows = self._rows
        target = None
        if ring is not None and writer.channels == 1:
            if kind == "row" and resolved[2] is not None and rows.rec_out[resolved[2]] < 0:
                target = ("rec_out", resolved[2])
            elif kind == "voice" and resolved[2] and resolved[3] is not None \
                    and rows.rec_in[resolved[3]] < 0:
                target = ("rec_in", resolved[3])
        if target is None:
            self._direct[rkey] = resolved
            if ring is not None:
                ring.drain(writer, release=True)
            return
        assert ring is not None
        slot = int(ring.slots([writer])[0])
        getattr(rows, target[0])[target[1]] = slot
        entry[3] = (target[0], target[1], slot)

    def _resolve(self, capture: Capture, key: str) -> tuple[Any, ...]:
        """A recording's capture with its rows found (in MPC `key`): (writer, kind, ...) where
        kind is "row" (an output row or None), "voice" (gate, input row, source) or "all" (the
        voice's, then the output row of what it hears)."""
        writer, row_name, member = capture
        entry = self._layout.get(key)
        if member is None:
            row = None
            if entry is not None:
                plan, _, lo = entry
                k = plan.out_pos.get(row_name)
                row = None if k is None else lo + k
            return (writer, "row", row)
        voice = heard_row(self._layout, key, member) if entry is not None and \
            member in entry[0].gates else (False, None, SILENCE)
        if row_name == "":
            return (writer, "voice", *voice)
        heard = None
        if entry is not None:
            plan, _, lo = entry
            k = plan.out_pos.get(member)
            heard = None if k is None else lo + k
        return (writer, "all", *voice, heard)

    def _member_calls(self, span: SpanPlan) -> dict[str, str]:
        """Participant -> its call's key, for live feeds (made when asked, once per span)."""
        if self._mem_calls[0] is not span:
            self._mem_calls = (span, {label: key for key, (plan, _, _) in span.plans.items()
                                      for label in plan.gates})
        return self._mem_calls[1]

    def _block_for(self, rows: int) -> int:
        """Samples per block for `rows` inputs and listeners: `self.block`, or fewer whole frames
        so the block's arrays stay within `BLOCK_BUDGET_BYTES`. The samples do not depend on it."""
        frame = self.sample_rate * self.frame_ms // 1000
        fits = BLOCK_BUDGET_BYTES // (max(1, rows) * BYTES_PER_ROW_SAMPLE)
        return max(frame, min(self.block, fits // frame * frame))

    def _route(self, parts: Mapping[str, MpcMix], look: Iterable[str], gone: list[str]) -> None:
        """Give the mixer the routing matrix of the MPCs `look` (uuids) where it changed, and
        forget the `gone` ones (ended)."""
        for key in look:
            call = parts[key].call
            routed = self._routed.get(key)
            if routed is not None and (routed[0] is call or routed[0] == call):
                continue  # unchanged state: the same matrix (the usual tick)
            m = build_matrix(call)
            if routed is None or routed[1] != m:
                self.mixer.set_call(key, m)
            self._routed[key] = (call, m)
        for key in gone:
            if self._routed.pop(key, None) is not None:
                self.mixer.remove_call(key)

    def _mix_inputs(self, span: SpanPlan, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Every MPC's block ``[start, start + n)``: (its inputs int16 (n_inputs, n) as mixed,
        its outputs int16 (n_outputs, n)), laid out as the mixer says."""
        live = self.mixer
        if self._frames.shape[0] < live.n_inputs or self._frames.shape[1] < n:
            self._frames = np.empty((live.n_inputs, n), dtype=np.int16)
        frames = self._frames[:live.n_inputs, :n]
        t0 = thread_time()
        span.gather.fill(frames, start)
        t1 = thread_time()
        out = live.advance(frames)
        self.costs["gather"] += t1 - t0
        self.costs["mix"] += thread_time() - t1
        return frames, out

    def _mix_block(self, span: SpanPlan, start: int, n: int) -> None:
        if self.tap is not None and span.matrix is not None:
            # The mixer keeps its pre-limiter mix to itself, so a tapped block is mixed twice.
            if self._tap_mixer is None:
                self._tap_mixer = Mixer(self.sample_rate)
            self.tap(start, span.matrix, self._tap_mixer.mix(span.matrix, span.sources, start, n))
        frames, out = self._mix_inputs(span, start, n)
        measured = self.mixer.last_peaks

        def voice(gate: bool, row: int | None, source: Source) -> np.ndarray:
            """A participant's voice as its conference receives it in this block."""
            if not gate:
                return np.zeros(n, np.int16)
            if row is not None:
                got: np.ndarray = frames[row]
                return got
            return source.read(start, n)

        if self.live.feeding:
            out_rows = span.out_rows
            members = self._member_calls(span)

            def voice_of_member(label: str) -> np.ndarray:
                key = members.get(label)
                return voice(*heard_row(span.plans, key, label)) if key is not None \
                    else np.zeros(n, np.int16)

            self.live.deliver(start, {name: out[row] for name, row in out_rows.items()},
                              voice_of_member)
        t0 = thread_time()
        outputs = self.outputs
        frame = self.sample_rate * self.frame_ms // 1000
        if outputs is not None and outputs.ring is not None and n % frame == 0 \
                and n // frame <= TICK_FRAMES:
            ring = outputs.ring
            for j in range(0, n, frame):  # a tick: every file's frame in two copies
                ring.put(span.out_slots, out[span.out_index, j:j + frame])
                ring.put(span.in_slots, frames[span.in_index, j:j + frame])
                ring.step()
            captures = span.direct
        else:
            captures = span.captures
            if outputs is not None:
                outputs.drain_ring()
                outputs.write_listeners({name: out[row] for name, row in span.out_rows.items()},
                                        start)
        for capture in captures:
            writer, kind = capture[0], capture[1]
            if kind == "row":
                row = capture[2]
                writer.write(out[row] if row is not None else np.zeros(n, np.int16))
            elif kind == "voice":
                writer.write(voice(*capture[2:5]).copy())  # written later, by the write-behind
            else:
                heard = capture[5]
                writer.write(np.stack([voice(*capture[2:5]), out[heard] if heard is not None
                                       else np.zeros(n, np.int16)]))
        t1 = thread_time()
        self.costs["files"] += t1 - t0
        if self.detect_speech and span.listened:
            listened = span.listened
            gates = {label: got[0] for label, got in listened.items()}
            peaks = {} if measured is None else {
                label: int(measured[got[1]]) for label, got in listened.items()
                if got[1] is not None}
            voices: dict[str, np.ndarray] = {}

            def voice_of(label: str) -> np.ndarray:
                if label not in voices:
                    voices[label] = voice(*listened[label])
                return voices[label]

            for label, at_sample, speaking in self._speech.feed(gates, voice_of, peaks, start, n):
                self.model.emit_speak_event(at_sample * 1000 // self.sample_rate, label, speaking)
        self.costs["speech"] += thread_time() - t1

    def _source(self, spec: SourceSpec) -> Source:
        if is_live(spec.media) and spec.name.startswith(_VOICE):
            label = spec.name[len(_VOICE):]
            if label not in self._answered_now() or spec.name in self._silenced:
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


def warm_up(sample_rate: int, frame_ms: int) -> None:
    """Load the compiled kernels before a server's ticker runs: numba loads (or compiles) a
    kernel at its first call, a third of a second or more, which would otherwise be the first
    mixing tick's. A two-party call's frame through the live mixer, and a gather of one row."""
    from mpcmix.mixer.gather import Gather

    frame = sample_rate * frame_ms // 1000
    mixer = LiveMixer(sample_rate, frame_ms, kernel="auto")
    a, b = voice_source("a"), voice_source("b")
    mixer.set_call("warm-up", RoutingMatrix(listeners=("a", "b"), sources=(a, b), gains=((0, 1), (1, 0))))
    frames = np.zeros((mixer.n_inputs, frame), dtype=np.int16)
    one = np.zeros(frame, dtype=np.int16)
    Gather.from_arrays([one], np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                       np.zeros(1, np.bool_), []).fill(frames[:1], 0)
    wide = np.zeros((1, 2 * frame), dtype=np.int16)  # a block narrower than the scratch: a view
    Gather.from_arrays([one], np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                       np.zeros(1, np.bool_), []).fill(wide[:, :frame], 0)
    mixer.advance(frames)

