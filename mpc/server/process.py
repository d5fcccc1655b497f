"""Running `mpcmix serve` outside the command line: as a child process (load scripts, crash tests)
or in a thread of the caller (the pytest plugin, the server tests), and pointing the official
plivo SDK at it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: The plivo SDK's module constants that hold its base URLs (`start()` uses the first).
SDK_BASE_URLS = (
    "PLIVO_API_BASE_URI",
    "API_VOICE_BASE_URI",
    "API_VOICE_BASE_URI_FALLBACK_1",
    "API_VOICE_BASE_URI_FALLBACK_2",
)


@dataclass(frozen=True)
class ServeProcess:
    """A running `mpcmix serve`: the child process and the URL it answers on."""

    process: subprocess.Popen[str]
    url: str
    port: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_process(
    args: Sequence[str],
    *,
    port: int | None = None,
    timeout_s: float = 30.0,
    stop_signal: int = signal.SIGINT,
) -> Iterator[ServeProcess]:
    """Run `mpcmix serve ARGS --host 127.0.0.1 --port PORT` until the block ends.

    Waits until `GET /emulator/health` answers (RuntimeError with the server's stderr if it exits
    or does not answer within `timeout_s`). On leaving, sends `stop_signal` (SIGINT: a clean
    shutdown; SIGKILL: a crash) unless the process already ended, then kills it if it lingers.
    The child's environment drops `MPCMIX_*` variables, so a caller's settings do not leak in.
    """
    import httpx

    port = free_port() if port is None else port
    command = [sys.executable, "-c", "import sys; from mpcmix.cli import main; sys.exit(main())",
               "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPCMIX_")}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{url}/emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.kill()
                err = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"mpcmix serve did not start: {err}")
            time.sleep(0.05)
        yield ServeProcess(process, url, port)
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


@dataclass(frozen=True)
class ThreadedServer:
    """A server running in a thread of this process: its URL, app, and uvicorn handles."""

    url: str
    port: int
    app: Any
    server: Any
    thread: threading.Thread


@contextlib.contextmanager
def serve_in_thread(config: Any, *, timeout_s: float = 15.0) -> Iterator[ThreadedServer]:
    """Serve `config` (a `ServerConfig`) on a free loopback port in a thread until the block ends."""
    import uvicorn

    from .app import build_app

    # proto IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (with proto 0 it
    # does not, and every keep-alive response waits 40 ms for a delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build_app(replace(config, host="127.0.0.1", port=port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("mpcmix serve did not start")
            time.sleep(0.01)
        yield ThreadedServer(f"http://127.0.0.1:{port}", port, app, server, thread)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@contextlib.contextmanager
def sdk_pointed_at(url: str) -> Iterator[None]:
    """Point the plivo SDK's four base-URL constants at the server at `url`; restore them after."""
    import plivo.rest.client as rest_client

    saved = {name: getattr(rest_client, name) for name in SDK_BASE_URLS}
    for name in SDK_BASE_URLS:
        setattr(rest_client, name, f"{url}/v1/Account")
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(rest_client, name, value)
