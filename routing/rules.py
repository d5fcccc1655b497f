"""The routing rules of docs/routing.md, written once.

`VOICE_TABLE` is that document's who-hears-whom table, cell for cell: the speaker's kind down the
side, the listener's kind across the top. Everything else in this module applies its four
conditions around that table (mix-minus, both in conference, speaker unmuted, table allows) and
the music, cue and Play rules. Nothing else in mpcmix decides who hears whom.
"""

from __future__ import annotations

from enum import StrEnum

from .state import CallPhase, CallState, MpcStatus, Overlay, OverlayKind, ParticipantState, Role


class SpeakerKind(StrEnum):
    """A row of the who-hears-whom table (docs/routing.md)."""

    CUSTOMER = "customer voice"
    AGENT = "agent voice"
    SUPERVISOR = "supervisor voice, coach_mode=false"
    COACHING_SUPERVISOR = "supervisor voice, coach_mode=true"


class ListenerKind(StrEnum):
    """A column of the who-hears-whom table (docs/routing.md)."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    RECORDING = "conference recording"


# docs/routing.md, "Who hears whom". Read it against that table line by line.
_C, _A, _S, _R = ListenerKind.CUSTOMER, ListenerKind.AGENT, ListenerKind.SUPERVISOR, ListenerKind.RECORDING
VOICE_TABLE: dict[SpeakerKind, dict[ListenerKind, bool]] = {
    #                                  customer      agent       supervisor     conference recording
    SpeakerKind.CUSTOMER:            {_C: True,  _A: True, _S: True,  _R: True},
    SpeakerKind.AGENT:               {_C: True,  _A: True, _S: True,  _R: True},
    SpeakerKind.SUPERVISOR:          {_C: True,  _A: True, _S: True,  _R: True},
    SpeakerKind.COACHING_SUPERVISOR: {_C: False, _A: True, _S: False, _R: True},  # never / always
}


class Hearing(StrEnum):
    """What an answered participant hears, by the state of its call (docs/routing.md, music and
    cues)."""

    NOTHING = "nothing"  # ringing or exited: no audio path at all
    WAIT_MUSIC = "wait music"  # answered while the MPC is Initialized
    HOLD_MUSIC = "hold music"  # held (hold wins over wait)
    CONFERENCE = "conference"  # in conference: the voices the table allows, and cues


def speaker_kind(p: ParticipantState) -> SpeakerKind:
    """The table row that applies to `p`'s voice."""
    role = p.role.routes_as
    if role is Role.SUPERVISOR:
        return SpeakerKind.COACHING_SUPERVISOR if p.coach_mode else SpeakerKind.SUPERVISOR
    return SpeakerKind.AGENT if role is Role.AGENT else SpeakerKind.CUSTOMER


def listener_kind(p: ParticipantState) -> ListenerKind:
    """The table column that applies to `p` as a listener."""
    return ListenerKind(p.role.routes_as.value)


def hearing(p: ParticipantState, status: MpcStatus) -> Hearing:
    """What `p` hears given its own call and the MPC's status."""
    if p.phase is not CallPhase.ANSWERED or status is MpcStatus.ENDED:
        return Hearing.NOTHING
    if p.hold:
        return Hearing.HOLD_MUSIC
    if status is MpcStatus.INITIALIZED:
        return Hearing.WAIT_MUSIC
    return Hearing.CONFERENCE


def is_in_conference(p: ParticipantState, status: MpcStatus) -> bool:
    """Answered, not exited, the MPC `Active`, and not on hold (docs/routing.md, vocabulary)."""
    return hearing(p, status) is Hearing.CONFERENCE


def is_heard_by_conference(p: ParticipantState, status: MpcStatus) -> bool:
    """`p`'s voice enters the conference: in conference and not muted."""
    return is_in_conference(p, status) and not p.mute


# ---------------------------------------------------------------------------------------------
# One decision per (listener, source) cell, with its reason in words.


def voice_decision(
    listener: ParticipantState | None, speaker: ParticipantState, status: MpcStatus
) -> tuple[bool, str]:
    """Whether `speaker`'s voice reaches `listener` (None: the conference recording), and why."""
    listener_name = listener.name if listener is not None else "recording"
    if listener is not None and listener.name == speaker.name:
        return False, f"{listener_name} does not hear its own voice (mix-minus)"
    if not is_in_conference(speaker, status):
        return False, f"{speaker.name} is not in conference ({_why_not_in_conference(speaker, status)})"
    if listener is not None and not is_in_conference(listener, status):
        why = _why_not_in_conference(listener, status)
        return False, f"{listener_name} is not in conference ({why})"
    if speaker.mute:
        return False, f"{speaker.name} is muted"
    column = ListenerKind.RECORDING if listener is None else listener_kind(listener)
    row = speaker_kind(speaker)
    if VOICE_TABLE[row][column]:
        return True, f"{speaker.name} is heard ({row.value} reaches {column.value})"
    if row is SpeakerKind.COACHING_SUPERVISOR:
        return False, f"{speaker.name} is coaching (heard by agents only)"
    return False, f"the table forbids {row.value} -> {column.value}"  # pragma: no cover


def music_decision(
    listener: ParticipantState | None, owner: ParticipantState, music: Hearing, status: MpcStatus
) -> tuple[bool, str]:
    """Whether `owner`'s wait or hold music reaches `listener`; only its owner ever hears it."""
    label = "wait music" if music is Hearing.WAIT_MUSIC else "hold music"
    if listener is None or listener.name != owner.name:
        return False, f"only {owner.name} hears its {label}"
    state = hearing(owner, status)
    if state is music:
        return True, f"{owner.name} hears its {label} ({_hearing_reason(owner, status)})"
    return False, f"{owner.name} is not in {label} state ({state.value})"


def overlay_decision(
    listener: ParticipantState | None, overlay: Overlay, status: MpcStatus
) -> tuple[bool, str]:
    """Whether a cue or Play reaches `listener` (None: the conference recording)."""
    if overlay.kind is OverlayKind.CUE:
        if listener is None:
            return True, "the recording takes enter and exit sounds"
        if is_in_conference(listener, status):
            return True, f"{listener.name} is in conference and hears the cue"
        return False, f"{listener.name} is not in conference ({_why_not_in_conference(listener, status)})"
    if listener is None:
        return False, "the recording does not take Play audio"
    if listener.name not in overlay.targets:
        return False, f"{overlay.name} is not aimed at {listener.name}"
    if hearing(listener, status) is Hearing.NOTHING:
        return False, f"{listener.name} has no audio path ({listener.phase.value})"
    return True, f"{overlay.name} is aimed at {listener.name}"


def _hearing_reason(p: ParticipantState, status: MpcStatus) -> str:
    if p.hold:
        return "on hold"
    if status is MpcStatus.INITIALIZED:
        return "the MPC is Initialized"
    return "in conference"


def _why_not_in_conference(p: ParticipantState, status: MpcStatus) -> str:
    if p.phase is CallPhase.RINGING:
        return "ringing"
    if p.phase is CallPhase.EXITED:
        return "exited"
    if status is MpcStatus.ENDED:
        return "the MPC has ended"
    if p.hold:
        return "on hold"
    if status is MpcStatus.INITIALIZED:
        return "waiting: the MPC is Initialized"
    return "in conference"  # pragma: no cover


def everyone_in_conference(state: CallState) -> tuple[str, ...]:
    """Names of the participants in conference, in state order."""
    return tuple(p.name for p in state.participants if is_in_conference(p, state.status))
