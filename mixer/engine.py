"""The mixer: sources x routing matrix -> one limited int16 stream per listener.

``Mixer.mix`` is a matrix product, ``gains (L, S) @ block (S, n)``, in float32 (one per chunk of
`CHUNK_SAMPLES`, whatever the number of listeners and sources). It is exact: the
block holds int16 values and the gains are small integers (0/1 from routing), so every product and
every partial sum is an integer below 2**24 in magnitude, which float32 represents exactly,
whatever order a BLAS kernel sums in. That is what makes non-interference bit-exact (a source
outside a listener's row contributes exactly 0 to it) and rendering block-size invariant.

``Mixer.render`` then passes each row through the `Limiter` kept for that listener's name. Only
the listener's own row and its own limiter feed its output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from mpcmix.routing import RoutingMatrix, voice_source

from .kernel import INT16_MAX, MixPlan, evaluate, plan_mix, source_peaks, tight_bounds
from .limiter import DEFAULT_RELEASE_MS, Limiter
from .sources import SILENCE, Source

__all__ = ["CHUNK_SAMPLES", "MAX_ROW_GAIN", "Mixer", "own_columns"]

#: Samples per matrix product (see `Mixer._chunks`).
CHUNK_SAMPLES = 16384

#: Multiply-adds per matrix product at most. OpenBLAS hands larger products to its thread pool,
#: which for our thin matrices is slower than one thread, and many times slower on a busy
#: machine (scipy-openblas 0.3.31 on 2 loaded cores: 11x10 @ 10x8192 in 55 us on the calling
#: thread; 11x10 @ 10x12000 in 3 ms threaded). Products are split by chunk and listener rows.
_PRODUCT_BUDGET = 1 << 20

#: The largest sum of |gains| a row may have: 512 full-scale int16 sources sum to 2**24, the
#: largest integer range float32 holds exactly.
MAX_ROW_GAIN = 512


def own_columns(listeners: Sequence[str], sources: Sequence[str]) -> list[int]:
    """For each listener, the index of its own voice (``voice:<name>``) in `sources`, or -1.

    Only a hint for `kernel.plan_mix` (which rows share a "total minus own" sum); the values do
    not depend on it.
    """
    index = {label: j for j, label in enumerate(sources)}
    return [index.get(voice_source(name), -1) for name in listeners]


class Mixer:
    """Renders blocks of a call: every listener's mix of the sources its routing row allows.

    Parameters
    ----------
    sample_rate
        In Hz (the limiters' release is timed in samples).
    release_ms
        The limiters' release time (<= 500 ms).
    chunk_samples
        Samples per matrix product (a tuning knob; the output does not depend on it).

    State: one `Limiter` per listener name, created on first render and kept across calls (also
    while a matrix does not list the listener) together with the timeline sample its stream has
    reached. Renders of one listener must move forward in time; a gap between two renders is
    treated as silence for its limiter (the release continues), so a stream rendered in pieces
    with silence written in the gaps equals one rendered whole.
    """

    def __init__(
        self, sample_rate: int, release_ms: float = DEFAULT_RELEASE_MS, *,
        chunk_samples: int = CHUNK_SAMPLES,
    ) -> None:
        if chunk_samples < 1:
            raise ValueError(f"chunk_samples must be >= 1, not {chunk_samples}")
        self.sample_rate = int(sample_rate)
        self.release_ms = release_ms
        self.chunk_samples = int(chunk_samples)
        self._limiters: dict[str, Limiter] = {}
        self._positions: dict[str, int] = {}  # the next timeline sample of each listener's stream
        self._cached: tuple[RoutingMatrix, np.ndarray] | None = None
        #: (matrix, heard non-silent columns) -> their plan and labels, for the last matrix.
        self._planned: tuple[tuple[RoutingMatrix, tuple[int, ...]], MixPlan, list[str]] | None = None
        #: The source samples of the last `render` block: label -> int16 (n,), views of a buffer
        #: the next `render` overwrites (copy what must outlive it).
        self.last_sources: dict[str, np.ndarray] = {}
        self._frames: np.ndarray | None = None
        #: The peak magnitude of each source over the last `render` block: label -> int.
        self.last_peaks: dict[str, int] = {}

    # ----------------------------------------------------------------------------------------

    def mix(
        self, matrix: RoutingMatrix, sources: Mapping[str, Source], start: int, n: int
    ) -> np.ndarray:
        """The pre-limiter mix of timeline samples ``[start, start + n)``: float32 (L, n).

        Row ``i`` is ``sum_j matrix.gains[i][j] * sources[matrix.sources[j]].read(start, n)``,
        exactly (integers in float32). A label missing from `sources`, `SILENCE`, and a column
        no listener takes are skipped without reading. Gains must be integers with at most
        `MAX_ROW_GAIN` per row (0/1 from routing always are); other gains raise ValueError,
        because the sum would no longer be exact.
        """
        chunks = self._chunks(matrix, sources, start, n)
        out = np.empty((len(matrix.listeners), n), dtype=np.float32)
        for lo, hi, part in chunks:
            out[:, lo:hi] = part
        return out

    def render(
        self, matrix: RoutingMatrix, sources: Mapping[str, Source], start: int, n: int
    ) -> np.ndarray:
        """Every listener's output for timeline samples ``[start, start + n)``: int16 (L, n).

        `mix`, then row ``i`` through the limiter of ``matrix.listeners[i]``. Raises ValueError
        if a listener's stream has already been rendered past `start`.

        Computed by the matrix's `kernel.MixPlan` (shared sums minus own voices) in int16
        arithmetic, chunk by chunk; a row that `kernel.tight_bounds` cannot place inside int16 is
        evaluated again in int32, so every value the limiter sees is the exact sum. The source
        samples of the block are left in `last_sources` (label -> int16 (n,), valid until the
        next render; copy what must outlive it) for callers that need them too (recordings,
        speech detection).
        """
        for name in matrix.listeners:
            reached = self._positions.get(name)
            if reached is not None and start < reached:
                raise ValueError(f"listener {name!r}: rendered up to sample {reached}, cannot "
                                 f"render from {start} (limiter state only moves forward)")
        if n < 0:
            raise ValueError(f"cannot mix a negative number of samples ({n})")
        plan, labels = self._plan(matrix, sources)  # checks the matrix before any state moves
        limiters = []
        for name in matrix.listeners:
            limiter = self.limiter(name)
            reached = self._positions.get(name)
            if reached is not None and start > reached:
                limiter.skip(start - reached)  # the stream was silent in between
            self._positions[name] = start + n
            limiters.append(limiter)
        frames = self._frames_buffer(len(labels), n)
        for k, label in enumerate(labels):
            source = sources[label]
            read_into = getattr(source, "read_into", None)
            if read_into is not None:
                read_into(frames[0, k], start)
            else:
                frames[0, k] = source.read(start, n)
        self.last_sources = {label: frames[0, k] for k, label in enumerate(labels)}
        out = np.empty((1, len(limiters), n), dtype=np.int16)
        if not labels:
            out[...] = 0
        releasing = [i for i, limiter in enumerate(limiters) if not limiter.is_at_unity]
        block_peaks = np.zeros(len(labels), dtype=np.int32)
        for lo in range(0, n, self.chunk_samples):
            hi = min(n, lo + self.chunk_samples)
            chunk, part = frames[:, :, lo:hi], out[:, :, lo:hi]
            bases = None
            if labels:
                peaks = source_peaks(chunk)
                np.maximum(block_peaks, peaks[0], out=block_peaks)
                bounds_c, bases = tight_bounds(plan, chunk, peaks)
                bounds = bounds_c[0]
                evaluate(plan, chunk, part, bases)  # int16, wrapping: exact where the bound allows
            else:
                bounds = np.zeros(len(limiters), dtype=np.int64)
            loud = [i for i in range(len(limiters)) if bounds[i] > INT16_MAX]
            exact = None
            if loud:
                exact = evaluate(plan, chunk, np.empty(part.shape, dtype=np.int32), bases)[0]
            for i in sorted({*loud, *releasing}):
                row = exact[i] if exact is not None else part[0, i]
                limiter = limiters[i]
                if not limiter.is_at_unity or row.max(initial=0) > INT16_MAX or row.min(initial=0) < -32768:
                    part[0, i] = limiter.process(row)
                else:
                    part[0, i] = row
            releasing = [i for i, limiter in enumerate(limiters) if not limiter.is_at_unity]
        self.last_peaks = {label: int(block_peaks[k]) for k, label in enumerate(labels)}
        rows: np.ndarray = out[0]
        return rows

    def _frames_buffer(self, n_sources: int, n: int) -> np.ndarray:
        """int16 (1, n_sources, n), reused from block to block (a fresh one would cost page
        faults on every block); `last_sources` are views of it."""
        buf = self._frames
        if buf is None or buf.shape[1] < n_sources or buf.shape[2] < n:
            buf = self._frames = np.empty((1, max(n_sources, 1), max(n, 1)), dtype=np.int16)
        return buf[:, :n_sources, :n]

    def _plan(self, matrix: RoutingMatrix, sources: Mapping[str, Source]) -> tuple[MixPlan, list[str]]:
        """The plan of `matrix` restricted to the sources that are heard and not silent, and
        those sources' labels; cached for the last matrix and set of silent sources."""
        gains = self._gains(matrix)
        columns = [
            int(j) for j in np.flatnonzero(gains.any(axis=0))
            if sources.get(matrix.sources[j], SILENCE) is not SILENCE
        ]
        key = (matrix, tuple(columns))
        cached = self._planned
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        labels = [matrix.sources[j] for j in columns]
        plan = plan_mix(gains[:, columns].astype(np.int64), own_columns(matrix.listeners, labels))
        self._planned = (key, plan, labels)
        return plan, labels

    def _chunks(
        self, matrix: RoutingMatrix, sources: Mapping[str, Source], start: int, n: int
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """The mix in consecutive chunks: ``(lo, hi, float32 (L, hi - lo))`` for sample offsets
        ``[lo, hi)`` of the block. The yielded array is reused: use it before the next one.

        One matrix product per chunk of at most `chunk_samples` (split by listener rows if the
        product would exceed `_PRODUCT_BUDGET` multiply-adds): the stacked sources and the
        product stay in the CPU cache, and BLAS runs each product on the calling thread. The
        split changes no value: each output sample is the same exact integer sum.
        """
        if n < 0:
            raise ValueError(f"cannot mix a negative number of samples ({n})")
        gains = self._gains(matrix)
        columns = [
            int(j) for j in np.flatnonzero(gains.any(axis=0))
            if sources.get(matrix.sources[j], SILENCE) is not SILENCE
        ]
        return self._chunk_iter(gains[:, columns], [sources[matrix.sources[j]] for j in columns],
                                start, n, self.chunk_samples)

    @staticmethod
    def _chunk_iter(
        gains: np.ndarray, readers: list[Source], start: int, n: int, chunk: int
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        gains = np.ascontiguousarray(gains)
        n_sources = max(1, len(readers))
        chunk = max(1, min(chunk, _PRODUCT_BUDGET // n_sources))
        rows = max(1, _PRODUCT_BUDGET // (n_sources * chunk))  # listeners per product
        size = min(n, chunk)
        block = np.empty((len(readers), size), dtype=np.float32)  # int16 values, exact in float32
        part = np.zeros((len(gains), size), dtype=np.float32)
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            if m != size:  # the last, shorter chunk
                size = m
                block = np.empty((len(readers), m), dtype=np.float32)
                part = np.zeros((len(gains), m), dtype=np.float32)
            if readers:
                for k, source in enumerate(readers):
                    block[k] = source.read(start + lo, m)
                for r in range(0, len(gains), rows):
                    np.matmul(gains[r:r + rows], block, out=part[r:r + rows])
            yield lo, lo + m, part

    # ----------------------------------------------------------------------------------------

    def limiter(self, listener: str) -> Limiter:
        """The limiter of `listener`'s output (created at unity on first use)."""
        limiter = self._limiters.get(listener)
        if limiter is None:
            limiter = self._limiters[listener] = Limiter(self.sample_rate, self.release_ms)
        return limiter

    def _gains(self, matrix: RoutingMatrix) -> np.ndarray:
        """float32 (L, S) gains of `matrix`, checked for exactness; cached for the last matrix."""
        cached = self._cached
        if cached is not None and (cached[0] is matrix or cached[0] == matrix):
            return cached[1]
        if len(set(matrix.listeners)) != len(matrix.listeners):
            raise ValueError(f"listener names must be distinct: {matrix.listeners!r}")
        exact = np.array(matrix.gains, dtype=np.int64).reshape(
            len(matrix.listeners), len(matrix.sources))
        if not np.array_equal(exact, np.array(matrix.gains).reshape(exact.shape)):
            raise ValueError("routing gains must be integers for an exact mix")
        heaviest = int(np.abs(exact).sum(axis=1).max(initial=0))
        if heaviest > MAX_ROW_GAIN:
            raise ValueError(f"a row's gains sum to {heaviest}; at most {MAX_ROW_GAIN} keep the "
                             "float32 mix exact")
        gains = exact.astype(np.float32)
        self._cached = (matrix, gains)
        return gains

    def __repr__(self) -> str:
        return (f"Mixer(sample_rate={self.sample_rate}, release_ms={self.release_ms!r}, "
                f"chunk_samples={self.chunk_samples})")
