"""Several worker processes behind one front (``mpcmix serve --workers N``): the data folder's
worker count, and where each shard keeps its data.

A sharded server keeps shard K's data in ``DATA/shard-K`` (each shard holds its own `FolderLock`
there) and records N in ``DATA/workers``. An MPC lives on the shard its account and name place it
on (`mpcmix.model.ids.shard_of_name`), so the count cannot change on a folder: a server started
with another count is refused (`check_workers`, a `ConfigError`: `mpcmix serve` exits 2). One
worker keeps today's layout (no file written, no ``shard-K``) and is refused on a sharded folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import ConfigError

#: The file in a sharded data folder that holds its worker count.
WORKERS_FILE = "workers"


def shard_folder(data_dir: Path, shard: int) -> Path:
    """Where shard `shard` of a server on `data_dir` keeps its data."""
    return data_dir / f"shard-{shard}"


def stored_workers(data_dir: Path) -> int | None:
    """The worker count recorded in `data_dir` (None: none recorded)."""
    path = data_dir / WORKERS_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{str(path)!r}: cannot read the worker count ({exc})") from None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{str(path)!r}: expected a worker count, found {text[:40]!r}")
    return int(text)


def check_workers(data_dir: Path, workers: int) -> None:
    """Refuse `data_dir` if it was served with another worker count; record a count above one.

    A folder holding an unsharded server's data (anything but its lock and the media cache) counts
    as one worker."""
    stored = stored_workers(data_dir)
    if stored is None and workers > 1 and data_dir.is_dir():
        unsharded = [p.name for p in data_dir.iterdir()
                     if p.name not in (".lock", "media-cache", "no-media-root", WORKERS_FILE)
                     and not p.name.startswith("shard-")]
        stored = 1 if unsharded else None
    if stored is not None and stored != workers:
        raise ConfigError(
            f"data folder {str(data_dir)!r} was served with --workers {stored}, not {workers}: each MPC "
            f"lives on the shard its name places it on, so the count of a folder cannot change; start "
            f"with --workers {stored}, or give another --data-dir")
    if stored is None and workers > 1:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{WORKERS_FILE}.{os.getpid()}"
        tmp.write_text(f"{workers}\n", encoding="utf-8")
        os.replace(tmp, data_dir / WORKERS_FILE)  # shards started together write the same text
