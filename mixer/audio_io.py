"""Audio in and out: decode any input once to int16 mono, synthesise the built-in sounds, and
stream int16 blocks to WAV (16-bit PCM or float32) or MP3.

Everything the mixer adds is exact integer arithmetic on the int16 grid, so this module is the one
place where audio is rounded: each input is decoded, mixed down to the mean of its channels,
resampled to the call's rate with a polyphase filter and quantised once (round, clip) to int16.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import struct
import warnings
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    from pydub import AudioSegment

__all__ = [
    "MAX_INPUT_RATE",
    "MUSIC_KINDS",
    "AudioError",
    "PcmFile",
    "StreamWriter",
    "WriteBehind",
    "beep",
    "default_music",
    "load_audio",
    "open_pcm",
    "to_audiosegment",
]

#: The highest sample rate a file may declare. Resampling cost grows with the rate ratio, and a
#: header that claims gigahertz is broken, not audio.
MAX_INPUT_RATE = 768_000

#: The kinds of built-in music `default_music` synthesises.
MUSIC_KINDS = ("wait", "customer_hold", "agent_hold")

_FULL_SCALE = 32768.0  # int16 units per 1.0 of float audio (libsndfile's convention)
_FLOAT_SAMPLE_LIMIT = 65536.0  # float samples are clipped here (x full scale) before scaling
_BLOCK_FRAMES = 1 << 16  # decode in blocks, so a many-channel file never sits in memory whole
_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF)  # data sizes a streaming writer leaves before it knows


class AudioError(ValueError):
    """An input that cannot be used as audio: missing, empty, unreadable, broken or truncated.

    `path` names the file (``"<AudioSegment>"`` for an in-memory segment); the message starts with
    it and states the rule the input broke.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Decoding


def load_audio(src: str | os.PathLike[str] | AudioSegment, sample_rate: int) -> np.ndarray:
    """Decode `src` to mono int16 samples at `sample_rate`, ready to mix exactly.

    Parameters
    ----------
    src
        A path to any file libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3, ...), or a pydub
        ``AudioSegment`` (its raw data, frame rate, channels and sample width are used; no ffmpeg).
    sample_rate
        The call's rate in Hz; the input is resampled to it with ``scipy.signal.resample_poly``
        (up/down factors reduced by their gcd) when its own rate differs.

    Returns
    -------
    int16 (n,)
        The mean of the input's channels, resampled, rounded to the nearest integer and clipped to
        [-32768, 32767] once. A 16-bit mono input at `sample_rate` comes back sample for sample.

    Raises
    ------
    AudioError
        Missing, empty (0 bytes or 0 frames), unreadable or non-audio files, NaN/inf samples,
        0 channels, a sample rate above `MAX_INPUT_RATE`, and WAVs shorter than their header says
        (libsndfile reads those silently, so the RIFF chunks are checked here).
    """
    _check_rate(sample_rate)
    if _is_audiosegment(src):
        return _load_segment(src, sample_rate)
    name = os.fspath(src)  # type: ignore[arg-type]
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    _check_file(name)
    raw = _check_riff(name)
    try:
        with _open(name, raw) as f:
            rate, channels = f.samplerate, f.channels
            _check_declared(name, rate, channels)
            if _reads_exactly_as_int16(f, sample_rate):
                pcm = f.read(dtype="int16")
                if pcm.size == 0:
                    raise AudioError(name, "the file holds no audio (0 frames)")
                return pcm
            mono = _decode_mono(f, name)
    except sf.SoundFileError as exc:  # LibsndfileError and friends: not audio, or broken
        raise AudioError(name, f"not a readable audio file (libsndfile: {_sf_reason(exc)})") from None
    return _finish(mono, rate, sample_rate)


@contextlib.contextmanager
def _open(name: str, raw: _RawData | None) -> Iterator[sf.SoundFile]:
    """libsndfile on `name`; on its samples as RAW when the header's data size is 0."""
    if raw is None:
        with sf.SoundFile(name) as f:
            yield f
        return
    with open(name, "rb") as fh, sf.SoundFile(
        _Window(fh, raw.offset), samplerate=raw.rate, channels=raw.channels,
        subtype=raw.subtype, endian="LITTLE", format="RAW",
    ) as f:
        yield f


def _check_rate(sample_rate: int) -> None:
    if not isinstance(sample_rate, int | np.integer) or not 0 < sample_rate <= MAX_INPUT_RATE:
        raise ValueError(f"sample_rate must be a whole number of Hz in 1..{MAX_INPUT_RATE}, "
                         f"not {sample_rate!r}")


def _check_file(name: str) -> None:
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise AudioError(name, "no such file") from None
    except OSError as exc:
        raise AudioError(name, f"cannot be read ({exc.strerror})") from None
    if os.path.isdir(name):
        raise AudioError(name, "is a directory, not an audio file")
    if st.st_size == 0:
        raise AudioError(name, "the file is empty (0 bytes)")
    if not os.access(name, os.R_OK):
        raise AudioError(name, "cannot be read (permission denied)")


def _check_declared(name: str, rate: int, channels: int) -> None:
    if channels < 1:
        raise AudioError(name, f"the file declares {channels} channels")
    if not 0 < rate <= MAX_INPUT_RATE:
        raise AudioError(name, f"the file declares a sample rate of {rate} Hz; mpcmix reads "
                               f"1..{MAX_INPUT_RATE} Hz")


class _RawData(NamedTuple):
    """Where a WAV's samples lie when its header gives no usable data size."""

    offset: int  # first byte of the data chunk's body
    subtype: str  # libsndfile subtype of the RAW reader
    channels: int
    rate: int


# WAVE format tag -> {bits per sample: libsndfile RAW subtype}
_RAW_SUBTYPES = {
    1: {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"},
    3: {32: "FLOAT", 64: "DOUBLE"},
    6: {8: "ALAW"},
    7: {8: "ULAW"},
}
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def _check_riff(name: str) -> _RawData | None:
    """Refuse a plain RIFF/WAVE file whose `data` chunk declares more bytes than the file holds.

    libsndfile reads such a file without complaint (it stops where the bytes stop), so a truncated
    download would otherwise play as a shorter file. Only plain little-endian RIFF WAVE is checked
    (RF64, RIFX, W64 keep their sizes elsewhere); the placeholder sizes 0 and 0xFFFFFFFF that
    streaming writers leave are accepted. The `fmt ` chunk's channel count and rate are checked
    here too, because libsndfile's own message for an absurd rate ("SF_INFO struct incomplete")
    does not say what is wrong.

    Returns where the samples are when the data size is the placeholder 0 but bytes follow
    (libsndfile would read 0 frames: the samples run to the end of the file), else None.
    """
    with open(name, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        fmt = b""
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            body = pos + 8
            if chunk_id == b"fmt ":
                fmt = f.read(min(chunk_size, 40))
                if len(fmt) >= 8:
                    _tag, channels, rate = struct.unpack("<HHI", fmt[:8])
                    _check_declared(name, rate, channels)
            elif chunk_id == b"data":
                held = size - body
                if chunk_size == 0 and held > 0:
                    return _raw_data(name, fmt, body)
                if chunk_size not in _PLACEHOLDER_SIZES and chunk_size > held:
                    raise AudioError(name, f"the header declares {chunk_size} bytes of audio but "
                                           f"the file holds {held} (truncated)")
                return None
            pos = body + chunk_size + (chunk_size & 1)  # chunks are word-aligned
    return None


def _raw_data(name: str, fmt: bytes, offset: int) -> _RawData:
    if len(fmt) < 16:
        raise AudioError(name, "the data size is the placeholder 0 and the fmt chunk is missing")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the tag
    subtype = _RAW_SUBTYPES.get(tag, {}).get(bits)
    if subtype is None:
        raise AudioError(name, f"the data size is the placeholder 0 and format tag {tag} with "
                               f"{bits}-bit samples cannot be read without it")
    return _RawData(offset, subtype, channels, rate)


class _Window(io.RawIOBase):
    """A read-only view of a binary file from byte `offset` on (for libsndfile's RAW reader)."""

    def __init__(self, f: BinaryIO, offset: int) -> None:
        self._f, self._offset = f, offset
        f.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos += self._offset
        return self._f.seek(pos, whence) - self._offset

    def tell(self) -> int:
        return self._f.tell() - self._offset

    def readinto(self, buffer: Any) -> int:
        return self._f.readinto(buffer)


def wav_data_size_ok(path: str | os.PathLike[str]) -> bool:
    """Whether a file passes the truncation check: not a plain RIFF WAVE, or its `data` chunk
    holds at least the bytes its header declares (placeholder sizes accepted)."""
    try:
        _check_riff(os.fspath(path))  # type: ignore[arg-type]
    except AudioError:
        return False
    return True


def _reads_exactly_as_int16(f: sf.SoundFile, sample_rate: int) -> bool:
    """A mono file of at most 16-bit integers at the call's rate: libsndfile's int16 read is
    exact (8-bit samples are shifted left), so no float pass is needed."""
    return (
        f.channels == 1
        and f.samplerate == sample_rate
        and f.subtype in ("PCM_16", "PCM_S8", "PCM_U8")
        and f.format in ("WAV", "WAVEX", "AIFF", "FLAC", "RF64", "W64", "CAF", "AU", "RAW")
    )


def _decode_mono(f: sf.SoundFile, name: str) -> np.ndarray:
    """float32 (n,) in int16 units (1.0 of float audio = 32768): the mean of the channels."""
    parts: list[np.ndarray] = []
    for block in f.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
        if not np.isfinite(block).all():
            raise AudioError(name, "the file holds NaN or infinite samples")
        mono = block[:, 0].copy() if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float64)
        # Float samples may go past full scale, but not to 1e38: scaled, those overflow float32
        # to inf, and the resampler turns one inf into a stream of NaN. Far beyond anything the
        # final int16 clip keeps, the bound changes nothing else.
        np.clip(mono, -_FLOAT_SAMPLE_LIMIT, _FLOAT_SAMPLE_LIMIT, out=mono)
        parts.append(np.multiply(mono, _FULL_SCALE, dtype=np.float32))
    if not parts or sum(len(p) for p in parts) == 0:
        raise AudioError(name, "the file holds no audio (0 frames)")
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _finish(mono: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """Resample float `mono` (int16 units) from `rate` to `sample_rate`, then quantise once."""
    if rate != sample_rate:
        from scipy.signal import resample_poly  # slow to import: only when a file needs it

        up, down = _resample_factors(rate, sample_rate)
        mono = resample_poly(mono, up, down)
    out = np.rint(mono)
    np.clip(out, -32768, 32767, out=out)
    return out.astype(np.int16)


#: The largest up or down factor given to `resample_poly`. Its filter has 20 taps per unit of the
#: larger factor: a 767999 Hz file (8000/767999 in lowest terms) asked for 15 million taps, seconds
#: of design and half a gigabyte. Every common rate keeps its exact ratio (the largest, 5512 Hz to
#: 48 kHz, is 6000/689); an odd rate beyond the bound is resampled by the nearest ratio within it,
#: at most 7.7 ppm off (0.03 s an hour).
MAX_RESAMPLE_FACTOR = 1 << 16


def _resample_factors(rate: int, sample_rate: int) -> tuple[int, int]:
    """(up, down) taking `rate` to `sample_rate`: exact in lowest terms, or the nearest fraction
    whose denominator is at most `MAX_RESAMPLE_FACTOR`."""
    g = math.gcd(rate, sample_rate)
    up, down = sample_rate // g, rate // g
    if down > MAX_RESAMPLE_FACTOR:
        ratio = Fraction(up, down).limit_denominator(MAX_RESAMPLE_FACTOR)
        up, down = ratio.numerator, ratio.denominator
    return up, down


def _sf_reason(exc: Exception) -> str:
    text = str(exc)
    # "Error opening 'x.wav': Format not recognised." -> "Format not recognised."
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text


# --------------------------------------------------------------------------------------------
# pydub interop


def _is_audiosegment(src: object) -> bool:
    """A pydub AudioSegment, recognised without importing pydub (it probes for ffmpeg on import)."""
    return all(hasattr(src, a) for a in ("raw_data", "frame_rate", "channels", "sample_width"))


_SEGMENT_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}  # pydub keeps 8-bit data signed


def _load_segment(seg: Any, sample_rate: int) -> np.ndarray:
    name = "<AudioSegment>"
    width, channels, rate = int(seg.sample_width), int(seg.channels), int(seg.frame_rate)
    _check_declared(name, rate, channels)
    raw = seg.raw_data
    if width == 3:  # 24-bit little-endian: widen to int32 (value in the top three bytes)
        b = np.frombuffer(raw, dtype=np.uint8)
        b = b[: len(b) // 3 * 3].reshape(-1, 3)
        ints = np.zeros((len(b), 4), dtype=np.uint8)
        ints[:, 1:] = b
        data = ints.view("<i4").reshape(-1)
        width = 4
    elif width in _SEGMENT_DTYPES:
        data = np.frombuffer(raw, dtype=np.dtype(_SEGMENT_DTYPES[width]).newbyteorder("<"))
    else:
        raise AudioError(name, f"unsupported sample width {width} bytes")
    frames = len(data) // channels
    if frames == 0:
        raise AudioError(name, "the segment holds no audio (0 frames)")
    data = data[: frames * channels].reshape(frames, channels)
    if width == 2 and channels == 1 and rate == sample_rate:
        return data[:, 0].astype(np.int16)
    scale = _FULL_SCALE / float(1 << (8 * width - 1))
    mono = data.mean(axis=1, dtype=np.float64) * scale
    return _finish(mono.astype(np.float32), rate, sample_rate)


def to_audiosegment(pcm: np.ndarray, sample_rate: int) -> AudioSegment:
    """A pydub ``AudioSegment`` (16-bit) holding `pcm`: int16 (n,) mono or (channels, n)."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16:
        raise TypeError(f"pcm must be int16, not {pcm.dtype}")
    if pcm.ndim == 1:
        pcm = pcm[np.newaxis, :]
    if pcm.ndim != 2:
        raise ValueError(f"pcm must have shape (n,) or (channels, n), not {pcm.shape}")
    with warnings.catch_warnings():
        # pydub warns at import: no ffmpeg (never used here) and, on 3.11-3.12, the deprecated
        # audioop module it imports. Neither is ours to act on.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
    interleaved = np.ascontiguousarray(pcm.T, dtype="<i2")
    return AudioSegment(
        data=interleaved.tobytes(), sample_width=2, frame_rate=int(sample_rate),
        channels=pcm.shape[0],
    )


# --------------------------------------------------------------------------------------------
# Built-in sounds

BEEP_HZ = 880.0  # A5: clear on a phone line, not shrill
BEEP_MS = 150
BEEP_GAP_MS = 100
BEEP_FADE_MS = 10
BEEP_LEVEL = 0.3  # peak, of full scale (about -10.5 dBFS)


def beep(count: int, sample_rate: int) -> np.ndarray:
    """The built-in enter/exit cue: `count` short beeps (``beep:1``, ``beep:2``), int16 (n,).

    Each beep is 150 ms of 880 Hz (with a soft octave) shaped by 10 ms raised-cosine fades, beeps
    100 ms apart; ``count=0`` is an empty array. Read-only: the array is cached and shared.
    """
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"beep count must be a whole number >= 0, not {count!r}")
    _check_rate(sample_rate)
    return _beep(count, int(sample_rate))


@functools.lru_cache(maxsize=32)
def _beep(count: int, sample_rate: int) -> np.ndarray:
    n = sample_rate * BEEP_MS // 1000
    t = np.arange(n) / sample_rate
    tone = np.sin(2 * np.pi * BEEP_HZ * t)
    if 2 * BEEP_HZ < 0.45 * sample_rate:
        tone += 0.25 * np.sin(2 * np.pi * 2 * BEEP_HZ * t)
    tone *= BEEP_LEVEL / 1.25 * _fades(n, sample_rate * BEEP_FADE_MS // 1000)
    one = _quantise(tone)
    gap = np.zeros(sample_rate * BEEP_GAP_MS // 1000, dtype=np.int16)
    pieces = [one if i == 0 else np.concatenate([gap, one]) for i in range(count)]
    out = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    out.flags.writeable = False
    return out


# Each built-in music: (note length in s, notes as chords of Hz, partial amplitudes, level).
# Distinct registers and timbres, so they are told apart by spectrum: wait music sits around
# 500-1000 Hz, customer hold music low (130-330 Hz), agent hold music high and bell-like.
_MUSIC: dict[str, tuple[float, tuple[tuple[float, ...], ...], tuple[float, ...], float]] = {
    "wait": (
        0.5,
        ((523.25,), (659.25,), (783.99,), (1046.50,), (783.99,), (659.25,), (587.33,), (493.88,)),
        (1.0, 0.3, 0.1),
        0.25,
    ),
    "customer_hold": (
        1.0,
        ((130.81, 196.00, 261.63), (110.00, 164.81, 220.00), (87.31, 130.81, 174.61),
         (98.00, 146.83, 196.00)),
        (1.0, 0.5, 0.25, 0.12),
        0.25,
    ),
    "agent_hold": (
        0.25,
        ((1318.51,), (1567.98,), (1975.53,), (1567.98,), (1760.00,), (2093.00,), (1760.00,),
         (1318.51,)) * 2,
        (1.0, 0.0, 0.2),
        0.2,
    ),
}


def default_music(kind: str, sample_rate: int) -> np.ndarray:
    """The built-in music of `kind` (``wait``, ``customer_hold``, ``agent_hold``), int16 (n,).

    Synthesised deterministically, 4 s long and seamless when looped (every note fades in and out),
    peaking at about -12 dBFS. Read-only: cached per (kind, rate) and shared.
    """
    if kind not in _MUSIC:
        raise ValueError(f"unknown music kind {kind!r}; expected one of {', '.join(MUSIC_KINDS)}")
    _check_rate(sample_rate)
    return _default_music(kind, int(sample_rate))


@functools.lru_cache(maxsize=32)
def _default_music(kind: str, sample_rate: int) -> np.ndarray:
    note_s, chords, partials, level = _MUSIC[kind]
    n = round(note_s * sample_rate)
    t = np.arange(n) / sample_rate
    env = _fades(n, n // 10) * np.exp(-1.5 * t / note_s)
    notes = []
    for chord in chords:
        note = np.zeros(n)
        for f0 in chord:
            for k, a in enumerate(partials, start=1):
                if a and k * f0 < 0.45 * sample_rate:
                    note += a * np.sin(2 * np.pi * k * f0 * t)
        notes.append(note * env)
    music = np.concatenate(notes)
    music *= level / np.max(np.abs(music))
    out = _quantise(music)
    out.flags.writeable = False
    return out


def _fades(n: int, fade: int) -> np.ndarray:
    """float64 (n,): ones with raised-cosine fade-in and fade-out of `fade` samples each."""
    env = np.ones(n)
    fade = min(fade, n // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        env[:fade] = ramp
        env[n - fade:] = ramp[::-1]
    return env


def _quantise(x: np.ndarray) -> np.ndarray:
    """float (n,) of full scale 1.0 -> int16 (n,), rounded and clipped."""
    return np.clip(np.rint(x * _FULL_SCALE), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------------------------
# Writing

_SUBTYPES = ("PCM_16", "FLOAT")
_FILE_FORMATS = {"wav": "WAV", "mp3": "MP3"}
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile: its PEAK chunk carries a timestamp; ours must not
_SFC_UPDATE_HEADER_NOW = 0x1060  # libsndfile: write the header's sizes for what is written so far
#: A writer asks the kernel to start writing its file back to disk every this many bytes, so the
#: fsync of `StreamWriter.close` finds little left to write (the disk works while we mix).
WRITEBACK_BYTES = 1 << 20
_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Any:
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


def _close_quietly(file: sf.SoundFile, fd: int) -> None:
    """A writer dropped without `close`: its SoundFile first (it writes its header through
    `fd`), then the descriptor."""
    try:
        file.close()
    except Exception:  # a finaliser has nobody to tell
        pass
    os.close(fd)


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
        (libsndfile's write releases the GIL). A block handed to `write` must then not be
        changed by the caller afterwards. `flush` and `close` wait for the pending writes.

    Blocks go to libsndfile (or to `background`'s bounded queue) as they come; blocks shorter than
    `GATHER_FRAMES` (a real-time tick's frame) are first gathered into one write of that many
    frames, so a tick costs no system call; `flush` and `close` write what is gathered.
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
        _check_rate(sample_rate)
        self.path = os.fspath(path)
        self.sample_rate = int(sample_rate)
        self.channels = channels
        self.subtype = subtype
        self.file_format = file_format
        self.frames = 0  # frames written so far (handed to `background`, if any)
        self._background = background
        self._unsynced = 0  # bytes written since the last `start_writeback`
        self._gathered: np.ndarray | None = None  # small blocks waiting to be written as one
        self._n_gathered = 0
        sf_subtype = "MPEG_LAYER_III" if file_format == "mp3" else subtype
        # The file is opened here and handed to libsndfile, so its descriptor is ours to start
        # writeback on and to fsync before closing.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            self._file: sf.SoundFile | None = _system_call(
                self.path, sf.SoundFile, self._fd, "w", self.sample_rate, channels,
                subtype=sf_subtype, format=_FILE_FORMATS[file_format], closefd=False,
            )
        except BaseException:
            os.close(self._fd)
            raise
        import weakref

        self._finalizer = weakref.finalize(self, _close_quietly, self._file, self._fd)
        if subtype == "FLOAT":
            from soundfile import _ffi, _snd

            _snd.sf_command(self._file._file, _SFC_SET_ADD_PEAK_CHUNK, _ffi.NULL, 0)

    def write(self, block: np.ndarray) -> None:
        """Append `block`: int16 (n,) for a mono file, or (channels, n)."""
        if self._file is None:
            raise ValueError(f"{self.path}: write after close")
        block = np.asarray(block)
        if block.dtype != np.int16:
            raise TypeError(f"{self.path}: blocks must be int16, not {block.dtype}")
        if block.ndim == 1 and self.channels == 1:
            frames = block
        elif block.ndim == 2 and block.shape[0] == self.channels:
            frames = np.ascontiguousarray(block.T) if self.channels > 1 else block[0]
        else:
            raise ValueError(f"{self.path}: a block for {self.channels} channel(s) has shape "
                             f"(n,) (mono) or ({self.channels}, n), not {block.shape}")
        if self.subtype == "FLOAT":
            frames = np.multiply(frames, 1.0 / _FULL_SCALE, dtype=np.float32)
        frames = np.ascontiguousarray(frames)
        n = len(frames)
        self.frames += n
        if n >= self.GATHER_FRAMES:
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

    def _push_gathered(self) -> None:
        """Hand the gathered small blocks over as one write (a fresh buffer follows: the
        write-behind thread may still be reading this one)."""
        if self._n_gathered:
            self._submit(self._gathered[:self._n_gathered])
            self._gathered, self._n_gathered = None, 0

    def _submit(self, frames: np.ndarray) -> None:
        if self._background is not None:
            self._background.submit(self._put, self._file, frames)
        else:
            self._put(self._file, frames)

    def _put(self, file: sf.SoundFile, frames: np.ndarray) -> None:
        """Write `frames` (on the write-behind thread, if any); start writeback every
        `WRITEBACK_BYTES`."""
        _system_call(self.path, file.write, frames)
        self._unsynced += frames.nbytes
        if self._unsynced >= WRITEBACK_BYTES:
            self._unsynced = 0
            start_writeback(self._fd)

    def flush(self) -> None:
        """Push what was written so far to the file (its header updated), without closing it.

        libsndfile rewrites the WAV header sizes on every sync, so a reader opening the file now
        sees every frame written so far (the server flushes about once a second)."""
        if self._file is not None:
            self._push_gathered()
            if self._background is not None:
                self._background.drain()
            self._file.flush()
            if self.file_format == "wav":  # sf_write_sync leaves a float WAV's header at 0 frames
                from soundfile import _ffi, _snd

                _snd.sf_command(self._file._file, _SFC_UPDATE_HEADER_NOW, _ffi.NULL, 0)

    def close(self) -> None:
        """Flush, close and fsync the file. Idempotent."""
        if self._file is None:
            return
        try:
            self._push_gathered()
        finally:
            if self._background is not None:
                self._background.drain()
        f, self._file = self._file, None
        self._finalizer.detach()
        try:
            _system_call(self.path, f.close)  # soundfile flushes (sf_write_sync) before sf_close
            os.fsync(self._fd)  # whatever sf_close wrote after its sync (header sizes) is on disk
        finally:
            os.close(self._fd)

    @property
    def closed(self) -> bool:
        """Whether `close()` has run."""
        return self._file is None

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"StreamWriter({self.path!r}, {self.sample_rate}, channels={self.channels}, "
                f"subtype={self.subtype!r}, file_format={self.file_format!r})")


_SFE_SYSTEM = 2  # libsndfile's error code for a failed system call ("System error.")


def _system_call(path: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
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


class WriteBehind:
    """One background thread that runs writes in the order they are submitted.

    The queue is bounded (`depth` pending writes), so memory stays bounded whatever the length
    of a render: `submit` waits when the writer falls behind. An exception raised by a write is
    raised again by the next `submit` or `drain`.
    """

    def __init__(self, depth: int = 64) -> None:
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=depth)
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

    def submit(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the thread, after every write submitted before."""
        self._raise()
        if not self._thread.is_alive():
            raise RuntimeError("the write-behind thread is closed")
        self._queue.put((fn, args))

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
        self._fd = os.open(path, os.O_RDONLY)
        import weakref

        weakref.finalize(self, os.close, self._fd)

    @property
    def shape(self) -> tuple[int]:
        return (self.frames,)

    def __len__(self) -> int:
        return self.frames

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
        got = os.preadv(self._fd, [out], self.offset + 2 * lo) if n else 0
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
    _check_rate(sample_rate)
    name = os.fspath(src)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    _check_file(name)
    if _check_riff(name) is not None:  # header size 0: the RAW path of load_audio
        return None
    chunk = _wav_data_chunk(name)
    if chunk is None:
        return None
    tag, channels, rate, bits, offset, size = chunk
    if not (tag == 1 and channels == 1 and rate == sample_rate and bits == 16):
        return None
    try:
        info = sf.info(name)
    except sf.SoundFileError as exc:
        raise AudioError(name, f"not a readable audio file (libsndfile: {_sf_reason(exc)})") from None
    if info.format not in ("WAV", "WAVEX") or info.subtype != "PCM_16" or info.channels != 1:
        return None
    if info.frames == 0:
        raise AudioError(name, "the file holds no audio (0 frames)")
    if info.frames != min(size, os.stat(name).st_size - offset) // 2:
        return None  # libsndfile sees the samples otherwise: let it decode them
    return PcmFile(name, offset, info.frames)


def _wav_data_chunk(name: str) -> tuple[int, int, int, int, int, int] | None:
    """(format tag, channels, rate, bits, data offset, data size) of a plain RIFF/WAVE file,
    or None (not such a file, no fmt before data)."""
    with open(name, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        fmt = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"fmt ":
                body = f.read(min(chunk_size, 40))
                if len(body) < 16:
                    return None
                tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", body[:16])
                if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = (tag, channels, rate, bits)
            elif chunk_id == b"data":
                if fmt is None or chunk_size in _PLACEHOLDER_SIZES:
                    return None
                return (*fmt, pos + 8, chunk_size)
            pos += 8 + chunk_size + (chunk_size & 1)
    return None
