"""A consistent copy of a WAV file that is still being written.

libsndfile writes the RIFF and data chunk sizes when it flushes or closes; a copy taken between
two flushes may declare fewer samples than it holds (or the 0 / 0xFFFFFFFF placeholders).
`wav_snapshot` reads the file and sets both sizes from its actual length, cut to whole frames.
"""

from __future__ import annotations

import struct
from pathlib import Path


def wav_snapshot(path: Path) -> bytes:
    """The bytes of `path` with its RIFF and data sizes matching its length (WAV only)."""
    data = bytearray(path.read_bytes())
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return bytes(data)
    pos = 12
    block_align = 1
    while pos + 8 <= len(data):
        chunk_id = bytes(data[pos:pos + 4])
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and body + 14 <= len(data):
            (block_align,) = struct.unpack_from("<H", data, body + 12)
            block_align = max(1, block_align)
        if chunk_id == b"data":
            available = len(data) - body
            available -= available % block_align
            del data[body + available:]
            struct.pack_into("<I", data, pos + 4, available)
            struct.pack_into("<I", data, 4, len(data) - 8)
            return bytes(data)
        pos = body + size + (size & 1)
    return bytes(data)
