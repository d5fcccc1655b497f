"""The live mixer: many independent calls advanced by one frame per tick, in one vectorised step.

The server's real-time clock mixes every live call each frame (10, 20, 40 or 60 ms); an offline
render mixes the same calls in long blocks (`advance`: any length). The call engine
(mpc/engine.py) drives this mixer in both. Mixing calls one by one costs a Python loop per call;
`LiveMixer` stacks them instead. Calls whose routing
matrices have the same structure (the same `kernel.MixPlan`: same size, same roles and flags, e.g.
every 10-party call with everyone in conference) form a *cohort* whose frames lie side by side
in one array, ``(calls, sources, frame)``; a tick evaluates each cohort's plan once for all its
calls (a few shared sums, then each listener's sum minus its own voice), in wrapping int16
arithmetic, a few hundred kilobytes at a time so the work stays in the CPU cache. Rows that the
peak bound cannot place inside int16, and rows whose limiter is still releasing, are evaluated
again exactly (int32) and pass through the limiters, vectorised across outputs (`limit_rows`).

Exactness: every output equals `Mixer.render` of the same matrix and samples, bit for bit
(tested), so the two are interchangeable: a call can be rendered offline in blocks or live in
ticks with the same result. Each output has its own limiter state; nothing computed from one
output feeds another.

Using it (the server's clock)::

    live = LiveMixer(sample_rate=16000, frame_ms=20)
    live.set_call("mpc-uuid", matrix)          # on every routing change (keeps limiter state)
    ...each tick:
    frames = np.empty((live.n_inputs, live.frame), np.int16)
    for key in live.calls:
        rows = live.input_rows(key)            # a slice; the order is live.sources(key)
        frames[rows] = ...                     # int16 (len(sources), frame): each source's frame
    out = live.tick(frames)                    # int16 (n_outputs, frame)
    out[live.output_rows(key)]                 # int16 (len(listeners), frame), live.listeners(key)

or, simpler and slower (a Python loop over calls), ``live.tick_calls({key: frames})``. Each
cohort keeps slots for more calls than it has (doubling when full, in a new place at the end),
so adding, removing or re-routing one call moves the rows of that call only (`row_starts`), in
steps that do not depend on how many other calls there are; a cohort that grows moves its own
calls (`take_moved`), and once the places left behind outgrow the rows in use, every call is laid
out again (`layout_epoch` says so). A free slot's rows are mixed like any (the caller gives them silence) and read by
nobody. Only the sources that someone hears are inputs (a muted voice, an unheard music stream
are not asked for).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from mpcmix.routing import RoutingMatrix

from . import kernel_jit
from .engine import MAX_ROW_GAIN, own_columns
from .kernel import INT16_MAX, MixPlan, PlanKey, evaluate, plan_mix, source_peaks, tight_bounds
from .limiter import DEFAULT_RELEASE_MS, MAX_RELEASE_MS, UNITY, limit_rows, release_step

__all__ = ["LiveMixer"]

#: Bytes of input frames evaluated at a time (whole calls): small enough to stay in L2.
CHUNK_BYTES = 1 << 18
#: Plans kept for recently seen matrices (calls of one shape share one).
_PLAN_CACHE = 256
#: A routing shape: (number of listeners, gains, each listener's own voice column or -1).
_Shape = tuple[int, tuple[tuple[int, ...], ...], tuple[int, ...]]


@dataclass(frozen=True)
class _Call:
    matrix: RoutingMatrix
    sources: tuple[str, ...]  # the heard columns, in input order
    plan: MixPlan
    group: int  # its plan's key as a small number: calls of one key form one cohort
    slot: int  # its place in its cohort


@dataclass(eq=False)
class _Cohort:
    """Calls of one plan, side by side in `cap` slots (a free slot's rows are mixed, unread)."""

    plan: MixPlan
    keys: list[Hashable | None]  # slot -> call key, None: free
    free: list[int]  # free slots, a heap: the lowest is taken first (calls stay packed)
    in_lo: int = 0
    out_lo: int = 0
    high: int = 0  # slots from here on are free: the mix stops there

    @property
    def size(self) -> int:
        return self.high

    @property
    def cap(self) -> int:
        return len(self.keys)


class LiveMixer:
    """Mixes every registered call by one frame per `tick`; one limiter per output.

    Parameters
    ----------
    sample_rate
        In Hz.
    frame_ms
        The tick (10, 20, 40 or 60 ms at the call rates; any whole number of samples works).
    release_ms
        The limiters' release time, as `Limiter`'s.
    chunk_bytes
        Input bytes evaluated at a time (a tuning knob; the output does not depend on it).
    kernel
        ``"numba"``: the compiled kernel (`kernel_jit`: one pass over the frames, about three
        times the numpy evaluation's throughput); ``"numpy"``: whole-array numpy operations;
        ``"auto"`` (default): numba when it is installed. The samples are the same.

    State per output (call key, listener name): its limiter gain. A listener that leaves a call's
    matrix keeps its gain, and the frames it missed count as silence (its limiter releases),
    as `Mixer` does; `remove_call` forgets the call's listeners.
    """

    def __init__(self, sample_rate: int = 16000, frame_ms: int = 20,
                 release_ms: float = DEFAULT_RELEASE_MS, *, chunk_bytes: int = CHUNK_BYTES,
                 kernel: str = "auto") -> None:
        if not 0 < release_ms <= MAX_RELEASE_MS:
            raise ValueError(f"release_ms must be in (0, {MAX_RELEASE_MS:g}], not {release_ms!r}")
        self.sample_rate = int(sample_rate)
        self.frame_ms = frame_ms
        self.frame = self.sample_rate * frame_ms // 1000
        if self.frame < 1 or self.frame * 1000 != self.sample_rate * frame_ms:
            raise ValueError(f"{frame_ms} ms at {sample_rate} Hz is not a whole number of samples")
        self.release_ms = release_ms
        self.release_per_sample = release_step(self.sample_rate, release_ms)
        self.chunk_bytes = int(chunk_bytes)
        if kernel not in ("auto", "numba", "numpy"):
            raise ValueError(f"kernel must be 'auto', 'numba' or 'numpy', not {kernel!r}")
        if kernel == "numba" and not kernel_jit.available():
            raise ValueError("kernel='numba' needs numba installed")
        #: "numba" (the compiled kernel) or "numpy"; the samples are the same.
        self.kernel = "numpy" if kernel == "numpy" or not kernel_jit.available() else "numba"
        self.ticks = 0  # `tick`s and `advance`s so far
        self.samples = 0  # timeline samples mixed so far (a tick is `frame` of them)
        #: Max |sample| of each input row over the last `advance` (int32 (n_inputs,)), when the
        #: numpy kernel measured it for its bound; None after the compiled kernel (it checks
        #: the sums exactly instead) or before any mix.
        self.last_peaks: np.ndarray | None = None
        self._calls: dict[Hashable, _Call] = {}
        self._cohorts: dict[int, _Cohort] = {}  # by group
        self._in_lo: dict[Hashable, int] = {}  # each call's first input row
        self._out_lo: dict[Hashable, int] = {}  # ... and first output row
        self._gains = np.zeros(0, dtype=np.int64)  # limiter gain (Q30) of every output, laid out
        # limiter gains of listeners absent from their call's matrix: key -> name -> (gain, since)
        self._parked: dict[Hashable, dict[str, tuple[int, int]]] = {}
        # Plans of recent routing shapes: (listeners, gains, own voice columns) -> (heard columns,
        # plan). Labels are not part of it, so every MPC of one shape shares one entry.
        self._plans: dict[_Shape, tuple[tuple[int, ...], MixPlan]] = {}
        self._groups: dict[PlanKey, int] = {}  # plan key -> its number (`_Call.group`)
        #: Bumped whenever the layout moves calls' rows (a cohort added or grown): every call's
        #: `row_starts` may then differ; otherwise only the calls set or removed since moved.
        self.layout_epoch = 0
        self._moved: set[Hashable] = set()  # calls whose rows moved (`take_moved`)
        self._holes = 0  # rows (inputs and outputs) left by cohorts that moved
        self._scratch32 = np.empty(0, dtype=np.int32)  # exact sums of a chunk (`_scratch`)
        self._n_inputs = 0
        self._n_outputs = 0

    # -- calls -------------------------------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        """Rows of `tick`'s input: the heard sources of every call (and of its free slots)."""
        return self._n_inputs

    @property
    def n_outputs(self) -> int:
        """Rows of `tick`'s output: the listeners of every call (and of its free slots)."""
        return self._n_outputs

    @property
    def calls(self) -> tuple[Hashable, ...]:
        """The registered call keys."""
        return tuple(self._calls)

    def set_call(self, key: Hashable, matrix: RoutingMatrix) -> None:
        """Add call `key` with `matrix`, or re-route it (its listeners keep their limiters)."""
        if len(set(matrix.listeners)) != len(matrix.listeners):
            raise ValueError(f"listener names must be distinct: {matrix.listeners!r}")
        shape = (len(matrix.listeners), matrix.gains, tuple(own_columns(matrix.listeners, matrix.sources)))
        planned = self._plans.get(shape)
        if planned is None:
            planned = self._plans[shape] = self._plan(matrix)
            if len(self._plans) > _PLAN_CACHE:
                del self._plans[next(iter(self._plans))]
        columns, plan = planned
        sources = tuple(matrix.sources[j] for j in columns)
        group = self._groups.setdefault(plan.key, len(self._groups))
        old = self._calls.get(key)
        if old is not None and old.group == group:  # same plan: same rows, gains re-mapped
            if old.matrix.listeners != matrix.listeners:
                self._regain(key, old.matrix.listeners, matrix.listeners, self._out_lo[key])
            self._calls[key] = _Call(matrix, sources, plan, group, old.slot)
            return
        had: tuple[str, ...] = ()
        kept = np.zeros(0, dtype=np.int64)
        if old is not None:
            had = old.matrix.listeners
            lo = self._out_lo[key]
            kept = self._gains[lo:lo + len(had)].copy()
            self._release(key, old)
        cohort = self._cohorts.get(group)
        if cohort is None:
            cohort = self._cohorts[group] = _Cohort(plan, [], [])
        if not cohort.free:
            self._grow(cohort)
        slot = heapq.heappop(cohort.free)
        cohort.keys[slot] = key
        cohort.high = max(cohort.high, slot + 1)
        self._calls[key] = _Call(matrix, sources, plan, group, slot)
        n_out, n_in = plan.shape
        self._in_lo[key] = cohort.in_lo + slot * n_in
        lo = self._out_lo[key] = cohort.out_lo + slot * n_out
        parked = self._parked.setdefault(key, {})
        for name, gain in zip(had, kept.tolist(), strict=True):
            parked[name] = (gain, self.samples)
        self._regain(key, (), matrix.listeners, lo)

    def _regain(self, key: Hashable, had: tuple[str, ...], listeners: tuple[str, ...],
                lo: int) -> None:
        """Lay out the limiter gains of call `key`'s `listeners` from row `lo`: a listener kept
        keeps its gain, one that left is parked, one that (re)joins takes its parked gain,
        released over the samples it missed (they were silence), or unity."""
        gains = self._gains
        current = dict(zip(had, gains[lo:lo + len(had)].tolist(), strict=True))
        parked = self._parked.setdefault(key, {})
        for name in set(current) - set(listeners):
            parked[name] = (current[name], self.samples)
        for i, name in enumerate(listeners):
            gain = current.get(name)
            if gain is None:
                gain, since = parked.pop(name, (UNITY, self.samples))
                gain = min(UNITY, gain + self.release_per_sample * (self.samples - since))
            gains[lo + i] = gain
        if not parked:
            del self._parked[key]

    def _release(self, key: Hashable, call: _Call) -> None:
        """Free call `key`'s slot: its output rows' gains back to unity (a free slot's rows
        are mixed but nobody reads them, and a unity gain asks the limiter for nothing)."""
        cohort = self._cohorts[call.group]
        n_out = call.plan.shape[0]
        lo = cohort.out_lo + call.slot * n_out
        self._gains[lo:lo + n_out] = UNITY
        cohort.keys[call.slot] = None
        heapq.heappush(cohort.free, call.slot)
        while cohort.high and cohort.keys[cohort.high - 1] is None:
            cohort.high -= 1
        del self._in_lo[key], self._out_lo[key]

    def _grow(self, cohort: _Cohort) -> None:
        """Double `cohort`'s slots (one at first) in a new place at the end of the layout: its
        calls' rows move (`take_moved`), no other call's; the place it left is a hole. When the
        holes outgrow the rows in use, every cohort is laid out again, packed (`layout_epoch`).
        Amortised, a call's share of either is constant."""
        old_cap = cohort.cap
        cap = max(1, 2 * old_cap)
        n_out, n_in = cohort.plan.shape
        cohort.keys.extend([None] * (cap - old_cap))
        for slot in range(old_cap, cap):
            heapq.heappush(cohort.free, slot)
        self._holes += old_cap * (n_in + n_out)
        if self._holes > self._n_inputs + self._n_outputs - self._holes:
            self._relayout(cohort, old_cap)
            return
        old_out = cohort.out_lo
        cohort.in_lo, cohort.out_lo = self._n_inputs, self._n_outputs
        gains = np.full(self._n_outputs + cap * n_out, UNITY, dtype=np.int64)
        gains[:self._n_outputs] = self._gains
        gains[cohort.out_lo:cohort.out_lo + old_cap * n_out] = \
            self._gains[old_out:old_out + old_cap * n_out]
        gains[old_out:old_out + old_cap * n_out] = UNITY  # the hole's rows ask nothing
        self._gains = gains
        self._n_inputs += cap * n_in
        self._n_outputs += cap * n_out
        for slot, key in enumerate(cohort.keys[:old_cap]):
            if key is not None:
                self._in_lo[key] = cohort.in_lo + slot * n_in
                self._out_lo[key] = cohort.out_lo + slot * n_out
                self._moved.add(key)

    def _relayout(self, grown: _Cohort, old_cap: int) -> None:
        """Lay every cohort out again from row 0, side by side, holes gone (`layout_epoch`);
        `grown` had `old_cap` slots in the old layout."""
        old = [(c, c.out_lo, c.cap if c is not grown else old_cap) for c in self._cohorts.values()]
        gains = np.full(sum(c.cap * c.plan.shape[0] for c in self._cohorts.values()), UNITY,
                        dtype=np.int64)
        in_lo = out_lo = 0
        for c, _, _ in old:
            c.in_lo, c.out_lo = in_lo, out_lo
            n_out, n_in = c.plan.shape
            in_lo += c.cap * n_in
            out_lo += c.cap * n_out
        for c, old_out, cap in old:  # every cohort's gains (its free slots' too) move
            rows = cap * c.plan.shape[0]
            gains[c.out_lo:c.out_lo + rows] = self._gains[old_out:old_out + rows]
        self._gains = gains
        self._n_inputs, self._n_outputs = in_lo, out_lo
        self._holes = 0
        for key, call in self._calls.items():
            c = self._cohorts[call.group]
            n_out, n_in = call.plan.shape
            self._in_lo[key] = c.in_lo + call.slot * n_in
            self._out_lo[key] = c.out_lo + call.slot * n_out
        self._moved.clear()
        self.layout_epoch += 1

    def take_moved(self) -> set[Hashable]:
        """The calls whose rows moved since the last call (a cohort grown), not counting those
        set or removed meanwhile by the caller, nor a `layout_epoch` change (every call moved)."""
        moved, self._moved = self._moved, set()
        return moved

    @staticmethod
    def _plan(matrix: RoutingMatrix) -> tuple[tuple[int, ...], MixPlan]:
        """The heard columns of `matrix` and its plan over them (checked for exactness)."""
        gains = np.array(matrix.gains, dtype=np.int64).reshape(len(matrix.listeners), len(matrix.sources))
        if not np.array_equal(gains, np.array(matrix.gains).reshape(gains.shape)):
            raise ValueError("routing gains must be integers for an exact mix")
        if int(np.abs(gains).sum(axis=1).max(initial=0)) > MAX_ROW_GAIN:
            raise ValueError(f"a row's gains sum to more than {MAX_ROW_GAIN}")
        columns = tuple(int(j) for j in np.flatnonzero(gains.any(axis=0)))
        sources = tuple(matrix.sources[j] for j in columns)
        return columns, plan_mix(gains[:, list(columns)], own_columns(matrix.listeners, sources))

    def pack(self) -> None:
        """Lay every cohort out with no free slot (its calls in slot order): `n_inputs` and
        `n_outputs` then count the calls' rows only, as for a fixed set of calls (a benchmark
        sharing one frame layout with other mixers). Rows move: `layout_epoch` is bumped."""
        parts = []
        in_lo = out_lo = 0
        for cohort in self._cohorts.values():
            n_out, n_in = cohort.plan.shape
            keys = [key for key in cohort.keys if key is not None]
            parts += [self._gains[self._out_lo[key]:self._out_lo[key] + n_out] for key in keys]
            cohort.keys, cohort.free, cohort.high = list(keys), [], len(keys)
            cohort.in_lo, cohort.out_lo = in_lo, out_lo
            for slot, key in enumerate(keys):
                call = self._calls[key]
                self._calls[key] = _Call(call.matrix, call.sources, call.plan, call.group, slot)
                self._in_lo[key] = in_lo + slot * n_in
                self._out_lo[key] = out_lo + slot * n_out
            in_lo += len(keys) * n_in
            out_lo += len(keys) * n_out
        self._gains = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        self._n_inputs, self._n_outputs = in_lo, out_lo
        self._holes = 0
        self._moved.clear()
        self.layout_epoch += 1

    def remove_call(self, key: Hashable) -> None:
        """Forget call `key` (KeyError if unknown) and its listeners' limiters."""
        call = self._calls.pop(key)
        self._release(key, call)
        self._parked.pop(key, None)
        self._moved.discard(key)

    def sources(self, key: Hashable) -> tuple[str, ...]:
        """The source labels of call `key`'s input rows, in order (the sources someone hears)."""
        return self._calls[key].sources

    def listeners(self, key: Hashable) -> tuple[str, ...]:
        """The listener names of call `key`'s output rows, in order (its matrix's)."""
        return self._calls[key].matrix.listeners

    def input_rows(self, key: Hashable) -> slice:
        """Where call `key`'s source frames go in `tick`'s input."""
        lo = self._in_lo[key]
        return slice(lo, lo + len(self._calls[key].sources))

    def row_starts(self) -> tuple[dict[Hashable, int], dict[Hashable, int]]:
        """Every call's first input row and first output row, by key (kept up to date by
        `set_call`/`remove_call`: a call's rows move when it is set to another plan, and every
        call's when `layout_epoch` changes)."""
        return self._in_lo, self._out_lo

    def output_rows(self, key: Hashable) -> slice:
        """Where call `key`'s listener frames are in `tick`'s output."""
        lo = self._out_lo[key]
        return slice(lo, lo + len(self._calls[key].matrix.listeners))

    def limiter_gain(self, key: Hashable, listener: str) -> float:
        """The gain (1.0 = unity) of the limiter of `listener` in call `key`, as now."""
        i = self._calls[key].matrix.listeners.index(listener)
        return int(self._gains[self._out_lo[key] + i]) / UNITY

    # -- mixing ------------------------------------------------------------------------------

    def tick(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Mix one frame of every call: `frames` int16 (n_inputs, frame) laid out by
        `input_rows` -> int16 (n_outputs, frame) laid out by `output_rows` (into `out` if given).
        """
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != self.frame:
            raise ValueError(f"tick takes int16 ({self.n_inputs}, {self.frame}), not "
                             f"{frames.dtype} {frames.shape}")
        return self.advance(frames, out)

    def advance(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Mix the next ``n`` samples of every call, any ``n`` (a tick is one frame; the offline
        renderer mixes long blocks): `frames` int16 (n_inputs, n) laid out by `input_rows` ->
        int16 (n_outputs, n) laid out by `output_rows` (into `out` if given). The samples do not
        depend on how the timeline is cut into advances.
        """
        frames = np.asarray(frames)
        if frames.dtype != np.int16 or frames.ndim != 2 or frames.shape[0] != self.n_inputs:
            raise ValueError(f"advance takes int16 ({self.n_inputs}, n), not {frames.dtype} {frames.shape}")
        n = frames.shape[1]
        if out is None:
            out = np.empty((self.n_outputs, n), dtype=np.int16)
        peaks = np.zeros(self.n_inputs, dtype=np.int32) if self.kernel == "numpy" else None
        for cohort in self._cohorts.values():
            n_out, n_in = cohort.plan.shape
            c = cohort.size
            if not c:
                continue
            x_all = frames[cohort.in_lo:cohort.in_lo + c * n_in].reshape(c, n_in, n)
            o_all = out[cohort.out_lo:cohort.out_lo + c * n_out].reshape(c, n_out, n)
            g_all = self._gains[cohort.out_lo:cohort.out_lo + c * n_out].reshape(c, n_out)
            compiled = kernel_jit.compile_plan(cohort.plan) if self.kernel == "numba" else None
            if compiled is not None:
                step, span = c, max(n, 1)  # the kernel passes once over each call's frames
            else:  # numpy passes over a chunk several times: keep it in cache
                step = max(1, self.chunk_bytes // max(1, 2 * n_in * n))
                span = max(1, self.chunk_bytes // max(1, 2 * n_in)) if step == 1 else max(n, 1)
            p_all = peaks[cohort.in_lo:cohort.in_lo + c * n_in].reshape(c, n_in) if peaks is not None else None
            for lo in range(0, c, step):
                hi = min(c, lo + step)
                for t in range(0, n, span):  # long blocks: in time order (the limiters' state)
                    u = min(n, t + span)
                    got = self._mix_chunk(cohort.plan, compiled, x_all[lo:hi, :, t:u], o_all[lo:hi, :, t:u],
                                          g_all[lo:hi])
                    if p_all is not None and got is not None:
                        np.maximum(p_all[lo:hi], got, out=p_all[lo:hi])
        self.ticks += 1
        self.samples += n
        self.last_peaks = peaks
        return out

    def _mix_chunk(self, plan: MixPlan, compiled: kernel_jit.Compiled | None, x: np.ndarray, o: np.ndarray,
                   gains: np.ndarray) -> np.ndarray | None:
        """Calls ``x`` int16 (c, S, n) -> ``o`` int16 (c, L, n); `gains` int64 (c, L) in place.
        Returns the sources' peaks int32 (c, S) when the numpy evaluation measured them."""
        peaks = None
        bases: list[np.ndarray] | None = None  # the numpy path's exact shared sums, when computed
        if compiled is not None:  # int32, checked exactly: `loud` rows left int16
            loud = np.empty(gains.shape, dtype=np.bool_)
            kernel_jit.mix_calls(compiled, x, o, loud)
        else:
            peaks = source_peaks(x)
            bounds, bases = tight_bounds(plan, x, peaks)
            loud = bounds > INT16_MAX
            if loud.any(axis=1).all():  # no call certainly inside int16: evaluate once, exactly
                c, n_out, n = o.shape
                whole = evaluate(plan, x, self._scratch(o.shape), bases).reshape(c * n_out, n)
                flat = gains.reshape(c * n_out).copy()
                lanes = o.reshape(c * n_out, n)  # a view of `o` (its last axis alone is sliced)...
                limit_rows(whole, flat, self.release_per_sample, out=lanes)
                if not np.shares_memory(lanes, o):  # ...or, should numpy have copied, copied back
                    o[...] = lanes.reshape(o.shape)
                gains[...] = flat.reshape(gains.shape)
                return peaks
            evaluate(plan, x, o, bases)  # wrapping int16: exact wherever the bound holds
        need = loud | (gains != UNITY)
        if not need.any():
            return peaks
        calls, rows = np.nonzero(need)
        values = o[calls, rows].astype(np.int32)  # exact for the rows inside the bound
        loud_calls = np.flatnonzero(loud.any(axis=1))
        if loud_calls.size:
            exact = evaluate(plan, x[loud_calls], np.empty((loud_calls.size, *o.shape[1:]), np.int32),
                             None if bases is None else [b[loud_calls] for b in bases])
            where = np.searchsorted(loud_calls, calls)
            hit = loud_calls[np.minimum(where, loud_calls.size - 1)] == calls
            values[hit] = exact[where[hit], rows[hit]]
        g = gains[calls, rows]
        o[calls, rows] = limit_rows(values, g, self.release_per_sample)
        gains[calls, rows] = g
        return peaks

    def _scratch(self, shape: tuple[int, ...]) -> np.ndarray:
        """int32 scratch of `shape` for exact sums, reused from chunk to chunk (fresh memory of
        this size is mapped anew each time: a page fault per 4 KiB)."""
        size = int(np.prod(shape))
        if self._scratch32.size < size:
            self._scratch32 = np.empty(size, dtype=np.int32)
        return self._scratch32[:size].reshape(shape)

    def tick_calls(self, frames: Mapping[Hashable, np.ndarray]) -> dict[Hashable, np.ndarray]:
        """`tick` for callers holding frames per call: {key: int16 (len(sources(key)), frame)}
        -> {key: int16 (len(listeners(key)), frame)}. A call missing from `frames` hears
        silence from its sources."""
        stacked = np.zeros((self.n_inputs, self.frame), dtype=np.int16)
        for key, block in frames.items():
            stacked[self.input_rows(key)] = block
        out = self.tick(stacked)
        return {key: out[self.output_rows(key)] for key in self._calls}

    def __repr__(self) -> str:
        return (f"LiveMixer(sample_rate={self.sample_rate}, frame_ms={self.frame_ms}, "
                f"release_ms={self.release_ms!r})  # {len(self._calls)} calls, "
                f"{len(self._cohorts)} cohorts")
