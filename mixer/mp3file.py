"""MP3 files a killed writer left: their frames counted, and their header frame written.

libsndfile's MP3 writer (LAME) starts a file with a header frame left blank, and fills it in when
the file is closed: a Xing tag (how many frames and bytes the file holds, a seek table) and a LAME
tag (the encoder delay and padding a decoder trims for gapless playback). A writer killed before
closing leaves the blank frame. Decoders then guess the length from the first frame's bitrate:
libsndfile (mpg123) reads and reports about a fifth of a variable-bitrate file, ffmpeg plays all
of it, and the two disagree with each other and with the recording. `repair` writes the header
frame the encoder would have written for the frames present (cutting a frame the kill left
partial), so every decoder plays, and reports, the same samples.

MPEG audio frames: a 4-byte header (sync, version, layer, bitrate, sample rate, padding, mode)
then the frame's body; layer III frames hold 1152 samples (MPEG-1) or 576 (MPEG-2 and 2.5).
No numpy, no libsndfile: `struct` only (and libsndfile once, in `encoder_delay`).
"""

from __future__ import annotations

import functools
import os
import struct
import tempfile
from typing import NamedTuple

__all__ = ["Mp3Frame", "encoder_delay", "frames", "has_blank_header", "repair"]

#: Layer III bitrates in kbit/s by bitrate index: MPEG-1, then MPEG-2/2.5.
_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
#: Sample rates in Hz by version bits (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5) and index.
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_XING_FLAGS = 0x0F  # frames, bytes, seek table, quality
_TAG_BYTES = 120 + 36  # Xing part (4 + 4 + 4 + 4 + 100 + 4) then the LAME part
_LAME_CRC_SPAN = 190  # the LAME tag's CRC covers the frame's first 190 bytes
#: Samples a layer III decoder outputs before the first encoded one (gapless decoders trim them
#: with the encoder's delay).
DECODER_DELAY = 529


class Mp3Frame(NamedTuple):
    """One MPEG audio layer III frame: where it starts and its size in bytes, its header's
    sample rate, channels and samples."""

    offset: int
    size: int
    sample_rate: int
    channels: int
    samples: int

    @property
    def side_info(self) -> int:
        """Bytes of side information after the 4-byte header (where a Xing tag begins)."""
        mpeg1 = self.samples == 1152
        return (32 if self.channels == 2 else 17) if mpeg1 else (17 if self.channels == 2 else 9)


def _frame_at(data: bytes | bytearray, pos: int) -> Mp3Frame | None:
    if pos + 4 > len(data):
        return None
    (h,) = struct.unpack_from(">I", data, pos)
    version, layer = (h >> 19) & 3, (h >> 17) & 3
    bitrate_index, rate_index = (h >> 12) & 15, (h >> 10) & 3
    if h >> 21 != 0x7FF or version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[1 if mpeg1 else 2][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    size = (144 if mpeg1 else 72) * bitrate // rate + ((h >> 9) & 1)
    channels = 1 if (h >> 6) & 3 == 3 else 2
    return Mp3Frame(pos, size, rate, channels, 1152 if mpeg1 else 576)


def frames(data: bytes | bytearray) -> list[Mp3Frame]:
    """The whole layer III frames of `data`, from its first byte (an ID3v2 tag ends the walk:
    our files have none), up to the first byte that is not a frame or a frame cut short."""
    out: list[Mp3Frame] = []
    pos = 0
    while (frame := _frame_at(data, pos)) is not None and pos + frame.size <= len(data):
        out.append(frame)
        pos += frame.size
    return out


def has_blank_header(data: bytes | bytearray, found: list[Mp3Frame] | None = None) -> bool:
    """Whether the first frame is the blank header frame a writer killed before closing leaves
    (all zeros after its side information: no Xing or Info tag)."""
    found = frames(data[:4096]) if found is None else found
    if not found:
        return False
    first = found[0]
    body = data[first.offset + 4:first.offset + first.size]
    return len(body) == first.size - 4 and not any(body)


@functools.cache
def encoder_delay(sample_rate: int, channels: int) -> int:
    """The encoder delay (samples) the MP3 writer puts in its LAME tag for this rate and channel
    count, read from a short file it writes (so it is this libsndfile's and LAME's own)."""
    import numpy as np

    from .writer import StreamWriter

    fd, name = tempfile.mkstemp(suffix=".mp3")
    os.close(fd)
    try:
        with StreamWriter(name, sample_rate, channels=channels, file_format="mp3") as w:
            w.write(np.zeros((channels, sample_rate // 10), dtype=np.int16))
        with open(name, "rb") as f:
            data = f.read()
    finally:
        os.unlink(name)
    found = frames(data)
    tag = found[0].offset + 4 + found[0].side_info if found else 0
    lame = tag + 120
    if not found or data[tag:tag + 4] not in (b"Xing", b"Info") or data[lame:lame + 4] != b"LAME":
        return 0
    return int.from_bytes(data[lame + 21:lame + 24], "big") >> 12


def _crc16(data: bytes | bytearray) -> int:
    """CRC-16 (polynomial 0x8005, reflected: what the LAME tag's CRCs use)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _header_frame(first: bytes, found: list[Mp3Frame], total_bytes: int, delay: int) -> bytes:
    """The blank first frame `first` with the Xing and LAME tags for the frames `found`."""
    frame = bytearray(first)
    audio = found[1:]
    tag = 4 + found[0].side_info
    if tag + _TAG_BYTES > len(frame):
        raise ValueError(f"the header frame ({len(frame)} bytes) is too short for its tags")
    toc = bytearray(100)
    starts, pos = [], found[1].offset if audio else 0
    for f in audio:
        starts.append(pos)
        pos += f.size
    for i in range(100):  # seek table: byte position of i% of the frames, in 1/256 of the file
        k = min(len(starts) - 1, i * len(starts) // 100) if starts else 0
        toc[i] = min(255, (starts[k] * 256) // max(1, total_bytes)) if starts else 0
    struct.pack_into(">4sIII", frame, tag, b"Xing", _XING_FLAGS, len(audio), total_bytes)
    frame[tag + 16:tag + 116] = toc
    struct.pack_into(">I", frame, tag + 116, 0)  # quality: unknown
    lame = tag + 120
    frame[lame:lame + 9] = b"LAME3.100"
    frame[lame + 9] = 0x00  # tag revision 0, VBR method unknown
    # delay (12 bits) and padding (12 bits): the padding is unknown, a kill cut the last frames
    frame[lame + 21:lame + 24] = ((min(delay, 0xFFF) << 12) | 0).to_bytes(3, "big")
    struct.pack_into(">I", frame, lame + 28, total_bytes)  # music length
    music_crc = 0  # not computed (optional; decoders ignore a zero)
    struct.pack_into(">H", frame, lame + 32, music_crc)
    struct.pack_into(">H", frame, lame + 34, _crc16(frame[:_LAME_CRC_SPAN]))
    return bytes(frame)


def repair(path: str | os.PathLike[str]) -> bool:
    """Write the header frame of an MP3 file a killed writer left (see the module docstring),
    cutting a last frame the kill left partial, then fsync it. True if the file had a blank
    header frame and audio frames after it (it is now whole); False, and the file untouched,
    otherwise (a file closed normally, or not such an MP3 file)."""
    with open(path, "r+b") as f:
        if not has_blank_header(f.read(4096)):  # the usual case, a closed file: 4 KiB read
            return False
        f.seek(0)
        data = f.read()
        found = frames(data)
        if len(found) < 2:
            return False
        end = found[-1].offset + found[-1].size
        first = found[0]
        delay = encoder_delay(first.sample_rate, first.channels)
        if (len(found) - 1) * first.samples <= delay + DECODER_DELAY + first.samples:
            delay = 0  # too short to hold the encoder's delay: decoders would refuse the tag
        header = _header_frame(data[first.offset:first.offset + first.size], found, end, delay)
        f.truncate(end)
        f.seek(first.offset)
        f.write(header)
        f.flush()
        os.fsync(f.fileno())
    return True
