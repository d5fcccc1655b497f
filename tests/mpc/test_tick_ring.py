"""The tick ring (`engine.outputs.TickRing`) hands every file exactly the frames put for it, in
order, whatever its slot, the tick it joined at and the drains between its turns (a slot whose
turn fell on the ring's last column once had each full turn handed twice)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf
from mpcmix.engine.outputs import TickRing
from mpcmix.mixer import StreamWriter

FRAME = 4


@pytest.mark.parametrize("seed", range(4))
def test_every_file_gets_its_frames_once_in_order(tmp_path, seed):
    rng = random.Random(seed)
    ring = TickRing(FRAME, ticks=10)
    writers: list[StreamWriter] = []
    expected: dict[int, list[np.ndarray]] = {}
    joined: list[int] = []
    active: set[int] = set()
    for tick in range(137):
        if len(writers) < 25 and rng.random() < 0.4:  # a file joins now
            writers.append(StreamWriter(tmp_path / f"{len(writers)}.wav", 16000))
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
            block = np.array([[tick * 100 + i] * FRAME for i in fed], dtype=np.int16)
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
