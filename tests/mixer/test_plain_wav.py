"""16-bit PCM WAVs are written with plain system calls (`StreamWriter`): the same bytes as
libsndfile writes for the same samples, at open, after every header update, once closed, and
after a kill (the file cut anywhere, then repaired)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer import StreamWriter, WriteBehind, wavfile
from mpcmix.mixer.writer import _update_header_now  # what StreamWriter asked libsndfile before

RNG = np.random.default_rng(11)


def _blocks(channels: int) -> list[np.ndarray]:
    sizes = [1, 320, 7, 9000, 160, 16000, 33]
    return [RNG.integers(-32768, 32768, (n, channels)).astype(np.int16) for n in sizes]


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize(("channels", "how"), [(1, "write"), (2, "write"), (1, "background"),
                                               (2, "background"), (1, "write_now")])
def test_the_same_samples_give_libsndfiles_bytes_at_every_step(tmp_path, rate, channels, how):
    ours, theirs = tmp_path / "ours.wav", tmp_path / "theirs.wav"
    io = WriteBehind() if how == "background" else None
    writer = StreamWriter(ours, rate, channels=channels, background=io)
    reference = sf.SoundFile(theirs, "w", rate, channels, subtype="PCM_16", format="WAV")
    reference.flush()  # libsndfile has written its header at open; flush only syncs it
    assert ours.read_bytes()[:44] == theirs.read_bytes()[:44]  # sizes as libsndfile leaves them
    for k, block in enumerate(_blocks(channels)):
        if how == "write_now":
            writer.write_now(np.ascontiguousarray(block[:, 0]))
        else:
            writer.write(block.T, gather=False)
        reference.write(block)
        if k % 2:
            writer.update_header()
            writer.wait()
            _update_header_now(reference)  # libsndfile rewrites the header's sizes
            assert ours.read_bytes() == theirs.read_bytes(), f"after block {k}"
    writer.close()
    reference.close()
    if io is not None:
        io.close()
    assert ours.read_bytes() == theirs.read_bytes()
    assert sf.info(ours).frames == sum(len(b) for b in _blocks(channels))


@pytest.mark.parametrize("channels", [1, 2])
def test_a_file_cut_by_a_kill_repairs_to_the_same_bytes(tmp_path, channels):
    """A kill leaves the samples written so far and the header of the last update; wherever
    the file is cut, the repaired file is the one libsndfile's would repair to."""
    ours, theirs = tmp_path / "ours.wav", tmp_path / "theirs.wav"
    writer = StreamWriter(ours, 16000, channels=channels)
    reference = sf.SoundFile(theirs, "w", 16000, channels, subtype="PCM_16", format="WAV")
    blocks = _blocks(channels)
    for block in blocks[:3]:
        writer.write(block.T, gather=False)
        reference.write(block)
    writer.update_header()
    _update_header_now(reference)
    for block in blocks[3:]:  # written, not yet counted by the header
        writer.write(block.T, gather=False)
        reference.write(block)
    writer.wait()
    whole_ours, whole_theirs = ours.read_bytes(), theirs.read_bytes()
    assert whole_ours == whole_theirs
    writer.close()
    reference.close()
    for cut in (44, 45, 44 + 2 * channels * 9328 + 1, len(whole_ours) - 1, len(whole_ours)):
        for path, whole in ((ours, whole_ours), (theirs, whole_theirs)):
            path.write_bytes(whole[:cut])
            assert wavfile.repair(path)
        assert ours.read_bytes() == theirs.read_bytes(), cut
        assert sf.info(ours).frames == (cut - 44) // (2 * channels)


def test_a_full_disk_is_the_oserror_naming_the_file(tmp_path, monkeypatch):
    import errno
    import os

    writer = StreamWriter(tmp_path / "x.wav", 16000)

    def full(*_args: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwritev", full)
    with pytest.raises(OSError, match="No space left") as raised:
        writer.write(np.zeros(320, np.int16), gather=False)
    assert raised.value.filename == str(tmp_path / "x.wav") and raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    writer.close()
