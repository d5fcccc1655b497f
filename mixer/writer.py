"""Audio out: int16 blocks streamed to WAV (16-bit PCM or float32) or MP3, in constant memory,
optionally on a write-behind thread; durable (fsynced) on close.

A 16-bit PCM WAV is written with plain system calls (`_PcmWav`: the header of
`wavfile.pcm_header`, then ``pwrite`` of the samples, the header's sizes patched on
`StreamWriter.update_header`, `~StreamWriter.flush` and `~StreamWriter.close`), byte for byte the
file libsndfile writes; float WAVs and MP3s are written by libsndfile. Everything this package
does with libsndfile's private handle (``soundfile._snd.sf_command``) happens here, behind
`StreamWriter`'s public methods.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import soundfile as sf

from .decode import FULL_SCALE, check_rate
from .wavfile import pcm_header

__all__ = ["WRITEBACK_BYTES", "StreamWriter", "WriteBehind", "start_writeback"]

_SUBTYPES = ("PCM_16", "FLOAT")
_FILE_FORMATS = {"wav": "WAV", "mp3": "MP3"}
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile: its PEAK chunk carries a timestamp; ours must not
_SFC_UPDATE_HEADER_NOW = 0x1060  # libsndfile: write the header's sizes for what is written so far
#: A writer asks the kernel to start writing its file back to disk every this many bytes, so the
#: fsync of `StreamWriter.close` finds little left to write (the disk works while we mix), and
#: lets the kernel drop from its page cache what the previous such call sent to the disk
#: (`DROP_WRITTEN`). 256 KiB is 8 s of a 16 kHz mono recording (docs/performance.md: with 2,000
#: files a process, 1 MiB left more dirty pages in memory and cost more CPU in the kernel).
WRITEBACK_BYTES = 1 << 18
#: Drop a file's pages from the page cache once written back (``posix_fadvise(DONTNEED)``), all
#: but the first page (the header's, patched again and again) and the last 256 KiB: a server
#: writing thousands of recordings does not fill memory with audio no one reads back, so the
#: kernel never has to reclaim it while the ticker needs the cores.
DROP_WRITTEN = True
_SYNC_FILE_RANGE_WRITE = 2
_PAGE = 4096


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range`` from the C library, or None where there is none."""
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the dirty pages of `fd`'s file to disk, without waiting
    (``sync_file_range(SYNC_FILE_RANGE_WRITE)``; nothing where the call does not exist). Durability
    still comes from fsync: this only moves the disk's work earlier, so it overlaps computing."""
    fn = _sync_file_range()
    if fn is not None:
        fn(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # a failure here is not an error: fsync decides


def drop_cached(fd: int, start: int, end: int) -> None:
    """Let the kernel drop the clean cached pages of `fd`'s file in [start, end)
    (``posix_fadvise(POSIX_FADV_DONTNEED)``; nothing where the call does not exist). Pages not
    yet on the disk stay: nothing written is lost, a later read comes from the disk."""
    if end > start and hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


def _nothing() -> None:
    pass


def _close_quietly(file: sf.SoundFile | _PcmWav, fd: int) -> None:
    """A writer dropped without `close`: its file first (it writes its header through `fd`),
    then the descriptor."""
    try:
        file.close()
    except Exception:  # a finaliser has nobody to tell
        pass
    os.close(fd)


#: The RIFF size libsndfile leaves in a WAV header it has just opened (until the first header
#: update); `_PcmWav` writes the same, so a file is the same bytes at every stage.
_RIFF_SIZE_AT_OPEN = 8


class _PcmWav:
    """A 16-bit PCM WAV file written with plain system calls on descriptor `fd` (opened and
    closed by its `StreamWriter`): the header of `wavfile.pcm_header` at open, samples by
    ``pwrite`` at the offset of their first frame (so writes made on two threads land in their
    places whatever their order), and the header's RIFF and data sizes patched by `set_size`.
    Only `StreamWriter` uses it; `name` is for the errors it raises."""

    __slots__ = ("channels", "data_offset", "fd", "frame_bytes", "name", "sample_rate", "sizes", "written")

    def __init__(self, fd: int, name: str, sample_rate: int, channels: int) -> None:
        self.fd, self.name = fd, name
        self.sample_rate, self.channels = sample_rate, channels
        head = bytearray(pcm_header(sample_rate, channels, "PCM_16", 0))
        self.sizes = head[4:]  # what `set_size` rewrites: the RIFF size to the data size
        struct.pack_into("<I", head, 4, _RIFF_SIZE_AT_OPEN)
        self.data_offset = len(head)
        self.frame_bytes = 2 * channels
        self.written = 0  # frames: the end of the furthest write done (a dropped writer's size)
        self.pwrite([head], 0, len(head))

    def pwrite(self, buffers: list[Any], offset: int, total: int) -> None:
        """Write `buffers` (bytes-like, in order; `total` bytes) at byte `offset`: one
        ``pwritev``, more only if the system wrote less. OSError names the file."""
        try:
            done = os.pwritev(self.fd, buffers, offset)
            if done < total:
                rest = memoryview(b"".join(bytes(memoryview(b).cast("B")) for b in buffers))
                while done < total:
                    done += os.pwrite(self.fd, rest[done:], offset + done)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self.name) from None

    def write(self, frames: list[np.ndarray], at: int, nbytes: int) -> None:
        """Write `frames` (int16 arrays of whole interleaved frames, C-contiguous, in order;
        `nbytes` in all) from frame `at`."""
        self.pwrite(frames, self.data_offset + at * self.frame_bytes, nbytes)
        end = at + nbytes // self.frame_bytes
        if end > self.written:
            self.written = end

    @property
    def end_offset(self) -> int:
        """The byte offset where the furthest write done ends."""
        return self.data_offset + self.written * self.frame_bytes

    def set_size(self, frames: int) -> None:
        """Make the header count `frames` frames: its sizes rewritten in one ``pwrite``."""
        data = frames * self.frame_bytes
        riff = self.data_offset - 8 + data
        if riff > 0xFFFFFFFF:  # pcm_header says what does not fit
            pcm_header(self.sample_rate, self.channels, "PCM_16", data)
        sizes = self.sizes
        struct.pack_into("<I", sizes, 0, riff)  # the layout of pcm_header's: RIFF size first,
        struct.pack_into("<I", sizes, len(sizes) - 4, data)  # the data size last
        self.pwrite([sizes], 4, len(sizes))

    def close(self) -> None:
        """Count every frame written (the finaliser of a writer dropped without `close`)."""
        self.set_size(self.written)


class StreamWriter:
    """Streams int16 blocks to a WAV (16-bit PCM or float32) or MP3 file, in constant memory.

    Parameters
    ----------
    path
        The file to create (replaced if it exists).
    sample_rate
        In Hz.
    channels
        1 for a listener stream; 2 for a participant recording of ``record_track_type=all``.
    subtype
        ``"PCM_16"`` (default: int16 written as is) or ``"FLOAT"`` (float32, ``block / 32768``,
        converted here: libsndfile's per-sample conversion is slow). WAV only.
    file_format
        ``"wav"`` or ``"mp3"`` (MPEG layer III; libsndfile records the encoder delay, so the file
        decodes aligned with the WAV of the same samples).

    background
        A `WriteBehind` thread that does the writing, so the caller goes on mixing meanwhile
        (the writes release the GIL). A block handed to `write` must then not be changed by the
        caller afterwards. `flush`, `wait` and `close` wait for the pending writes.

    A 16-bit PCM WAV is written with plain system calls: its header (`wavfile.pcm_header`) at
    open, each write a ``pwrite`` at its frames' place in the file, the header's sizes patched by
    `update_header`, `flush` and `close`: the same bytes as libsndfile's at every step. A float
    WAV or an MP3 is written by libsndfile.

    Blocks go to the file (or to `background`'s bounded queue) as they come; blocks shorter than
    `GATHER_FRAMES` (a real-time tick's frame) are first gathered into one write of that many
    frames, so a tick costs no system call; `update_header`, `wait`, `flush` and `close` write
    what is gathered. `write_now` writes on the calling thread, at once (a caller that gathers
    frames itself: `mpc/engine/outputs.py`'s tick ring).

    Keeping a growing file readable: `update_header` makes the WAV header count every frame
    written so far (queued behind the writes, no fsync: cheap enough for a real-time server once
    a second), `wait` returns once the writes are in the file, `flush` does both and fsyncs.
    ``close()`` (or leaving the ``with`` block) flushes and fsyncs the file, so a caller that
    then renames it knows it is on disk.
    Output is deterministic: the same blocks give the same bytes (no PEAK timestamp).
    """

    #: Blocks shorter than this many frames are gathered into writes of this many.
    GATHER_FRAMES = 1 << 13

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int = 1,
        subtype: str = "PCM_16",
        file_format: str = "wav",
        *,
        background: WriteBehind | None = None,
    ) -> None:
        _check_settings(sample_rate, channels, subtype, file_format)
        self._name = os.fspath(path)  # as given, for messages and OSError.filename
        self._path = Path(self._name)
        self._sample_rate = int(sample_rate)
        self._channels = channels
        self._subtype = subtype
        self._file_format = file_format
        self._frames = 0  # handed to `write`
        self._placed = 0  # handed to the file (submitted or written): where the next write goes
        self._background = background
        self._sent = 0  # tasks submitted to `background` (counted by the caller's thread)...
        self._ran = 0  # ...and run (counted by the write-behind thread): none pending if equal
        self._unsynced = 0  # bytes written since the last `start_writeback`
        self._started_to = -1  # the end of the 16-bit PCM written when writeback last started
        self._gathered: np.ndarray | None = None  # small blocks waiting to be written as one
        self._n_gathered = 0
        self._closed = False
        sf_subtype = "MPEG_LAYER_III" if file_format == "mp3" else subtype
        # The file is opened here (and handed to libsndfile, if it writes it), so its descriptor
        # is ours to start writeback on and to fsync before closing.
        self._fd = os.open(self._name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        self._file: sf.SoundFile | None = None
        self._pcm: _PcmWav | None = None
        try:
            if file_format == "wav" and subtype == "PCM_16":
                self._pcm = _PcmWav(self._fd, self._name, self._sample_rate, channels)
            else:
                self._file = _system_call(
                    self._name, sf.SoundFile, self._fd, "w", self._sample_rate, channels,
                    subtype=sf_subtype, format=_FILE_FORMATS[file_format], closefd=False,
                )
        except BaseException:
            os.close(self._fd)
            raise
        import weakref

        self._finalizer = weakref.finalize(self, _close_quietly, self._pcm or self._file, self._fd)
        if self._file is not None and subtype == "FLOAT":
            _sf_command(self._file, _SFC_SET_ADD_PEAK_CHUNK)

    @property
    def path(self) -> Path:
        """The file being written."""
        return self._path

    @property
    def sample_rate(self) -> int:
        """In Hz."""
        return self._sample_rate

    @property
    def channels(self) -> int:
        """Channels per frame."""
        return self._channels

    @property
    def subtype(self) -> str:
        """``"PCM_16"`` or ``"FLOAT"``: how samples are stored (an MP3 is encoded from PCM_16)."""
        return self._subtype

    @property
    def file_format(self) -> str:
        """``"wav"`` or ``"mp3"``."""
        return self._file_format

    @property
    def frames(self) -> int:
        """Frames written so far: handed to `write`, whether or not they are in the file yet
        (gathered, or queued on `background`)."""
        return self._frames

    def write(self, block: np.ndarray, *, gather: bool = True) -> None:
        """Append `block`: int16 (n,) for a mono file, or (channels, n). `gather` False: hand it
        to the file now, however short (a caller that gathers blocks itself)."""
        if self._closed:
            raise ValueError(f"{self._name}: write after close")
        block = np.asarray(block)
        if block.dtype != np.int16:
            raise TypeError(f"{self._name}: blocks must be int16, not {block.dtype}")
        if block.ndim == 1 and self._channels == 1:
            frames = block
        elif block.ndim == 2 and block.shape[0] == self._channels:
            frames = np.ascontiguousarray(block.T) if self._channels > 1 else block[0]
        else:
            raise ValueError(f"{self._name}: a block for {self._channels} channel(s) has shape "
                             f"(n,) (mono) or ({self._channels}, n), not {block.shape}")
        if self._subtype == "FLOAT":
            frames = np.multiply(frames, 1.0 / FULL_SCALE, dtype=np.float32)
        frames = np.ascontiguousarray(frames)
        n = len(frames)
        self._frames += n
        if n >= self.GATHER_FRAMES or not gather:
            self._push_gathered()
            self._submit(frames)
            return
        if self._gathered is not None and self._n_gathered + n > len(self._gathered):
            self._push_gathered()
        if self._gathered is None:
            self._gathered = np.empty((self.GATHER_FRAMES, *frames.shape[1:]), dtype=frames.dtype)
        self._gathered[self._n_gathered:self._n_gathered + n] = frames
        self._n_gathered += n
        if self._n_gathered == len(self._gathered):
            self._push_gathered()

    def write_now(self, *blocks: np.ndarray) -> None:
        """Append mono int16 `blocks` (1-D, C-contiguous), in order, on the calling thread, now.

        For a 16-bit PCM WAV: one ``pwritev`` of the blocks as they are (no copy: the caller may
        reuse them once this returns; the system call releases the GIL), whatever `background`
        has pending (each write has its place in the file). Other files: `write` of the blocks'
        concatenation with ``gather=False`` (a copy)."""
        placed = self._place(blocks)
        if placed is not None:
            self._put_now(list(blocks), *placed, -1)

    def write_later(self, *blocks: np.ndarray, header: bool = True) -> Callable[[], None]:
        """Append mono int16 `blocks` (1-D, C-contiguous), in order: their place in the file
        is taken now (`frames` counts them), the writing is the function returned, to be called
        once, on `background`'s thread after whatever it had queued for this writer before, or
        on the calling thread if there is no `background` (a caller that hands the writes of
        many files to one task: `mpc/engine/outputs.py`'s tick ring). `header`: the function
        then makes the header count every frame placed so far.

        For a 16-bit PCM WAV the function is one ``pwritev`` of `blocks` as they are (the caller
        must not change them until it has run), and the header's one ``pwrite``. Other files:
        their concatenation goes through `write` (``gather=False``) now, and the function is
        their header's update."""
        placed = self._place(blocks)
        if placed is None:  # queued (or written) by `write`: the header's update follows it there
            return self._set_size if header and not self._closed and self._file_format == "wav" \
                else _nothing
        at, nbytes = placed
        self._sent += 1
        return functools.partial(self._put_later, list(blocks), at, nbytes,
                                 at + (nbytes >> 1) if header else -1)

    def _place(self, blocks: tuple[np.ndarray, ...]) -> tuple[int, int] | None:
        """Take the place of mono `blocks` in a 16-bit PCM WAV: (their first frame, their
        bytes); other files (or after close): `blocks` handed to `write`, None."""
        if self._pcm is None or self._closed or self._channels != 1:
            self.write(np.concatenate(blocks) if len(blocks) != 1 else blocks[0].copy(), gather=False)
            return None
        if self._n_gathered:
            self._push_gathered()
        at = self._placed
        nbytes = blocks[0].nbytes if len(blocks) == 1 else sum(b.nbytes for b in blocks)
        self._placed += nbytes >> 1
        self._frames += nbytes >> 1
        return at, nbytes

    def _put_now(self, blocks: list[np.ndarray], at: int, nbytes: int, count: int) -> None:
        """`blocks` written at frame `at`; then the header counts `count` frames unless it is -1."""
        assert self._pcm is not None
        self._pcm.write(blocks, at, nbytes)
        if count >= 0:
            self._pcm.set_size(count)
        self._count_unsynced(nbytes)

    def _put_later(self, blocks: list[np.ndarray], at: int, nbytes: int, count: int) -> None:
        try:
            self._put_now(blocks, at, nbytes, count)
        finally:
            self._ran += 1

    def _push_gathered(self) -> None:
        """Hand the gathered small blocks over as one write (a fresh buffer follows: the
        write-behind thread may still be reading this one)."""
        if self._n_gathered and self._gathered is not None:
            self._submit(self._gathered[:self._n_gathered])
            self._gathered, self._n_gathered = None, 0

    def _submit(self, frames: np.ndarray) -> None:
        at = self._placed
        self._placed += len(frames)
        if self._background is not None:
            self._sent += 1
            self._background.submit(self._put, frames, at)
        else:
            self._put(frames, at)

    def _put(self, frames: np.ndarray, at: int) -> None:
        """Write `frames` at frame `at` (on the write-behind thread, if any); start writeback
        every `WRITEBACK_BYTES`."""
        try:
            if self._pcm is not None:
                self._pcm.write([frames], at, frames.nbytes)
            else:
                assert self._file is not None
                _system_call(self._name, self._file.write, frames)
            self._count_unsynced(frames.nbytes)
        finally:
            if self._background is not None:
                self._ran += 1

    def _count_unsynced(self, nbytes: int) -> None:
        """`nbytes` more written. Every `WRITEBACK_BYTES`: writeback started, and the pages the
        previous start sent to the disk dropped from the cache (`DROP_WRITTEN`; the header's page
        kept; a 16-bit PCM file only: libsndfile's pages, in its own layout, are left to the
        kernel)."""
        self._unsynced += nbytes
        if self._unsynced >= WRITEBACK_BYTES:
            self._unsynced %= WRITEBACK_BYTES
            start_writeback(self._fd)
            if DROP_WRITTEN and self._started_to > 0:
                drop_cached(self._fd, _PAGE, self._started_to & ~(_PAGE - 1))
            self._started_to = self._pcm.end_offset if self._pcm is not None else -1

    def _set_size(self) -> None:
        """The header counts every frame handed to the file (`_placed`)."""
        if self._pcm is not None:
            self._pcm.set_size(self._placed)
        elif self._file is not None:
            _update_header_now(self._file)

    def update_header(self) -> None:
        """Make the file's header count every frame handed to the file so far, without fsync.

        Gathered small blocks stay gathered: they go out as one write when the gather is full
        (pushing them here would restart the gather at every update, and leave what a kill
        loses to the phase of the updates rather than bounded by the gather); `wait` hands them
        over. With writes pending on `background`, the header update is queued behind them (so it
        has happened once `wait` returns); else it is made now (for a 16-bit PCM WAV, one
        ``pwrite`` of the header's sizes). The kernel keeps what was written whatever happens to
        this process, so a reader, or a restart after ``kill -9``, finds those frames counted;
        only a power cut needs the fsync of `flush`. MP3 files have no size in a header: a no-op
        for them, as after `close`.
        """
        if self._closed or self._file_format != "wav":
            return
        if self._background is not None and (self._file is not None or self._sent != self._ran):
            self._sent += 1
            # a 16-bit PCM header counts what was handed over by now (written by the time the
            # update runs), not frames placed meanwhile by `write_now` on another thread
            update = functools.partial(self._pcm.set_size, self._placed) if self._pcm is not None \
                else self._set_size
            self._background.submit(self._ran_after, update)
        else:
            self._set_size()

    def _ran_after(self, fn: Callable[[], None]) -> None:
        """`fn()` on the write-behind thread, counted as run."""
        try:
            fn()
        finally:
            self._ran += 1

    def wait(self) -> None:
        """Return once every frame written so far is in the file (not fsynced): gathered blocks
        are handed over, then `background`'s queue is drained (its writes, and any header update
        queued by `update_header`). Raises the error of a write that failed."""
        if self._closed:
            return
        self._push_gathered()
        if self._background is not None:
            self._background.drain()

    def flush(self) -> None:
        """Push what was written so far to the file (its header updated), without closing it.

        A reader opening the file now sees every frame written so far. The fsync costs
        milliseconds per file once data is dirty; `update_header` and `wait` give a reader the
        same without it."""
        if self._closed:
            return
        self.wait()
        if self._pcm is not None:
            self._pcm.set_size(self._placed)
            os.fsync(self._fd)
        elif self._file is not None:
            self._file.flush()  # libsndfile's sf_write_sync: its header, then an fsync
            if self._file_format == "wav":  # sf_write_sync leaves a float WAV's header at 0 frames
                _update_header_now(self._file)

    def close(self) -> None:
        """Flush, close and fsync the file. Idempotent."""
        if self._closed:
            return
        try:
            self._push_gathered()
        finally:
            if self._background is not None:
                self._background.drain()
        self._closed = True
        self._finalizer.detach()
        try:
            if self._pcm is not None:
                self._pcm.set_size(self._placed)
            elif self._file is not None:
                _system_call(self._name, self._file.close)  # flushes (sf_write_sync), then sf_close
            os.fsync(self._fd)  # whatever was written after the last sync (header sizes) is on disk
        finally:
            os.close(self._fd)

    @property
    def closed(self) -> bool:
        """Whether `close()` has run."""
        return self._closed

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"StreamWriter({self._name!r}, {self._sample_rate}, channels={self._channels}, "
                f"subtype={self._subtype!r}, file_format={self._file_format!r})")


def _check_settings(sample_rate: int, channels: int, subtype: str, file_format: str) -> None:
    if subtype not in _SUBTYPES:
        raise ValueError(f"subtype must be one of {', '.join(_SUBTYPES)}, not {subtype!r}")
    if file_format not in _FILE_FORMATS:
        raise ValueError(f"file_format must be 'wav' or 'mp3', not {file_format!r}")
    if file_format == "mp3" and subtype != "PCM_16":
        raise ValueError("an mp3 file is always encoded from int16 samples; use subtype PCM_16")
    if file_format == "mp3" and channels not in (1, 2):
        raise ValueError(f"an mp3 file holds 1 or 2 channels, not {channels}")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a whole number >= 1, not {channels!r}")
    check_rate(sample_rate)


def _sf_command(file: sf.SoundFile, command: int) -> None:
    """libsndfile's ``sf_command(file, command, NULL, 0)``, for the commands that take no data
    (soundfile has no public way to send them)."""
    from soundfile import _ffi, _snd

    _snd.sf_command(file._file, command, _ffi.NULL, 0)


def _update_header_now(file: sf.SoundFile) -> None:
    """SFC_UPDATE_HEADER_NOW: libsndfile writes the header's sizes for what is written so far."""
    _sf_command(file, _SFC_UPDATE_HEADER_NOW)


_SFE_SYSTEM = 2  # libsndfile's error code for a failed system call ("System error.")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _system_call(path: str, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """``fn(*args, **kwargs)``, a libsndfile call on `path`, with its "System error." raised as
    the `OSError` the system gave (a full disk, a file-size limit, a permission), so a caller can
    tell the disk's refusal from a bug. Run it on the thread that makes the call: errno is
    per thread."""
    try:
        return fn(*args, **kwargs)
    except sf.LibsndfileError as exc:
        from soundfile import _ffi

        code = _ffi.errno
        if exc.code != _SFE_SYSTEM or not code:
            raise
        raise OSError(code, f"{os.strerror(code)} (libsndfile: {exc.error_string})",
                      path) from None


#: A write for `WriteBehind`: a function and its arguments.
_Task = tuple[Callable[..., object], tuple[Any, ...]]


class WriteBehind:
    """One background thread that runs writes in the order they are submitted.

    The queue is bounded (`depth` pending writes), so memory stays bounded whatever the length
    of a render: `submit` waits when the writer falls behind. An exception raised by a write is
    raised again by the next `submit` or `drain`.
    """

    def __init__(self, depth: int = 64) -> None:
        import queue
        import threading

        self._queue: queue.Queue[_Task | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mpcmix-write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                if self._error is None:
                    fn, args = task
                    fn(*args)
            except BaseException as exc:  # handed to the submitting thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the thread, after every write submitted before."""
        self._raise()
        if not self._thread.is_alive():
            raise RuntimeError("the write-behind thread is closed")
        self._queue.put((fn, args))

    def set_depth(self, depth: int) -> None:
        """Allow `depth` pending writes from now on (a server handing many files their second
        a tick absorbs the disk's jitter in a deeper queue; small writes keep memory bounded)."""
        with self._queue.mutex:
            self._queue.maxsize = depth
            self._queue.not_full.notify_all()

    def drain(self) -> None:
        """Wait until every submitted write has run (raising its error, if one failed)."""
        if self._thread.is_alive():
            self._queue.join()
        self._raise()

    def close(self) -> None:
        """Drain and stop the thread. Idempotent."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()
