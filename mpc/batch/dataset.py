"""A render as diarisation data (``mpcmix render-many --dataset``): ``DIR/renders/<name>/dataset/``.

- ``speakers/<voice>.wav``: each participant's voice as it was heard in the call: its measured
  contribution to the listeners' mixes before their limiters (mpcmix.analysis.measure: the
  render with that voice silenced, subtracted from the original), so a held or muted stretch is
  silence and a coaching supervisor is what its agent heard; per sample, the largest contribution
  to any listener;
- ``mix/<listener>.wav``: what each listener heard (the render's own ``listeners/<listener>.wav``);
- ``<name>.rttm``: who spoke when, one ``SPEAKER`` line per span in which a voice was heard by
  anyone, from the same measure (not the speak callbacks, which only subscribers receive): exact
  ground truth at the frame (``frame_ms``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
from mpcmix.analysis.checked import Measured
from mpcmix.analysis.timeline import merge_spans
from mpcmix.routing import RoutingMatrix
from mpcmix.scenario import LoadedScenario, ScenarioDriver, scenario_engine

DATASET = "dataset"


class _Contribution:
    """A tap keeping, per sample, the largest difference between a baseline's rows and a render's."""

    def __init__(self, measured: Measured, samples: int) -> None:
        assert measured.baseline is not None
        self.baseline = measured.baseline
        self.track = np.zeros(samples, dtype=np.float32)

    def record(self, start: int, matrix: RoutingMatrix, mix: np.ndarray) -> None:
        n = min(mix.shape[1], len(self.track) - start)
        if n <= 0:
            return
        best = self.track[start:start + n]
        for i, name in enumerate(matrix.listeners):
            diff = self.baseline.read(name, start, n) - mix[i, :n]
            np.copyto(best, diff, where=np.abs(diff) > np.abs(best))


def write_dataset(folder: Path, scenario: LoadedScenario, measured: Measured, name: str) -> None:
    """Write ``folder/dataset/`` (see the module docstring) for the render `name` in `folder`."""
    out = folder / DATASET
    (out / "speakers").mkdir(parents=True)
    (out / "mix").mkdir()
    samples = measured.timeline.end_ms * scenario.sample_rate // 1000
    for voice in measured.timeline.participants():
        contribution = _Contribution(measured, samples)
        engine = scenario_engine(scenario, None, tap=contribution.record, silence_voices={voice},
                                 detect_speech=False)
        ScenarioDriver(scenario, engine).run()
        pcm = np.clip(np.rint(contribution.track), -32768, 32767).astype(np.int16)
        sf.write(out / "speakers" / f"{voice}.wav", pcm, scenario.sample_rate, subtype="PCM_16")
    for stream in sorted((folder / "listeners").glob("*.wav")):
        try:
            os.link(stream, out / "mix" / stream.name)
        except OSError:
            shutil.copyfile(stream, out / "mix" / stream.name)
    lines = []
    for voice in measured.timeline.participants():
        spans = merge_spans([(round(a * 1000), round(b * 1000)) for p in measured.pairs
                             if p.source == voice for a, b in p.heard_spans])
        for a, b in spans:
            lines.append(f"SPEAKER {name} 1 {a / 1000:.3f} {(b - a) / 1000:.3f} <NA> <NA> {voice} <NA> <NA>")
    (out / f"{name}.rttm").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
