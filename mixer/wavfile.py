"""WAV headers, read and written in one place.

A WAV file here is plain little-endian RIFF WAVE: ``RIFF <size> WAVE`` followed by chunks, each
``<id: 4 bytes> <size: uint32 LE> <body: size bytes> [pad byte if size is odd]``. Two of them
matter: ``fmt `` (how the samples are laid out) and ``data`` (the samples). RIFX (big-endian),
RF64 and W64 keep their sizes elsewhere and are not parsed here (`read_layout` gives None).

A streaming writer (libsndfile, between two header updates) leaves the RIFF and data sizes
counting fewer bytes than the file holds, or the placeholders 0 and 0xFFFFFFFF
(`PLACEHOLDER_SIZES`). `consistent_header`, `snapshot` and `repair` set both sizes from the bytes
actually present, cut to whole frames; they never read or move the audio itself except to copy it.

All sizes and offsets are in bytes; sample rates in Hz. No numpy, no libsndfile: `struct` only.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

__all__ = [
    "PLACEHOLDER_SIZES",
    "REPAIR_SCAN_BYTES",
    "WAVE_FORMAT_ALAW",
    "WAVE_FORMAT_EXTENSIBLE",
    "WAVE_FORMAT_IEEE_FLOAT",
    "WAVE_FORMAT_MULAW",
    "WAVE_FORMAT_PCM",
    "ConsistentHeader",
    "WavFormat",
    "WavLayout",
    "consistent_header",
    "pcm_header",
    "read_layout",
    "repair",
    "snapshot",
]

#: Format tags of the ``fmt `` chunk (mmreg.h).
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_ALAW = 0x0006
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE  # the real tag is the first two bytes of the sub-format GUID

#: Data (and RIFF) sizes a streaming writer leaves in the header before it knows the length.
PLACEHOLDER_SIZES = (0, 0xFFFFFFFF)

_FMT_READ = 40  # bytes of a fmt chunk's body that are parsed (WAVEFORMATEXTENSIBLE is 40)
_U32_MAX = 0xFFFFFFFF
#: `repair` looks for the data chunk in the file's first this many bytes (the header, never the
#: audio of a long recording).
REPAIR_SCAN_BYTES = 1 << 16


@dataclass(frozen=True)
class WavFormat:
    """The fields of a ``fmt `` chunk: those its body holds (a short chunk leaves the rest None).

    A chunk shorter than 8 bytes gives no `WavFormat` at all.
    """

    #: As declared: `WAVE_FORMAT_EXTENSIBLE` stays 0xFFFE here (see `codec`).
    format_tag: int
    #: Interleaved channels per frame.
    channels: int
    #: Frames per second, in Hz.
    sample_rate: int
    #: Bytes per frame (all channels), as declared (0 in a broken file); None if the chunk is
    #: shorter than 14 bytes.
    block_align: int | None = None
    #: Bits per sample (container size for PCM); None if the chunk is shorter than 16 bytes.
    bits_per_sample: int | None = None
    #: For `WAVE_FORMAT_EXTENSIBLE` with the sub-format present (a chunk of 26 bytes or more):
    #: the format tag its sub-format GUID starts with; else None.
    sub_format: int | None = None

    @property
    def codec(self) -> int:
        """The effective format tag: the sub-format's for WAVE_FORMAT_EXTENSIBLE, when known."""
        return self.sub_format if self.sub_format is not None else self.format_tag

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame for cutting data to whole frames: `block_align`, at least 1."""
        return max(1, self.block_align or 0)


@dataclass(frozen=True)
class WavLayout:
    """Where things are in a RIFF WAVE file, as `read_layout` found it (chunks are walked up to
    the first ``data`` chunk; the audio is not read)."""

    #: Bytes in the file when it was parsed.
    file_size: int
    #: The RIFF chunk's size as declared (the file's length minus 8 when consistent).
    riff_size: int
    #: The last ``fmt `` chunk before the data chunk; None if there is none (or it is shorter
    #: than 8 bytes).
    fmt: WavFormat | None
    #: Offset of the data chunk's body (its first audio byte); None if no data chunk was found.
    data_offset: int | None
    #: The data chunk's size as declared, possibly a placeholder; None if there is no data chunk.
    data_size: int | None

    @property
    def data_present(self) -> int:
        """Bytes from the data chunk's body to the end of the file (0 without a data chunk)."""
        return 0 if self.data_offset is None else self.file_size - self.data_offset

    @property
    def whole_frame_bytes(self) -> int:
        """`data_present`, cut to whole frames of the fmt chunk's block_align (1 if unknown)."""
        frame = self.fmt.frame_bytes if self.fmt is not None else 1
        present = self.data_present
        return present - present % frame

    @property
    def size_is_placeholder(self) -> bool:
        """Whether the data chunk's declared size is 0 or 0xFFFFFFFF (a writer not done yet)."""
        return self.data_size in PLACEHOLDER_SIZES


def read_layout(path: str | os.PathLike[str]) -> WavLayout | None:
    """The layout of `path` if it is a plain RIFF WAVE file (else None; RIFX, RF64 and W64 too).

    The file is not required to be complete or consistent: sizes are reported as declared, and
    `WavLayout.data_present` says what the file holds. OSError if it cannot be opened.
    """
    with open(path, "rb") as f:
        return _layout(f)


def _layout(f: BinaryIO, scan_limit: int | None = None) -> WavLayout | None:
    """The layout of open file `f` (size from fstat). Chunk headers are looked for in the first
    `scan_limit` bytes only, when given."""
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    (riff_size,) = struct.unpack_from("<I", head, 4)
    bound = size if scan_limit is None else min(size, scan_limit)
    fmt: WavFormat | None = None
    pos = 12
    while pos + 8 <= bound:
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(f.read(max(0, min(chunk_size, _FMT_READ, bound - body))))
        elif chunk_id == b"data":
            return WavLayout(size, riff_size, fmt, body, chunk_size)
        pos = body + chunk_size + (chunk_size & 1)  # chunks are word-aligned
    return WavLayout(size, riff_size, fmt, None, None)


def _parse_fmt(body: bytes) -> WavFormat | None:
    if len(body) < 8:
        return None
    tag, channels, rate = struct.unpack_from("<HHI", body)
    align = struct.unpack_from("<H", body, 12)[0] if len(body) >= 14 else None
    bits = struct.unpack_from("<H", body, 14)[0] if len(body) >= 16 else None
    sub = None
    if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
        (sub,) = struct.unpack_from("<H", body, 24)
    return WavFormat(tag, channels, rate, align, bits, sub)


# --------------------------------------------------------------------------------------------
# Consistent sizes for a file that may still be growing


class ConsistentHeader(NamedTuple):
    """What to send for a WAV file as it is now: `header`, then `data_length` bytes of the file
    from offset `data_offset` (= ``len(header)``)."""

    #: Every byte before the audio, with the RIFF and data sizes set for `data_length`.
    header: bytes
    #: Bytes of audio to send after the header: whole frames present in the file now.
    data_length: int

    @property
    def data_offset(self) -> int:
        """Where the audio starts in the file (and in the copy): ``len(header)``."""
        return len(self.header)


def consistent_header(path: str | os.PathLike[str]) -> ConsistentHeader:
    """The header of `path` (a WAV file that may still be growing) made to match the whole frames
    present now, and how many data bytes follow it.

    A server streams the file as ``header`` then ``data_length`` bytes read from offset
    ``len(header)``: those bytes are in the file already (a writer only appends), so the copy is
    consistent whatever the writer does meanwhile, and memory stays the header's size. A partial
    last frame is left out; whatever follows the data chunk (a trailing chunk, a pad byte) too.

    A file that is not a RIFF WAVE with a data chunk has no sizes to set: ``(b"", size)``, the
    whole file as it is now. ValueError if the sizes do not fit the header's 32 bits (4 GiB).
    """
    with open(path, "rb") as f:
        return _consistent(f)


def _consistent(f: BinaryIO) -> ConsistentHeader:
    layout = _layout(f)
    if layout is None or layout.data_offset is None:
        return ConsistentHeader(b"", os.fstat(f.fileno()).st_size)
    f.seek(0)
    head = f.read(layout.data_offset)
    length = layout.whole_frame_bytes
    return ConsistentHeader(_with_sizes(head, length), length)


def _with_sizes(head: bytes, data_length: int) -> bytes:
    """`head` (everything up to the data chunk's body) with its RIFF and data sizes for
    `data_length` bytes of audio."""
    out = bytearray(head)
    riff = len(head) + data_length - 8
    if data_length > _U32_MAX or riff > _U32_MAX:
        raise ValueError(f"{data_length} bytes of audio do not fit a RIFF header (4 GiB at most)")
    struct.pack_into("<I", out, len(head) - 4, data_length)
    struct.pack_into("<I", out, 4, riff)
    return bytes(out)


def snapshot(path: str | os.PathLike[str]) -> bytes:
    """A consistent copy of `path` as it is now: `consistent_header`'s header followed by its
    `data_length` bytes of audio (a file that is not a RIFF WAVE with a data chunk: its bytes)."""
    with open(path, "rb") as f:
        header, length = _consistent(f)
        f.seek(len(header))
        return header + f.read(length)


def repair(path: str | os.PathLike[str]) -> bool:
    """Set, in place, the RIFF and data sizes of WAV file `path` to the whole frames it holds,
    cutting off a partial last frame (and whatever followed the data), then fsync it.

    For a file a killed writer left half-written: its header counts only what was there at the
    last header update. The data chunk is looked for in the first `REPAIR_SCAN_BYTES` of the
    file. True if it is a RIFF WAVE with a data chunk (its header is now right); False, and the
    file untouched, otherwise. The audio itself is never read or moved.
    """
    with open(path, "r+b") as f:
        layout = _layout(f, REPAIR_SCAN_BYTES)
        if layout is None or layout.data_offset is None:
            return False
        length = layout.whole_frame_bytes
        f.seek(0)
        head = f.read(layout.data_offset)
        sizes = _with_sizes(head, length)
        f.truncate(layout.data_offset + length)
        f.seek(layout.data_offset - 4)
        f.write(sizes[-4:])
        f.seek(4)
        f.write(sizes[4:8])
        f.flush()
        os.fsync(f.fileno())
    return True


# --------------------------------------------------------------------------------------------
# Writing

#: subtype -> (format tag, bytes per sample)
_PCM_SUBTYPES = {"PCM_16": (WAVE_FORMAT_PCM, 2), "FLOAT": (WAVE_FORMAT_IEEE_FLOAT, 4)}


def pcm_header(sample_rate: int, channels: int, subtype: str, data_bytes: int) -> bytes:
    """The header of a WAV file of `data_bytes` bytes of interleaved samples: everything before
    them, sizes included (append the samples, little-endian, to make the file).

    `subtype` is ``"PCM_16"`` (int16) or ``"FLOAT"`` (float32); `sample_rate` in Hz; `channels`
    >= 1; `data_bytes` a whole number of frames (``channels`` x 2 or 4 bytes each).

    The layout is the one libsndfile writes for `StreamWriter`, byte for byte, so a file written
    with it holds the same bytes: a 16-byte ``fmt `` chunk, and for FLOAT a ``fact`` chunk
    (frames) and a zero-filled ``PAD `` chunk where libsndfile's PEAK chunk would be (44 bytes
    for PCM_16; 72 + 8 x channels for FLOAT).
    """
    if subtype not in _PCM_SUBTYPES:
        raise ValueError(f"subtype must be one of {', '.join(_PCM_SUBTYPES)}, not {subtype!r}")
    tag, width = _PCM_SUBTYPES[subtype]
    align = channels * width
    if not 0 < channels <= 0xFFFF // width or not 0 < sample_rate * align <= _U32_MAX:
        raise ValueError(f"no WAV header for {channels} channels at {sample_rate} Hz")
    if data_bytes < 0 or data_bytes % align:
        raise ValueError(f"data_bytes must be whole frames of {align} bytes, not {data_bytes}")
    fmt = struct.pack("<HHIIHH", tag, channels, sample_rate, sample_rate * align, align, 8 * width)
    chunks = [b"fmt ", struct.pack("<I", len(fmt)), fmt]
    if subtype == "FLOAT":
        pad = 8 + 8 * channels  # the size of libsndfile's PEAK chunk body
        chunks += [b"fact", struct.pack("<II", 4, data_bytes // align)]
        chunks += [b"PAD ", struct.pack("<I", pad), bytes(pad)]
    body = b"".join(chunks)
    return _with_sizes(b"RIFF\0\0\0\0WAVE" + body + b"data\0\0\0\0", data_bytes)
