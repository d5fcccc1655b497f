"""What the call engine needs to mix a span of one model state, made per MPC and kept.

A server's tick mixes every live MPC, but between two changes nothing about an MPC's plan
changes: which source each of its input rows reads, which file each of its output rows feeds,
which of its voices are listened to for speech. `CallPlan` holds that for one MPC, made again
only when its state, its sources or its routing matrix is another object (the call model hands
an unchanged MPC's back as the same objects); `SpanPlan` puts every MPC's plan side by side as
arrays (`Rows`: one gather for every input row, one copy into the files' tick ring), changed in
place for the MPCs that changed, so a change to one MPC costs no Python step per other MPC.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mpcmix.mixer import SILENCE, Looped, OneShot, PcmFile, Source, StreamWriter
from mpcmix.mixer.gather import Gather
from mpcmix.model import MixState, SourceSpec
from mpcmix.routing import CallState, RoutingMatrix, is_heard_by_conference, voice_source

#: A row read through `Gather` by buffer: its buffer's index, or one of these (`FREE`: a row of
#: no MPC, a free slot of the mixer's: left as it is, its mix read by nobody).
SILENT, ALONE, FREE = -1, -2, -3


@dataclass(eq=False)
class CallPlan:
    """One MPC's part of a span's plan (see the module docstring)."""

    call: CallState
    specs: tuple[SourceSpec, ...] | None
    matrix: RoutingMatrix
    sources: dict[str, Source]
    in_labels: tuple[str, ...]  # its input rows' sources, in the mixer's order
    in_pos: dict[str, int]  # source label -> its (first) input row, from the call's first
    out_pos: dict[str, int]  # listener -> its output row, from the call's first
    gates: dict[str, bool]  # participant -> its voice enters its conference
    listened: tuple[str, ...]  # its participants whose speak events someone receives
    buffers: np.ndarray  # int64 per input row: index of its buffer (`Buffers`), SILENT or ALONE
    origins: np.ndarray  # int64 per input row: where its source starts on the timeline
    looped: np.ndarray  # bool per input row
    alone: list[tuple[int, Source]]  # (input row, source) read one by one
    out_writers: list[tuple[int, StreamWriter]]  # (output row, its listener stream)
    waiting: bool  # a source is still being prepared: made again once a decode ends
    version: int  # the media version it was made at
    slots: np.ndarray | None = None  # its listener streams' slots in the tick ring
    out_local: np.ndarray | None = None  # their output rows, from the call's first
    ring: Any = None  # the ring `slots` are of


class Buffers:
    """The sample buffers rows read, each given a stable index (shared by every MPC)."""

    def __init__(self) -> None:
        self._index: dict[int, int] = {}
        self.items: list[np.ndarray] = []

    def index(self, source: Source) -> tuple[int, int, bool]:
        """(buffer index or SILENT/ALONE, origin, looped) of `source`."""
        if source is SILENCE:
            return SILENT, 0, False
        if not isinstance(source, OneShot | Looped):
            return ALONE, 0, False
        pcm: Any = source.pcm
        buf = pcm if isinstance(pcm, np.ndarray) else pcm.held() if isinstance(pcm, PcmFile) \
            else None
        if buf is None:
            return ALONE, 0, False
        i = self._index.get(id(buf))
        if i is None or self.items[i] is not buf:
            i = self._index[id(buf)] = len(self.items)
            self.items.append(buf)
        return i, source.start, isinstance(source, Looped)


def call_plan(call: CallState, specs: tuple[SourceSpec, ...] | None, matrix: RoutingMatrix,
              sources: dict[str, Source], in_labels: tuple[str, ...],
              listeners: tuple[str, ...], speakers: Collection[str] | None, buffers: Buffers,
              listener_writer: Any, waiting: bool, version: int) -> CallPlan:
    """One MPC's plan; `listener_writer(label)` its listener stream or None; `speakers` the
    participants whose speech is detected (None: everyone)."""
    in_pos: dict[str, int] = {}
    rows = []
    alone = []
    for k, label in enumerate(in_labels):
        in_pos.setdefault(label, k)
        source = sources.get(label, SILENCE)
        got = buffers.index(source)
        if got[0] == ALONE:
            alone.append((k, source))
        rows.append(got)
    gates = {p.name: is_heard_by_conference(p, call.status) for p in call.participants}
    listened = tuple(label for label in gates if speakers is None or label in speakers)
    out_writers = []
    for i, name in enumerate(listeners):
        writer = listener_writer(name)
        if writer is not None:
            out_writers.append((i, writer))
    return CallPlan(
        call, specs, matrix, sources, in_labels, in_pos,
        {name: i for i, name in enumerate(listeners)}, gates, listened,
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.bool_), alone, out_writers, waiting, version)


@dataclass(eq=False)
class SpanPlan:
    """Every MPC's plan laid out as the mixer lays out their rows (`CallEngine._plan_span`)."""

    state: MixState
    version: int | None  # the media version a waiting source waits past (None: none waits)
    matrix: RoutingMatrix | None  # every call's matrix stacked, for `tap`
    plans: dict[str, tuple[CallPlan, int, int]]  # key -> (its plan, input row, output row)
    gather: Gather
    captures_of: Callable[[], list[tuple[Any, ...]]]  # resolved captures (`CallEngine._resolve`)
    listened: dict[str, tuple[bool, int | None, Source]]  # label -> (gate, input row, source)
    out_slots: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    out_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    in_slots: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    in_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    direct: list[tuple[Any, ...]] = field(default_factory=list)  # captures a tick writes itself
    _sources: dict[str, Source] | None = None
    _out_rows: dict[str, int] | None = None
    _captures: list[tuple[Any, ...]] | None = None

    @property
    def captures(self) -> list[tuple[Any, ...]]:
        """Every recording capturing, resolved (made when first asked: a render's long blocks)."""
        if self._captures is None:
            self._captures = self.captures_of()
        return self._captures

    @property
    def sources(self) -> dict[str, Source]:
        """Every source of the span by label (made when first asked: a render's `tap`)."""
        if self._sources is None:
            self._sources = {}
            for plan, _, _ in self.plans.values():
                self._sources.update(plan.sources)
        return self._sources

    @property
    def out_rows(self) -> dict[str, int]:
        """Every listener's output row (made when first asked: a render's long blocks)."""
        if self._out_rows is None:
            self._out_rows = {name: lo + i for plan, _, lo in self.plans.values()
                              for name, i in plan.out_pos.items()}
        return self._out_rows


class Rows:
    """Per-row tables of every live MPC, laid out as the mixer lays out their rows, changed in
    place where an MPC changed (`put`, `clear`): what each input row reads (its buffer, origin,
    looping, a source read alone, silence, or nothing: `FREE`), and which tick-ring slot each row
    feeds: an output row its listener stream's and a mono recording's of it, an input row a voice
    recording's (-1: none).
    A span reads them in whole-array steps (`gather`, `feeds`)."""

    def __init__(self) -> None:
        self.reset(0, 0)

    def reset(self, n_inputs: int, n_outputs: int) -> None:
        """Empty tables for `n_inputs` input and `n_outputs` output rows (all silent, unfed)."""
        self.buffers = np.full(n_inputs, FREE, dtype=np.int64)
        self.origins = np.zeros(n_inputs, dtype=np.int64)
        self.looped = np.zeros(n_inputs, dtype=np.bool_)
        self.alone: dict[int, Source] = {}
        self.listen = np.full(n_outputs, -1, dtype=np.int64)
        self.rec_out = np.full(n_outputs, -1, dtype=np.int64)
        self.rec_in = np.full(n_inputs, -1, dtype=np.int64)

    def extend(self, n_inputs: int, n_outputs: int) -> None:
        """Grow the tables to `n_inputs` and `n_outputs` rows (the new rows silent, unfed)."""
        grow_in, grow_out = n_inputs - len(self.buffers), n_outputs - len(self.listen)
        if grow_in > 0:
            self.buffers = np.concatenate([self.buffers, np.full(grow_in, FREE, np.int64)])
            self.origins = np.concatenate([self.origins, np.zeros(grow_in, np.int64)])
            self.looped = np.concatenate([self.looped, np.zeros(grow_in, np.bool_)])
            self.rec_in = np.concatenate([self.rec_in, np.full(grow_in, -1, np.int64)])
        if grow_out > 0:
            self.listen = np.concatenate([self.listen, np.full(grow_out, -1, np.int64)])
            self.rec_out = np.concatenate([self.rec_out, np.full(grow_out, -1, np.int64)])

    def put(self, plan: CallPlan, in_lo: int, out_lo: int) -> None:
        """Lay `plan` out from input row `in_lo` and output row `out_lo`."""
        hi = in_lo + len(plan.buffers)
        self.buffers[in_lo:hi] = plan.buffers
        self.origins[in_lo:hi] = plan.origins
        self.looped[in_lo:hi] = plan.looped
        for k, source in plan.alone:
            self.alone[in_lo + k] = source
        if plan.slots is not None and plan.out_local is not None:
            self.listen[out_lo + plan.out_local] = plan.slots

    def clear(self, plan: CallPlan, in_lo: int, out_lo: int) -> None:
        """Undo `put` of `plan` (its rows silent and unfed; its recordings are the engine's)."""
        hi = in_lo + len(plan.buffers)
        self.buffers[in_lo:hi] = FREE
        self.origins[in_lo:hi] = 0
        self.looped[in_lo:hi] = False
        for k, _ in plan.alone:
            self.alone.pop(in_lo + k, None)
        self.listen[out_lo:out_lo + len(plan.out_pos)] = -1

    def gather(self, buffers: Buffers, *, compiled: bool) -> Gather:
        """One `Gather` for every input row (free rows left alone); `compiled`: numba's loops."""
        n = len(self.buffers)
        return Gather.from_arrays(buffers.items, np.arange(n, dtype=np.int64), self.buffers,
                                  self.origins, self.looped, list(self.alone.items()),
                                  compiled=compiled)

    def feeds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(slots fed from output rows, those rows, slots fed from input rows, those rows)."""
        listen = np.flatnonzero(self.listen >= 0)
        rec = np.flatnonzero(self.rec_out >= 0)
        voice = np.flatnonzero(self.rec_in >= 0)
        return (np.concatenate([self.listen[listen], self.rec_out[rec]]),
                np.concatenate([listen, rec]), self.rec_in[voice], voice)


def heard_row(plans: dict[str, tuple[CallPlan, int, int]], key: str, member: str
              ) -> tuple[bool, int | None, Source]:
    """(gate, input row or None, source) of `member`'s voice in call `key`."""
    plan, in_lo, _ = plans[key]
    label = voice_source(member)
    gate = plan.gates.get(member, False)
    k = plan.in_pos.get(label)
    return gate, None if k is None else in_lo + k, plan.sources.get(label, SILENCE)
