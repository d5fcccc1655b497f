"""Hypothesis strategies shared by the test suite (one place, as STYLE.md asks)."""

from __future__ import annotations

from hypothesis import strategies as st
from mpcmix.routing import (
    CallPhase,
    CallState,
    MpcStatus,
    Overlay,
    OverlayKind,
    ParticipantState,
    Role,
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
