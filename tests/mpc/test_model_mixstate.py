"""The snapshot for routing and the mixer: voices, music episodes, cues, Plays, media failures."""

from __future__ import annotations

import pytest
from mpcmix.errors import MediaError, NotFoundError, ValidationError
from mpcmix.model import BEEP_DURATION_MS, Line
from mpcmix.routing import CallPhase, MpcStatus, OverlayKind, build_matrix

from ._model_support import add, at, make_model, names, two_party


def only_call(model):
    (call,) = model.mix_state().calls
    return call


def cues(model):
    return [o.name for o in only_call(model).overlays if o.kind is OverlayKind.CUE]


def test_voices_start_at_answer_time_and_play_once():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1006")  # answers at 2.5 s
    at(model, 2500)
    state = model.mix_state()
    assert state.source("voice:customer") == (
        state.source("voice:customer").__class__("voice:customer", "customer.wav", 0, False))
    assert state.source("voice:agent").start_ms == 2500
    assert model.last_voice_end_ms() == 2500 + 7000


def test_calls_hold_every_participant_with_its_phase():
    model = make_model()
    two_party(model)
    add(model, 0, "late", "agent", "+1005")
    add(model, 0, "gone", "customer", "+1001")
    model.hangup(0, model.call_uuid_of("gone"))
    call = only_call(model)
    phases = {p.name: p.phase for p in call.participants}
    assert phases == {"customer": CallPhase.ANSWERED, "agent": CallPhase.ANSWERED,
                      "late": CallPhase.RINGING, "gone": CallPhase.EXITED}
    assert call.recording_name == "recording"


def test_an_ended_mpc_leaves_the_snapshot():
    model = make_model()
    two_party(model)
    model.end(1000, friendly_name="demo")
    assert model.mix_state().calls == ()
    assert model.live_mpcs() == []


def test_recording_rows_are_unique_across_mpcs():
    model = make_model()
    two_party(model)
    add(model, 0, "x", "agent", "+1002", mpc="second")
    state = model.mix_state()
    second = model.mpc_uuid_of("second")
    assert [c.recording_name for c in state.calls] == ["recording", f"recording:{second}"]
    assert state.mpc_uuids == (model.mpc_uuid_of("demo"), second)
    assert model.recording_name(second) == f"recording:{second}"


# -- music ------------------------------------------------------------------------------------


def test_wait_music_while_initialized_then_none_once_active():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", start_mpc_on_enter=False,
        wait_music_url="music.wav")
    at(model, 0)
    assert model.mix_state().source("wait_music:customer") == (
        model.mix_state().source("wait_music:customer").__class__(
            "wait_music:customer", "music.wav", 0, True))
    model.start(3000, friendly_name="demo")
    model.settle(3000)
    with pytest.raises(KeyError):
        model.mix_state().source("wait_music:customer")


def test_default_wait_music_and_hold_music_by_role():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", start_mpc_on_enter=False)
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter=False)
    add(model, 0, "boss", "supervisor", "+1003", start_mpc_on_enter=False, hold=True)
    at(model, 0)
    state = model.mix_state()
    assert state.source("wait_music:customer").media == "default:wait"
    assert state.source("hold_music:boss").media == "default:agent_hold"  # hold wins over wait
    model.start(1000, friendly_name="demo")
    model.update_participant(1000, "customer,agent", friendly_name="demo", hold=True)
    model.settle(1000)
    state = model.mix_state()
    assert state.source("hold_music:customer").media == "default:customer_hold"
    assert state.source("hold_music:agent").media == "default:agent_hold"


def test_hold_music_urls_come_from_the_creating_call():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", customer_hold_music_url="music.wav",
        agent_hold_music_url="promo.wav")
    add(model, 0, "agent", "agent", "+1002", customer_hold_music_url="ding.wav")
    model.update_participant(0, "all", friendly_name="demo", hold=True)
    model.settle(0)
    state = model.mix_state()
    assert state.source("hold_music:customer").media == "music.wav"
    assert state.source("hold_music:agent").media == "promo.wav"


def test_each_hold_episode_restarts_the_music():
    model = make_model()
    two_party(model)
    model.update_participant(1000, "customer", friendly_name="demo", hold=True)
    model.settle(1000)
    assert model.mix_state().source("hold_music:customer").start_ms == 1000
    model.update_participant(2000, "customer", friendly_name="demo", hold=False)
    model.settle(2000)
    with pytest.raises(KeyError):
        model.mix_state().source("hold_music:customer")
    model.update_participant(5000, "customer", friendly_name="demo", hold=True)
    model.settle(5000)
    assert model.mix_state().source("hold_music:customer").start_ms == 5000


def test_confirm_key_sound_plays_in_a_loop_as_held_music_until_the_key():
    model = make_model()
    two_party(model)
    add(model, 1000, "boss", "supervisor", "+1003", confirm_key="9",
        confirm_key_sound_url="confirm.wav")
    model.settle(1000)
    state = model.mix_state()
    boss = state.calls[0].participant("boss")
    assert boss.hold is True and boss.phase is CallPhase.ANSWERED
    assert state.source("hold_music:boss") == state.source("hold_music:boss").__class__(
        "hold_music:boss", "confirm.wav", 1000, True)
    matrix = build_matrix(state.calls[0])
    assert matrix.heard_by("boss") == ("hold_music:boss",)
    assert "voice:boss" not in matrix.heard_by("agent")
    model.dtmf(2000, model.call_uuid_of("boss"), "9")
    model.settle(2000)
    assert "voice:boss" in build_matrix(model.mix_state().calls[0]).heard_by("agent")


# -- cues -------------------------------------------------------------------------------------


def test_the_activating_entry_plays_its_enter_sound_to_everyone_then_in_conference():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", start_mpc_on_enter=False)
    add(model, 0, "agent", "agent", "+1004")  # answers at 1 s and starts the MPC
    at(model, 0)
    assert cues(model) == []  # entries while Initialized play no sound
    at(model, 1000)
    (cue,) = cues(model)
    matrix = build_matrix(only_call(model))
    assert cue in matrix.heard_by("customer") and cue in matrix.heard_by("agent")
    assert cue in matrix.heard_by("recording")
    assert model.mix_state().source(cue).media == "beep:1"
    assert model.mix_state().source(cue).start_ms == 1000


def test_a_cue_lasts_its_medium_rounded_up_to_frames():
    model = make_model(frame_ms=60)
    two_party(model)
    assert len(cues(model)) == 2  # the customer's (activating) and the agent's enter sounds
    assert model.next_timer_ms() == 240  # beep:1 is 200 ms, rounded up to 60 ms frames
    at(model, 240)
    assert cues(model) == []
    assert BEEP_DURATION_MS == {"beep:1": 200, "beep:2": 500}


def test_start_by_api_plays_no_sound():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", start_mpc_on_enter=False)
    at(model, 0)
    model.start(1000, friendly_name="demo")
    model.settle(1000)
    assert cues(model) == []


def test_enter_sound_url_and_exit_sound_heard_by_those_remaining_and_the_recording():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True)
    add(model, 0, "agent", "agent", "+1002", stay_alone=True, exit_sound="ding.wav")
    add(model, 0, "boss", "supervisor", "+1003", enter_sound="ding.wav")
    at(model, 1000)
    model.hangup(2000, model.call_uuid_of("agent"))
    model.settle(2000)
    (cue,) = cues(model)
    assert model.mix_state().source(cue).media == "ding.wav"
    matrix = build_matrix(only_call(model))
    assert cue in matrix.heard_by("customer") and cue in matrix.heard_by("recording")
    assert cue not in matrix.heard_by("agent")
    assert model.next_timer_ms() == 2300


def test_a_ringing_participant_leaving_plays_no_exit_sound():
    model = make_model()
    two_party(model)
    add(model, 1000, "late", "agent", "+1005")
    model.kick_participant(1000, "late", friendly_name="demo")
    model.settle(1000)
    assert cues(model) == []


# -- Play -------------------------------------------------------------------------------------


def test_play_reaches_its_targets_only_until_the_file_ends():
    model = make_model()
    two_party(model)
    response = model.start_play_audio(1000, "customer", friendly_name="demo", urls="promo.wav")
    assert response == {"api_id": response["api_id"], "message": "play queued into MPC",
                        "mpcMemberId": [model.member_id_of("customer")], "mpcName": "demo"}
    model.settle(1000)
    (play,) = [o for o in only_call(model).overlays if o.kind is OverlayKind.PLAY]
    assert play.targets == ("customer",)
    matrix = build_matrix(only_call(model))
    assert play.name in matrix.heard_by("customer")
    assert play.name not in matrix.heard_by("agent")
    assert play.name not in matrix.heard_by("recording")
    assert model.next_timer_ms() == 3500
    at(model, 3500)
    assert only_call(model).overlays == ()
    assert names(model.drain_events())[-2:] == ["MPCPlayStarted", "MPCPlayEnded"]


def test_play_takes_url_as_the_sdk_sends_it_and_all_members():
    model = make_model()
    two_party(model)
    response = model.start_play_audio(0, "all", friendly_name="demo", url="promo.wav")
    assert response["mpcMemberId"] == [model.member_id_of("customer"),
                                       model.member_id_of("agent")]


def test_play_refusals():
    model = make_model()
    two_party(model)
    with pytest.raises(ValidationError, match="urls is required"):
        model.start_play_audio(0, "customer", friendly_name="demo")
    with pytest.raises(ValidationError, match="differ"):
        model.start_play_audio(0, "customer", friendly_name="demo", url="a.wav", urls="b.wav")
    with pytest.raises(MediaError, match=r"Play 'missing\.wav'") as err:
        model.start_play_audio(0, "customer", friendly_name="demo", url="missing.wav")
    assert err.value.status == 400
    assert only_call(model).overlays[-1].kind is OverlayKind.CUE  # no Play was added


def test_stopping_a_play_must_use_the_form_that_started_it():
    model = make_model()
    two_party(model)
    customer = model.member_id_of("customer")
    model.start_play_audio(1000, customer, friendly_name="demo", url="promo.wav")
    with pytest.raises(ValidationError, match="form that started it") as err:
        model.stop_play_audio(1000, "all", friendly_name="demo")
    assert err.value.status == 400
    with pytest.raises(NotFoundError, match="no Play was started"):
        model.stop_play_audio(1000, "agent", friendly_name="demo")
    assert model.stop_play_audio(1200, "customer", friendly_name="demo") is None  # label = id
    model.settle(1200)
    assert [o.kind for o in only_call(model).overlays] == []
    assert model.stop_play_audio(1400, customer, friendly_name="demo") is None  # already over


def test_a_list_form_stops_with_the_same_members_in_any_order():
    model = make_model()
    two_party(model)
    model.start_play_audio(1000, "customer,agent", friendly_name="demo", url="promo.wav")
    model.stop_play_audio(1000, "agent, customer", friendly_name="demo")
    model.settle(1000)
    assert not [o for o in only_call(model).overlays if o.kind is OverlayKind.PLAY]


def test_non_strict_media_accepts_a_broken_play_reports_it_and_plays_nothing():
    model = make_model(strict_media=False)
    two_party(model)
    model.drain_events()
    response = model.start_play_audio(1000, "customer", friendly_name="demo", url="gone.mp3")
    assert response["message"] == "play queued into MPC"
    (event,) = model.drain_events()
    assert event.name == "MPCPlayFailed" and event.url is None
    assert event.params["PlayURL"] == "gone.mp3" and "no such file" in event.params["Error"]
    assert not [o for o in only_call(model).overlays if o.kind is OverlayKind.PLAY]


def test_strict_media_refuses_an_add_with_a_broken_file_and_changes_nothing():
    model = make_model(lines={"+9": Line("broken.wav", 0)})
    with pytest.raises(MediaError, match=r"the voice of line \+9: media 'broken\.wav'"):
        add(model, 0, "agent", "agent", "+9")
    with pytest.raises(MediaError, match="wait_music_url"):
        add(model, 0, "agent", "agent", "+1002", wait_music_url="nope.mp3")
    assert model.mpcs() == []
    assert model.drain_events() == []


def test_non_strict_media_falls_back_to_silence_and_default_music():
    model = make_model(lines={"+9": Line("broken.wav", 0)}, strict_media=False)
    add(model, 0, "agent", "agent", "+9", wait_music_url="nope.mp3", start_mpc_on_enter=False,
        enter_sound="gone.wav")
    model.settle(0)
    state = model.mix_state()
    assert state.source("voice:agent").media is None
    assert state.source("wait_music:agent").media == "default:wait"
    failed = [e for e in model.drain_events() if e.name == "MPCMediaFailed"]
    assert {e.params["MediaPurpose"] for e in failed} == {
        "wait_music_url", "enter_sound", "the voice of line +9"}


def test_without_a_catalog_only_beeps_are_known():
    model = make_model(media=None, lines={})
    add(model, 0, "agent", "agent", "+1")
    with pytest.raises(MediaError, match="no media catalog"):
        model.start_play_audio(0, "agent", friendly_name="demo", url="x.wav")


# -- speak events, routing integration -------------------------------------------------------


def test_speak_events_go_to_subscribers_of_participant_speak_events():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", status_callback_url="https://cb",
        status_callback_events="participant-speak-events")
    add(model, 0, "agent", "agent", "+1002")
    model.settle(0)
    model.drain_events()
    model.emit_speak_event(400, "customer", True)
    model.emit_speak_event(400, "agent", True)  # not subscribed
    model.emit_speak_event(900, "customer", False)
    model.emit_speak_event(900, "nobody", False)  # unknown: ignored
    events = model.drain_events()
    assert names(events) == ["ParticipantSpeakStart", "ParticipantSpeakStop"]
    assert events[0].url == "https://cb" and events[0].method == "GET"
    assert events[0].params["MemberID"] == model.member_id_of("customer")


def test_events_are_kept_in_time_order_when_reported_late():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001",
        status_callback_events="participant-speak-events,participant-state-changes")
    add(model, 0, "agent", "agent", "+1002")
    model.settle(0)
    model.drain_events()
    model.update_participant(1000, "customer", friendly_name="demo", mute=True)
    model.emit_speak_event(500, "customer", True)
    assert [e.at_ms for e in model.drain_events()] == [500, 1000]


def test_coaching_supervisor_never_reaches_the_customer_row():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002")
    add(model, 0, "boss", "supervisor", "+1003")
    model.settle(0)
    matrix = build_matrix(only_call(model))
    assert "voice:boss" not in matrix.heard_by("customer")
    assert "voice:boss" in matrix.heard_by("agent")
    assert "voice:boss" in matrix.heard_by("recording")
    assert only_call(model).status is MpcStatus.ACTIVE
