"""Shared by the stream tests: a served coached call with a bot as a stream line, on the
virtual clock at 8 kHz, and reading what it wrote."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from mpcmix.live.codec import ulaw_decode, ulaw_encode
from mpcmix.scenario import parse_lines
from mpcmix.server.config import ServerConfig

from ..server.conftest import make_media_root
from ..server.harness import ACCOUNTS, MAIN, RunningServer, serve
from .bots import Bot

SR = 8000
CUSTOMER, BOT, SUPERVISOR, AGENT = "+15550000100", "+15550000101", "+15550000102", "+15550000103"
MPC = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_live"


def config(tmp: Path, bot: Bot | str, supervisor: str = "voices/supervisor.wav", **stream: Any
           ) -> ServerConfig:
    lines = parse_lines({
        CUSTOMER: {"audio": "voices/customer.wav"},
        AGENT: {"audio": "voices/agent.wav"},
        BOT: {"stream": {"url": bot if isinstance(bot, str) else bot.url,
                         "content_type": "audio/x-mulaw;rate=8000", "bidirectional": True,
                         **stream}},
        SUPERVISOR: {"audio": supervisor},
    }, "test lines")
    return ServerConfig(accounts=ACCOUNTS, clock="virtual", media_root=make_media_root(tmp),
                        lines=lines, data_dir=tmp / "data", sample_rate=SR, frame_ms=20)


@contextlib.contextmanager
def coached_call(tmp: Path, *, bot_role: str = "agent", bot: Bot | None = None,
                  supervisor: str = "voices/supervisor.wav", url: str | None = None,
                  **stream: Any) -> Iterator[tuple[RunningServer, Bot, dict[str, str]]]:
    """The bot (a stream line) as the agent with a customer (file voice), or as the customer
    with an agent, and a coaching supervisor, all at 0 s, recorded; yields the server, the bot
    and each role's member_id (its listener label; the bot's under "bot")."""
    bot = bot or Bot()
    try:
        with serve(config(tmp, url or bot, supervisor, **stream)) as server, \
                server.http() as http:
            other = ("customer", CUSTOMER) if bot_role == "agent" else ("agent", AGENT)
            parties = [other, (bot_role, BOT), ("supervisor", SUPERVISOR)]
            for role, to in parties:
                r = http.post(f"{MPC}/Participant/", json={
                    "role": role, "from": "+15550000000", "to": to, "enter_sound": "none",
                    "exit_sound": "none", "coach_mode": True})
                assert r.status_code == 201, r.text
            assert http.post(f"{MPC}/Record/", json={"file_format": "wav"}).status_code == 202
            members = http.get(f"{MPC}/Participant/").json()["objects"]
            ids = {("bot" if m["role"] == bot_role else m["role"]): m["member_id"] for m in members}
            yield server, bot, ids
    finally:
        bot.close()


def stream(server: RunningServer) -> dict[str, Any]:
    with server.http() as http:
        streams = http.get("/emulator/streams").json()["streams"]
    assert len(streams) == 1, streams
    return streams[0]


def wait_stream(server: RunningServer, bot: Bot, **counts: int) -> None:
    bot.wait_for(lambda: all(stream(server)[k] >= v for k, v in counts.items()))


def files(server: RunningServer, ids: dict[str, str]
          ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    runtime = server.state.runtimes[MAIN.auth_id]
    runtime.flush(wait=True)
    streams = {role: sf.read(runtime.engine.listener_path(label), dtype="int16")[0]
               for role, label in ids.items()}
    recording = next((runtime.out_dir / "recordings").glob("*.wav"), None)
    return streams, None if recording is None else sf.read(recording, dtype="int16")[0]


def end(server: RunningServer, bot: Bot | None) -> None:
    with server.http() as http:
        assert http.delete(f"{MPC}/").status_code == 204
    if bot is not None:  # it hears the stream's stop
        bot.wait_for(lambda: bot.events and bot.events[-1]["event"] == "stop")


def tone(n: int) -> np.ndarray:
    """A tone as μ-law carries it (so what the bot sends is what is mixed, exactly)."""
    pcm = (np.sin(np.arange(n) * 2 * np.pi * 440 / SR) * 6000).astype(np.int16)
    return ulaw_decode(ulaw_encode(pcm))


def ulaw_bytes(event: dict[str, Any]) -> bytes:
    import base64

    return base64.b64decode(event["media"]["payload"])


def ulaw_decode_b64(event: dict[str, Any]) -> np.ndarray:
    return ulaw_decode(ulaw_bytes(event))


