"""The bundled coaching scenario through the real CLI, its files checked by signal.

Timeline of fixtures/scenarios/coaching.yaml: the customer answers at 0 s and waits (the MPC is
Initialized), the agent answers at 1 s and starts the MPC, recording from 2 s, the supervisor
joins coaching at 4 s, the agent is muted 6-7 s, coaching ends at 9 s, the customer is held
12-15 s, hangs up at 18 s, and the call is ended at 20 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ..audio_checks import fixture_path, is_absent, is_present, load_fixture, pilots_heard, placed

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "fixtures" / "scenarios" / "coaching.yaml"
SR = 16000


@pytest.fixture(scope="module")
def render(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("coaching") / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mpcmix.cli", "render", str(SCENARIO), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "listener" in result.stdout and str(out) in result.stdout
    return out


def _stream(render: Path, name: str) -> np.ndarray:
    data, rate = sf.read(render / "listeners" / f"{name}.wav", dtype="int16")
    assert rate == SR
    return data


def _heard(stream: np.ndarray, t0: float, t1: float) -> set[str]:
    return pilots_heard(stream, SR, (int(t0 * SR), int(t1 * SR)))


def test_the_folder_has_exactly_the_spec_layout(render: Path):
    names = {p.name for p in render.iterdir()}
    required = {"events.jsonl", "listeners", "mpc.json", "mpcs", "recordings", "responses.jsonl"}
    assert required <= names
    # Besides the documented layout (docs/scenarios.md) a render keeps only the scenario it ran
    # (for `mpcmix report`) and the marker that proves the folder is a render's.
    assert names - required <= {"scenario.json", ".mpcmix-render"}
    assert sorted(p.name for p in (render / "listeners").iterdir()) == [
        "agent.wav", "boss.wav", "customer.wav"
    ]
    mpc = json.loads((render / "mpc.json").read_text())
    assert (render / "mpcs" / f"{mpc['mpc']['mpc_uuid']}.json").exists()
    assert [p["role"] for p in mpc["participants"]] == ["customer", "agent", "supervisor"]


def test_every_listener_stream_spans_the_whole_timeline(render: Path):
    lengths = {name: len(_stream(render, name)) for name in ("customer", "agent", "boss")}
    assert set(lengths.values()) == {20 * SR}


def test_the_customer_never_hears_the_coaching_supervisor(render: Path):
    customer = _stream(render, "customer")
    assert "supervisor" not in _heard(customer, 4.0, 9.0)
    assert "agent" in _heard(customer, 4.0, 6.0)


def test_the_agent_hears_the_coaching_supervisor(render: Path):
    agent = _stream(render, "agent")
    assert _heard(agent, 4.2, 9.0) == {"customer", "supervisor"}


def test_after_coaching_ends_the_customer_hears_the_supervisor(render: Path):
    customer = _stream(render, "customer")
    assert _heard(customer, 9.2, 12.0) == {"agent", "supervisor"}


def test_a_waiting_customer_hears_wait_music_and_no_one(render: Path):
    customer = _stream(render, "customer")
    assert _heard(customer, 0.0, 1.0) == set()
    wait = placed(load_fixture("music/wait.wav"), 0, SR, loop=True)
    assert is_present(customer[:SR], wait, (0, SR - 1))


def test_a_muted_agent_is_heard_by_no_one_but_still_hears(render: Path):
    customer, boss, agent = (_stream(render, n) for n in ("customer", "boss", "agent"))
    assert "agent" not in _heard(customer, 6.1, 7.0)
    assert "agent" not in _heard(boss, 6.1, 7.0)
    assert "customer" in _heard(agent, 6.1, 7.0)
    assert "agent" in _heard(customer, 7.2, 9.0)


def test_a_held_customer_hears_customer_hold_music_and_is_heard_by_no_one(render: Path):
    customer, agent = _stream(render, "customer"), _stream(render, "agent")
    assert _heard(customer, 12.1, 15.0) == set()
    hold = placed(load_fixture("music/hold_customer.wav"), 12 * SR, 15 * SR, loop=True)
    assert is_present(customer[: 15 * SR], hold, (12 * SR, 15 * SR))
    agent_hold = placed(load_fixture("music/hold_agent.wav"), 12 * SR, 15 * SR, loop=True)
    assert is_absent(customer[: 15 * SR], agent_hold, (12 * SR, 15 * SR))
    assert "customer" not in _heard(agent, 12.1, 15.0)
    assert "customer" in _heard(agent, 15.2, 18.0)


def test_after_hanging_up_the_customer_stream_is_silent(render: Path):
    customer = _stream(render, "customer")
    assert not customer[18 * SR:].any()


def test_the_recording_starts_at_two_seconds_and_takes_the_coaching_supervisor(render: Path):
    (recording,) = (render / "recordings").iterdir()
    data, rate = sf.read(recording, dtype="int16")
    assert rate == SR and recording.suffix == ".wav"
    assert len(data) == 18 * SR  # from 2 s (start_recording) to 20 s (end)
    # Recording time t is call time t + 2 s.
    assert pilots_heard(data, SR, (int(2.2 * SR), 7 * SR)) == {"customer", "agent", "supervisor"}
    # The held customer is not recorded.
    assert "customer" not in pilots_heard(data, SR, (int(10.1 * SR), 13 * SR))


def test_the_mpc_ended_by_the_hangup_api(render: Path):
    mpc = json.loads((render / "mpc.json").read_text())["mpc"]
    assert mpc["status"] == "Ended"
    assert (mpc["termination_cause"], mpc["termination_cause_code"]) == ("Hangup API Triggered", 3000)
    assert mpc["end_time"] == "2020-01-01 00:00:20+00:00"
    participants = json.loads((render / "mpc.json").read_text())["participants"]
    assert [p["exit_cause"] for p in participants] == [
        "Participant Call Hangup", "Multiparty Call Ended", "Multiparty Call Ended"
    ]


def test_events_are_in_time_order_with_their_urls(render: Path):
    lines = [json.loads(line) for line in (render / "events.jsonl").read_text().splitlines()]
    assert lines, "no events"
    assert [e["at"] for e in lines] == sorted(e["at"] for e in lines)
    assert {"at", "time", "event", "url", "method", "params"} <= set(lines[0])
    assert lines[0]["time"] == "2020-01-01 00:00:00+00:00"
    names = [e["event"] for e in lines]
    assert "MPCRecordingInitiated" in names and "MPCRecordingCompleted" in names


def test_the_lookup_is_in_responses(render: Path):
    (line,) = (render / "responses.jsonl").read_text().splitlines()
    response = json.loads(line)
    assert response["op"] == "get" and response["status"] == 200
    assert response["response"]["status"] == "Active"


def test_rendering_twice_gives_the_same_bytes(render: Path, tmp_path: Path):
    from mpcmix.scenario import render_scenario

    again = render_scenario(SCENARIO, tmp_path / "again").out_dir
    for path in sorted(render.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (again / path.relative_to(render)).read_bytes(), path


def test_fixture_paths_exist():
    assert fixture_path("voices/customer.wav").exists()
