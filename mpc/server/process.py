"""`mpcmix serve` as a child process: for load scripts, crash tests and anyone driving a real
server from outside (the pytest plugin runs one in a thread instead)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


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
