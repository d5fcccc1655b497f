"""Hypothesis strategies shared by the test suite (one place, as STYLE.md asks)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st
from mpcmix.routing import (
    CallPhase,
    CallState,
    MpcStatus,
    Overlay,
    OverlayKind,
    ParticipantState,
    Role,
    RoutingMatrix,
)

roles = st.sampled_from(list(Role))
phases = st.sampled_from(list(CallPhase))
statuses = st.sampled_from(list(MpcStatus))


@st.composite
def participant_states(draw, name: str) -> ParticipantState:
    """One participant with a random role, phase and flags (coach_mode for any role)."""
    return ParticipantState(
        name=name,
        role=draw(roles),
        phase=draw(st.sampled_from([CallPhase.ANSWERED] * 3 + [CallPhase.RINGING, CallPhase.EXITED])),
        mute=draw(st.booleans()),
        hold=draw(st.booleans()),
        coach_mode=draw(st.booleans()),
    )


@st.composite
def call_states(draw, min_participants: int = 2, max_participants: int = 12) -> CallState:
    """A random call state: 2..12 participants, random roles, flags, overlays and MPC status."""
    n = draw(st.integers(min_participants, max_participants))
    people = tuple(draw(participant_states(f"p{i}")) for i in range(n))
    names = [p.name for p in people]
    overlays = []
    for k in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(list(OverlayKind)))
        targets = tuple(draw(st.lists(st.sampled_from(names), unique=True))) if kind is OverlayKind.PLAY else ()
        overlays.append(Overlay(f"{kind.value}:{k}", kind, targets))
    status = draw(st.sampled_from([MpcStatus.ACTIVE] * 3 + [MpcStatus.INITIALIZED, MpcStatus.ENDED]))
    return CallState(status, people, tuple(overlays))


# --- mixer: signals, routing matrices and block splits ----------------------------------------

#: How a random int16 signal sounds: quiet, speech-like, loud, or pinned at full scale.
SIGNAL_LEVELS = {"quiet": 300.0, "speech": 5000.0, "loud": 20000.0, "full": 40000.0}


@st.composite
def int16_signals(draw, min_size: int = 0, max_size: int = 2000, levels=tuple(SIGNAL_LEVELS)) -> np.ndarray:
    """A random int16 (n,) signal: Gaussian noise at one of `levels` (clipped to int16, so
    "full" spends much of its time at +-32767), with random silent stretches. Drawn from a seed so
    long signals stay cheap; hypothesis shrinks the length, the level and the seed."""
    n = draw(st.integers(min_size, max_size))
    level = SIGNAL_LEVELS[draw(st.sampled_from(list(levels)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.clip(np.rint(rng.standard_normal(n) * level), -32768, 32767)
    if n and draw(st.booleans()):
        lo = draw(st.integers(0, n - 1))
        x[lo : draw(st.integers(lo, n))] = 0
    return x.astype(np.int16)


@st.composite
def routing_matrices(
    draw, min_listeners: int = 2, max_listeners: int = 12, min_sources: int = 1, max_sources: int = 12
) -> RoutingMatrix:
    """A RoutingMatrix with random 0/1 gains: listeners ``l0..``, sources ``s0..``."""
    n_listeners = draw(st.integers(min_listeners, max_listeners))
    n_sources = draw(st.integers(min_sources, max_sources))
    bits = draw(st.lists(st.integers(0, 1), min_size=n_listeners * n_sources, max_size=n_listeners * n_sources))
    gains = tuple(tuple(bits[i * n_sources : (i + 1) * n_sources]) for i in range(n_listeners))
    return RoutingMatrix(
        listeners=tuple(f"l{i}" for i in range(n_listeners)),
        sources=tuple(f"s{j}" for j in range(n_sources)),
        gains=gains,
    )


@st.composite
def block_splits(draw, total: int, max_blocks: int = 8) -> list[tuple[int, int]]:
    """``[start, stop)`` blocks covering ``[0, total)`` in order, cut at random points (empty
    blocks allowed: a zero-length render must change nothing)."""
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=max_blocks - 1)))
    edges = [0, *cuts, total]
    return list(itertools.pairwise(edges))
