"""Security: accounts are walled off on every route, bodies are bounded, credentials are compared in
constant time, and no request makes the server read a file outside its media root.
"""

from __future__ import annotations

import hmac
import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.server.conftest import AGENT, CUSTOMER, FROM, virtual_config
from tests.server.harness import MAIN, OTHER, SUB, RunningServer, serve

MAIN_BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"

#: A body for each operation that MAIN itself could send successfully: the only reason another
#: account's request fails is whose MPC it names.
BODIES: dict[str, dict[str, Any]] = {
    "add_participant": {"role": "agent", "from": FROM, "to": AGENT},
    "start": {"status": "active"},
    "update_participant": {"mute": True},
    "start_recording": {"file_format": "wav"},
    "start_participant_recording": {"file_format": "wav", "record_track_type": "participant"},
    "start_play_audio": {"urls": "tone.wav"},
    "emulator_dtmf": {"digits": "1"},
}


@pytest.fixture(scope="module")
def walled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict]]:
    """A server where MAIN has an MPC with participants, a recording and a Play running."""
    tmp = tmp_path_factory.mktemp("walled")
    with serve(virtual_config(tmp)) as server, server.http(MAIN) as client:
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            assert client.post(f"{MAIN_BASE}/name_mine/Participant/",
                               json={"role": role, "from": FROM, "to": to}).status_code == 201
        mpc = client.get(f"{MAIN_BASE}/name_mine/").json()
        members = client.get(f"{MAIN_BASE}/name_mine/Participant/").json()["objects"]
        recording = client.post(f"{MAIN_BASE}/name_mine/Record/", json={"file_format": "wav"}).json()
        member = members[0]["member_id"]
        assert client.post(f"{MAIN_BASE}/name_mine/Member/{member}/Play/",
                           json={"urls": "music/wait.wav"}).status_code == 202
        server.advance(1)
        found = {"mpc": mpc, "members": members, "recording": recording, "member": member,
                 "call_uuid": members[0]["call_uuid"]}
        yield server, found


def _routes(server: RunningServer) -> list[tuple[str, str, str]]:
    out = []
    for route in server.app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                out.append((route.path, method, route.operation_id or route.name))
    return out


def _fill(path: str, auth_id: str, found: dict) -> str:
    values = {"auth_id": auth_id, "mpc_id": f"uuid_{found['mpc']['mpc_uuid']}",
              "member_id": found["member"], "call_uuid": found["call_uuid"],
              "filename": found["recording"]["recording_url"].rsplit("/", 1)[1],
              "recording_id": found["recording"]["recording_id"],
              "stream_id": "a-stream-of-no-one"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def _state_of_main(server: RunningServer, found: dict) -> str:
    with server.http(MAIN) as client:
        mpc = client.get(f"{MAIN_BASE}/uuid_{found['mpc']['mpc_uuid']}/").json()
        members = client.get(f"{MAIN_BASE}/uuid_{found['mpc']['mpc_uuid']}/Participant/").json()
    mpc.pop("api_id")
    members.pop("api_id")
    return json.dumps([mpc, members], sort_keys=True)


def test_every_route_is_walled_off_from_other_accounts(walled: tuple[RunningServer, dict]) -> None:
    server, found = walled
    before = _state_of_main(server, found)
    routes = _routes(server)
    assert len(routes) >= 25
    checked = 0
    clients = {account.auth_id: server.http(account) for account in (OTHER, SUB)}
    for path, method, operation in routes:
        if path.startswith("/emulator/") and "{call_uuid}" not in path:
            continue  # the account's own clock, log and stats (checked below)
        body = BODIES.get(operation)
        for account in (OTHER, SUB):
            client = clients[account.auth_id]
            # Its own account in the path, MAIN's MPC, member, recording or call: not found.
            own = client.request(method, _fill(path, account.auth_id, found),
                                 json=body if method != "GET" else None)
            # Nothing of MAIN's MPC shows (a 404 may echo the id it was given, no more).
            assert "mine" not in own.text and found["mpc"]["creation_time"] not in own.text
            if not re.search(r"\{(mpc_id|filename|recording_id|call_uuid)\}", path):
                assert own.status_code == 200, (method, path)  # the list: its own MPCs
                assert found["mpc"]["mpc_uuid"] not in own.text
            else:
                assert own.status_code == 404, (account.auth_id, method, path, own.text)
                assert set(own.json()) == {"api_id", "error"}
            # MAIN's account in the path: these credentials cannot act on it at all.
            if "{auth_id}" in path:
                theirs = client.request(method, _fill(path, MAIN.auth_id, found),
                                        json=body if method != "GET" else None)
                assert theirs.status_code == 401, (account.auth_id, method, path, theirs.text)
                assert b"RIFF" not in theirs.content
            checked += 1
    for client in clients.values():
        client.close()
    assert checked >= 20
    # Nothing another account sent changed MAIN's MPC or its participants.
    assert _state_of_main(server, found) == before


def test_another_accounts_lists_logs_and_files_never_show_mine(
        walled: tuple[RunningServer, dict]) -> None:
    server, found = walled
    uuid = found["mpc"]["mpc_uuid"]
    for account in (OTHER, SUB):
        with server.http(account) as client:
            listed = client.get(f"/v1/Account/{account.auth_id}/MultiPartyCall/").json()
            assert uuid not in json.dumps(listed)
            events = client.get("/emulator/events").json()
            assert uuid not in json.dumps(events)
            assert client.get("/emulator/events", params={"mpc_uuid": uuid}).json()["count"] == 0
            refused = client.get(f"/v1/Account/{account.auth_id}/MultiPartyCall/",
                                 params={"sub_account": MAIN.auth_id})
            assert refused.status_code == 400
    # The main account does see its subaccount's log when asking for it, and only then.
    with server.http(MAIN) as client:
        assert client.get("/emulator/events", params={"sub_account": OTHER.auth_id}).status_code \
            == 400


def test_a_large_body_is_refused_with_413_and_the_api_error(server: RunningServer) -> None:
    limit = server.state.config.max_body_bytes
    path = f"{MAIN_BASE}/name_big/Participant/"
    big = json.dumps({"role": "agent", "from": FROM, "to": AGENT, "x": "a" * (limit + 10)})
    with server.http() as client:
        declared = client.post(path, content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413, declared.text
        body = declared.json()
        assert set(body) == {"api_id", "error"} and "larger than" in body["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
            for start in range(0, len(big), 65536):
                yield big[start:start + 65536].encode()

        chunked = client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413, chunked.text
        assert set(chunked.json()) == {"api_id", "error"}
        assert client.get(f"{MAIN_BASE}/name_big/").status_code == 404  # nothing was created
        small = json.dumps({"role": "agent", "from": FROM, "to": AGENT, "x": "a" * 1000})
        ok = client.post(path, content=small, headers={"Content-Type": "application/json"})
        assert ok.status_code == 201, ok.text
        for emulator in ("/emulator/advance", "/emulator/calls/x/dtmf"):
            assert client.post(emulator, content=big,
                               headers={"Content-Type": "application/json"}).status_code == 413


def test_credentials_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from mpcmix.server import auth

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    checker = auth.Authenticator([MAIN])
    for header in (httpx.BasicAuth(MAIN.auth_id, "wrong")._auth_header,
                   httpx.BasicAuth("MANOSUCHACCOUNT00001", "wrong")._auth_header,
                   httpx.BasicAuth(MAIN.auth_id, MAIN.auth_token)._auth_header):
        try:
            checker.authenticate(header)
        except auth.AuthenticationError:
            pass
    # Known or unknown id, right or wrong token: always one constant-time comparison.
    assert len(compared) == 3


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("media")
    config = virtual_config(tmp)
    media = config.media_root
    assert media is not None
    outside = tmp / "outside"
    outside.mkdir()
    shutil.copy(tmp / "secret.wav", outside / "secret.wav")
    (media / "linked").symlink_to(outside)  # a folder under the root that leads out
    (media / "sneaky.xml").write_text(
        "<Response><Play>../secret.wav</Play><Play>/etc/passwd</Play></Response>")
    with serve(config) as running:
        yield running


@pytest.mark.parametrize("url", [
    "linked/secret.wav",
    "file://linked/secret.wav",
    "http://media.example.com/..%2f..%2fsecret.wav",
    "http://media.example.com/%2e%2e/%2e%2e/secret.wav",
    "file:///%2e%2e/secret.wav",
    "file://%2Fetc%2Fpasswd",
    "sneaky.xml",
    "voices/../../secret.wav",
    "voices/customer.wav%00/../../../secret.wav",
    "\\\\..\\\\secret.wav",
])
def test_no_music_sound_or_play_url_reads_outside_the_media_root(
        media_server: RunningServer, url: str) -> None:
    name = f"media_{abs(hash(url))}"
    with media_server.http() as client:
        before = len(media_server.events())
        response = client.post(f"{MAIN_BASE}/name_{name}/Participant/", json={
            "role": "customer", "from": FROM, "to": CUSTOMER, "wait_music_url": url,
            "customer_hold_music_url": url, "enter_sound": url, "start_mpc_on_enter": False})
        assert response.status_code == 201, response.text
        member = client.get(f"{MAIN_BASE}/name_{name}/Participant/").json()["objects"][0]
        assert client.post(f"{MAIN_BASE}/name_{name}/Member/{member['member_id']}/Play/",
                           json={"urls": url}).status_code == 202
        media_server.advance(0.2)
    new = media_server.events(after=before)
    names = [e["name"] for e in new]
    assert "MPCPlayFailed" in names and "MPCPlayStarted" not in names
    assert "MPCMediaFailed" in names
    # What the participant heard is the built-in wait music, never the secret file's chime:
    # nothing outside the root was decoded or opened.
    root = str(media_server.state.media.base_dir)
    assert all(path.startswith(root + "/") for path in media_server.state.media.cached_files())
