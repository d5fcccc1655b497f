"""The refusals not covered elsewhere, each with its status and message; and smaller decisions."""

from __future__ import annotations

import pytest
from mpcmix.errors import NotFoundError, ValidationError

from ._model_support import add, at, make_model, names, participant, two_party


def test_all_with_nobody_left_is_404():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter=False)
    add(model, 0, "late", "customer", "+1005")
    model.kick_participant(0, "all", friendly_name="demo")
    # nobody is left; the MPC ends (1000) only when this boundary settles
    with pytest.raises(NotFoundError, match="has no participants left") as err:
        model.update_participant(0, "all", friendly_name="demo", mute=True)
    assert err.value.status == 404


def test_all_inside_a_list_is_refused():
    model = make_model()
    two_party(model)
    with pytest.raises(ValidationError, match="'all' cannot be part of a list"):
        model.kick_participant(0, "agent,all", friendly_name="demo")


def test_too_many_destinations_are_refused():
    model = make_model()
    with pytest.raises(ValidationError, match="at most 20 destinations, not 21"):
        add(model, 0, "agent", "agent", "<".join(["+1002"] * 21))


def test_play_of_several_files_is_refused():
    model = make_model()
    two_party(model)
    with pytest.raises(ValidationError, match="mpcmix plays one file per Play request"):
        model.start_play_audio(0, "agent", friendly_name="demo", urls=["a.wav", "b.wav"])
    model.start_play_audio(0, "agent", friendly_name="demo", urls=["promo.wav"])


def test_far_end_actions_on_an_ended_call():
    model = make_model()
    two_party(model)
    call = model.call_uuid_of("customer")
    model.end(1000, friendly_name="demo")
    with pytest.raises(ValidationError, match="has ended \\(Multiparty Call Ended\\); it cannot "
                                              "answer"):
        model.answer(1000, call)
    with pytest.raises(ValidationError, match="it cannot send digits"):
        model.dtmf(1000, call, "1")
    assert model.has_call(call) and not model.has_call("nope")
    assert model.member_of_call(call) == model.member_id_of("customer")
    with pytest.raises(NotFoundError):
        model.member_of_call("nope")


def test_the_call_model_takes_callback_url_and_leaves_asynchronous_mode_to_the_server():
    model = make_model()
    two_party(model)
    assert model.get(0, friendly_name="demo", callback_url="https://cb")["friendly_name"] == "demo"
    with pytest.raises(ValidationError, match="callback_method must be one of GET, POST"):
        model.get(0, friendly_name="demo", callback_url="https://cb", callback_method="PUT")
    with pytest.raises(ValidationError, match="transcript"):
        model.start_recording(0, friendly_name="demo", transcript=True)
    model.start_recording(0, friendly_name="demo", transcript=False)


# -- smaller decisions --------------------------------------------------------------------------


def test_an_exit_while_initialized_plays_no_sound():
    model = make_model()
    add(model, 0, "a", "agent", "+1002", start_mpc_on_enter=False)
    add(model, 0, "b", "customer", "+1001", start_mpc_on_enter=False, stay_alone=True)
    at(model, 0)
    model.kick_participant(1000, "a", friendly_name="demo")
    model.settle(1000)
    (call,) = model.mix_state().calls
    assert call.overlays == ()


def test_joining_on_hold_starts_a_hold_music_episode_at_the_answer():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1006", hold=True)  # answers at 2.5 s
    at(model, 2500)
    spec = model.mix_state().source("hold_music:agent")
    assert (spec.media, spec.start_ms, spec.loop) == ("default:agent_hold", 2500, True)


def test_updates_apply_to_ringing_participants_and_hold_at_answer():
    model = make_model()
    two_party(model)
    add(model, 0, "late", "agent", "+1006")
    model.update_participant(1000, "late", friendly_name="demo", hold=True, mute=True)
    at(model, 2500)
    late = model.mix_state().calls[0].participant("late")
    assert (late.hold, late.mute) == (True, True)


def test_last_voice_end_is_none_until_a_call_is_answered():
    model = make_model()
    add(model, 0, "late", "agent", "+1004")
    assert model.last_voice_end_ms() is None
    at(model, 1000)
    assert model.last_voice_end_ms() == 1000  # a silent line's voice ends at once


def test_a_transferred_call_reports_its_add_participant_events():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True)
    model.settle(0)
    model.drain_events()
    model.add_participant(1000, friendly_name="other", label="moved", role="customer",
                          call_uuid=model.call_uuid_of("customer"),
                          status_callback_events="add-participant-api-events")
    reported = [n for n in names(model.drain_events()) if n.startswith("AddParticipant")]
    assert reported == ["AddParticipantByAPIActionInitiated",
                        "AddParticipantByAPIActionCompleted"]
    assert participant(model, "moved")["join_time"] == "2020-01-01 00:00:01+00:00"
