"""The benchmark inputs, made deterministically: a call of `parties` mono PCM16 voices at 16 kHz
and a scenario in which every party is in conference the whole time, recorded.

Two workloads, both written so that no mix ever leaves full scale: every correct mixer (ffmpeg,
sox, pydub, numpy, mpcmix) then writes the same samples, and the outputs of all of them can be
compared sample for sample.

- ``quiet`` (`make_workload`): each voice talks in turns (bursts of band-limited noise with a
  syllable envelope) over a quiet noise floor, peaking below 32767 / parties, so even the sum of
  the peaks stays inside int16.
- ``speech`` (`make_speech_workload`): ordinary speech levels. Each voice is the bundled fixture
  speech (fixtures/voices), re-cut and pitched per party, peaking at -14 dBFS, talking all the
  time: the sum of the peaks exceeds full scale (so a mixer that bounds the mix by its sources'
  peaks must check each row), though the mix itself never does (checked when written).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16000
_BASE_S = 60  # seconds synthesised per party; longer voices repeat it, rotated (cheap, distinct)
_TURN_S = 3  # each party talks for this long, in turn
FIXTURE_VOICES = Path(__file__).resolve().parent.parent / "fixtures" / "voices"
SPEECH_PEAK = round(32768 * 10 ** (-14 / 20))  # -14 dBFS: 6538


@dataclass(frozen=True)
class Workload:
    """The files of one offline benchmark call.

    `voices[i]` is party ``p{i}``'s voice (mono PCM16 WAV); `scenario` renders them with mpcmix;
    `expected` lists the 11 output names (``p0..`` the listener streams, ``recording`` the full
    mix) in the order the peers write them.
    """

    folder: Path
    voices: tuple[Path, ...]
    scenario: Path
    duration_s: int
    sample_rate: int

    @property
    def names(self) -> tuple[str, ...]:
        """Output names: each party's stream (everyone but itself), then the recording."""
        return (*(f"p{i}" for i in range(len(self.voices))), "recording")


def voice_chunk(party: int, parties: int, start: int, n: int, sample_rate: int) -> np.ndarray:
    """int16 (n,): party `party`'s voice at samples ``[start, start + n)`` (deterministic)."""
    rng = np.random.default_rng([party, start])
    peak = 32767 // parties - 64  # the sum of all parties stays inside int16
    t = (start + np.arange(n)) / sample_rate
    turn = (t // _TURN_S).astype(np.int64) % parties == party
    syllable = 0.55 + 0.45 * np.sin(2 * np.pi * (3.0 + 0.4 * party) * t) ** 2
    noise = rng.standard_normal(n, dtype=np.float32)
    noise = noise + np.roll(noise, 1 + party)  # a little colour, different per party
    level = np.where(turn, 0.22 * peak * syllable, 6.0)
    x = np.clip(np.rint(noise * level), -peak, peak)
    return x.astype(np.int16)


def make_workload(folder: str | Path, *, parties: int = 10, duration_s: int = 600,
                  sample_rate: int = SAMPLE_RATE) -> Workload:
    """Write the voices and the scenario into `folder` (reused if already there, same content)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    total = duration_s * sample_rate
    voices = []
    for party in range(parties):
        path = folder / f"voice{party}.wav"
        voices.append(path)
        if path.exists() and sf.info(str(path)).frames == total:
            continue
        step = min(total, _BASE_S * sample_rate)
        base = voice_chunk(party, parties, 0, step, sample_rate)
        with sf.SoundFile(str(path), "w", sample_rate, 1, subtype="PCM_16") as f:
            for k, lo in enumerate(range(0, total, step)):
                chunk = np.roll(base, (k * 104729 * (party + 1)) % step) if k else base
                f.write(chunk[:total - lo])
    return Workload(folder, tuple(voices), _scenario(folder, parties, duration_s, sample_rate), duration_s,
                    sample_rate)


def speech_base(party: int, seconds: int, sample_rate: int) -> np.ndarray:
    """int16: party `party`'s `seconds` of speech: the fixture voices in a party's own order and
    pitch (resampled by 1 + party / 40), cut into phrases with pauses, peaking at `SPEECH_PEAK`."""
    clips = [sf.read(str(FIXTURE_VOICES / f"{name}.wav"), dtype="float64")[0]
             for name in ("customer", "agent", "supervisor")]
    rng = np.random.default_rng([7, party])
    up = 40 + party
    pitched = [resample_poly(c, 40, up) for c in clips]  # played faster: a higher, distinct voice
    total = seconds * sample_rate
    out = np.zeros(total)
    pos = int(rng.integers(0, sample_rate // 2))
    while pos < total:
        clip = pitched[int(rng.integers(0, len(pitched)))]
        lo = int(rng.integers(0, len(clip) - 3 * sample_rate))
        phrase = clip[lo:lo + int(rng.integers(2 * sample_rate, 3 * sample_rate))]
        n = min(len(phrase), total - pos)
        out[pos:pos + n] = phrase[:n]
        pos += n + int(rng.integers(sample_rate // 10, sample_rate // 2))
    out *= SPEECH_PEAK / np.abs(out).max()
    return np.rint(out).astype(np.int16)


def make_speech_workload(folder: str | Path, *, parties: int = 10, duration_s: int = 600,
                         sample_rate: int = SAMPLE_RATE) -> Workload:
    """The ``speech`` workload (module docstring) into `folder` (reused if already there). Raises
    if some mix (the recording, or a party's stream: all but itself) would leave int16."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the speech workload is made at {SAMPLE_RATE} Hz (its fixtures' rate)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    total = duration_s * sample_rate
    step = min(total, _BASE_S * sample_rate)
    bases = [speech_base(party, step // sample_rate, sample_rate) for party in range(parties)]
    voices = [folder / f"voice{party}.wav" for party in range(parties)]
    if not all(v.exists() and sf.info(str(v)).frames == total for v in voices):
        files = [sf.SoundFile(str(v), "w", sample_rate, 1, subtype="PCM_16") for v in voices]
        try:
            for k, lo in enumerate(range(0, total, step)):
                chunks = np.stack([np.roll(b, (k * 104729 * (p + 1)) % step) if k else b
                                   for p, b in enumerate(bases)])[:, :total - lo]
                mix = chunks.sum(axis=0, dtype=np.int32)
                worst = max(int(np.abs(mix).max()), int(np.abs(mix - chunks).max()))
                if worst > 32767:
                    raise RuntimeError(f"speech workload: a mix reaches {worst} at minute {k}")
                for f, chunk in zip(files, chunks, strict=True):
                    f.write(chunk)
        finally:
            for f in files:
                f.close()
    return Workload(folder, tuple(voices), _scenario(folder, parties, duration_s, sample_rate), duration_s,
                    sample_rate)


def _scenario(folder: Path, parties: int, duration_s: int, sample_rate: int) -> Path:
    """The scenario: every party in conference from 0 s to the end, recorded."""
    scenario = folder / "call.json"
    lines = {f"+1415555{1000 + i}": {"audio": f"voice{i}.wav"} for i in range(parties)}
    events: list[dict] = [
        {"at": 0.0, "op": "add_participant", "as": f"p{i}", "role": "customer" if i == 0 else "agent",
         "from": "+14155550000", "to": number, "enter_sound": "none", "exit_sound": "none"}
        for i, number in enumerate(lines)
    ]
    events.append({"at": 0.0, "op": "start_recording", "file_format": "wav"})
    events.append({"at": float(duration_s), "op": "end"})
    doc = {"mpc": "bench", "sample_rate": sample_rate, "frame_ms": 20, "lines": lines, "events": events}
    scenario.write_text(json.dumps(doc, indent=1))
    return scenario
