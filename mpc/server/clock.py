"""The server's clocks: virtual (moved only by `POST /emulator/advance`) or real time.

Both give `now_ms()` on a frame boundary: an operation takes effect at the first boundary at or
after the moment it arrives (SPEC §3), so a request's time is rounded up.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction


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
