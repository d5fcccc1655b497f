"""What the server refuses, and how: the API's error JSON with 400/401/404/405, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import plivo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plivo import exceptions as px

from .conftest import AGENT, CUSTOMER, FROM, SUPERVISOR
from .harness import MAIN, OTHER, SUB, RunningServer

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"


def api_error(response: httpx.Response, status: int) -> str:
    """Assert `response` is the API's error body with `status`; return the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"api_id", "error"} and body["api_id"] and body["error"]
    return str(body["error"])


def new_mpc(client: httpx.Client, name: str, *roles_and_numbers: tuple[str, str]) -> list[str]:
    """Add participants by plain HTTP; return their member_ids."""
    for role, to in roles_and_numbers or (("customer", CUSTOMER), ("agent", AGENT)):
        response = client.post(f"{BASE}/name_{name}/Participant/",
                               json={"role": role, "from": FROM, "to": to})
        assert response.status_code == 201, response.text
    listed = client.get(f"{BASE}/name_{name}/Participant/").json()["objects"]
    return [p["member_id"] for p in listed]


# --- credentials and accounts --------------------------------------------------------------------


def test_missing_or_wrong_credentials_are_401(server: RunningServer) -> None:
    with server.http(None) as anonymous:
        response = anonymous.get(f"{BASE}/")
        assert "authentication" in api_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert api_error(anonymous.get("/emulator/events"), 401)
        assert api_error(anonymous.post("/emulator/advance", json={"seconds": 1}), 401)
    wrong = httpx.Client(base_url=server.url, auth=(MAIN.auth_id, "not-the-token"))
    with wrong:
        api_error(wrong.get(f"{BASE}/name_x/"), 401)
    with server.http(MAIN) as client:  # right credentials, someone else's account in the path
        api_error(client.get(f"/v1/Account/{OTHER.auth_id}/MultiPartyCall/"), 401)


def test_the_sdk_maps_auth_failures(sdk_for: Callable[..., plivo.RestClient]) -> None:
    client = sdk_for(MAIN.auth_id, "not-the-token")
    with pytest.raises(px.AuthenticationError):
        client.multi_party_calls.get(friendly_name="anything")
    # The SDK's list methods parse the error body as a list before they check the status, so
    # the real API's error JSON surfaces as AttributeError (docs/server.md, "SDK quirks").
    with pytest.raises(AttributeError):
        client.multi_party_calls.list()


def test_one_account_never_sees_another_accounts_mpcs(
        sdk: plivo.RestClient, sdk_for: Callable[..., plivo.RestClient], mpc_name: str) -> None:
    sdk.multi_party_calls.add_participant(role="customer", friendly_name=mpc_name, from_=FROM,
                                          to_=CUSTOMER)
    mpc = sdk.multi_party_calls.get(friendly_name=mpc_name)
    member = sdk.multi_party_calls.list_participants(friendly_name=mpc_name).objects[0].member_id
    other = sdk_for(OTHER.auth_id, OTHER.auth_token).multi_party_calls
    for call in (lambda: other.get(uuid=mpc.mpc_uuid), lambda: other.get(friendly_name=mpc_name),
                 lambda: other.stop(uuid=mpc.mpc_uuid),
                 lambda: other.kick_participant(participant_id=member, uuid=mpc.mpc_uuid),
                 lambda: other.get_participant(participant_id=member, uuid=mpc.mpc_uuid),
                 lambda: other.start_recording(uuid=mpc.mpc_uuid)):
        with pytest.raises(px.ResourceNotFoundError):
            call()
    assert mpc.mpc_uuid not in {m.mpc_uuid for m in other.list().objects}
    # The same name in another account is another MPC.
    other.add_participant(role="customer", friendly_name=mpc_name, from_=FROM, to_=CUSTOMER)
    assert other.get(friendly_name=mpc_name).mpc_uuid != mpc.mpc_uuid
    assert sdk.multi_party_calls.get(friendly_name=mpc_name).mpc_uuid == mpc.mpc_uuid


def test_a_main_account_reaches_its_subaccounts_mpcs_but_not_the_reverse(
        server: RunningServer, sdk: plivo.RestClient,
        sdk_for: Callable[..., plivo.RestClient], mpc_name: str) -> None:
    sub = sdk_for(SUB.auth_id, SUB.auth_token).multi_party_calls
    sub.add_participant(role="customer", friendly_name=mpc_name, from_=FROM, to_=CUSTOMER)
    created = sub.get(friendly_name=mpc_name)
    assert created.resource_uri.startswith(f"/v1/Account/{SUB.auth_id}/")
    # sub_account as the recorded list bodies write it: the subaccount's URI under its parent.
    assert created.sub_account == f"/v1/Account/{MAIN.auth_id}/Subaccount/{SUB.auth_id}/"
    listed = sdk.multi_party_calls.list(sub_account=SUB.auth_id)
    assert created.mpc_uuid in {m.mpc_uuid for m in listed.objects}
    assert all(m.sub_account == created.sub_account for m in listed.objects)
    # The main account's own list holds its subaccounts' MPCs too; a subaccount sees only its own.
    everything = {m.mpc_uuid: m for m in sdk.multi_party_calls.list(friendly_name=mpc_name).objects}
    assert everything[created.mpc_uuid].sub_account == created.sub_account
    assert created.mpc_uuid in {m.mpc_uuid for m in sub.list().objects}
    mine = sdk.multi_party_calls.add_participant(role="customer", friendly_name=mpc_name + "_main",
                                                 from_=FROM, to_=CUSTOMER)
    assert mine.api_id and not sub.list(friendly_name=mpc_name + "_main").objects
    with server.http(MAIN) as client:  # the parent's credentials on the subaccount's path
        assert client.get(created.resource_uri).json()["mpc_uuid"] == created.mpc_uuid
    with server.http(SUB) as client:
        api_error(client.get(f"{BASE}/"), 401)
        api_error(client.get(f"/v1/Account/{SUB.auth_id}/MultiPartyCall/",
                             params={"sub_account": OTHER.auth_id}), 400)


# --- bodies and parameters ------------------------------------------------------------------------


def test_malformed_bodies_are_400(server: RunningServer, mpc_name: str) -> None:
    path = f"{BASE}/name_{mpc_name}/Participant/"
    with server.http() as client:
        bad_json = client.post(path, content=b'{"role": "agent",',
                               headers={"Content-Type": "application/json"})
        assert "JSON" in api_error(bad_json, 400)
        assert "object" in api_error(client.post(path, json=["agent"]), 400)
        xml = client.post(path, content=b"<role/>", headers={"Content-Type": "text/xml"})
        assert "Content-Type" in api_error(xml, 400)
        assert "mute" in api_error(client.post(f"{BASE}/name_{mpc_name}/Participant/1/",
                                               json={"mute": "maybe"}), 400)
        assert "max_participants" in api_error(
            client.post(path, json={"role": "agent", "from": FROM, "to": AGENT,
                                    "max_participants": "ten"}), 400)


def test_form_bodies_and_string_booleans_are_accepted(server: RunningServer, mpc_name: str) -> None:
    path = f"{BASE}/name_{mpc_name}/Participant/"
    with server.http() as client:
        response = client.post(path, data={"role": "customer", "from": FROM, "to": CUSTOMER,
                                           "start_mpc_on_enter": "false", "mute": "true",
                                           "max_participants": "3"})
        assert response.status_code == 201, response.text
        mpc = client.get(f"{BASE}/name_{mpc_name}/").json()
        assert mpc["status"] == "Initialized" and "max_participants" not in mpc
        member = client.get(path).json()["objects"][0]
        assert member["mute"] is True
        started = client.post(f"{BASE}/name_{mpc_name}/", data={"status": "Active"})
        assert started.status_code == 204 and started.content == b"", started.text


def test_unknown_parameters_are_ignored(server: RunningServer, mpc_name: str) -> None:
    with server.http() as client:
        response = client.post(f"{BASE}/name_{mpc_name}/Participant/", json={
            "role": "customer", "from": FROM, "to": CUSTOMER, "friendly_name": mpc_name,
            "no_such_parameter": {"nested": [1, 2]}, "another": None, "participant_id": "9"})
        assert response.status_code == 201, response.text
        listed = client.get(f"{BASE}/name_{mpc_name}/Participant/", params={"bogus": "1"})
        assert listed.status_code == 200


@pytest.mark.parametrize("parameter, value", [
    ("sip_headers", "X-Team=blue"), ("relay_dtmf_inputs", True), ("send_digits", "123"),
    ("transcript", True),
    ("create_mpc_with_single_participant", False), ("dial_music", "https://example.com/m.mp3"),
])
def test_parameters_the_emulator_cannot_honour_are_refused_unless_default(
        server: RunningServer, mpc_name: str, parameter: str, value: object) -> None:
    path = f"{BASE}/name_{mpc_name}/Participant/"
    body = {"role": "customer", "from": FROM, "to": CUSTOMER}
    with server.http() as client:
        assert parameter in api_error(client.post(path, json={**body, parameter: value}), 400)
        assert client.get(f"{BASE}/name_{mpc_name}/").status_code == 404  # nothing was created
    # The SDK sends every one of them at its default: accepted (see test_sdk_operations).


# --- methods and paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("PUT", f"{BASE}/name_x/"), ("PATCH", f"{BASE}/name_x/Participant/1/"),
    ("DELETE", f"{BASE}/"), ("POST", f"{BASE}/"), ("GET", f"{BASE}/name_x/Record/"),
    ("GET", f"{BASE}/name_x/Member/1/Play/"), ("DELETE", f"{BASE}/name_x/Record/Pause/"),
    ("DELETE", f"{BASE}/name_x/Participant/"), ("GET", "/emulator/advance"),
])
def test_wrong_methods_are_405_with_the_api_error_body(
        server: RunningServer, method: str, path: str) -> None:
    with server.http() as client:
        response = client.request(method, path)
    assert "not allowed" in api_error(response, 405)
    assert response.headers.get("allow")


def test_unknown_paths_and_ids_are_404(server: RunningServer) -> None:
    with server.http() as client:
        api_error(client.get(f"{BASE}/name_x/Nothing/"), 404)
        api_error(client.get(f"{BASE}/plainname/"), 404)  # neither name_ nor uuid_
        api_error(client.get("/v2/whatever"), 404)


def test_paths_without_trailing_slash_are_served(server: RunningServer, mpc_name: str) -> None:
    with server.http() as client:
        response = client.post(f"{BASE}/name_{mpc_name}/Participant",
                               json={"role": "customer", "from": FROM, "to": CUSTOMER})
        assert response.status_code == 201
        assert client.get(f"{BASE}/name_{mpc_name}").json()["friendly_name"] == mpc_name


# --- the API's own refusals -----------------------------------------------------------------------


def test_every_api_error_case(server: RunningServer, mpc_name: str) -> None:
    name = f"{BASE}/name_{mpc_name}"
    with server.http() as client:
        add = f"{name}/Participant/"
        assert "role" in api_error(client.post(add, json={"from": FROM, "to": CUSTOMER}), 400)
        assert "role" in api_error(client.post(add, json={"role": "boss", "from": FROM,
                                                          "to": CUSTOMER}), 400)
        assert "to" in api_error(client.post(add, json={"role": "agent", "from": FROM}), 400)
        for key, value in (("max_participants", 11), ("max_participants", 1),
                           ("max_duration", 299), ("record_min_member_count", 3)):
            body = {"role": "agent", "from": FROM, "to": AGENT, key: value}
            assert key in api_error(client.post(add, json=body), 400)
        api_error(client.get(f"{name}/"), 404)  # no such MPC yet
        customer, agent = new_mpc(client, mpc_name)
        client.post(add, json={"role": "supervisor", "from": FROM, "to": SUPERVISOR})
        api_error(client.post(f"{name}/Participant/{customer}/", json={}), 400)  # nothing to do
        api_error(client.post(f"{name}/Participant/all/", json={"coach_mode": False}), 400)
        api_error(client.post(f"{name}/Participant/{agent}/", json={"coach_mode": True}), 400)
        api_error(client.get(f"{name}/Participant/99999/"), 404)
        api_error(client.request("DELETE", f"{name}/Participant/99999/"), 404)
        api_error(client.post(f"{name}/", json={"status": ["active"]}), 404)  # not Initialized
        api_error(client.post(f"{name}/", json={"status": "ended"}), 400)
        api_error(client.post(f"{name}/Record/Pause/"), 400)  # nothing recording
        api_error(client.post(f"{name}/Record/Resume/"), 400)
        api_error(client.request("DELETE", f"{name}/Record/"), 400)
        assert client.post(f"{name}/Record/", json={"file_format": "wav"}).status_code == 202
        api_error(client.post(f"{name}/Record/", json={}), 400)  # already recording
        api_error(client.post(f"{name}/Record/", json={"file_format": "ogg"}), 400)
        api_error(client.post(f"{name}/Participant/{agent}/Record/",
                              json={"record_track_type": "neither"}), 400)
        api_error(client.post(f"{name}/Participant/99999/Record/"), 404)
        api_error(client.post(f"{name}/Member/{customer}/Play/", json={}), 400)  # no urls
        api_error(client.request("DELETE", f"{name}/Member/{customer}/Play/"), 404)  # no Play
        api_error(client.get(f"{BASE}/", params={"limit": 50}), 400)
        api_error(client.get(f"{BASE}/", params={"status": "sleeping"}), 400)
        api_error(client.get(f"{BASE}/", params={"end_time__gt": "yesterday"}), 400)
        api_error(client.post("/emulator/advance", json={"seconds": -1}), 400)
        api_error(client.post("/emulator/advance", json={"seconds": "soon"}), 400)
        api_error(client.post("/emulator/calls/x/dtmf", json={}), 400)
        # Full: max_participants counts everyone added until they exit.
        small = f"{BASE}/name_{mpc_name}_small/Participant/"
        for to in (CUSTOMER, AGENT):
            client.post(small, json={"role": "agent", "from": FROM, "to": to,
                                     "max_participants": 2})
        assert "max_participants" in api_error(
            client.post(small, json={"role": "agent", "from": FROM, "to": SUPERVISOR}), 400)
        assert client.request("DELETE", f"{name}/").status_code == 204
        api_error(client.request("DELETE", f"{name}/"), 404)  # a name finds live MPCs only


_clients: dict[str, httpx.Client] = {}


def _shared_client(server: RunningServer) -> httpx.Client:
    # One client for all examples: making an httpx.Client (an SSL context) costs ~0.1 s.
    if server.url not in _clients:
        _clients[server.url] = server.http()
    return _clients[server.url]


@pytest.fixture(scope="module", autouse=True)
def _close_shared_clients() -> object:
    yield None
    for client in _clients.values():
        client.close()
    _clients.clear()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(["role", "from", "to", "mute", "hold", "coach_mode", "max_participants",
                         "ring_timeout", "status", "urls", "url", "file_format", "enter_sound",
                         "record_track_type", "limit", "wait_music_url", "call_uuid", "x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(_keys, _json_values, max_size=6),
       path=st.sampled_from(["Participant/", "", "Record/", "Participant/all/", "Member/all/Play/",
                             "Participant/1,2/Record/Pause/"]),
       method=st.sampled_from(["POST", "DELETE", "GET"]))
def test_no_request_body_gets_a_server_error(server: RunningServer, body: dict[str, object],
                                            path: str, method: str) -> None:
    client = _shared_client(server)
    if method == "GET":
        response = client.get(f"{BASE}/name_fuzz/{path}", params={
            k: json.dumps(v) for k, v in body.items()})
    else:
        # Python's json writes NaN and Infinity, which httpx refuses to: send the bytes.
        response = client.request(method, f"{BASE}/name_fuzz/{path}",
                                  content=json.dumps(body).encode(),
                                  headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"api_id", "error"}


# --- files that must never be read or served ------------------------------------------------------


@pytest.mark.parametrize("filename", [
    "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fsecret.wav", "..%5c..%5csecret.wav",
    "%00.wav", "events.jsonl", "..", "listeners%2F1.wav", "x.txt",
])
def test_downloads_refuse_path_traversal(server: RunningServer, filename: str) -> None:
    with server.http() as client:
        response = client.get(f"/v1/Account/{MAIN.auth_id}/Recording/{filename}")
    assert response.status_code in (404, 405), response.text
    assert b"root:" not in response.content and b"RIFF" not in response.content


def test_listener_downloads_refuse_path_traversal(server: RunningServer, mpc_name: str) -> None:
    with server.http() as client:
        new_mpc(client, mpc_name)
        for member in ("..", "..%2F..%2Fevents", "%2e%2e", "1%00", "all", "1,2"):
            response = client.get(f"{BASE}/name_{mpc_name}/Participant/{member}/Listener.wav")
            assert response.status_code in (400, 404), (member, response.text)
            assert b"RIFF" not in response.content


@pytest.mark.parametrize("url", [
    "http://media.example.com/../../secret.wav",
    "http://media.example.com/audio/%2e%2e/%2e%2e/%2e%2e/secret.wav",
    "file:///etc/passwd",
    "file://../secret.wav",
    "escape.wav",  # a symlink under the root that leads out of it
    "/etc/passwd",
    "http://media.example.com/audio/missing.wav",
    "http://media.example.com/audio/announcement.wav%00.txt",  # a NUL once unquoted
    "ftp://media.example.com/audio/announcement.wav",
])
def test_media_outside_the_root_is_never_read_and_play_still_answers_202(
        server: RunningServer, mpc_name: str, url: str) -> None:
    with server.http() as client:
        customer, _agent = new_mpc(client, mpc_name)
        before = len(server.events())
        response = client.post(f"{BASE}/name_{mpc_name}/Member/{customer}/Play/", json={"urls": url})
        assert response.status_code == 202, response.text
    new = server.events(after=before)
    failed = [e for e in new if e["name"] == "MPCPlayFailed"]
    assert failed and failed[0]["params"]["PlayURL"] == url
    assert not [e for e in new if e["name"] == "MPCPlayStarted"]


def test_a_nul_in_a_text_parameter_is_refused_naming_it_and_changes_nothing(
        server: RunningServer, mpc_name: str) -> None:
    with server.http() as client:
        customer, _agent = new_mpc(client, mpc_name)
        before = len(server.events())
        response = client.post(f"{BASE}/name_{mpc_name}/Member/{customer}/Play/",
                               json={"urls": "http://media.example.com/audio/a.wav\x00.txt"})
        assert response.status_code == 400, response.text
        assert "urls" in response.json()["error"] and "NUL" in response.json()["error"]
    assert server.events(after=before) == []

