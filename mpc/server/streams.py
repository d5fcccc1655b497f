"""Audio streams on the server: stream lines and the Audio Stream API, on their own loop.

`StreamManager` owns one thread running an asyncio loop, where every stream's WebSocket lives
(`mpcmix.live.StreamSession`): nothing of a stream runs on the ticker or a request's thread
except handing work to that loop. It listens to each account's `LiveHub`:

- a stream line's participant answers (its live voice ``live:stream:<number>`` opens): a stream
  starts to the line's URL, sending the mix the participant hears as its ``inbound`` track, and,
  bidirectional, taking its ``playAudio`` as the participant's voice;
- the Audio Stream API (`start`/`get`/`list`/`stop` on a participant's ``call_uuid``): a stream
  of the participant's voice (``inbound``: what the provider receives from the call), of the mix
  it hears (``outbound``: what it sends to the call), or both; `stop` ends it;
- a participant leaves, or its MPC ends: its streams end (``stop`` then close; StopStream).

Each stream's status callbacks (StartStream, StopStream, DroppedStream) go to its
``status_callback_url`` through the account's callbacks (and its event log, URL or not).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import random
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.live import StreamSpec, stream_spec
from mpcmix.live.session import StreamSession
from mpcmix.mixer.liveport import MixFeed
from mpcmix.scenario import STREAM_TAG

from .callbacks import new_nonce, sign_v3
from .config import ServerConfig, default_epoch
from .runtime import AccountRuntime

log = logging.getLogger("mpcmix.server")

#: How much of a mix a stream's feed holds for a slow stream server (then the oldest is dropped).
REALTIME_FEED_MS = 1000
#: On the virtual clock an advance renders its whole span at once: a feed holds up to this.
VIRTUAL_FEED_MS = 120_000
#: The interpreter's thread switch interval once a stream runs (seconds): the ticker shares the
#: GIL with the stream thread, which holds it up to the switch interval (5 ms by default) before
#: a ticker woken for its frame gets it; 1 ms bounds that wait. Restored when the server stops.
SWITCH_INTERVAL_S = 0.001
#: Ended streams kept for the API's Get and List (older ones are forgotten).
KEEP_ENDED = 1000
_LINE_TAG = STREAM_TAG.split(":", 1)[1]  # "stream:" (a hub's tags come without "live:")


def signed_upgrade(url: str, runtime: AccountRuntime) -> dict[str, str]:
    """The headers the WebSocket upgrade request carries: signed as a GET callback to the URL
    (http for ws, https for wss) is, so a stream server can check it came from the account
    (X-Plivo-Signature-V3 with the account's token, -Ma-V3 with its main account's, the nonce)."""
    uri = "http" + url[2:] if url.startswith("ws") else url
    nonce = new_nonce()
    return {"X-Plivo-Signature-V3-Nonce": nonce,
            "X-Plivo-Signature-V3": sign_v3("GET", uri, {}, nonce, runtime.account.auth_token),
            "X-Plivo-Signature-Ma-V3": sign_v3("GET", uri, {}, nonce, runtime.main_auth_token)}


class StreamRecord:
    """One stream, as the Audio Stream API shows it, with its session."""

    def __init__(self, runtime: AccountRuntime, session: StreamSession, label: str,
                 origin: str, created_ms: int) -> None:
        self.runtime = runtime
        self.session = session
        self.label = label
        self.origin = origin  # "line" or "api"
        self.created_ms = created_ms
        self.start_ms: int | None = None
        self.end_ms: int | None = None

    def api_object(self) -> dict[str, Any]:
        """The stream object of the Audio Stream API (Get, List)."""
        spec = self.session.spec
        model = self.runtime.model
        auth_id = self.runtime.account.auth_id
        start = self.start_ms if self.start_ms is not None else self.created_ms
        duration = 0 if self.end_ms is None else max(0, (self.end_ms - start) // 1000)
        return {
            "audio_track": spec.audio_track,
            "bidirectional": spec.bidirectional,
            "bill_duration": duration,
            "billed_amount": "0.00000",
            "call_uuid": self.session.call_id,
            "created_at": model.timestamp(self.created_ms),
            "end_time": None if self.end_ms is None else model.timestamp(self.end_ms),
            "plivo_auth_id": auth_id,
            "resource_uri": f"/v1/Account/{auth_id}/Call/{self.session.call_id}/Stream/"
                            f"{self.session.stream_id}/",
            "rounded_bill_duration": -(-duration // 60) * 60,
            "service_url": spec.url,
            "start_time": None if self.start_ms is None else model.timestamp(self.start_ms),
            "status": self.session.state,
            "stream_id": self.session.stream_id,
        }


class StreamManager:
    """Every stream of a server (see the module docstring)."""

    def __init__(self, config: ServerConfig, runtimes: dict[str, AccountRuntime], *,
                 realtime: bool) -> None:
        self.config = config
        self.runtimes = runtimes
        self.realtime = realtime
        self.feed_ms = REALTIME_FEED_MS if realtime else VIRTUAL_FEED_MS
        epoch = config.epoch or default_epoch()
        self.epoch_ms = int(epoch.astimezone(UTC).timestamp() * 1000) if epoch.tzinfo else \
            int(epoch.replace(tzinfo=UTC).timestamp() * 1000)
        self._lock = threading.Lock()
        self._records: dict[str, StreamRecord] = {}
        self._ids = random.Random(f"streams:{config.seed}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[concurrent.futures.Future[Any]] = set()
        #: seconds between connection attempts (the provider retries twice)
        self.connect_retry_s = 1.0
        self._switch_interval: float | None = None  # the interpreter's, before the first stream
        for runtime in runtimes.values():
            runtime.engine.live.listen(functools.partial(self._on_open, runtime),
                                       functools.partial(self._on_close, runtime))

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="mpcmix-streams", daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self) -> None:
        """End every stream (StopStream, reason "server stopped") and the loop."""
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            records = list(self._records.values())
        for record in records:
            record.session.request_stop("server stopped")
        pending = [t for t in list(self._tasks) if not t.done()]
        if pending:
            concurrent.futures.wait(pending, timeout=3.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)

    # -- the hubs' hooks (on an engine's thread, its account's lock held: hand off only) ----------

    def _on_open(self, runtime: AccountRuntime, label: str, tag: str, start_ms: int) -> None:
        if not tag.startswith(_LINE_TAG):
            return  # another user's live voice (the console's microphone)
        number = tag[len(_LINE_TAG):]
        line = self.config.lines.get(number)
        if line is None or line.stream is None:
            log.warning("account %s: live voice %r names no stream line", runtime.account.auth_id,
                        tag)
            return
        hub = runtime.engine.live
        feed = hub.subscribe(label, kind="hears", max_ms=self.feed_ms)
        self._start(runtime, label, runtime.model.call_uuid_of(label), line.stream,
                    {"inbound": feed}, origin="line", created_ms=start_ms)

    def _on_close(self, runtime: AccountRuntime, label: str) -> None:
        with self._lock:
            records = [r for r in self._records.values()
                       if r.runtime is runtime and r.label == label and r.end_ms is None]
        for record in records:
            record.session.request_stop("call hangup")

    # -- streams -------------------------------------------------------------------------------

    def _start(self, runtime: AccountRuntime, label: str, call_uuid: str, spec: StreamSpec,
               feeds: dict[str, MixFeed], *, origin: str, created_ms: int) -> StreamRecord:
        hub = runtime.engine.live
        stream_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        holder: list[StreamRecord] = []

        def release() -> None:
            for feed in feeds.values():
                hub.unsubscribe(feed)

        def on_status(event: str, params: dict[str, str]) -> None:
            self._status(holder[0], event, params)

        session = StreamSession(
            spec, stream_id=stream_id, call_id=call_uuid, account_id=runtime.account.auth_id,
            call_rate=self.config.sample_rate, epoch_ms=self.epoch_ms, feeds=feeds,
            port=hub.input(label) if spec.bidirectional and origin == "line" else None,
            on_status=on_status, release=release, retry_s=self.connect_retry_s,
            headers=functools.partial(signed_upgrade, spec.url, runtime))
        record = StreamRecord(runtime, session, label, origin, created_ms)
        holder.append(record)
        with self._lock:
            self._records[stream_id] = record
        loop = self._loop
        if loop is None:
            release()
            raise ValidationError("the server's stream loop is not running")
        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))
        task = asyncio.run_coroutine_threadsafe(session.run(), loop)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    def _status(self, record: StreamRecord, event: str, params: dict[str, str]) -> None:
        """A stream status callback (on the stream loop)."""
        runtime = record.runtime
        now = runtime.clock.now_ms()
        if event == "StartStream":
            record.start_ms = now
        else:
            record.end_ms = now
            with self._lock:  # a long-running server keeps the last KEEP_ENDED ended streams
                ended = [k for k, r in self._records.items() if r.end_ms is not None]
                for key in ended[:max(0, len(ended) - KEEP_ENDED)]:
                    del self._records[key]
        session = record.session
        spec = session.spec
        body = {"Event": event, "StreamID": session.stream_id, "CallUUID": session.call_id,
                "ServiceURL": spec.url, "AudioTrack": spec.audio_track,
                "Bidirectional": str(spec.bidirectional).lower(),
                "ContentType": spec.content_type, "Timestamp": runtime.model.timestamp(now),
                **params}
        try:
            runtime.stream_status(event, body, spec.status_callback_url,
                                  spec.status_callback_method)
        except Exception:
            log.exception("stream %s: its %s callback failed", session.stream_id, event)

    # -- the Audio Stream API ----------------------------------------------------------------------

    def api_start(self, runtime: AccountRuntime, call_uuid: str, args: dict[str, Any]
                  ) -> dict[str, Any]:
        spec = stream_spec(args, where="stream", url_key="service_url", strict=False)
        with runtime.lock:
            label = runtime.model.answered_call_label(call_uuid)
            with self._lock:
                busy = [r for r in self._records.values() if r.session.spec.url == spec.url
                        and r.session.call_id == call_uuid and r.end_ms is None]
            if busy:
                raise ValidationError(f"an active stream of call {call_uuid!r} already goes to "
                                      f"{spec.url}")
            hub = runtime.engine.live
            feeds = {}
            if spec.audio_track in ("inbound", "both"):
                feeds["inbound"] = hub.subscribe(label, kind="voice", max_ms=self.feed_ms)
            if spec.audio_track in ("outbound", "both"):
                feeds["outbound"] = hub.subscribe(label, kind="hears", max_ms=self.feed_ms)
            record = self._start(runtime, label, call_uuid, spec, feeds, origin="api",
                                 created_ms=runtime.engine.now_ms)
        return {"api_id": runtime.model.new_api_id(), "message": "audio streaming started",
                "stream_id": record.session.stream_id}

    def _records_of(self, runtime: AccountRuntime, call_uuid: str) -> list[StreamRecord]:
        with runtime.lock:
            if not runtime.model.has_call(call_uuid):
                raise NotFoundError(f"no call with call_uuid {call_uuid!r}")
        with self._lock:
            return [r for r in self._records.values()
                    if r.runtime is runtime and r.session.call_id == call_uuid]

    def api_get(self, runtime: AccountRuntime, call_uuid: str, stream_id: str) -> dict[str, Any]:
        for record in self._records_of(runtime, call_uuid):
            if record.session.stream_id == stream_id:
                return {"api_id": runtime.model.new_api_id(), **record.api_object()}
        raise NotFoundError(f"no stream {stream_id!r} on call {call_uuid!r}")

    def api_list(self, runtime: AccountRuntime, call_uuid: str) -> dict[str, Any]:
        objects = [r.api_object() for r in self._records_of(runtime, call_uuid)]
        return {"api_id": runtime.model.new_api_id(),
                "meta": {"count": len(objects), "limit": 20, "next": None, "offset": 0,
                         "previous": None, "total_count": len(objects)},
                "objects": objects[:20]}

    def api_stop(self, runtime: AccountRuntime, call_uuid: str, stream_id: str | None) -> None:
        records = [r for r in self._records_of(runtime, call_uuid)
                   if (stream_id is None or r.session.stream_id == stream_id)]
        if stream_id is not None and not records:
            raise NotFoundError(f"no stream {stream_id!r} on call {call_uuid!r}")
        for record in records:
            record.session.request_stop("api request")

    def describe(self, runtime: AccountRuntime | None = None) -> list[dict[str, Any]]:
        """Every stream (of `runtime`'s account), its state and counters (/emulator/streams)."""
        with self._lock:
            records = [r for r in self._records.values() if runtime is None or r.runtime is runtime]
        return [{**r.session.describe(), "label": r.label, "origin": r.origin} for r in records]

    def summary(self) -> dict[str, int]:
        """How many streams there are by state, and the audio their feeds dropped (samples)."""
        with self._lock:
            sessions = [r.session for r in self._records.values()]
        out = {"connecting": 0, "streaming": 0, "stopped": 0, "dropped": 0}
        for session in sessions:
            out[session.state] = out.get(session.state, 0) + 1
        out["dropped_samples"] = sum(f.dropped for s in sessions for f in s.feeds.values())
        return out

    def call_later(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on the stream loop (tests and the console)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

