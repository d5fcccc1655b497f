"""Participant state as routing sees it: immutable snapshots, no audio, no clocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class _Enum(StrEnum):
    """A str enum whose repr is valid Python (`Role.AGENT`), so failing examples read as code."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class Role(_Enum):
    """A participant's role, as the API spells it."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AI_AGENT = "ai-agent"

    @property
    def routes_as(self) -> Role:
        """The role whose row of the rules table applies (the SDK's `ai-agent` routes as an agent)."""
        return Role.AGENT if self is Role.AI_AGENT else self


class CallPhase(_Enum):
    """Where a participant is in its own call leg."""

    RINGING = "ringing"  # added, its phone has not answered yet
    ANSWERED = "answered"  # its phone answered: it hears and is heard as the MPC's state allows
    EXITED = "exited"  # hung up, kicked, transferred, or the MPC ended


class MpcStatus(_Enum):
    """The MPC's `status`: `Initialized` -> `Active` -> `Ended`, never back."""

    INITIALIZED = "Initialized"
    ACTIVE = "Active"
    ENDED = "Ended"


class OverlayKind(_Enum):
    """A short-lived source that is not a participant's voice or music."""

    CUE = "cue"  # an enter or exit sound: heard by everyone in conference and by the recording
    PLAY = "play"  # Play audio: heard by its targets only, in every state, never by the recording


@dataclass(frozen=True)
class ParticipantState:
    """One participant, as far as who-hears-whom is concerned.

    `name` labels the participant's listener row and its voice column (a scenario's `as` name or
    the `member_id`). `coach_mode` is meaningful for supervisors only; routing ignores it for
    every other role.
    """

    name: str
    role: Role
    phase: CallPhase = CallPhase.ANSWERED
    mute: bool = False
    hold: bool = False
    coach_mode: bool = False

    @property
    def is_coaching(self) -> bool:
        """A supervisor whose voice reaches agents only."""
        return self.role.routes_as is Role.SUPERVISOR and self.coach_mode


@dataclass(frozen=True)
class Overlay:
    """A cue (enter/exit sound) or a Play, as a source column.

    `targets` names the participants a Play is aimed at; a cue's audience is decided by the rules
    (everyone in conference and the recording), so its `targets` stay empty.
    """

    name: str
    kind: OverlayKind
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallState:
    """Everything routing needs to know about one MPC at one instant."""

    status: MpcStatus
    participants: tuple[ParticipantState, ...]
    overlays: tuple[Overlay, ...] = field(default=())
    recording_name: str = "recording"

    def participant(self, name: str) -> ParticipantState:
        """The participant labelled `name` (KeyError if there is none)."""
        for p in self.participants:
            if p.name == name:
                return p
        raise KeyError(name)
