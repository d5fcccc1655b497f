"""Every operation over HTTP against a real server on loopback: the recorded bodies' keys, value
types, nulls and texts, and the recorded status codes (oracle.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.server.conftest import AGENT, CUSTOMER, FROM, SUPERVISOR
from tests.server.harness import MAIN, RunningServer

from . import oracle

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"


class Api:
    """Raw HTTP against the server: each call checks the oracle's status and shape."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(self, op: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"{BASE}/{path}", **kwargs)
        assert response.status_code == oracle.STATUS[op], (op, response.status_code,
                                                           response.text)
        body = response.json() if response.content else None
        assert oracle.check(op, body) == [], (op, body)
        return body

    def refused(self, method: str, path: str, status: int, **kwargs: Any) -> str:
        response = self.client.request(method, f"{BASE}/{path}", **kwargs)
        assert response.status_code == status, (path, response.status_code, response.text)
        body = response.json()
        assert set(body) == {"api_id", "error"}, body
        return str(body["error"])


@pytest.fixture
def api(server: RunningServer) -> Any:
    with server.http(MAIN) as client:
        yield Api(client)


def add(api: Api, name: str, role: str, to: str, **extra: Any) -> dict[str, Any]:
    body = api.call("add_participant", "POST", f"name_{name}/Participant/",
                    json={"role": role, "from": FROM, "to": to, **extra})
    assert body["message"] == oracle.MESSAGES["add_participant"]
    assert body["request_uuid"] == body["calls"][0]["call_uuid"]  # as in every capture
    return body


def members(api: Api, name: str) -> dict[str, str]:
    listed = api.call("list_participants", "GET", f"name_{name}/Participant/")
    return {p["role"]: p["member_id"] for p in listed["objects"]}


def test_the_mpc_and_its_participants_read_as_recorded(api: Api, server: RunningServer,
                                                       mpc_name: str) -> None:
    add(api, mpc_name, "customer", CUSTOMER)
    add(api, mpc_name, "agent", AGENT)
    add(api, mpc_name, "supervisor", SUPERVISOR)
    got = api.call("get", "GET", f"name_{mpc_name}/")
    assert (got["status"], got["recording"], got["sub_account"]) == ("Active", "not-recording",
                                                                     None)
    listed = api.call("list", "GET", "", params={"friendly_name": mpc_name})
    (item,) = listed["objects"]
    assert item == {k: v for k, v in got.items() if k != "api_id"}  # a full object
    assert listed["meta"] == {"count": 1, "limit": 20, "next": None, "offset": 0,
                              "previous": None}
    people = api.call("list_participants", "GET", f"name_{mpc_name}/Participant/")
    assert len(people["objects"]) == 3
    assert {p["member_address"] for p in people["objects"]} == {CUSTOMER, AGENT, SUPERVISOR}
    one = people["objects"][0]
    single = api.call("get_participant", "GET", f"name_{mpc_name}/Participant/{one['member_id']}/")
    assert {k: v for k, v in single.items() if k != "api_id"} == one
    page = api.call("list_participants", "GET", f"name_{mpc_name}/Participant/",
                    params={"limit": 1, "offset": 1})
    assert page["meta"]["next"] == f"{BASE}/name_{mpc_name}/Participant/?limit=1&offset=2"
    assert page["meta"]["previous"] == f"{BASE}/name_{mpc_name}/Participant/?limit=1&offset=0"

    uuid = got["mpc_uuid"]
    api.call("end", "DELETE", f"name_{mpc_name}/")
    ended = api.call("get", "GET", f"uuid_{uuid}/")
    assert (ended["status"], ended["recording"]) == ("Ended", None)
    assert isinstance(ended["billed_amount"], str) and len(ended["billed_amount"].split(".")[1]) == 5
    gone = api.call("list_participants", "GET", f"uuid_{uuid}/Participant/")
    assert all(p["mute"] is None and p["exit_cause"] == "Multiparty Call Ended"
               for p in gone["objects"])


def test_updates_recordings_plays_and_speech_answer_as_recorded(api: Api, mpc_name: str) -> None:
    add(api, mpc_name, "customer", CUSTOMER)
    add(api, mpc_name, "agent", AGENT)
    add(api, mpc_name, "supervisor", SUPERVISOR)
    ids = members(api, mpc_name)
    member = f"name_{mpc_name}/Participant/{ids['customer']}/"
    updated = api.call("update_participant", "POST", member, json={"mute": True, "hold": True})
    assert set(updated) == {"api_id", "mute", "hold"}
    for key in ("mute", "hold"):
        assert updated[key] == oracle.MESSAGES[f"update_participant.{key}"].format(name=mpc_name)
    coached = api.call("update_participant", "POST",
                       f"name_{mpc_name}/Participant/{ids['supervisor']}/",
                       json={"coach_mode": False})
    assert coached["coach_mode"] == oracle.MESSAGES["update_participant.coach_mode"].format(
        name=mpc_name)
    assert oracle.ERROR_STATUS["coach_mode_on_all"] == 400
    api.refused("POST", f"name_{mpc_name}/Participant/all/", 400, json={"coach_mode": True})

    started = api.call("start_recording", "POST", f"name_{mpc_name}/Record/",
                       json={"file_format": "wav"})
    assert started["message"] == oracle.MESSAGES["start_recording"].format(name=mpc_name)
    assert started["recording_url"].endswith(f"/Recording/{started['recording_id']}.wav")
    for op, method, path in (("pause_recording", "POST", "Record/Pause/"),
                             ("resume_recording", "POST", "Record/Resume/"),
                             ("stop_recording", "DELETE", "Record/")):
        api.call(op, method, f"name_{mpc_name}/{path}")
    agent = f"name_{mpc_name}/Participant/{ids['agent']}/"
    mine = api.call("start_participant_recording", "POST", f"{agent}Record/",
                    json={"file_format": "mp3", "record_track_type": "participant"})
    assert mine["message"] == oracle.MESSAGES["start_participant_recording"].format(
        name=mpc_name)
    for op, method, path in (("pause_participant_recording", "POST", "Record/Pause/"),
                             ("resume_participant_recording", "POST", "Record/Resume/"),
                             ("stop_participant_recording", "DELETE", "Record/")):
        api.call(op, method, f"{agent}{path}", json={"record_track_type": "participant"})

    play = f"name_{mpc_name}/Member/{ids['agent']}/Play/"
    queued = api.call("start_play_audio", "POST", play,
                      json={"url": "https://media.example.com/audio/announcement.wav"})
    assert (queued["message"], queued["mpcMemberId"], queued["mpcName"]) == (
        oracle.MESSAGES["start_play_audio"], [ids["agent"]], mpc_name)
    api.call("stop_play_audio", "DELETE", play)
    speak = f"name_{mpc_name}/Member/all/Speak/"
    spoken = api.call("start_speak", "POST", speak,
                      json={"text": "Hello", "language": "en-UK", "voice": "WOMAN", "mix": False})
    assert spoken["message"] == oracle.MESSAGES["start_speak"]
    assert sorted(spoken["mpcMemberId"]) == sorted(ids.values())
    api.call("stop_speak", "DELETE", speak)
    api.call("kick_participant", "DELETE", f"name_{mpc_name}/Participant/{ids['supervisor']}/")


def test_a_play_whose_medium_cannot_load_starts_and_stops_as_the_api_would(
        api: Api, server: RunningServer, mpc_name: str) -> None:
    add(api, mpc_name, "customer", CUSTOMER)
    ids = members(api, mpc_name)
    play = f"name_{mpc_name}/Member/{ids['customer']}/Play/"
    api.call("start_play_audio", "POST", play, json={"url": "https://elsewhere.example/a.mp3"})
    api.call("stop_play_audio", "DELETE", play)  # 204, as after any Play
    failed = [e for e in server.events(name="MPCPlayFailed")
              if e["params"]["PlayURL"] == "https://elsewhere.example/a.mp3"]
    assert failed and "elsewhere.example" in failed[0]["params"]["Error"]


def test_activate_is_204_and_404_unless_initialized(api: Api, mpc_name: str) -> None:
    add(api, mpc_name, "customer", CUSTOMER, start_mpc_on_enter=False)
    assert api.call("get", "GET", f"name_{mpc_name}/")["status"] == "Initialized"
    assert api.call("start", "POST", f"name_{mpc_name}/", json={"status": "active"}) is None
    assert oracle.ERROR_STATUS["start_not_initialized"] == 404
    api.refused("POST", f"name_{mpc_name}/", 404, json={"status": "active"})


def test_changes_to_an_ended_mpc_are_404_by_name_and_by_uuid(api: Api, mpc_name: str) -> None:
    add(api, mpc_name, "customer", CUSTOMER)
    uuid = api.call("get", "GET", f"name_{mpc_name}/")["mpc_uuid"]
    api.call("end", "DELETE", f"uuid_{uuid}/")
    for ident in (f"name_{mpc_name}", f"uuid_{uuid}"):
        api.refused("POST", f"{ident}/Record/", 404, json={})
        api.refused("DELETE", f"{ident}/", 404)
        api.refused("POST", f"{ident}/Participant/", 404,
                    json={"role": "agent", "from": FROM, "to": AGENT}) if ident.startswith(
            "uuid_") else None
    api.call("get", "GET", f"uuid_{uuid}/")


def test_list_filters_as_documented(api: Api, mpc_name: str) -> None:
    add(api, mpc_name, "customer", CUSTOMER)
    assert "end_time" in api.refused("GET", "", 400, params={"end_time": "yesterday"})
    assert "creation_time__gt" in api.refused("GET", "", 400,
                                              params={"creation_time__gt": "2021-13-01 00:00"})
    api.call("end", "DELETE", f"name_{mpc_name}/")
    listed = api.call("list", "GET", "", params={"friendly_name": mpc_name,
                                                 "end_time__gte": "2000-01-01 00:00"})
    # a bound on one side: a window of 30 days from it, so an MPC ended today is not in it
    assert listed["objects"] == []
    recent = api.call("list", "GET", "", params={"friendly_name": mpc_name})
    assert [m["friendly_name"] for m in recent["objects"]] == [mpc_name]  # the last 7 days
