"""Fixtures of the reliability tests: the audio files fuzzed scenarios name, written once per
session, and the count of fuzz cases printed at the end."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ..strategies import FuzzMedia
from ._fuzz import COUNTS, FUZZ_SCALE, SECONDS, scratch_root


def pytest_terminal_summary(terminalreporter) -> None:
    if not COUNTS:
        return
    parts = ", ".join(f"{kind} {COUNTS[kind]} ({SECONDS[kind]:.1f} s)" for kind in sorted(COUNTS))
    terminalreporter.write_line(
        f"mpcmix fuzz: {sum(COUNTS.values())} cases run in {sum(SECONDS.values()):.1f} s "
        f"(scale {FUZZ_SCALE:g}): {parts}")


def _noise(seconds: float, rate: int, seed: int, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = max(1, round(seconds * rate))
    return np.clip(rng.standard_normal((n, channels)) * 0.15, -1, 1).astype(np.float32)


@pytest.fixture(scope="session")
def fuzz_root(tmp_path_factory) -> Path:
    """The session's scratch folder (a tmpfs where there is one); removed at the end."""
    root = scratch_root(tmp_path_factory)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def fuzz_media(fuzz_root: Path) -> FuzzMedia:
    """Short voices and sounds in several formats, and broken files, under `fuzz_root/audio`.

    References take each form a scenario may use: relative to the case folder, absolute, and
    ``file://``. `alternates` maps each voice to a file of the same length and format holding
    other noise (for the non-interference tests).
    """
    audio = fuzz_root / "audio"
    audio.mkdir()
    good = {
        "v_8k.wav": (_noise(0.3, 8000, 1), 8000, "PCM_16"),
        "v_16k_stereo.wav": (_noise(0.7, 16000, 2, channels=2), 16000, "FLOAT"),
        "v_44k.flac": (_noise(0.4, 44100, 3), 44100, "PCM_16"),
        "v_one_sample.wav": (_noise(0.0, 8000, 4), 8000, "PCM_16"),
        "v_loud.wav": (np.sign(_noise(1.2, 8000, 5)), 8000, "PCM_16"),
    }
    alternates = {}
    for i, (name, (data, rate, subtype)) in enumerate(good.items()):
        sf.write(audio / name, data, rate, subtype=subtype)
        stem, ext = name.rsplit(".", 1)
        other = np.roll(-data, 1 + i, axis=0) * 0.9
        sf.write(audio / f"{stem}_alt.{ext}", other, rate, subtype=subtype)
    sf.write(audio / "s_chime.wav", _noise(0.25, 8000, 6), 8000)
    sf.write(audio / "s_music.ogg", _noise(0.5, 16000, 7), 16000, format="OGG", subtype="VORBIS")
    (audio / "s_doc.xml").write_text(
        '<Response><Play loop="2">s_chime.wav</Play><Wait length="0.1"/></Response>')
    broken = {
        "b_empty.wav": b"",
        "b_text.wav": b"this is not audio\n",
        "b_truncated.wav": (audio / "v_8k.wav").read_bytes()[:-100],
        "b_loop.xml": b"<Response><Play>b_loop.xml</Play></Response>",
        "b_element.xml": b"<Response><Dial>123</Dial></Response>",
    }
    for name, raw in broken.items():
        (audio / name).write_bytes(raw)
    sf.write(audio / "b_nan.wav", np.full(100, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    sf.write(audio / "b_zero_frames.wav", np.zeros(0, dtype=np.int16), 8000)
    (audio / "b_folder.wav").mkdir()

    def forms(name: str) -> list[str]:
        return [f"../../audio/{name}", str(audio / name), (audio / name).as_uri()]

    voices = [ref for name in good for ref in forms(name)]
    for name in good:
        stem, ext = name.rsplit(".", 1)
        for ref, alt in zip(forms(name), forms(f"{stem}_alt.{ext}"), strict=True):
            alternates[ref] = alt
    sounds = [ref for name in ("s_chime.wav", "s_music.ogg", "s_doc.xml") for ref in forms(name)]
    bad = [f"../../audio/{name}" for name in [*broken, "b_nan.wav", "b_zero_frames.wav",
                                                "b_folder.wav", "b_missing.wav"]]
    import scipy.signal  # noqa: F401 - imported once here, not inside the first timed case

    return FuzzMedia(voices, sounds, bad, alternates)
