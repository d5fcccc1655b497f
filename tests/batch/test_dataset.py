"""`--dataset`: each voice as heard in the call, each listener's mix, and RTTM from the measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from mpcmix.batch import expand
from mpcmix.batch.task import RENDERS, run_job

from ._support import VOICES, write_leak


def test_a_dataset_render_holds_each_voice_as_heard_each_mix_and_who_spoke_when(tmp_path: Path):
    (tmp_path / "in").mkdir()
    leak = write_leak(tmp_path / "in")
    (tmp_path / "out" / RENDERS).mkdir(parents=True)
    [job] = expand([leak], options={"subtype": "PCM_16", "report": False, "dataset": True})
    row = run_job(job, str(tmp_path / "out"))
    assert row["status"] == "expectation_failed"
    data = tmp_path / "out" / RENDERS / "leak" / "dataset"
    rate = 16000
    # the customer's voice as heard: the file's first 2 s (the call's length), sample for sample
    customer, r = sf.read(data / "speakers" / "customer.wav", dtype="int16")
    voice, _ = sf.read(VOICES / "customer.wav", dtype="int16")
    assert r == rate and len(customer) == 2 * rate
    assert np.array_equal(customer, voice[: 2 * rate])
    # the supervisor joins at 1 s: silence before, its voice after
    boss, _ = sf.read(data / "speakers" / "boss.wav", dtype="int16")
    supervisor, _ = sf.read(VOICES / "supervisor.wav", dtype="int16")
    assert not boss[:rate].any()
    assert np.array_equal(boss[rate:], supervisor[: rate])
    # each listener's mix is the render's own stream
    for name in ("customer", "agent", "boss"):
        assert (data / "mix" / f"{name}.wav").read_bytes() == \
            (tmp_path / "out" / RENDERS / "leak" / "listeners" / f"{name}.wav").read_bytes()
    rttm = (data / "leak.rttm").read_text().splitlines()
    assert "SPEAKER leak 1 1.000 1.000 <NA> <NA> boss <NA> <NA>" in rttm
    assert "SPEAKER leak 1 0.000 2.000 <NA> <NA> customer <NA> <NA>" in rttm


def test_a_report_batch_render_holds_the_report_page(tmp_path: Path):
    (tmp_path / "in").mkdir()
    leak = write_leak(tmp_path / "in")
    (tmp_path / "out" / RENDERS).mkdir(parents=True)
    [job] = expand([leak], options={"subtype": "PCM_16", "report": True, "dataset": False})
    row = run_job(job, str(tmp_path / "out"))
    assert row["status"] == "expectation_failed"
    folder = tmp_path / "out" / RENDERS / "leak"
    assert "customer" in (folder / "report.html").read_text()
    assert (folder / "who-heard-whom.json").is_file() and not (folder / "dataset").exists()
