"""Participants: update (mute, hold, coach_mode), kick, member forms, labels and look-ups."""

from __future__ import annotations

import pytest
from mpcmix.errors import NotFoundError, ValidationError

from ._model_support import add, make_model, names, participant, two_party


def three_party(model, **params):
    add(model, 0, "customer", "customer", "+1001", **params)
    add(model, 0, "agent", "agent", "+1002", **params)
    add(model, 0, "boss", "supervisor", "+1003", **params)
    model.settle(0)
    model.drain_events()


def test_update_response_names_each_setting_given():
    model = make_model()
    three_party(model)
    assert set(model.update_participant(0, "customer", friendly_name="demo", mute=True)) == {
        "api_id", "mute"}
    response = model.update_participant(0, "boss", friendly_name="demo", mute=False, hold=True,
                                        coach_mode=False)
    # The recorded bodies' own spelling (docs/conformance.md: "succeded", sic).
    assert response["mute"] == "MPC: demo mute/unmute member(s) succeded"
    assert response["hold"] == "MPC: demo hold/unhold member(s) succeded"
    assert response["coach_mode"] == "MPC: demo coach_mode enable/disable succeeded"


def test_mute_hold_and_coach_mode_show_in_the_participant_and_in_events():
    model = make_model()
    three_party(model)
    model.update_participant(1000, "customer", friendly_name="demo", mute="true")
    model.update_participant(1000, "agent", friendly_name="demo", hold=True)
    model.update_participant(1000, "boss", friendly_name="demo", coach_mode=False)
    assert participant(model, "customer")["mute"] is True
    assert participant(model, "agent")["hold"] is True
    assert participant(model, "boss")["coach_mode"] is False
    model.update_participant(2000, "customer", friendly_name="demo", mute=False)
    model.update_participant(2000, "agent", friendly_name="demo", hold=False)
    model.update_participant(2000, "boss", friendly_name="demo", coach_mode=True)
    assert names(model.drain_events()) == [
        "ParticipantMute", "ParticipantHold", "ParticipantCoachModeStop",
        "ParticipantUnmute", "ParticipantUnhold", "ParticipantCoachModeStart",
    ]


def test_an_update_that_changes_nothing_reports_no_event():
    model = make_model()
    three_party(model)
    model.update_participant(0, "customer", friendly_name="demo", mute=False)
    assert model.drain_events() == []


def test_coach_mode_defaults_true_for_supervisors_and_reads_false_for_other_roles():
    model = make_model()
    three_party(model, coach_mode=True)
    assert participant(model, "boss")["coach_mode"] is True
    assert participant(model, "customer")["coach_mode"] is False
    assert participant(model, "agent")["coach_mode"] is False


def test_coach_mode_update_on_a_non_supervisor_is_refused():
    model = make_model()
    three_party(model)
    with pytest.raises(ValidationError) as err:
        model.update_participant(0, "customer", friendly_name="demo", coach_mode=True)
    assert err.value.status == 400
    assert "coach_mode applies only to supervisors" in err.value.message
    assert "'customer'" in err.value.message and "is a customer" in err.value.message


def test_coach_mode_update_with_all_is_refused():
    model = make_model()
    three_party(model)
    with pytest.raises(ValidationError, match="not with member 'all'"):
        model.update_participant(0, "all", friendly_name="demo", coach_mode=False)


def test_a_refused_update_of_a_list_changes_nobody():
    model = make_model()
    three_party(model)
    ids = f"{model.member_id_of('boss')},{model.member_id_of('agent')}"
    with pytest.raises(ValidationError):
        model.update_participant(0, ids, friendly_name="demo", coach_mode=False, mute=True)
    assert participant(model, "boss")["coach_mode"] is True
    assert participant(model, "boss")["mute"] is False


def test_update_needs_a_setting_and_refuses_role():
    model = make_model()
    three_party(model)
    with pytest.raises(ValidationError, match="at least one of mute, hold or coach_mode"):
        model.update_participant(0, "agent", friendly_name="demo")
    with pytest.raises(ValidationError, match="role cannot be changed"):
        model.update_participant(0, "agent", friendly_name="demo", mute=True, role="customer")


@pytest.mark.parametrize("value", ["yes", 1, "1", 0])
def test_update_booleans_must_be_booleans(value):
    model = make_model()
    three_party(model)
    with pytest.raises(ValidationError, match="mute must be true or false"):
        model.update_participant(0, "agent", friendly_name="demo", mute=value)


def test_member_forms_one_id_a_list_labels_and_all():
    model = make_model()
    three_party(model)
    customer, agent = model.member_id_of("customer"), model.member_id_of("agent")
    model.update_participant(0, customer, friendly_name="demo", mute=True)
    assert participant(model, "customer")["mute"] is True
    model.update_participant(0, f"{customer}, {agent}", friendly_name="demo", mute=False)
    assert participant(model, "customer")["mute"] is False
    model.update_participant(0, "agent,boss", friendly_name="demo", hold=True)
    assert participant(model, "boss")["hold"] is True
    model.update_participant(0, "ALL", friendly_name="demo", hold=False)
    assert not any(participant(model, x)["hold"] for x in ("customer", "agent", "boss"))


def test_unknown_members_are_404_and_exited_members_400():
    model = make_model()
    three_party(model, stay_alone=True)
    with pytest.raises(NotFoundError, match="member '999999' is not a participant of MPC 'demo'"):
        model.update_participant(0, "999999", friendly_name="demo", mute=True)
    add(model, 0, "other", "agent", "+1002", mpc="elsewhere")
    with pytest.raises(NotFoundError, match="not a participant of MPC 'demo'"):
        model.kick_participant(0, "other", friendly_name="demo")
    model.kick_participant(1000, "customer", friendly_name="demo")
    with pytest.raises(ValidationError, match="has already exited"):
        model.update_participant(1000, "customer", friendly_name="demo", mute=True)
    with pytest.raises(ValidationError, match="empty entry"):
        model.kick_participant(1000, "agent,,boss", friendly_name="demo")
    with pytest.raises(ValidationError, match="member_id is required"):
        model.kick_participant(1000, "", friendly_name="demo")


def test_kick_a_list_and_kick_all():
    model = make_model()
    three_party(model, stay_alone=True)
    model.kick_participant(1000, "customer,agent", friendly_name="demo")
    assert participant(model, "customer")["exit_cause"] == "Kicked Out of Multiparty Call"
    assert participant(model, "agent")["exit_cause"] == "Kicked Out of Multiparty Call"
    model.kick_participant(2000, "all", friendly_name="demo")
    model.settle(2000)
    assert participant(model, "boss")["exit_cause"] == "Kicked Out of Multiparty Call"


def test_kick_of_a_ringing_participant_exits_it_without_join():
    model = make_model()
    two_party(model)
    add(model, 0, "late", "agent", "+1005")
    model.kick_participant(1000, "late", friendly_name="demo")
    late = participant(model, "late")
    assert late["exit_cause"] == "Kicked Out of Multiparty Call"
    assert late["join_time"] is None


def test_labels_are_unique_across_the_account_and_well_formed():
    model = make_model()
    add(model, 0, "alice", "agent", "+1002")
    with pytest.raises(ValidationError, match="already used"):
        add(model, 0, "alice", "customer", "+1001", mpc="other")
    for bad in ("all", "a,b", "123", "recording", "recording:x"):
        with pytest.raises(ValidationError, match="cannot name a participant"):
            add(model, 0, bad, "customer", "+1001")


def test_default_label_is_the_member_id_a_numeric_string():
    model = make_model()
    model.add_participant(0, friendly_name="demo", role="agent", **{"from": "+1", "to": "+1002"})
    (member,) = [p["member_id"] for p in model.list_participants(0, friendly_name="demo")
                 ["objects"]]
    assert isinstance(member, str) and member.isdigit()
    assert model.member_label(member) == member
    assert model.mix_state().calls[0].participants[0].name == member


def test_role_values_and_ai_agent_routes_as_agent():
    model = make_model()
    add(model, 0, "bot", "AI-Agent", "+1002")
    add(model, 0, "c", "Customer", "+1001")
    assert participant(model, "bot")["role"] == "ai-agent"
    assert participant(model, "c")["role"] == "customer"
    with pytest.raises(ValidationError, match="role must be one of"):
        add(model, 0, "x", "manager", "+1001")
    with pytest.raises(ValidationError, match="role is required"):
        model.add_participant(0, friendly_name="demo", **{"from": "+1", "to": "+1001"})


def test_get_participant_takes_one_member_and_sees_exited_ones():
    model = make_model()
    three_party(model, stay_alone=True)
    model.kick_participant(1000, "customer", friendly_name="demo")
    got = model.get_participant(1000, model.member_id_of("customer"), friendly_name="demo")
    assert got["exit_cause"] == "Kicked Out of Multiparty Call"
    assert "api_id" in got
    with pytest.raises(ValidationError, match="not allowed here"):
        model.get_participant(1000, "all", friendly_name="demo")
    with pytest.raises(ValidationError, match="name one member here"):
        model.get_participant(1000, "agent,boss", friendly_name="demo")


def test_list_participants_filters_by_call_uuid_and_lists_exited_ones():
    model = make_model()
    three_party(model, stay_alone=True)
    model.kick_participant(1000, "customer", friendly_name="demo")
    listed = model.list_participants(1000, friendly_name="demo")
    assert listed["meta"] == {"count": 3, "limit": 20, "next": None, "offset": 0,
                              "previous": None}
    call = model.call_uuid_of("agent")
    only = model.list_participants(1000, friendly_name="demo", call_uuid=call)
    assert [o["call_uuid"] for o in only["objects"]] == [call]
    assert only["meta"]["count"] == 1


def test_hold_and_mute_given_on_add_apply_from_the_start():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", hold=True, mute="True")
    got = participant(model, "customer")
    assert (got["hold"], got["mute"]) == (True, True)
