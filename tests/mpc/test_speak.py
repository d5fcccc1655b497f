"""Speak to members (the API's `.../Member/{member_id}/Speak/`): text-to-speech played to its
targets only, as a Play is, with espeak-ng; silence of the text's estimated length and an
`MPCSpeakSilent` event where no engine is installed; `start_speak`/`stop_speak` in scenarios."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mpcmix.errors import NotFoundError, ScenarioError, ValidationError
from mpcmix.media import MediaLibrary
from mpcmix.scenario import load_scenario, render_scenario

from ..audio_checks import is_absent, is_present, placed
from ._model_support import make_model, names, two_party
from .test_render_rules import SR, add, events, scenario, stream

TEXT = "Your call may be recorded for quality purposes"


def test_start_speak_answers_as_recorded_and_stop_speak_uses_the_same_member_form():
    model = make_model()
    two_party(model)
    customer = model.member_id_of("customer")
    body = model.start_speak(0, customer, friendly_name="demo", text="Hello",
                             voice="MAN", language="en-GB")
    assert set(body) == {"api_id", "message", "mpcMemberId", "mpcName"}
    assert (body["message"], body["mpcMemberId"], body["mpcName"]) == (
        "speak queued into MPC", [customer], "demo")
    with pytest.raises(ValidationError, match="member form that started it"):
        model.stop_speak(0, "all", friendly_name="demo")
    with pytest.raises(NotFoundError, match="no Speak was started"):
        model.stop_speak(0, model.member_id_of("agent"), friendly_name="demo")
    assert model.stop_play_audio is not None
    with pytest.raises(NotFoundError, match="no Play was started"):  # a Speak is not a Play
        model.stop_play_audio(0, customer, friendly_name="demo")
    assert model.stop_speak(0, customer, friendly_name="demo") is None
    assert "MPCSpeakStarted" in names(model.drain_events())


def test_speak_parameters_are_checked():
    model = make_model()
    two_party(model)
    with pytest.raises(ValidationError, match="text is required"):
        model.start_speak(0, "all", friendly_name="demo")
    with pytest.raises(ValidationError, match="voice must be one of WOMAN, MAN"):
        model.start_speak(0, "all", friendly_name="demo", text="hi", voice="ROBOT")
    model.start_speak(0, "all", friendly_name="demo", text="hi", voice="woman", mix="false",
                      type="text")


def speak_scenario(**extra: object) -> dict[str, object]:
    return scenario(
        add(0, "c", "customer", "+100", stay_alone=True),
        add(0, "a", "agent", "+101", stay_alone=True),
        {"at": 1.0, "op": "start_speak", "member": "c", "text": TEXT, **extra},
        {"at": 8.0, "op": "end"},
    )


def test_speech_is_heard_by_its_target_only(tmp_path: Path) -> None:
    assert shutil.which("espeak-ng"), ("this test needs Debian's espeak-ng (apt-get install "
                                       "espeak-ng; `make test` does it)")
    out = tmp_path / "out"
    render_scenario(speak_scenario(), out)
    speech = MediaLibrary(tmp_path, SR).load(f"speak:WOMAN:en-US:{TEXT}")
    assert len(speech) > SR  # spoken, not silence
    customer, agent = stream(out, "c"), stream(out, "a")
    reference = placed(speech, SR, len(customer))
    span = (SR, SR + len(speech))
    assert is_present(customer, reference, span)
    assert is_absent(agent, reference, span)
    started = [e for e in events(out) if e["event"] == "MPCSpeakStarted"]
    assert started and started[0]["params"]["Text"] == TEXT
    assert not [e for e in events(out) if e["event"] == "MPCSpeakSilent"]


def test_without_espeak_the_target_hears_silence_and_a_warning_event_says_so(
        tmp_path: Path) -> None:
    source = tmp_path / "speak.json"
    source.write_text(json.dumps(speak_scenario()))
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    result = subprocess.run([sys.executable, "-c",
                             "import sys; from mpcmix.cli import main; sys.exit(main())",
                             "render", str(source), "--out", str(tmp_path / "out")],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    silent = [e for e in events(tmp_path / "out") if e["event"] == "MPCSpeakSilent"]
    assert silent and "espeak-ng" in silent[0]["params"]["Warning"]
    ended = [e for e in events(tmp_path / "out") if e["event"] == "MPCSpeakEnded"]
    # 8 words at 0.4 s a word: the Speak lasts 3.2 s, then ends by itself
    assert ended and ended[0]["at"] == pytest.approx(1.0 + 3.2, abs=0.02)


def test_a_misspelt_event_parameter_is_an_error_naming_it(tmp_path: Path) -> None:
    for bad, key in (({"coach_mod": True}, "coach_mod"), ({"colour": "red"}, "colour")):
        data = scenario(add(0, "c", "customer", "+100", **bad))
        with pytest.raises(ScenarioError, match=f"unknown parameter\\(s\\) '{key}' of "
                                                 "add_participant"):
            render_scenario(data, tmp_path / "never")
        assert not (tmp_path / "never").exists()
    source = tmp_path / "s.json"
    source.write_text(json.dumps(speak_scenario(txt="oops")))
    with pytest.raises(ScenarioError, match="'txt' of start_speak"):
        load_scenario(source)


