"""One render of a batch, as a task on a Dask worker: `run_job`.

The render is written into a staging folder inside ``DIR/renders/`` (mpcmix.analysis's
`render_checked`: the folder of `mpcmix render`, written beside its destination and renamed into
place, with who heard whom measured and the expectations judged), and its row
(``batch.json``: status, figures, the job's content hash) is written into it before that. Then the
finished folder is renamed to ``DIR/renders/<name>``: a rename onto a folder that exists fails, so
of two runs of one task (a worker lost, its task rescheduled while the first run was finishing) the
first to finish wins and the other discards its copy. A folder is complete or absent, never
half-written, and written once. Every outcome is a line in ``DIR/batch.log`` (written, discarded,
reused), appended in one write.

A run whose folder already holds ``batch.json`` with the job's digest renders nothing: it returns
that row (``reused``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mpcmix.analysis.checked import Measured, render_checked
from mpcmix.errors import MpcError
from mpcmix.scenario import LoadedScenario
from mpcmix.scenario.folder import fsync_path

from .jobs import Job

RENDERS = "renders"
BATCH_JSON = "batch.json"
BATCH_LOG = "batch.log"
STAGING_SUFFIX = ".staging"

OK = "ok"
FAILED = "failed"
EXPECTATION_FAILED = "expectation_failed"


def run_job(job: Job, out: str) -> dict[str, Any]:
    """Render `job` into ``out/renders/<name>`` unless it is there already; its row (a dict:
    name, scenario, vars, status, error, seconds, expectations_failed, reused, pairs)."""
    renders = Path(out) / RENDERS
    dest = renders / job.name
    if job.error is not None:
        return _row(job, FAILED, job.error, 0.0)
    done = read_done(dest, job.digest)
    if done is not None:
        _log(out, job.name, "reused")
        return {**done, "reused": True}
    run = uuid.uuid4().hex[:12]
    start = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{job.name}.", suffix=STAGING_SUFFIX, dir=renders))
    try:
        rows: list[dict[str, Any]] = []

        def finish(folder: Path, scenario: LoadedScenario, measured: Measured) -> None:
            if job.options.get("dataset"):
                from .dataset import write_dataset

                write_dataset(folder, scenario, measured, job.name)
            status = EXPECTATION_FAILED if measured.failures else OK
            row = _row(job, status, "\n".join(measured.failures) or None,
                       time.perf_counter() - start, measured)
            row["run"] = f"{socket.gethostname()}:{os.getpid()}:{run}"
            with open(folder / BATCH_JSON, "w", encoding="utf-8") as f:
                json.dump(row, f, indent=1)
                f.write("\n")
            rows.append(row)

        try:
            scenario = job.load()
            render_checked(scenario, staging / job.name, report=bool(job.options.get("report")),
                           measure_always=True, finish=finish,
                           subtype=str(job.options.get("subtype", "PCM_16")))
        except MpcError as exc:
            return _row(job, FAILED, exc.message, time.perf_counter() - start)
        except Exception as exc:  # a bug, or the machine: the row says which, the batch goes on
            return _row(job, FAILED, f"internal error: {type(exc).__name__}: {exc}",
                        time.perf_counter() - start)
        return _claim(staging / job.name, dest, rows[0], out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _claim(folder: Path, dest: Path, row: dict[str, Any], out: str) -> dict[str, Any]:
    """Rename the finished `folder` to `dest`; a folder of an older digest there is replaced, one
    of the same digest (another run of this task finished first) wins and `folder` is dropped."""
    old = read_done(dest, None)
    if old is not None and old.get("digest") != row["digest"]:
        aside = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.old{STAGING_SUFFIX}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(dest, aside)
            shutil.rmtree(aside, ignore_errors=True)
    elif dest.exists() and not dest.is_symlink() and dest.is_dir() and not any(dest.iterdir()):
        with contextlib.suppress(OSError):
            dest.rmdir()
    try:
        os.rename(folder, dest)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise
        done = read_done(dest, row["digest"])
        _log(out, dest.name, "discarded", row["run"])
        if done is None:
            return {**row, "status": FAILED, "reused": False,
                    "error": f"{dest}: exists and is not this render's folder; not replaced"}
        return {**done, "reused": True}
    fsync_path(dest.parent)
    _log(out, dest.name, "written", row["run"])
    return {**row, "reused": False}


def read_done(folder: Path, digest: str | None) -> dict[str, Any] | None:
    """The row in `folder`'s ``batch.json`` if it is a complete render (of `digest`, if given)."""
    try:
        with open(folder / BATCH_JSON, encoding="utf-8") as f:
            row = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or (digest is not None and row.get("digest") != digest):
        return None
    return row


def _row(job: Job, status: str, error: str | None, seconds: float,
         measured: Measured | None = None) -> dict[str, Any]:
    pairs = [] if measured is None else [
        {"listener": p.listener, "source": p.source,
         "allowed_s": round(sum(b - a for a, b in p.allowed_spans), 3),
         "heard_s": round(sum(b - a for a, b in p.heard_spans), 3),
         "level_dbfs": p.level_dbfs}
        for p in measured.pairs]
    return {
        "name": job.name, "scenario": job.scenario, "vars": dict(job.vars), "status": status,
        "error": error, "seconds": round(seconds, 4),
        "expectations_failed": 0 if measured is None else len(measured.failures),
        "reused": False, "digest": job.digest, "pairs": pairs,
    }


def _log(out: str, name: str, what: str, run: str | None = None) -> None:
    """Append one line to ``out/batch.log`` in a single write (O_APPEND: lines never interleave)."""
    line = json.dumps({"time": round(time.time(), 3), "name": name, "event": what, "run": run}) + "\n"
    fd = os.open(Path(out) / BATCH_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
