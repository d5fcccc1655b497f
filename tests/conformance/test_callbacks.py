"""Every callback the emulator sends, as a receiver gets it: EventName values and parameter names
as the API documents them for MPC status, MPC recording, participant recording and on-exit."""

from __future__ import annotations

import httpx

from tests.server.conftest import AGENT, CUSTOMER, FROM, SUPERVISOR
from tests.server.harness import MAIN, CallbackReceiver, RunningServer

from . import oracle

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
ALL_GROUPS = ",".join(oracle.STATUS_EVENTS)


def run_a_call(client: httpx.Client, server: RunningServer, receiver: CallbackReceiver,
               name: str) -> dict[str, str]:
    """A call that makes every kind of callback; the member ids by role."""
    mpc = f"{BASE}/name_{name}"
    for role, to in (("customer", CUSTOMER), ("agent", AGENT), ("supervisor", SUPERVISOR)):
        response = client.post(f"{mpc}/Participant/", json={
            "role": role, "from": FROM, "to": to, "stay_alone": role == "agent",
            "status_callback_url": f"{receiver.url}/status", "status_callback_method": "POST",
            "status_callback_events": ALL_GROUPS,
            "on_exit_action_url": f"{receiver.url}/exit"})
        assert response.status_code == 201, response.text
    ids = {p["role"]: p["member_id"]
           for p in client.get(f"{mpc}/Participant/").json()["objects"]}
    assert client.post(f"{mpc}/Record/", json={
        "file_format": "wav", "recording_callback_url": f"{receiver.url}/recording",
        "recording_callback_method": "POST"}).status_code == 202
    member = f"{mpc}/Participant/{ids['agent']}"
    assert client.post(f"{member}/Record/", json={
        "file_format": "wav", "record_track_type": "participant",
        "recording_callback_url": f"{receiver.url}/participant-recording"}).status_code == 200
    server.advance(2)
    client.post(f"{mpc}/Participant/{ids['customer']}/", json={"mute": True, "hold": True})
    client.post(f"{mpc}/Participant/{ids['supervisor']}/", json={"coach_mode": False})
    client.post(f"{mpc}/Record/Pause/")
    client.post(f"{member}/Record/Pause/", json={"record_track_type": "participant"})
    server.advance(1)
    client.post(f"{mpc}/Record/Resume/")
    client.post(f"{member}/Record/Resume/", json={"record_track_type": "participant"})
    customer_call = client.get(f"{mpc}/Participant/{ids['customer']}/").json()["call_uuid"]
    client.post(f"{mpc}/Participant/{ids['customer']}/", json={"mute": False, "hold": False})
    assert client.post(f"/emulator/calls/{customer_call}/dtmf",
                       json={"digits": "1"}).status_code == 200
    server.advance(3)
    client.request("DELETE", f"{member}/Record/", json={"record_track_type": "participant"})
    assert client.post(f"/emulator/calls/{customer_call}/hangup").status_code == 200
    assert client.delete(f"{mpc}/").status_code == 204
    server.wait_callbacks_idle()
    return ids



def test_every_callback_names_its_events_and_parameters_as_the_api_documents(
        server: RunningServer, receiver: CallbackReceiver, mpc_name: str) -> None:
    with server.http(MAIN) as client:
        ids = run_a_call(client, server, receiver, mpc_name)
    got = receiver.snapshot()

    status = [r for r in got if r.path == "/status" and r.params.get("MPCName") == mpc_name]
    names = {r.params["EventName"] for r in status}
    allowed = set().union(*oracle.STATUS_EVENTS.values())
    assert names <= allowed, names - allowed
    # every group the call exercised is there
    for group in ("mpc-state-changes", "participant-state-changes",
                  "participant-digit-input-events", "add-participant-api-events"):
        assert names & oracle.STATUS_EVENTS[group], group
    params = (oracle.STATUS_PARAMS_DOCUMENTED | oracle.STATUS_PARAMS_OBSERVED
              | oracle.STATUS_PARAMS_MPCMIX)
    for callback in status:
        assert oracle.STATUS_PARAMS_ALWAYS <= set(callback.params) <= params, (
            callback.params["EventName"], set(callback.params) - params)
        assert oracle.STATUS_PARAMS_PARTICIPANT <= set(callback.params)
    ended = [r for r in status if r.params["EventName"] == "MPCEnd"]
    assert ended and all(r.params["MPCTerminationCauseCode"] == "3000" for r in ended)

    recording = [r for r in got if r.path == "/recording" and r.params["MPCName"] == mpc_name]
    assert [r.params["EventName"] for r in recording] == [
        "MPCRecordingInitiated", "MPCRecordingPaused", "MPCRecordingResumed",
        "MPCRecordingCompleted"]
    for callback in recording:
        assert set(callback.params) == oracle.MPC_RECORDING_PARAMS

    agent = [r for r in got if r.path == "/participant-recording"
             and r.params["MemberID"] == ids["agent"]]
    assert [r.params["EventName"] for r in agent] == [
        "ParticipantRecordingInitiated", "ParticipantRecordingPaused",
        "ParticipantRecordingResumed", "ParticipantRecordingCompleted"]
    assert {r.params["EventName"] for r in agent} <= oracle.PARTICIPANT_RECORDING_EVENTS
    for callback in agent:
        assert set(callback.params) == oracle.PARTICIPANT_RECORDING_PARAMS

    exits = [r for r in got if r.path == "/exit" and r.params["MPCFriendlyName"] == mpc_name]
    assert {r.params["MemberID"] for r in exits} == set(ids.values())
    for callback in exits:
        assert set(callback.params) == oracle.ON_EXIT_PARAMS


def test_a_webhook_handler_downloads_the_recording_resource_of_a_completed_recording(
        server: RunningServer, receiver: CallbackReceiver, mpc_name: str) -> None:
    with server.http(MAIN) as client:
        ids = run_a_call(client, server, receiver, mpc_name)
        # what a handler dispatching on EventName does
        for callback in receiver.snapshot():
            if (callback.params.get("EventName") == "ParticipantRecordingCompleted"
                    and callback.params.get("MemberID") == ids["agent"]):
                resource = client.get(callback.params["RecordingResourceURL"])
                break
        else:
            raise AssertionError("no ParticipantRecordingCompleted arrived")
        assert resource.status_code == 200, resource.text
        details = resource.json()
        assert details["recording_id"] == callback.params["RecordingUUID"]
        assert details["recording_url"] == callback.params["RecordingURL"]
        audio = client.get(details["recording_url"])
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
