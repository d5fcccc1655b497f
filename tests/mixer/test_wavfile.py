"""wavfile: WAV headers read and written in one place.

`snapshot` and `repair` are checked against bytes recorded from the functions they replace
(`wavfile_expected.json`: SHA-256 of each case's input, of its snapshot, and of the file after
repair), on files written by StreamWriter and soundfile, growing ones, truncated ones, and
headers built by hand. Record again (only for a deliberate change) with

    MPCMIX_WAVFILE_UPDATE=1 .venv/bin/python -m pytest tests/mixer/test_wavfile.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer import StreamWriter, wavfile

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "wavfile_expected.json"
RNG = np.random.default_rng(11)
PCM = RNG.integers(-32768, 32768, 3 * StreamWriter.GATHER_FRAMES).astype(np.int16)


# --------------------------------------------------------------------------------------------
# Cases: each writes one file into a folder


def _stream_writer(subtype: str, channels: int, frames: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        data = np.stack([np.roll(PCM, 7 * c)[:frames] for c in range(channels)])
        with StreamWriter(path, 16000, channels=channels, subtype=subtype) as w:
            w.write(data)
    return make


def _growing(subtype: str, channels: int) -> Callable[[Path], None]:
    """A copy of a file mid-write: the header counts what was there at the last flush, more
    whole blocks follow (written straight through: blocks of GATHER_FRAMES are not gathered)."""
    def make(path: Path) -> None:
        g = StreamWriter.GATHER_FRAMES
        data = PCM if channels == 1 else np.stack([PCM, PCM[::-1]])
        w = StreamWriter(path.with_suffix(".tmp"), 16000, channels=channels, subtype=subtype)
        w.write(data[..., :g])
        w.flush()
        w.write(data[..., g:3 * g])
        shutil.copyfile(path.with_suffix(".tmp"), path)
        w.close()
        path.with_suffix(".tmp").unlink()
    return make


def _soundfile(subtype: str, channels: int, frames: int, fmt: str = "WAV", title: bool = False
               ) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        data = PCM[:frames].astype(np.float64) / 32768
        data = data if channels == 1 else np.stack([data * (c + 1) / channels for c in range(channels)], 1)
        with sf.SoundFile(path, "w", 16000, channels, subtype=subtype, format=fmt) as f:
            if title:
                f.title = "a title makes a LIST chunk"
            f.write(data)
    return make


def _edited(make: Callable[[Path], None], edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def made(path: Path) -> None:
        make(path)
        path.write_bytes(edit(path.read_bytes()))
    return made


def _data_size_at(b: bytes) -> int:
    """Offset of the data chunk's size field."""
    return b.index(b"data") + 4


def _set_sizes(riff: int, data: int) -> Callable[[bytes], bytes]:
    def edit(b: bytes) -> bytes:
        out = bytearray(b)
        struct.pack_into("<I", out, 4, riff)
        struct.pack_into("<I", out, _data_size_at(b), data)
        return bytes(out)
    return edit


def _cut(n: int) -> Callable[[bytes], bytes]:
    return lambda b: b[:n] if n >= 0 else b[:len(b) + n]


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def _fmt(tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, extra: bytes = b"") -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra


def _riff(*chunks: bytes, riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _raw_data(size: int, body: bytes) -> bytes:
    """A data chunk that declares `size` whatever `body` holds (the file's last chunk)."""
    return b"data" + struct.pack("<I", size) + body


def _bytes(b: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(b)


_EXT = _fmt(0xFFFE, 2, 8000, 16, struct.pack("<HHI", 22, 16, 3) + struct.pack("<H", 1) + bytes(14))
_AUDIO = bytes(range(256)) * 8

CASES: dict[str, Callable[[Path], None]] = {
    # StreamWriter, closed
    "sw-pcm16-mono": _stream_writer("PCM_16", 1, 1001),
    "sw-pcm16-stereo": _stream_writer("PCM_16", 2, 777),
    "sw-float-mono": _stream_writer("FLOAT", 1, 1001),
    "sw-float-3ch": _stream_writer("FLOAT", 3, 501),
    "sw-empty": _stream_writer("PCM_16", 1, 0),
    # StreamWriter, mid-write (header behind the data)
    "growing-pcm16-mono": _growing("PCM_16", 1),
    "growing-pcm16-stereo": _growing("PCM_16", 2),
    "growing-float-mono": _growing("FLOAT", 1),
    "growing-float-stereo": _growing("FLOAT", 2),
    "growing-partial-frame": _edited(_growing("PCM_16", 2), _cut(-3)),
    "growing-float-partial": _edited(_growing("FLOAT", 1), _cut(-1)),
    # placeholders and stale sizes
    "placeholder-0": _edited(_stream_writer("PCM_16", 1, 1000), _set_sizes(0, 0)),
    "placeholder-ffffffff": _edited(_stream_writer("FLOAT", 2, 1000), _set_sizes(0xFFFFFFFF, 0xFFFFFFFF)),
    "stale-small": _edited(_stream_writer("PCM_16", 1, 1000), _set_sizes(36, 0)),
    # header declares more than the file holds (a truncated download)
    "truncated-mid-frame": _edited(_stream_writer("PCM_16", 2, 1000), _cut(-1)),
    "truncated-whole-frames": _edited(_stream_writer("PCM_16", 1, 1000), _cut(-100)),
    "truncated-in-header": _edited(_stream_writer("FLOAT", 1, 10), _cut(50)),
    "truncated-in-data-header": _edited(_stream_writer("PCM_16", 1, 10), _cut(40)),
    "truncated-before-fmt": _edited(_stream_writer("PCM_16", 1, 10), _cut(16)),
    # soundfile
    "sf-pcm16": _soundfile("PCM_16", 1, 999),
    "sf-pcm24-stereo": _soundfile("PCM_24", 2, 999),
    "sf-u8-odd": _soundfile("PCM_U8", 1, 999),
    "sf-ulaw": _soundfile("ULAW", 1, 500),
    "sf-alaw-stereo": _soundfile("ALAW", 2, 500),
    "sf-wavex-3ch": _soundfile("PCM_16", 3, 500, fmt="WAVEX"),
    "sf-wavex-24": _soundfile("PCM_24", 1, 500, fmt="WAVEX"),
    "sf-list-chunk": _soundfile("PCM_16", 2, 500, title=True),
    "sf-list-chunk-cut": _edited(_soundfile("PCM_16", 1, 500, title=True), _cut(-7)),
    "sf-u8-odd-extra": _edited(_soundfile("PCM_U8", 1, 999), lambda b: b + b"\x01\x02\x03"),
    "sf-rf64": _soundfile("PCM_16", 1, 100, fmt="RF64"),
    "sf-w64": _soundfile("PCM_16", 1, 100, fmt="W64"),
    "sf-flac": _soundfile("PCM_16", 1, 100, fmt="FLAC"),
    # by hand
    "hand-junk-before-fmt": _bytes(_riff(_chunk(b"JUNK", b"odd"), _chunk(b"fmt ", _fmt()), _raw_data(0, _AUDIO))),
    "hand-fmt-18": _bytes(_riff(_chunk(b"fmt ", _fmt(3, 1, 8000, 32, b"\0\0")), _raw_data(64, _AUDIO[:70]))),
    "hand-extensible": _bytes(_riff(_chunk(b"fmt ", _EXT), _raw_data(0xFFFFFFFF, _AUDIO[:101]))),
    "hand-data-before-fmt": _bytes(_riff(_chunk(b"data", _AUDIO[:64]), _chunk(b"fmt ", _fmt(channels=2)))),
    "hand-no-data": _bytes(_riff(_chunk(b"fmt ", _fmt()), _chunk(b"LIST", b"INFOabcd"))),
    "hand-no-fmt": _bytes(_riff(_raw_data(0, _AUDIO[:33]))),
    "hand-two-fmt": _bytes(_riff(_chunk(b"fmt ", _fmt(channels=1)), _chunk(b"fmt ", _fmt(channels=2)),
                                 _raw_data(10, _AUDIO[:99]))),
    "hand-block-align-0": _bytes(_riff(_chunk(b"fmt ", _fmt()[:12] + b"\0\0\x10\0"), _raw_data(0, _AUDIO[:9]))),
    "hand-data-after-64k": _bytes(_riff(_chunk(b"fmt ", _fmt()), _chunk(b"JUNK", bytes(70_000)),
                                        _raw_data(0, _AUDIO[:51]))),
    "hand-data-chunk-header-at-64k": _bytes(_riff(_chunk(b"fmt ", _fmt()), _chunk(b"JUNK", bytes(65_536 - 48)),
                                                  _raw_data(0, _AUDIO[:51]))),
    "hand-odd-chunk-sizes": _bytes(_riff(_chunk(b"abcd", b"x"), _chunk(b"fmt ", _fmt(bits=8)),
                                         _chunk(b"efgh", b"xyz"), _raw_data(3, _AUDIO[:5]))),
    "hand-chunk-size-overflows": _bytes(_riff(_chunk(b"fmt ", _fmt()), b"JUNK\xff\xff\xff\xff" + _AUDIO)),
    "hand-riff-only": _bytes(b"RIFF\0\0\0\0WAVE"),
    "hand-short": _bytes(b"RIFF\0\0\0\0WAV"),
    "hand-rifx": _bytes(b"RIFX" + _riff(_chunk(b"fmt ", _fmt()), _raw_data(0, _AUDIO[:10]))[4:]),
    "hand-not-wave": _bytes(b"RIFF\x10\0\0\0AVI LIST" + bytes(8)),
    "hand-empty": _bytes(b""),
    "hand-mp3-ish": _bytes(b"ID3\x04\0\0\0\0\0\0" + _AUDIO),
}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _results(path: Path, snapshot: Callable[[Path], bytes], repair: Callable[[Path], bool]) -> dict[str, object]:
    data = path.read_bytes()
    snap = snapshot(path)
    repaired = repair(path)
    return {"input": _sha(data), "snapshot": _sha(snap), "repaired": repaired,
            "after_repair": _sha(path.read_bytes())}


@pytest.mark.parametrize("case", sorted(CASES))
def test_snapshot_and_repair_give_the_bytes_recorded_before(case, tmp_path):
    path = tmp_path / f"{case}.wav"
    CASES[case](path)
    found = _results(path, wavfile.snapshot, wavfile.repair)
    recorded = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    if os.environ.get("MPCMIX_WAVFILE_UPDATE"):
        recorded[case] = found
        EXPECTED.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        return
    expected = recorded[case]
    assert found["input"] == expected["input"], "the case's input changed (a new libsndfile?)"
    assert found == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_streaming_the_consistent_header_and_its_data_gives_the_snapshot(case, tmp_path):
    path = tmp_path / f"{case}.wav"
    CASES[case](path)
    header, length = wavfile.consistent_header(path)
    with path.open("rb") as f:
        f.seek(len(header))
        streamed = header + f.read(length)
    assert len(streamed) == len(header) + length
    assert streamed == wavfile.snapshot(path)


# --------------------------------------------------------------------------------------------
# What the sizes mean


@pytest.mark.parametrize(("subtype", "channels"), [("PCM_16", 1), ("PCM_16", 2), ("FLOAT", 1), ("FLOAT", 2)])
def test_a_snapshot_of_a_growing_file_reads_as_every_whole_frame_written(subtype, channels, tmp_path):
    path = tmp_path / "x.wav"
    _growing(subtype, channels)(path)
    partial = path.read_bytes() + b"\x07"  # and a byte of the next frame
    path.write_bytes(partial)
    assert sf.info(path).frames == StreamWriter.GATHER_FRAMES  # the header is behind
    copy = tmp_path / "copy.wav"
    copy.write_bytes(wavfile.snapshot(path))
    data = sf.read(copy, dtype="int16" if subtype == "PCM_16" else "float32")[0]
    expected = PCM if channels == 1 else np.stack([PCM, PCM[::-1]], 1)
    if subtype == "FLOAT":
        data = np.rint(data * 32768).astype(np.int16)
    np.testing.assert_array_equal(data, expected)
    assert wavfile.repair(path) and path.read_bytes() == copy.read_bytes()


def test_a_closed_file_is_its_own_snapshot_and_repair_leaves_it_alone(tmp_path):
    path = tmp_path / "x.wav"
    _stream_writer("FLOAT", 2, 1234)(path)
    before = path.read_bytes()
    assert wavfile.snapshot(path) == before
    assert wavfile.consistent_header(path) == (before[:88], 1234 * 8)
    assert wavfile.repair(path) and path.read_bytes() == before


def test_repair_fsyncs_the_file(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    _growing("PCM_16", 1)(path)
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd))[1])
    assert wavfile.repair(path)
    assert synced == [str(path)]


def test_not_a_wav_file_is_its_own_snapshot_and_is_not_repaired(tmp_path):
    path = tmp_path / "x.mp3"
    path.write_bytes(b"ID3" + bytes(100))
    assert wavfile.consistent_header(path) == (b"", 103)
    assert wavfile.snapshot(path) == path.read_bytes()
    assert not wavfile.repair(path) and path.read_bytes() == b"ID3" + bytes(100)


def test_read_layout_reports_the_header_as_declared(tmp_path):
    path = tmp_path / "x.wav"
    _growing("FLOAT", 2)(path)
    layout = wavfile.read_layout(path)
    g = StreamWriter.GATHER_FRAMES
    assert layout == wavfile.WavLayout(
        file_size=88 + 3 * g * 8, riff_size=88 + g * 8 - 8,
        fmt=wavfile.WavFormat(wavfile.WAVE_FORMAT_IEEE_FLOAT, 2, 16000, 8, 32),
        data_offset=88, data_size=g * 8,
    )
    assert layout.data_present == layout.whole_frame_bytes == 3 * g * 8
    assert not layout.size_is_placeholder
    assert wavfile.read_layout(tmp_path / "x.wav") is not None
    (tmp_path / "y").write_bytes(b"fLaC" + bytes(40))
    assert wavfile.read_layout(tmp_path / "y") is None


def test_read_layout_resolves_wave_format_extensible(tmp_path):
    path = tmp_path / "x.wav"
    CASES["hand-extensible"](path)
    layout = wavfile.read_layout(path)
    assert layout is not None and layout.fmt is not None
    assert layout.fmt.format_tag == wavfile.WAVE_FORMAT_EXTENSIBLE
    assert layout.fmt.codec == wavfile.WAVE_FORMAT_PCM
    assert (layout.fmt.channels, layout.fmt.sample_rate, layout.fmt.bits_per_sample) == (2, 8000, 16)
    assert layout.size_is_placeholder and layout.data_size == 0xFFFFFFFF
    assert layout.whole_frame_bytes == 100  # 101 bytes present, frames of 4


def test_read_layout_of_short_fmt_chunks_gives_what_they_hold(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(_riff(_chunk(b"fmt ", _fmt(channels=3)[:14]), _raw_data(0, b"")))
    fmt = wavfile.read_layout(path).fmt
    assert fmt == wavfile.WavFormat(1, 3, 16000, block_align=6, bits_per_sample=None)
    path.write_bytes(_riff(_chunk(b"fmt ", _fmt()[:7]), _raw_data(0, b"")))
    assert wavfile.read_layout(path).fmt is None


# --------------------------------------------------------------------------------------------
# Writing headers


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_pcm_header_and_the_samples_read_back_exactly(subtype, channels, tmp_path):
    frames = PCM[:1001] if channels == 1 else np.stack([PCM[:1001], PCM[1001:2002]], 1)
    samples = frames if subtype == "PCM_16" else (frames / np.float32(32768)).astype(np.float32)
    body = samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    path = tmp_path / "x.wav"
    path.write_bytes(wavfile.pcm_header(16000, channels, subtype, len(body)) + body)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, channels, 1001, subtype)
    data, _ = sf.read(path, dtype="int16" if subtype == "PCM_16" else "float32")
    np.testing.assert_array_equal(data, samples)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_pcm_header_is_the_header_stream_writer_writes(subtype, channels, rate, tmp_path):
    """Byte for byte: a writer that writes the header itself writes the same files."""
    path = tmp_path / "x.wav"
    with StreamWriter(path, rate, channels=channels, subtype=subtype) as w:
        w.write(np.ones((channels, 999), np.int16))
    data = path.read_bytes()
    data_bytes = 999 * channels * (2 if subtype == "PCM_16" else 4)
    header = wavfile.pcm_header(rate, channels, subtype, data_bytes)
    assert data[:len(header)] == header and len(data) == len(header) + data_bytes


def test_pcm_header_refuses_what_a_wav_cannot_say():
    with pytest.raises(ValueError, match="subtype"):
        wavfile.pcm_header(16000, 1, "PCM_24", 0)
    with pytest.raises(ValueError, match="whole frames"):
        wavfile.pcm_header(16000, 2, "PCM_16", 6)
    with pytest.raises(ValueError, match="channels"):
        wavfile.pcm_header(16000, 0, "FLOAT", 0)
    with pytest.raises(ValueError, match="4 GiB"):
        wavfile.pcm_header(16000, 1, "PCM_16", 1 << 32)
