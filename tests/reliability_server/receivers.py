"""Callback receivers that misbehave: slow, failing with 500, or failing the first N attempts.

Each records every attempt it was sent (including the ones it failed), with the headers, so a test
can check signatures on retries, order and duplicates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from plivo.utils.signature_v3 import validate_v3_signature


@dataclass
class Attempt:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]
    status: int
    at: float

    def is_signed_by(self, token: str) -> bool:
        return bool(validate_v3_signature(
            self.method, self.url, self.headers["X-Plivo-Signature-V3-Nonce"], token,
            self.headers["X-Plivo-Signature-V3"], dict(self.params)))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.params.get("MPCUUID", ""), self.params.get("SequenceNumber", ""),
                self.params.get("EventName", ""))


@dataclass
class Receiver:
    """`status` answered to every request after the first `fail_first` (which get 500);
    `delay_s` waited before answering."""

    status: int = 200
    fail_first: int = 0
    delay_s: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                split = urlsplit(self.path)
                query = split.query if self.command == "GET" else body
                params = dict(parse_qsl(query, keep_blank_values=True))
                with receiver._lock:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                status = 500 if failing else receiver.status
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    receiver.attempts.append(Attempt(
                        self.command, f"{receiver.url}{self.path}", split.path,
                        dict(self.headers.items()), params, status, time.monotonic()))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def delivered(self) -> list[Attempt]:
        return [a for a in self.snapshot() if 200 <= a.status < 300]
