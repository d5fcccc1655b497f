"""Status callbacks: Plivo's event names and parameters, subscriptions, URLs, sequence numbers."""

from __future__ import annotations

from ._model_support import FROM, add, make_model, names, two_party

PARTICIPANT_FIELDS = {
    "EventName", "EventTimestamp", "MPCUUID", "MPCName", "MemberID", "MemberAddress",
    "ParticipantRole", "ParticipantCallUUID", "ParticipantCallFrom", "ParticipantCallTo",
    "ParticipantCallDirection", "ParticipantCoachMode", "SequenceNumber",
}


def test_participant_events_carry_the_documented_parameters_as_strings():
    model = make_model()
    add(model, 0, "boss", "supervisor", "+1003", status_callback_url="https://cb/boss",
        status_callback_method="POST")
    model.settle(0)
    join = next(e for e in model.drain_events() if e.name == "ParticipantJoin")
    assert (join.url, join.method, join.at_ms) == ("https://cb/boss", "POST", 0)
    assert set(join.params) == PARTICIPANT_FIELDS | {"ParticipantJoinTime"}
    assert all(isinstance(v, str) for v in join.params.values())
    assert join.params["EventName"] == "ParticipantJoin"
    assert join.params["EventTimestamp"] == "2020-01-01 00:00:00+00:00"
    assert join.params["ParticipantRole"] == "Supervisor"
    assert join.params["ParticipantCoachMode"] == "true"
    assert join.params["ParticipantCallFrom"] == FROM
    assert join.params["ParticipantCallTo"] == join.params["MemberAddress"] == "+1003"
    assert join.params["MemberID"] == model.member_id_of("boss")
    assert join.params["MPCName"] == "demo"


def test_mpc_events_go_to_every_subscribed_participant_with_its_own_fields():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", status_callback_url="https://cb/c")
    add(model, 0, "agent", "agent", "+1002", status_callback_url="https://cb/a")
    add(model, 0, "boss", "supervisor", "+1003")  # no URL
    model.settle(0)
    model.drain_events()
    model.end(1000, friendly_name="demo")
    ends = [e for e in model.drain_events() if e.name == "MPCEnd"]
    assert [e.url for e in ends] == ["https://cb/c", "https://cb/a", None]
    assert [e.params.get("MemberID") for e in ends] == [
        model.member_id_of("customer"), model.member_id_of("agent"), None]
    assert len({e.params["SequenceNumber"] for e in ends}) == 1  # one event, three deliveries
    end = ends[0].params
    assert (end["MPCTerminationCause"], end["MPCTerminationCauseCode"]) == (
        "Hangup API Triggered", "3000")
    assert (end["MPCDuration"], end["MPCBilledDuration"], end["MPCBilledAmount"]) == (
        "1", "60", "0.00500")


def test_mpc_initialized_goes_to_the_creator():
    model = make_model()
    add(model, 0, "agent", "agent", "+1004", status_callback_url="https://cb/a")
    (init,) = model.drain_events()  # add-participant-api-events is not subscribed by default
    assert init.name == "MPCInitialized" and init.url == "https://cb/a"
    assert init.params["MemberID"] == model.member_id_of("agent")


def test_subscriptions_filter_the_events():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", status_callback_events="mpc-state-changes")
    add(model, 0, "agent", "agent", "+1002", status_callback_events="participant-speak-events")
    model.settle(0)
    assert names(model.drain_events()) == ["MPCInitialized", "MPCStart"]


def test_add_participant_api_events_report_the_outcome():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True,
        status_callback_events="add-participant-api-events")
    add(model, 0, "agent", "agent", "+1005", ring_timeout=15,
        status_callback_events="add-participant-api-events")
    model.advance(15_000)
    events = model.drain_events()
    assert names(events) == ["AddParticipantByAPIActionInitiated",
                             "AddParticipantByAPIActionCompleted",
                             "AddParticipantByAPIActionInitiated",
                             "AddParticipantByAPIActionCompleted"]
    assert [e.params["AddParticipantAPIRequestOutcome"] for e in events[1::2]] == [
        "success", "failure"]
    assert events[0].params["RequestUUID"] == events[1].params["RequestUUID"]


def test_digit_input_events_once_in_the_mpc():
    model = make_model()
    two_party(model, status_callback_events="participant-digit-input-events")
    model.dtmf(1000, model.call_uuid_of("agent"), "1#")
    assert [(e.name, e.params["DigitInput"]) for e in model.drain_events()] == [
        ("ParticipantDigitInput", "1"), ("ParticipantDigitInput", "#")]


def test_exit_event_names_the_cause_and_on_exit_action_is_requested():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True,
        on_exit_action_url="https://exit", on_exit_action_method="GET")
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    model.settle(0)
    model.drain_events()
    model.kick_participant(2000, "customer", friendly_name="demo")
    exit_event, action = model.drain_events()
    assert exit_event.params["ParticipantExitCause"] == "Kicked Out of Multiparty Call"
    assert exit_event.params["ParticipantExitTime"] == "2020-01-01 00:00:02+00:00"
    assert (action.name, action.url, action.method) == ("OnExitAction", "https://exit", "GET")
    assert action.params == {
        "MPCUUID": model.mpc_uuid_of("demo"), "MPCFriendlyName": "demo",
        "MemberID": model.member_id_of("customer"),
        "ParticipantCallUUID": model.call_uuid_of("customer"),
        "ParticipantJoinTime": "2020-01-01 00:00:00+00:00",
        "ParticipantEndTime": "2020-01-01 00:00:02+00:00", "ParticipantRole": "Customer",
    }


def test_sequence_numbers_rise_per_mpc_across_every_kind_of_event():
    model = make_model()
    two_party(model)
    add(model, 0, "x", "agent", "+1002", mpc="other")
    model.start_recording(0, friendly_name="demo")
    model.settle(0)
    model.update_participant(1000, "customer", friendly_name="demo", hold=True)
    model.end(2000, friendly_name="demo")
    by_mpc: dict[str, list[int]] = {}
    for e in model.drain_events():
        by_mpc.setdefault(e.params["MPCUUID"], []).append(int(e.params["SequenceNumber"]))
    for sequence in by_mpc.values():
        assert sequence == list(range(1, len(sequence) + 1))
    assert len(by_mpc) == 2
