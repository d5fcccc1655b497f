"""Who heard whom, measured from the audio: against the rules, against when voices talk, and
against a limiter's recovery; `mpcmix report` and `render --report` on the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mpcmix
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mpcmix.analysis.measure import outside
from mpcmix.analysis.report import render_with_report
from mpcmix.scenario import ScenarioDriver, load_scenario, render_scenario

from ._support import COACHING, FIXTURES, NUMBERS, add, three_party

SR = 16000


def _pairs(folder: Path) -> dict[tuple[str, str], dict]:
    data = json.loads((folder / "who-heard-whom.json").read_text())
    return {(d["listener"], d["source"]): d for d in data}


def test_the_coaching_demo_is_heard_exactly_as_spec_section_1_allows(coaching_report):
    pairs = _pairs(coaching_report)
    assert len(pairs) == 12  # 4 listeners x 3 voices, each listener's own voice included
    expected_heard = {
        # the supervisor coaches 4-9 s: the customer hears it only once coach_mode is off,
        # and not while held (12-15 s) or after hanging up (18 s)
        ("customer", "boss"): [[9.0, 12.0], [15.0, 18.0]],
        ("agent", "boss"): [[4.0, 20.0]],
        ("boss", "agent"): [[4.0, 6.0], [7.0, 20.0]],  # the agent is muted 6-7 s
        ("customer", "agent"): [[1.0, 6.0], [7.0, 12.0], [15.0, 18.0]],
        ("agent", "customer"): [[1.0, 12.0], [15.0, 18.0]],  # waiting 0-1 s, held 12-15 s
        ("recording", "boss"): [[4.0, 20.0]],  # the recording takes a coaching supervisor
        ("recording", "customer"): [[2.0, 12.0], [15.0, 18.0]],  # recording from 2 s
    }
    for key, heard in expected_heard.items():
        assert pairs[key]["heard_spans"] == heard, key
        assert pairs[key]["allowed_spans"] == heard, key  # the fixture voices never fall silent
        assert -30 < pairs[key]["level_dbfs"] < -10, key
    for name in ("customer", "agent", "boss"):
        assert pairs[(name, name)] == {"listener": name, "source": name, "allowed_spans": [],
                                       "heard_spans": [], "level_dbfs": None}


def test_a_coaching_supervisor_talking_throughout_reaches_the_agent_when_it_talks_and_never_the_customer(
        tmp_path):
    # the supervisor's line: talk 0-1 s, exact silence 1-2 s, talk 2-3.5 s, then the file ends
    voice, rate = sf.read(FIXTURES / "voices" / "supervisor.wav", dtype="int16")
    talk = np.concatenate([voice[:SR], np.zeros(SR, np.int16), voice[SR : int(2.5 * SR)]])
    sf.write(tmp_path / "boss.wav", talk, rate, subtype="PCM_16")
    scenario = three_party(
        [add(0, "customer"), add(0, "agent"), add(0, "boss", coach_mode=True),
         {"at": 0, "op": "start_recording", "file_format": "wav"}, {"at": 5, "op": "end"}],
        answer_after={"boss": 0.5})
    scenario["lines"][NUMBERS["boss"]]["audio"] = str(tmp_path / "boss.wav")
    r = mpcmix.render(scenario)
    pairs = {(p.listener, p.source): p.as_dict() for p in r.who_heard_whom()}
    talks = [[0.5, 1.5], [2.5, 4.0]]  # answered at 0.5 s
    assert pairs[("customer", "boss")]["heard_spans"] == []
    assert pairs[("customer", "boss")]["allowed_spans"] == []
    assert pairs[("customer", "boss")]["level_dbfs"] is None
    assert pairs[("agent", "boss")]["heard_spans"] == talks
    assert pairs[("agent", "boss")]["allowed_spans"] == [[0.5, 5.0]]
    assert pairs[("recording", "boss")]["heard_spans"] == talks
    assert r.pair("agent", "boss").heard_spans == ((0.5, 1.5), (2.5, 4.0))


def test_a_limiters_recovery_after_a_voice_stops_reaching_a_listener_is_not_hearing(tmp_path):
    # a loud customer overloads the agent's mix (with the supervisor's voice); muted at 1 s
    square = np.where(np.arange(2 * SR) // 20 % 2, 30000, -30000).astype(np.int16)
    sf.write(tmp_path / "loud.wav", square, SR, subtype="PCM_16")
    sf.write(tmp_path / "quiet.wav", np.zeros_like(square), SR, subtype="PCM_16")
    events = [add(0, "customer"), add(0, "agent"), add(0, "boss", coach_mode=False),
              {"at": 1, "op": "update_participant", "member": "customer", "mute": True},
              {"at": 2, "op": "end"}]
    loud, quiet = three_party(events), three_party(events)
    loud["lines"][NUMBERS["customer"]]["audio"] = str(tmp_path / "loud.wav")
    quiet["lines"][NUMBERS["customer"]]["audio"] = str(tmp_path / "quiet.wav")
    with_voice, without = mpcmix.render(loud), mpcmix.render(quiet)
    after = slice(SR, SR + SR // 2)
    # the written stream still differs after the mute: the agent's limiter is recovering
    assert not np.array_equal(with_voice.listeners["agent"][after], without.listeners["agent"][after])
    assert with_voice.pair("agent", "customer").heard_spans == ((0.0, 1.0),)
    assert with_voice.pair("agent", "customer").allowed_spans == ((0.0, 1.0),)
    assert with_voice.pair("agent", "customer").level_dbfs == pytest.approx(
        20 * np.log10(30000 / 32768), abs=0.05)


def test_render_with_report_costs_one_extra_render_per_participant_voice(tmp_path, monkeypatch):
    runs = []
    original = ScenarioDriver.run

    def counted(self):
        runs.append((self.scenario.mpc, self.engine.mixes))
        return original(self)

    monkeypatch.setattr(ScenarioDriver, "run", counted)
    render_scenario(COACHING, tmp_path / "plain")
    assert len(runs) == 1
    render_with_report(load_scenario(COACHING), tmp_path / "report")
    # the render itself, the states alone (no audio), then one per voice (customer, agent, boss)
    assert len(runs) == 1 + (1 + 1 + 3)
    assert [mixes for _, mixes in runs[1:]] == [True, False, True, True, True]


def test_mpcmix_report_on_a_render_folder_measures_the_same_as_render_report(coaching_report, tmp_path):
    out = render_scenario(COACHING, tmp_path / "later").out_dir
    assert not (out / "who-heard-whom.json").exists()
    result = subprocess.run([sys.executable, "-m", "mpcmix.cli", "report", str(out)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (out / "who-heard-whom.json").read_text() == (coaching_report / "who-heard-whom.json").read_text()
    assert (out / "report.html").is_file() and (out / "report" / "timeline.png").is_file()


def test_mpcmix_report_warns_when_the_audio_changed_since_the_render(tmp_path):
    shutil.copy(FIXTURES / "voices" / "customer.wav", tmp_path / "customer.wav")
    scenario = three_party([add(0, "customer"), add(0, "agent"), {"at": 2, "op": "end"}])
    scenario["lines"][NUMBERS["customer"]]["audio"] = str(tmp_path / "customer.wav")
    out = render_scenario(scenario, tmp_path / "out").out_dir
    data, rate = sf.read(tmp_path / "customer.wav", dtype="int16")
    sf.write(tmp_path / "customer.wav", data // 2, rate, subtype="PCM_16")
    result = subprocess.run([sys.executable, "-m", "mpcmix.cli", "report", str(out), "-q"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "warning" in result.stderr and "agent.wav" in result.stderr and "differ" in result.stderr


def test_mpcmix_report_refuses_a_folder_that_is_not_a_render(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mpcmix.cli", "report", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "not a render folder" in result.stderr


# -- the property ---------------------------------------------------------------------------------

TOGGLES = [("customer", "mute"), ("agent", "mute"), ("boss", "mute"), ("customer", "hold"),
           ("agent", "hold"), ("boss", "hold"), ("boss", "coach_mode")]


@st.composite
def small_calls(draw) -> dict:
    """A 3-6 s call of the three fixture voices: random answer times and initial coach_mode,
    maybe a recording, and a few random mute/hold/coach_mode changes once everyone answered."""
    duration = draw(st.integers(3, 6))
    answer = {n: draw(st.sampled_from([0, 0.5, 1])) for n in ("customer", "agent", "boss")}
    events = [add(0, "customer"), add(0, "agent"),
              add(0, "boss", coach_mode=draw(st.booleans()))]
    if draw(st.booleans()):
        events.append({"at": draw(st.sampled_from([0, 1.5])), "op": "start_recording",
                       "file_format": "wav"})
    times = sorted(draw(st.lists(st.integers(11, duration * 10 - 1), max_size=5)))
    for t in times:
        member, flag = draw(st.sampled_from(TOGGLES))
        events.append({"at": t / 10, "op": "update_participant", "member": member,
                       flag: draw(st.booleans())})
    events.sort(key=lambda e: e["at"])
    events.append({"at": duration, "op": "end"})
    return three_party(events, answer_after=answer)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_calls())
def test_every_heard_span_lies_inside_an_allowed_span(scenario):
    r = mpcmix.render(scenario)
    pairs = r.who_heard_whom()
    assert {(p.listener, p.source) for p in pairs} == {
        (listener, voice) for listener in ("customer", "agent", "boss", "recording")
        for voice in ("customer", "agent", "boss")}
    for p in pairs:
        assert outside(p.heard_spans, p.allowed_spans) == [], p
        # the fixture voices talk without a silent frame: heard wherever allowed
        assert p.heard_spans == p.allowed_spans, p
    coaching = [(s.start_ms / 1000, s.end_ms / 1000) for s in r.timeline.spans
                if s.state.calls[0].participant("boss").is_coaching]
    for a, b in r.pair("customer", "boss").heard_spans:
        assert all(max(a, c) >= min(b, d) for c, d in coaching), "a coaching supervisor reached the customer"
