"""`render_many`: a batch of renders on dask.distributed, and its summary tables.

Each render is one task (`mpcmix.batch.task.run_job`); the tasks write their own folders as they
finish, so the client keeps nothing that a crash could lose but the summary, which is rebuilt from
the folders on a rerun. The summary, in ``DIR/``: ``summary.parquet``/``.csv`` (a row per render)
and ``who-heard-whom.parquet``/``.csv`` (a row per listener and voice of every rendered call).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpcmix.errors import ScenarioError

from .jobs import Job, expand, prepare
from .task import FAILED, RENDERS, STAGING_SUFFIX, read_done, run_job

SUMMARY = "summary"
WHO_HEARD_WHOM = "who-heard-whom"
#: Jobs checked, hashed and submitted together (the first tasks start while the rest are read).
SUBMIT_CHUNK = 32
PAIR_COLUMNS = ("name", "listener", "source", "allowed_s", "heard_s", "level_dbfs")


@dataclass
class Batch:
    """What a batch did: its rows (one per render, in input order) and where the summary is."""

    out: Path
    rows: list[dict[str, Any]]
    variables: list[str]
    dashboard: str | None = None
    rendered: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r["status"] == status)

    @property
    def ok(self) -> bool:
        """Every render ok."""
        return all(r["status"] == "ok" for r in self.rows)

    def digest(self, slowest: int = 5) -> str:
        """The printed digest: counts, the failures with their first line, the slowest renders."""
        reused = sum(1 for r in self.rows if r.get("reused"))
        lines = [f"{len(self.rows)} renders into {self.out}: {self.count('ok')} ok, "
                 f"{self.count('failed')} failed, {self.count('expectation_failed')} expectations "
                 f"failed ({self.rendered} rendered now, {reused} already complete)"]
        for r in self.rows:
            if r["status"] != "ok":
                first = (r["error"] or "").splitlines()[0] if r["error"] else ""
                lines.append(f"  {r['status'].upper():<18} {r['name']}: {first}")
        timed = sorted((r for r in self.rows if not r.get("reused") and r["seconds"]),
                       key=lambda r: -r["seconds"])[:slowest]
        if timed:
            lines.append("  slowest: " + ", ".join(f"{r['name']} {r['seconds']:.2f} s" for r in timed))
        lines.append(f"  summary  {self.out / (SUMMARY + '.parquet')}, {self.out / (SUMMARY + '.csv')}")
        lines.append(f"  heard    {self.out / (WHO_HEARD_WHOM + '.parquet')}, "
                     f"{self.out / (WHO_HEARD_WHOM + '.csv')}")
        return "\n".join(lines)


def render_many(scenarios: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
                out: str | os.PathLike[str], client: Any = None, **options: Any) -> Any:
    """Render every scenario and grid file of `scenarios` into `out` on a Dask cluster; the
    summary as a `pyarrow.Table` (also written to ``out/summary.parquet`` and ``.csv``).

    `client`: a `dask.distributed.Client` (a notebook's own); None starts a `LocalCluster` with
    one worker process per core. `options` as `run_batch`'s (`workers`, `scheduler`, `sample`,
    `seed`, `report`, `dataset`, `subtype`).
    """
    if isinstance(scenarios, str | os.PathLike):
        scenarios = [scenarios]
    return summary_table(run_batch(list(scenarios), out, client=client, **options))


def run_batch(inputs: list[str | os.PathLike[str]], out: str | os.PathLike[str], *,
              client: Any = None, scheduler: str | None = None, workers: int | None = None,
              sample: int | None = None, seed: int = 0, report: bool = False,
              dataset: bool = False, subtype: str = "PCM_16", progress: bool = False,
              on_cluster: Callable[[str | None], None] | None = None) -> Batch:
    """The batch (see the module docstring); ScenarioError for inputs that cannot be expanded
    (a grid or file that cannot be read, two renders of one name) or a folder in use."""
    from mpcmix.server.folderlock import FolderInUse, FolderLock

    if subtype not in ("PCM_16", "FLOAT"):
        raise ScenarioError(f"--subtype must be PCM_16 or FLOAT, not {subtype!r}")
    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers must be at least 1, not {workers}")
    opts = {"subtype": subtype, "report": report, "dataset": dataset}
    jobs = expand(inputs, options=opts, sample=sample, seed=seed, prepared=False)
    out = Path(os.path.abspath(out))
    try:
        (out / RENDERS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    try:
        lock = FolderLock(out, what="mpcmix render-many").acquire()
    except FolderInUse as exc:
        raise ScenarioError(str(exc)) from None
    try:
        _remove_staging(out / RENDERS)
        batch = Batch(out, [], _variables(jobs))
        rows: dict[str, dict[str, Any]] = {}
        with contextlib.ExitStack() as stack:
            dask_client: Any = None
            futures: list[Any] = []
            by_key: dict[str, Job] = {}
            # Jobs are checked and hashed a chunk at a time and their tasks submitted at once, so
            # the workers start rendering while the client still reads and hashes the rest.
            for start in range(0, len(jobs), SUBMIT_CHUNK):
                todo: list[Job] = []
                for job in map(prepare, jobs[start:start + SUBMIT_CHUNK]):
                    if job.error is not None:  # refused when checked: no need to ship it
                        rows[job.name] = run_job(job, str(out))
                        continue
                    done = read_done(out / RENDERS / job.name, job.digest)
                    if done is not None:
                        rows[job.name] = {**done, "reused": True}
                    else:
                        todo.append(job)
                if not todo:
                    continue
                if dask_client is None:
                    dask_client, batch.dashboard = stack.enter_context(_client(client, scheduler, workers))
                    if on_cluster is not None:
                        on_cluster(batch.dashboard)
                keys = [f"mpcmix-render-{job.name}-{job.digest[:12]}" for job in todo]
                futures += dask_client.map(run_job, todo, out=str(out), key=keys, pure=False)
                by_key.update(zip(keys, todo, strict=True))
            if futures:
                for row in _run(dask_client, futures, by_key, progress):
                    rows[row["name"]] = row
        batch.rendered = sum(1 for r in rows.values() if not r.get("reused") and r["seconds"])
        batch.rows = [rows[j.name] for j in jobs]
        write_summary(batch)
        return batch
    finally:
        lock.release()


def _run(client: Any, futures: list[Any], by_key: dict[str, Job], progress: bool
         ) -> Iterator[dict[str, Any]]:
    from distributed import as_completed

    if progress:
        from distributed import progress as dask_progress

        dask_progress(futures)
    # Finished futures come in batches; each batch's results are gathered in one round trip.
    for batch in as_completed(futures).batches():
        done = [f for f in batch if f.status == "finished"]
        failed = [f for f in batch if f.status != "finished"]
        for future, result in zip(done, client.gather(done), strict=True):
            future.release()
            yield result
        for future in failed:
            job = by_key[future.key]
            try:  # the task never finished: KilledWorker, a lost cluster
                error = future.exception()
            except Exception as exc:
                error = exc
            future.release()
            yield {"name": job.name, "scenario": job.scenario, "vars": dict(job.vars),
                   "status": FAILED, "error": f"the task failed: {type(error).__name__}: {error}",
                   "seconds": 0.0, "expectations_failed": 0, "reused": False, "digest": job.digest,
                   "pairs": []}


@contextlib.contextmanager
def _client(client: Any, scheduler: str | None, workers: int | None
            ) -> Iterator[tuple[Any, str | None]]:
    """A Dask client: the caller's, one connected to `scheduler`, or a LocalCluster's."""
    if client is not None:
        yield client, _dashboard(client)
        return
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError("render-many runs on dask.distributed, which is not installed: "
                            "pip install 'mpcmix[batch]'") from None
    if scheduler is not None:
        try:
            remote = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ScenarioError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with remote:
            yield remote, _dashboard(remote)
        return
    with local_cluster(workers) as local:
        yield local, _dashboard(local)


@contextlib.contextmanager
def local_cluster(workers: int | None = None) -> Iterator[Any]:
    """A client of a LocalCluster as `render-many` starts one: `workers` processes (default one
    per core) of one thread each, on loopback."""
    import dask
    from distributed import Client, LocalCluster

    # ":0": any free port (the scheduler's HTTP server runs even without bokeh's dashboard).
    # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers' environment, which turns off glibc's
    # adaptive mmap threshold: every block-sized array of a render is then a fresh mapping, page
    # faults included (~8% of a short render's CPU time here). Renders are short and free what
    # they take, so the LocalCluster's workers keep glibc's default.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), \
            LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                         processes=True, dashboard_address=":0", host="127.0.0.1") as cluster, \
            Client(cluster) as client:
        yield client


def _dashboard(client: Any) -> str | None:
    if importlib.util.find_spec("bokeh") is None:
        return None
    with contextlib.suppress(Exception):
        return str(client.dashboard_link)
    return None


def _remove_staging(renders: Path) -> None:
    """Staging folders of runs that never finished (a killed worker's): the batch holds the
    folder's lock, so no run of it is writing now."""
    for entry in renders.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(STAGING_SUFFIX) and entry.is_dir() \
                and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def _variables(jobs: list[Job]) -> list[str]:
    names: list[str] = []
    for job in jobs:
        for key, _ in job.vars:
            if key not in names:
                names.append(key)
    return names


_RESERVED = {"name", "scenario", "status", "error", "seconds", "expectations_failed", "reused"}


def summary_table(batch: Batch) -> Any:
    """The summary as a `pyarrow.Table`: name, scenario, one column per grid variable, status,
    error, seconds, expectations_failed, reused."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {"name": [], "scenario": []}
    variables = [v if v not in _RESERVED else f"var_{v}" for v in batch.variables]
    for v in variables:
        columns[v] = []
    for key in ("status", "error", "seconds", "expectations_failed", "reused"):
        columns[key] = []
    for row in batch.rows:
        columns["name"].append(row["name"])
        columns["scenario"].append(row["scenario"])
        for v, column in zip(batch.variables, variables, strict=True):
            columns[column].append(row["vars"].get(v))
        for key in ("status", "error", "seconds", "expectations_failed", "reused"):
            columns[key].append(row[key])
    schema = pa.schema([(k, pa.string()) for k in ("name", "scenario", *variables, "status", "error")]
                       + [("seconds", pa.float64()), ("expectations_failed", pa.int64()),
                          ("reused", pa.bool_())])
    return pa.table({k: columns[k] for k in schema.names}, schema=schema)


def pairs_table(batch: Batch) -> Any:
    """Who heard whom in every rendered call: name, listener, source, allowed_s, heard_s, level_dbfs."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {k: [] for k in PAIR_COLUMNS}
    for row in batch.rows:
        for pair in row.get("pairs", []):
            columns["name"].append(row["name"])
            for k in PAIR_COLUMNS[1:]:
                columns[k].append(pair[k])
    schema = pa.schema([("name", pa.string()), ("listener", pa.string()), ("source", pa.string()),
                        ("allowed_s", pa.float64()), ("heard_s", pa.float64()),
                        ("level_dbfs", pa.float64())])
    return pa.table(columns, schema=schema)


def write_summary(batch: Batch) -> None:
    """``summary.parquet``/``.csv`` and ``who-heard-whom.parquet``/``.csv`` into the batch's
    folder, each written beside and renamed into place."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    for stem, table in ((SUMMARY, summary_table(batch)), (WHO_HEARD_WHOM, pairs_table(batch))):
        for suffix, write in ((".parquet", pq.write_table), (".csv", pcsv.write_csv)):
            final = batch.out / f"{stem}{suffix}"
            tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
            write(table, str(tmp))
            os.replace(tmp, final)
