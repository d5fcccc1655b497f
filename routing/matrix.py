"""The routing matrix: participant state in, gains out (pure; no numpy, no audio)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .rules import Hearing, music_decision, overlay_decision, voice_decision
from .state import CallState, MpcStatus, Overlay, ParticipantState

if TYPE_CHECKING:  # routing never imports numpy to run: `to_array` imports it when called
    import numpy as np

VOICE = "voice:"
WAIT_MUSIC = "wait_music:"
HOLD_MUSIC = "hold_music:"


def voice_source(name: str) -> str:
    """The source label of participant `name`'s voice."""
    return VOICE + name


def wait_music_source(name: str) -> str:
    """The source label of the wait music participant `name` hears (its own episode)."""
    return WAIT_MUSIC + name


def hold_music_source(name: str) -> str:
    """The source label of the hold music participant `name` hears (its own episode)."""
    return HOLD_MUSIC + name


@dataclass(frozen=True)
class RoutingMatrix:
    """Gains from every source (columns) to every listener (rows).

    ``gains[i][j]`` is 1 when source ``sources[j]`` reaches listener ``listeners[i]`` and 0 when
    not. Gains are small integers on purpose: a mix of integer-valued samples with integer gains is
    exact in any summation order, which is what keeps non-interference bit-exact.
    """

    listeners: tuple[str, ...]
    sources: tuple[str, ...]
    gains: tuple[tuple[int, ...], ...]

    def gain(self, listener: str, source: str) -> int:
        """The gain from `source` to `listener` (KeyError for an unknown label)."""
        return self.gains[self.listeners.index(listener)][self.sources.index(source)]

    def heard_by(self, listener: str) -> tuple[str, ...]:
        """The sources that reach `listener`."""
        row = self.gains[self.listeners.index(listener)]
        return tuple(s for s, g in zip(self.sources, row, strict=True) if g)

    def to_array(self, dtype: str = "float32") -> np.ndarray:
        """The gains as a numpy array of shape (n_listeners, n_sources)."""
        import numpy as np

        return np.array(self.gains, dtype=dtype).reshape(len(self.listeners), len(self.sources))

    def __repr__(self) -> str:
        return (
            f"RoutingMatrix(listeners={self.listeners!r}, sources={self.sources!r}, "
            f"gains={self.gains!r})"
        )


#: Decides one cell of a source's column: (heard, reason) for a listener (None: the conference
#: recording) given the MPC's status.
_Rule = Callable[[ParticipantState | None, MpcStatus], tuple[bool, str]]


def _voice(speaker: ParticipantState) -> _Rule:
    return lambda listener, status: voice_decision(listener, speaker, status)


def _music(owner: ParticipantState, music: Hearing) -> _Rule:
    return lambda listener, status: music_decision(listener, owner, music, status)


def _overlay(overlay: Overlay) -> _Rule:
    return lambda listener, status: overlay_decision(listener, overlay, status)


def _columns(state: CallState) -> list[tuple[str, _Rule]]:
    """Every source of the call with the rule for its column, in a fixed order: voices, wait
    music, hold music, overlays."""
    cols: list[tuple[str, _Rule]] = []
    cols += [(voice_source(p.name), _voice(p)) for p in state.participants]
    cols += [(wait_music_source(p.name), _music(p, Hearing.WAIT_MUSIC)) for p in state.participants]
    cols += [(hold_music_source(p.name), _music(p, Hearing.HOLD_MUSIC)) for p in state.participants]
    cols += [(o.name, _overlay(o)) for o in state.overlays]
    return cols


def decide(
    state: CallState, listener: str, source: str
) -> tuple[bool, str]:
    """Whether `source` reaches `listener` in `state`, and the reason in words.

    `listener` is a participant name or `state.recording_name`; `source` a label as in
    `RoutingMatrix.sources`.
    """
    who = None if listener == state.recording_name else state.participant(listener)
    for label, rule in _columns(state):
        if label == source:
            return rule(who, state.status)
    raise KeyError(source)


def build_matrix(state: CallState) -> RoutingMatrix:
    """The routing matrix of one MPC: a row per participant plus the conference recording."""
    cols = _columns(state)
    listeners: list[ParticipantState | None] = [*state.participants, None]
    gains = tuple(
        tuple(int(rule(who, state.status)[0]) for _, rule in cols)
        for who in listeners
    )
    names = (*(p.name for p in state.participants), state.recording_name)
    return RoutingMatrix(listeners=names, sources=tuple(c[0] for c in cols), gains=gains)


def explain(state: CallState) -> dict[tuple[str, str], str]:
    """The reason behind every cell of `build_matrix(state)`, keyed by (listener, source)."""
    cols = _columns(state)
    out: dict[tuple[str, str], str] = {}
    for who in [*state.participants, None]:
        name = state.recording_name if who is None else who.name
        for label, rule in cols:
            out[(name, label)] = rule(who, state.status)[1]
    return out


def stack(matrices: Iterable[RoutingMatrix]) -> RoutingMatrix:
    """Several MPCs' matrices as one block-diagonal matrix (calls never hear each other)."""
    ms = list(matrices)
    listeners = tuple(name for m in ms for name in m.listeners)
    sources = tuple(name for m in ms for name in m.sources)
    if len(set(listeners)) != len(listeners) or len(set(sources)) != len(sources):
        raise ValueError("stacked matrices must have distinct listener and source labels")
    rows: list[tuple[int, ...]] = []
    offset = 0
    for m in ms:
        left, right = (0,) * offset, (0,) * (len(sources) - offset - len(m.sources))
        rows += [left + row + right for row in m.gains]
        offset += len(m.sources)
    return RoutingMatrix(listeners=listeners, sources=sources, gains=tuple(rows))
