"""Who hears whom: participant state in, routing matrix out (the table and rules: docs/routing.md).

Pure: no audio, no files, no clocks, and no imports from the rest of mpcmix.

>>> from mpcmix.routing import CallState, MpcStatus, ParticipantState, Role, build_matrix
>>> state = CallState(MpcStatus.ACTIVE, (
...     ParticipantState("customer", Role.CUSTOMER),
...     ParticipantState("agent", Role.AGENT),
...     ParticipantState("boss", Role.SUPERVISOR, coach_mode=True)))
>>> build_matrix(state).heard_by("customer")
('voice:agent',)
"""

from .matrix import (
    RoutingMatrix,
    build_matrix,
    decide,
    explain,
    hold_music_source,
    stack,
    voice_source,
    wait_music_source,
)
from .rules import (
    VOICE_TABLE,
    Hearing,
    ListenerKind,
    SpeakerKind,
    hearing,
    is_heard_by_conference,
    is_in_conference,
)
from .state import CallPhase, CallState, MpcStatus, Overlay, OverlayKind, ParticipantState, Role

__all__ = [
    "VOICE_TABLE",
    "CallPhase",
    "CallState",
    "Hearing",
    "ListenerKind",
    "MpcStatus",
    "Overlay",
    "OverlayKind",
    "ParticipantState",
    "Role",
    "RoutingMatrix",
    "SpeakerKind",
    "build_matrix",
    "decide",
    "explain",
    "hearing",
    "hold_music_source",
    "is_heard_by_conference",
    "is_in_conference",
    "stack",
    "voice_source",
    "wait_music_source",
]
