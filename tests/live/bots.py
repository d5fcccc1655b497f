"""A test stream server (a bot): a real `websockets` server on loopback, in its own thread.

It records every event the emulator sends, and sends what a test asks (playAudio, checkpoint,
clearAudio, garbage) on the latest connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from mpcmix.live.codec import ulaw_decode, ulaw_encode
from websockets.asyncio.server import ServerConnection, serve


def url_at(port: int) -> str:
    return f"ws://127.0.0.1:{port}/bot"


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bot:
    """A stream server at ``ws://127.0.0.1:<port>/bot`` (see the module docstring)."""

    def __init__(self, *, read: bool = True, port: int = 0) -> None:
        self.read = read  # False: never reads its socket (a stuck bot)
        self.port = port
        self.events: list[dict[str, Any]] = []
        self.upgrades: list[tuple[str, dict[str, str]]] = []  # (path, headers) of each connect
        self.connections = 0
        self._ws: ServerConnection | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", self.port, compression=None,
                         close_timeout=0.5) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self._ws = ws
        if ws.request is not None:
            self.upgrades.append((ws.request.path, dict(ws.request.headers)))
        if not self.read:
            assert self._stop is not None
            await asyncio.shield(self._stop)  # until the bot closes: never reads
            return
        try:
            async for message in ws:
                self.events.append(json.loads(message))
        except Exception:
            pass

    @property
    def url(self) -> str:
        return url_at(self.port)

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def hang_up(self) -> None:
        """Close the current connection (the bot goes away mid-call)."""
        ws = self._ws
        assert ws is not None
        asyncio.run_coroutine_threadsafe(ws.close(), self._loop).result(5)

    def send(self, obj: Any) -> None:
        ws = self._ws
        assert ws is not None
        text = obj if isinstance(obj, str) else json.dumps(obj)
        asyncio.run_coroutine_threadsafe(ws.send(text), self._loop).result(5)

    def play(self, pcm: np.ndarray) -> bytes:
        """Send `pcm` (int16 at 8 kHz) as a μ-law playAudio; the bytes sent."""
        data = ulaw_encode(pcm)
        self.send({"event": "playAudio", "media": {"contentType": "audio/x-mulaw",
                                                   "sampleRate": 8000,
                                                   "payload": base64.b64encode(data).decode()}})
        return data

    def media(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "media"]

    def heard(self, track: str = "inbound") -> np.ndarray:
        """Every media payload of `track` received, decoded from μ-law, in order."""
        return np.concatenate([ulaw_decode(base64.b64decode(e["media"]["payload"]))
                               for e in self.media() if e["media"]["track"] == track]
                              or [np.zeros(0, np.int16)])

    def wait_for(self, what: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            time.sleep(0.01)
        raise AssertionError(f"bot: timed out waiting ({len(self.events)} events so far)")
