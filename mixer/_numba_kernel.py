"""The compiled kernel of `kernel_jit`, in numba (imported only when `kernel_jit` first needs it:
numba's import takes most of a second).

`mix_calls` is the one entry point; the helpers are inlined into it (``inline="always"``), so the
loop over calls compiles to one function, as if written in one piece. Arrays are int64 index
arrays (`kernel_jit.Compiled`), int16 frames and outputs, int64 peaks and bounds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mix_calls"]


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


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def source_peaks(x: np.ndarray, c: int, peak: np.ndarray) -> None:
    """`peak[j]` = max |sample| of call `c`'s source `j` in `x` int16 (C, S, n)."""
    n_cols, n = x.shape[1], x.shape[2]
    for j in range(n_cols):
        lo = np.int16(0)
        hi = np.int16(0)
        for t in range(n):
            v = x[c, j, t]
            lo = min(lo, v)
            hi = max(hi, v)
        peak[j] = max(np.int64(hi), -np.int64(lo))


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def rows_inside_int16(peak: np.ndarray, bound: np.ndarray, base_parent: np.ndarray, base_ptr: np.ndarray,
                      base_col: np.ndarray, base_sign: np.ndarray, row_base: np.ndarray, row_ptr: np.ndarray,
                      row_col: np.ndarray, row_sign: np.ndarray) -> bool:
    """Whether every row's bound (the sum of its sources' peaks) stays inside int16; the bases'
    bounds are left in `bound`."""
    for b in range(base_parent.shape[0]):
        p = base_parent[b]
        s = bound[p] if p >= 0 else np.int64(0)
        for k in range(base_ptr[b], base_ptr[b + 1]):
            s += peak[base_col[k]] if base_sign[k] > 0 else -peak[base_col[k]]
        bound[b] = s
    exact = True
    for i in range(row_base.shape[0]):
        rb = row_base[i]
        s = bound[rb] if rb >= 0 else np.int64(0)
        for k in range(row_ptr[i], row_ptr[i + 1]):
            s += peak[row_col[k]] if row_sign[k] > 0 else -peak[row_col[k]]
        if s > 32767:
            exact = False
    return exact


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def rows_int32(acc: np.ndarray, row: np.ndarray, x: np.ndarray, c: int, out: np.ndarray, bad: np.ndarray,
               row_base: np.ndarray, row_ptr: np.ndarray, row_col: np.ndarray, row_sign: np.ndarray) -> None:
    """Call `c`'s rows from its int32 bases `acc`, exactly, each checked: `out` holds the sum
    wrapped to int16 and `bad[c, i]` says whether row `i` left int16. `row`: int32 scratch (n,)."""
    n = x.shape[2]
    for i in range(row_base.shape[0]):
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


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def rows_int16(acc16: np.ndarray, x: np.ndarray, c: int, out: np.ndarray, bad: np.ndarray,
               row_base: np.ndarray, row_ptr: np.ndarray, row_col: np.ndarray, row_sign: np.ndarray) -> None:
    """Call `c`'s rows from its int16 bases `acc16`, in wrapping int16 (exact modulo 2**16: every
    row ends inside int16, so it is the sum); `bad[c, i]` is False."""
    n = x.shape[2]
    for i in range(row_base.shape[0]):
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


@njit(cache=True, nogil=True, boundscheck=False)
def mix_calls(x: np.ndarray, out: np.ndarray, bad: np.ndarray, base_parent: np.ndarray, base_ptr: np.ndarray,
              base_col: np.ndarray, base_sign: np.ndarray, row_base: np.ndarray, row_ptr: np.ndarray,
              row_col: np.ndarray, row_sign: np.ndarray) -> None:
    """Calls `x` int16 (C, S, n) -> `out` int16 (C, L, n) by the plan's index arrays, call by
    call: the sources' peaks, then the rows in wrapping int16 when every row's bound stays
    inside int16, else in int32 with each row checked (`bad` bool (C, L))."""
    n_calls, n_cols, n = x.shape
    n_bases = base_parent.shape[0]
    acc16 = np.zeros((max(n_bases, 1), n), np.int16)
    acc = np.zeros((max(n_bases, 1), n), np.int32)
    row = np.zeros(n, np.int32)
    peak = np.zeros(max(n_cols, 1), np.int64)
    bound = np.zeros(max(n_bases, 1), np.int64)
    for c in range(n_calls):
        source_peaks(x, c, peak)
        if rows_inside_int16(peak, bound, base_parent, base_ptr, base_col, base_sign,
                             row_base, row_ptr, row_col, row_sign):
            base_sums(acc16, x, c, base_parent, base_ptr, base_col, base_sign)
            rows_int16(acc16, x, c, out, bad, row_base, row_ptr, row_col, row_sign)
        else:
            base_sums(acc, x, c, base_parent, base_ptr, base_col, base_sign)
            rows_int32(acc, row, x, c, out, bad, row_base, row_ptr, row_col, row_sign)


@njit(cache=True, nogil=True, boundscheck=False)
def gather_rows(buf: np.ndarray, rows: np.ndarray, origins: np.ndarray, looped: np.ndarray,
                frames: np.ndarray, start: int) -> None:
    """Row ``rows[i]`` of `frames` int16 (R, n): `buf` played from timeline sample `origins[i]`,
    once (zeros before and after) or looped (`looped[i]`), at ``[start, start + n)``
    (`gather.Gather`)."""
    n = frames.shape[1]
    length = buf.shape[0]
    for i in range(rows.shape[0]):
        r = rows[i]
        pos = start - origins[i]
        t = 0
        if pos < 0:  # before the source starts: silence
            lead = min(n, -pos)
            for k in range(lead):
                frames[r, k] = 0
            t = lead
        if length == 0:
            for k in range(t, n):
                frames[r, k] = 0
        elif looped[i]:  # whole runs up to each wrap: no division per sample
            p = (pos + t) % length
            while t < n:
                run = min(n - t, length - p)
                for k in range(run):
                    frames[r, t + k] = buf[p + k]
                t += run
                p = 0
        else:
            p = pos + t
            run = max(0, min(n - t, length - p))
            for k in range(run):
                frames[r, t + k] = buf[p + k]
            for k in range(t + run, n):
                frames[r, k] = 0
