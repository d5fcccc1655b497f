"""Audio in: decode any input once to int16 mono at the call's rate, and pydub interop.

Everything the mixer adds is exact integer arithmetic on the int16 grid, so this module is the one
place where audio is rounded: each input is decoded, mixed down to the mean of its channels,
resampled to the call's rate with a polyphase filter and quantised once (round, clip) to int16
(docs/semantics.md, Audio). The checks every input passes (`check_rate`, `check_file`,
`check_wav`) live here too, for `open_pcm` to check files as `load_audio` does.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import warnings
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple, TypeGuard

import numpy as np
import soundfile as sf

from . import wavfile

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from pydub import AudioSegment

__all__ = [
    "FULL_SCALE",
    "MAX_INPUT_RATE",
    "MAX_RESAMPLE_FACTOR",
    "AudioError",
    "RawData",
    "WavCheck",
    "check_declared",
    "check_file",
    "check_rate",
    "check_wav",
    "load_audio",
    "sf_reason",
    "to_audiosegment",
    "wav_data_size_ok",
]

#: The highest sample rate a file may declare, in Hz. Resampling cost grows with the rate ratio,
#: and a header that claims gigahertz is broken, not audio.
MAX_INPUT_RATE = 768_000

#: int16 units per 1.0 of float audio (libsndfile's convention).
FULL_SCALE = 32768.0
_FLOAT_SAMPLE_LIMIT = 65536.0  # float samples are clipped here (x full scale) before scaling
_BLOCK_FRAMES = 1 << 16  # decode in blocks, so a many-channel file never sits in memory whole


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
    check_rate(sample_rate)
    if _is_audiosegment(src):
        return _load_segment(src, sample_rate)
    name = _path_name(src)
    check_file(name)
    raw = check_wav(name).raw
    try:
        with _open(name, raw) as f:
            rate, channels = f.samplerate, f.channels
            check_declared(name, rate, channels)
            if _reads_exactly_as_int16(f, sample_rate):
                pcm: np.ndarray = f.read(dtype="int16")
                if pcm.size == 0:
                    raise AudioError(name, "the file holds no audio (0 frames)")
                return pcm
            mono = _decode_mono(f, name)
    except sf.SoundFileError as exc:  # LibsndfileError and friends: not audio, or broken
        raise AudioError(name, f"not a readable audio file (libsndfile: {sf_reason(exc)})") from None
    return _finish(mono, rate, sample_rate)


def _path_name(src: str | os.PathLike[str] | AudioSegment) -> str:
    name = os.fspath(src)
    return os.fsdecode(name) if isinstance(name, bytes) else name


@contextlib.contextmanager
def _open(name: str, raw: RawData | None) -> Iterator[sf.SoundFile]:
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


def check_rate(sample_rate: int) -> None:
    """ValueError unless `sample_rate` is a whole number of Hz in 1..`MAX_INPUT_RATE`."""
    if not isinstance(sample_rate, int | np.integer) or not 0 < sample_rate <= MAX_INPUT_RATE:
        raise ValueError(f"sample_rate must be a whole number of Hz in 1..{MAX_INPUT_RATE}, "
                         f"not {sample_rate!r}")


def check_file(name: str) -> None:
    """AudioError unless `name` is a readable, non-empty regular file (checked before it is
    opened: a FIFO or a device is never opened)."""
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise AudioError(name, "no such file") from None
    except OSError as exc:
        raise AudioError(name, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(name, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader, a device never end
        raise AudioError(name, "is not a regular file (a FIFO, a socket or a device); only "
                               "regular files are opened")
    if st.st_size == 0:
        raise AudioError(name, "the file is empty (0 bytes)")
    if not os.access(name, os.R_OK):
        raise AudioError(name, "cannot be read (permission denied)")


def check_declared(name: str, rate: int, channels: int) -> None:
    """AudioError unless a file's declared channel count is >= 1 and its rate in range."""
    if channels < 1:
        raise AudioError(name, f"the file declares {channels} channels")
    if not 0 < rate <= MAX_INPUT_RATE:
        raise AudioError(name, f"the file declares a sample rate of {rate} Hz; mpcmix reads "
                               f"1..{MAX_INPUT_RATE} Hz")


class RawData(NamedTuple):
    """Where a WAV's samples lie when its header gives no usable data size."""

    offset: int  # first byte of the data chunk's body
    subtype: str  # libsndfile subtype of the RAW reader
    channels: int
    rate: int  # Hz


class WavCheck(NamedTuple):
    """What `check_wav` found."""

    #: The file's layout; None if it is not a plain RIFF WAVE file (then nothing was checked).
    layout: wavfile.WavLayout | None
    #: Where the samples are when the data size is the placeholder 0 but bytes follow (libsndfile
    #: would read 0 frames: the samples run to the end of the file); else None.
    raw: RawData | None


# WAVE format tag -> {bits per sample: libsndfile RAW subtype}
_RAW_SUBTYPES = {
    wavfile.WAVE_FORMAT_PCM: {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"},
    wavfile.WAVE_FORMAT_IEEE_FLOAT: {32: "FLOAT", 64: "DOUBLE"},
    wavfile.WAVE_FORMAT_ALAW: {8: "ALAW"},
    wavfile.WAVE_FORMAT_MULAW: {8: "ULAW"},
}


def check_wav(name: str) -> WavCheck:
    """Refuse a plain RIFF/WAVE file whose `data` chunk declares more bytes than the file holds.

    libsndfile reads such a file without complaint (it stops where the bytes stop), so a truncated
    download would otherwise play as a shorter file. Only plain little-endian RIFF WAVE is checked
    (RF64, RIFX, W64 keep their sizes elsewhere); the placeholder sizes 0 and 0xFFFFFFFF that
    streaming writers leave are accepted. The `fmt ` chunk's channel count and rate are checked
    here too, because libsndfile's own message for an absurd rate ("SF_INFO struct incomplete")
    does not say what is wrong. Raises AudioError naming the file.
    """
    layout = wavfile.read_layout(name)
    if layout is None:
        return WavCheck(None, None)
    if layout.fmt is not None:
        check_declared(name, layout.fmt.sample_rate, layout.fmt.channels)
    if layout.data_offset is None or layout.data_size is None:
        return WavCheck(layout, None)
    held = layout.data_present
    if layout.data_size == 0 and held > 0:
        return WavCheck(layout, _raw_data(name, layout.fmt, layout.data_offset))
    if not layout.size_is_placeholder and layout.data_size > held:
        raise AudioError(name, f"the header declares {layout.data_size} bytes of audio but "
                               f"the file holds {held} (truncated)")
    return WavCheck(layout, None)


def _raw_data(name: str, fmt: wavfile.WavFormat | None, offset: int) -> RawData:
    if fmt is None or fmt.bits_per_sample is None:
        raise AudioError(name, "the data size is the placeholder 0 and the fmt chunk is missing")
    tag, bits = fmt.codec, fmt.bits_per_sample
    subtype = _RAW_SUBTYPES.get(tag, {}).get(bits)
    if subtype is None:
        raise AudioError(name, f"the data size is the placeholder 0 and format tag {tag} with "
                               f"{bits}-bit samples cannot be read without it")
    return RawData(offset, subtype, fmt.channels, fmt.sample_rate)


class _Window(io.RawIOBase):
    """A read-only view of a binary file from byte `offset` on (for libsndfile's RAW reader)."""

    def __init__(self, f: io.BufferedReader, offset: int) -> None:
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

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._f.readinto(buffer)


def wav_data_size_ok(path: str | os.PathLike[str]) -> bool:
    """Whether a file passes the truncation check: not a plain RIFF WAVE, or its `data` chunk
    holds at least the bytes its header declares (placeholder sizes accepted)."""
    try:
        check_wav(os.fspath(path))
    except AudioError:
        return False
    return True


def _reads_exactly_as_int16(f: sf.SoundFile, sample_rate: int) -> bool:
    """A mono file of at most 16-bit integers at the call's rate: libsndfile's int16 read is
    exact (8-bit samples are shifted left), so no float pass is needed."""
    return bool(
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
        parts.append(np.multiply(mono, FULL_SCALE, dtype=np.float32))
    if not parts or sum(len(p) for p in parts) == 0:
        raise AudioError(name, "the file holds no audio (0 frames)")
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _finish(mono: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """Resample float `mono` (int16 units) from `rate` to `sample_rate`, then quantise once."""
    if rate != sample_rate:
        from scipy.signal import resample_poly  # slow to import: only when a file needs it

        up, down = _resample_factors(rate, sample_rate)
        mono = resample_poly(mono, up, down)
    out: np.ndarray = np.rint(mono)
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


def sf_reason(exc: Exception) -> str:
    """libsndfile's reason, without soundfile's "Error opening 'x.wav': " in front."""
    text = str(exc)
    # "Error opening 'x.wav': Format not recognised." -> "Format not recognised."
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text


# --------------------------------------------------------------------------------------------
# pydub interop


def _is_audiosegment(src: object) -> TypeGuard[AudioSegment]:
    """A pydub AudioSegment, recognised without importing pydub (it probes for ffmpeg on import)."""
    return all(hasattr(src, a) for a in ("raw_data", "frame_rate", "channels", "sample_width"))


_SEGMENT_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}  # pydub keeps 8-bit data signed


def _load_segment(seg: AudioSegment, sample_rate: int) -> np.ndarray:
    name = "<AudioSegment>"
    width, channels, rate = int(seg.sample_width), int(seg.channels), int(seg.frame_rate)
    check_declared(name, rate, channels)
    raw = seg.raw_data
    if width == 3:  # 24-bit little-endian: widen to int32 (value in the top three bytes)
        b = np.frombuffer(raw, dtype=np.uint8)
        b = b[: len(b) // 3 * 3].reshape(-1, 3)
        ints = np.zeros((len(b), 4), dtype=np.uint8)
        ints[:, 1:] = b
        data: np.ndarray = ints.view("<i4").reshape(-1)
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
    scale = FULL_SCALE / float(1 << (8 * width - 1))
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
    segment: AudioSegment = AudioSegment(
        data=interleaved.tobytes(), sample_width=2, frame_rate=int(sample_rate),
        channels=pcm.shape[0],
    )
    return segment
