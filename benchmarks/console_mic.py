"""The console's microphone on the real-time clock: is a continuous voice heard whole?

A Python client plays the browser's part: it joins an MPC through ``/console/mic`` and sends a
440 Hz tone in 128-sample blocks (an AudioWorklet's), four at a time and then waiting for the
clock (bursty, as a page's event loop delivers them), while another socket listens as the agent,
who hears nothing else. Every run of three or more zero samples inside the tone is a gap the
jitter buffer did not cover. Run with the console's playout delay (`MIC_PLAYOUT_MS`) and without.

    .venv/bin/python -m benchmarks.console_mic [--seconds 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets
from mpcmix.scenario import parse_lines
from mpcmix.server.config import Account, ServerConfig
from mpcmix.server.console import streams
from mpcmix.server.process import serve_in_thread

ACCOUNT = Account("MACONSOLEBENCH000001", "token-bench-0001-abcdefghijklmnopqrstuv")
RATE = 16000
BLOCK = 128


def gaps(heard: np.ndarray) -> tuple[int, int]:
    """(gaps, samples in them): runs of >= 3 zero samples between the first and last sound."""
    sounding = np.flatnonzero(heard)
    if not len(sounding):
        return 0, 0
    zero = np.concatenate([[0], (heard[sounding[0]:sounding[-1]] == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(zero))
    lengths = edges[1::2] - edges[::2]
    long = lengths[lengths >= 3]
    return len(long), int(long.sum())


async def one_run(url: str, mpc: str, agent: str, seconds: float) -> tuple[int, int, int]:
    creds = json.dumps({"auth_id": ACCOUNT.auth_id, "auth_token": ACCOUNT.auth_token})
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)).astype("<i2")
    async with websockets.connect(f"{url}/console/listen?mpc={mpc}&member={agent}") as listen, \
            websockets.connect(f"{url}/console/mic?mpc={mpc}&role=customer&enter_sound=none") as mic:
        await listen.send(creds)
        await listen.recv()
        await mic.send(creds)
        await mic.recv()
        frames: list[np.ndarray] = []

        async def read() -> None:
            async for message in listen:
                if isinstance(message, bytes):
                    frames.append(np.frombuffer(message, dtype="<i2"))

        reader = asyncio.create_task(read())
        t0 = time.monotonic()
        for k, i in enumerate(range(0, len(tone), BLOCK)):
            await mic.send(tone[i:i + BLOCK].tobytes())
            if k % 4 == 3:
                await asyncio.sleep(max(0.0, t0 + (i + BLOCK) / RATE - time.monotonic()))
        await asyncio.sleep(0.5)
        reader.cancel()
    heard = np.concatenate(frames) if frames else np.zeros(0, np.int16)
    count, samples = gaps(heard)
    return count, samples, len(tone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lines = parse_lines({"+1": {"audio": None}, "+2": {"audio": None}}, "bench lines")
    with tempfile.TemporaryDirectory(prefix="mpcmix-console-bench-") as folder:
        config = ServerConfig(accounts=(ACCOUNT,), clock="realtime", lines=lines,
                              data_dir=Path(folder) / "data", sample_rate=RATE)
        with serve_in_thread(config) as served, \
                httpx.Client(base_url=served.url, auth=(ACCOUNT.auth_id, ACCOUNT.auth_token)) as api:
            base = f"/v1/Account/{ACCOUNT.auth_id}/MultiPartyCall/name_bench/"
            for role, to in (("customer", "+1"), ("agent", "+2")):
                api.post(base + "Participant/", json={"role": role, "from": "+9", "to": to,
                                                      "enter_sound": "none"}).raise_for_status()
            agent = next(p["member_id"] for p in api.get(base + "Participant/").json()["objects"]
                         if p["role"] == "agent")
            mpc = api.get(base).json()["mpc_uuid"]
            url = served.url.replace("http", "ws", 1)
            for playout in (streams.MIC_PLAYOUT_MS, 0):
                streams.MIC_PLAYOUT_MS = playout
                for run in range(args.runs):
                    count, samples, sent = asyncio.run(one_run(url, mpc, agent, args.seconds))
                    print(f"playout {playout:3d} ms  run {run + 1}: {sent / RATE:.1f} s of tone, "
                          f"{count} gaps, {samples * 1000 / RATE:.1f} ms of gaps")


if __name__ == "__main__":
    main()
