"""The server's clocks: virtual (moved only by `POST /emulator/advance`) or real time.

Both give `now_ms()` on a frame boundary: an operation takes effect at the first boundary at or
after the moment it arrives (docs/semantics.md, Time), so a request's time is rounded up.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np


def ceil_to_frame(ms: int, frame_ms: int) -> int:
    return -(-ms // frame_ms) * frame_ms


class VirtualClock:
    """Time that moves only when told to; starts at 0."""

    kind = "virtual"

    def __init__(self, frame_ms: int) -> None:
        self.frame_ms = frame_ms
        self._now_ms = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return self._now_ms

    def rendered_ms(self) -> int:
        """How far the engines may render (all of it: virtual time is always settled)."""
        return self._now_ms

    def advance(self, seconds: float | int | str) -> int:
        """Move time forward by `seconds` (rounded up to a frame); return the new `now_ms`."""
        step = Fraction(str(seconds)) * 1000
        if step < 0:
            raise ValueError("time only moves forward: seconds must be >= 0")
        with self._lock:
            target = self._now_ms + step
            self._now_ms = ceil_to_frame(int(-(-target // 1)), self.frame_ms)
            return self._now_ms


class RealtimeClock:
    """Wall time since the server started (monotonic)."""

    kind = "realtime"

    def __init__(self, frame_ms: int) -> None:
        self.frame_ms = frame_ms
        self._t0 = time.monotonic()

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def elapsed_ms_exact(self) -> float:
        """Milliseconds since the start, unrounded (for measuring the ticker)."""
        return (time.monotonic() - self._t0) * 1000

    def now_ms(self) -> int:
        """The next frame boundary: when a request arriving now takes effect."""
        return ceil_to_frame(self.elapsed_ms(), self.frame_ms)

    def rendered_ms(self) -> int:
        """The last frame boundary passed: how far the ticker renders."""
        return self.elapsed_ms() // self.frame_ms * self.frame_ms

    def seconds_until_next_frame(self) -> float:
        elapsed = time.monotonic() - self._t0
        frame = self.frame_ms / 1000
        return max(0.0, frame - (elapsed % frame))


Clock = VirtualClock | RealtimeClock


class TickLateness:
    """How late the real-time ticker renders each frame: a ring of recent ticks plus totals.

    A tick's lateness is the wall time at which it finished rendering (and flushing) minus the
    frame boundary that made it due: the first boundary it renders up to. Under one frame, the
    ticker keeps up (a frame is written before the next one is due); a tick that had to catch up
    several frames counts the wait of the oldest one.
    """

    def __init__(self, frame_ms: int, capacity: int = 1 << 15) -> None:
        self.frame_ms = frame_ms
        self._lock = threading.Lock()
        self._capacity = capacity
        # Preallocated and touched: the ring's memory does not grow as it fills.
        self._at_ms = np.full(capacity, np.nan)  # clock time of each tick's completion
        self._late_ms = np.full(capacity, np.nan)
        self._next = 0
        self.count = 0
        self.late = 0  # ticks later than one frame
        self.max_ms = 0.0
        self.tick_s = 0.0  # CPU seconds the ticker's thread spent rendering, summed
        self.flush_s = 0.0  # ...and flushing the files' headers

    def spent(self, tick_s: float, flush_s: float) -> None:
        """Count a tick's CPU time: rendering, then flushing."""
        self.tick_s += tick_s
        self.flush_s += flush_s

    def record(self, done_ms: float, lateness_ms: float) -> None:
        with self._lock:
            i = self._next
            self._at_ms[i] = done_ms
            self._late_ms[i] = lateness_ms
            self._next = (i + 1) % self._capacity
            self.count += 1
            if lateness_ms > self.frame_ms:
                self.late += 1
            self.max_ms = max(self.max_ms, lateness_ms)

    def summary(self, window_s: float | None = None, now_ms: float | None = None) -> dict[str, object]:
        """Lateness percentiles (ms) over the ticks of the last `window_s` seconds (all kept).

        Computed on arrays: a summary of a full ring made 32,768 Python tuples each time, and the
        soak, asking every 30 s, grew the server's heap by fragmentation while the ring filled.
        """
        with self._lock:
            n = min(self.count, self._capacity)
            at, late_ms = self._at_ms[:n].copy(), self._late_ms[:n].copy()
            count, late, max_all = self.count, self.late, self.max_ms
        if window_s is not None and now_ms is not None:
            late_ms = late_ms[at >= now_ms - window_s * 1000]
        values = np.sort(late_ms)

        def pct(q: float) -> float | None:
            if not len(values):
                return None
            return round(float(values[min(len(values) - 1, int(q * len(values)))]), 3)

        return {
            "frame_ms": self.frame_ms,
            "ticks": count,
            "late_ticks": late,
            "max_ms_since_start": round(max_all, 3),
            "window": {
                "ticks": len(values),
                "late_ticks": int(np.count_nonzero(values > self.frame_ms)),
                "p50_ms": pct(0.50),
                "p99_ms": pct(0.99),
                "max_ms": round(float(values[-1]), 3) if len(values) else None,
            },
        }
