"""Asynchronous mode: with callback_url, every endpoint answers {"api_id", "message": "async api
spawned"} at once and sends its own answer to callback_url, signed like every callback."""

from __future__ import annotations

import json

from plivo.utils.signature_v3 import validate_v3_signature

from tests.server.conftest import AGENT, CUSTOMER, FROM
from tests.server.harness import MAIN, CallbackReceiver, RunningServer

from . import oracle

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"


def test_every_kind_of_endpoint_answers_at_once_and_sends_its_answer(
        server: RunningServer, receiver: CallbackReceiver, mpc_name: str) -> None:
    mpc = f"{BASE}/name_{mpc_name}"
    with server.http(MAIN) as client:
        requests = [
            ("add", "POST", f"{mpc}/Participant/",
             {"role": "customer", "from": FROM, "to": CUSTOMER}),
            ("add2", "POST", f"{mpc}/Participant/", {"role": "agent", "from": FROM, "to": AGENT}),
            ("get", "GET", f"{mpc}/", None),
            ("list", "GET", f"{BASE}/", {"friendly_name": mpc_name}),
            ("start", "POST", f"{mpc}/", {"status": "active"}),  # Active already: 404
            ("record", "POST", f"{mpc}/Record/", {"file_format": "wav"}),
            ("stop", "DELETE", f"{mpc}/Record/", None),
        ]
        spawned = {}
        for tag, method, path, args in requests:
            callback = {"callback_url": f"{receiver.url}/{tag}", "callback_method": "POST"}
            if method == "GET":
                response = client.get(path, params={**(args or {}), **callback})
            else:
                response = client.request(method, path, json={**(args or {}), **callback})
            assert response.status_code == 200, response.text
            body = response.json()
            assert oracle.problems(body, oracle.ASYNC) == [], body
            assert body["message"] == oracle.MESSAGES["async"]
            spawned[tag] = body["api_id"]
        # what the requests did is done by the time they answered
        listed = client.get(f"{mpc}/Participant/").json()
        assert len(listed["objects"]) == 2
    server.wait_callbacks_idle()
    got = {r.path.lstrip("/"): r for r in receiver.snapshot()}
    assert set(got) == set(spawned)
    for tag, callback in got.items():
        assert callback.params["api_id"] == spawned[tag]
        nonce = callback.headers["X-Plivo-Signature-V3-Nonce"]
        assert validate_v3_signature("POST", callback.url, nonce, MAIN.auth_token,
                                     callback.headers["X-Plivo-Signature-V3"],
                                     dict(callback.params))
    assert got["add"].params["status_code"] == "201"
    assert got["add"].params["message"] == oracle.MESSAGES["add_participant"]
    assert json.loads(got["add"].params["calls"])[0]["to"] == CUSTOMER
    assert got["get"].params["friendly_name"] == mpc_name and got["get"].params["status_code"] == "200"
    assert json.loads(got["list"].params["objects"])[0]["friendly_name"] == mpc_name
    assert got["start"].params["status_code"] == "404" and "Initialized" in got["start"].params["error"]
    assert got["record"].params["status_code"] == "202" and got["record"].params["recording_id"]
    assert got["stop"].params["status_code"] == "204"
    assert set(got["stop"].params) == {"api_id", "status_code"}


def test_a_callback_url_that_is_no_http_url_is_refused_before_anything_runs(
        server: RunningServer, mpc_name: str) -> None:
    with server.http(MAIN) as client:
        response = client.post(f"{BASE}/name_{mpc_name}/Participant/", json={
            "role": "customer", "from": FROM, "to": CUSTOMER, "callback_url": "ftp://x/"})
        assert response.status_code == 400 and "callback_url" in response.json()["error"]
        assert client.get(f"{BASE}/name_{mpc_name}/").status_code == 404


def test_a_bad_callback_method_is_refused_with_or_without_callback_url(
        server: RunningServer, mpc_name: str) -> None:
    with server.http(MAIN) as client:
        for query in ({"callback_method": "true"},
                      {"callback_method": "PUT", "callback_url": "http://127.0.0.1:9/x"}):
            response = client.get(f"{BASE}/", params=query)
            assert response.status_code == 400 and "callback_method" in response.json()["error"]
