"""Voices played straight from disk: a mono 16-bit WAV at the call's rate, read by slices as the
timeline reaches it, so a render's memory does not grow with the length of its voices.
"""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf

from . import wavfile
from .decode import AudioError, check_file, check_rate, check_wav, sf_reason

__all__ = ["PcmFile", "open_pcm"]


class PcmFile:
    """The samples of a mono 16-bit WAV at the call's rate, read from disk on demand.

    Sequence-like: ``len()`` and slicing (``pcm[a:b]`` -> int16 (b - a,), read with `os.pread`,
    which releases the GIL), so a `OneShot` plays it without the file ever being held in memory
    whole: a render's memory does not grow with the length of its voices. Made by `open_pcm`,
    which checks the file as `load_audio` does.
    """

    dtype = np.dtype(np.int16)
    ndim = 1

    #: Reads shorter than this are served from a window of this many samples read ahead (one
    #: system call a second at 16 kHz instead of one a tick; each call also hands the GIL over).
    READ_AHEAD = 1 << 14

    def __init__(self, path: str, offset: int, frames: int) -> None:
        self.path = path
        self.offset = offset
        self.frames = frames
        self._window = np.empty(0, dtype=np.int16)
        self._window_lo = 0
        self._held: np.ndarray | None = None
        self._fd = os.open(path, os.O_RDONLY)
        import weakref

        weakref.finalize(self, os.close, self._fd)

    @property
    def shape(self) -> tuple[int]:
        return (self.frames,)

    def __len__(self) -> int:
        return self.frames

    #: A voice up to this many samples may be held in memory whole for the live mixer's gather
    #: (`gather.Gather`; 4 minutes at 16 kHz); a longer one stays read by slices.
    HELD_FRAMES = 1 << 22

    def held(self) -> np.ndarray | None:
        """The samples in memory (read once), when the file is short enough; else None."""
        if self._held is None and self.frames <= self.HELD_FRAMES:
            held = np.empty(self.frames, dtype=np.int16)
            self._pread(held, 0)
            self._held = held
        return self._held

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice):
            raise TypeError("a PcmFile is read by slices")
        lo, hi, step = index.indices(self.frames)
        if step != 1:
            raise ValueError("a PcmFile is read by contiguous slices")
        return self.read_into(np.empty(max(0, hi - lo), dtype=np.int16), lo)

    def read_into(self, out: np.ndarray, lo: int) -> np.ndarray:
        """Frames ``[lo, lo + len(out))`` into `out` (int16, contiguous); returns `out`.

        Long reads go straight from the file into `out`; short ones (a tick's frame) come from
        a window of `READ_AHEAD` samples, read again when a read leaves it. Memory stays one
        window per file, whatever its length."""
        n = len(out)
        if lo < 0 or lo + n > self.frames:
            raise IndexError(f"frames {lo}..{lo + n} of {self.frames}")
        if n >= self.READ_AHEAD:
            self._pread(out, lo)
            return out
        w = self._window
        if not (self._window_lo <= lo and lo + n <= self._window_lo + len(w)):
            self._window = w = np.empty(0, dtype=np.int16)  # empty until the read succeeds
            fresh = np.empty(min(self.READ_AHEAD, self.frames - lo), dtype=np.int16)
            self._pread(fresh, lo)
            self._window, self._window_lo, w = fresh, lo, fresh
        out[:] = w[lo - self._window_lo:lo - self._window_lo + n]
        return out

    def _pread(self, out: np.ndarray, lo: int) -> None:
        n = len(out)
        got = os.preadv(self._fd, [out.data], self.offset + 2 * lo) if n else 0
        if got != 2 * n:  # the file changed under us: refuse rather than play garbage
            raise AudioError(self.path, f"short read ({got} of {2 * n} bytes at frame {lo})")

    def __repr__(self) -> str:
        return f"PcmFile({self.path!r}, offset={self.offset}, frames={self.frames})"


def open_pcm(src: str | os.PathLike[str], sample_rate: int) -> PcmFile | None:
    """A `PcmFile` for `src` when its samples can be played straight from disk, else None.

    That is a plain RIFF/WAVE (or WAVE_FORMAT_EXTENSIBLE) file of 16-bit little-endian PCM, mono,
    at `sample_rate`: exactly what `load_audio` would return, without decoding. It is checked as
    `load_audio` checks files (missing, empty, truncated and unreadable files raise AudioError
    naming the file); any other file gives None (decode it with `load_audio`).
    """
    check_rate(sample_rate)
    name = os.fspath(src)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    check_file(name)
    layout, raw = check_wav(name)
    if layout is None or raw is not None:  # not plain RIFF WAVE, or header size 0 (RAW path)
        return None
    fmt, offset, size = layout.fmt, layout.data_offset, layout.data_size
    if fmt is None or offset is None or size is None or layout.size_is_placeholder:
        return None
    if not (fmt.codec == wavfile.WAVE_FORMAT_PCM and fmt.channels == 1
            and fmt.sample_rate == sample_rate and fmt.bits_per_sample == 16):
        return None
    try:
        info = sf.info(name)
    except sf.SoundFileError as exc:
        raise AudioError(name, f"not a readable audio file (libsndfile: {sf_reason(exc)})") from None
    if info.format not in ("WAV", "WAVEX") or info.subtype != "PCM_16" or info.channels != 1:
        return None
    if info.frames == 0:
        raise AudioError(name, "the file holds no audio (0 frames)")
    if info.frames != min(size, os.stat(name).st_size - offset) // 2:
        return None  # libsndfile sees the samples otherwise: let it decode them
    return PcmFile(name, offset, int(info.frames))
