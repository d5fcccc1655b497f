"""Live audio in and out of a running mix: a voice fed from outside, a mix delivered outside.

Two thread-safe pieces, numpy only, that let real audio in and out of a call the engine mixes
on its own clock (offline, virtual, or the real-time ticker) without the mixing path ever
waiting on a socket:

- `LiveInput`: a participant's voice as a queue of int16 PCM pushed from any thread (a socket
  reader, a browser microphone). It is a mixer `Source`: each block the engine mixes takes the
  next samples of the queue, silence when it is empty, so what is pushed is heard from the first
  block rendered after it arrives (the current clock time, virtual or real). A jitter buffer:
  bounded (`max_ms`; a push beyond it is dropped and counted), an optional playout delay after
  each underrun (`prefill_ms`: a chunk that starts a new talk spurt waits that long, so later
  chunks arriving that much late still play in order), chunks with sequence numbers put back in
  order (a gap waits until the queue runs dry or `reorder` later chunks are held, then is
  skipped; the missing chunk arriving after that is late and dropped). `clear()` empties the
  queue; `mark(name)` puts a marker after what is queued, reported by `take_marks()` once the
  audio before it has been played (a checkpoint).
- `MixFeed`: one subscriber's copy of a mix row (what a participant hears, a recording's row, a
  participant's voice), offered block by block by the engine and read by the consumer, from an
  asyncio loop (`await feed.get()`) or any thread (`get_nowait`). Bounded (`max_samples`): when
  the consumer is slow the oldest blocks are dropped (and counted), never queued without bound;
  `offer` never blocks (a lock held for a deque append, and at most one
  `loop.call_soon_threadsafe` to wake a waiting consumer).

Positions are timeline samples at the call's rate. Resampling, encoding and framing (20 ms μ-law
chunks, base64...) are the consumer's business, on its own thread or loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["LiveInput", "MixFeed"]


class LiveInput:
    """A voice pushed from outside the mixing path (see the module docstring).

    `sample_rate` is the call's; every pushed chunk must already be at that rate (int16 (n,)).
    `notify` (optional) is called, on the mixing thread, whenever a marker has been played: the
    consumer should then `take_marks()` (e.g. `notify` = a ``loop.call_soon_threadsafe`` of an
    event's ``set``). Reading is sequential: each block read consumes the queue; reading the same
    ``(start, n)`` again (the engine's tap, a recording of the voice) gives the same samples.
    """

    def __init__(self, sample_rate: int, *, max_ms: int = 60_000, prefill_ms: int = 0,
                 reorder: int = 4, notify: Callable[[], None] | None = None) -> None:
        if max_ms <= 0 or prefill_ms < 0 or reorder < 0:
            raise ValueError("max_ms must be > 0, prefill_ms and reorder >= 0")
        self.sample_rate = sample_rate
        self.max_samples = max_ms * sample_rate // 1000
        self.prefill = prefill_ms * sample_rate // 1000
        self.reorder = reorder
        self.notify = notify
        self._lock = threading.Lock()
        self._chunks: deque[np.ndarray] = deque()
        self._head = 0  # samples of _chunks[0] already played
        self._queued = 0  # samples queued (not counting _pending)
        self._pushed = 0  # samples ever put in the queue (marker positions count in these)
        self._played = 0  # samples ever taken from the queue
        self._marks: deque[tuple[int, str]] = deque()  # (position in _pushed, name)
        self._passed: list[str] = []  # markers played, not yet taken
        self._pending: dict[int, np.ndarray] = {}  # seq -> chunk, waiting for an earlier one
        self._next_seq: int | None = None
        self._waited = 0  # playout delay served since the queue last ran dry
        self._playing = False
        self._last: tuple[int, int, np.ndarray] | None = None  # (start, n, block) last read
        self.closed = False
        #: counters (samples, except `late_chunks`): what the jitter buffer did
        self.stats: dict[str, int] = {"pushed": 0, "played": 0, "silence": 0, "overflow": 0,
                                      "late_chunks": 0, "skipped_chunks": 0, "cleared": 0}

    # -- the producer's side (any thread) -----------------------------------------------------

    def push(self, pcm: np.ndarray, seq: int | None = None) -> bool:
        """Queue `pcm` (int16 (n,) at the call's rate) after what is queued; with `seq`, in the
        order of the sequence numbers. False if dropped (late, or the queue is full)."""
        chunk = np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1)
        with self._lock:
            if self.closed:
                return False
            if seq is None:
                return self._append(chunk)
            if self._next_seq is None:
                self._next_seq = seq
            if seq < self._next_seq or seq in self._pending:
                self.stats["late_chunks"] += 1
                return False
            self._pending[seq] = chunk
            self._release(force=len(self._pending) > self.reorder)
            return True

    def clear(self) -> list[str]:
        """Empty the queue (what is pushed next plays at once); the markers it held are
        returned (not played: removed)."""
        with self._lock:
            self.stats["cleared"] += self._queued + sum(len(c) for c in self._pending.values())
            self._chunks.clear()
            self._head = 0
            self._played += self._queued
            self._pushed = self._played
            self._queued = 0
            self._pending.clear()
            self._next_seq = None
            dropped = [name for _, name in self._marks]
            self._marks.clear()
            return dropped

    def mark(self, name: str) -> None:
        """A marker after everything queued now: `take_marks` reports it once that is played
        (at the next block if nothing is queued)."""
        with self._lock:
            self._marks.append((self._pushed, name))

    def take_marks(self) -> list[str]:
        """The markers played since the last call, in order."""
        with self._lock:
            out, self._passed = self._passed, []
            return out

    @property
    def queued_ms(self) -> int:
        """How much audio is queued, in milliseconds."""
        with self._lock:
            return self._queued * 1000 // self.sample_rate

    def close(self) -> None:
        """Refuse further pushes (the producer went away); what is queued still plays."""
        with self._lock:
            self.closed = True

    def _append(self, chunk: np.ndarray) -> bool:
        if self._queued + len(chunk) > self.max_samples:
            self.stats["overflow"] += len(chunk)
            return False
        if len(chunk):
            self._chunks.append(chunk)
            self._queued += len(chunk)
            self._pushed += len(chunk)
            self.stats["pushed"] += len(chunk)
        return True

    def _release(self, *, force: bool) -> None:
        """Move the pending chunks that are next in order to the queue; `force`: skip a gap."""
        while self._pending:
            assert self._next_seq is not None
            if self._next_seq not in self._pending:
                if not force:
                    return
                self.stats["skipped_chunks"] += min(self._pending) - self._next_seq
                self._next_seq = min(self._pending)
                force = len(self._pending) > self.reorder
            self._append(self._pending.pop(self._next_seq))
            self._next_seq += 1

    # -- the mixer's side (the engine's thread) ------------------------------------------------

    @property
    def end(self) -> None:
        """None: a live voice may speak at any time."""
        return None

    def read(self, start: int, n: int) -> np.ndarray:
        """int16 (n,): the next `n` samples of the queue (silence where it is empty)."""
        return self.read_into(np.empty(n, dtype=np.int16), start)

    def read_into(self, out: np.ndarray, start: int) -> np.ndarray:
        """`read` into `out`; returns `out`."""
        n = len(out)
        last = self._last
        if last is not None and last[0] == start and last[1] == n:
            out[:] = last[2]
            return out
        notify = False
        with self._lock:
            if not self._queued and self._pending:
                self._release(force=True)  # the gap did not arrive in time: skip it
            filled = 0  # silence before the playout starts in this block
            if self._queued and not self._playing:
                if self._waited + n > self.prefill:
                    self._playing = True
                    filled = max(0, self.prefill - self._waited)
                self._waited += n
            if self._playing:
                pos = filled
                while pos < n and self._chunks:
                    chunk = self._chunks[0]
                    k = min(n - pos, len(chunk) - self._head)
                    out[pos:pos + k] = chunk[self._head:self._head + k]
                    pos += k
                    self._head += k
                    if self._head == len(chunk):
                        self._chunks.popleft()
                        self._head = 0
                taken = pos - filled
                self._queued -= taken
                self._played += taken
                self.stats["played"] += taken
                out[:filled] = 0
                out[pos:] = 0
                self.stats["silence"] += n - taken
                if not self._queued:
                    self._playing = False
                    self._waited = 0
            else:
                out[:] = 0
                self.stats["silence"] += n
            while self._marks and self._marks[0][0] <= self._played:
                self._passed.append(self._marks.popleft()[1])
                notify = True
        self._last = (start, n, out.copy())
        if notify and self.notify is not None:
            self.notify()
        return out

    def __repr__(self) -> str:
        return f"LiveInput(queued={self._queued} samples, rate={self.sample_rate})"


class MixFeed:
    """One subscriber's bounded queue of mix blocks (see the module docstring).

    Items are ``(start, block)``: the timeline sample of the block's first sample and int16
    (n,) (a copy: the consumer may keep it). `max_samples` bounds what is queued; beyond it the
    oldest blocks are dropped (`dropped` counts their samples). `loop` is the asyncio loop the
    consumer awaits on (the running one at the first `get`, if not given). `close()` (the row
    is gone, or the consumer unsubscribed) makes `get` return None once the queue is empty.
    """

    def __init__(self, row: str, *, max_samples: int, kind: str = "hears",
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if max_samples <= 0:
            raise ValueError("max_samples must be > 0")
        self.row = row
        self.kind = kind
        self.max_samples = max_samples
        self._loop = loop
        self._lock = threading.Lock()
        self._items: deque[tuple[int, np.ndarray]] = deque()
        self._queued = 0
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.dropped = 0
        self.delivered = 0

    # -- the engine's side ----------------------------------------------------------------------

    def offer(self, start: int, block: np.ndarray) -> None:
        """Queue a copy of `block` (timeline samples from `start`); never blocks."""
        item = (start, np.array(block, dtype=np.int16, copy=True))
        with self._lock:
            if self.closed:
                return
            self._items.append(item)
            self._queued += len(item[1])
            while self._queued > self.max_samples and len(self._items) > 1:
                _, old = self._items.popleft()
                self._queued -= len(old)
                self.dropped += len(old)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._wake(waiter)

    def close(self) -> None:
        """No more blocks: a waiting `get` returns what is left, then None."""
        with self._lock:
            self.closed = True
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._wake(waiter)

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        loop = waiter.get_loop()
        try:
            loop.call_soon_threadsafe(_resolve, waiter)
        except RuntimeError:  # the consumer's loop is closed: nobody to wake
            pass

    # -- the consumer's side --------------------------------------------------------------------

    def get_nowait(self) -> tuple[int, np.ndarray] | None:
        """The oldest queued block, or None if there is none now."""
        with self._lock:
            if not self._items:
                return None
            item = self._items.popleft()
            self._queued -= len(item[1])
            self.delivered += len(item[1])
            return item

    async def get(self) -> tuple[int, np.ndarray] | None:
        """The oldest queued block, waiting for one; None once the feed is closed and empty."""
        loop = self._loop or asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    self._queued -= len(item[1])
                    self.delivered += len(item[1])
                    return item
                if self.closed:
                    return None
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiter = waiter
            await waiter

    @property
    def queued(self) -> int:
        """Samples queued now."""
        with self._lock:
            return self._queued

    def __repr__(self) -> str:
        return f"MixFeed({self.row!r}, {self.kind}, queued={self._queued}, dropped={self.dropped})"


def _resolve(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)
