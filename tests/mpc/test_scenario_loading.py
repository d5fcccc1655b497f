"""Scenario files: their shape is checked before anything renders, with messages that teach."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from mpcmix.errors import ScenarioError
from mpcmix.scenario import frame_boundary_ms, load_scenario, scenario_from_dict

BASE = {
    "mpc": "demo",
    "lines": {"+1": {"audio": "a.wav"}},
    "events": [{"at": 0, "op": "add_participant", "as": "a", "role": "agent", "from": "+0", "to": "+1"}],
}


def _with(**changes):
    data = json.loads(json.dumps(BASE))
    data.update(changes)
    return data


def test_a_minimal_scenario_loads_with_the_spec_defaults():
    s = scenario_from_dict(BASE)
    assert (s.sample_rate, s.frame_ms, s.seed) == (16000, 20, 0)
    assert str(s.epoch) == "2020-01-01 00:00:00+00:00"
    assert s.events[0].as_name == "a"
    assert s.events[0].params == {"role": "agent", "from": "+0", "to": "+1"}
    assert s.lines["+1"].answer_after_s == 0


def test_yaml_and_json_files_load_alike(tmp_path: Path):
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "s.json").write_text(json.dumps(BASE))
    a, b = load_scenario(tmp_path / "s.yaml"), load_scenario(tmp_path / "s.json")
    assert a.events == b.events and a.lines == b.lines
    assert a.base_dir == tmp_path.resolve()


def test_numbers_given_as_yaml_integers_still_match():
    s = scenario_from_dict(_with(lines={14155550100: {"audio": "a.wav", "answer_after": "never"}}))
    assert s.lines["14155550100"].answer_after_s is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mpc": ""}, "`mpc`"),
        ({"sample_rate": 44100}, "`sample_rate` must be one of 8000, 16000, 24000, 48000"),
        ({"frame_ms": 25}, "`frame_ms` must be one of 10, 20, 40, 60"),
        ({"seed": "x"}, "`seed` must be an integer"),
        ({"events": {"at": 0}}, "`events` must be a list"),
        ({"events": [{"at": 0, "op": "dance"}]}, "unknown operation 'dance'"),
        ({"events": [{"op": "end"}]}, "has no `at` time"),
        ({"events": [{"at": -1, "op": "end"}]}, "must not be negative"),
        ({"events": [{"at": "soon", "op": "end"}]}, "must be a number of seconds"),
        ({"events": [{"at": 2, "op": "end"}, {"at": 1, "op": "end"}]}, "events must be in time order"),
        ({"events": [{"at": 0, "op": "update_participant", "mute": True}]}, "needs `member`"),
        ({"events": [{"at": 0, "op": "end", "as": "x"}]}, "`as` names a participant only"),
        ({"events": [{"at": 0, "op": "add_participant", "as": "../x"}]}, "usable as a file name"),
        ({"events": [{"at": 0, "op": "end", "expect_error": "yes"}]}, "`expect_error` must be"),
        ({"lines": {"+1": {"audio": "a.wav", "answer": 1}}}, "unknown key(s) ['answer']"),
        ({"lines": {"+1": {"answer_after": -2}}}, "must not be negative"),
        ({"auth_id": "short"}, "`auth_id` must be 20 characters"),
    ],
)
def test_malformed_scenarios_are_refused_with_a_message_naming_the_problem(changes, message):
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(_with(**changes), source="s.yaml")
    assert message in info.value.message
    assert info.value.message.startswith("s.yaml")


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("mpc: demo\nevents: [\n  {at: 0, op: end\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in info.value.message and "malformed YAML at line" in info.value.message


def test_malformed_json_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text('{"mpc": "demo",\n "events": [}')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "malformed JSON at line 2" in info.value.message


def test_a_missing_scenario_file_is_named(tmp_path: Path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_unknown_top_level_keys_warn_but_load():
    s = scenario_from_dict(_with(colour="blue"))
    assert any("colour" in w for w in s.warnings)


@pytest.mark.parametrize(
    ("at", "frame_ms", "expected"),
    [("0", 20, 0), ("0.1", 20, 100), ("0.101", 20, 120), ("1", 60, 1020), ("0.02", 20, 20),
     ("9.99", 40, 10000)],
)
def test_an_operation_takes_effect_at_the_first_frame_boundary_at_or_after_its_time(at, frame_ms, expected):
    assert frame_boundary_ms(Fraction(at), frame_ms) == expected
