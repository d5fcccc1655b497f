"""The Python API: mpcmix.render and mpcmix.Scenario, the Render it returns, and scenario.json."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mpcmix
import numpy as np
import pytest
import soundfile as sf
from mpcmix.scenario import render_scenario

from ._support import COACHING, FIXTURES, FROM, NUMBERS, add, three_party


@pytest.fixture(scope="module")
def coaching() -> mpcmix.Render:
    return mpcmix.render(COACHING)


def test_render_returns_every_stream_as_float32_arrays_on_one_timeline(coaching):
    assert sorted(coaching.listeners) == ["agent", "boss", "customer"]
    assert coaching.sample_rate == 16000 and coaching.duration_s == 20
    for stream in coaching.listeners.values():
        assert stream.dtype == np.float32 and stream.shape == (20 * 16000,)
        assert np.abs(stream).max() <= 1
    (recording,) = coaching.recordings.values()
    assert recording.shape == (18 * 16000,)  # recorded from 2 s to the end at 20 s
    assert coaching.mpc["status"] == "Ended" and coaching.mpc["termination_cause_code"] == 3000
    assert [p["role"] for p in coaching.participants] == ["customer", "agent", "supervisor"]
    assert coaching.events[0]["event"] == "MPCInitialized"
    assert [r["op"] for r in coaching.responses] == ["get"]
    assert coaching.out is None


def test_render_with_out_none_leaves_no_folder_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    r = mpcmix.render(three_party([add(0, "customer"), add(0, "agent"), {"at": 1, "op": "end"}]))
    assert r.listeners["customer"].shape == (16000,)
    assert list(tmp_path.iterdir()) == []


def test_matrix_at_gives_the_labelled_routing_matrix(coaching):
    coaching_boss = coaching.matrix_at(5)
    assert coaching_boss.listeners == ("customer", "agent", "boss", "recording")
    assert coaching_boss.heard_by("customer") == ("voice:agent",)
    assert coaching_boss.gain("agent", "voice:boss") == 1
    assert coaching.matrix_at(10).gain("customer", "voice:boss") == 1  # coach_mode false at 9 s
    assert coaching.matrix_at(0.5).heard_by("customer") == ("wait_music:customer",)
    heard, reason = coaching.explain_at(5)[("customer", "voice:boss")]
    assert not heard and "coaching" in reason


def test_save_writes_the_same_files_as_rendering_into_a_folder(coaching, tmp_path):
    saved = coaching.save(tmp_path / "saved")
    direct = render_scenario(COACHING, tmp_path / "direct").out_dir
    files = sorted(p.relative_to(direct) for p in direct.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(saved) for p in saved.rglob("*") if p.is_file())
    for rel in files:
        if rel.name != "scenario.json":  # names its source file, which differs
            assert (saved / rel).read_bytes() == (direct / rel).read_bytes(), rel
    data, _ = sf.read(saved / "listeners" / "customer.wav", dtype="float32")
    np.testing.assert_array_equal(data, coaching.listeners["customer"])


def test_to_audiosegment_gives_the_stream_bit_for_bit(coaching):
    segment = coaching.to_audiosegment("agent")
    assert (segment.frame_rate, segment.channels, segment.sample_width) == (16000, 1, 2)
    samples = np.array(segment.get_array_of_samples(), dtype=np.int16)
    np.testing.assert_array_equal(samples / 32768, coaching.listeners["agent"])
    (recording_id,) = coaching.recordings
    assert coaching.to_audiosegment(recording_id).duration_seconds == 18
    with pytest.raises(KeyError, match="listeners: agent, boss, customer"):
        coaching.to_audiosegment("nobody")


def test_a_scenario_built_in_python_renders_like_its_dict(monkeypatch):
    built = (
        mpcmix.Scenario("built", base_dir=FIXTURES)
        .line(NUMBERS["customer"], audio="voices/customer.wav")
        .line(NUMBERS["boss"], audio="voices/supervisor.wav", answer_after=0.5)
        .add_participant(0, as_="customer", role="customer", from_=FROM, to=NUMBERS["customer"])
        .add_participant(0, as_="boss", role="supervisor", coach_mode=False, from_=FROM,
                         to=NUMBERS["boss"])
        .update_participant(1.5, member="boss", mute=True)
        .end(2)
    )
    as_dict = built.to_dict()
    assert as_dict["events"][0] == {"at": 0, "op": "add_participant", "as": "customer",
                                    "role": "customer", "from": FROM, "to": NUMBERS["customer"]}
    assert as_dict["lines"][NUMBERS["boss"]] == {"audio": "voices/supervisor.wav", "answer_after": 0.5}
    r = mpcmix.render(built)
    assert r.matrix_at(1).gain("customer", "voice:boss") == 1
    assert r.matrix_at(1.6).gain("customer", "voice:boss") == 0
    monkeypatch.chdir(FIXTURES)  # a dict's relative paths are relative to the working folder
    via_dict = mpcmix.render(as_dict)
    for name in ("customer", "boss"):
        np.testing.assert_array_equal(via_dict.listeners[name], r.listeners[name])


def test_audio_may_be_given_in_memory_as_numpy_or_pydub():
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)
    from mpcmix.mixer import to_audiosegment

    built = (
        mpcmix.Scenario("memory")
        .line("+1001", audio=tone)
        .line("+1002", audio=to_audiosegment(tone // 2, 16000))
        .add_participant(0, as_="a", role="customer", from_=FROM, to="+1001")
        .add_participant(0, as_="b", role="agent", from_=FROM, to="+1002")
        .end(1)
    )
    r = mpcmix.render(built)
    heard_by_b = np.round(r.listeners["b"] * 32768).astype(np.int16)
    heard_by_a = np.round(r.listeners["a"] * 32768).astype(np.int16)
    # both answer at 0 and the MPC starts at once; a's voice reaches b from the first frame
    # (the enter beep is mixed over the first 200 ms, so compare after it)
    np.testing.assert_array_equal(heard_by_b[4000:], tone[4000:])
    np.testing.assert_array_equal(heard_by_a[4000:], (tone // 2)[4000:])


def test_a_broken_builder_scenario_is_refused_with_the_loader_message():
    with pytest.raises(mpcmix.ScenarioError, match="unknown operation 'shout'"):
        mpcmix.render(mpcmix.Scenario("x").op("shout", 0))
    with pytest.raises(mpcmix.ScenarioError, match="audio must be a path"):
        mpcmix.Scenario("x").line("+1", audio=3.5)


def test_a_render_folder_keeps_its_scenario_resolved_and_re_renderable(tmp_path):
    out = render_scenario(COACHING, tmp_path / "first").out_dir
    stored = json.loads((out / "scenario.json").read_text())
    assert stored["lines"]["+14155550100"]["audio"] == str(FIXTURES / "scenarios" / "../voices/customer.wav")
    first_add = stored["events"][0]
    assert first_add["wait_music_url"] == str(FIXTURES / "scenarios" / "../music/wait.wav")
    again = render_scenario(out / "scenario.json", tmp_path / "again").out_dir
    for rel in ("listeners/customer.wav", "listeners/boss.wav", "events.jsonl", "mpc.json"):
        assert (again / rel).read_bytes() == (out / rel).read_bytes(), rel


def test_mpcmix_render_is_the_function_in_either_import_order():
    script = """
import mpcmix{first}
from mpcmix.scenario import RenderSummary, render_scenario
r = mpcmix.render({scenario!r})
assert type(r).__name__ == "Render", r
from mpcmix import render
assert render({scenario!r}).listeners.keys() == r.listeners.keys()
assert mpcmix.render_scenario is render_scenario and callable(mpcmix.render)
print("ok")
"""
    for first in ("", "\nimport mpcmix.scenario", "\nfrom mpcmix.scenario import render_scenario",
                  "\nmpcmix.render"):
        code = script.format(first=first, scenario=str(COACHING))
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0 and result.stdout.strip() == "ok", (first, result.stderr)


def test_importing_mpcmix_routing_still_pulls_in_no_numpy():
    code = "import sys, mpcmix.routing, mpcmix; assert 'numpy' not in sys.modules; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_render_accepts_a_loaded_scenario_and_a_path_object(tmp_path):
    loaded = mpcmix.load_scenario(COACHING)
    assert mpcmix.render(loaded, tmp_path / "a").out == (tmp_path / "a").absolute()
    assert Path(mpcmix.render(Path(COACHING), tmp_path / "b").out).name == "b"
