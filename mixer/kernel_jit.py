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
    """The numba kernel (`_numba_kernel.mix_calls`: compiled on first use, cached on disk by
    numba), or None without numba."""
    try:
        from . import _numba_kernel
    except ImportError:
        return None
    return _numba_kernel.mix_calls


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
