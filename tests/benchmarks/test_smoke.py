"""The benchmark programs run (on a tiny workload), and every peer's outputs equal mpcmix's.

Timing is not asserted here (tests/README.md: speed lives in benchmarks/); `make bench` runs the
real sizes. ffmpeg and sox are installed by .ci/run, so their peers run too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks import live, offline
from benchmarks.__main__ import run
from benchmarks.report import render_markdown, render_plot, render_table
from benchmarks.workload import SPEECH_PEAK, make_speech_workload, make_workload


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run(quick=True, scratch=tmp_path_factory.mktemp("bench"), log=lambda s: None)


def test_every_offline_peer_wrote_the_same_samples_as_mpcmix(results):
    names = {p.name.split(",")[0].split(" ")[0] for p in results.offline}
    assert {"mpcmix", "I/O", "numpy"} <= names
    for peer in results.offline:
        assert peer.walls and peer.peaks_kb
        if peer.mixes:
            assert peer.max_diff is not None and peer.max_diff <= 1, peer.name


def test_the_speech_level_workload_ran_against_the_floor_and_ffmpeg_and_agreed(results):
    names = [p.name for p in results.speech]
    assert names[0].startswith("mpcmix") and any(n.startswith("I/O") for n in names)
    assert any(n.startswith("ffmpeg") for n in names)
    for peer in results.speech:
        assert peer.max_diff is None if not peer.mixes else peer.max_diff == 0, peer.name
    assert any(what.startswith("offline render at speech levels") for what, *_ in results.targets())


def test_the_speech_workload_peaks_at_speech_level_and_its_mixes_stay_inside_int16(tmp_path: Path):
    w = make_speech_workload(tmp_path, parties=10, duration_s=5)
    voices = np.array([sf.read(str(v), dtype="int16")[0] for v in w.voices], dtype=np.int64)
    peaks = np.abs(voices).max(axis=1)
    assert (peaks == SPEECH_PEAK).all() and peaks.sum() > 32767  # the bound from peaks is no help...
    total = voices.sum(axis=0)
    assert np.abs(total).max() <= 32767 and np.abs(total - voices).max() <= 32767  # ...the mixes fit
    assert len({v.tobytes() for v in voices}) == 10


def test_the_offline_section_is_rewritten_alone(results, tmp_path: Path):
    from benchmarks import report

    doc = tmp_path / "performance.md"
    doc.write_text(render_markdown(results, "performance.png").replace("| live capacity", "| LIVE KEPT"))
    before = doc.read_text()
    report.update_offline_section(doc, results)
    after = doc.read_text()
    assert "LIVE KEPT" in after and "### At ordinary speech levels" in after
    assert after.split(report.OFFLINE_END, 1)[1] == before.split(report.OFFLINE_END, 1)[1]
    assert after.count("| offline render") == before.count("| offline render")


def test_ffmpeg_and_sox_ran_and_agreed(results):
    assert shutil.which("ffmpeg") and shutil.which("sox"), "ffmpeg and sox are installed by .ci/run"
    ran = {p.name for p in results.offline}
    assert any(n.startswith("ffmpeg") for n in ran) and any(n.startswith("sox") for n in ran)


def test_the_report_has_every_section(results, tmp_path: Path):
    table = render_table(results)
    for heading in ("offline", "live", "scaling", "targets"):
        assert f"-- {heading}" in table
    md = render_markdown(results, "performance.png")
    assert "## 1. Offline render" in md and "## 2. Live capacity" in md and "## 3. Scaling" in md
    render_plot(results, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert set(results.capacity) == {"copy", "mpcmix", "mpcmix_numpy", "matmul", "python"}


def test_the_workload_sums_never_leave_int16(tmp_path: Path):
    w = make_workload(tmp_path, parties=10, duration_s=4)
    voices = np.array([sf.read(str(v), dtype="int16")[0] for v in w.voices], dtype=np.int64)
    assert voices.shape == (10, 4 * 16000)
    assert np.abs(voices).sum(axis=0).max() <= 32767  # every peer's plain sum is exact
    assert len({v.tobytes() for v in voices}) == 10


def test_live_peers_agree_with_the_live_mixer_for_any_call_size():
    for parties in (1, 2, 10, 37):
        live.check_equal(3, parties, ["mpcmix", "matmul", "python", "copy"])


def test_the_ffmpeg_graph_gives_each_output_its_own_inputs(tmp_path: Path):
    w = make_workload(tmp_path, parties=3, duration_s=1)
    argv = offline.ffmpeg_argv(w, tmp_path / "out")
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.count("amix=inputs=2") == 3 and graph.count("amix=inputs=3") == 1


def test_the_server_section_comes_from_the_load_and_soak_samples_and_is_rewritten_alone(tmp_path: Path):
    import json

    from benchmarks import report

    step = {"mpcs": 8, "seconds": 20.0, "ticks": 1000, "late_ticks": 0, "p50_ms": 1.2, "p99_ms": 4.5,
            "max_ms": 9.0, "cpu_percent": 25.0, "rss_mib": 90.1, "open_files": 41, "requests": 400,
            "request_errors": 0, "request_p99_ms": 12.0, "t_s": None, "keeps_up": True}
    load = tmp_path / "load.jsonl"
    load.write_text("\n".join(json.dumps({**step, "mpcs": n, "keeps_up": n < 64}) for n in (8, 32, 64)))
    soak = tmp_path / "soak.jsonl"
    soak.write_text("\n".join(json.dumps({**step, "t_s": 60.0 * k, "rss_mib": 90.0 + (k < 5)}) for k in range(1, 11)))
    section = report.render_load_section(load, soak)
    assert "Largest N keeping up, `--listener-streams all`, 1 worker(s): 32 MPCs" in section
    assert (tmp_path / "load.png").is_file()  # the plot beside the samples
    assert "| RSS start, midpoint, end (MiB) | 91.0, 90.0, 90.0 |" in section
    assert "+0.000 MiB/min" in section
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\nbefore\n\n{report.LOAD_BEGIN}\nold\n{report.LOAD_END}\n\nafter\n")
    report.update_load_section(doc, load, soak)
    report.update_load_section(doc, load, soak)  # idempotent
    text = doc.read_text()
    assert section in text
    assert text.count(report.LOAD_BEGIN) == 1 and "\nold\n" not in text
    assert text.startswith("# Performance\n\nbefore\n\n") and text.endswith("\n\nafter\n")


@pytest.mark.parametrize("workers", [1, 2])
def test_the_load_benchmark_runs_a_step_and_accounts_each_shard(tmp_path: Path, workers: int):
    """`make load`'s program on a tiny step (3 MPCs, 2 s): it starts (its options parse), keeps
    up, counts the server's CPU per MPC per tick from every shard (positive parts), and deletes
    what the step wrote."""
    import json
    import subprocess
    import sys

    out = tmp_path / "load.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.load", "--listener-streams", "none", "--mpcs", "3",
         "--seconds", "2", "--settle", "0.5", "--rate", "2", "--workers", str(workers),
         "--json", str(out)], cwd=Path(__file__).resolve().parents[2], capture_output=True,
        text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    (step,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert step["mpcs"] == 3 and step["workers"] == workers and step["request_errors"] == 0
    assert step["ticks"] >= 50 * workers and step["create_s"] is not None
    cost = step["cost_us"]
    assert cost["process"] > 0 and cost["mix"] > 0 and cost["other threads"] >= 0, cost
    assert "deleted" in done.stdout


def test_a_step_whose_mpcs_cannot_be_created_is_reported_not_kept_and_ends_the_ramp(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """A request that times out while a step opens its MPCs (an overloaded server) is reported
    as that step not kept, naming the error and how many MPCs were open; the ramp stops there
    without a traceback (the steps measured before it stand)."""
    import argparse

    import httpx

    from benchmarks import load

    real_open_many = load.Calls.open_many

    def open_many(self, n, server, connections):
        real_open_many(self, 1, server, 1)
        raise httpx.ReadTimeout("timed out")

    monkeypatch.setattr(load.Calls, "open_many", open_many)
    args = argparse.Namespace(steps=[3, 4], frame_ms=20, sample_rate=16000, keep=False, workers=1,
                              connections=1, settle=0.2, seconds=1.0, rate=2.0)
    steps = load.ramp(args, "none")
    out = capsys.readouterr().out
    assert steps == []
    assert "    3  not kept: creating its MPCs failed" in out and "1 open" in out and "ReadTimeout" in out
    assert "    4 " not in out and "largest N keeping up" in out
