"""Fuzzing audio inputs: files empty, truncated, of text, NaN, zero-length, one sample, with
0-channel headers, huge or zero sample rates, lying sizes, flipped bytes.

`load_audio` gives int16 mono samples or refuses with `AudioError` naming the file (never another
exception, never a hang); a render whose voice is such a file ends with exit status 0 or 2.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.mixer import AudioError, load_audio

from ..strategies import audio_file_bytes, scenario_texts, valid_scenarios
from ._fuzz import case_dir, check_outcome, counted, examples, run_in_process, time_limit
from .test_fuzz_scenarios import FUZZ_SETTINGS

SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", "")


@settings(max_examples=examples(1000), **FUZZ_SETTINGS)
@given(raw=audio_file_bytes(), suffix=st.sampled_from(SUFFIXES),
       rate=st.sampled_from([8000, 16000, 24000, 48000]))
def test_an_audio_file_is_decoded_or_refused_naming_it(fuzz_root, raw, suffix, rate):
    with counted("audio files"), case_dir(fuzz_root) as case:
        path = case / f"input{suffix}"
        path.write_bytes(raw)
        with time_limit():
            try:
                pcm = load_audio(path, rate)
            except AudioError as exc:
                assert str(path) in str(exc)
                return
        assert pcm.dtype == np.int16 and pcm.ndim == 1 and len(pcm) > 0


@settings(max_examples=examples(150), **FUZZ_SETTINGS)
@given(data=st.data(), raw=audio_file_bytes(), suffix=st.sampled_from(SUFFIXES))
def test_a_render_with_a_broken_voice_file_ends_with_0_or_2(fuzz_root, fuzz_media, data, raw,
                                                            suffix):
    doc = data.draw(valid_scenarios(fuzz_media), label="scenario")
    with counted("renders of audio files"), case_dir(fuzz_root) as case:
        (case / f"voice{suffix}").write_bytes(raw)
        number = data.draw(st.sampled_from(sorted(doc["lines"])), label="line")
        doc["lines"][number]["audio"] = f"voice{suffix}"
        path = case / "scenario.yaml"
        path.write_text(scenario_texts(doc, "yaml"), encoding="utf-8")
        code, _stdout, stderr = run_in_process("render", str(path), "--out", str(case / "out"),
                                               "-q")
        check_outcome(code, stderr, case / "out")
