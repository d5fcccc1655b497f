"""Stream lines on the virtual clock: a bot (a real websockets server) joined as the agent of a
coached call receives the provider's start and media events, the mix the agent hears through
μ-law bit for bit, and its playAudio is the agent's voice in the others' streams and the
recording; coach privacy holds for a bot as the customer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mpcmix.live.codec import ulaw_decode, ulaw_encode
from mpcmix.media import MediaLibrary

from ..server.conftest import FIXTURES
from ..server.harness import MAIN, serve
from .bots import Bot
from .support import (
    BOT,
    CUSTOMER,
    MPC,
    SR,
    coached_call,
    config,
    end,
    files,
    tone,
    ulaw_bytes,
    ulaw_decode_b64,
    wait_stream,
)


def test_a_bot_as_the_agent_hears_its_mix_and_speaks_to_the_others(tmp_path):
    with coached_call(tmp_path) as (server, bot, ids):
        server.advance(0.2)  # the bot's leg answered at 0: the stream opens with this render
        bot.wait_for(lambda: len(bot.media()) >= 10)
        sound = tone(3200)  # 400 ms
        bot.play(sound)
        bot.send({"event": "checkpoint", "streamId": bot.events[0]["start"]["streamId"],
                  "name": "greeting"})
        wait_stream(server, bot, play_audio=1, checkpoints=1)
        server.advance(0.6)  # the tone plays over [200, 600) ms
        bot.wait_for(lambda: any(e["event"] == "playedStream" for e in bot.events))
        server.advance(0.4)
        end(server, bot)
        streams, recording = files(server, ids)

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
    span = slice(1600, 1600 + len(sound))
    assert np.array_equal(streams["customer"][span], sound)
    assert np.array_equal(streams["supervisor"][span], customer_voice[span] + sound)
    assert np.array_equal(recording[span], customer_voice[span] + supervisor_voice[span] + sound)
    assert not streams["customer"][:1600].any()  # before it spoke: silence to the customer


def _bot_customer_run(tmp: Path, supervisor: str) -> tuple[bytes, np.ndarray]:
    """A bot as the customer while the supervisor coaches: (the bytes it received, the agent's
    listener stream)."""
    with coached_call(tmp, bot_role="customer", supervisor=supervisor) as (server, bot, ids):
        for _ in range(5):
            server.advance(0.4)
        end(server, bot)
        streams, _ = files(server, ids)
    return b"".join(ulaw_bytes(m) for m in bot.media()), streams["agent"]


def test_coach_privacy_holds_for_a_bot_as_the_customer(tmp_path):
    heard, agent = _bot_customer_run(tmp_path / "a", "voices/supervisor.wav")
    heard_other, agent_other = _bot_customer_run(tmp_path / "b", "voices/agent.wav")
    assert len(heard) == 2 * SR and ulaw_decode(heard).any()  # it heard the agent
    assert heard == heard_other  # not one bit of the coaching supervisor reached the bot
    assert not np.array_equal(agent, agent_other)  # while the agent heard both voices


@pytest.mark.parametrize(("frame_ms", "rate"), [(10, 16000), (60, 48000)])
def test_media_is_20_ms_whatever_the_frame_and_rate(tmp_path, frame_ms, rate):
    bot = Bot()
    try:
        cfg = replace(config(tmp_path, bot, content_type="audio/x-l16;rate=16000"),
                      frame_ms=frame_ms, sample_rate=rate)
        with serve(cfg) as server, server.http() as http:
            for role, to in (("customer", CUSTOMER), ("agent", BOT)):
                assert http.post(f"{MPC}/Participant/", json={
                    "role": role, "from": "+15550000000", "to": to}).status_code == 201
            server.advance(1.2)
            bot.wait_for(lambda: len(bot.media()) >= 60)
    finally:
        bot.close()
    assert bot.events[0]["start"]["mediaFormat"] == {"encoding": "audio/x-l16", "sampleRate": 16000}
    media = bot.media()
    assert len(media) == 60 and {len(ulaw_bytes(m)) for m in media} == {640}  # L16: 2 bytes
    assert np.all(np.diff([int(m["media"]["timestamp"]) for m in media]) == 20)


def test_on_the_real_time_clock_the_bot_receives_contiguous_20_ms_media(tmp_path):
    bot = Bot()
    try:
        cfg = replace(config(tmp_path, bot), clock="realtime")
        with serve(cfg) as server, server.http() as http:
            for role, to in (("customer", CUSTOMER), ("agent", BOT)):
                assert http.post(f"{MPC}/Participant/", json={
                    "role": role, "from": "+15550000000", "to": to}).status_code == 201
            bot.wait_for(lambda: len(bot.media()) >= 25)
    finally:
        bot.close()
    media = bot.media()[:25]
    assert [m["media"]["chunk"] for m in media] == list(range(1, 26))
    assert np.all(np.diff([int(m["media"]["timestamp"]) for m in media]) == 20)
    assert {len(ulaw_bytes(m)) for m in media} == {160}
