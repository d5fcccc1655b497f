"""Every input row of a tick read in one step: sources grouped by the samples they play.

The live mixer's input is one row per heard source of every call. Reading them one by one costs
a Python call per row per tick; `Gather` groups the rows by the buffer their source plays (every
MPC whose customer plays the same file shares one group), each group then read by one compiled
loop (numba, when installed) over its rows: a one-shot copies its span (zeros outside it), a
loop its phase. Rows whose source is neither (`SILENCE`, or a source of another kind) are
zeroed, or read one by one as before. The samples are those of each source's `read_into`.

A `PcmFile` (a voice played from disk) is held in memory once (one copy for every MPC that plays
it) when it is short (`PcmFile.HELD_FRAMES`); a longer one is read by slices, row by row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["Gather"]


@lru_cache(maxsize=1)
def _kernel() -> Callable[..., None] | None:
    try:
        from ._numba_kernel import gather_rows
    except ImportError:
        return None
    return gather_rows


def _gather_numpy(buf: np.ndarray, rows: np.ndarray, origins: np.ndarray, looped: np.ndarray,
                  frames: np.ndarray, start: int) -> None:
    """`_numba_kernel.gather_rows` in numpy (numba missing): the same samples."""
    n = frames.shape[1]
    length = buf.shape[0]
    pos = (start - origins)[:, None] + np.arange(n)[None, :]
    if length == 0:
        frames[rows] = 0
        return
    wrapped = np.where(looped[:, None], pos % length, pos)
    valid = (pos >= 0) & (wrapped < length)
    frames[rows] = np.where(valid, buf[np.clip(wrapped, 0, length - 1)], 0)


class Gather:
    """Reads every row of a tick's input from its source (`fill`), grouped by buffer; made by
    `from_arrays` from rows already sorted out (the engine's `plan.Rows`)."""

    _compiled: bool  # numba's loops (else numpy's reads, the same samples)
    _zero: np.ndarray  # rows of silence
    _single: list[tuple[int, Any]]  # (row, source) read one by one
    _groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # (buffer, rows, origins, looped)

    @classmethod
    def from_arrays(cls, buffers: Sequence[np.ndarray], rows: np.ndarray, index: np.ndarray,
                    origins: np.ndarray, looped: np.ndarray, alone: Sequence[tuple[int, Any]],
                    *, compiled: bool = True) -> Gather:
        """A gather from rows already sorted out: row ``rows[i]`` plays ``buffers[index[i]]``
        from timeline sample ``origins[i]`` (looped or not); ``index[i]`` -1 is silence,
        -2 a row of `alone` ((row, source) pairs read one by one) and -3 a row left as it is.
        Grouped in whole-array steps: no Python step per row. `compiled` False reads the same
        samples with numpy (numba is not even imported: a render that mixes with numpy does not
        pay its start-up)."""
        self = cls.__new__(cls)
        self._compiled = compiled
        self._zero = rows[index == -1]
        self._single = list(alone)
        keep = index >= 0
        rows, index, origins, looped = rows[keep], index[keep], origins[keep], looped[keep]
        order = np.argsort(index, kind="stable")
        rows, index, origins, looped = rows[order], index[order], origins[order], looped[order]
        cuts = np.flatnonzero(np.diff(index)) + 1
        bounds = [0, *cuts.tolist(), len(index)]
        self._groups = [(buffers[int(index[a])], rows[a:b], origins[a:b], looped[a:b])
                        for a, b in itertools.pairwise(bounds) if b > a]
        return self

    def fill(self, frames: np.ndarray, start: int) -> None:
        """Every row of `frames` int16 (rows, n): its source at timeline ``[start, start + n)``."""
        if self._zero.size:
            frames[self._zero] = 0
        # numba's import (a third of a second) only where a compiled loop has rows to read
        kernel = _kernel() if self._compiled and self._groups else None
        for buf, rows, origins, looped in self._groups:
            if kernel is not None:
                kernel(buf, rows, origins, looped, frames, start)
            else:
                _gather_numpy(buf, rows, origins, looped, frames, start)
        for row, source in self._single:
            target = frames[row]
            read_into = getattr(source, "read_into", None)
            if read_into is not None:
                read_into(target, start)
            else:
                target[...] = source.read(start, len(target))
