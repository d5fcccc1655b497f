"""Live ports: real audio into and out of the mix of a running engine.

`LiveHub` is the engine's (``engine.live``). It connects the outside world to the mixing path
with the two thread-safe primitives of `mpcmix.mixer.liveport`, so that the engine's thread (the
real-time ticker, a virtual advance, a request) never waits on a socket:

**A live voice** (audio in). A participant whose line's audio is a live reference
(``live:<tag>``, `mpcmix.model.is_live`) speaks what is pushed into its `LiveInput`. When the
engine first mixes that voice (the participant's call answered), the hub makes its input and calls
``on_open(label, tag, start_ms)``; when the participant leaves the call (exited, or its MPC ended)
it calls ``on_close(label)`` and closes the input. Audio pushed takes effect at the first block the
engine renders after it arrives: on the virtual clock at the current virtual time (push, then
``/emulator/advance``), on the real-time clock at the next tick (20 ms at most, plus the input's
playout delay ``prefill_ms``). To make a live participant, give its number a line whose audio is
``live:<tag>`` (a stream line does; ``model.set_line(number, Line(audio="live:console"))`` does it
at run time) and add a participant dialling that number::

    hub = engine.live                          # runtime.engine.live on the server
    hub.on_open = lambda label, tag, ms: ...   # on the engine's thread: hand off, no I/O (or
                                               # hub.listen(on_open, on_close), for several users)
    port = hub.input(label)                    # the participant's LiveInput once it answered
    port.push(pcm_int16_at_call_rate)          # from any thread (an asyncio handler)
    port.mark("cp1"); ...; port.take_marks()   # checkpoints; port.clear() empties the queue

**A mix feed** (audio out). ``feed = hub.subscribe(row)`` gives a `MixFeed` that receives every
block the engine mixes of listener row `row`: a participant's label (what it hears) or an MPC's
recording row (`CallState.recording_name`: ``recording`` for the first MPC of an engine, else
``recording:<mpc_uuid>``); ``kind="voice"`` gives a participant's own voice as its conference
receives it (silence while it is not in conference). From an asyncio task::

    feed = hub.subscribe(label, max_ms=1000)   # bounded: a slow reader loses the oldest blocks
    while (item := await feed.get()) is not None:
        start_sample, block = item             # int16 at the call's rate, any block length
        ...                                    # re-chunk, encode, send
    hub.unsubscribe(feed)

Blocks are a frame per tick on the real-time clock and up to seconds on a virtual advance; the
feed closes (``get`` gives None) when its row leaves the engine (its MPC ended). Both sides are
safe to call from any thread; everything else of the hub is called by the engine under its
caller's lock (the account's, on the server).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
from mpcmix.mixer.liveport import LiveInput, MixFeed

#: ``on_open(label, tag, start_ms)``: a live voice begins (called on the engine's thread).
OpenHook = Callable[[str, str, int], None]
#: ``on_close(label)``: a live voice ends (its participant left, or its MPC ended).
CloseHook = Callable[[str], None]


class LiveHub:
    """The live inputs and mix feeds of one engine (see the module docstring)."""

    def __init__(self, sample_rate: int, frame_ms: int) -> None:
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.on_open: OpenHook | None = None
        self.on_close: CloseHook | None = None
        self._listeners: list[tuple[OpenHook | None, CloseHook | None]] = []
        #: options of the inputs made from now on (the server's real-time clock sets a playout
        #: delay; the virtual clock none, so bytes are exact)
        self.input_options: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._inputs: dict[str, tuple[str, LiveInput]] = {}  # label -> (tag, input)
        self._feeds: dict[tuple[str, str], list[MixFeed]] = {}  # (kind, row) -> feeds
        self._any_feed = False

    # -- anyone's side (any thread) ---------------------------------------------------------------

    def listen(self, on_open: OpenHook | None = None, on_close: CloseHook | None = None) -> None:
        """Call `on_open` and `on_close` too (besides the `on_open`/`on_close` attributes): each
        user of the hub (the stream lines, the console) adds its own."""
        self._listeners.append((on_open, on_close))

    def input(self, label: str) -> LiveInput | None:
        """The live voice of participant `label`, once its call answered (None otherwise)."""
        with self._lock:
            found = self._inputs.get(label)
        return None if found is None else found[1]

    def inputs(self) -> dict[str, tuple[str, LiveInput]]:
        """Every live voice now: label -> (tag, input)."""
        with self._lock:
            return dict(self._inputs)

    def subscribe(self, row: str, *, kind: str = "hears", max_ms: int = 1000,
                  loop: asyncio.AbstractEventLoop | None = None) -> MixFeed:
        """A feed of row `row` (`kind` ``hears``: what listener `row` hears, a participant's
        label or a recording row; ``voice``: participant `row`'s voice), at most `max_ms` queued."""
        if kind not in ("hears", "voice"):
            raise ValueError(f"kind must be 'hears' or 'voice', not {kind!r}")
        feed = MixFeed(row, kind=kind, max_samples=max(1, max_ms * self.sample_rate // 1000),
                       loop=loop)
        with self._lock:
            self._feeds.setdefault((kind, row), []).append(feed)
            self._any_feed = True
        return feed

    def unsubscribe(self, feed: MixFeed) -> None:
        """Stop feeding `feed` (and close it)."""
        feed.close()
        with self._lock:
            feeds = self._feeds.get((feed.kind, feed.row), [])
            if feed in feeds:
                feeds.remove(feed)
            if not feeds:
                self._feeds.pop((feed.kind, feed.row), None)
            self._any_feed = bool(self._feeds)

    # -- the engine's side ------------------------------------------------------------------------

    @property
    def feeding(self) -> bool:
        """Whether any feed is subscribed (the engine offers blocks only then)."""
        return self._any_feed

    def active(self) -> bool:
        """Whether any live voice or feed exists (nothing to keep in step otherwise)."""
        return bool(self._inputs) or self._any_feed

    def voice(self, label: str, tag: str, start_ms: int, **options: Any) -> LiveInput:
        """The input of participant `label`'s live voice, made (and announced) on first use;
        `options` (LiveInput's) over `input_options` for this input (the console's microphone
        asks for a playout delay on the real-time clock)."""
        with self._lock:
            found = self._inputs.get(label)
            if found is not None:
                return found[1]
            port = LiveInput(self.sample_rate, **(self.input_options | options))
            self._inputs[label] = (tag, port)
        for hook in [self.on_open, *(opened for opened, _ in self._listeners)]:
            if hook is not None:
                hook(label, tag, start_ms)
        return port

    def keep(self, present: Collection[str], rows: Collection[str]) -> None:
        """Close the inputs of participants not in `present` (left their call) and the feeds
        of rows not in `rows` (their MPC ended)."""
        with self._lock:
            gone = [label for label in self._inputs if label not in present]
            ended = [key for key in self._feeds if key[1] not in rows] if self._feeds else []
            closed = [self._inputs.pop(label) for label in gone]
            feeds = [f for key in ended for f in self._feeds.pop(key)]
            self._any_feed = bool(self._feeds)
        for _, port in closed:
            port.close()
        for feed in feeds:
            feed.close()
        for hook in [self.on_close, *(closed for _, closed in self._listeners)]:
            if hook is not None:
                for label in gone:
                    hook(label)

    def deliver(self, start: int, rows: Mapping[str, np.ndarray],
                voice: Callable[[str], np.ndarray]) -> None:
        """Offer each subscribed row's block (from timeline sample `start`) to its feeds."""
        if not self._any_feed:
            return
        with self._lock:
            wanted = [(key, list(feeds)) for key, feeds in self._feeds.items()]
        for (kind, row), feeds in wanted:
            block = voice(row) if kind == "voice" else rows.get(row)
            if block is None:
                continue
            for feed in feeds:
                feed.offer(start, block)

    def close(self) -> None:
        """Close every input and feed (the engine closes)."""
        self.keep((), ())
