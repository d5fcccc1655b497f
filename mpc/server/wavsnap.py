"""A consistent copy of a WAV file that is still being written.

libsndfile writes the RIFF and data chunk sizes when it flushes or closes; a copy taken between
two flushes may declare fewer samples than it holds (or the 0 / 0xFFFFFFFF placeholders).
`wav_snapshot` reads the file and sets both sizes from its actual length, cut to whole frames;
`repair_wav` does the same in place (a recording left by a killed server); `update_headers` makes
an engine's open files count their samples (the server's periodic flush).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any


def wav_snapshot(path: Path) -> bytes:
    """The bytes of `path` with its RIFF and data sizes matching its length (WAV only)."""
    return bytes(_fix_sizes(bytearray(path.read_bytes())))


def repair_wav(path: Path) -> bool:
    """Set, in place, the RIFF and data sizes of a WAV file to the data it holds (whole frames;
    a partial last frame is cut off). For a recording a killed server left half-written: its
    header counts only what was there at the last flush. True if it was a WAV file with a data
    chunk (its header is now right); the audio itself is never read or moved."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        head = bytearray(f.read(min(size, 1 << 16)))  # the chunks before the audio
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        pos, block_align = 12, 1
        while pos + 8 <= len(head):
            chunk_id = bytes(head[pos:pos + 4])
            (chunk_size,) = struct.unpack_from("<I", head, pos + 4)
            body = pos + 8
            if chunk_id == b"fmt " and body + 14 <= len(head):
                (block_align,) = struct.unpack_from("<H", head, body + 12)
                block_align = max(1, block_align)
            if chunk_id == b"data":
                available = size - body
                available -= available % block_align
                f.truncate(body + available)
                f.seek(pos + 4)
                f.write(struct.pack("<I", available))
                f.seek(4)
                f.write(struct.pack("<I", body + available - 8))
                f.flush()
                os.fsync(f.fileno())
                return True
            pos = body + chunk_size + (chunk_size & 1)
    return False


def _fix_sizes(data: bytearray) -> bytearray:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
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
            return data
        pos = body + size + (size & 1)
    return data


#: libsndfile's SFC_UPDATE_HEADER_NOW: rewrite the header's sizes for the data written so far.
_SFC_UPDATE_HEADER_NOW = 0x1060


def update_headers(engine: Any, *, wait: bool = False) -> bool:
    """Make every open WAV file of `engine` count, in its header, the samples written so far.

    What a periodic flush needs, without the fsync that `StreamWriter.flush` (libsndfile's
    `sf_write_sync`) adds: that fsync takes milliseconds per file once data is dirty, long enough
    to make the real-time ticker miss frames, and it is not what crash safety against `kill -9`
    needs (the kernel keeps what was written; only the header must count it). libsndfile writes
    PCM straight through, so the header update is all there is to do (queued behind the writes
    when the engine writes on a thread). MP3 files have no size in
    a header and are left to the encoder. `wait`: return only once everything written so far
    is in the files (a download reads them next). Returns False when the engine's writers cannot
    be reached this way (the caller then falls back to `engine.flush()`).
    """
    writers = [*getattr(engine, "_listener_writers", {}).values(),
               *getattr(engine, "_recording_writers", {}).values()]
    try:
        from soundfile import _ffi, _snd
    except ImportError:  # pragma: no cover - soundfile is a dependency
        return False
    for writer in writers:
        sound_file = getattr(writer, "_file", None)
        if sound_file is None or getattr(writer, "file_format", "wav") != "wav":
            continue
        handle = getattr(sound_file, "_file", None)
        if handle is None:
            return False
        background = getattr(writer, "_background", None)
        if background is not None:
            # Writes run on the engine's write-behind thread: the header update must run there
            # too, after the writes before it (libsndfile seeks to rewrite the header).
            background.submit(_snd.sf_command, handle, _SFC_UPDATE_HEADER_NOW, _ffi.NULL, 0)
        else:
            _snd.sf_command(handle, _SFC_UPDATE_HEADER_NOW, _ffi.NULL, 0)
    if wait:
        for background in {id(b): b for w in writers
                           if (b := getattr(w, "_background", None)) is not None}.values():
            background.drain()
    return hasattr(engine, "_listener_writers")
