"""The tick ring (`engine.outputs.TickRing`) hands every file exactly the frames put for it, in
order, a ring's worth at a time, whatever its slot, the tick it joined at and the drains between
its turns (a slot whose turn fell on the ring's last column once had each full turn handed
twice), the files' turns spread over the ticks; with or without a write-behind thread."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import soundfile as sf
from mpcmix.engine.outputs import TickRing
from mpcmix.mixer import StreamWriter, WriteBehind, wavfile

FRAME = 160
SMALL_FRAME = 4


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_every_file_gets_its_frames_once_in_order(tmp_path, seed, background):
    rng = random.Random(seed)
    ring = TickRing(SMALL_FRAME, ticks=10)
    io = WriteBehind() if background else None
    ring.background = io
    writers: list[StreamWriter] = []
    expected: dict[int, list[np.ndarray]] = {}
    joined: list[int] = []
    active: set[int] = set()
    for tick in range(137):
        if len(writers) < 25 and rng.random() < 0.4:  # a file joins now
            writers.append(StreamWriter(tmp_path / f"{len(writers)}.wav", 16000, background=io))
            expected[len(writers) - 1] = []
            joined.append(tick)
            active.add(len(writers) - 1)
        for i in list(active):
            if rng.random() < 0.03:  # no longer fed (a recording paused): handed what it has
                ring.drain(writers[i], release=True)
                active.discard(i)
        for i in range(len(writers)):
            if i not in active and rng.random() < 0.05:  # fed again (resumed)
                active.add(i)
        if rng.random() < 0.05 and writers:  # a download, or a write of another kind, drains one
            ring.drain(writers[rng.randrange(len(writers))])  # (between ticks, as the engine does)
        fed = sorted(active)
        if fed:
            slots = ring.slots([writers[i] for i in fed])
            block = np.array([[tick * 100 + i] * SMALL_FRAME for i in fed], dtype=np.int16)
            ring.put(slots, block)
            for i, row in zip(fed, block, strict=True):
                expected[i].append(row)
        ring.step()
    for i, writer in enumerate(writers):
        ring.drain(writer, release=True)
        writer.close()
        got, _ = sf.read(tmp_path / f"{i}.wav", dtype="int16")
        want = np.concatenate(expected[i]) if expected[i] else np.zeros(0, np.int16)
        assert np.array_equal(got, want), f"file {i} (joined at tick {joined[i]})"
    assert len(writers) >= 20
    if io is not None:
        io.close()


@pytest.mark.parametrize("background", [False, True])
def test_every_file_gets_its_frames_once_in_order_and_turns_are_staggered(tmp_path, monkeypatch, background):
    """13 files on a ring of 5 ticks (so every phase has files, the last phase's wrap included),
    one drained at an odd tick and one released midway: each file holds exactly the frames put
    for it; a tick writes to at most ceil(13 / 5) files, and each header counts what its file
    held at its last turn. With a write-behind thread too (the server's), whose queue is drained
    only at the end: the ring's rows are written again meanwhile."""
    rng = np.random.default_rng(3)
    ring = TickRing(FRAME, ticks=5)
    io = WriteBehind() if background else None
    ring.background = io
    writers = [StreamWriter(tmp_path / f"{i}.wav", 8000, background=io) for i in range(13)]
    sent: list[list[np.ndarray]] = [[] for _ in writers]
    writes_per_tick: list[int] = []
    calls = 0
    real = StreamWriter._place

    def counting(self: StreamWriter, blocks: tuple[np.ndarray, ...]) -> tuple[int, int] | None:
        nonlocal calls
        calls += 1
        return real(self, blocks)

    monkeypatch.setattr(StreamWriter, "_place", counting)
    if io is not None:
        gate = threading.Event()
        io.submit(gate.wait)  # nothing is written until every tick is put: rows are reused
    live = list(range(13))
    for tick in range(37):
        slots = ring.slots([writers[i] for i in live])
        block = rng.integers(-32768, 32768, (len(live), FRAME)).astype(np.int16)
        ring.put(slots, block)
        for i, row in zip(live, block, strict=True):
            sent[i].append(row)
        calls = 0
        ring.step()
        writes_per_tick.append(calls)
        if tick == 18:
            ring.drain(writers[4])  # a download, or silence padding, in between turns
        if tick == 21:
            ring.drain(writers[7], release=True)  # its MPC ended
            live.remove(7)
    assert max(writes_per_tick) <= 3 and sum(writes_per_tick) > 0
    if io is not None:
        gate.set()
        io.drain()
    ring.drain_all()
    for i, w in enumerate(writers):
        header_frames = wavfile.read_layout(w.path).data_size // 2
        assert header_frames <= w.frames and w.frames - header_frames <= 5 * FRAME + FRAME
        w.close()
        data = np.fromfile(w.path, dtype=np.int16, offset=44)
        np.testing.assert_array_equal(data, np.concatenate(sent[i]), err_msg=f"file {i}")
    if io is not None:
        io.close()


def test_float_and_mp3_files_fed_by_a_ring_with_a_write_behind_thread(tmp_path):
    """Files libsndfile writes (float WAV, MP3) take the same turns: their frames in order, the
    WAV's header counting them at each turn (updated on the write-behind thread by the turn's
    task itself, never queued from that thread: a full queue would wait for itself)."""
    io = WriteBehind(depth=2)
    ring = TickRing(FRAME, ticks=5)
    ring.background = io
    wav = StreamWriter(tmp_path / "x.wav", 8000, subtype="FLOAT", background=io)
    mp3 = StreamWriter(tmp_path / "x.mp3", 8000, file_format="mp3", background=io)
    pcm = np.random.default_rng(5).integers(-8000, 8000, (2, 23 * FRAME)).astype(np.int16)
    slots = ring.slots([wav, mp3])
    for t in range(23):
        ring.put(slots, pcm[:, t * FRAME:(t + 1) * FRAME])
        ring.step()
    io.drain()
    assert sf.info(tmp_path / "x.wav").frames == 21 * FRAME  # counted at its last turn, tick 20
    ring.drain_all()
    for w in (wav, mp3):
        w.close()
    io.close()
    np.testing.assert_array_equal(sf.read(tmp_path / "x.wav", dtype="float32")[0] * 32768, pcm[0])
    assert abs(sf.info(tmp_path / "x.mp3").frames - 23 * FRAME) <= FRAME
