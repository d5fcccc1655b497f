"""One audio stream: the provider's side of a WebSocket to the application's stream server.

`StreamSession.run()` (a coroutine, on the stream thread's asyncio loop, never on the mixing
path) connects to the stream's URL (three attempts a second apart, as the provider retries
twice), sends ``start``, then a ``media`` event for every 20 ms of each track's `MixFeed`
(resampled to the stream's rate, encoded, base64; the timestamp is the chunk's time on the
call's clock), and reads the application's events: a bidirectional stream's ``playAudio`` is
decoded, resampled to the call's rate and pushed into the participant's `LiveInput`;
``checkpoint`` marks it (``playedStream`` once played); ``clearAudio`` empties it
(``clearedAudio``). Garbage is counted and ignored. The stream ends when its feeds end (the
call left, the stream stopped or timed out: the audio queued so far is sent, then ``stop`` and
a close; status ``StopStream``) or when the application goes away or never answers (status
``DroppedStream``; the participant goes on, silent). A slow or stuck application only loses the
oldest audio of its bounded feeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from mpcmix.mixer.liveport import LiveInput, MixFeed

from .codec import Resampler, encode
from .protocol import (
    CHUNK_MS,
    DROPPED_STREAM,
    START_STREAM,
    STOP_STREAM,
    StreamSpec,
    cleared_audio_event,
    media_event,
    played_stream_event,
    read_incoming,
    start_event,
    stop_event,
)

log = logging.getLogger("mpcmix.live")

#: How long a stream that was asked to stop may take to send what is queued.
DRAIN_S = 2.0

#: ``on_status(event, params)``: a stream status callback is due (StartStream, StopStream,
#: DroppedStream); `params` adds what the event knows (``Error``, ``Reason``).
StatusHook = Callable[[str, dict[str, str]], None]


class StreamSession:
    """The provider's side of one stream (see the module docstring).

    `feeds` maps each track (``inbound``, ``outbound``) to the feed whose blocks it sends;
    `port` is the participant's live voice (a bidirectional stream's playAudio), or None;
    `release()` is called once, when the stream ends, to unsubscribe the feeds (from any
    thread); `epoch_ms` is the Unix time, in ms, of the call clock's 0; `headers()` gives the
    upgrade request's extra headers (the provider's signature), for each attempt.
    """

    def __init__(self, spec: StreamSpec, *, stream_id: str, call_id: str, account_id: str,
                 call_rate: int, epoch_ms: int, feeds: Mapping[str, MixFeed],
                 port: LiveInput | None, on_status: StatusHook,
                 release: Callable[[], None], connect_attempts: int = 3,
                 retry_s: float = 1.0, open_timeout_s: float = 5.0,
                 headers: Callable[[], dict[str, str]] | None = None) -> None:
        self.spec = spec
        self.stream_id = stream_id
        self.call_id = call_id
        self.account_id = account_id
        self.call_rate = call_rate
        self.epoch_ms = epoch_ms
        self.feeds = dict(feeds)
        self.port = port
        self.on_status = on_status
        self._release = release
        self.connect_attempts = connect_attempts
        self.retry_s = retry_s
        self.open_timeout_s = open_timeout_s
        self.headers = headers  # the upgrade request's extra headers, made for each attempt
        self.state = "connecting"
        self.reason: str | None = None
        self.stats: dict[str, int] = {"media_sent": 0, "play_audio": 0, "pushed_samples": 0,
                                      "overflow_samples": 0, "checkpoints": 0, "played": 0,
                                      "cleared": 0, "invalid": 0, "ignored": 0}
        self.first_ms: int | None = None  # call time of the first chunk sent
        self.last_ms: int | None = None  # call time just after the last chunk sent
        self._seq = 0
        self._chunks = dict.fromkeys(self.feeds, 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: Any = None
        self._released = False
        self._marks = asyncio.Event()
        self._stopping = asyncio.Event()
        self._invalid_logged = False

    # -- any thread ------------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """End the stream (the audio queued so far is still sent, for `DRAIN_S` at most):
        thread-safe."""
        if self.reason is None:
            self.reason = reason
        self._release_feeds()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop just closed
                pass

    def _release_feeds(self) -> None:
        if not self._released:
            self._released = True
            self._release()

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, stream until the end, close; never raises."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._run()
        except Exception as exc:  # a stream's failure must not reach the loop
            log.exception("stream %s failed", self.stream_id)
            self._end(DROPPED_STREAM, {"Error": f"internal error: {exc!r}"})

    async def _run(self) -> None:
        ws = await self._connect()
        if ws is None:
            return
        self._ws = ws
        self.state = "streaming"
        if self.port is not None:
            loop = self._loop
            assert loop is not None
            marks = self._marks

            def wake() -> None:
                loop.call_soon_threadsafe(marks.set)

            self.port.notify = wake
        await self._send(start_event(self._next(), call_id=self.call_id,
                                     stream_id=self.stream_id, account_id=self.account_id,
                                     spec=self.spec))
        senders: asyncio.Future[Any] = asyncio.gather(
            *(self._send_track(track, feed) for track, feed in self.feeds.items()))
        senders.add_done_callback(_retrieve)
        receiver: asyncio.Future[Any] = asyncio.ensure_future(self._receive())
        receiver.add_done_callback(_retrieve)
        acks = asyncio.ensure_future(self._send_marks())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([senders, receiver, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not senders.done() and not receiver.done():  # asked to stop: send what is queued
                await asyncio.wait([senders, receiver], timeout=DRAIN_S,
                                   return_when=asyncio.FIRST_COMPLETED)
                if not senders.done() and not receiver.done():  # a peer that does not read
                    senders.cancel()
                    self._end(STOP_STREAM, {"Reason": self.reason or "call hangup"})
                    return
            if receiver.done():  # the application went away
                self._release_feeds()
                senders.cancel()
                self._end(DROPPED_STREAM, {"Error": "the WebSocket connection was closed by the "
                                                    "stream server"})
                return
            try:
                await asyncio.wait_for(self._send(stop_event(
                    self._next(), stream_id=self.stream_id, reason=self.reason or "call hangup")),
                    DRAIN_S)
            except TimeoutError:
                pass  # a peer that does not read: it is closed all the same
            self._end(STOP_STREAM, {"Reason": self.reason or "call hangup"})
        finally:
            stopping.cancel()
            acks.cancel()
            receiver.cancel()
            if self.port is not None:
                self.port.notify = None
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except Exception:  # a peer that never reads: the close times out; it is gone anyway
                pass

    async def _connect(self) -> Any:
        from websockets.asyncio.client import connect

        problem = ""
        for attempt in range(self.connect_attempts):
            if self._released:
                self._end(STOP_STREAM, {"Reason": self.reason or "call hangup"})
                return None
            if attempt:
                await asyncio.sleep(self.retry_s)
            try:
                return await connect(self.spec.url, open_timeout=self.open_timeout_s,
                                     compression=None, ping_interval=None, close_timeout=1.0,
                                     max_size=1 << 22, max_queue=64,
                                     additional_headers=self.headers() if self.headers else None)
            except Exception as exc:  # refused, no such host, a bad handshake, a timeout
                problem = f"{type(exc).__name__}: {exc}"
        self._release_feeds()
        self._end(DROPPED_STREAM, {"Error": f"could not connect to {self.spec.url} "
                                            f"({self.connect_attempts} attempts): {problem}"})
        return None

    def _end(self, event: str, params: dict[str, str]) -> None:
        self.state = "stopped" if event == STOP_STREAM else "dropped"
        self.on_status(event, params)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    async def _send(self, text: str) -> None:
        await self._ws.send(text)

    async def _send_track(self, track: str, feed: MixFeed) -> None:
        rate = self.spec.sample_rate
        chunk = rate * CHUNK_MS // 1000
        timeout_ms = self.spec.stream_timeout_s * 1000
        resampler = Resampler(self.call_rate, rate)
        carry = np.zeros(0, np.int16)
        carry_ms = 0
        expected: int | None = None
        while (item := await feed.get()) is not None:
            start, block = item
            if start != expected:  # the first block, or blocks were dropped: start afresh
                resampler = Resampler(self.call_rate, rate)
                carry = np.zeros(0, np.int16)
                carry_ms = start * 1000 // self.call_rate
            expected = start + len(block)
            converted = resampler(block) if not resampler.identity else block
            carry = converted if not len(carry) else np.concatenate([carry, converted])
            while len(carry) >= chunk:
                if self.first_ms is None:
                    self.first_ms = carry_ms
                if carry_ms - self.first_ms >= timeout_ms:
                    self.request_stop("stream timeout")
                    return
                payload = encode(carry[:chunk], self.spec.encoding)
                carry = carry[chunk:]
                self._chunks[track] += 1
                await self._send(media_event(
                    self._next(), stream_id=self.stream_id, track=track,
                    timestamp_ms=self.epoch_ms + carry_ms, chunk=self._chunks[track],
                    payload=payload, extra_headers=self.spec.extra_headers))
                self.stats["media_sent"] += 1
                if self.stats["media_sent"] == 1:
                    self.on_status(START_STREAM, {})
                carry_ms += CHUNK_MS
                self.last_ms = carry_ms

    async def _receive(self) -> None:
        from websockets.exceptions import ConnectionClosed

        resamplers: dict[int, Resampler] = {}
        try:
            async for message in self._ws:
                incoming = read_incoming(message)
                if incoming.kind == "invalid":
                    self.stats["invalid"] += 1
                    if not self._invalid_logged:
                        self._invalid_logged = True
                        log.warning("stream %s: ignored an event from the stream server (%s)",
                                    self.stream_id, incoming.problem)
                elif self.port is None or not self.spec.bidirectional:
                    self.stats["ignored"] += 1  # a one-way stream: the application only listens
                elif incoming.kind == "playAudio":
                    assert incoming.pcm is not None
                    resampler = resamplers.setdefault(incoming.rate,
                                                      Resampler(incoming.rate, self.call_rate))
                    pcm = resampler(incoming.pcm)
                    self.stats["play_audio"] += 1
                    if self.port.push(pcm):
                        self.stats["pushed_samples"] += len(pcm)
                    else:
                        self.stats["overflow_samples"] += len(pcm)
                elif incoming.kind == "checkpoint":
                    self.stats["checkpoints"] += 1
                    self.port.mark(incoming.name)
                elif incoming.kind == "clearAudio":
                    self.port.clear()  # its checkpoints are not played: no playedStream
                    self.stats["cleared"] += 1
                    await self._send(cleared_audio_event(self._next(), stream_id=self.stream_id))
        except ConnectionClosed:
            pass

    async def _send_marks(self) -> None:
        while True:
            await self._marks.wait()
            self._marks.clear()
            if self.port is None:
                continue
            for name in self.port.take_marks():
                self.stats["played"] += 1
                await self._send(played_stream_event(self._next(), stream_id=self.stream_id,
                                                     name=name))

    def describe(self) -> dict[str, Any]:
        """The stream's state and counters (the emulator's /emulator/streams)."""
        return {"stream_id": self.stream_id, "call_uuid": self.call_id, "url": self.spec.url,
                "state": self.state, "reason": self.reason, "tracks": self.spec.tracks,
                "content_type": self.spec.content_type,
                "bidirectional": self.spec.bidirectional, **self.stats,
                "dropped_samples": sum(f.dropped for f in self.feeds.values()),
                "queued_ms": self.port.queued_ms if self.port is not None else 0}


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Take a finished task's outcome (a cancelled or failed one is not reported as lost)."""
    if future.cancelled():
        return
    problem = future.exception()
    if problem is not None and not isinstance(problem, asyncio.CancelledError):
        log.warning("a stream task failed: %r", problem)
