"""add_participant's parameters: types, ranges, and the ones mpcmix cannot honour
(docs/lifecycle.md, docs/server.md)."""

from __future__ import annotations

from typing import Any

import pytest
from mpcmix.errors import ValidationError

from ._model_support import FROM, add, make_model, mpc_of, participant

#: Every parameter the plivo SDK sends on add_participant by default (4.63), as JSON types.
SDK_DEFAULT_BODY: dict[str, Any] = {
    "role": "agent", "from": FROM, "to": "+1002", "caller_name": FROM,
    "call_status_callback_method": "POST", "confirm_key_sound_method": "GET",
    "dial_music": "real", "ring_timeout": 45, "delay_dial": 0, "max_duration": 14400,
    "max_participants": 10, "record_min_member_count": 1, "wait_music_method": "GET",
    "agent_hold_music_method": "GET", "customer_hold_music_method": "GET",
    "recording_callback_method": "GET", "status_callback_method": "GET",
    "on_exit_action_method": "POST", "record": False, "record_participant_track": False,
    "record_file_format": "mp3",
    "status_callback_events": "mpc-state-changes,participant-state-changes",
    "stay_alone": False, "coach_mode": True, "mute": False, "hold": False,
    "start_mpc_on_enter": True, "end_mpc_on_exit": False, "relay_dtmf_inputs": False,
    "enter_sound": "beep:1", "enter_sound_method": "GET", "exit_sound": "beep:2",
    "exit_sound_method": "GET", "start_recording_audio_method": "GET",
    "stop_recording_audio_method": "GET", "create_mpc_with_single_participant": True,
    "send_on_preanswer": False, "transcript": False,
}


def test_the_sdk_default_body_is_accepted():
    model = make_model()
    response = model.add_participant(0, friendly_name="demo", **SDK_DEFAULT_BODY)
    assert response["message"] == "add participant action initiated"
    assert set(response) == {"api_id", "calls", "message", "request_uuid"}


def test_form_encoded_strings_are_accepted_like_json_types():
    model = make_model()
    body = {k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in SDK_DEFAULT_BODY.items()}
    model.add_participant(0, friendly_name="demo", **body)
    assert mpc_of(model)["status"] == "Active" and mpc_of(model)["stay_alone"] is False


def test_unknown_extra_keys_are_ignored():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", participant_id="x", something_new=1)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("max_participants", 1, "max_participants must be between 2 and 10, not 1"),
        ("max_participants", 11, "max_participants must be between 2 and 10, not 11"),
        ("max_participants", "ten", "max_participants must be an integer"),
        ("max_participants", True, "max_participants must be an integer"),
        ("max_duration", 299, "max_duration must be between 300 and 28800, not 299"),
        ("max_duration", 28801, "max_duration must be between 300 and 28800, not 28801"),
        ("record_min_member_count", 0, "record_min_member_count must be between 1 and 2"),
        ("record_min_member_count", 3, "record_min_member_count must be between 1 and 2"),
        ("ring_timeout", 0, "ring_timeout must be between 1 and 28800, not 0"),
        ("ring_timeout", "30<40", "ring_timeout gives 2 values for 1 destination"),
        ("delay_dial", 28801, "delay_dial must be between 0 and 28800"),
        ("stay_alone", "maybe", "stay_alone must be true or false"),
        ("coach_mode", 1, "coach_mode must be true or false"),
        ("mute", "on", "mute must be true or false"),
        ("hold", None, None),  # None means absent: accepted
        ("start_mpc_on_enter", "nope", "start_mpc_on_enter must be true or false"),
        ("end_mpc_on_exit", 0, "end_mpc_on_exit must be true or false"),
        ("record", "x", "record must be true or false"),
        ("record_file_format", "ogg", "record_file_format must be one of mp3, wav"),
        ("confirm_key", "A", "confirm_key must be one of 0, 1"),
        ("status_callback_events", "everything", "status_callback_events may name"),
        ("status_callback_method", "PUT", "status_callback_method must be one of GET, POST"),
        ("recording_callback_method", "DELETE", "recording_callback_method must be one of"),
        ("enter_sound_method", "PATCH", "enter_sound_method must be one of GET, POST"),
        ("caller_name", "x" * 51, "caller_name must be at most 50 characters"),
        ("enter_sound", "", None),  # empty means absent: the default beep
    ],
)
def test_out_of_range_and_malformed_parameters_are_refused_naming_the_rule(param, value,
                                                                           message):
    model = make_model()
    if message is None:
        add(model, 0, "agent", "agent", "+1002", **{param: value})
        return
    with pytest.raises(ValidationError) as err:
        add(model, 0, "agent", "agent", "+1002", **{param: value})
    assert err.value.status == 400
    assert message in err.value.message
    assert model.mpcs() == []  # nothing was created


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("sip_headers", "X-Foo=bar"),
        ("relay_dtmf_inputs", True),
        ("create_mpc_with_single_participant", False),
        ("send_digits", "123"),
        ("send_on_preanswer", True),
        ("transcription_url", "https://example.com/t"),
        ("transcript", "true"),
        ("dial_music", "https://example.com/ring.mp3"),
    ],
)
def test_parameters_mpcmix_cannot_honour_are_refused_unless_at_their_default(param, value):
    model = make_model()
    with pytest.raises(ValidationError) as err:
        add(model, 0, "agent", "agent", "+1002", **{param: value})
    assert err.value.status == 400
    assert param in err.value.message
    assert "not supported by mpcmix" in err.value.message


def test_from_and_to_are_required_unless_transferring_a_call():
    model = make_model()
    with pytest.raises(ValidationError, match="to is required"):
        model.add_participant(0, friendly_name="demo", role="agent", **{"from": FROM})
    with pytest.raises(ValidationError, match="from is required"):
        model.add_participant(0, friendly_name="demo", role="agent", to="+1002")
    with pytest.raises(ValidationError, match="empty destination"):
        add(model, 0, "agent", "agent", "+1002<")


def test_ring_timeouts_per_destination():
    model = make_model()
    add(model, 0, "agent", "agent", "+1005<+1005", ring_timeout="20<30")
    model.advance(20_000)
    assert participant(model, "agent")["exit_time"] is None  # the second leg still rings
    model.advance(30_000)
    assert participant(model, "agent")["exit_cause"] == "Participant Call Hangup"


def test_sound_keywords_are_case_insensitive_and_none_is_silence():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", enter_sound="NONE")
    model.settle(0)
    assert model.mix_state().calls[0].overlays == ()
    add(model, 0, "agent", "agent", "+1002", enter_sound="Beep:2")
    model.settle(0)
    (cue,) = model.mix_state().calls[0].overlays
    assert model.mix_state().source(cue.name).media == "beep:2"


def test_list_parameters_are_checked():
    model = make_model()
    with pytest.raises(ValidationError, match="limit must be between 1 and 20, not 21"):
        model.list(0, limit=21)
    with pytest.raises(ValidationError, match="limit must be between 1 and 20, not 0"):
        model.list(0, limit="0")
    with pytest.raises(ValidationError, match="offset must be at least 0"):
        model.list(0, offset=-1)
    with pytest.raises(ValidationError, match="status must be one of initialized, active"):
        model.list(0, status="running")
    with pytest.raises(ValidationError, match="end_time__gt must look like"):
        model.list(0, end_time__gt="yesterday")
    with pytest.raises(ValidationError, match="termination_cause_code must be an integer"):
        model.list(0, termination_cause_code="x")
    with pytest.raises(ValidationError, match="end_time must look like"):
        model.list(0, end_time="yesterday")  # never ignored: the API's own filter name
    with pytest.raises(ValidationError, match="creation_time__lte is not a valid date"):
        model.list(0, creation_time__lte="2021-02-30 10:00")


def test_time_must_move_forward_on_frame_boundaries():
    model = make_model()
    add(model, 1000, "agent", "agent", "+1002")
    with pytest.raises(ValueError, match="time goes forward only"):
        model.get(980, friendly_name="demo")
    with pytest.raises(ValueError, match="not on a frame boundary"):
        model.get(1010, friendly_name="demo")


def test_call_status_callbacks_report_each_leg_ringing_in_progress_and_completed():
    model = make_model()
    url = "https://example.com/call-status"
    add(model, 0, "c", "customer", "+1001", stay_alone=True)
    add(model, 0, "a", "agent", "+1004", call_status_callback_url=url)
    add(model, 0, "n", "agent", "+1005", call_status_callback_url=url,
        call_status_callback_method="GET", ring_timeout=15)
    model.advance(1000)
    model.settle(1000)
    model.hangup(3000, participant(model, "a")["call_uuid"])
    model.settle(3000)
    model.advance(15000)
    model.settle(15000)
    calls = [(e.at_ms, e.params["CallStatus"], e.params["To"], e.method)
             for e in model.drain_events() if e.name == "CallStatus"]
    assert calls == [
        (0, "ringing", "+1004", "POST"),
        (0, "ringing", "+1005", "GET"),
        (1000, "in-progress", "+1004", "POST"),
        (3000, "completed", "+1004", "POST"),
        (15000, "no-answer", "+1005", "GET"),
    ]
