"""StreamWriter: int16 blocks streamed to WAV (PCM16 or float32) or MP3, durable on close."""

from __future__ import annotations

import itertools
import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer import StreamWriter, load_audio

from tests.audio_checks import load_fixture

RNG = np.random.default_rng(7)
PCM = RNG.integers(-32768, 32768, 10_000).astype(np.int16)


def write_blocks(path, pcm, block=320, **kw) -> None:
    with StreamWriter(path, 16000, **kw) as writer:
        for lo in range(0, pcm.shape[-1], block):
            writer.write(pcm[..., lo : lo + block])


def test_pcm16_round_trips_exactly(tmp_path):
    write_blocks(tmp_path / "x.wav", PCM)
    data, rate = sf.read(tmp_path / "x.wav", dtype="int16")
    assert rate == 16000 and sf.info(tmp_path / "x.wav").subtype == "PCM_16"
    np.testing.assert_array_equal(data, PCM)


def test_two_channels_take_channels_by_samples_blocks(tmp_path):
    stereo = np.stack([PCM, PCM[::-1]])
    write_blocks(tmp_path / "x.wav", stereo, block=999, channels=2)
    data, _ = sf.read(tmp_path / "x.wav", dtype="int16")
    np.testing.assert_array_equal(data.T, stereo)


def test_float_output_is_the_int16_samples_over_32768_exactly(tmp_path):
    write_blocks(tmp_path / "x.wav", PCM, subtype="FLOAT")
    data, _ = sf.read(tmp_path / "x.wav", dtype="float32")
    assert sf.info(tmp_path / "x.wav").subtype == "FLOAT"
    np.testing.assert_array_equal(data * 32768, PCM.astype(np.float32))
    np.testing.assert_array_equal(load_audio(tmp_path / "x.wav", 16000), PCM)


@pytest.mark.parametrize(("subtype", "file_format"), [("PCM_16", "wav"), ("FLOAT", "wav"), ("PCM_16", "mp3")])
def test_the_same_blocks_give_the_same_bytes(tmp_path, subtype, file_format):
    """Renders are deterministic: no timestamp (libsndfile's PEAK chunk) in the output."""
    for name in ("a", "b"):
        write_blocks(tmp_path / name, PCM, subtype=subtype, file_format=file_format)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_an_mp3_lines_up_with_the_wav_of_the_same_samples_within_one_frame(tmp_path, rate):
    voice = load_fixture("voices/customer.wav", rate)[: 3 * rate]
    frame = rate // 50  # 20 ms
    for fmt in ("wav", "mp3"):
        with StreamWriter(tmp_path / f"x.{fmt}", rate, file_format=fmt) as writer:
            for lo in range(0, len(voice), frame):
                writer.write(voice[lo : lo + frame])
    wav, _ = sf.read(tmp_path / "x.wav", dtype="float64")
    mp3, mp3_rate = sf.read(tmp_path / "x.mp3", dtype="float64")
    assert mp3_rate == rate and sf.info(tmp_path / "x.mp3").format == "MP3"
    assert abs(len(mp3) - len(wav)) <= frame  # encoder delay and padding trimmed
    n = min(len(wav), len(mp3))
    lags = range(-frame, frame + 1)
    score = [np.dot(wav[max(0, -k) : n - max(0, k)], mp3[max(0, k) : n - max(0, -k)]) for k in lags]
    assert abs(lags[int(np.argmax(score))]) <= frame
    assert abs(lags[int(np.argmax(score))]) <= 1  # in fact libsndfile trims it exactly
    residual = wav[:n] - mp3[:n]
    assert np.sqrt(np.mean(residual**2)) < 0.3 * np.sqrt(np.mean(wav[:n] ** 2))


def test_close_fsyncs_the_file(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = tmp_path / "x.wav"
    writer = StreamWriter(path, 16000)
    writer.write(PCM)
    writer.close()
    assert str(path) in synced
    assert writer.closed and writer.frames == len(PCM)
    writer.close()  # idempotent
    np.testing.assert_array_equal(sf.read(path, dtype="int16")[0], PCM)


def test_long_writes_start_writeback_early_and_the_bytes_are_unchanged(tmp_path, monkeypatch):
    """Every WRITEBACK_BYTES the writer asks the kernel to start writing its file back (so the
    fsync at close has little left to do); the file is the same as one written without it."""
    from mpcmix.mixer import writer

    started: list[str] = []
    real = writer.start_writeback
    monkeypatch.setattr(writer, "start_writeback",
                        lambda fd: (started.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    pcm = np.tile(PCM, 160)  # 3.2 MB of int16
    write_blocks(tmp_path / "x.wav", pcm, block=16000)
    assert started == [str(tmp_path / "x.wav")] * (pcm.nbytes // writer.WRITEBACK_BYTES)
    monkeypatch.setattr(writer, "start_writeback", lambda fd: None)
    write_blocks(tmp_path / "y.wav", pcm, block=16000)
    assert (tmp_path / "x.wav").read_bytes() == (tmp_path / "y.wav").read_bytes()


def test_pages_written_back_are_dropped_from_the_cache_but_the_header_and_the_tail_stay(tmp_path, monkeypatch):
    """Every WRITEBACK_BYTES the writer lets the kernel drop from its cache the pages the
    previous writeback sent to the disk: never the header's page (patched again and again),
    never what was written since; the file is the same as one written without it."""
    from mpcmix.mixer import writer

    dropped: list[tuple[int, int]] = []
    real = writer.drop_cached
    monkeypatch.setattr(writer, "drop_cached",
                        lambda fd, start, end: (dropped.append((start, end)), real(fd, start, end)))
    pcm = np.tile(PCM, 160)  # 3.2 MB of int16, in blocks of 32,000 bytes
    block_bytes = 32_000
    write_blocks(tmp_path / "x.wav", pcm, block=block_bytes // 2)
    wb = writer.WRITEBACK_BYTES
    size = (tmp_path / "x.wav").stat().st_size
    assert size == 44 + pcm.nbytes
    assert len(dropped) == pcm.nbytes // wb - 1  # the first start has nothing before it
    for k, (start, end) in enumerate(dropped, start=1):
        # Up to where the k-th writeback started (k times WRITEBACK_BYTES, the block that
        # crossed it, and the header), down to a page: the last WRITEBACK_BYTES always stay.
        assert start == 4096 and end % 4096 == 0, (start, end)
        assert 44 + k * wb - 4096 < end <= 44 + k * wb + block_bytes, (k, end)
    assert all(a[1] < b[1] for a, b in itertools.pairwise(dropped))
    monkeypatch.setattr(writer, "DROP_WRITTEN", False)
    dropped.clear()
    write_blocks(tmp_path / "y.wav", pcm, block=block_bytes // 2)
    assert dropped == []
    assert (tmp_path / "x.wav").read_bytes() == (tmp_path / "y.wav").read_bytes()


def test_a_file_read_back_after_its_pages_were_dropped_is_whole(tmp_path):
    """What the kernel dropped from its cache is read from the disk: a long recording written
    tick by tick through the write-behind thread reads back exactly."""
    from mpcmix.mixer import WriteBehind

    io = WriteBehind()
    pcm = np.tile(PCM, 200)  # 4 MB: fifteen writebacks started, fourteen drops
    with StreamWriter(tmp_path / "x.wav", 16000, background=io) as w:
        for lo in range(0, len(pcm), 320):
            w.write(pcm[lo:lo + 320])
    io.close()
    np.testing.assert_array_equal(sf.read(tmp_path / "x.wav", dtype="int16")[0], pcm)


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("FLOAT", 1), ("PCM_16", 2)])
def test_tick_sized_blocks_are_gathered_yet_every_flush_shows_all_written(tmp_path, background, subtype, channels):
    """A real-time server writes one frame a tick: those blocks are gathered into larger writes,
    but `flush` (the server's, once a second) writes what is gathered, so a reader then sees
    every frame written so far; the file equals one written in a single block."""
    from mpcmix.mixer import WriteBehind

    io = WriteBehind() if background else None
    pcm = np.tile(PCM, 3)[: 3 * StreamWriter.GATHER_FRAMES + 1234]
    data = np.stack([pcm, pcm[::-1]]) if channels == 2 else pcm
    writer = StreamWriter(tmp_path / "x.wav", 16000, channels=channels, subtype=subtype, background=io)
    for k, lo in enumerate(range(0, pcm.shape[-1], 320)):
        writer.write(data[..., lo:lo + 320])
        if k % 97 == 0:  # now and then, as the server's once-a-second flush
            writer.flush()
            seen = sf.read(tmp_path / "x.wav", dtype="int16")[0]
            assert len(seen) == writer.frames == min(lo + 320, pcm.shape[-1])
    writer.close()
    if io is not None:
        io.close()
    write_blocks(tmp_path / "y.wav", data, block=pcm.shape[-1], channels=channels, subtype=subtype)
    assert (tmp_path / "x.wav").read_bytes() == (tmp_path / "y.wav").read_bytes()


def test_writers_leave_no_descriptor_open(tmp_path):
    """Closed, failed or dropped without `close`: the file's descriptor is released (a
    long-running server opens and closes thousands of these)."""
    import gc

    gc.collect()  # what earlier tests dropped is closed before counting
    before = len(os.listdir("/proc/self/fd"))
    write_blocks(tmp_path / "closed.wav", PCM)
    dropped = StreamWriter(tmp_path / "dropped.wav", 16000)
    dropped.write(PCM)
    del dropped
    gc.collect()
    with pytest.raises(OSError):
        StreamWriter(tmp_path / "missing" / "x.wav", 16000)
    assert len(os.listdir("/proc/self/fd")) == before
    np.testing.assert_array_equal(sf.read(tmp_path / "dropped.wav", dtype="int16")[0], PCM)


def test_writing_streams_without_accumulating(tmp_path):
    """Peak Python memory while writing does not grow with the number of blocks written."""
    block = np.ones(16000, np.int16)

    def peak_while_writing(n_blocks: int) -> int:
        with StreamWriter(tmp_path / f"{n_blocks}.wav", 16000, subtype="FLOAT") as writer:
            tracemalloc.start()
            for _ in range(n_blocks):
                writer.write(block)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return peak

    short, long = peak_while_writing(5), peak_while_writing(200)  # 5 s vs 200 s of audio
    assert long < short + 64_000  # 200 s of float32 would be 12.8 MB
    assert sf.info(tmp_path / "200.wav").frames == 200 * 16000


def test_bad_blocks_and_settings_are_refused(tmp_path):
    with StreamWriter(tmp_path / "x.wav", 16000) as writer:
        with pytest.raises(TypeError, match="int16"):
            writer.write(np.zeros(4, np.float32))
        with pytest.raises(ValueError, match=r"\(1, n\)"):
            writer.write(np.zeros((2, 4), np.int16))
        writer.write(np.zeros((1, 4), np.int16))  # (1, n) is mono too
    with pytest.raises(ValueError, match="after close"):
        writer.write(np.zeros(4, np.int16))
    with pytest.raises(ValueError, match="subtype"):
        StreamWriter(tmp_path / "y.wav", 16000, subtype="PCM_24")
    with pytest.raises(ValueError, match="mp3"):
        StreamWriter(tmp_path / "y.mp3", 16000, subtype="FLOAT", file_format="mp3")
    with pytest.raises(ValueError, match="file_format"):
        StreamWriter(tmp_path / "y.ogg", 16000, file_format="ogg")


def test_the_public_attributes_describe_the_file(tmp_path):
    with StreamWriter(str(tmp_path / "x.wav"), 8000, channels=2, subtype="FLOAT") as writer:
        assert writer.path == tmp_path / "x.wav" and isinstance(writer.path, os.PathLike)
        assert (writer.sample_rate, writer.channels, writer.subtype, writer.file_format) == (8000, 2, "FLOAT", "wav")
        writer.write(np.zeros((2, 100), np.int16))
        assert writer.frames == 100
    name = str(tmp_path / "x.wav")
    assert repr(writer) == f"StreamWriter({name!r}, 8000, channels=2, subtype='FLOAT', file_format='wav')"


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("FLOAT", 1), ("PCM_16", 2), ("FLOAT", 2)])
def test_update_header_then_wait_shows_every_frame_without_fsync(tmp_path, monkeypatch, background, subtype, channels):
    """What a server does before a download: every frame written so far in the file (gathered
    ones too), then the header counts them; the file is consistent as it stands, and nothing
    was fsynced."""
    from mpcmix.mixer import WriteBehind, wavfile

    io = WriteBehind() if background else None
    path = tmp_path / "x.wav"
    data = np.stack([PCM, PCM[::-1]]) if channels == 2 else PCM
    writer = StreamWriter(path, 16000, channels=channels, subtype=subtype, background=io)
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    for lo in range(0, 3210, 321):  # tick-sized blocks: all gathered, none written yet
        writer.write(data[..., lo:lo + 321])
        writer.wait()
        writer.update_header()
        writer.wait()
        assert sf.info(path).frames == writer.frames == lo + 321
        assert wavfile.snapshot(path) == path.read_bytes()  # the header counts what is there
    assert synced == []
    monkeypatch.undo()
    writer.close()
    if io is not None:
        io.close()
    write_blocks(tmp_path / "y.wav", data[..., :3210], block=3210, channels=channels, subtype=subtype)
    assert path.read_bytes() == (tmp_path / "y.wav").read_bytes()


def test_wait_puts_the_gathered_frames_in_the_file(tmp_path):
    from mpcmix.mixer import WriteBehind, wavfile

    io = WriteBehind()
    with StreamWriter(tmp_path / "x.wav", 16000, background=io) as writer:
        writer.write(PCM[:320])
        assert wavfile.read_layout(writer.path).data_present == 0  # gathered, not written
        writer.wait()
        layout = wavfile.read_layout(writer.path)
        assert layout.data_present == 640 and layout.data_size in wavfile.PLACEHOLDER_SIZES
    io.close()


def test_update_header_and_wait_are_no_ops_for_mp3_and_after_close(tmp_path):
    writer = StreamWriter(tmp_path / "x.mp3", 16000, file_format="mp3")
    writer.write(PCM)
    writer.update_header()
    writer.wait()
    writer.close()
    before = (tmp_path / "x.mp3").read_bytes()
    writer.update_header()
    writer.wait()
    assert (tmp_path / "x.mp3").read_bytes() == before
    assert sf.info(tmp_path / "x.mp3").format == "MP3"


def test_a_failed_background_write_is_raised_by_wait(tmp_path):
    from mpcmix.mixer import WriteBehind

    io = WriteBehind()
    writer = StreamWriter(tmp_path / "x.wav", 16000, background=io)
    io.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.wait()
    writer.close()
    io.close()
