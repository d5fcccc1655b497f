"""Audio streams on the real-time clock: latency (``make bench``) and bots at load (``make load``).

Runs a real `mpcmix serve --clock realtime` subprocess (8 kHz, 20 ms frames) whose lines are
stream lines pointing at bots served by this process (`websockets`, on loopback), and measures
on this process's monotonic clock:

- **playAudio -> another participant's stream**: a speaker bot (the agent, bidirectional) sends a
  40 ms click as playAudio every 300 ms; a listener bot (the customer, one-way) receives what the
  customer hears; the latency is from the send of the click to the arrival of the first media
  event that holds it (20 ms chunks, so it includes the wait for the chunk to fill);
- **voice -> bot media**: a customer with a file voice and a listener bot as the agent; for every
  media event, from the moment its first sample was due on the server's clock (the server's
  unrounded elapsed time from ``/emulator/stats`` maps its clock to ours) to its arrival.

``--load CALLS``: that many calls of a bot (bidirectional, sending 20 ms of audio every 20 ms)
and a file voice, the server pinned to one core (``taskset``, when there is one); it keeps up
when its ticker's p99 lateness stays under a frame, no stream's feed dropped audio and every
bot received its 50 media events a second.

Writes its section of docs/performance.md (between the ``streams`` markers) with ``--write``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from mpcmix.live.codec import ulaw_decode, ulaw_encode
from websockets.asyncio.server import ServerConnection, serve

from .report import put_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
AUTH_ID = "MASTREAMBENCH0000001"
EPOCH = "2026-01-01 00:00:00+00:00"
EPOCH_MS = 1767225600000
#: Each part of docs/performance.md this writes sits between its markers.
INTRO = ("## Audio streams (real-time clock, loopback)\n\nWritten by `python -m benchmarks.streams` "
         "(`make bench`: latency; `make load`: bots at load). A real `mpcmix serve --clock "
         "realtime` at 8 kHz, 20 ms frames, μ-law streams; the bots are `websockets` servers in "
         "the benchmark's process; times on its monotonic clock. Media events carry 20 ms, so "
         "every latency includes the wait for a chunk to fill (up to 20 ms) and for the next "
         "tick (up to 20 ms).\n")


def markers(part: str) -> tuple[str, str]:
    return f"<!-- streams-{part}: begin (benchmarks/streams.py) -->", f"<!-- streams-{part}: end -->"


class Bots:
    """Every bot of a run: one websockets server; each path is one bot (its events recorded with
    their arrival time on this process's monotonic clock)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.received: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.sockets: dict[str, ServerConnection] = {}
        self.talk: dict[str, bool] = {}  # path -> sends 20 ms of audio every 20 ms
        ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None

        async def main() -> None:
            self._stop = self.loop.create_future()
            async with serve(self._handler, "127.0.0.1", 0, compression=None,
                             close_timeout=0.5) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                ready.set()
                await self._stop

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()),
                                       daemon=True)
        self.thread.start()
        ready.wait(10)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{path}"

    async def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path.strip("/") if ws.request is not None else ""
        self.sockets[path] = ws
        log = self.received.setdefault(path, [])
        talker = None
        if self.talk.get(path.split("-")[0]):
            talker = asyncio.ensure_future(self._talk(ws))
        try:
            async for message in ws:
                log.append((time.monotonic(), json.loads(message)))
        except Exception:
            pass
        finally:
            if talker is not None:
                talker.cancel()

    async def _talk(self, ws: ServerConnection) -> None:
        chunk = ulaw_encode((np.sin(np.arange(160) * 0.3) * 3000).astype(np.int16))
        event = json.dumps({"event": "playAudio", "media": {
            "contentType": "audio/x-mulaw", "sampleRate": 8000,
            "payload": base64.b64encode(chunk).decode()}})
        next_at = time.monotonic()
        while True:
            next_at += 0.020
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await ws.send(event)

    def send(self, path: str, obj: Any) -> float:
        """Send `obj` on bot `path`'s socket; the monotonic time it was handed to the socket."""
        async def go() -> float:
            await self.sockets[path].send(json.dumps(obj))
            return time.monotonic()
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(5)

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(10)


@contextmanager
def served(lines: str, *, one_core: bool = False) -> Iterator[tuple[httpx.Client, int]]:
    """`mpcmix serve --clock realtime` at 8 kHz with `lines`; (a client, its pid)."""
    from mpcmix.server.process import serve_process

    folder = Path(tempfile.mkdtemp(prefix="mpcmix-streams-"))
    try:
        (folder / "lines.yaml").write_text(lines)
        token = secrets.token_hex(16)
        args = ["--clock", "realtime", "--account", f"{AUTH_ID}:{token}",
                "--media-root", str(ROOT / "fixtures"), "--lines", str(folder / "lines.yaml"),
                "--data-dir", str(folder / "data"), "--sample-rate", "8000", "--frame-ms", "20",
                "--epoch", EPOCH, "--log-level", "warning"]
        with serve_process(args) as server:
            if one_core and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
                os.system(f"taskset -a -p -c 0 {server.process.pid} >/dev/null")
                os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
            with httpx.Client(base_url=server.url, auth=(AUTH_ID, token), timeout=30) as client:
                yield client, server.process.pid
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _add(client: httpx.Client, mpc: str, role: str, to: str) -> None:
    r = client.post(f"/v1/Account/{AUTH_ID}/MultiPartyCall/name_{mpc}/Participant/",
                    json={"role": role, "from": "+15550000000", "to": to,
                          "enter_sound": "none", "exit_sound": "none"})
    r.raise_for_status()


def _clock_offset(client: httpx.Client) -> float:
    """Our monotonic time at the server clock's 0, in seconds (error: half a request's RTT)."""
    best = None
    for _ in range(20):
        before = time.monotonic()
        elapsed = client.get("/emulator/stats").json()["elapsed_ms"] / 1000
        after = time.monotonic()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) / 2 - elapsed)
    assert best is not None
    return best[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(clicks: int = 60) -> dict[str, Any]:
    """Both latencies (ms): median, p99, max, count."""
    bots = Bots()
    lines = "\n".join([
        f'"+1000": {{stream: {{url: "{bots.url("speaker")}", bidirectional: true, '
        'content_type: "audio/x-mulaw;rate=8000"}}',
        f'"+1001": {{stream: {{url: "{bots.url("listener")}", '
        'content_type: "audio/x-mulaw;rate=8000"}}',
        '"+1002": {audio: voices/customer.wav}',
        f'"+1003": {{stream: {{url: "{bots.url("voice")}", '
        'content_type: "audio/x-mulaw;rate=8000"}}', ""])
    try:
        with served(lines) as (client, _pid):
            _add(client, "clicks", "customer", "+1001")
            _add(client, "clicks", "agent", "+1000")
            _add(client, "voice", "customer", "+1002")
            _add(client, "voice", "agent", "+1003")
            deadline = time.monotonic() + 10
            while not {"speaker", "listener", "voice"} <= set(bots.sockets):
                assert time.monotonic() < deadline, "the bots were not connected"
                time.sleep(0.01)
            time.sleep(0.5)
            offset = _clock_offset(client)
            click = ulaw_encode(np.full(320, 12000, np.int16))
            play = {"event": "playAudio", "media": {"contentType": "audio/x-mulaw",
                                                    "sampleRate": 8000,
                                                    "payload": base64.b64encode(click).decode()}}
            sent: list[float] = []
            for _ in range(clicks):
                sent.append(bots.send("speaker", play))
                time.sleep(0.3)
            time.sleep(0.3)
            stats = client.get("/emulator/stats").json()
    finally:
        bots.close()
    loud = [t for t, e in bots.received.get("listener", []) if e.get("event") == "media"
            and np.abs(ulaw_decode(base64.b64decode(e["media"]["payload"]))).max() > 6000]
    play_ms = []
    for t_sent in sent:
        after = [t for t in loud if t >= t_sent]
        if after:
            play_ms.append((after[0] - t_sent) * 1000)
    voice_ms = [(t - (offset + (int(e["media"]["timestamp"]) - EPOCH_MS) / 1000)) * 1000
                for t, e in bots.received.get("voice", []) if e.get("event") == "media"]

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 1),
                "p99_ms": round(_pct(values, 0.99), 1), "max_ms": round(max(values), 1),
                "count": len(values)}

    return {"play_audio_to_stream": summary(play_ms), "voice_to_media": summary(voice_ms),
            "clicks_sent": len(sent), "ticker": stats["ticker"]["window"],
            "loadavg": round(os.getloadavg()[0], 2)}


def load(calls: int, seconds: float, talk: bool = True, baseline: bool = False
         ) -> dict[str, Any]:
    """`calls` calls of a talking bot and a file voice on one core for `seconds` (`baseline`:
    the agent a file voice too, no stream: what the same calls cost without bots)."""
    bots = Bots()
    bots.talk["bot"] = talk
    lines = ['"+2000": {audio: voices/customer.wav}']
    for i in range(calls):
        lines.append(f'"+3{i:04d}": {{audio: voices/agent.wav}}' if baseline else
                     f'"+3{i:04d}": {{stream: {{url: "{bots.url(f"bot-{i}")}", '
                     'bidirectional: true, content_type: "audio/x-mulaw;rate=8000"}}')
    try:
        with served("\n".join(lines) + "\n", one_core=True) as (client, pid):
            for i in range(calls):
                _add(client, f"load{i}", "customer", "+2000")
                _add(client, f"load{i}", "agent", f"+3{i:04d}")
            deadline = time.monotonic() + 20
            while len(bots.sockets) < (0 if baseline else calls):
                assert time.monotonic() < deadline, f"{len(bots.sockets)} of {calls} bots connected"
                time.sleep(0.05)
            time.sleep(1.0)
            counts0 = {p: len(v) for p, v in bots.received.items()}
            cpu0 = _cpu(pid)
            t0 = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu = _cpu(pid) - cpu0
            counts = {p: len(v) - counts0.get(p, 0) for p, v in bots.received.items()}
            stats = client.get("/emulator/stats", params={"window_s": seconds}).json()
    finally:
        bots.close()
    rates = [n / elapsed for n in counts.values()] or [50.0]
    window = stats["ticker"]["window"]
    return {"calls": calls, "bots": calls, "participants": 2 * calls, "seconds": seconds,
            "server_cpu_share": round(cpu / elapsed, 2),
            "media_per_bot_per_s": {"min": round(min(rates), 1),
                                    "median": round(statistics.median(rates), 1)},
            "ticker": window, "streams": stats["streams"],
            "loadavg": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
            "keeps_up": bool(window["p99_ms"] is not None and window["p99_ms"] < 20
                             and stats["streams"]["dropped_samples"] == 0 and min(rates) >= 49)}


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_markdown(lat: dict[str, Any]) -> str:
    p, v = lat["play_audio_to_stream"], lat["voice_to_media"]
    target = "met" if max(p["p99_ms"], v["p99_ms"]) <= 60 else "not met"
    return "\n".join([
        INTRO,
        "| latency | median (ms) | p99 (ms) | max (ms) | samples |",
        "|---|---|---|---|---|",
        f"| a bot's playAudio -> another participant's stream (its bot's media) | "
        f"{p['median_ms']} | {p['p99_ms']} | {p['max_ms']} | {p['count']} |",
        f"| a voice -> a bot's media (from the chunk's first sample) | {v['median_ms']} | "
        f"{v['p99_ms']} | {v['max_ms']} | {v['count']} |", "",
        f"Target p99 <= 60 ms: **{target}**. Ticker lateness meanwhile: p50 "
        f"{lat['ticker']['p50_ms']} ms, p99 {lat['ticker']['p99_ms']} ms, max "
        f"{lat['ticker']['max_ms']} ms; the machine's load average {lat['loadavg']} "
        f"({os.cpu_count()} cores, shared)."])


def load_markdown(loaded: dict[str, Any]) -> str:
    t = loaded["ticker"]
    return (f"Load: {loaded['calls']} calls of a bot (bidirectional, sending 20 ms of audio "
            f"every 20 ms) and a file voice ({loaded['participants']} participants), the "
            f"server pinned to one core, {loaded['seconds']:.0f} s: server CPU "
            f"{loaded['server_cpu_share']:.2f} of a core, ticker lateness p50 {t['p50_ms']} "
            f"ms / p99 {t['p99_ms']} ms / {t['late_ticks']} late ticks, media per bot per "
            f"second min {loaded['media_per_bot_per_s']['min']}, feeds' dropped audio "
            f"{loaded['streams']['dropped_samples']} samples: "
            f"**{'keeps up' if loaded['keeps_up'] else 'does not keep up'}** (load average "
            f"{loaded['loadavg']} on {loaded['cores']} shared cores during the run).")


def write_section(part: str, text: str) -> None:
    begin, end = markers(part)
    doc = DOC.read_text()
    DOC.write_text(put_section(doc, begin, end, f"{begin}\n{text}\n{end}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streams", description=__doc__)
    parser.add_argument("--clicks", type=int, default=60)
    parser.add_argument("--load", type=int, default=0, help="calls of a bot and a file voice")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--silent-bots", action="store_true", help="bots only listen")
    parser.add_argument("--baseline", action="store_true", help="file voices instead of bots")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    lat = None if args.no_latency else latency(args.clicks)
    if lat is not None:
        print(json.dumps(lat, indent=1), flush=True)
    loaded = load(args.load, args.seconds, not args.silent_bots, args.baseline) \
        if args.load else None
    if loaded is not None:
        print(json.dumps(loaded, indent=1), flush=True)
    if args.write and lat is not None:
        write_section("latency", latency_markdown(lat))
    if args.write and loaded is not None:
        write_section("load", load_markdown(loaded))


if __name__ == "__main__":
    main()
