"""Every cell of the voice table (docs/routing.md), and every music, cue and Play rule, checked on the matrix."""

from __future__ import annotations

import pytest
from mpcmix.routing import (
    CallPhase,
    CallState,
    MpcStatus,
    Overlay,
    OverlayKind,
    ParticipantState,
    Role,
    build_matrix,
    decide,
    explain,
    hold_music_source,
    stack,
    voice_source,
    wait_music_source,
)

ACTIVE = MpcStatus.ACTIVE

# The voice table of docs/routing.md, restated independently of routing/rules.py: (speaker role, coach_mode) ->
# listener column -> heard.
SPEC_TABLE = {
    ("customer", False): {"customer": True, "agent": True, "supervisor": True, "recording": True},
    ("agent", False): {"customer": True, "agent": True, "supervisor": True, "recording": True},
    ("supervisor", False): {"customer": True, "agent": True, "supervisor": True, "recording": True},
    ("supervisor", True): {"customer": False, "agent": True, "supervisor": False, "recording": True},
}
CELLS = [
    (speaker, coach, listener, heard)
    for (speaker, coach), row in SPEC_TABLE.items()
    for listener, heard in row.items()
]


def _state(speaker: ParticipantState, listener_role: str | None) -> CallState:
    people = [speaker]
    if listener_role is not None:
        people.append(ParticipantState("listener", Role(listener_role)))
    return CallState(ACTIVE, tuple(people))


@pytest.mark.parametrize(("speaker_role", "coach", "listener", "heard"), CELLS)
def test_every_cell_of_the_spec_table(speaker_role, coach, listener, heard):
    speaker = ParticipantState("speaker", Role(speaker_role), coach_mode=coach)
    if listener == "recording":
        state = _state(speaker, None)
        row = state.recording_name
    else:
        state = _state(speaker, listener)
        row = "listener"
    assert build_matrix(state).gain(row, voice_source("speaker")) == int(heard)


@pytest.mark.parametrize("role", ["customer", "agent", "ai-agent"])
def test_coach_mode_is_ignored_for_roles_other_than_supervisor(role):
    speaker = ParticipantState("speaker", Role(role), coach_mode=True)
    state = CallState(ACTIVE, (speaker, ParticipantState("c", Role.CUSTOMER)))
    assert build_matrix(state).gain("c", voice_source("speaker")) == 1


def test_ai_agent_routes_as_an_agent():
    boss = ParticipantState("boss", Role.SUPERVISOR, coach_mode=True)
    bot = ParticipantState("bot", Role.AI_AGENT)
    m = build_matrix(CallState(ACTIVE, (boss, bot)))
    assert m.gain("bot", voice_source("boss")) == 1


def test_no_one_hears_themself():
    people = tuple(ParticipantState(r.value, r) for r in Role)
    m = build_matrix(CallState(ACTIVE, people))
    for p in people:
        assert m.gain(p.name, voice_source(p.name)) == 0


def test_a_muted_participant_is_not_heard_but_hears_everything():
    people = (
        ParticipantState("customer", Role.CUSTOMER, mute=True),
        ParticipantState("agent", Role.AGENT),
    )
    m = build_matrix(CallState(ACTIVE, people))
    assert m.gain("agent", voice_source("customer")) == 0
    assert m.gain("recording", voice_source("customer")) == 0
    assert m.gain("customer", voice_source("agent")) == 1


def test_the_recording_takes_a_coaching_supervisor_but_not_a_muted_one():
    boss = ParticipantState("boss", Role.SUPERVISOR, coach_mode=True)
    m = build_matrix(CallState(ACTIVE, (boss,)))
    assert m.gain("recording", voice_source("boss")) == 1
    muted = ParticipantState("boss", Role.SUPERVISOR, coach_mode=True, mute=True)
    assert build_matrix(CallState(ACTIVE, (muted,))).gain("recording", voice_source("boss")) == 0


@pytest.mark.parametrize("phase", [CallPhase.RINGING, CallPhase.EXITED])
def test_ringing_and_exited_participants_hear_and_are_heard_by_no_one(phase):
    ghost = ParticipantState("ghost", Role.AGENT, phase=phase)
    other = ParticipantState("customer", Role.CUSTOMER)
    m = build_matrix(CallState(ACTIVE, (ghost, other)))
    assert m.heard_by("ghost") == ()
    assert m.gain("customer", voice_source("ghost")) == 0
    assert m.gain("recording", voice_source("ghost")) == 0


def test_waiting_participants_hear_only_their_wait_music_and_no_one_hears_them():
    people = (ParticipantState("a", Role.AGENT), ParticipantState("c", Role.CUSTOMER))
    state = CallState(MpcStatus.INITIALIZED, people)
    m = build_matrix(state)
    assert m.heard_by("a") == (wait_music_source("a"),)
    assert m.heard_by("c") == (wait_music_source("c"),)
    assert m.heard_by("recording") == ()


def test_a_held_participant_hears_only_hold_music_and_is_heard_by_no_one():
    people = (
        ParticipantState("c", Role.CUSTOMER, hold=True),
        ParticipantState("a", Role.AGENT),
    )
    m = build_matrix(CallState(ACTIVE, people))
    assert m.heard_by("c") == (hold_music_source("c"),)
    assert m.gain("a", voice_source("c")) == 0
    assert m.gain("recording", voice_source("c")) == 0
    assert m.gain("a", hold_music_source("c")) == 0
    assert m.gain("recording", hold_music_source("c")) == 0


def test_hold_wins_over_wait():
    p = ParticipantState("c", Role.CUSTOMER, hold=True)
    m = build_matrix(CallState(MpcStatus.INITIALIZED, (p,)))
    assert m.heard_by("c") == (hold_music_source("c"),)


def test_after_the_mpc_ends_no_one_hears_anything():
    people = (ParticipantState("a", Role.AGENT), ParticipantState("c", Role.CUSTOMER))
    m = build_matrix(CallState(MpcStatus.ENDED, people))
    assert all(not any(row) for row in m.gains)


def test_a_cue_reaches_everyone_in_conference_and_the_recording_only():
    cue = Overlay("cue:1", OverlayKind.CUE)
    people = (
        ParticipantState("a", Role.AGENT),
        ParticipantState("c", Role.CUSTOMER, hold=True),
        ParticipantState("s", Role.SUPERVISOR, coach_mode=True, mute=True),
        ParticipantState("r", Role.CUSTOMER, phase=CallPhase.RINGING),
    )
    m = build_matrix(CallState(ACTIVE, people, (cue,)))
    assert m.gain("a", "cue:1") == 1
    assert m.gain("s", "cue:1") == 1  # muted participants still hear
    assert m.gain("c", "cue:1") == 0  # held
    assert m.gain("r", "cue:1") == 0  # ringing
    assert m.gain("recording", "cue:1") == 1


def test_a_play_reaches_its_targets_in_any_answered_state_and_never_the_recording():
    play = Overlay("play:1", OverlayKind.PLAY, targets=("c", "w", "r"))
    people = (
        ParticipantState("a", Role.AGENT),
        ParticipantState("c", Role.CUSTOMER, hold=True),
        ParticipantState("w", Role.CUSTOMER),
        ParticipantState("r", Role.CUSTOMER, phase=CallPhase.RINGING),
    )
    m = build_matrix(CallState(ACTIVE, people, (play,)))
    assert m.gain("c", "play:1") == 1
    assert m.gain("w", "play:1") == 1
    assert m.gain("a", "play:1") == 0
    assert m.gain("r", "play:1") == 0
    assert m.gain("recording", "play:1") == 0
    waiting = build_matrix(CallState(MpcStatus.INITIALIZED, people, (play,)))
    assert waiting.heard_by("w") == (wait_music_source("w"), "play:1")


def test_every_cell_has_a_reason_and_decide_agrees_with_the_matrix():
    people = (
        ParticipantState("customer", Role.CUSTOMER),
        ParticipantState("agent", Role.AGENT, mute=True),
        ParticipantState("boss", Role.SUPERVISOR, coach_mode=True),
    )
    state = CallState(ACTIVE, people, (Overlay("cue:1", OverlayKind.CUE),))
    m = build_matrix(state)
    reasons = explain(state)
    assert reasons[("customer", voice_source("boss"))] == "boss is coaching (heard by agents only)"
    assert reasons[("customer", voice_source("agent"))] == "agent is muted"
    for i, listener in enumerate(m.listeners):
        for j, source in enumerate(m.sources):
            allowed, reason = decide(state, listener, source)
            assert int(allowed) == m.gains[i][j]
            assert reason == reasons[(listener, source)]


def test_stacked_calls_never_hear_each_other():
    one = CallState(ACTIVE, (ParticipantState("a1", Role.AGENT), ParticipantState("c1", Role.CUSTOMER)))
    two = CallState(
        ACTIVE,
        (ParticipantState("a2", Role.AGENT), ParticipantState("c2", Role.CUSTOMER)),
        recording_name="recording:two",
    )
    m = stack([build_matrix(one), build_matrix(two)])
    assert m.heard_by("c1") == (voice_source("a1"),)
    assert m.heard_by("c2") == (voice_source("a2"),)
    assert m.heard_by("recording:two") == (voice_source("a2"), voice_source("c2"))


def test_repr_is_valid_python():
    from mpcmix.routing import RoutingMatrix

    m = build_matrix(CallState(ACTIVE, (ParticipantState("a", Role.AGENT),)))
    assert eval(repr(m), {"RoutingMatrix": RoutingMatrix}) == m
