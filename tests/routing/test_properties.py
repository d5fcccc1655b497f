"""Properties of the routing matrix over random call states (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from mpcmix.routing import (
    CallState,
    MpcStatus,
    ParticipantState,
    Role,
    build_matrix,
    hearing,
    voice_source,
)
from mpcmix.routing.rules import Hearing

from ..strategies import call_states


@given(call_states())
def test_coaching_supervisor_never_reaches_a_customer(state: CallState):
    m = build_matrix(state)
    for listener in state.participants:
        if listener.role.routes_as is not Role.CUSTOMER:
            continue
        for speaker in state.participants:
            if speaker.is_coaching:
                assert m.gain(listener.name, voice_source(speaker.name)) == 0


@given(call_states())
def test_recording_always_takes_an_unmuted_in_conference_supervisor(state: CallState):
    m = build_matrix(state)
    for p in state.participants:
        if p.role is Role.SUPERVISOR and not p.mute and hearing(p, state.status) is Hearing.CONFERENCE:
            assert m.gain(state.recording_name, voice_source(p.name)) == 1


@given(call_states())
def test_no_listener_hears_a_voice_it_may_not_hear(state: CallState):
    """Own, muted, held, ringing, exited voices reach no one; music reaches only its owner."""
    m = build_matrix(state)
    for i, listener in enumerate(m.listeners):
        for j, source in enumerate(m.sources):
            if not m.gains[i][j]:
                continue
            kind, _, owner = source.partition(":")
            if kind == "voice":
                speaker = state.participant(owner)
                assert owner != listener
                assert not speaker.mute
                assert hearing(speaker, state.status) is Hearing.CONFERENCE
                if listener != state.recording_name:
                    assert hearing(state.participant(listener), state.status) is Hearing.CONFERENCE
            elif kind in ("wait_music", "hold_music"):
                assert owner == listener


@given(call_states())
def test_each_answered_participant_hears_exactly_one_kind_of_thing(state: CallState):
    m = build_matrix(state)
    for p in state.participants:
        heard = {s.partition(":")[0] for s in m.heard_by(p.name)} - {"play"}
        mode = hearing(p, state.status)
        if mode is Hearing.WAIT_MUSIC:
            assert heard == {"wait_music"}
        elif mode is Hearing.HOLD_MUSIC:
            assert heard == {"hold_music"}
        elif mode is Hearing.NOTHING:
            assert heard == set()
        else:
            assert heard <= {"voice", "cue"}


def test_a_state_with_no_participants_has_only_the_recording_row():
    m = build_matrix(CallState(MpcStatus.ACTIVE, ()))
    assert m.listeners == ("recording",)
    assert m.sources == ()


def test_participant_repr_is_valid_python():
    from mpcmix.routing import CallPhase

    p = ParticipantState("a", Role.AGENT, CallPhase.RINGING, mute=True)
    assert eval(repr(p), {"ParticipantState": ParticipantState, "Role": Role, "CallPhase": CallPhase}) == p
