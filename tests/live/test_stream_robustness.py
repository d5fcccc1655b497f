"""Stream lines against a real network's faults, on the virtual clock: garbage, a bot that goes
away mid-call, one that is not listening yet or never, one that never reads, late and bursty
audio, clearAudio. The call always goes on; the documented status callbacks are sent."""

from __future__ import annotations

import threading
import time

import numpy as np
from mpcmix.live.codec import ulaw_decode, ulaw_encode

from ..server.harness import RunningServer, serve
from .bots import Bot, free_port, url_at
from .support import MPC, coached_call, config, end, files, stream, tone, wait_stream


def _stream_events(server: RunningServer) -> list[str]:
    return [e["name"] for e in server.events() if e["name"].endswith("Stream")]


def _in_call(server: RunningServer, member: str) -> bool:
    with server.http() as http:
        return http.get(f"{MPC}/Participant/{member}/").json()["exit_cause"] in (None, "")


def test_garbage_and_a_bot_that_goes_away_leave_the_call_going(tmp_path):
    with coached_call(tmp_path) as (server, bot, ids):
        server.advance(0.2)
        bot.wait_for(lambda: len(bot.media()) >= 10)
        bot.send("not json at all")
        bot.send({"event": "dance"})
        bot.send({"event": "playAudio", "media": {"contentType": "audio/x-mulaw",
                                                  "sampleRate": 8000, "payload": "@@@"}})
        bot.send({"event": "playAudio", "media": {"contentType": "audio/x-mulaw",
                                                  "sampleRate": 44100, "payload": ""}})
        bot.send({"event": "checkpoint"})
        wait_stream(server, bot, invalid=5)
        bot.hang_up()
        bot.wait_for(lambda: "DroppedStream" in _stream_events(server))
        server.advance(1.0)  # the call goes on, the bot's participant silent
        assert _in_call(server, ids["bot"])
        assert stream(server)["state"] == "dropped"
        end(server, None)
        streams, _ = files(server, ids)
        assert _stream_events(server) == ["StartStream", "DroppedStream"]
    assert not streams["customer"].any()  # the bot never spoke; nothing else reached it


def test_bursty_late_and_cleared_audio(tmp_path):
    with coached_call(tmp_path) as (server, bot, ids):
        server.advance(0.2)
        bot.wait_for(lambda: len(bot.media()) >= 10)
        # four 100 ms pieces at once (as μ-law carries them)
        burst = [ulaw_decode(ulaw_encode(tone(800) * (i + 1) // 4)) for i in range(4)]
        for piece in burst:
            bot.play(piece)
        wait_stream(server, bot, play_audio=4)
        server.advance(0.6)  # [200, 800): the burst plays in order, without a gap
        late = tone(800)
        bot.play(late)  # arrives while the clock stands at 800 ms: plays from there, not before
        long = tone(8000)  # a second, then cleared after 200 ms of it
        bot.play(long)
        bot.send({"event": "checkpoint", "streamId": "x", "name": "never played"})
        wait_stream(server, bot, play_audio=6, checkpoints=1)
        server.advance(0.3)  # [800, 1100): the late piece, then the long one's first 200 ms
        bot.send({"event": "clearAudio", "streamId": "x"})
        wait_stream(server, bot, cleared=1)
        bot.wait_for(lambda: any(e["event"] == "clearedAudio" for e in bot.events))
        server.advance(0.5)
        end(server, bot)
        streams, _ = files(server, ids)
    heard = streams["customer"]
    assert np.array_equal(heard[1600:4800], np.concatenate(burst))
    assert not heard[4800:6400].any()
    assert np.array_equal(heard[6400:7200], late)
    assert np.array_equal(heard[7200:8800], long[:1600])
    assert not heard[8800:].any()  # cleared: nothing more of it
    assert not any(e["event"] == "playedStream" for e in bot.events)  # its checkpoint was cleared


def test_a_bot_not_listening_yet_is_connected_on_a_retry_and_one_never_listening_is_dropped(
        tmp_path):
    port = free_port()
    with serve(config(tmp_path, url_at(port))) as server, server.http() as http:
        server.state.streams.connect_retry_s = 0.3
        for role, to in (("customer", "+15550000100"), ("agent", "+15550000101")):
            assert http.post(f"{MPC}/Participant/", json={
                "role": role, "from": "+15550000000", "to": to, "enter_sound": "none"}
            ).status_code == 201
        server.advance(0.2)  # the stream opens: nothing listens at that port yet
        time.sleep(0.1)
        late = Bot(port=port)
        try:
            late.wait_for(lambda: len(late.media()) >= 10)
            assert late.events[0]["event"] == "start"
            assert [m["media"]["chunk"] for m in late.media()] == list(range(1, 11))
        finally:
            late.close()
    never = free_port()
    with serve(config(tmp_path / "never", url_at(never))) as server, server.http() as http:
        server.state.streams.connect_retry_s = 0.05
        for role, to in (("customer", "+15550000100"), ("agent", "+15550000101")):
            http.post(f"{MPC}/Participant/", json={"role": role, "from": "+1", "to": to})
        server.advance(0.2)
        deadline = time.monotonic() + 10
        while "DroppedStream" not in _stream_events(server) and time.monotonic() < deadline:
            time.sleep(0.02)
        dropped = [e for e in server.events() if e["name"] == "DroppedStream"]
        assert "could not connect" in dropped[0]["params"]["Error"]
        server.advance(1.0)  # the call goes on
        with server.http() as http:
            assert http.get(f"{MPC}/").json()["status"].lower() == "active"


def test_a_bot_that_never_reads_loses_the_oldest_audio_and_holds_nothing(tmp_path):
    stuck = Bot(read=False)
    with coached_call(tmp_path, bot=stuck) as (server, bot, _ids):
        server.state.streams.feed_ms = 5000  # on the virtual clock a feed holds 2 minutes
        server.advance(120)  # more than the feed holds, more than the TCP buffers
        bot.wait_for(lambda: stream(server)["dropped_samples"] > 0, timeout_s=20)
        done = threading.Event()

        def end_call() -> None:
            with server.http() as http:
                assert http.delete(f"{MPC}/").status_code == 204
            done.set()

        threading.Thread(target=end_call).start()
        assert done.wait(10)  # the end is answered at once, whatever the stream does
        bot.wait_for(lambda: stream(server)["state"] in ("stopped", "dropped"), timeout_s=10)
        assert _stream_events(server)[0] == "StartStream"
