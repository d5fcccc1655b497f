"""The inputs fuzzing found that broke `mpcmix render` (a traceback, a hang, or garbage), each
pinned as it is handled now: refused with exit status 2 and a message, or rendered whole."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer import load_audio

from ..audio_checks import FIXTURES
from ..strategies import alias_bomb, nested_document
from ._fuzz import SUBPROCESS_SECONDS, check_outcome, run_in_process, time_limit

VOICE = str(FIXTURES / "voices" / "customer.wav")


def _add(**extra):
    return {"at": 0, "op": "add_participant", "as": "c", "role": "customer", "from": "+0",
            "to": "+1", **extra}


def _render(tmp_path, text, suffix=".yaml"):
    path = tmp_path / f"scenario{suffix}"
    path.write_text(text, encoding="utf-8")
    code, _stdout, stderr = run_in_process("render", str(path), "--out", str(tmp_path / "out"),
                                           "-q")
    check_outcome(code, stderr, tmp_path / "out")
    return code, stderr


def _render_doc(tmp_path, doc):
    return _render(tmp_path, json.dumps(doc), ".json")


def _doc(*events, **top):
    return {"mpc": "m", "sample_rate": 8000, "lines": {"+1": {"audio": VOICE}},
            "events": list(events), **top}


@pytest.mark.parametrize(("event", "message"), [
    (_add(label="x"), "`label` is not an API parameter (name a participant with `as`)"),
    (_add(now_ms=5), "`now_ms` is not an API parameter"),
    (_add(self=1), "`self` is not an API parameter"),
    ({"at": 0, "op": ["end"]}, "unknown operation ['end']"),
])
def test_an_event_parameter_named_like_the_models_own_arguments_is_refused(tmp_path, event,
                                                                          message):
    # Was: TypeError "got multiple values for keyword argument" (or "unhashable type").
    code, stderr = _render_doc(tmp_path, _doc(event))
    assert code == 2 and message in stderr, stderr


def test_an_event_key_that_is_not_text_is_refused(tmp_path):
    # Was: TypeError "keywords must be strings" (YAML reads `0:` as a number).
    code, stderr = _render(tmp_path, "mpc: m\nevents:\n  - {at: 0, op: list, 0: x}\n")
    assert code == 2 and "the key 0 is not a parameter name" in stderr, stderr


@pytest.mark.parametrize(("name", "code"), [("é" * 125, 0), ("é" * 126, 2), ("中" * 84, 2)])
def test_an_as_name_must_fit_a_file_name_in_utf8_bytes(tmp_path, name, code):
    # Was: LibsndfileError "File name too long" writing listeners/<as>.wav (128 'ü' = 256 bytes).
    got, stderr = _render_doc(tmp_path, _doc(_add(**{"as": name}), {"at": 0.2, "op": "end"}))
    assert got == code, stderr
    if code == 2:
        assert "251 bytes in UTF-8" in stderr


@pytest.mark.parametrize("form", ["yaml", "json"])
@pytest.mark.parametrize("depth", [100, 1000, 50_000])
def test_a_deeply_nested_document_is_refused(tmp_path, form, depth):
    # Was: RecursionError out of the YAML and JSON parsers.
    code, stderr = _render(tmp_path, nested_document(depth, form), f".{form}")
    assert code == 2 and "nested" in stderr, stderr


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    # Was: a hang (nine lines of YAML aliases stand for 387 million values, copied into
    # scenario.json).
    started = time.monotonic()
    with time_limit(5):
        code, stderr = _render(tmp_path, alias_bomb())
    assert code == 2 and "once its YAML aliases are expanded" in stderr, stderr
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("text", [
    "mpc: m\nepoch: 2020-02-30\nevents: []\n",          # a YAML date that is no date
    "mpc: m\nseed: " + "1" * 5000 + "\nevents: []\n",   # beyond Python's 4300-digit int limit
])
def test_a_yaml_value_the_parser_cannot_build_is_refused(tmp_path, text):
    # Was: ValueError out of PyYAML's constructors.
    code, stderr = _render(tmp_path, text)
    assert code == 2 and "a value cannot be read" in stderr, stderr


def test_a_json_number_of_5000_digits_is_refused(tmp_path):
    code, stderr = _render(tmp_path, '{"mpc": "m", "seed": ' + "1" * 5000 + "}", ".json")
    assert code == 2 and "a value cannot be read" in stderr, stderr


def test_a_key_that_is_a_yaml_date_is_refused(tmp_path):
    # Was: TypeError "keywords must be strings", or writing scenario.json (date keys in a value).
    code, stderr = _render(tmp_path, "mpc: m\nevents:\n  - {at: 0, op: list, x: {2020-01-01: x}}\n")
    assert code == 2 and "the key datetime.date(2020, 1, 1) is not text or a number" in stderr


def test_a_lone_surrogate_is_refused(tmp_path):
    # Was: UnicodeEncodeError writing mpc.json (JSON's "\ud800" reads as a lone surrogate).
    code, stderr = _render(tmp_path, json.dumps(_doc(_add(), mpc="\ud800")), ".json")
    assert code == 2 and "lone surrogate" in stderr, stderr


def test_a_character_yaml_forbids_is_named_on_one_line(tmp_path):
    code, stderr = _render(tmp_path, "\x1fmpc: m\n")
    assert code == 2
    assert stderr.strip().endswith("malformed YAML at character 0: unacceptable character "
                                   "#x001f: special characters are not allowed"), stderr


@pytest.mark.parametrize(("top", "message"), [
    ({"epoch": "9999-12-31 23:59:59+00:00"}, "`epoch` must be before 9000-01-01"),
    ({"rate_per_minute": 1e308}, "`rate_per_minute` must be a number from 0 to 1000000"),
])
def test_out_of_range_settings_are_refused(tmp_path, top, message):
    # Was: OverflowError (timestamps past year 9999), decimal.InvalidOperation (billing).
    code, stderr = _render_doc(tmp_path, _doc(_add(), {"at": 1, "op": "end"}) | top)
    assert code == 2 and message in stderr, stderr


def test_unknown_line_keys_of_mixed_types_are_named(tmp_path):
    # Was: TypeError sorting the keys 1 and "x" for the message.
    code, stderr = _render(tmp_path, f"mpc: m\nlines: {{'+1': {{audio: {VOICE}, 1: 1, x: 2}}}}\n"
                                     "events: []\n")
    assert code == 2 and "unknown key(s) ['x', 1]" in stderr, stderr


def test_line_breaking_characters_in_names_keep_one_event_a_line(tmp_path):
    # Was: an MPC named with U+0085 (or U+2028) split events.jsonl records for str.splitlines().
    code, stderr = _render_doc(tmp_path, _doc(_add(), {"at": 0.5, "op": "end"},
                                              mpc="a\x85b\u2028c\u2029d"))
    assert code == 0, stderr
    for name in ("events.jsonl", "responses.jsonl"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert len(text.splitlines()) == text.count("\n")
        assert all(json.loads(line) for line in text.splitlines())


@pytest.mark.parametrize("rate", [767_999, 705_601, 96_001])
def test_a_file_at_an_odd_rate_is_resampled_quickly(tmp_path, rate):
    # Was: 5 to 7 s and half a gigabyte for a 15-million-tap filter (8000/767999).
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(rate // 2, dtype=np.int16), rate)
    with time_limit(2.0):
        pcm = load_audio(path, 8000)
    assert abs(len(pcm) - 4000) <= 1


def test_float_samples_far_past_full_scale_are_clipped_not_turned_to_nan(tmp_path):
    # Was: 1e38 * 32768 overflowed float32 to inf, and the resampler spread NaN over the whole
    # file (written as full-scale noise, with RuntimeWarnings).
    x = np.zeros(1000, dtype=np.float32)
    x[500] = 1e38
    path = tmp_path / "overs.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pcm = load_audio(path, 8000)
    assert np.count_nonzero(pcm) < 50


def _scenario_file(tmp_path, *, end=0.5):
    path = tmp_path / "short.json"
    path.write_text(json.dumps(_doc(_add(), {"at": end, "op": "end"})))
    return path


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG


def test_a_disk_that_refuses_writes_stops_the_render_with_exit_2(tmp_path):
    # Was: a LibsndfileError traceback, "System error.": libsndfile hides the errno (EFBIG).
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mpcmix.cli", "render", str(_scenario_file(tmp_path, end=20)),
         "--out", str(out), "-q"],
        capture_output=True, text=True, timeout=SUBPROCESS_SECONDS, check=False,
        preexec_fn=_limit_file_size)
    assert result.returncode == 2, result.stderr
    assert "cannot write the render (File too large)" in result.stderr
    check_outcome(result.returncode, result.stderr, out)


def test_an_out_folder_that_cannot_be_created_is_refused_with_exit_2(tmp_path):
    # Was: a FileExistsError or OSError ("File name too long") traceback.
    scenario = _scenario_file(tmp_path)
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file" / "out", tmp_path / ("x" * 240)):
        code, _stdout, stderr = run_in_process("render", str(scenario), "--out", str(out), "-q")
        assert code == 2 and "cannot create the folder" in stderr, stderr


def test_a_scenario_that_never_creates_its_own_mpc_ends_with_the_mpcs_it_does_create(tmp_path):
    # Was: a hang: with its own MPC never created, the audio ran on to the last event, here
    # 10**7 s (115 days of silence for the other MPC's participant, ~160 GB at 8 kHz).
    other = _add(friendly_name="other", max_duration=300)
    with time_limit(10):
        code, stderr = _render_doc(tmp_path, _doc(other, {"at": 9_999_999, "op": "list"}))
    assert code == 0, stderr
    assert sf.info(tmp_path / "out" / "listeners" / "c.wav").duration == 300
    assert json.loads((tmp_path / "out" / "mpc.json").read_text())["mpc"] is None


def test_a_scenario_without_an_add_has_no_audio(tmp_path):
    # Was: a hang rendering nothing, block by block, up to the last event's 10**7 s.
    with time_limit(10):
        code, stderr = _render_doc(tmp_path, _doc({"at": 9_999_999, "op": "list"}))
    assert code == 0, stderr
    assert list((tmp_path / "out" / "listeners").iterdir()) == []
    assert len((tmp_path / "out" / "responses.jsonl").read_text().splitlines()) == 1
