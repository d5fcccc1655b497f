"""The MPC lifecycle (docs/lifecycle.md): creation, activation, every termination cause and exit cause."""

from __future__ import annotations

import pytest
from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.model import Line

from ._model_support import add, at, make_model, mpc_of, names, participant, two_party


def test_adding_to_a_new_name_creates_an_initialized_mpc_with_the_participant_listed():
    model = make_model()
    add(model, 0, "agent", "agent", "+1004")  # rings for a second
    model.settle(0)
    mpc = mpc_of(model)
    assert mpc["status"] == "Initialized"
    assert mpc["start_time"] is None
    listed = model.list_participants(0, friendly_name="demo")["objects"]
    assert [p["member_id"] for p in listed] == [model.member_id_of("agent")]
    assert participant(model, "agent")["join_time"] is None


def test_first_start_mpc_on_enter_participant_activates_at_its_answer_time():
    model = make_model()
    add(model, 0, "agent", "agent", "+1004")  # answers at 1000 ms
    at(model, 500)
    assert mpc_of(model)["status"] == "Initialized"
    at(model, 1000)
    mpc = mpc_of(model)
    assert mpc["status"] == "Active"
    assert mpc["start_time"] == "2020-01-01 00:00:01+00:00"
    assert participant(model, "agent")["join_time"] == "2020-01-01 00:00:01+00:00"


def test_answer_time_is_rounded_up_to_a_frame_boundary():
    model = make_model(lines={"+9": Line(None, 1010)}, frame_ms=40)
    add(model, 0, "agent", "agent", "+9")
    assert model.next_timer_ms() == 1040


def test_participants_without_start_mpc_on_enter_wait_until_start():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", start_mpc_on_enter=False)
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter="false")
    at(model, 0)
    assert mpc_of(model)["status"] == "Initialized"
    assert model.start(2000, friendly_name="demo", status=["active"]) is None  # the API's 204
    model.settle(2000)
    assert mpc_of(model)["status"] == "Active"
    assert mpc_of(model)["start_time"] == "2020-01-01 00:00:02+00:00"


@pytest.mark.parametrize("status", ["active", "Active", "ACTIVE", ["active"]])
def test_start_accepts_active_in_any_case_and_as_a_one_element_list(status):
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter=False)
    model.start(0, friendly_name="demo", status=status)
    assert mpc_of(model)["status"] == "Active"


def test_start_refusals():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter=False)
    with pytest.raises(ValidationError, match="status must be one of active") as err:
        model.start(0, friendly_name="demo", status="ended")
    assert err.value.status == 400
    with pytest.raises(ValidationError, match="status is required"):
        model.start(0, friendly_name="demo", status=None)
    model.start(0, friendly_name="demo")
    # The API: 404 when the MPC is not found in the Initialized state.
    with pytest.raises(NotFoundError, match="not in the Initialized state") as err:
        model.start(0, friendly_name="demo")
    assert err.value.status == 404
    with pytest.raises(NotFoundError, match="no live MPC named 'nope'") as err:
        model.start(0, friendly_name="nope")
    assert err.value.status == 404


def test_status_never_goes_back_and_a_new_mpc_takes_the_name_after_the_end():
    model = make_model()
    two_party(model)
    first = model.mpc_uuid_of("demo")
    model.end(1000, friendly_name="demo")
    model.settle(1000)
    assert model.get(1000, uuid=first)["status"] == "Ended"
    with pytest.raises(NotFoundError):
        model.get(1000, friendly_name="demo")
    add(model, 2000, "customer2", "customer", "+1001")
    model.settle(2000)
    second = model.mpc_uuid_of("demo")
    assert second != first
    assert model.get(2000, uuid=first)["status"] == "Ended"
    assert model.mpcs() == [first, second]


def test_lookups_by_name_only_while_live_and_by_uuid_always():
    model = make_model()
    two_party(model)
    uuid = model.mpc_uuid_of("demo")
    assert model.get(0, friendly_name="demo")["mpc_uuid"] == uuid
    model.end(1000, uuid=uuid)
    with pytest.raises(NotFoundError, match="a name finds an MPC only while it is live"):
        model.get(1000, friendly_name="demo")
    with pytest.raises(NotFoundError):
        model.list_participants(1000, friendly_name="demo")
    assert model.get(1000, uuid=uuid)["termination_cause_code"] == 3000
    assert len(model.list_participants(1000, uuid=uuid)["objects"]) == 2


def test_operations_on_an_ended_mpc_by_uuid_are_404():
    model = make_model()
    two_party(model)
    uuid = model.mpc_uuid_of("demo")
    member = model.member_id_of("agent")
    model.end(1000, uuid=uuid)
    for call in (
        lambda: model.end(1000, uuid=uuid),
        lambda: model.start(1000, uuid=uuid),
        lambda: model.update_participant(1000, member, uuid=uuid, mute=True),
        lambda: model.kick_participant(1000, member, uuid=uuid),
        lambda: model.start_recording(1000, uuid=uuid),
        lambda: model.start_play_audio(1000, member, uuid=uuid, url="promo.wav"),
        lambda: model.add_participant(1000, uuid=uuid, role="agent",
                                      **{"from": "+1", "to": "+1002"}),
    ):
        with pytest.raises(NotFoundError, match="has ended") as err:
            call()
        assert err.value.status == 404


def test_mpc_is_named_by_exactly_one_of_friendly_name_or_uuid():
    model = make_model()
    two_party(model)
    uuid = model.mpc_uuid_of("demo")
    with pytest.raises(ValidationError, match="exactly one of friendly_name or uuid"):
        model.get(0, friendly_name="demo", uuid=uuid)
    with pytest.raises(ValidationError, match="exactly one of friendly_name or uuid"):
        model.get(0)
    with pytest.raises(NotFoundError, match="no MPC with uuid"):
        model.get(0, uuid="00000000-0000-4000-8000-000000000000")


# -- termination causes -------------------------------------------------------------------------


def test_1000_no_active_participants_when_the_last_participant_exits():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002")
    model.settle(0)
    model.hangup(3000, model.call_uuid_of("agent"))
    model.settle(3000)
    mpc = model.get(3000, uuid=model.mpc_uuid_of_member("agent"))
    assert (mpc["termination_cause"], mpc["termination_cause_code"]) == (
        "No Active Participants", 1000)
    assert mpc["end_time"] == "2020-01-01 00:00:03+00:00"
    assert mpc["duration"] == 3


def test_1000_also_ends_an_mpc_that_never_became_active():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002", start_mpc_on_enter=False)
    model.settle(0)
    model.kick_participant(1000, "agent", friendly_name="demo")
    model.settle(1000)
    mpc = model.get(1000, uuid=model.mpc_uuid_of_member("agent"))
    assert mpc["status"] == "Ended"
    assert mpc["termination_cause_code"] == 1000
    assert mpc["start_time"] is None
    assert mpc["duration"] == 0
    assert mpc["billed_duration"] == 60


def test_1010_stay_alone_not_permitted_when_one_is_left_after_company():
    model = make_model()
    two_party(model)
    model.hangup(5000, model.call_uuid_of("customer"))
    model.settle(5000)
    mpc = model.get(5000, uuid=model.mpc_uuid_of_member("agent"))
    assert (mpc["termination_cause"], mpc["termination_cause_code"]) == (
        "Stay Alone Not Permitted", 1010)
    agent = participant(model, "agent")
    assert agent["exit_cause"] == "Multiparty Call Ended"
    assert agent["exit_time"] == mpc["end_time"] == "2020-01-01 00:00:05+00:00"


def test_1010_does_not_apply_to_a_participant_allowed_to_stay_alone():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    model.settle(0)
    model.hangup(5000, model.call_uuid_of("customer"))
    model.settle(5000)
    assert mpc_of(model)["status"] == "Active"


def test_a_participant_that_never_had_company_may_stay_alone():
    model = make_model()
    add(model, 0, "agent", "agent", "+1002")
    at(model, 0)
    at(model, 60000)
    assert mpc_of(model)["status"] == "Active"


def test_held_and_muted_participants_count_as_present_for_the_stay_alone_rule():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002")
    add(model, 0, "boss", "supervisor", "+1003")
    model.settle(0)
    model.update_participant(1000, "customer", friendly_name="demo", hold=True)
    model.update_participant(1000, "boss", friendly_name="demo", mute=True)
    model.settle(1000)
    model.hangup(2000, model.call_uuid_of("agent"))
    model.settle(2000)
    assert mpc_of(model)["status"] == "Active"  # the held customer and muted boss remain


def test_ringing_participants_do_not_count_as_present_and_exit_without_join_time():
    model = make_model()
    two_party(model)
    add(model, 1000, "late", "agent", "+1005")  # never answers
    model.settle(1000)
    model.hangup(2000, model.call_uuid_of("customer"))
    model.settle(2000)
    mpc = model.get(2000, uuid=model.mpc_uuid_of_member("agent"))
    assert mpc["termination_cause_code"] == 1010
    late = participant(model, "late")
    assert late["exit_cause"] == "Multiparty Call Ended"
    assert late["join_time"] is None
    assert late["billed_duration"] is None and late["billed_amount"] is None


def test_changes_at_one_boundary_apply_together_before_the_ending_rules():
    model = make_model()
    two_party(model)
    # At 3000 ms the customer hangs up and a new participant answers at once: the agent is not
    # alone after the boundary, so 1010 does not apply.
    model.hangup(3000, model.call_uuid_of("customer"))
    add(model, 3000, "boss", "supervisor", "+1003")
    model.settle(3000)
    assert mpc_of(model)["status"] == "Active"


def test_2000_max_duration_reached_counts_from_creation():
    model = make_model()
    add(model, 0, "agent", "agent", "+1004", max_duration=300)  # answers at 1 s
    add(model, 0, "customer", "customer", "+1001")
    model.settle(0)
    at(model, 299_980)
    assert mpc_of(model)["status"] == "Active"
    at(model, 300_000)
    mpc = model.get(300_000, uuid=model.mpc_uuid_of_member("agent"))
    assert (mpc["termination_cause"], mpc["termination_cause_code"]) == (
        "Max Duration Reached", 2000)
    assert mpc["end_time"] == "2020-01-01 00:05:00+00:00"
    assert mpc["duration"] == 300


def test_max_duration_fires_when_time_jumps_past_it():
    model = make_model()
    two_party(model, max_duration="600")
    at(model, 3_600_000)  # one hour later, in one step
    mpc = model.get(3_600_000, uuid=model.mpc_uuid_of_member("agent"))
    assert mpc["end_time"] == "2020-01-01 00:10:00+00:00"
    assert mpc["termination_cause_code"] == 2000


def test_3000_hangup_api_triggered_by_end_and_by_its_sdk_alias_stop():
    for op in ("end", "stop"):
        model = make_model()
        two_party(model)
        assert getattr(model, op)(4000, friendly_name="demo") is None
        model.settle(4000)
        mpc = model.get(4000, uuid=model.mpc_uuid_of_member("agent"))
        assert (mpc["termination_cause"], mpc["termination_cause_code"]) == (
            "Hangup API Triggered", 3000)
        for label in ("customer", "agent"):
            p = participant(model, label)
            assert p["exit_cause"] == "Multiparty Call Ended"
            assert p["exit_time"] == mpc["end_time"]


def test_end_mpc_on_exit_ends_the_mpc_at_once_with_no_active_participants():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002", end_mpc_on_exit=True)
    add(model, 0, "boss", "supervisor", "+1003")
    model.settle(0)
    model.hangup(2000, model.call_uuid_of("agent"))
    # ended at once, before settle
    mpc = model.get(2000, uuid=model.mpc_uuid_of_member("agent"))
    assert mpc["status"] == "Ended"
    assert (mpc["termination_cause"], mpc["termination_cause_code"]) == (
        "No Active Participants", 1000)
    assert participant(model, "agent")["exit_cause"] == "Participant Call Hangup"
    assert participant(model, "customer")["exit_cause"] == "Multiparty Call Ended"
    assert participant(model, "boss")["exit_cause"] == "Multiparty Call Ended"


def test_end_mpc_on_exit_of_a_participant_that_never_joined_does_not_end_the_mpc():
    model = make_model()
    two_party(model)
    add(model, 1000, "late", "agent", "+1005", end_mpc_on_exit=True)
    model.settle(1000)
    model.kick_participant(2000, "late", friendly_name="demo")
    model.settle(2000)
    assert mpc_of(model)["status"] == "Active"


def test_an_ended_mpc_never_has_a_null_termination_cause():
    model = make_model()
    two_party(model)
    model.end(1000, friendly_name="demo")
    listed = model.list(1000, status="ended")["objects"]
    assert listed and all(o["termination_cause"] and o["termination_cause_code"] for o in listed)


# -- exit causes --------------------------------------------------------------------------------


def test_exit_cause_participant_call_hangup():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    model.settle(0)
    model.hangup(1000, model.call_uuid_of("customer"))
    assert participant(model, "customer")["exit_cause"] == "Participant Call Hangup"


def test_exit_cause_kicked_out_of_multiparty_call():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    model.settle(0)
    assert model.kick_participant(1000, model.member_id_of("customer"),
                                  friendly_name="demo") is None
    assert participant(model, "customer")["exit_cause"] == "Kicked Out of Multiparty Call"


def test_exit_cause_multiparty_call_ended():
    model = make_model()
    two_party(model)
    model.end(1000, friendly_name="demo")
    assert participant(model, "customer")["exit_cause"] == "Multiparty Call Ended"


def test_exit_cause_participant_call_transferred_moves_the_call_to_another_mpc():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True)
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    model.settle(0)
    call = model.call_uuid_of("customer")
    response = model.add_participant(2000, friendly_name="other", label="customer_there",
                                     role="customer", call_uuid=call)
    assert response["calls"] == [{"to": "+1001", "from": "+14155550000", "call_uuid": call}]
    model.settle(2000)
    assert participant(model, "customer")["exit_cause"] == "Participant Call Transferred"
    moved = participant(model, "customer_there")
    assert moved["call_uuid"] == call
    assert moved["join_time"] == "2020-01-01 00:00:02+00:00"
    # the phone's voice carries on from its original answer time
    state = model.mix_state()
    assert state.source("voice:customer_there").start_ms == 0
    assert model.member_of_call(call) == model.member_id_of("customer_there")


def test_transfer_refusals():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1005")  # never answers
    model.settle(0)
    with pytest.raises(NotFoundError, match="not a live call"):
        model.add_participant(0, friendly_name="x", role="agent", call_uuid="nope")
    with pytest.raises(ValidationError, match="still ringing"):
        model.add_participant(0, friendly_name="x", role="agent",
                              call_uuid=model.call_uuid_of("agent"))
    with pytest.raises(ValidationError, match="already in MPC 'demo'"):
        model.add_participant(0, friendly_name="demo", role="customer",
                              call_uuid=model.call_uuid_of("customer"))
    with pytest.raises(ValidationError, match="not both"):
        model.add_participant(0, friendly_name="x", role="agent", call_uuid="c",
                              **{"from": "+1", "to": "+2"})


# -- ringing, answering, confirm keys ------------------------------------------------------------


def test_a_line_that_never_answers_exits_at_ring_timeout_with_call_hangup():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True)
    add(model, 0, "agent", "agent", "+1005", ring_timeout=20)
    model.settle(0)
    at(model, 200)  # the customer's enter sound ends
    assert model.next_timer_ms() == 20_000
    at(model, 20_000)
    agent = participant(model, "agent")
    assert agent["exit_cause"] == "Participant Call Hangup"
    assert agent["exit_time"] == "2020-01-01 00:00:20+00:00"
    assert agent["join_time"] is None
    assert (agent["duration"], agent["billed_duration"], agent["billed_amount"]) == (
        None, None, None)


def test_a_line_answering_after_its_ring_timeout_never_joins():
    model = make_model(lines={"+9": Line(None, 50_000)})
    add(model, 0, "agent", "agent", "+9")  # ring_timeout 45 s by default
    at(model, 45_000)
    assert participant(model, "agent")["exit_cause"] == "Participant Call Hangup"


def test_far_end_answer_answers_a_ringing_call_now():
    model = make_model()
    add(model, 0, "agent", "agent", "+1005")
    model.answer(3000, model.call_uuid_of("agent"))
    model.settle(3000)
    assert participant(model, "agent")["join_time"] == "2020-01-01 00:00:03+00:00"
    with pytest.raises(ValidationError, match="already answered"):
        model.answer(3000, model.call_uuid_of("agent"))
    with pytest.raises(NotFoundError, match="no call with call_uuid"):
        model.answer(3000, "unknown")


def test_far_end_hangup_of_an_ended_call_is_no_error():
    model = make_model()
    two_party(model)
    call = model.call_uuid_of("customer")
    model.end(1000, friendly_name="demo")
    assert model.hangup(2000, call) is None


def test_confirm_key_participant_enters_only_after_its_key():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002", confirm_key="5",
        confirm_key_sound_url="confirm.wav")
    model.settle(0)
    assert participant(model, "agent")["join_time"] is None
    call = model.call_uuid_of("agent")
    model.dtmf(1000, call, "1")  # another key does nothing
    model.settle(1000)
    assert participant(model, "agent")["join_time"] is None
    model.dtmf(2000, call, "35")
    model.settle(2000)
    assert participant(model, "agent")["join_time"] == "2020-01-01 00:00:02+00:00"


def test_a_participant_awaiting_its_confirm_key_is_not_present():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001")
    add(model, 0, "agent", "agent", "+1002")
    add(model, 0, "boss", "supervisor", "+1003", confirm_key="#")
    model.settle(0)
    model.hangup(1000, model.call_uuid_of("customer"))
    model.settle(1000)
    # the agent is alone among those who entered: 1010, and the boss exits without joining
    assert participant(model, "boss")["join_time"] is None
    assert participant(model, "boss")["exit_cause"] == "Multiparty Call Ended"


def test_dtmf_refusals():
    model = make_model()
    add(model, 0, "agent", "agent", "+1005")
    call = model.call_uuid_of("agent")
    with pytest.raises(ValidationError, match="is ringing"):
        model.dtmf(0, call, "1")
    with pytest.raises(ValidationError, match="0-9, # and \\* only"):
        model.dtmf(0, call, "x")


def test_parallel_dialing_takes_the_first_destination_to_answer():
    model = make_model()
    response = add(model, 0, "agent", "agent", "+1005<+1006<+1004")
    assert [c["to"] for c in response["calls"]] == ["+1005", "+1006", "+1004"]
    answering = response["calls"][2]["call_uuid"]  # +1004 answers after 1 s
    at(model, 1000)
    agent = participant(model, "agent")
    assert agent["call_uuid"] == answering
    assert agent["join_time"] == "2020-01-01 00:00:01+00:00"


def test_parallel_dialing_is_for_agents_only():
    model = make_model()
    with pytest.raises(ValidationError, match="allowed for role agent only"):
        add(model, 0, "c", "customer", "+1001<+1002")


def test_delay_dial_postpones_the_answer():
    model = make_model()
    add(model, 0, "agent", "agent", "+1004", delay_dial=2)
    assert model.next_timer_ms() == 3000


def test_max_participants_counts_ringing_ones_until_they_exit():
    model = make_model()
    add(model, 0, "a", "agent", "+1002", max_participants=2)
    add(model, 0, "b", "customer", "+1005")  # ringing, counts
    with pytest.raises(ValidationError, match="max_participants \\(2\\)") as err:
        add(model, 0, "c", "customer", "+1001")
    assert err.value.status == 400
    model.kick_participant(1000, "b", friendly_name="demo")
    add(model, 1000, "c", "customer", "+1001")


def test_mpc_settings_come_from_the_creating_call():
    model = make_model()
    add(model, 0, "a", "agent", "+1002", max_participants=3, max_duration=600, stay_alone=True)
    add(model, 0, "b", "customer", "+1001", max_participants=10, max_duration=900,
        stay_alone=False)
    assert mpc_of(model)["stay_alone"] is True
    add(model, 0, "c", "customer", "+1001", max_participants=10)
    with pytest.raises(ValidationError, match="max_participants \\(3\\)"):
        add(model, 0, "d", "customer", "+1001")
    uuid = model.mpc_uuid_of("demo")
    at(model, 600_000)
    ended = model.get(600_000, uuid=uuid)
    assert (ended["termination_cause_code"], ended["end_time"]) == (2000, "2020-01-01 00:10:00+00:00")


def test_events_of_a_simple_call_in_order():
    model = make_model()
    two_party(model)
    model.hangup(2000, model.call_uuid_of("customer"))
    model.settle(2000)
    assert names(model.drain_events()) == [
        "MPCInitialized", "ParticipantJoin", "MPCStart", "ParticipantJoin",
        "ParticipantExit", "ParticipantExit", "MPCEnd",
    ]
