"""Fuzzing `mpcmix render` with scenario files, valid and broken, in process.

Every case: exit status 0 or 2 (never an exception out of the CLI, never its exit 3 "internal
error"), within the time limit, and a complete output folder or none, with nothing left beside
it. Every valid scenario also keeps the render's invariants: all listener streams have the same
length, and rendering twice gives the same bytes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ..strategies import broken_scenarios, mangled_texts, scenario_texts, valid_scenarios
from ._fuzz import case_dir, check_outcome, counted, examples, folder_bytes, run_in_process

#: No deadline (the time limit is `CASE_SECONDS`, a hang); no "explain" phase, whose tracing
#: slows a failing case tenfold.
FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck),
                     phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])


def _render(case, doc, form="yaml", *, text=None, out="out"):
    path = case / f"scenario.{form}"
    path.write_text(scenario_texts(doc, form) if text is None else text, encoding="utf-8")
    code, _stdout, stderr = run_in_process("render", str(path), "--out", str(case / out), "-q")
    return code, stderr


@settings(max_examples=examples(1500), **FUZZ_SETTINGS)
@given(data=st.data(), form=st.sampled_from(["yaml", "json"]))
def test_a_broken_scenario_is_rendered_or_refused_never_crashes(fuzz_root, fuzz_media, data, form):
    doc = data.draw(broken_scenarios(fuzz_media), label="scenario")
    with counted("broken scenarios"), case_dir(fuzz_root) as case:
        code, stderr = _render(case, doc, form)
        check_outcome(code, stderr, case / "out")


@settings(max_examples=examples(300), **FUZZ_SETTINGS)
@given(data=st.data(), form=st.sampled_from(["yaml", "json"]))
def test_a_mangled_scenario_file_is_refused_or_rendered(fuzz_root, fuzz_media, data, form):
    doc = data.draw(valid_scenarios(fuzz_media), label="scenario")
    text = data.draw(mangled_texts(scenario_texts(doc, form)), label="text")
    with counted("mangled files"), case_dir(fuzz_root) as case:
        code, stderr = _render(case, doc, form, text=text)
        check_outcome(code, stderr, case / "out")


@settings(max_examples=examples(300), **FUZZ_SETTINGS)
@given(data=st.data(), form=st.sampled_from(["yaml", "json"]))
def test_a_valid_scenario_renders_equal_length_streams_the_same_twice(fuzz_root, fuzz_media, data,
                                                                      form):
    doc = data.draw(valid_scenarios(fuzz_media), label="scenario")
    with counted("valid scenarios"), case_dir(fuzz_root) as case:
        code, stderr = _render(case, doc, form, out="first")
        assert code == 0, stderr
        check_outcome(code, stderr, case / "first")
        code, stderr = _render(case, doc, form, out="second")
        assert code == 0, stderr
        assert folder_bytes(case / "first") == folder_bytes(case / "second")
