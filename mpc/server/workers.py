"""Running ``mpcmix serve --workers N``: N shard processes on loopback and the front before them
(front.py), or a front alone before shards started elsewhere (``--shard-urls``). Where each shard
keeps its data, and the folder's worker count: shards.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .config import ConfigError, ServerConfig, default_epoch
from .shards import check_workers


def shard_argv(argv: Sequence[str], shard: int, workers: int, port: int, data_dir: Path, public_url: str,
               epoch: str, account: str | None) -> list[str]:
    """`mpcmix serve` arguments of shard `shard`: the front's own (later options win), then its
    shard, port, folder, the front's URL for links, the front's epoch (one time line for all), and
    the front's generated account (each shard must accept the same)."""
    out = [*argv, "--workers", str(workers), "--shard", str(shard), "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(data_dir), "--public-url", public_url, "--epoch", epoch]
    if account is not None:
        out += ["--account", account]
    return out


def serve_workers(config: ServerConfig, argv: Sequence[str]) -> int:
    """`mpcmix serve --workers N` (N > 1): start N shard processes on loopback, wait until each
    answers, then serve the front on the configured address until stopped; stop the shards.
    Returns the exit status (2, with the message on stderr, for a folder that cannot be used)."""
    import uvicorn

    from .folderlock import FolderLock
    from .front import build_front
    from .process import free_port

    data_dir = config.data_dir or Path(tempfile.mkdtemp(prefix="mpcmix-serve-"))
    lock = FolderLock(data_dir, what="mpcmix serve --workers")
    try:
        lock.acquire()
        check_workers(data_dir, config.workers)
    except ConfigError as exc:
        print(f"mpcmix serve: error: {exc}", file=sys.stderr)
        lock.release()
        return 2
    epoch = (config.epoch or default_epoch()).isoformat(sep=" ")
    account = None
    if config.generated_account:
        account = f"{config.accounts[0].auth_id}:{config.accounts[0].auth_token}"
    ports = [free_port() for _ in range(config.workers)]
    env = {k: v for k, v in os.environ.items() if k not in ("MPCMIX_WORKERS", "MPCMIX_SHARD_URLS")}
    children = [
        subprocess.Popen([sys.executable, "-m", "mpcmix.cli", "serve",
                          *shard_argv(argv, k, config.workers, port, data_dir, config.base_url(), epoch, account)],
                         stdout=subprocess.DEVNULL, env=env, preexec_fn=_end_with_parent)
        for k, port in enumerate(ports)]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for k, (child, url) in enumerate(zip(children, urls, strict=True)):
            if not _wait_healthy(child, url):
                print(f"mpcmix serve: error: shard {k} did not start (exit status {child.poll()}; its "
                      "messages are above)", file=sys.stderr)
                return 2
        print(banner(config, str(data_dir), urls), flush=True)
        uvicorn.run(build_front(urls, max_body_bytes=config.max_body_bytes), host=config.host, port=config.port,
                    log_level=config.log_level, access_log=config.log_level == "debug")
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        lock.release()


def serve_front(config: ServerConfig) -> int:
    """`mpcmix serve --shard-urls URL,...`: the front alone, forwarding to shards started
    elsewhere (each with ``--shard K --workers N``)."""
    import uvicorn

    from .front import build_front

    print(banner(config, "(on the shards)", list(config.shard_urls), accounts=False), flush=True)
    uvicorn.run(build_front(config.shard_urls, max_body_bytes=config.max_body_bytes), host=config.host,
                port=config.port, log_level=config.log_level, access_log=config.log_level == "debug")
    return 0


def banner(config: ServerConfig, data_dir: str, urls: Sequence[str], accounts: bool = True) -> str:
    """The front's start-up lines: where to reach it, its shards, and (`accounts`) the accounts
    they were started with (a front alone does not know them: the shards authenticate)."""
    lines = [f"mpcmix serve: {config.base_url()}  (front of {len(urls)} workers; clock: {config.clock}, "
             f"{config.sample_rate} Hz, {config.frame_ms} ms frames)",
             f"  API base URL for the plivo SDK: {config.base_url()}/v1/Account",
             f"  data: {data_dir}  (shard K in shard-K)"]
    lines += [f"  shard {k}: {url}" for k, url in enumerate(urls)]
    for account in config.accounts if accounts else ():
        if config.generated_account:
            lines.append(f"  generated account: auth_id={account.auth_id} auth_token={account.auth_token}")
        else:
            lines.append(f"  account: {account.auth_id}")
    return "\n".join(lines)


def _end_with_parent() -> None:
    """In a shard, before it runs: end (SIGTERM) when the front ends, however it ends (Linux
    `prctl(PR_SET_PDEATHSIG)`; elsewhere the shards outlive a killed front)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wait_healthy(child: subprocess.Popen[bytes], url: str, timeout_s: float = 60.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if httpx.get(f"{url}/emulator/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False
