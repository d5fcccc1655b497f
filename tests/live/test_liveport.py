"""The live ports (mpcmix.engine.live): a voice pushed from outside is heard from the current
clock time, bit for bit; every mixed block of a row reaches its subscribers; a slow subscriber
loses the oldest blocks, never holds the mixer."""

from __future__ import annotations

import asyncio

import numpy as np
import soundfile as sf
from mpcmix.engine import CallEngine
from mpcmix.media import MediaLibrary
from mpcmix.mixer.liveport import LiveInput, MixFeed
from mpcmix.model import CallModel, Line

from ..audio_checks import FIXTURES

SR = 8000
FRAME = SR // 50


def _engine(tmp_path) -> CallEngine:
    media = MediaLibrary(FIXTURES, SR)
    lines = {"+100": Line("voices/customer.wav", 0), "+101": Line("live:bot", 0)}
    model = CallModel("MAMPCMIXEMULATOR0001", lines=lines, media=media)
    engine = CallEngine(model, media, tmp_path / "out", sample_rate=SR, listener_origin="mpc")
    for who, role, to in (("customer", "customer", "+100"), ("bot", "agent", "+101")):
        model.add_participant(0, friendly_name="m", label=who, role=role, enter_sound="none",
                              exit_sound="none", **{"from": "+1", "to": to})
    engine.settle(0)
    return engine


def test_a_pushed_voice_is_heard_from_the_current_time_and_the_mix_is_fed(tmp_path):
    engine = _engine(tmp_path)
    opened: list[tuple[str, str, int]] = []
    closed: list[str] = []
    engine.live.on_open = lambda label, tag, ms: opened.append((label, tag, ms))
    engine.live.on_close = closed.append
    hears = engine.live.subscribe("bot", max_ms=10_000)
    voice = engine.live.subscribe("bot", kind="voice", max_ms=10_000)
    engine.advance_to(200)
    assert opened == [("bot", "bot", 0)]
    port = engine.live.input("bot")
    assert port is not None
    tone = (np.sin(np.arange(2 * FRAME) * 0.3) * 8000).astype(np.int16)
    port.push(tone)
    port.mark("cp")
    engine.advance_to(600)
    assert port.take_marks() == ["cp"]
    engine.model.hangup(600, engine.model.get_participant(600, "bot", friendly_name="m")["call_uuid"])
    engine.settle(600)
    engine.advance_to(800)
    assert closed == ["bot"] and engine.live.input("bot") is None
    engine.close()
    got = []
    while (item := hears.get_nowait()) is not None:
        got.append(item)
    assert [s for s, _ in got] == [0, 1600]  # a block per span: [0, 200), [200, 600); then it ended
    customer = sf.read(engine.listener_path("customer"), dtype="int16")[0]
    # the customer heard the pushed tone from 200 ms, exactly (nothing else speaks to it)
    assert np.array_equal(customer[1600:1600 + len(tone)], tone)
    assert not customer[:1600].any() and not customer[1600 + len(tone):4800].any()
    bot_heard = np.concatenate([b for _, b in got])
    assert np.array_equal(bot_heard, sf.read(engine.listener_path("bot"), dtype="int16")[0][:len(bot_heard)])
    voiced = []
    while (item := voice.get_nowait()) is not None:
        voiced.append(item[1])
    assert np.array_equal(np.concatenate(voiced)[1600:1600 + len(tone)], tone)


def test_a_slow_subscriber_loses_the_oldest_blocks():
    feed = MixFeed("x", max_samples=3 * FRAME)
    for i in range(10):
        feed.offer(i * FRAME, np.full(FRAME, i, np.int16))
    assert feed.dropped == 7 * FRAME
    assert [feed.get_nowait()[0] for _ in range(3)] == [7 * FRAME, 8 * FRAME, 9 * FRAME]


def test_an_awaiting_subscriber_is_woken_from_another_thread():
    async def main() -> list[int]:
        feed = MixFeed("x", max_samples=10 * FRAME)
        loop = asyncio.get_running_loop()
        got: list[int] = []

        async def consume() -> None:
            while (item := await feed.get()) is not None:
                got.append(item[0])

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await loop.run_in_executor(None, lambda: [feed.offer(i, np.zeros(4, np.int16)) for i in range(3)])
        await loop.run_in_executor(None, feed.close)
        await asyncio.wait_for(task, 5)
        return got

    assert asyncio.run(main()) == [0, 1, 2]


def test_the_jitter_buffer_orders_skips_and_drops_late_chunks():
    port = LiveInput(SR, reorder=2)
    a, b, c, d = (np.full(FRAME, v, np.int16) for v in (1, 2, 3, 4))
    assert port.push(b, seq=1) and port.push(a, seq=0) is False  # first seq seen starts the order
    port = LiveInput(SR, reorder=2)
    port.push(a, seq=0)
    port.push(c, seq=2)  # 1 is missing: held
    assert port.read(0, FRAME)[0] == 1
    assert port.read(FRAME, FRAME)[0] == 3  # the gap did not come in time: skipped
    assert port.push(b, seq=1) is False and port.stats["late_chunks"] == 1
    port.push(d, seq=3)
    assert port.read(2 * FRAME, FRAME)[0] == 4
    assert not port.read(3 * FRAME, FRAME).any()  # dry: silence


def test_a_playout_delay_after_an_underrun():
    port = LiveInput(SR, prefill_ms=30)
    port.push(np.full(2 * FRAME, 5, np.int16))
    first = port.read(0, FRAME)
    second = port.read(FRAME, FRAME)
    assert not first.any() and not second[:FRAME // 2].any() and (second[FRAME // 2:] == 5).all()


def test_a_full_queue_drops_what_is_pushed_and_clear_empties_it():
    port = LiveInput(SR, max_ms=40)
    assert port.push(np.ones(2 * FRAME, np.int16)) and not port.push(np.ones(1, np.int16))
    port.mark("m")
    assert port.clear() == ["m"] and port.queued_ms == 0
    assert not port.read(0, FRAME).any()
