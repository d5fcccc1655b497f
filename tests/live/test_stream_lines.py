"""Stream lines on the virtual clock: a bot (a real websockets server) joined as the agent of a
coached call receives the provider's start and media events, the mix the agent hears through
μ-law bit for bit, and its playAudio is the agent's voice in the others' streams and the
recording; checkpoints, clearAudio, a bot that goes away, garbage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from mpcmix.live.codec import ulaw_decode, ulaw_encode
from mpcmix.media import MediaLibrary
from mpcmix.scenario import parse_lines
from mpcmix.server.config import ServerConfig

from ..server.conftest import FIXTURES, make_media_root
from ..server.harness import ACCOUNTS, MAIN, RunningServer, serve
from .bots import Bot

SR = 8000
CUSTOMER, BOT, SUPERVISOR, AGENT = "+15550000100", "+15550000101", "+15550000102", "+15550000103"
MPC = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_live"


def _config(tmp: Path, bot: Bot, supervisor: str = "voices/supervisor.wav", **stream: Any
            ) -> ServerConfig:
    lines = parse_lines({
        CUSTOMER: {"audio": "voices/customer.wav"},
        AGENT: {"audio": "voices/agent.wav"},
        BOT: {"stream": {"url": bot.url, "content_type": "audio/x-mulaw;rate=8000",
                         "bidirectional": True, **stream}},
        SUPERVISOR: {"audio": supervisor},
    }, "test lines")
    return ServerConfig(accounts=ACCOUNTS, clock="virtual", media_root=make_media_root(tmp),
                        lines=lines, data_dir=tmp / "data", sample_rate=SR, frame_ms=20)


@contextlib.contextmanager
def _coached_call(tmp: Path, *, bot_role: str = "agent", bot: Bot | None = None,
                  supervisor: str = "voices/supervisor.wav", **stream: Any
                  ) -> Iterator[tuple[RunningServer, Bot, dict[str, str]]]:
    """The bot (a stream line) as the agent with a customer (file voice), or as the customer
    with an agent, and a coaching supervisor, all at 0 s, recorded; yields the server, the bot
    and each role's member_id (its listener label; the bot's under "bot")."""
    bot = bot or Bot()
    try:
        with serve(_config(tmp, bot, supervisor, **stream)) as server, server.http() as http:
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


def _stream(server: RunningServer) -> dict[str, Any]:
    with server.http() as http:
        streams = http.get("/emulator/streams").json()["streams"]
    assert len(streams) == 1, streams
    return streams[0]


def _wait_stream(server: RunningServer, bot: Bot, **counts: int) -> None:
    bot.wait_for(lambda: all(_stream(server)[k] >= v for k, v in counts.items()))


def _files(server: RunningServer, ids: dict[str, str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    runtime = server.state.runtimes[MAIN.auth_id]
    runtime.flush(wait=True)
    streams = {role: sf.read(runtime.engine.listener_path(label), dtype="int16")[0]
               for role, label in ids.items()}
    recording = next((runtime.out_dir / "recordings").glob("*.wav"))
    return streams, sf.read(recording, dtype="int16")[0]


def _end(server: RunningServer, bot: Bot) -> None:
    with server.http() as http:
        assert http.delete(f"{MPC}/").status_code == 204
    bot.wait_for(lambda: bot.events and bot.events[-1]["event"] == "stop")


def _tone(n: int) -> np.ndarray:
    """A tone as μ-law carries it (so what the bot sends is what is mixed, exactly)."""
    pcm = (np.sin(np.arange(n) * 2 * np.pi * 440 / SR) * 6000).astype(np.int16)
    return ulaw_decode(ulaw_encode(pcm))


def test_a_bot_as_the_agent_hears_its_mix_and_speaks_to_the_others(tmp_path):
    with _coached_call(tmp_path) as (server, bot, ids):
        server.advance(0.2)  # the bot's leg answered at 0: the stream opens with this render
        bot.wait_for(lambda: len(bot.media()) >= 10)
        tone = _tone(3200)  # 400 ms
        bot.play(tone)
        bot.send({"event": "checkpoint", "streamId": bot.events[0]["start"]["streamId"],
                  "name": "greeting"})
        _wait_stream(server, bot, play_audio=1, checkpoints=1)
        server.advance(0.6)  # the tone plays over [200, 600) ms
        bot.wait_for(lambda: any(e["event"] == "playedStream" for e in bot.events))
        server.advance(0.4)
        _end(server, bot)
        streams, recording = _files(server, ids)

    start, *rest = bot.events
    assert start["event"] == "start" and start["sequenceNumber"] == 1
    assert start["start"]["tracks"] == ["inbound"]
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000}
    assert start["start"]["accountId"] == MAIN.auth_id
    media = bot.media()
    assert len(media) == 60  # 1.2 s of call, 50 a second
    assert [m["sequenceNumber"] for m in rest] == list(range(2, len(rest) + 2))
    assert [m["media"]["chunk"] for m in media] == list(range(1, 61))
    assert {len(ulaw_decode_b64(m)) for m in media} == {160}
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert np.all(np.diff(stamps) == 20)
    played = [e for e in rest if e["event"] == "playedStream"]
    assert [(p["name"], p["streamId"]) for p in played] == [("greeting", start["start"]["streamId"])]
    assert rest[-1]["event"] == "stop"
    # what the bot heard is the agent's listener stream through μ-law, byte for byte
    agent = streams["bot"]
    assert b"".join(ulaw_bytes(m) for m in media) == ulaw_encode(agent[:len(media) * 160])
    # its playAudio is its voice: the customer hears it alone, the supervisor and the recording
    # with the customer's (and the recording the supervisor's) voice
    voices = MediaLibrary(FIXTURES, SR)
    customer_voice = voices.load("voices/customer.wav")
    supervisor_voice = voices.load("voices/supervisor.wav")
    span = slice(1600, 1600 + len(tone))
    assert np.array_equal(streams["customer"][span], tone)
    assert np.array_equal(streams["supervisor"][span], customer_voice[span] + tone)
    assert np.array_equal(recording[span], customer_voice[span] + supervisor_voice[span] + tone)
    assert not streams["customer"][:1600].any()  # before it spoke: silence to the customer


def ulaw_bytes(event: dict[str, Any]) -> bytes:
    import base64

    return base64.b64decode(event["media"]["payload"])


def ulaw_decode_b64(event: dict[str, Any]) -> np.ndarray:
    return ulaw_decode(ulaw_bytes(event))


def _bot_customer_run(tmp: Path, supervisor: str) -> tuple[bytes, np.ndarray]:
    """A bot as the customer while the supervisor coaches: (the bytes it received, the agent's
    listener stream)."""
    with _coached_call(tmp, bot_role="customer", supervisor=supervisor) as (server, bot, ids):
        for _ in range(5):
            server.advance(0.4)
        _end(server, bot)
        streams, _ = _files(server, ids)
    return b"".join(ulaw_bytes(m) for m in bot.media()), streams["agent"]


def test_coach_privacy_holds_for_a_bot_as_the_customer(tmp_path):
    heard, agent = _bot_customer_run(tmp_path / "a", "voices/supervisor.wav")
    heard_other, agent_other = _bot_customer_run(tmp_path / "b", "voices/agent.wav")
    assert len(heard) == 2 * SR and ulaw_decode(heard).any()  # it heard the agent
    assert heard == heard_other  # not one bit of the coaching supervisor reached the bot
    assert not np.array_equal(agent, agent_other)  # while the agent heard both voices
