"""Timeline sources: int16 audio placed on the call's sample timeline, read block by block.

A source answers ``read(start, n)``: its samples at timeline positions ``[start, start + n)``,
int16 (n,), zeros wherever it is silent (before it starts, after a one-shot ends). Reads are pure
functions of the position, so reading ``[a, b)`` then ``[b, c)`` gives exactly ``[a, c)``: the
mixer can render in blocks of any size.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["SILENCE", "Looped", "OneShot", "Source"]


@runtime_checkable
class Source(Protocol):
    """What the mixer reads: int16 samples at timeline positions ``[start, start + n)``."""

    def read(self, start: int, n: int) -> np.ndarray:
        """int16 (n,): the source at timeline samples ``start .. start + n - 1``."""
        ...

    @property
    def end(self) -> int | None:
        """The first timeline sample from which the source is silent for good (None: never)."""
        ...


def _as_pcm(pcm: np.ndarray) -> np.ndarray:
    if not isinstance(pcm, np.ndarray) and hasattr(pcm, "__getitem__") and hasattr(pcm, "__len__"):
        if getattr(pcm, "dtype", None) == np.int16 and getattr(pcm, "ndim", None) == 1:
            return pcm  # sequence-like int16 samples read by slices (pcmfile.PcmFile)
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise TypeError(f"pcm must be int16 of shape (n,), not {pcm.dtype} {pcm.shape}")
    return pcm


def _check_span(n: int) -> None:
    if n < 0:
        raise ValueError(f"cannot read a negative number of samples ({n})")


class OneShot:
    """`pcm` played once from timeline sample `start`, silence before and after.

    A participant's voice (from the moment its call is answered), a cue, a Play.
    `pcm`: int16 (n,), kept by reference (not copied), or an `pcmfile.PcmFile` (read from disk
    by slices as the timeline reaches it).
    """

    __slots__ = ("pcm", "start")

    def __init__(self, pcm: np.ndarray, start: int) -> None:
        self.pcm = _as_pcm(pcm)
        self.start = int(start)

    @property
    def end(self) -> int:
        """The timeline sample just after the last one played."""
        return self.start + len(self.pcm)

    def read(self, start: int, n: int) -> np.ndarray:
        """int16 (n,): the samples at timeline positions ``[start, start + n)``."""
        _check_span(n)
        return self.read_into(np.empty(n, dtype=np.int16), start)

    def read_into(self, out: np.ndarray, start: int) -> np.ndarray:
        """`read` into `out` int16 (n,) (no allocation); returns `out`."""
        n = len(out)
        lo = max(start, self.start)
        hi = min(start + n, self.end)
        if lo < hi:
            out[:lo - start] = 0
            span = out[lo - start:hi - start]
            if isinstance(self.pcm, np.ndarray):
                span[:] = self.pcm[lo - self.start:hi - self.start]
            else:  # a PcmFile: read straight into place
                self.pcm.read_into(span, lo - self.start)
            out[hi - start:] = 0
        else:
            out[:] = 0
        return out

    def __repr__(self) -> str:
        return f"OneShot(<{len(self.pcm)} samples>, start={self.start})"


class Looped:
    """`pcm` looped without end from timeline sample `start`, silence before it.

    Music: each wait or hold episode is its own `Looped`, starting the file from its beginning
    when the episode starts. An empty `pcm` is silence. `pcm`: int16 (n,), kept by reference
    (an array, or a `PcmFile` read by slices).
    """

    __slots__ = ("pcm", "start")

    def __init__(self, pcm: np.ndarray, start: int) -> None:
        self.pcm = _as_pcm(pcm)
        self.start = int(start)

    @property
    def end(self) -> None:
        """None: a loop never falls silent (unless its `pcm` is empty)."""
        return None

    def read(self, start: int, n: int) -> np.ndarray:
        """int16 (n,): the samples at timeline positions ``[start, start + n)``."""
        _check_span(n)
        return self.read_into(np.empty(n, dtype=np.int16), start)

    def read_into(self, out: np.ndarray, start: int) -> np.ndarray:
        """`read` into `out` int16 (n,) (no allocation); returns `out`."""
        n = len(out)
        lo = max(start, self.start)
        hi = start + n
        period = len(self.pcm)
        out[:max(0, min(n, lo - start))] = 0
        if not period:
            out[:] = 0
        if lo < hi and period:
            # copy whole stretches of the loop: the tail from the current phase, then whole
            # periods (one broadcast assignment), then a head
            dst = out[lo - start:]
            phase = (lo - self.start) % period
            first = min(period - phase, len(dst))
            dst[:first] = self.pcm[phase:phase + first]
            rest = dst[first:]
            whole, part = divmod(len(rest), period)
            if whole:
                rest[:whole * period].reshape(whole, period)[:] = self.pcm[:period]
            rest[whole * period:] = self.pcm[:part]
        return out

    def __repr__(self) -> str:
        return f"Looped(<{len(self.pcm)} samples>, start={self.start})"


class _Silence:
    """The source that is always silent (a line with no audio, `none` as a sound)."""

    __slots__ = ()

    @property
    def end(self) -> int:
        """0: silent from the start of the timeline."""
        return 0

    def read(self, start: int, n: int) -> np.ndarray:
        """int16 (n,) zeros."""
        _check_span(n)
        return np.zeros(n, dtype=np.int16)

    def read_into(self, out: np.ndarray, start: int) -> np.ndarray:
        """Zeros into `out`; returns it."""
        out[:] = 0
        return out

    def __repr__(self) -> str:
        return "SILENCE"


#: The one silent source. The mixer skips it without reading.
SILENCE = _Silence()
