"""`mpcmix render` as a real process (``python -m mpcmix.cli``): exit status 0 or 2 and never a
traceback, for broken and valid scenarios alike; an internal error is one line and exit 3."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from ..audio_checks import FIXTURES
from ..strategies import broken_scenarios, scenario_texts, valid_scenarios
from ._fuzz import (
    SUBPROCESS_SECONDS,
    case_dir,
    check_outcome,
    counted,
    examples,
    run_subprocess,
)
from .test_fuzz_scenarios import FUZZ_SETTINGS


@settings(max_examples=examples(10), **FUZZ_SETTINGS)
@given(data=st.data(), form=st.sampled_from(["yaml", "json"]), broken=st.booleans())
def test_the_cli_ends_with_0_or_2_and_never_a_traceback(fuzz_root, fuzz_media, data, form,
                                                        broken):
    strategy = broken_scenarios(fuzz_media) if broken else valid_scenarios(fuzz_media)
    doc = data.draw(strategy, label="scenario")
    with counted("subprocess renders"), case_dir(fuzz_root) as case:
        path = case / f"scenario.{form}"
        path.write_text(scenario_texts(doc, form), encoding="utf-8")
        code, _stdout, stderr = run_subprocess("render", str(path), "--out", str(case / "out"))
        check_outcome(code, stderr, case / "out")
        if not broken:
            assert code == 0, stderr


def test_an_internal_error_is_one_line_exit_3_and_leaves_no_folder(tmp_path):
    # The one fault injected into mpcmix's own code in these tests: no input is known to cause
    # an internal error (each one found was fixed where it arose), so one is made here.
    scenario = tmp_path / "s.yaml"
    voice = FIXTURES / "voices" / "agent.wav"
    scenario.write_text(f"mpc: x\nlines: {{'+2': {{audio: '{voice}'}}}}\nevents:\n"
                        "  - {at: 0, op: add_participant, as: a, role: agent, from: '+1', to: '+2'}\n")
    program = (
        "import sys, mpcmix.scenario as r, mpcmix.engine as e\n"
        "def boom(*a, **k): raise ZeroDivisionError('injected')\n"
        "e.CallEngine.advance_to = boom\n"
        "from mpcmix.cli import main\n"
        f"sys.exit(main(['render', {str(scenario)!r}, '--out', {str(tmp_path / 'out')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=SUBPROCESS_SECONDS, check=False)
    assert result.returncode == 3
    assert result.stderr == ("mpcmix: internal error: ZeroDivisionError: injected "
                             "(please report)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]
