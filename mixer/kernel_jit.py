"""The live mixer's compiled kernel: a `kernel.MixPlan` evaluated for many calls in one pass.

numpy evaluates a plan as a sequence of whole-array operations (a base sum, a subtraction per
row, two peak reductions for the bound), each a pass over the frames. Compiled with numba, the
same plan runs call by call with the call's frames in L1: each source's peak first, then, when
every row's bound (the sum of its sources' peaks) stays inside int16, the plan in wrapping int16
arithmetic (16 lanes a vector instruction; exact, as in `kernel.evaluate`), else the call in
int32 with an exact range check per row. One read of the inputs and one write of the outputs,
which is what a live tick is bounded by (the copy floor). Loaded only when numba is installed
(`available()`); `LiveMixer` falls back to the numpy evaluation otherwise, with the same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from .kernel import MixPlan, Step

__all__ = ["Compiled", "available", "compile_plan", "mix_calls"]

#: A plan as the kernel's index arrays (`compile_plan`): int64 base parents, pointers, columns
#: and signs of the bases, then of the rows.
Compiled = tuple[np.ndarray, ...]


@lru_cache(maxsize=1)
def _compiled() -> Callable[..., None] | None:
    """The numba kernel (compiled on first use, cached on disk by numba), or None."""
    try:
        from numba import njit
    except ImportError:
        return None

    @njit(cache=True, nogil=True, boundscheck=False, inline="always")
    def base_sums(acc: np.ndarray, x: np.ndarray, c: int, base_parent: np.ndarray, base_ptr: np.ndarray,
                  base_col: np.ndarray, base_sign: np.ndarray) -> None:
        """Call `c`'s base sums into `acc`, in `acc`'s dtype (int16: wrapping, int32: exact)."""
        n = x.shape[2]
        for b in range(base_parent.shape[0]):
            p = base_parent[b]
            if p >= 0:
                for t in range(n):
                    acc[b, t] = acc[p, t]
            else:
                for t in range(n):
                    acc[b, t] = 0
            for k in range(base_ptr[b], base_ptr[b + 1]):
                j = base_col[k]
                if base_sign[k] > 0:
                    for t in range(n):
                        acc[b, t] = acc[b, t] + x[c, j, t]
                else:
                    for t in range(n):
                        acc[b, t] = acc[b, t] - x[c, j, t]

    @njit(cache=True, nogil=True, boundscheck=False)
    def kernel(x: np.ndarray, out: np.ndarray, bad: np.ndarray, base_parent: np.ndarray, base_ptr: np.ndarray,
               base_col: np.ndarray, base_sign: np.ndarray, row_base: np.ndarray, row_ptr: np.ndarray,
               row_col: np.ndarray, row_sign: np.ndarray) -> None:
        n_calls, n_cols, n = x.shape
        n_bases = base_parent.shape[0]
        n_rows = row_base.shape[0]
        acc16 = np.zeros((max(n_bases, 1), n), np.int16)
        acc = np.zeros((max(n_bases, 1), n), np.int32)
        row = np.zeros(n, np.int32)
        peak = np.zeros(max(n_cols, 1), np.int64)
        bound = np.zeros(max(n_bases, 1), np.int64)
        for c in range(n_calls):
            for j in range(n_cols):
                lo = np.int16(0)
                hi = np.int16(0)
                for t in range(n):
                    v = x[c, j, t]
                    lo = min(lo, v)
                    hi = max(hi, v)
                peak[j] = max(np.int64(hi), -np.int64(lo))
            exact = True  # every row's bound (sum of its sources' peaks) inside int16
            for b in range(n_bases):
                p = base_parent[b]
                s = bound[p] if p >= 0 else np.int64(0)
                for k in range(base_ptr[b], base_ptr[b + 1]):
                    s += peak[base_col[k]] if base_sign[k] > 0 else -peak[base_col[k]]
                bound[b] = s
            for i in range(n_rows):
                rb = row_base[i]
                s = bound[rb] if rb >= 0 else np.int64(0)
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    s += peak[row_col[k]] if row_sign[k] > 0 else -peak[row_col[k]]
                if s > 32767:
                    exact = False
            if not exact:  # int32, each row checked exactly
                base_sums(acc, x, c, base_parent, base_ptr, base_col, base_sign)
                for i in range(n_rows):
                    rb = row_base[i]
                    if rb >= 0:
                        for t in range(n):
                            row[t] = acc[rb, t]
                    else:
                        for t in range(n):
                            row[t] = 0
                    for k in range(row_ptr[i], row_ptr[i + 1]):
                        j = row_col[k]
                        if row_sign[k] > 0:
                            for t in range(n):
                                row[t] += x[c, j, t]
                        else:
                            for t in range(n):
                                row[t] -= x[c, j, t]
                    outside = 0
                    for t in range(n):
                        v = row[t]
                        outside |= (v > 32767) | (v < -32768)
                        out[c, i, t] = v
                    bad[c, i] = outside != 0
                continue
            # wrapping int16 (exact modulo 2**16): every row ends inside int16, so it is the sum
            base_sums(acc16, x, c, base_parent, base_ptr, base_col, base_sign)
            for i in range(n_rows):
                rb = row_base[i]
                k0 = row_ptr[i]
                terms = row_ptr[i + 1] - k0
                if rb >= 0 and terms == 1:
                    j = row_col[k0]
                    if row_sign[k0] > 0:
                        for t in range(n):
                            out[c, i, t] = acc16[rb, t] + x[c, j, t]
                    else:
                        for t in range(n):
                            out[c, i, t] = acc16[rb, t] - x[c, j, t]
                else:
                    if rb >= 0:
                        for t in range(n):
                            out[c, i, t] = acc16[rb, t]
                    else:
                        for t in range(n):
                            out[c, i, t] = 0
                    for k in range(k0, k0 + terms):
                        j = row_col[k]
                        if row_sign[k] > 0:
                            for t in range(n):
                                out[c, i, t] = out[c, i, t] + x[c, j, t]
                        else:
                            for t in range(n):
                                out[c, i, t] = out[c, i, t] - x[c, j, t]
                bad[c, i] = False

    return kernel


def available() -> bool:
    """Whether numba is installed (the compiled kernel can be used)."""
    return _compiled() is not None


def _csr(steps: tuple[Step, ...]) -> Compiled:
    base = np.array([s.base for s in steps], dtype=np.int64)
    ptr: list[int] = [0]
    col: list[int] = []
    sign: list[int] = []
    for s in steps:
        col += [*s.plus, *s.minus]
        sign += [1] * len(s.plus) + [-1] * len(s.minus)
        ptr.append(len(col))
    return (base, np.array(ptr, dtype=np.int64), np.array(col, dtype=np.int64), np.array(sign, dtype=np.int64))


@lru_cache(maxsize=256)
def _compile(plan: MixPlan) -> Compiled:
    return (*_csr(plan.bases), *_csr(plan.rows))


def compile_plan(plan: MixPlan) -> Compiled | None:
    """The plan as the kernel's index arrays, or None if the kernel cannot run it (weighted
    gains, or numba missing)."""
    if plan.weighted or not available():
        return None
    return _compile(plan)


def mix_calls(arrays: Compiled, x: np.ndarray, out: np.ndarray, bad: np.ndarray) -> None:
    """Evaluate a compiled plan: `x` int16 (C, S, n) -> `out` int16 (C, L, n), exact where
    ``bad`` bool (C, L) is False (a row whose exact sum left int16 is True there; its `out` row
    is then that sum wrapped)."""
    kernel = _compiled()
    if kernel is None:
        raise RuntimeError("the compiled kernel needs numba, which is not installed")
    kernel(x, out, bad, *arrays)
