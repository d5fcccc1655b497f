"""Every Multiparty Call operation, driven through the official plivo SDK against the server."""

from __future__ import annotations

import plivo
import pytest
from plivo import exceptions as px

from .conftest import AGENT, CUSTOMER, FROM, NEVER, SLOW, SUPERVISOR
from .harness import MAIN, RunningServer

MPC_FIELDS = {
    "billed_amount", "billed_duration", "creation_time", "duration", "end_time", "friendly_name",
    "mpc_uuid", "participants", "recording", "resource_uri",
    "start_time", "status", "stay_alone", "sub_account", "termination_cause",
    "termination_cause_code",
}
PARTICIPANT_FIELDS = {
    "billed_amount", "billed_duration", "call_uuid", "coach_mode", "duration", "end_mpc_on_exit",
    "exit_cause", "exit_time", "hold", "join_time", "member_address", "member_id", "mpc_uuid",
    "mute",
    "resource_uri", "role", "start_mpc_on_enter",
}


def add(sdk: plivo.RestClient, name: str, role: str, to: str, **kwargs: object) -> object:
    return sdk.multi_party_calls.add_participant(role=role, friendly_name=name, from_=FROM,
                                                 to_=to, **kwargs)


def member_ids(sdk: plivo.RestClient, name: str) -> dict[str, str]:
    """role -> member_id of the MPC's participants (one per role in these tests)."""
    listed = sdk.multi_party_calls.list_participants(friendly_name=name)
    return {p.role: p.member_id for p in listed.objects}


def test_add_participant_creates_the_mpc_and_get_reads_every_attribute(
        sdk: plivo.RestClient, mpc_name: str) -> None:
    response = add(sdk, mpc_name, "customer", CUSTOMER)
    assert response.message == "add participant action initiated"
    assert response.api_id and response.request_uuid
    (call,) = response.calls
    assert call.to == CUSTOMER and getattr(call, "from") == FROM and call.call_uuid

    mpc = sdk.multi_party_calls.get(friendly_name=mpc_name)
    assert isinstance(mpc, plivo.resources.multipartycall.MultiPartyCall)
    assert MPC_FIELDS <= set(vars(mpc))
    assert mpc.id == mpc.mpc_uuid and mpc.friendly_name == mpc_name
    assert mpc.status == "Active"  # start_mpc_on_enter defaults to true; the line answers at once
    assert mpc.stay_alone is False and not hasattr(mpc, "max_participants")
    assert mpc.recording == "not-recording" and mpc.sub_account is None
    assert mpc.end_time is None and mpc.termination_cause is None
    assert mpc.resource_uri == f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_{mpc_name}/"
    assert mpc.participants == mpc.resource_uri + "Participant/"
    assert sdk.multi_party_calls.get(uuid=mpc.mpc_uuid).friendly_name == mpc_name


def test_participants_are_listed_and_read_one_by_one(sdk: plivo.RestClient, mpc_name: str) -> None:
    first = add(sdk, mpc_name, "customer", CUSTOMER)
    add(sdk, mpc_name, "agent", AGENT)
    add(sdk, mpc_name, "supervisor", SUPERVISOR, coach_mode=True)
    listed = sdk.multi_party_calls.list_participants(friendly_name=mpc_name)
    assert listed.meta.count == 3 and len(listed.objects) == 3
    roles = {p.role: p for p in listed.objects}
    assert set(roles) == {"customer", "agent", "supervisor"}
    assert roles["supervisor"].coach_mode is True and roles["customer"].coach_mode is False
    for p in listed.objects:
        assert set(vars(p)) >= {"call_uuid", "coach_mode", "hold", "member_id", "mpc_uuid",
                                "mute", "role"}
        assert isinstance(p.member_id, str)
    only = sdk.multi_party_calls.list_participants(friendly_name=mpc_name,
                                                   call_uuid=first.calls[0].call_uuid)
    assert [p.role for p in only.objects] == ["customer"]

    agent = sdk.multi_party_calls.get_participant(participant_id=roles["agent"].member_id,
                                                  friendly_name=mpc_name)
    assert PARTICIPANT_FIELDS <= set(vars(agent))
    assert agent.secondary_id == roles["agent"].member_id and agent.role == "agent"
    assert agent.join_time is not None and agent.exit_time is None
    # Resource-object shortcuts (the SDK calls back with uuid_ and member_id).
    assert agent.get().member_id == agent.member_id
    assert roles["agent"].get().role == "agent"


def test_start_activates_an_mpc_whose_participants_wait(sdk: plivo.RestClient, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER, start_mpc_on_enter=False)
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).status == "Initialized"
    # sends {"status": ["active"]}; the API answers 204 without content
    assert sdk.multi_party_calls.start(friendly_name=mpc_name) is None
    mpc = sdk.multi_party_calls.get(friendly_name=mpc_name)
    assert mpc.status == "Active" and mpc.start_time is not None


def test_stop_ends_the_mpc_and_only_its_uuid_finds_it(sdk: plivo.RestClient, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER)
    add(sdk, mpc_name, "agent", AGENT)
    uuid = sdk.multi_party_calls.get(friendly_name=mpc_name).mpc_uuid
    assert sdk.multi_party_calls.stop(friendly_name=mpc_name) is None  # 204
    with pytest.raises(px.ResourceNotFoundError):
        sdk.multi_party_calls.get(friendly_name=mpc_name)
    ended = sdk.multi_party_calls.get(uuid=uuid)
    assert ended.status == "Ended" and ended.end_time is not None
    assert ended.termination_cause == "Hangup API Triggered"
    assert ended.termination_cause_code == 3000
    assert ended.duration == 0 and ended.billed_duration == 60 and ended.billed_amount
    assert ended.resource_uri.endswith(f"/MultiPartyCall/uuid_{uuid}/")
    gone = sdk.multi_party_calls.list_participants(uuid=uuid).objects
    assert all(p.mute is None for p in gone)  # exited participants read null
    exits = {sdk.multi_party_calls.get_participant(participant_id=p.member_id, uuid=uuid).exit_cause
             for p in gone}
    assert exits == {"Multiparty Call Ended"}


def test_list_filters_and_pages(sdk: plivo.RestClient, mpc_name: str) -> None:
    names = [f"{mpc_name}_{i}" for i in range(3)]
    for name in names:
        add(sdk, name, "customer", CUSTOMER)
    sdk.multi_party_calls.stop(friendly_name=names[0])
    by_name = sdk.multi_party_calls.list(friendly_name=names[1])
    assert [m.friendly_name for m in by_name.objects] == [names[1]]
    assert by_name.objects[0].id == by_name.objects[0].mpc_uuid
    ended = sdk.multi_party_calls.list(status="ended", termination_cause_code=3000)
    assert names[0] in {m.friendly_name for m in ended.objects}
    assert all(m.status == "Ended" for m in ended.objects)
    active = {m.friendly_name for m in sdk.multi_party_calls.list(status="active").objects}
    assert set(names[1:]) <= active and names[0] not in active
    page = sdk.multi_party_calls.list(limit=1, offset=0)
    assert len(page.objects) == 1 and page.meta.limit == 1 and page.meta.next
    assert "offset=1" in page.meta.next
    second = sdk.multi_party_calls.list(limit=1, offset=1)
    assert second.objects[0].mpc_uuid != page.objects[0].mpc_uuid
    assert set(vars(page.objects[0])) >= {"billed_amount", "creation_time", "friendly_name",
                                          "mpc_uuid", "status", "termination_cause_code"}
    recent = sdk.multi_party_calls.list(creation_time__gte="2000-01-01 00:00")
    assert recent.meta.count >= 3
    # Iterating the resource follows meta.next page by page (20 a page) through every MPC.
    extra = 0
    while sdk.multi_party_calls.list().meta.count <= 20:
        extra += 1
        add(sdk, f"{mpc_name}_more_{extra}", "customer", CUSTOMER)
    recent = sdk.multi_party_calls.list(creation_time__gte="2000-01-01 00:00")
    every = list(sdk.multi_party_calls)
    assert len(every) == recent.meta.count == len({m.mpc_uuid for m in every})


def test_update_participant_mutes_holds_and_coaches(sdk: plivo.RestClient, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER)
    add(sdk, mpc_name, "agent", AGENT)
    add(sdk, mpc_name, "supervisor", SUPERVISOR)
    ids = member_ids(sdk, mpc_name)
    response = sdk.multi_party_calls.update_participant(
        participant_id=ids["customer"], friendly_name=mpc_name, mute=True, hold=True)
    assert response.mute == f"MPC: {mpc_name} mute/unmute member(s) succeded"  # (sic), as recorded
    assert response.hold == f"MPC: {mpc_name} hold/unhold member(s) succeded"
    customer = sdk.multi_party_calls.get_participant(participant_id=ids["customer"],
                                                     friendly_name=mpc_name)
    assert customer.mute is True and customer.hold is True
    response = sdk.multi_party_calls.update_participant(
        participant_id=ids["supervisor"], friendly_name=mpc_name, coach_mode=False)
    assert response.coach_mode == f"MPC: {mpc_name} coach_mode enable/disable succeeded"
    both = f"{ids['customer']},{ids['agent']}"
    sdk.multi_party_calls.update_participant(participant_id=both, friendly_name=mpc_name,
                                             mute=False)
    sdk.multi_party_calls.update_participant(participant_id="all", friendly_name=mpc_name,
                                             hold=False)
    listed = {p.role: p for p in
              sdk.multi_party_calls.list_participants(friendly_name=mpc_name).objects}
    assert listed["customer"].mute is False and listed["customer"].hold is False
    assert listed["supervisor"].coach_mode is False
    with pytest.raises(px.ValidationError, match="supervisors"):
        sdk.multi_party_calls.update_participant(participant_id=ids["customer"],
                                                 friendly_name=mpc_name, coach_mode=True)


def test_kick_participant_removes_it(sdk: plivo.RestClient, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER, stay_alone=True)
    add(sdk, mpc_name, "agent", AGENT)
    ids = member_ids(sdk, mpc_name)
    assert sdk.multi_party_calls.kick_participant(participant_id=ids["agent"],
                                                  friendly_name=mpc_name) is None
    agent = sdk.multi_party_calls.get_participant(participant_id=ids["agent"],
                                                  friendly_name=mpc_name)
    assert agent.exit_cause == "Kicked Out of Multiparty Call" and agent.exit_time is not None
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).status == "Active"  # stay_alone
    sdk.multi_party_calls.kick_participant(participant_id="all", friendly_name=mpc_name)
    with pytest.raises(px.ResourceNotFoundError):
        sdk.multi_party_calls.get(friendly_name=mpc_name)


def test_mpc_recording_starts_pauses_resumes_and_stops(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER)
    add(sdk, mpc_name, "agent", AGENT)
    started = sdk.multi_party_calls.start_recording(friendly_name=mpc_name, file_format="wav")
    assert started.message == f"MPC: {mpc_name} record started"
    assert started.recording_url == (f"{server.url}/v1/Account/{MAIN.auth_id}/Recording/"
                                     f"{started.recording_id}.wav")
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).recording == "recording"
    server.advance(1)
    assert sdk.multi_party_calls.pause_recording(friendly_name=mpc_name) is None
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).recording == "paused"
    server.advance(1)
    assert sdk.multi_party_calls.resume_recording(friendly_name=mpc_name) is None
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).recording == "recording"
    server.advance(1)
    assert sdk.multi_party_calls.stop_recording(friendly_name=mpc_name) is None
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).recording == "not-recording"
    with server.http() as client:
        download = client.get(started.recording_url)
    assert download.status_code == 200 and download.content[:4] == b"RIFF"


def test_participant_recording_starts_pauses_resumes_and_stops(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER)
    add(sdk, mpc_name, "agent", AGENT)
    agent = member_ids(sdk, mpc_name)["agent"]
    calls = sdk.multi_party_calls
    started = calls.start_participant_recording(participant_id=agent, friendly_name=mpc_name,
                                                file_format="wav", record_track_type="both")
    assert started.recording_id and started.recording_url.startswith(server.url)
    server.advance(1)
    assert calls.pause_participant_recording(participant_id=agent, friendly_name=mpc_name,
                                             record_track_type="both") is None
    assert calls.resume_participant_recording(participant_id=agent, friendly_name=mpc_name,
                                              record_track_type="both") is None
    server.advance(1)
    assert calls.stop_participant_recording(participant_id=agent, friendly_name=mpc_name,
                                            record_track_type="both") is None
    with server.http() as client:  # track type both: one recording_url, two files
        first = client.get(started.recording_url)
        assert first.status_code == 200 and first.content[:4] == b"RIFF"
        stem = started.recording_url.rsplit(".", 1)[0]
        for track in ("participant", "all"):
            assert client.get(f"{stem}-{track}.wav").status_code == 200
    # The seed's path has no name_ prefix: that form works too.
    with server.http() as client:
        path = (f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/{mpc_name}/Participant/{agent}/"
                "Record/")
        response = client.post(path, json={"file_format": "mp3", "record_track_type": "participant"})
        assert response.status_code == 200, response.text
        assert response.json()["recording_url"].endswith(".mp3")
        response = client.request("DELETE", path, json={"record_track_type": "participant"})
        assert response.status_code == 204, response.text


def test_play_audio_starts_with_202_and_stops(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER)
    add(sdk, mpc_name, "agent", AGENT)
    ids = member_ids(sdk, mpc_name)
    url = "https://media.example.com/audio/announcement.wav"
    played = sdk.multi_party_calls.start_play_audio(participant_id=ids["customer"],
                                                    friendly_name=mpc_name, url=url)
    assert played.message == "play queued into MPC"
    assert played.mpcMemberId == [ids["customer"]] and played.mpcName == mpc_name
    assert sdk.multi_party_calls.stop_play_audio(participant_id=ids["customer"],
                                                 friendly_name=mpc_name) is None
    with server.http() as client:  # the API text's `urls`, and the status code the SDK hides
        path = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_{mpc_name}/Member/all/Play/"
        response = client.post(path, json={"urls": url})
        assert response.status_code == 202 and response.json()["mpcMemberId"] == [
            ids["customer"], ids["agent"]]
        with pytest.raises(px.ValidationError, match="member form"):
            sdk.multi_party_calls.stop_play_audio(participant_id=ids["agent"],
                                                  friendly_name=mpc_name)
        assert client.delete(path).status_code == 204
    started = server.events(name="MPCPlayStarted")
    assert any(e["params"]["PlayURL"] == url for e in started)


def test_ringing_lines_answer_in_virtual_time(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    add(sdk, mpc_name, "customer", CUSTOMER, stay_alone=True)
    slow = add(sdk, mpc_name, "agent", SLOW)
    never = add(sdk, mpc_name, "agent", NEVER, ring_timeout=15)
    by_call = {p.call_uuid: p for p in
               sdk.multi_party_calls.list_participants(friendly_name=mpc_name).objects}
    slow_id = by_call[slow.calls[0].call_uuid].member_id
    never_id = by_call[never.calls[0].call_uuid].member_id
    get = sdk.multi_party_calls.get_participant
    assert get(participant_id=slow_id, friendly_name=mpc_name).join_time is None
    server.advance(2)
    assert get(participant_id=slow_id, friendly_name=mpc_name).join_time is not None
    server.advance(13)
    ringing_out = get(participant_id=never_id, friendly_name=mpc_name)
    assert ringing_out.exit_cause == "Participant Call Hangup" and ringing_out.join_time is None


def test_far_end_actions_hang_up_and_answer(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    customer = add(sdk, mpc_name, "customer", CUSTOMER, stay_alone=True)
    agent = add(sdk, mpc_name, "agent", NEVER, stay_alone=True)
    with server.http() as client:
        answered = client.post(f"/emulator/calls/{agent.calls[0].call_uuid}/answer")
        assert answered.status_code == 200, answered.text
        assert client.post(f"/emulator/calls/{agent.calls[0].call_uuid}/dtmf",
                           json={"digits": "12#"}).status_code == 200
        hung = client.post(f"/emulator/calls/{customer.calls[0].call_uuid}/hangup")
        assert hung.status_code == 200
        unknown = client.post("/emulator/calls/no-such-call/hangup")
        assert unknown.status_code == 404 and "error" in unknown.json()
    listed = {p.call_uuid: p for p in
              sdk.multi_party_calls.list_participants(friendly_name=mpc_name).objects}
    assert listed[customer.calls[0].call_uuid].mute is None  # exited
    assert listed[agent.calls[0].call_uuid].mute is False  # in the call
