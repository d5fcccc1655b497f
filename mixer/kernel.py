"""Mix plans: every row of a routing matrix from a few shared sums, exactly, in integers.

A routing matrix built by the role rules has a structure: most rows are "everyone in the
conference (of one kind) but the listener itself". `plan_mix` finds it without knowing the rules:
it completes each row with the listener's own voice (when somebody hears that voice), and a
completed row that several rows share becomes a *base*, a sum computed once. A row is then its
base minus its own voice (plus or minus any other difference), or, when that is not cheaper, the
sum of its sources. Bases may start from smaller bases. A call of P parties in conference costs
about P - 1 additions for the base and one subtraction per row: flat per participant, where the
matrix product costs P per row.

Exactness: the arithmetic is integer. `evaluate` in int16 wraps around (arithmetic modulo 2**16,
exact whatever the order), and `row_bounds` tells which rows are certainly inside int16 (the sum
of the peak magnitudes of a row's sources times its gains is at most 32767): for those rows the
wrapped result *is* the exact sum. The other rows are evaluated again in int32 (exact for up to
65536 full-scale sources a row). "Total minus own" is therefore exact, bit for bit, in both.

Speech at ordinary levels defeats the bound from sources alone: ten voices peaking at -14 dBFS
sum to twice full scale in the bound, though their mix never leaves int16 (voices do not peak
together). Given the bases computed exactly (`evaluate_bases`, int32), `tight_bounds` also bounds
a row by its base's *actual* peak plus the peaks of the columns it adds or subtracts (the
triangle inequality on ``base + plus - minus``): one pass over each shared sum, not over every
row, places "all but own" rows inside int16 whenever the total and each voice leave room.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["INT16_MAX", "MixPlan", "PlanKey", "Step", "evaluate", "evaluate_bases", "plan_mix", "row_bounds",
           "source_peaks", "tight_bounds"]

INT16_MAX = 32767


@dataclass(frozen=True)
class Step:
    """One sum: start from base `base` (-1: from zero), add columns `plus`, subtract `minus`.

    Weighted plans (gains other than 0/1) list a row's columns in `plus` and take the weights
    from the plan's gains.
    """

    base: int
    plus: tuple[int, ...]
    minus: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Run:
    """Rows ``i0 .. i0 + k - 1`` are base `base` minus columns ``j0 .. j0 + k - 1`` (mix-minus)."""

    base: int
    i0: int
    j0: int
    k: int


#: `MixPlan.key`: the gains' shape and bytes, the bases and the rows.
PlanKey = tuple[tuple[int, ...], bytes, tuple[Step, ...], tuple[Step, ...]]


@dataclass(frozen=True, eq=False)
class MixPlan:
    """How to compute every row of an (L, S) integer gain matrix from shared sums.

    `bases[b]` may start from a base before it; `rows[i]` gives row ``i``; `ops` is the order of
    evaluation (runs of mix-minus rows are one vectorised subtraction). `gains` int64 (L, S) and
    `abs_gains` are kept for the bound and for weighted rows. Plans are compared by `key`.
    """

    gains: np.ndarray
    bases: tuple[Step, ...]
    rows: tuple[Step, ...]
    ops: tuple[_Run | int, ...]
    weighted: bool

    @property
    def shape(self) -> tuple[int, int]:
        """(L, S): listeners and sources."""
        n_rows, n_cols = self.gains.shape
        return n_rows, n_cols

    @property
    def key(self) -> PlanKey:
        """A hashable identity: equal keys evaluate identically (calls batch by it)."""
        return (self.gains.shape, self.gains.tobytes(), self.bases, self.rows)

    @property
    def abs_gains(self) -> np.ndarray:
        """int64 (L, S): |gains|, for `row_bounds`."""
        out: np.ndarray = np.abs(self.gains)
        return out

    @cached_property
    def row_base(self) -> np.ndarray:
        """int64 (L,): the base each row starts from (-1: none), for `tight_bounds`."""
        return np.array([step.base for step in self.rows], dtype=np.int64)

    @cached_property
    def row_terms(self) -> np.ndarray:
        """int64 (L, S): 1 where a row adds or subtracts a column on top of its base."""
        terms = np.zeros(self.gains.shape, dtype=np.int64)
        for i, step in enumerate(self.rows):
            terms[i, list(step.plus + step.minus)] = 1
        return terms

    def cost(self) -> int:
        """Whole-length array operations per evaluation (additions, subtractions, copies)."""
        def c(step: Step) -> int:
            return max(1, len(step.plus) + len(step.minus) - (step.base < 0))
        return sum(map(c, self.bases)) + sum(map(c, self.rows))


def plan_mix(gains: np.ndarray, own: Sequence[int] | None = None) -> MixPlan:
    """The cheapest plan this heuristic finds for `gains`: int (L, S), with `own[i]` the column
    of listener ``i``'s own voice (-1 or None: it has none among the columns)."""
    gains = np.asarray(gains, dtype=np.int64)
    if gains.ndim != 2:
        raise ValueError(f"gains must be (L, S), not {gains.shape}")
    n_rows, _ = gains.shape
    rows_sets = [frozenset(int(j) for j in np.flatnonzero(g)) for g in gains]
    if not np.isin(gains, (0, 1)).all():  # weighted: every row direct, weights from the gains
        rows = tuple(Step(-1, tuple(sorted(r))) for r in rows_sets)
        return MixPlan(gains, (), rows, tuple(range(n_rows)), True)
    own = list(own) if own is not None else [-1] * n_rows
    heard = np.asarray(gains.any(axis=0))
    completed = []
    for i, r in enumerate(rows_sets):
        j = own[i] if own[i] is not None else -1
        completed.append(r | {j} if j >= 0 and heard[j] else r)
    counts = Counter(p for p in completed if len(p) >= 3)
    base_sets = sorted((p for p, c in counts.items() if c >= 2), key=lambda p: (len(p), sorted(p)))
    bases: list[Step] = []
    for b, members in enumerate(base_sets):
        best, cost = Step(-1, tuple(sorted(members))), len(members) - 1
        for a in range(b):
            other = base_sets[a]
            c = len(members - other) + len(other - members)
            if c < cost:
                best, cost = Step(a, tuple(sorted(members - other)), tuple(sorted(other - members))), c
        bases.append(best)
    rows_steps: list[Step] = []
    for r in rows_sets:
        best, cost = Step(-1, tuple(sorted(r))), len(r) - 1
        for b, members in enumerate(base_sets):
            c = len(members - r) + len(r - members)
            if c < cost:
                best, cost = Step(b, tuple(sorted(r - members)), tuple(sorted(members - r))), c
        rows_steps.append(best)
    return MixPlan(gains, tuple(bases), tuple(rows_steps), _ops(rows_steps), False)


def _ops(rows: list[Step]) -> tuple[_Run | int, ...]:
    """Group consecutive rows ``base b minus column j, j + 1, ...`` into runs."""
    ops: list[_Run | int] = []
    i = 0
    while i < len(rows):
        s = rows[i]
        k = 1
        if s.base >= 0 and not s.plus and len(s.minus) == 1:
            while (i + k < len(rows) and rows[i + k].base == s.base and not rows[i + k].plus
                   and rows[i + k].minus == (s.minus[0] + k,)):
                k += 1
        if k > 1:
            ops.append(_Run(s.base, i, s.minus[0], k))
        else:
            ops.append(i)
        i += k
    return tuple(ops)


def row_bounds(plan: MixPlan, peaks: np.ndarray) -> np.ndarray:
    """int64 (C, L): for calls whose sources peak at `peaks` int (C, S) (max |sample|), the
    largest magnitude each row can reach. A row whose bound is <= 32767 is inside int16."""
    bounds: np.ndarray = np.asarray(peaks, dtype=np.int64) @ plan.abs_gains.T
    return bounds


def tight_bounds(plan: MixPlan, frames: np.ndarray, peaks: np.ndarray) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """`row_bounds` for `frames` int16 (C, S, n) whose sources peak at `peaks`, refined where
    the sources' peaks alone leave some row outside int16: a row that starts from a base is
    also bounded by that base's actual peak (the bases summed exactly, `evaluate_bases`) plus
    the peaks of the columns it adds or subtracts, and the smaller bound is kept. Returns
    (bounds, the exact int32 bases computed for it, or None), the bases to be passed on to
    `evaluate`."""
    bounds = row_bounds(plan, peaks)
    on_base = plan.row_base >= 0
    if plan.weighted or not bool(on_base.any()) or not bool((bounds > INT16_MAX).any()):
        return bounds, None
    bases = evaluate_bases(plan, frames, np.int32)
    base_peaks = np.stack([source_peaks(b) for b in bases], axis=-1).astype(np.int64)  # (C, B)
    refined = np.asarray(peaks, dtype=np.int64) @ plan.row_terms.T
    refined[:, on_base] += base_peaks[:, plan.row_base[on_base]]
    np.minimum(bounds, refined, out=bounds)
    return bounds, bases


def source_peaks(frames: np.ndarray) -> np.ndarray:
    """int32 (..., S): max |sample| of each source in `frames` int16 (..., S, n)."""
    if frames.shape[-1] == 0:
        return np.zeros(frames.shape[:-1], dtype=np.int32)
    hi: np.ndarray = frames.max(axis=-1).astype(np.int32)
    lo = frames.min(axis=-1).astype(np.int32)
    np.negative(lo, out=lo)
    np.maximum(hi, lo, out=hi)
    return hi


def evaluate_bases(plan: MixPlan, frames: np.ndarray, dtype: DTypeLike = np.int32) -> list[np.ndarray]:
    """The shared sums of `plan` for a batch of calls: `frames` int16 (C, S, n) -> one (C, n)
    array of `dtype` per base (int32: exact, for `row_bounds` and `evaluate`)."""
    c, _, n = frames.shape
    bases: list[np.ndarray] = []
    for step in plan.bases:
        buf: np.ndarray = np.empty((c, n), dtype=dtype)
        _apply(plan, -1, step, frames, bases, buf)
        bases.append(buf)
    return bases


def evaluate(plan: MixPlan, frames: np.ndarray, out: np.ndarray,
             bases: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Every row of `plan` for a batch of calls: `frames` int16 (C, S, n) -> `out` (C, L, n).

    `out`'s dtype is the arithmetic: int16 wraps (exact modulo 2**16: exact for the rows that
    `row_bounds` puts inside int16), int32 or int64 are exact outright. `bases`, when given, are
    `evaluate_bases` of the same frames (any integer dtype holding the exact sums: they are
    taken modulo `out`'s range, which keeps every row's result the same).
    """
    dtype = out.dtype
    if bases is None:
        bases = evaluate_bases(plan, frames, dtype)
    else:
        bases = [b if b.dtype == dtype else b.astype(dtype) for b in bases]
    for op in plan.ops:
        if isinstance(op, _Run):
            np.subtract(bases[op.base][:, None, :], frames[:, op.j0:op.j0 + op.k],
                        out=out[:, op.i0:op.i0 + op.k], dtype=dtype)
        else:
            _apply(plan, op, plan.rows[op], frames, bases, out[:, op])
    return out


def _apply(plan: MixPlan, row: int, step: Step, frames: np.ndarray, bases: Sequence[np.ndarray],
           dst: np.ndarray) -> None:
    """dst (C, n) = the sum `step` describes (weighted by the plan's gains for weighted plans)."""
    dtype = dst.dtype
    plus = step.plus
    if plan.weighted:
        weights = plan.gains[row]
        if not plus:
            dst[...] = 0
            return
        for k, j in enumerate(plus):
            g = int(weights[j])
            term = frames[:, j] if g == 1 else np.multiply(frames[:, j], g, dtype=dtype)
            if k == 0:
                np.copyto(dst, term, casting="unsafe")
            else:
                np.add(dst, term, out=dst, dtype=dtype)
        return
    if step.base >= 0:
        np.copyto(dst, bases[step.base])
    elif not plus:
        dst[...] = 0
    elif len(plus) >= 3 and plus[-1] - plus[0] == len(plus) - 1:  # a contiguous range: one reduce
        np.add.reduce(frames[:, plus[0]:plus[-1] + 1], axis=1, dtype=dtype, out=dst)
        plus = ()
    elif len(plus) >= 2:
        np.add(frames[:, plus[0]], frames[:, plus[1]], out=dst, dtype=dtype)
        plus = plus[2:]
    else:
        np.copyto(dst, frames[:, plus[0]])
        plus = ()
    if step.base >= 0 or plus:
        for j in plus:
            np.add(dst, frames[:, j], out=dst, dtype=dtype)
    for j in step.minus:
        np.subtract(dst, frames[:, j], out=dst, dtype=dtype)
