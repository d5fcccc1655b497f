"""Assertions for tests of a call flow: who hears whom, measured from the rendered audio.

>>> from mpcmix.testing import assert_hears, assert_never_hears
>>> r = mpcmix.render("fixtures/scenarios/coaching.yaml")          # doctest: +SKIP
>>> assert_never_hears(r, "customer", "boss", during=(4, 9))        # doctest: +SKIP
>>> assert_hears(r, "agent", "boss", during=(4, 9))                 # doctest: +SKIP

Both read `Render.who_heard_whom()` (mpcmix.measure: the voice's contribution to the listener's
mix before its limiter, frame by frame), so a failure names the spans and the level found, and
the routing rule in force there. The checks themselves are mpcmix.analysis.expect's, the same
that judge a scenario's `expect:` entries.
"""

from __future__ import annotations

from typing import Any

from mpcmix.analysis.expect import Window, hears_failure, never_hears_failure

__all__ = ["assert_hears", "assert_never_hears"]


def assert_hears(render: Any, listener: str, source: str, during: Window | None = None, *,
                 min_coverage: float = 1.0) -> None:
    """Fail unless `listener` hears `source`'s voice throughout `during` (seconds).

    `min_coverage` (0..1] is the share of `during` that must be heard; lower it for a voice with
    stretches of digital silence (exact zeros are not heard). With `during` None: heard at some
    time. `render` is an `mpcmix.Render`; `listener` a participant's name or ``recording``.
    """
    __tracebackhide__ = True
    why = hears_failure(render.pair(listener, source), render.timeline, during,
                        min_coverage=min_coverage)
    if why is not None:
        raise AssertionError(why)


def assert_never_hears(render: Any, listener: str, source: str, during: Window | None = None
                       ) -> None:
    """Fail if `listener` hears `source`'s voice at all (within `during`, seconds, if given)."""
    __tracebackhide__ = True
    why = never_hears_failure(render.pair(listener, source), render.timeline, during)
    if why is not None:
        raise AssertionError(why)
