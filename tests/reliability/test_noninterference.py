"""Non-interference on whole renders (docs/routing.md): replacing a voice that a listener may not hear by
other noise, everything else equal, leaves that listener's stream unchanged, bit for bit.

Fuzzed over valid scenarios with one participant that no customer may hear throughout: a
supervisor coaching from its add to the end, or one muted, or one held, for the whole call. Its
voice file is swapped for one of the same length and format holding other noise. Customers never
hear the coach; nobody hears the muted or held participant, and the recording does not take it.
"""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from ..strategies import scenario_texts, valid_scenarios
from ._fuzz import case_dir, check_outcome, counted, examples, run_in_process
from .test_fuzz_scenarios import FUZZ_SETTINGS


def _render_pair(case, doc, name, alternates):
    """Render `doc`, then again with participant `name`'s voice swapped: the two folders."""
    number = next(e["to"] for e in doc["events"] if e.get("as") == name)
    other = json.loads(json.dumps(doc))
    other["lines"][number]["audio"] = alternates[doc["lines"][number]["audio"]]
    outs = []
    for label, scenario in (("original", doc), ("swapped", other)):
        path = case / f"{label}.yaml"
        path.write_text(scenario_texts(scenario, "yaml"), encoding="utf-8")
        out = case / f"out-{label}"
        code, _stdout, stderr = run_in_process("render", str(path), "--out", str(out), "-q")
        assert code == 0, stderr
        check_outcome(code, stderr, out)
        outs.append(out)
    return outs


def _customers(doc, exclude):
    return [e["as"] for e in doc["events"]
            if e.get("op") == "add_participant" and e.get("role") == "customer"
            and e["as"] != exclude]


def _stream(out, name):
    return sf.read(out / "listeners" / f"{name}.wav", dtype="int16")[0]


def _recording(out):
    """The conference recording's samples (None when the scenario made none)."""
    doc = json.loads((out / "mpc.json").read_text(encoding="utf-8"))
    rec_id = (doc["mpc"] or {}).get("recording_id") if isinstance(doc["mpc"], dict) else None
    if rec_id is None:
        return None
    files = sorted((out / "recordings").glob(f"{rec_id}.wav"))
    return sf.read(files[0], dtype="int16")[0] if files else None


@settings(max_examples=examples(100), **FUZZ_SETTINGS)
@given(data=st.data())
def test_a_coaching_supervisors_voice_never_reaches_a_customer(fuzz_root, fuzz_media, data):
    doc = data.draw(valid_scenarios(fuzz_media, coach=True), label="scenario")
    with counted("non-interference"), case_dir(fuzz_root) as case:
        first, second = _render_pair(case, doc, "boss", fuzz_media.alternates)
        for name in _customers(doc, "boss"):
            assert np.array_equal(_stream(first, name), _stream(second, name)), name


@settings(max_examples=examples(60), **FUZZ_SETTINGS)
@given(data=st.data(), muted=st.booleans())
def test_a_voice_muted_or_held_throughout_reaches_no_one(fuzz_root, fuzz_media, data, muted):
    doc = data.draw(valid_scenarios(fuzz_media, muted=muted, held=not muted), label="scenario")
    with counted("non-interference"), case_dir(fuzz_root) as case:
        first, second = _render_pair(case, doc, "quiet", fuzz_media.alternates)
        names = sorted(p.stem for p in (first / "listeners").glob("*.wav"))
        for name in names:
            assert np.array_equal(_stream(first, name), _stream(second, name)), name
        a, b = _recording(first), _recording(second)
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a, b)
