"""The stream payloads: G.711 μ-law and 16-bit linear PCM, and resampling to and from a call.

μ-law is two numpy tables (`audioop` is gone from current Python): `ULAW_DECODE` (256 int16
values) and `ULAW_ENCODE` (65,536 codes, one per int16 value), made once with G.711's segment
arithmetic (bias 0x84, clip at 32,635), so encoding and decoding a block is one table look-up.
L16 is signed 16-bit little-endian PCM. `Resampler` converts a stream of blocks between two
rates (a windowed-sinc FIR polyphase filter whose state runs across blocks, so cutting the
stream anywhere gives the same samples); between equal rates it is the identity.
"""

from __future__ import annotations

from math import gcd

import numpy as np

__all__ = ["ULAW_DECODE", "ULAW_ENCODE", "Resampler", "decode", "encode", "ulaw_decode",
           "ulaw_encode"]

_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.zeros_like(magnitude)
    for e in range(7, 0, -1):  # the segment: position of the highest set bit above bit 7
        exponent = np.where((exponent == 0) & (magnitude >= (0x80 << e)), e, exponent)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    table: np.ndarray = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return table


#: μ-law code -> int16 sample
ULAW_DECODE = _decode_table()
#: int16 sample (offset by 32,768) -> μ-law code
ULAW_ENCODE = _encode_table()
#: the same, indexed by the sample's bits read as uint16 (no arithmetic per sample)
_ULAW_BY_BITS = np.roll(ULAW_ENCODE, -32768)


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> μ-law bytes (one a sample)."""
    bits = np.ascontiguousarray(pcm, dtype=np.int16).view(np.uint16)
    return _ULAW_BY_BITS[bits].tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """μ-law bytes -> int16 samples."""
    out: np.ndarray = ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    return out


def encode(pcm: np.ndarray, encoding: str) -> bytes:
    """int16 samples as `encoding` (``audio/x-mulaw`` or ``audio/x-l16``) bytes."""
    if encoding == "audio/x-mulaw":
        return ulaw_encode(pcm)
    if encoding == "audio/x-l16":
        return np.asarray(pcm, dtype="<i2").tobytes()
    raise ValueError(f"unknown encoding {encoding!r} (audio/x-mulaw or audio/x-l16)")


def decode(data: bytes, encoding: str) -> np.ndarray:
    """`encoding` bytes -> int16 samples (an odd trailing byte of L16 is dropped)."""
    if encoding == "audio/x-mulaw":
        return ulaw_decode(data)
    if encoding == "audio/x-l16":
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    raise ValueError(f"unknown encoding {encoding!r} (audio/x-mulaw or audio/x-l16)")


class Resampler:
    """int16 blocks at `src` Hz -> int16 blocks at `dst` Hz, continuous across blocks."""

    def __init__(self, src: int, dst: int, *, half_taps: int = 10) -> None:
        g = gcd(src, dst)
        self.src, self.dst = src, dst
        self.up, self.down = dst // g, src // g
        self.identity = self.up == self.down
        if self.identity:
            return
        from scipy.signal import firwin

        n = 2 * half_taps * max(self.up, self.down) + 1
        self._taps = firwin(n, 1.0 / max(self.up, self.down)) * self.up
        self._zi = np.zeros(n - 1)
        self._phase = 0  # index, in the upsampled stream of this block, of the next output

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        x = np.asarray(pcm, dtype=np.int16)
        if self.identity or not len(x):
            return x.copy() if self.identity else np.zeros(0, np.int16)
        from scipy.signal import lfilter

        u = np.zeros(len(x) * self.up)
        u[:: self.up] = x
        y, self._zi = lfilter(self._taps, 1.0, u, zi=self._zi)
        out = y[self._phase:: self.down]
        self._phase += len(out) * self.down - len(u)
        result: np.ndarray = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return result
