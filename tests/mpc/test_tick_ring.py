"""The tick ring: every file fed a frame a tick gets exactly its frames, in order, a ring's worth
at a time, the files' turns spread over the ticks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from mpcmix.engine.outputs import TickRing
from mpcmix.mixer import StreamWriter, WriteBehind, wavfile

FRAME = 160


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
            ring.release_slots(ring.slots([writers[7]]))  # its MPC ended
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
    import soundfile as sf

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
