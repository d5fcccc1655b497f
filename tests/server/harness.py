"""A real mpcmix server on a loopback port, the real plivo SDK pointed at it, a callback receiver.

Shared by the server tests (imported by conftest.py). Nothing here is mocked: uvicorn serves the
FastAPI app from `build_app` in a background thread, on a socket bound before it starts.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn
from mpcmix.server.config import Account, ServerConfig
from mpcmix.server.process import serve_in_thread

MAIN = Account("MAMPCMIXTESTMAIN0001", "token-main-0001-abcdefghijklmnopqrstuvwx")
SUB = Account("SAMPCMIXTESTSUB00001", "token-sub-0001-abcdefghijklmnopqrstuvwxy", parent=MAIN.auth_id)
OTHER = Account("MAMPCMIXTESTOTHER001", "token-other-001-abcdefghijklmnopqrstuvwx")
ACCOUNTS = (MAIN, SUB, OTHER)



@dataclass
class RunningServer:
    """A server started by `serve`: its URL, its app state, and an httpx client per account."""

    url: str
    app: Any
    thread: threading.Thread
    server: uvicorn.Server

    @property
    def state(self) -> Any:
        return self.app.state.mpcmix

    def http(self, account: Account | None = MAIN) -> httpx.Client:
        auth = (account.auth_id, account.auth_token) if account is not None else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=10)

    def advance(self, seconds: float, account: Account = MAIN) -> dict[str, Any]:
        with self.http(account) as client:
            response = client.post("/emulator/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text
        return response.json()

    def events(self, account: Account = MAIN, **query: Any) -> list[dict[str, Any]]:
        with self.http(account) as client:
            response = client.get("/emulator/events", params=query)
        assert response.status_code == 200, response.text
        return response.json()["events"]

    def wait_callbacks_idle(self, timeout_s: float = 10) -> None:
        assert self.state.dispatcher.wait_idle(timeout_s), "callbacks still pending"


@contextlib.contextmanager
def serve(config: ServerConfig) -> Iterator[RunningServer]:
    """Run `config` on a free loopback port until the block ends."""
    with serve_in_thread(config, timeout_s=10) as served:
        yield RunningServer(served.url, served.app, served.thread, served.server)



@dataclass
class Received:
    """One request the callback receiver got."""

    method: str
    url: str  # as the sender addressed it: http://127.0.0.1:PORT/path?query
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class CallbackReceiver:
    """A tiny HTTP server recording every callback; `fail_first` answers 503 that many times."""

    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                split = urlsplit(self.path)
                params = dict(parse_qsl(body, keep_blank_values=True))
                if self.command == "GET":
                    params = dict(parse_qsl(split.query, keep_blank_values=True))
                with receiver._lock:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                    else:
                        receiver.received.append(Received(
                            self.command, f"{receiver.url}{self.path}", split.path,
                            {k: v for k, v in self.headers.items()}, params))
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(self, predicate: Any, timeout_s: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = [r for r in self.snapshot() if predicate(r)]
            if got:
                return got
            time.sleep(0.02)
        raise AssertionError("no matching callback arrived; got: "
                             + json.dumps([r.params for r in self.snapshot()])[:2000])


def write_media(root: Path) -> None:
    """Media under the root: a short tone, the fixture voices if present, a symlink leading out."""
    import numpy as np
    import soundfile as sf

    (root / "media.example.com" / "audio").mkdir(parents=True, exist_ok=True)
    t = np.arange(16000) / 16000
    tone = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    sf.write(root / "media.example.com" / "audio" / "tone.wav", tone, 16000, subtype="PCM_16")
    sf.write(root / "tone.wav", tone, 16000, subtype="PCM_16")
