"""Recordings: MPC and participant recordings, their start condition, pauses, and callbacks."""

from __future__ import annotations

import pytest
from mpcmix.errors import ValidationError

from ._model_support import AUTH_ID, add, at, make_model, mpc_of, names, two_party

#: The parameters the API lists for the MPC's recording callbacks, and for a participant's.
RECORDING_PARAMS = {
    "EventName", "EventTimestamp", "MPCName", "MPCUUID", "RecordingDuration", "RecordingFormat",
    "RecordingResourceURL", "RecordingURL", "RecordingUUID", "RecordingStartTime",
    "RecordingEndTime", "SequenceNumber",
}
PARTICIPANT_RECORDING_PARAMS = RECORDING_PARAMS - {"MPCName", "MPCUUID"} | {"MemberID"}


def recording_events(model):
    return [e for e in model.drain_events() if "Recording" in e.name]


def test_start_recording_response_and_url():
    model = make_model()
    two_party(model)
    response = model.start_recording(1000, friendly_name="demo", file_format="wav")
    assert set(response) == {"api_id", "message", "recording_id", "recording_url"}
    assert response["message"] == "MPC: demo record started"
    assert response["recording_url"] == (
        f"https://media.plivo.com/v1/Account/{AUTH_ID}/Recording/"
        f"{response['recording_id']}.wav")
    assert mpc_of(model)["recording"] == "recording"


def test_recording_url_base_is_configurable():
    model = make_model(recording_url_base="http://127.0.0.1:8080/rec/{auth_id}/")
    two_party(model)
    response = model.start_recording(0, friendly_name="demo")
    assert response["recording_url"].startswith(f"http://127.0.0.1:8080/rec/{AUTH_ID}/")
    assert response["recording_url"].endswith(".mp3")


def test_recording_status_through_pause_resume_and_stop():
    model = make_model()
    two_party(model)
    model.start_recording(1000, friendly_name="demo")
    assert model.pause_recording(2000, friendly_name="demo") is None
    assert mpc_of(model)["recording"] == "paused"
    assert model.resume_recording(3000, friendly_name="demo") is None
    assert mpc_of(model)["recording"] == "recording"
    assert model.stop_recording(4000, friendly_name="demo") is None
    assert mpc_of(model)["recording"] == "not-recording"


def test_recording_refusals():
    model = make_model()
    two_party(model)
    for op, message in (("stop_recording", "is not being recorded"),
                        ("pause_recording", "no running recording to pause"),
                        ("resume_recording", "no paused recording to resume")):
        with pytest.raises(ValidationError, match=message) as err:
            getattr(model, op)(0, friendly_name="demo")
        assert err.value.status == 400
    model.start_recording(0, friendly_name="demo")
    with pytest.raises(ValidationError, match="already being recorded"):
        model.start_recording(0, friendly_name="demo")
    with pytest.raises(ValidationError, match="file_format must be one of mp3, wav"):
        model.start_recording(0, friendly_name="demo", file_format="ogg")


def test_paused_spans_are_left_out_of_the_duration_and_events_carry_the_api_parameters():
    model = make_model()
    two_party(model)
    model.drain_events()
    rid = model.start_recording(1000, friendly_name="demo", recording_callback_url="https://r",
                                recording_callback_method="POST")["recording_id"]
    model.settle(1000)
    model.pause_recording(3000, friendly_name="demo")
    model.resume_recording(5000, friendly_name="demo")
    model.stop_recording(8000, friendly_name="demo")
    events = recording_events(model)
    assert names(events) == ["MPCRecordingInitiated", "MPCRecordingPaused",
                             "MPCRecordingResumed", "MPCRecordingCompleted"]
    for e in events:
        assert set(e.params) == RECORDING_PARAMS
        assert (e.url, e.method) == ("https://r", "POST")
        assert e.params["RecordingUUID"] == rid
    done = events[-1].params
    assert done["RecordingDuration"] == "5"  # 1-3 s and 5-8 s
    assert done["RecordingStartTime"] == "2020-01-01 00:00:01+00:00"
    assert done["RecordingEndTime"] == "2020-01-01 00:00:08+00:00"
    assert done["RecordingFormat"] == "mp3"
    sequence = [int(e.params["SequenceNumber"]) for e in events]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)


def test_the_file_begins_when_record_min_member_count_participants_are_in_conference():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", record_min_member_count=2)
    model.settle(0)
    model.start_recording(1000, friendly_name="demo")
    model.settle(1000)
    (spec,) = model.mix_state().recordings
    assert spec.capturing is False
    add(model, 2000, "customer", "customer", "+1004")  # answers at 3000 ms
    at(model, 3000)
    (spec,) = model.mix_state().recordings
    assert spec.capturing is True
    model.stop_recording(9000, friendly_name="demo")
    (initiated, completed) = recording_events(model)
    assert initiated.params["RecordingStartTime"] == "2020-01-01 00:00:03+00:00"
    assert completed.params["RecordingDuration"] == "6"


def test_a_held_participant_is_not_in_conference_for_the_member_count():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", record_min_member_count=2)
    add(model, 0, "customer", "customer", "+1001", hold=True)
    model.settle(0)
    model.start_recording(0, friendly_name="demo")
    model.settle(0)
    assert model.mix_state().recordings[0].capturing is False
    model.update_participant(1000, "customer", friendly_name="demo", hold=False)
    model.settle(1000)
    assert model.mix_state().recordings[0].capturing is True


def test_once_begun_the_file_runs_even_when_members_drop_below_the_count():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", record_min_member_count=2, stay_alone=True)
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    model.settle(0)
    model.start_recording(0, friendly_name="demo")
    model.settle(0)
    model.update_participant(1000, "customer", friendly_name="demo", hold=True)
    model.settle(1000)
    assert model.mix_state().recordings[0].capturing is True


def test_a_recording_that_never_began_reports_failed_on_stop():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter=False)
    model.start_recording(0, friendly_name="demo")
    model.settle(0)
    model.stop_recording(1000, friendly_name="demo")
    (failed,) = recording_events(model)
    assert failed.name == "MPCRecordingFailed"
    assert failed.params["RecordingStartTime"] == ""


def test_recording_completes_when_the_mpc_ends_and_leaves_the_snapshot():
    model = make_model()
    two_party(model)
    model.start_recording(0, friendly_name="demo")
    model.settle(0)
    assert len(model.mix_state().recordings) == 1
    model.end(4000, friendly_name="demo")
    assert model.mix_state().recordings == ()
    assert names(recording_events(model)) == ["MPCRecordingInitiated", "MPCRecordingCompleted"]


def test_recording_callback_defaults_to_the_mpc_setting():
    model = make_model()
    two_party(model, recording_callback_url="https://mpc-rec", recording_callback_method="GET")
    model.start_recording(0, friendly_name="demo")
    model.settle(0)
    (event,) = recording_events(model)
    assert (event.url, event.method) == ("https://mpc-rec", "GET")


def test_record_true_on_the_creating_add_records_the_mpc():
    model = make_model()
    two_party(model, record=True, record_file_format="wav")
    (spec,) = model.mix_state().recordings
    assert (spec.track, spec.file_format, spec.capturing, spec.member) == (
        "conference", "wav", True, None)
    assert mpc_of(model)["recording"] == "recording"


def test_participant_recording_tracks():
    model = make_model()
    two_party(model)
    response = model.start_participant_recording(0, "agent", friendly_name="demo",
                                                 record_track_type="both", file_format="wav")
    assert response["recording_url"].endswith(f"{response['recording_id']}.wav")
    model.settle(0)
    specs = model.mix_state().recordings
    assert [(s.track, s.member, s.recording_id) for s in specs] == [
        ("participant", "agent", response["recording_id"]),
        ("all", "agent", response["recording_id"]),
    ]
    assert all(s.capturing for s in specs)
    model.pause_participant_recording(1000, "agent", friendly_name="demo",
                                      record_track_type="participant")
    assert [s.capturing for s in model.mix_state().recordings] == [False, True]
    model.resume_participant_recording(2000, "agent", friendly_name="demo",
                                       record_track_type="participant")
    model.stop_participant_recording(3000, "agent", friendly_name="demo",
                                     record_track_type="both")
    assert model.mix_state().recordings == ()
    events = recording_events(model)
    # Two tracks, one recording_id: each track's Initiated, Paused/Resumed (participant only)
    # and Completed, named as the API names participant-recording events.
    assert sorted(names(events)) == sorted([
        "ParticipantRecordingInitiated", "ParticipantRecordingInitiated",
        "ParticipantRecordingPaused", "ParticipantRecordingResumed",
        "ParticipantRecordingCompleted", "ParticipantRecordingCompleted"])
    assert all(set(e.params) == PARTICIPANT_RECORDING_PARAMS for e in events)
    assert all(e.params["MemberID"] == model.member_id_of("agent") for e in events)
    assert {e.params["RecordingResourceURL"] for e in events} == {
        f"https://api.plivo.com/v1/Account/{AUTH_ID}/Recording/{response['recording_id']}/"}


def test_participant_recording_refusals():
    model = make_model()
    two_party(model)
    with pytest.raises(ValidationError, match="record_track_type must be one of"):
        model.start_participant_recording(0, "agent", friendly_name="demo",
                                          record_track_type="mixed")
    with pytest.raises(ValidationError, match="name one member here"):
        model.start_participant_recording(0, "agent,customer", friendly_name="demo")
    with pytest.raises(ValidationError, match="not allowed here"):
        model.start_participant_recording(0, "all", friendly_name="demo")
    with pytest.raises(ValidationError, match="no recording of record_track_type all to stop"):
        model.stop_participant_recording(0, "agent", friendly_name="demo")
    model.start_participant_recording(0, "agent", friendly_name="demo")
    with pytest.raises(ValidationError, match="already being recorded"):
        model.start_participant_recording(0, "agent", friendly_name="demo",
                                          record_track_type="both")
    with pytest.raises(ValidationError, match="to resume \\(recording\\)"):
        model.resume_participant_recording(0, "agent", friendly_name="demo")


def test_a_participant_recording_begins_when_the_participant_enters_and_ends_when_it_exits():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True)
    add(model, 0, "agent", "agent", "+1004", stay_alone=True)  # answers at 1000 ms
    model.start_participant_recording(0, "agent", friendly_name="demo",
                                      record_track_type="participant")
    model.settle(0)
    assert model.mix_state().recordings[0].capturing is False
    at(model, 1000)
    assert model.mix_state().recordings[0].capturing is True
    model.hangup(4000, model.call_uuid_of("agent"))
    assert model.mix_state().recordings == ()
    _, completed = recording_events(model)
    assert completed.params["RecordingDuration"] == "3"


def test_record_participant_track_on_add_records_that_participant():
    model = make_model()
    two_party(model, record_participant_track=True)
    specs = model.mix_state().recordings
    assert [(s.member, s.track) for s in specs] == [("customer", "participant"),
                                                   ("agent", "participant")]
