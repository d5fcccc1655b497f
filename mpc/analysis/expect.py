"""Expectations on who heard whom: the checks behind `mpcmix.testing` and a scenario's `expect:`.

One rule, in one place: `hears_failure` and `never_hears_failure` judge a measured `Pair`
(mpcmix.analysis.measure) and return why it fails (None when it holds), naming the spans and the
level found and the routing rule in force there (from the `StateTimeline`). `assert_hears` and
`assert_never_hears` raise these messages; `failed_expectations` applies a scenario's `expect:`
entries (docs/scenarios.md, Expectations) to a render's pairs, which `mpcmix render` and
`mpcmix render-many` report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mpcmix.scenario import Expectation

from .measure import Pair
from .timeline import StateTimeline

Window = tuple[float, float]


def hears_failure(pair: Pair, timeline: StateTimeline, during: Window | None = None, *,
                  min_coverage: float = 1.0) -> str | None:
    """Why `pair.listener` does not hear `pair.source` throughout `during` (at least
    `min_coverage` of it; with `during` None: at some time), or None when it does."""
    listener, source = pair.listener, pair.source
    if during is None:
        if pair.heard_spans:
            return None
        return (f"{listener} never heard {source}; expected to hear it at some time. "
                + _context(timeline, pair))
    start, end = window(during)
    covered = sum(b - a for a, b in _clip(pair.heard_spans, start, end))
    if covered >= min_coverage * (end - start) - 1e-9:
        return None
    heard = _spans(_clip(pair.heard_spans, start, end))
    return (f"{listener} heard {source} for {covered:.2f} s of {start:g}–{end:g} s "
            f"(expected at least {min_coverage * (end - start):.2f} s); heard there: {heard}. "
            + _context(timeline, pair, start))


def never_hears_failure(pair: Pair, timeline: StateTimeline, during: Window | None = None
                        ) -> str | None:
    """Why `pair.listener` hears `pair.source` (within `during`, if given), or None if it never does."""
    start, end = window(during) if during is not None else (float("-inf"), float("inf"))
    found = _clip(pair.heard_spans, start, end)
    if not found:
        return None
    where = "" if during is None else f" within {start:g}–{end:g} s"
    return (f"{pair.listener} heard {pair.source} at {_spans(found)}{where}, level "
            f"{_level(pair)}; expected never. " + _context(timeline, pair, found[0][0]))


def failed_expectations(expectations: Iterable[Expectation], pairs: Sequence[Pair],
                        timeline: StateTimeline) -> list[str]:
    """The scenario's expectations that the measured `pairs` break: one message each, starting
    with the expectation as written (``never_hears [customer, boss] during [4, 9] (expect 1)``)."""
    by_pair = {(p.listener, p.source): p for p in pairs}
    failures = []
    for x in expectations:
        pair = by_pair.get((x.listener, x.source))
        during = None if x.during is None else (float(x.during[0]), float(x.during[1]))
        if pair is None:
            # Not in the same call at any time (another MPC's participant): never heard.
            pair = Pair(x.listener, x.source, (), (), None)
        if x.kind == "hears":
            why = hears_failure(pair, timeline, during, min_coverage=x.min_coverage)
        else:
            why = never_hears_failure(pair, timeline, during)
        if why is not None:
            failures.append(f"{x.describe()}: {why}")
    return failures


def window(during: Any) -> Window:
    """`during` as (start, end) seconds; ValueError unless the end comes after the start."""
    start, end = (float(t) for t in during)
    if not end > start:
        raise ValueError(f"during=({start:g}, {end:g}): the end must come after the start")
    return start, end


def _clip(spans: Any, start: float, end: float) -> list[Window]:
    return [(max(a, start), min(b, end)) for a, b in spans if min(b, end) > max(a, start)]


def _spans(spans: Any) -> str:
    return ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in spans) or "nothing"


def _level(pair: Pair) -> str:
    return "none" if pair.level_dbfs is None else f"{pair.level_dbfs:.1f} dBFS"


def _context(timeline: StateTimeline, pair: Pair, at_s: float | None = None) -> str:
    text = (f"Measured: heard {_spans(pair.heard_spans)} at {_level(pair)}; the rules allow "
            f"{_spans(pair.allowed_spans)}.")
    if at_s is not None:
        span = timeline.span_at(max(at_s, 0))
        if span is not None:
            heard, reason = span.decide(pair.listener, timeline.source_label(pair.source))
            text += f" Routing at {max(at_s, 0):.2f} s: {'yes' if heard else 'no'}, {reason}."
    return text
