"""Serialisation against the API's documented examples: keys, types, nulls, timestamps, billing,
list filters and pagination. (Field for field against the recorded bodies of the official SDKs:
tests/conformance.)"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from ._model_support import AUTH_ID, add, at, make_model, participant, two_party

# The API text's examples, verbatim (the API's documentation pages).
SEED_MPC = {
    "billed_amount": None, "billed_duration": None, "creation_time": "2020-12-24 09:20:03+00:00",
    "duration": None, "end_time": None, "friendly_name": "test_mpc",
    "mpc_uuid": "8742d531-292a-46aa-8754-836be1092885",
    "participants": "/v1/Account/MAOTE1OWE0MDK0MTLHYW/MultiPartyCall/name_test_mpc/Participant/",
    "recording": "not-recording",
    "resource_uri": "/v1/Account/MAOTE1OWE0MDK0MTLHYW/MultiPartyCall/name_test_mpc/",
    "start_time": "2020-12-24 09:20:03+00:00", "status": "Active", "stay_alone": False,
    "sub_account": None, "termination_cause": None, "termination_cause_code": None,
}
SEED_PARTICIPANT = {
    "billed_amount": None, "billed_duration": None,
    "call_uuid": "dd473c48-34a6-4d67-a033-af590b41c23f", "coach_mode": False, "duration": None,
    "end_mpc_on_exit": False, "exit_cause": None, "exit_time": None, "hold": False,
    "join_time": "2020-12-24 10:01:56+00:00", "member_id": "355",
    "mpc_uuid": "4e9ae3f1-a29c-4524-a1b4-4758922e589b", "mute": False,
    "resource_uri": "/v1/Account/MAOTE1OWE0MDK0MTLHYW/MultiPartyCall/name_test_mpc_1/Participant/355/",
    "role": "agent", "start_mpc_on_enter": True,
}
# The list pages' items (docs.plivo.com, "Retrieve all multiparty calls" and "Retrieve all
# participant details"): full objects, the participant with member_address.
SEED_MPC_LIST_ITEM = {
    "billed_amount": "0.05000", "billed_duration": 60, "creation_time": "2020-12-24 15:23:38+05:30",
    "duration": 2, "end_time": "2020-12-24 15:23:40+05:30", "friendly_name": "test_mpc_1",
    "mpc_uuid": "4ed623a5-9f3e-45e0-9e7e-3d19a94b3bd3",
    "participants": "/v1/Account/MAOTE1OWE0MDK0MTLHYW/MultiPartyCall/uuid_4ed623a5-9f3e-45e0-"
                    "9e7e-3d19a94b3bd3/Participant/",
    "recording": None,
    "resource_uri": "/v1/Account/MAOTE1OWE0MDK0MTLHYW/MultiPartyCall/uuid_4ed623a5-9f3e-45e0-"
                    "9e7e-3d19a94b3bd3/",
    "start_time": "2020-12-24 15:23:38+05:30", "status": "Ended", "stay_alone": False,
    "sub_account": None, "termination_cause": "No Active Participants",
    "termination_cause_code": 1000,
}
SEED_PARTICIPANT_LIST_ITEM = {
    "billed_amount": None, "billed_duration": None,
    "call_uuid": "58e76e86-54b8-402e-9d83-a16e29b6582c", "coach_mode": True, "duration": None,
    "end_mpc_on_exit": False, "exit_cause": None, "exit_time": None, "hold": False,
    "join_time": "2021-04-05 11:57:51+00:00",
    "member_address": "sip:randomEndpoint524139428185758@phone.plivo.com", "member_id": "229",
    "mpc_uuid": "d5c8be43-87d0-4ba6-90a1-011bb6ab0a00", "mute": False,
    "resource_uri": "/v1/Account/MANWVLYTK4ZWU1YTY4QA/MultiPartyCall/name_test_mpc_1/"
                    "Participant/229/",
    "role": "supervisor", "start_mpc_on_enter": True,
}

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def same_shape(actual, example):
    """Same keys; every value of the example's type, or null where the example is null."""
    assert set(actual) == set(example), set(actual) ^ set(example)
    for key, value in example.items():
        if value is None:
            continue
        assert type(actual[key]) is type(value), (key, actual[key], value)


def test_get_mpc_has_the_example_fields_and_api_id():
    model = make_model()
    two_party(model)
    got = model.get(0, friendly_name="demo")
    assert UUID4.match(got.pop("api_id"))
    same_shape(got, SEED_MPC)  # no max_participants, max_duration: no recorded body has them
    for key in ("billed_amount", "billed_duration", "duration", "end_time", "sub_account",
                "termination_cause", "termination_cause_code"):
        assert got[key] is None, key
    assert TIMESTAMP.match(got["creation_time"]) and TIMESTAMP.match(got["start_time"])
    assert got["resource_uri"] == f"/v1/Account/{AUTH_ID}/MultiPartyCall/name_demo/"
    assert got["participants"] == f"/v1/Account/{AUTH_ID}/MultiPartyCall/name_demo/Participant/"
    assert UUID4.match(got["mpc_uuid"])


def test_ended_mpc_fields_and_uri_by_uuid():
    model = make_model()
    two_party(model)
    uuid = model.mpc_uuid_of("demo")
    model.end(125_000, friendly_name="demo")
    got = model.get(125_000, uuid=uuid)
    assert got["resource_uri"] == f"/v1/Account/{AUTH_ID}/MultiPartyCall/uuid_{uuid}/"
    assert got["participants"].endswith(f"/uuid_{uuid}/Participant/")
    assert (got["duration"], got["billed_duration"], got["billed_amount"]) == (125, 180,
                                                                               "0.01500")
    assert got["end_time"] == "2020-01-01 00:02:05+00:00"


def test_get_participant_has_the_example_fields_and_a_string_member_id():
    model = make_model()
    two_party(model)
    got = model.get_participant(0, model.member_id_of("agent"), friendly_name="demo")
    assert UUID4.match(got.pop("api_id"))
    # member_address: the dialled address, as the current docs and newest captures show it.
    assert got.pop("member_address") == "+1002"
    same_shape(got, SEED_PARTICIPANT)
    assert got["member_id"].isdigit()
    assert got["resource_uri"] == (f"/v1/Account/{AUTH_ID}/MultiPartyCall/name_demo/"
                                   f"Participant/{got['member_id']}/")
    assert UUID4.match(got["call_uuid"])


def test_exited_participant_billing_and_null_live_flags():
    model = make_model()
    add(model, 0, "customer", "customer", "+1001", stay_alone=True)
    add(model, 0, "agent", "agent", "+1002", stay_alone=True)
    at(model, 0)
    model.hangup(61_500, model.call_uuid_of("customer"))
    got = participant(model, "customer")
    assert (got["duration"], got["billed_duration"], got["billed_amount"]) == (61, 120,
                                                                               "0.01000")
    assert (got["coach_mode"], got["hold"], got["mute"]) == (None, None, None)
    assert got["exit_time"] == "2020-01-01 00:01:01+00:00"


def test_timestamps_truncate_to_the_second_and_follow_the_epoch_offset():
    ist = timezone(timedelta(hours=5, minutes=30))
    model = make_model(epoch=datetime(2020, 12, 24, 15, 23, 38, tzinfo=ist))
    add(model, 1980, "agent", "agent", "+1002")  # 1.98 s after the epoch
    model.settle(1980)
    got = participant(model, "agent")
    assert got["join_time"] == "2020-12-24 15:23:39+05:30"


def test_duration_is_end_minus_start_in_whole_seconds_of_the_timestamps():
    model = make_model()
    add(model, 0, "agent", "agent", "+1004")  # joins at 1.0 s
    add(model, 0, "customer", "customer", "+1001")  # joins at 0 s, starts the MPC
    at(model, 1000)
    model.end(2980, friendly_name="demo")
    mpc = model.mpc_json(model.mpcs()[0])["mpc"]
    assert (mpc["start_time"], mpc["end_time"], mpc["duration"]) == (
        "2020-01-01 00:00:00+00:00", "2020-01-01 00:00:02+00:00", 2)


def test_rate_per_minute_is_configurable():
    model = make_model(rate_per_minute=Decimal("0.01234"))
    two_party(model)
    model.end(200_000, friendly_name="demo")
    mpc = model.mpc_json(model.mpcs()[0])["mpc"]
    assert (mpc["billed_duration"], mpc["billed_amount"]) == (240, "0.04936")


def test_list_items_have_the_example_fields():
    model = make_model()
    two_party(model)
    model.end(2000, friendly_name="demo")
    listed = model.list(2000)
    assert set(listed) == {"api_id", "meta", "objects"}
    assert listed["meta"] == {"count": 1, "limit": 20, "next": None, "offset": 0,
                              "previous": None}
    (item,) = listed["objects"]
    same_shape(item, SEED_MPC_LIST_ITEM)
    assert item["termination_cause_code"] == 3000


def test_list_participants_items_have_the_example_fields():
    model = make_model()
    add(model, 0, "boss", "supervisor", "+1003")
    got = model.list_participants(0, friendly_name="demo")
    assert set(got["meta"]) == {"count", "limit", "next", "offset", "previous"}
    (item,) = got["objects"]
    same_shape(item, SEED_PARTICIPANT_LIST_ITEM)
    assert item["coach_mode"] is True


def many_mpcs(model, count):
    """`count` MPCs, one a second; even ones ended (1000), odd ones live."""
    for i in range(count):
        t = i * 1000
        add(model, t, f"p{i}", "agent", "+1002", mpc=f"mpc{i}")
        model.settle(t)
        if i % 2 == 0:
            model.hangup(t, model.call_uuid_of(f"p{i}"))
            model.settle(t)


def test_list_pagination_newest_first_with_next_and_previous():
    model = make_model()
    many_mpcs(model, 25)
    first = model.list(30_000)
    assert first["meta"] == {
        "count": 25, "limit": 20, "offset": 0, "previous": None,
        "next": f"/v1/Account/{AUTH_ID}/MultiPartyCall/?limit=20&offset=20",
    }
    assert [o["friendly_name"] for o in first["objects"]][:3] == ["mpc24", "mpc23", "mpc22"]
    second = model.list(30_000, limit="20", offset="20")
    assert len(second["objects"]) == 5
    assert second["meta"]["next"] is None
    assert second["meta"]["previous"] == f"/v1/Account/{AUTH_ID}/MultiPartyCall/?limit=20&offset=0"
    small = model.list(30_000, limit=10, offset=10)
    assert small["meta"]["previous"].endswith("?limit=10&offset=0")
    assert small["meta"]["next"].endswith("?limit=10&offset=20")


def test_list_filters():
    model = make_model()
    many_mpcs(model, 6)
    at(model, 10_000)
    assert model.list(10_000, friendly_name="mpc3")["meta"]["count"] == 1
    assert {o["friendly_name"] for o in model.list(10_000, status="ACTIVE")["objects"]} == {
        "mpc1", "mpc3", "mpc5"}
    assert model.list(10_000, status="ended")["meta"]["count"] == 3
    assert model.list(10_000, status="initialized")["meta"]["count"] == 0
    assert model.list(10_000, termination_cause_code=1000)["meta"]["count"] == 3
    assert model.list(10_000, termination_cause_code="1010")["meta"]["count"] == 0
    assert model.list(10_000, sub_account="SA123")["meta"]["count"] == 0
    created = model.list(10_000, creation_time__gte="2020-01-01 00:00:02",
                         creation_time__lt="2020-01-01 00:00:04")
    assert {o["friendly_name"] for o in created["objects"]} == {"mpc2", "mpc3"}
    assert model.list(10_000, creation_time__gt="2020-01-01 00:00")["meta"]["count"] == 5
    assert model.list(10_000, creation_time__lte="2020-01-01 00:00:00.5")["meta"]["count"] == 1
    ended = model.list(10_000, end_time__gt="2020-01-01 00:00:01")
    assert {o["friendly_name"] for o in ended["objects"]} == {"mpc2", "mpc4"}


def test_ids_are_deterministic_from_the_seed_and_lookups_do_not_shift_them():
    def run(seed, lookups):
        model = make_model(seed=seed)
        two_party(model)
        if lookups:
            model.get(0, friendly_name="demo")
            model.list(0)
        add(model, 0, "boss", "supervisor", "+1003")
        return model.mpc_json(model.mpcs()[0])

    assert run(1, False) == run(1, False)
    assert run(1, False) == run(1, True)
    assert run(1, False)["mpc"]["mpc_uuid"] != run(2, False)["mpc"]["mpc_uuid"]


def test_mpc_json_lists_every_participant_in_the_order_added():
    model = make_model()
    two_party(model)
    add(model, 0, "late", "agent", "+1005")
    model.end(1000, friendly_name="demo")
    doc = model.mpc_json(model.mpcs()[0])
    assert set(doc) == {"mpc", "participants"}
    assert "api_id" not in doc["mpc"]
    assert [p["member_id"] for p in doc["participants"]] == [
        model.member_id_of(x) for x in ("customer", "agent", "late")]
    assert all(p["exit_cause"] == "Multiparty Call Ended" for p in doc["participants"])


def test_the_default_list_window_holds_at_the_ends_of_the_calendar():
    """The 7-day window is counted on the timeline: an epoch at year 1 (where a date 7 days
    before would not exist) lists as any other (found by the scenario fuzzing)."""
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    model = make_model(epoch=early)
    two_party(model)
    model.end(1000, friendly_name="demo")
    assert model.list(1000)["meta"]["count"] == 1
    assert model.list(1000, end_time__gte="0001-01-01 00:00")["meta"]["count"] == 0
    assert model.list(1000, end_time__lte="9999-12-31 23:59")["meta"]["count"] == 0


def test_an_mpc_that_ended_more_than_seven_days_ago_leaves_the_default_list():
    model = make_model()
    two_party(model)
    model.end(1000, friendly_name="demo")
    week = 7 * 24 * 3600 * 1000
    assert model.list(week)["meta"]["count"] == 1
    assert model.list(week + 2000)["meta"]["count"] == 0
    # an end_time filter replaces the window
    found = model.list(week + 2000, end_time__gte="2020-01-01 00:00", end_time__lt="2020-01-02 00:00")
    assert found["meta"]["count"] == 1
