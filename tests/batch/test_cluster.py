"""Batches on real Dask clusters: a scheduler and two workers started as processes on loopback,
and a LocalCluster; every render checked against the same scenario rendered in process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mpcmix.batch import expand
from mpcmix.scenario import render_scenario

from ._support import write_broken, write_grid, write_leak

#: The files of a render that must be the same bytes as an in-process `mpcmix render`'s.
SAME = ("listeners", "recordings", "events.jsonl", "mpc.json", "mpcs", "responses.jsonl")


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", *args], stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)


class Cluster:
    """`dask scheduler` and two `dask worker ADDRESS` processes (no nanny: a kill is a death)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()
        file = folder / "scheduler.json"
        self.scheduler = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--no-dashboard", "--scheduler-file", str(file)], folder / "scheduler.log")
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert self.scheduler.poll() is None, (folder / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        self.workers = [
            _start(["distributed.cli.dask_worker", self.address, "--nthreads", "1", "--no-nanny",
                    "--no-dashboard", "--host", "127.0.0.1"], folder / f"worker{i}.log")
            for i in range(2)]
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask") / "cluster")
    try:
        yield c
    finally:
        c.close()


def _render_many(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpcmix.cli", "render-many", *args], capture_output=True,
                          text=True, timeout=240)


def _same_as_serial(render: Path, scenario, tmp: Path) -> None:
    """The render folder holds the bytes an in-process render of the same scenario writes."""
    serial = render_scenario(scenario, tmp / f"serial-{render.name}").out_dir
    for entry in SAME:
        a, b = render / entry, serial / entry
        files = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) if b.is_dir() else [Path()]
        assert files, entry
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), f"{render.name}: {entry}/{f}"


def test_a_batch_on_a_scheduler_and_two_worker_processes_reports_broken_and_leaking_renders(
        cluster: Cluster, tmp_path: Path):
    inputs = tmp_path / "in"
    grid = write_grid(inputs)
    leak = write_leak(inputs)
    broken = write_broken(inputs)
    out = tmp_path / "out"
    done = _render_many(str(grid), str(leak), *(str(inputs / f"{b}.yaml") for b in broken),
                        "--out", str(out), "--scheduler", cluster.address)
    assert done.returncode == 1, done.stderr
    summary = pq.read_table(out / "summary.parquet").to_pylist()
    by_name = {r["name"]: r for r in summary}
    grid_names = ["tiny-agent-0.5-true", "tiny-agent-1-true", "tiny-customer-0.5-true", "tiny-customer-1-true"]
    assert list(by_name) == [*grid_names, "leak", *broken]
    for name, text in broken.items():
        assert by_name[name]["status"] == "failed" and text in by_name[name]["error"], by_name[name]
        assert not (out / "renders" / name).exists()
    assert by_name["leak"]["status"] == "expectation_failed"
    assert by_name["leak"]["expectations_failed"] == 1
    assert by_name["leak"]["error"].startswith("never_hears [customer, boss] (expect 1): customer heard boss")
    for name in grid_names:
        row = by_name[name]
        assert (row["status"], row["error"], row["expectations_failed"]) == ("ok", None, 0), row
        assert row["voice"].endswith(f"/{name.split('-')[1]}.wav") and row["coach_mode"] == "true"
    assert by_name["tiny-customer-1-true"]["coach_at"] == "1"
    # the CSV says the same
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:3] == ['"name"', '"scenario"', '"voice"'] and len(csv_lines) == 1 + len(summary)
    # who heard whom: the leak measured in the audio, the coach heard by the agent only
    pairs = pq.read_table(out / "who-heard-whom.parquet").to_pylist()
    leak_pair = next(p for p in pairs if (p["name"], p["listener"], p["source"]) == ("leak", "customer", "boss"))
    assert leak_pair["heard_s"] == pytest.approx(1.0) and leak_pair["level_dbfs"] < -10
    for name in grid_names:
        heard = {(p["listener"], p["source"]): p for p in pairs if p["name"] == name}
        assert heard[("customer", "boss")]["heard_s"] == 0
        assert heard[("agent", "boss")]["heard_s"] > 0
    assert "8 renders" in done.stdout
    assert "1 expectations failed" in done.stdout and "3 failed" in done.stdout
    # rendered on the workers, bit for bit what an in-process render writes
    for job in expand([grid, leak]):
        _same_as_serial(out / "renders" / job.name, job.load(), tmp_path)


def test_killing_a_worker_mid_batch_loses_nothing_and_writes_nothing_twice(cluster: Cluster, tmp_path: Path):
    grid = write_grid(tmp_path / "in", voices=("agent", "customer", "supervisor"),
                      coach_at=(0.2, 0.4, 0.6, 0.8, 1), coach_mode=(True,))
    out = tmp_path / "out"
    batch = subprocess.Popen([sys.executable, "-m", "mpcmix.cli", "render-many", str(grid), "--out", str(out),
                              "--scheduler", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    log = out / "batch.log"
    victim = cluster.workers[1]

    def writers() -> list[str]:
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(line)["run"].split(":")[1] for line in lines if '"written"' in line]

    deadline = time.monotonic() + 120
    while str(victim.pid) not in writers():  # the victim has written a render, and is busy
        assert batch.poll() is None, batch.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    by_victim = writers().count(str(victim.pid))
    stdout, stderr = batch.communicate(timeout=240)
    assert batch.returncode == 0, stdout + stderr
    names = [j.name for j in expand([grid])]
    assert len(names) == 15
    summary = pq.read_table(out / "summary.parquet").to_pylist()
    assert [r["name"] for r in summary] == names and {r["status"] for r in summary} == {"ok"}
    events = [json.loads(line) for line in log.read_text().splitlines()]
    written = [e["name"] for e in events if e["event"] == "written"]
    assert sorted(written) == sorted(names)  # each render written once
    assert writers().count(str(victim.pid)) == by_victim < 15  # the survivor rendered the rest
    renders = out / "renders"
    assert sorted(p.name for p in renders.iterdir() if not p.name.startswith(".")) == sorted(names)
    for name in names:  # complete: the row, the streams, the measure
        assert json.loads((renders / name / "batch.json").read_text())["status"] == "ok"
        assert len(list((renders / name / "listeners").glob("*.wav"))) == 3
    before = {n: (renders / n / "batch.json").stat().st_mtime_ns for n in names}
    # the rerun renders nothing (no cluster needed for it) and leaves no staging folder behind
    again = _render_many(str(grid), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9")
    assert again.returncode == 0, again.stderr
    assert "(0 rendered now, 15 already complete)" in again.stdout
    assert {n: (renders / n / "batch.json").stat().st_mtime_ns for n in names} == before
    assert all(r["reused"] for r in pq.read_table(out / "summary.parquet").to_pylist())
    assert not [p for p in renders.iterdir() if p.name.startswith(".")]
    assert log.read_text().count('"written"') == 15


def test_render_many_on_a_local_cluster_is_bit_identical_to_serial_renders(tmp_path: Path):
    import mpcmix

    grid = write_grid(tmp_path / "in", voices=("agent",), coach_at=(0.5, 1), coach_mode=(True,))
    table = mpcmix.render_many([grid], tmp_path / "out", workers=2)
    assert table.column("status").to_pylist() == ["ok", "ok"]
    assert table.column("name").to_pylist() == ["tiny-agent-0.5-true", "tiny-agent-1-true"]
    for job in expand([grid]):
        _same_as_serial(tmp_path / "out" / "renders" / job.name, job.load(), tmp_path)
