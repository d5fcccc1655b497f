"""What `mpcmix render --report` adds: the bundled coaching scenario rendered with and without its
report, in process, alternating, medians. The report renders once more per participant voice (to
measure who heard whom) and draws the page with matplotlib."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "fixtures" / "scenarios" / "coaching.yaml"


def measure(rounds: int) -> tuple[float, float]:
    """(median seconds without the report, median seconds with it) over `rounds` alternations."""
    from mpcmix.analysis.report import render_with_report
    from mpcmix.scenario import load_scenario, render_scenario

    scenario = load_scenario(SCENARIO)

    plain: list[float] = []
    reported: list[float] = []
    scratch = Path(tempfile.mkdtemp(prefix="mpcmix-report-cost-"))
    try:
        render_with_report(scenario, scratch / "warm")  # imports and caches once
        for i in range(rounds):
            for report, times in ((False, plain), (True, reported)):
                start = time.perf_counter()
                render = render_with_report if report else render_scenario
                render(scenario, scratch / f"{i}-{report}")
                times.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return statistics.median(plain), statistics.median(reported)
