"""Assertions for tests of a call flow: who hears whom, measured from the rendered audio.

>>> from mpcmix.testing import assert_hears, assert_never_hears
>>> r = mpcmix.render("fixtures/scenarios/coaching.yaml")          # doctest: +SKIP
>>> assert_never_hears(r, "customer", "boss", during=(4, 9))        # doctest: +SKIP
>>> assert_hears(r, "agent", "boss", during=(4, 9))                 # doctest: +SKIP

Both read `Render.who_heard_whom()` (mpcmix.measure: the voice's contribution to the listener's
mix before its limiter, frame by frame), so a failure names the spans and the level found, and
the routing rule in force there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["assert_hears", "assert_never_hears"]

Window = tuple[float, float]


def assert_hears(render: Any, listener: str, source: str, during: Window | None = None, *,
                 min_coverage: float = 1.0) -> None:
    """Fail unless `listener` hears `source`'s voice throughout `during` (seconds).

    `min_coverage` (0..1] is the share of `during` that must be heard; lower it for a voice with
    stretches of digital silence (exact zeros are not heard). With `during` None: heard at some
    time. `render` is an `mpcmix.Render`; `listener` a participant's name or ``recording``.
    """
    pair = render.pair(listener, source)
    if during is None:
        if pair.heard_spans:
            return
        raise AssertionError(
            f"{listener} never heard {source}; expected to hear it at some time. "
            + _context(render, pair))
    start, end = _window(during)
    covered = sum(b - a for a, b in _clip(pair.heard_spans, start, end))
    if covered >= min_coverage * (end - start) - 1e-9:
        return
    heard = _spans(_clip(pair.heard_spans, start, end))
    raise AssertionError(
        f"{listener} heard {source} for {covered:.2f} s of {start:g}–{end:g} s "
        f"(expected at least {min_coverage * (end - start):.2f} s); heard there: {heard}. "
        + _context(render, pair, start))


def assert_never_hears(render: Any, listener: str, source: str, during: Window | None = None
                       ) -> None:
    """Fail if `listener` hears `source`'s voice at all (within `during`, seconds, if given)."""
    __tracebackhide__ = True
    pair = render.pair(listener, source)
    start, end = _window(during) if during is not None else (float("-inf"), float("inf"))
    found = _clip(pair.heard_spans, start, end)
    if not found:
        return
    where = "" if during is None else f" within {start:g}–{end:g} s"
    raise AssertionError(
        f"{listener} heard {source} at {_spans(found)}{where}, level {_level(pair)}; expected "
        f"never. " + _context(render, pair, found[0][0]))


def _window(during: Window) -> Window:
    start, end = (float(t) for t in during)
    if not end > start:
        raise ValueError(f"during=({start:g}, {end:g}): the end must come after the start")
    return start, end


def _clip(spans: Any, start: float, end: float) -> list[Window]:
    return [(max(a, start), min(b, end)) for a, b in spans if min(b, end) > max(a, start)]


def _spans(spans: Any) -> str:
    return ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in spans) or "nothing"


def _level(pair: Any) -> str:
    return "none" if pair.level_dbfs is None else f"{pair.level_dbfs:.1f} dBFS"


def _context(render: Any, pair: Any, at_s: float | None = None) -> str:
    text = (f"Measured: heard {_spans(pair.heard_spans)} at {_level(pair)}; the rules allow "
            f"{_spans(pair.allowed_spans)}.")
    if at_s is not None:
        span = render.timeline.span_at(max(at_s, 0))
        if span is not None:
            heard, reason = span.decide(pair.listener, render.timeline.source_label(pair.source))
            text += f" Routing at {max(at_s, 0):.2f} s: {'yes' if heard else 'no'}, {reason}."
    return text
