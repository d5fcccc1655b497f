"""Batches of renders on dask.distributed: `mpcmix render-many` and `mpcmix.render_many`.

- `jobs`: scenario and grid files (``*.grid.yaml``) expanded into named, content-hashed renders;
- `task`: one render as a Dask task, written into ``DIR/renders/<name>`` once, atomically;
- `run`: the batch (a LocalCluster, or an existing cluster), its summary tables and digest;
- `dataset`: per-speaker tracks, each listener's mix and RTTM, for a diarisation data set.

A face-level feature above mpcmix.analysis (docs/design.md): it renders through
`mpcmix.analysis.checked.render_checked`, as `mpcmix render` does.
"""

from __future__ import annotations

from .jobs import Job, expand, is_grid, slug
from .run import Batch, render_many, run_batch, summary_table

__all__ = ["Batch", "Job", "expand", "is_grid", "render_many", "run_batch", "slug", "summary_table"]
