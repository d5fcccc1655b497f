"""A render checked against its scenario's `expect:` entries (docs/scenarios.md, Expectations).

`render_checked` is `mpcmix render`'s folder (mpcmix.scenario.render_scenario) with who heard
whom measured from its own pre-limiter mix (the render is tapped as it runs, then one render per
voice; mpcmix.analysis.measure) and the scenario's expectations judged on it
(mpcmix.analysis.expect), all before the folder is put in place. The audio files are those of a
plain render, bit for bit: the tap only watches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpcmix.scenario import LoadedScenario, RenderSummary, render_scenario

from .expect import failed_expectations
from .measure import MixTape, Pair, measure
from .report import WHO_HEARD_WHOM, require_matplotlib, write_report
from .timeline import StateTimeline, state_timeline

#: What a caller adds to the folder once it is measured: (folder, scenario, measured).
Finish = Callable[[Path, LoadedScenario, "Measured"], None]


@dataclass
class Measured:
    """Who heard whom in a render, and the expectations it broke (empty: all held)."""

    pairs: list[Pair]
    timeline: StateTimeline
    failures: list[str] = field(default_factory=list)
    #: the render's pre-limiter mix (open while `finish` runs; closed after)
    baseline: MixTape | None = None


@dataclass
class CheckedRender:
    """What `render_checked` wrote (`summary`) and found (`measured`: None when nothing was
    measured, a scenario without `expect:` and no report asked)."""

    summary: RenderSummary
    measured: Measured | None

    @property
    def failures(self) -> list[str]:
        """The failed expectations' messages."""
        return [] if self.measured is None else self.measured.failures


def render_checked(scenario: LoadedScenario, out_dir: str | Path, *, report: bool = False,
                   measure_always: bool = False, finish: Finish | None = None,
                   **options: Any) -> CheckedRender:
    """Render `scenario` into `out_dir` (as `render_scenario`, `options` passed on); measure who
    heard whom when the scenario has expectations, a report is asked (``report.html``, needs
    matplotlib) or `measure_always`, writing ``who-heard-whom.json``; judge the expectations.
    `finish(folder, scenario, measured)` may add files before the folder is put in place."""
    if not (report or measure_always or scenario.expectations):
        summary = render_scenario(scenario, out_dir, **options)
        return CheckedRender(summary, None)
    if report:
        require_matplotlib()  # before rendering, not after
    found: list[Measured] = []

    def _finish(folder: Path, rendered: LoadedScenario) -> None:
        timeline = state_timeline(rendered)
        if report:
            pairs = write_report(folder, rendered, baseline=tape).pairs
        else:
            pairs = measure(rendered, tape, timeline)
            with open(folder / WHO_HEARD_WHOM, "w", encoding="utf-8") as f:
                f.write(json.dumps([p.as_dict() for p in pairs], indent=2) + "\n")
        measured = Measured(pairs, timeline, failed_expectations(rendered.expectations, pairs, timeline),
                            baseline=tape)
        found.append(measured)
        if finish is not None:
            finish(folder, rendered, measured)

    with MixTape(scenario.sample_rate, scenario.frame_ms) as tape:
        summary = render_scenario(scenario, out_dir, tap=tape.record, finish=_finish, **options)
    return CheckedRender(summary, found[0])
