"""`mpcmix inspect`: what routing decides, in words, from the call model alone (no audio mixed).

``mpcmix inspect SCENARIO --at T`` prints the routing matrix at time T as a table, then every cell
with its reason (``customer <- boss: no, boss is coaching (heard by agents only)``).
``--listener X --source Y`` prints the spans in which X hears Y, each with the rule and what began
and ended it. SCENARIO is a scenario file or a render folder (its ``scenario.json``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from mpcmix.errors import ScenarioError
from mpcmix.routing import RoutingMatrix
from mpcmix.scenario import SCENARIO_FILE, LoadedScenario, load_scenario, load_stored_scenario

from .timeline import VOICE, StateTimeline, state_timeline


def load_any(path: str | Path) -> LoadedScenario:
    """A scenario file, or the scenario stored in a render folder."""
    path = Path(path)
    if path.is_dir():
        if not (path / SCENARIO_FILE).is_file():
            raise ScenarioError(f"{path}: a folder without {SCENARIO_FILE}; give a scenario file")
        return load_stored_scenario(path)
    return load_scenario(path)


def source_name(label: str) -> str:
    """How a source is named to people: a voice by its participant, anything else by label."""
    return label[len(VOICE):] if label.startswith(VOICE) else label


def format_matrix_at(timeline: StateTimeline, at_s: str | float | Fraction) -> str:
    """The routing matrix at `at_s` as a table, then each cell and its reason."""
    t = Fraction(str(at_s))
    span = timeline.span_at(t)
    title = f"{timeline.scenario.mpc} at {float(t):g} s"
    if span is None:
        if t < 0:
            raise ScenarioError(f"--at {at_s}: time starts at 0")
        return (f"{title}: the scenario has ended (at {timeline.end_ms / 1000:g} s); "
                "nobody hears anything\n")
    matrix = span.matrix
    status = ", ".join(f"{c.status.value}" for c in span.state.calls)
    lines = [f"{title} (state from {span.start_ms / 1000:g} s to {span.end_ms / 1000:g} s; "
             f"MPC {status})", ""]
    lines += _grid(matrix)
    lines.append("")
    for (listener, source), (heard, reason) in span.reasons.items():  # each MPC's own cells
        lines.append(f"{listener} <- {source_name(source)}: {'yes' if heard else 'no'}, {reason}")
    return "\n".join(lines) + "\n"


def format_hearing(timeline: StateTimeline, listener: str, source: str) -> str:
    """The spans in which `listener` hears `source`, and what began and ended each."""
    _check_names(timeline, listener, source)
    label = timeline.source_label(source)
    spans = timeline.hearing_spans(listener, label)
    head = f"{listener} <- {source_name(label)}"
    if not spans:
        lines = [f"{head}: never heard"]
        for start, end, reason in timeline.not_heard_reasons(listener, label):
            lines.append(f"  {start / 1000:g}–{end / 1000:g} s: {reason}")
        return "\n".join(lines) + "\n"
    lines = [f"{head}: heard in {len(spans)} span{'s' if len(spans) > 1 else ''}"]
    for h in spans:
        lines.append(f"  {h.start_ms / 1000:g}–{h.end_ms / 1000:g} s: {h.reason}")
        lines.append(f"    began {h.began}")
        lines.append(f"    ended {h.ended}")
    return "\n".join(lines) + "\n"


def inspect_main(path: str | Path, at: str | None, listener: str | None, source: str | None
                 ) -> str:
    """The text `mpcmix inspect` prints (ScenarioError for a bad scenario or name)."""
    if (listener is None) != (source is None):
        raise ScenarioError("inspect: give --listener and --source together")
    if at is None and listener is None:
        raise ScenarioError("inspect: give --at T, or --listener X --source Y, or both")
    timeline = state_timeline(load_any(path))
    out = []
    if at is not None:
        try:
            t = Fraction(str(at))
        except (ValueError, ZeroDivisionError):
            raise ScenarioError(f"--at must be a time in seconds, not {at!r}") from None
        out.append(format_matrix_at(timeline, t))
    if listener is not None and source is not None:
        out.append(format_hearing(timeline, listener, source))
    return "\n".join(out)


def _check_names(timeline: StateTimeline, listener: str, source: str) -> None:
    listeners = timeline.listeners()
    if listener not in listeners:
        raise ScenarioError(f"--listener {listener!r}: not a listener of this scenario "
                            f"(listeners: {', '.join(listeners)})")
    label = timeline.source_label(source)
    known = {s for span in timeline.spans for s in span.matrix.sources}
    if label not in known:
        names = sorted({source_name(s) for s in known})
        raise ScenarioError(f"--source {source!r}: not a source of this scenario "
                            f"(sources: {', '.join(names)})")


def _grid(matrix: RoutingMatrix) -> list[str]:
    heads = [source_name(s) for s in matrix.sources]
    first = max([len("listener \\ source"), *(len(name) for name in matrix.listeners)])
    widths = [max(len(h), 3) for h in heads]
    rows = ["  ".join(["listener \\ source".ljust(first), *(h.ljust(w) for h, w in zip(heads, widths, strict=True))])]
    for i, listener in enumerate(matrix.listeners):
        cells = ["yes" if g else "no" for g in matrix.gains[i]]
        rows.append("  ".join([listener.ljust(first),
                               *(c.ljust(w) for c, w in zip(cells, widths, strict=True))]).rstrip())
    return [r.rstrip() for r in rows]
