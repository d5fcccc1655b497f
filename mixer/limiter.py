"""A per-output peak limiter in integer arithmetic: transparent below full scale, never wraps,
bit-exact whatever the block size.

The gain is fixed point Q30 (``UNITY = 2**30`` is 1.0) in int64. For every sample the *target* is
the largest gain that keeps it inside int16, ``t[i] = min(UNITY, floor(L * UNITY / |x[i]|))`` with
``L = 32767`` for positive and ``32768`` for negative samples. The gain follows the target down at
once (instant attack) and climbs back linearly by ``r`` per sample (release)::

    g[i] = min(UNITY, t[i], g[i-1] + r)

Unrolled, this recursion has a closed form over one block (``g_prev`` is the gain before it,
``i`` the block-local index)::

    g[i] = min(UNITY, g_prev + r * (i + 1), r * i + min_{j <= i} (t[j] - r * j))

which ``np.minimum.accumulate`` evaluates exactly in int64. Since the closed form equals the
recursion sample for sample and the only state carried between blocks is ``g_prev``, processing
a signal in blocks of any sizes gives bit-identical output to one pass. The output is
``round(x * g / UNITY)`` (half up), and ``g <= t`` keeps it within int16 without wrapping.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_RELEASE_MS", "MAX_RELEASE_MS", "UNITY", "Limiter", "limit_rows", "limit_rows_full",
           "release_step"]

UNITY = 1 << 30  # gain 1.0 in Q30
_SHIFT = 30
_HALF = 1 << (_SHIFT - 1)
_POS_LIMIT = 32767 * UNITY
_NEG_LIMIT = 32768 * UNITY
_INPUT_BOUND = 1 << 40  # inputs are clamped here before int64 maths; mixes stay below 2**24

#: Release time from full reduction back to unity (at most 500 ms: docs/semantics.md, Audio).
DEFAULT_RELEASE_MS = 250.0
MAX_RELEASE_MS = 500.0


def release_step(sample_rate: int, release_ms: float) -> int:
    """The release step per sample in Q30, ``ceil(UNITY / release_samples)`` (see `Limiter`)."""
    release_samples = max(1, int(release_ms * sample_rate // 1000))
    return -(-UNITY // release_samples)


def limit_rows(mix: np.ndarray, gains: np.ndarray, release_per_sample: int,
               out: np.ndarray | None = None) -> np.ndarray:
    """Many limiters at once, one per row: the vectorised `Limiter.process`, bit for bit.

    The fast path: a row whose limiter is at unity and whose samples all lie within int16 (its
    actual peak, checked here, not a bound) passes unchanged, as the closed form gives (every
    target is unity, so the gain stays unity); only the other rows are evaluated
    (`limit_rows_full`). Same parameters and result as `limit_rows_full`, written into `out`
    (int16 (k, n)) when given.
    """
    x = np.asarray(mix)
    k, n = x.shape
    if out is None:
        out = np.empty((k, n), dtype=np.int16)
    if n == 0 or k == 0:
        return out
    inside = (x.max(axis=1) <= 32767) & (x.min(axis=1) >= -32768) & (gains == UNITY)
    if inside.all():
        np.copyto(out, x, casting="unsafe")  # every value fits: the cast is exact
        return out
    if not inside.any():
        out[...] = limit_rows_full(x, gains, release_per_sample)
        return out
    out[inside] = x[inside]
    rest = np.flatnonzero(~inside)
    g = gains[rest]
    out[rest] = limit_rows_full(x[rest], g, release_per_sample)
    gains[rest] = g
    return out


def limit_rows_full(mix: np.ndarray, gains: np.ndarray, release_per_sample: int) -> np.ndarray:
    """`limit_rows` without its fast path: the closed form evaluated on every sample of every row.

    Parameters
    ----------
    mix
        int (k, n) (any integer dtype, or float holding integers): one block of k outputs.
    gains
        int64 (k,): each row's limiter gain (Q30) before the block; updated in place to the gain
        after it.
    release_per_sample
        The release step (`release_step`), the same for every row.

    Returns int16 (k, n). Row ``i`` equals what a `Limiter` at gain ``gains[i]`` gives for
    ``mix[i]``: the same closed form, evaluated over the whole block (which `Limiter.process`
    shows equals its evaluation around the overloads only).
    """
    x = np.asarray(mix)
    k, n = x.shape
    if n == 0 or k == 0:
        return np.zeros((k, n), dtype=np.int16)
    xi: np.ndarray = np.clip(x, -_INPUT_BOUND, _INPUT_BOUND).astype(np.int64)  # only absurd inputs change
    over_pos = xi > 32767
    over_neg = xi < -32768
    target = np.full(xi.shape, UNITY, dtype=np.int64)
    if over_pos.any():
        target[over_pos] = _POS_LIMIT // xi[over_pos]
    if over_neg.any():
        target[over_neg] = _NEG_LIMIT // -xi[over_neg]
    r = int(release_per_sample)
    ramp = np.arange(n, dtype=np.int64)
    ramp *= r
    gain = target
    gain -= ramp
    np.minimum.accumulate(gain, axis=1, out=gain)
    gain += ramp
    carried = ramp + r + gains.astype(np.int64)[:, None]  # g_prev + r * (i + 1)
    np.minimum(gain, carried, out=gain)
    np.minimum(gain, UNITY, out=gain)
    gains[...] = gain[:, -1]
    xi *= gain
    xi += _HALF
    xi >>= _SHIFT
    return xi.astype(np.int16)


class Limiter:
    """A peak limiter for one output stream, with its own gain state.

    Parameters
    ----------
    sample_rate
        In Hz.
    release_ms
        Time for the gain to climb linearly from 0 back to unity after an overload, in ms
        (0 < release_ms <= 500). The release step is rounded up, so recovery never takes longer.
    """

    __slots__ = ("_gain", "release_ms", "release_per_sample", "sample_rate")

    def __init__(self, sample_rate: int, release_ms: float = DEFAULT_RELEASE_MS) -> None:
        if not 0 < release_ms <= MAX_RELEASE_MS:
            raise ValueError(f"release_ms must be in (0, {MAX_RELEASE_MS:g}], not {release_ms!r}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, not {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self.release_ms = float(release_ms)
        #: Gain step per sample in Q30, ceil(UNITY / release_samples).
        self.release_per_sample = release_step(self.sample_rate, self.release_ms)
        self._gain = UNITY

    @property
    def gain(self) -> float:
        """The current gain (1.0 = unity), as the next sample will start from."""
        return self._gain / UNITY

    @property
    def is_at_unity(self) -> bool:
        """Whether the gain is 1.0: a block within int16 then passes unchanged."""
        return self._gain == UNITY

    def reset(self) -> None:
        """Forget any gain reduction (back to unity)."""
        self._gain = UNITY

    def skip(self, n: int) -> None:
        """Advance the state over `n` samples of silence, as `process(zeros(n))` would."""
        if n < 0:
            raise ValueError(f"cannot skip a negative number of samples ({n})")
        self._gain = min(UNITY, self._gain + self.release_per_sample * n)

    def process(self, mix: np.ndarray) -> np.ndarray:
        """Limit one block of a mix: float32 (n,) holding integers (possibly beyond int16) ->
        int16 (n,).

        Identity while the gain is at unity and the block stays within [-32768, 32767] (the fast
        path, which touches nothing but the cast). Otherwise the closed form of the module
        docstring, in int64, evaluated only where the gain can differ from unity: from the first
        overloading sample (or the block start, if the gain is still releasing) to one release
        time after the last one. Outside that span the gain is exactly unity and the samples are
        within int16, so they pass unchanged; the result is the same as evaluating everywhere.
        """
        x = np.asarray(mix)
        if x.ndim != 1:
            raise ValueError(f"a limiter takes one stream, shape (n,), not {x.shape}")
        n = len(x)
        if n == 0:
            return np.zeros(0, dtype=np.int16)
        if self._gain == UNITY and x.max() <= 32767 and x.min() >= -32768:
            return x.astype(np.int16)
        r = self.release_per_sample
        over = np.flatnonzero((x > 32767) | (x < -32768))  # the samples that need a lower gain
        recovery = -(-UNITY // r)  # samples for any gain >= 0 to climb back to unity
        lo = 0 if self._gain < UNITY else int(over[0])
        hi = -(-(UNITY - self._gain) // r)  # where the carried-in reduction has released
        if len(over):
            hi = max(hi, int(over[-1]) + 1 + recovery)
        hi = min(hi, n)
        y = np.empty(n, dtype=np.int16)
        y[:lo] = x[:lo]  # outside [lo, hi) the samples are within int16 and the gain is unity
        y[hi:] = x[hi:]
        if lo < hi:
            y[lo:hi], gain = self._limit(x[lo:hi], over[(over >= lo) & (over < hi)] - lo)
        else:
            gain = UNITY
        self._gain = gain if hi == n else UNITY
        return y

    def _limit(self, x: np.ndarray, over: np.ndarray) -> tuple[np.ndarray, int]:
        """The closed form on `x` (its overloading samples at indices `over`), starting from the
        current gain: the int16 output and the gain after the last sample."""
        if len(over) and np.abs(x[over]).max() > _INPUT_BOUND:
            x = np.clip(x, -_INPUT_BOUND, _INPUT_BOUND)  # only absurd inputs: keep the cast defined
        xi = x.astype(np.int64)
        target = np.full(len(xi), UNITY, dtype=np.int64)  # within int16 the target is unity...
        loud = xi[over]  # ...elsewhere the largest gain that keeps the sample inside int16
        target[over] = np.where(loud < 0, _NEG_LIMIT, _POS_LIMIT) // np.abs(loud)
        r = self.release_per_sample
        ramp = np.arange(len(xi), dtype=np.int64)
        ramp *= r  # r * i
        gain = target
        gain -= ramp
        np.minimum.accumulate(gain, out=gain)
        gain += ramp
        ramp += self._gain + r  # g_prev + r * (i + 1)
        np.minimum(gain, ramp, out=gain)
        np.minimum(gain, UNITY, out=gain)
        xi *= gain
        xi += _HALF
        xi >>= _SHIFT  # within int16: |x * g| <= 32767 * UNITY (32768 for x < 0) since g <= t
        return xi.astype(np.int16), int(gain[-1])

    def __repr__(self) -> str:
        return (f"Limiter(sample_rate={self.sample_rate}, release_ms={self.release_ms:g})"
                f"  # gain {self.gain:.6f}")
