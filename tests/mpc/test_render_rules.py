"""The lifecycle rules (docs/lifecycle.md) as whole renders: short scenarios, checked through mpc.json, events.jsonl,
responses.jsonl and the audio itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from mpcmix.errors import ScenarioError
from mpcmix.scenario import render_scenario

from ..audio_checks import FIXTURES, is_present, load_fixture, pilots_heard, placed

SR = 16000
VOICES = FIXTURES / "voices"
LINES = {
    "+100": {"audio": str(VOICES / "customer.wav")},
    "+101": {"audio": str(VOICES / "agent.wav")},
    "+102": {"audio": str(VOICES / "supervisor.wav")},
    "+103": {"audio": str(VOICES / "customer.wav"), "answer_after": "never"},
}


def add(at: float, name: str, role: str, to: str, **params: Any) -> dict[str, Any]:
    return {"at": at, "op": "add_participant", "as": name, "role": role, "from": "+1",
            "to": to, **params}


def scenario(*events: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"mpc": "rules", "lines": LINES, "events": list(events), **top}


def run(tmp_path: Path, data: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "out"
    render_scenario(data, out)
    return out, json.loads((out / "mpc.json").read_text())


def events(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def stream(out: Path, name: str) -> np.ndarray:
    data, rate = sf.read(out / "listeners" / f"{name}.wav", dtype="int16")
    assert rate == SR
    return data


def heard(x: np.ndarray, t0: float, t1: float) -> set[str]:
    return pilots_heard(x, SR, (int(t0 * SR), int(t1 * SR)))


# -- termination causes -------------------------------------------------------------------------


def test_the_last_participant_leaving_ends_the_mpc_with_1000(tmp_path):
    out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", stay_alone=True),
        add(0, "a", "agent", "+101", stay_alone=True),
        {"at": 2, "op": "hangup", "member": "a"},
        {"at": 3, "op": "hangup", "member": "c"},
    ))
    assert (doc["mpc"]["termination_cause"], doc["mpc"]["termination_cause_code"]) == (
        "No Active Participants", 1000)
    assert doc["mpc"]["end_time"] == "2020-01-01 00:00:03+00:00"
    assert len(stream(out, "c")) == 3 * SR


def test_one_left_alone_without_stay_alone_ends_the_mpc_with_1010(tmp_path):
    _out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"),
        add(0, "a", "agent", "+101"),
        {"at": 2, "op": "kick_participant", "member": "a"},
    ))
    assert doc["mpc"]["termination_cause_code"] == 1010
    assert doc["mpc"]["termination_cause"] == "Stay Alone Not Permitted"
    causes = {p["exit_cause"] for p in doc["participants"]}
    assert causes == {"Kicked Out of Multiparty Call", "Multiparty Call Ended"}
    assert doc["mpc"]["end_time"] == "2020-01-01 00:00:02+00:00"


def test_max_duration_ends_the_mpc_with_2000(tmp_path):
    out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", max_duration=300),
        add(0, "a", "agent", "+101"),
        {"at": 301, "op": "list"},  # events after the end still run; the audio stops at the end
    ))
    assert doc["mpc"]["termination_cause_code"] == 2000
    assert doc["mpc"]["end_time"] == "2020-01-01 00:05:00+00:00"
    assert doc["mpc"]["duration"] == 300
    assert doc["mpc"]["billed_duration"] == 300
    assert len(stream(out, "a")) == 300 * SR
    (listing,) = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    assert listing["response"]["objects"][0]["termination_cause_code"] == 2000


def test_the_end_call_ends_the_mpc_with_3000_and_everyone_exits(tmp_path):
    _out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"), {"at": 1.5, "op": "end"}
    ))
    assert doc["mpc"]["termination_cause_code"] == 3000
    assert all(p["exit_cause"] == "Multiparty Call Ended" for p in doc["participants"])
    assert all(p["exit_time"] == doc["mpc"]["end_time"] for p in doc["participants"])


def test_end_mpc_on_exit_ends_the_mpc_when_that_participant_leaves(tmp_path):
    _out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"),
        add(0, "a", "agent", "+101", end_mpc_on_exit=True),
        add(0, "s", "supervisor", "+102"),
        {"at": 2, "op": "hangup", "member": "a"},
    ))
    assert doc["mpc"]["status"] == "Ended"
    assert doc["mpc"]["termination_cause"] is not None
    assert doc["mpc"]["termination_cause_code"] is not None
    assert doc["mpc"]["end_time"] == "2020-01-01 00:00:02+00:00"


def test_a_line_that_never_answers_exits_at_ring_timeout_with_no_join_time(tmp_path):
    out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", stay_alone=True),
        add(0, "n", "agent", "+103", ring_timeout=15),
        {"at": 18, "op": "end"},
    ))
    ghost = doc["participants"][1]
    assert ghost["exit_cause"] == "Participant Call Hangup"
    assert ghost["join_time"] is None
    assert ghost["billed_amount"] is None and ghost["billed_duration"] is None
    assert ghost["exit_time"] == "2020-01-01 00:00:15+00:00"
    assert not stream(out, "n").any()  # it never heard anything


# -- status and music ---------------------------------------------------------------------------


def test_start_mpc_on_enter_false_waits_with_music_until_the_start_call(tmp_path):
    wait = str(FIXTURES / "music" / "wait.wav")
    out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", start_mpc_on_enter=False, wait_music_url=wait),
        add(0, "a", "agent", "+101", start_mpc_on_enter=False),
        {"at": 3, "op": "get"},
        {"at": 3, "op": "start"},
        {"at": 6, "op": "end"},
    ))
    (lookup,) = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    assert lookup["response"]["status"] == "Initialized"
    assert doc["mpc"]["start_time"] == "2020-01-01 00:00:03+00:00"
    c = stream(out, "c")
    assert heard(c, 0, 3) == set()
    music = placed(load_fixture("music/wait.wav"), 0, 3 * SR, loop=True)
    assert is_present(c[: 3 * SR], music, (0, 3 * SR))
    assert "agent" in heard(c, 3.1, 6)
    names = [e["event"] for e in events(out)]
    assert names.index("MPCStart") > names.index("MPCInitialized")


def test_an_agent_on_hold_hears_agent_hold_music(tmp_path):
    agent_hold = str(FIXTURES / "music" / "hold_agent.wav")
    customer_hold = str(FIXTURES / "music" / "hold_customer.wav")
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", agent_hold_music_url=agent_hold,
            customer_hold_music_url=customer_hold),
        add(0, "a", "agent", "+101"),
        {"at": 1, "op": "update_participant", "member": "a", "hold": True},
        {"at": 4, "op": "end"},
    ))
    a = stream(out, "a")
    music = placed(load_fixture("music/hold_agent.wav"), SR, 4 * SR, loop=True)
    assert is_present(a[: 4 * SR], music, (SR, 4 * SR))
    assert heard(a, 1.1, 4) == set()


def test_enter_and_exit_beeps_reach_those_in_conference_and_the_recording(tmp_path):
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", enter_sound="none", exit_sound="none"),
        add(0, "a", "agent", "+101", enter_sound="none"),
        add(2, "s", "supervisor", "+102", enter_sound="beep:2", coach_mode=False),
        {"at": 4, "op": "end"},
    ))
    from mpcmix.mixer import beep

    two = beep(2, SR)
    c = stream(out, "c")
    ref = placed(two, 2 * SR, 4 * SR)
    assert is_present(c[: 4 * SR], ref, (2 * SR, 2 * SR + len(two)))


def test_play_audio_reaches_its_target_only_and_not_the_recording(tmp_path):
    announcement = str(FIXTURES / "sounds" / "announcement.wav")
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"),
        add(0, "a", "agent", "+101"),
        {"at": 0.5, "op": "start_recording", "file_format": "wav"},
        {"at": 1, "op": "start_play_audio", "member": "c", "url": announcement},
        {"at": 4, "op": "end"},
    ))
    c, a = stream(out, "c"), stream(out, "a")
    assert pilots_heard(c, SR, (int(1.1 * SR), 3 * SR), voices=("announcement",)) == {"announcement"}
    assert pilots_heard(a, SR, (int(1.1 * SR), 3 * SR), voices=("announcement",)) == set()
    (rec,) = (out / "recordings").iterdir()
    data, _ = sf.read(rec, dtype="int16")
    assert pilots_heard(data, SR, (int(0.6 * SR), int(2.5 * SR)), voices=("announcement",)) == set()


def test_paused_spans_are_left_out_of_the_recording(tmp_path):
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"),
        add(0, "a", "agent", "+101"),
        {"at": 1, "op": "start_recording", "file_format": "wav"},
        {"at": 3, "op": "pause_recording"},
        {"at": 5, "op": "resume_recording"},
        {"at": 7, "op": "stop_recording"},
        {"at": 8, "op": "end"},
    ))
    (rec,) = (out / "recordings").iterdir()
    data, _ = sf.read(rec, dtype="int16")
    assert len(data) == 4 * SR  # 1-3 s and 5-7 s
    # The recording's second half is call time 5-7 s: the customer's voice from 5 s onwards.
    voice = load_fixture("voices/customer.wav")
    assert is_present(data[2 * SR:], voice[5 * SR: 7 * SR], (0, 2 * SR))
    names = [e["event"] for e in events(out)]
    assert names.count("MPCRecordingPaused") == 1 and names.count("MPCRecordingResumed") == 1
    seq = [int(e["params"]["SequenceNumber"]) for e in events(out) if "SequenceNumber" in e["params"]]
    assert seq == sorted(seq) and len(set(seq)) == len(seq)


def test_the_default_recording_format_is_mp3_and_lines_up_with_the_call(tmp_path):
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"),
        {"at": 1, "op": "start_recording"},
        {"at": 4, "op": "end"},
    ))
    (rec,) = (out / "recordings").iterdir()
    assert rec.suffix == ".mp3"
    data, rate = sf.read(rec, dtype="int16")
    assert rate == SR and abs(len(data) - 3 * SR) <= SR * 20 // 1000


def test_record_min_member_count_two_delays_the_file_until_two_are_in(tmp_path):
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", record_min_member_count=2, stay_alone=True),
        {"at": 0, "op": "start_recording", "file_format": "wav"},
        add(2, "a", "agent", "+101"),
        {"at": 5, "op": "end"},
    ))
    (rec,) = (out / "recordings").iterdir()
    data, _ = sf.read(rec, dtype="int16")
    assert len(data) == 3 * SR


def test_participant_recording_all_has_its_voice_and_what_it_hears(tmp_path):
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"),
        {"at": 1, "op": "start_participant_recording", "member": "c", "file_format": "wav"},
        {"at": 4, "op": "end"},
    ))
    (rec,) = (out / "recordings").iterdir()
    data, _ = sf.read(rec, dtype="int16")
    assert data.shape == (3 * SR, 2)
    assert pilots_heard(data[:, 0], SR) == {"customer"}
    assert pilots_heard(data[:, 1], SR) == {"agent"}


def test_participant_recording_both_writes_two_files(tmp_path):
    out, _ = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"),
        {"at": 1, "op": "start_participant_recording", "member": "a", "file_format": "wav",
         "record_track_type": "both"},
        {"at": 3, "op": "end"},
    ))
    files = sorted((out / "recordings").iterdir())
    shapes = sorted(sf.info(f).channels for f in files)
    assert shapes == [1, 2]


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_event", "message"),
    [
        ({"at": 1, "op": "update_participant", "member": "c", "coach_mode": True}, "coach_mode"),
        ({"at": 1, "op": "update_participant", "member": "all", "coach_mode": False}, "coach_mode"),
        ({"at": 1, "op": "update_participant", "member": "nobody", "mute": True}, "nobody"),
        ({"at": 1, "op": "kick_participant", "member": "ghost"}, "ghost"),
        ({"at": 1, "op": "get", "friendly_name": "other"}, "other"),
        (add(1, "c2", "robot", "+100"), "role"),
        (add(1, "x", "customer", "+100", max_participants=11), "max_participants"),
    ],
)
def test_a_broken_rule_stops_the_render_naming_the_event_and_leaves_no_folder(tmp_path, bad_event, message):
    data = scenario(add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"), bad_event)
    with pytest.raises(ScenarioError) as info:
        render_scenario(data, tmp_path / "out")
    assert f"{bad_event['op']} at 1 s (event 3)" in info.value.message
    assert message in info.value.message
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind either


def test_expect_error_records_the_api_error_and_goes_on(tmp_path):
    out, _doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"),
        {"at": 1, "op": "update_participant", "member": "c", "coach_mode": True, "expect_error": 400},
        {"at": 2, "op": "end"},
        {"at": 3, "op": "get", "expect_error": 404},
    ))
    lines = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    assert [(r["op"], r["status"]) for r in lines] == [("update_participant", 400), ("get", 404)]
    assert all(set(r["response"]) == {"api_id", "error"} for r in lines)


def test_an_expected_error_that_does_not_happen_is_an_error(tmp_path):
    data = scenario(add(0, "c", "customer", "+100"),
                    {"at": 1, "op": "get", "expect_error": 404})
    with pytest.raises(ScenarioError, match="expected error 404"):
        render_scenario(data, tmp_path / "out")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"this is not audio at all", ""), (None, "no such file")],
)
def test_a_broken_voice_file_is_named_and_nothing_is_written(tmp_path, content, message):
    bad = tmp_path / "bad.wav"
    if content is not None:
        bad.write_bytes(content)
    data = scenario(add(0, "c", "customer", "+200"), add(0, "a", "agent", "+101"))
    data["lines"] = {**LINES, "+200": {"audio": str(bad)}}
    with pytest.raises(ScenarioError) as info:
        render_scenario(data, tmp_path / "out")
    assert "bad.wav" in info.value.message
    assert message.lower() in info.value.message.lower()
    assert not (tmp_path / "out").exists()


def test_a_nan_holding_voice_file_is_refused(tmp_path):
    bad = tmp_path / "nan.wav"
    x = np.zeros(1600, dtype=np.float32)
    x[100] = np.nan
    sf.write(bad, x, SR, subtype="FLOAT")
    data = scenario(add(0, "c", "customer", "+200"), add(0, "a", "agent", "+101"))
    data["lines"] = {**LINES, "+200": {"audio": str(bad)}}
    with pytest.raises(ScenarioError, match=r"nan\.wav"):
        render_scenario(data, tmp_path / "out")


def test_the_cli_exits_2_with_the_message_and_no_folder(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(scenario(
        add(0, "c", "customer", "+100"),
        {"at": 9, "op": "update_participant", "member": "c", "coach_mode": True},
    )))
    result = subprocess.run(
        [sys.executable, "-m", "mpcmix.cli", "render", str(path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 2
    assert "update_participant at 9 s (event 2)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


# -- outputs ------------------------------------------------------------------------------------


def test_float_subtype_writes_float32_streams_equal_to_the_pcm16_ones(tmp_path):
    data = scenario(add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"),
                    {"at": 2, "op": "end"})
    render_scenario(data, tmp_path / "pcm")
    render_scenario(data, tmp_path / "float", subtype="FLOAT")
    assert sf.info(tmp_path / "float" / "listeners" / "c.wav").subtype == "FLOAT"
    pcm, _ = sf.read(tmp_path / "pcm" / "listeners" / "c.wav", dtype="int16")
    flt, _ = sf.read(tmp_path / "float" / "listeners" / "c.wav", dtype="float32")
    assert np.array_equal(np.round(flt * 32768).astype(np.int16), pcm)


def test_a_scenario_with_no_end_lasts_until_every_voice_has_finished(tmp_path):
    out, doc = run(tmp_path, scenario(
        add(0, "c", "customer", "+100", stay_alone=True),
        add(1, "a", "agent", "+101", stay_alone=True),
    ))
    agent_len = sf.info(VOICES / "agent.wav").frames
    assert doc["mpc"]["status"] == "Active" and doc["mpc"]["end_time"] is None
    assert len(stream(out, "c")) == -(-(SR + agent_len) // (SR // 50)) * (SR // 50)


def test_re_rendering_into_the_same_folder_replaces_it(tmp_path):
    data = scenario(add(0, "c", "customer", "+100"), add(0, "a", "agent", "+101"),
                    {"at": 1, "op": "end"})
    render_scenario(data, tmp_path / "out")
    data["events"][-1]["at"] = 2
    render_scenario(data, tmp_path / "out")
    assert len(stream(tmp_path / "out", "c")) == 2 * SR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_of_other_files_is_not_overwritten(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    data = scenario(add(0, "c", "customer", "+100"), {"at": 1, "op": "end"})
    with pytest.raises(ScenarioError, match="--force"):
        render_scenario(data, tmp_path / "out")
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"
