"""Callbacks reach a receiver signed exactly as Plivo signs them; none is lost from the log."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import plivo
from plivo.utils.signature_v3 import validate_v3_signature

from .conftest import AGENT, CUSTOMER, FROM
from .harness import MAIN, SUB, CallbackReceiver, Received, RunningServer


def assert_signed(callback: Received, token: str, main_token: str) -> None:
    """The callback validates with the SDK's own function, as a receiver would check it."""
    nonce = callback.headers["X-Plivo-Signature-V3-Nonce"]
    signature = callback.headers["X-Plivo-Signature-V3"]
    assert validate_v3_signature(callback.method, callback.url, nonce, token, signature,
                                 dict(callback.params)), callback
    assert validate_v3_signature(callback.method, callback.url, nonce, main_token,
                                 callback.headers["X-Plivo-Signature-Ma-V3"], dict(callback.params))
    if callback.method == "GET":  # the same check from the bare URL plus the parameters
        bare = callback.url.split("?", 1)[0]
        assert validate_v3_signature("GET", bare, nonce, token, signature, dict(callback.params))
    assert not validate_v3_signature(callback.method, callback.url, nonce, "some-other-token",
                                     signature, dict(callback.params))


def test_every_callback_is_signed_and_ordered(
        sdk: plivo.RestClient, server: RunningServer, receiver: CallbackReceiver,
        mpc_name: str) -> None:
    calls = sdk.multi_party_calls
    calls.add_participant(role="customer", friendly_name=mpc_name, from_=FROM, to_=CUSTOMER,
                          status_callback_url=f"{receiver.url}/status?source=customer",
                          status_callback_method="POST",
                          status_callback_events="mpc-state-changes,participant-state-changes",
                          on_exit_action_url=f"{receiver.url}/exit")
    calls.add_participant(role="agent", friendly_name=mpc_name, from_=FROM, to_=AGENT,
                          status_callback_url=f"{receiver.url}/status-get",
                          status_callback_method="GET")
    agent = {p.role: p.member_id for p in
             calls.list_participants(friendly_name=mpc_name).objects}["agent"]
    started = calls.start_recording(friendly_name=mpc_name, file_format="wav",
                                    recording_callback_url=f"{receiver.url}/recording")
    server.advance(1)
    calls.update_participant(participant_id=agent, friendly_name=mpc_name, mute=True)
    calls.pause_recording(friendly_name=mpc_name)
    server.advance(1)
    calls.resume_recording(friendly_name=mpc_name)
    server.advance(1)
    calls.stop_recording(friendly_name=mpc_name)
    calls.stop(friendly_name=mpc_name)
    server.wait_callbacks_idle()

    mine = [r for r in receiver.snapshot() if r.params.get("MPCName") == mpc_name
            or r.path == "/exit"]
    assert {r.path for r in mine} == {"/status", "/status-get", "/recording", "/exit"}
    assert {r.method for r in mine if r.path == "/status-get"} == {"GET"}
    for callback in mine:
        assert_signed(callback, MAIN.auth_token, MAIN.auth_token)

    recording = [r.params for r in mine if r.path == "/recording"]
    assert [p["EventName"] for p in recording] == [
        "MPCRecordingInitiated", "MPCRecordingPaused", "MPCRecordingResumed",
        "MPCRecordingCompleted"]
    completed = recording[-1]
    assert completed["RecordingUUID"] == started.recording_id
    assert completed["RecordingURL"] == started.recording_url
    assert completed["RecordingFormat"] == "wav" and completed["MPCUUID"]
    with server.http() as client:
        assert client.get(completed["RecordingURL"]).content[:4] == b"RIFF"

    status = [r.params for r in mine if r.path == "/status"]
    names = [p["EventName"] for p in status]
    assert "ParticipantJoin" in names and "MPCEnd" in names and "ParticipantExit" in names
    sequence = [int(p["SequenceNumber"]) for p in status]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    assert "ParticipantMute" in [r.params["EventName"] for r in mine if r.path == "/status-get"]

    # The event log holds every event, with what became of its callback.
    logged = [e for e in server.events() if e["params"].get("MPCName") == mpc_name]
    sent = [e for e in logged if e["url"]]
    assert sent and all(e["delivery"]["status"] == "delivered" for e in sent)
    assert len(sent) == len([r for r in mine if r.path != "/exit"])


def test_a_subaccounts_callbacks_also_carry_the_main_accounts_signature(
        server: RunningServer, sdk_for: Callable[..., plivo.RestClient],
        receiver: CallbackReceiver, mpc_name: str) -> None:
    sub = sdk_for(SUB.auth_id, SUB.auth_token).multi_party_calls
    sub.add_participant(role="customer", friendly_name=mpc_name, from_=FROM, to_=CUSTOMER,
                        status_callback_url=f"{receiver.url}/sub", status_callback_method="POST")
    sub.stop(friendly_name=mpc_name)
    server.wait_callbacks_idle()
    got = receiver.wait_for(lambda r: r.path == "/sub")
    for callback in got:
        assert_signed(callback, SUB.auth_token, MAIN.auth_token)


def test_a_dead_receiver_loses_no_event(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    dead = "http://127.0.0.1:9/never-listening"
    calls = sdk.multi_party_calls
    calls.add_participant(role="customer", friendly_name=mpc_name, from_=FROM, to_=CUSTOMER,
                          status_callback_url=dead, status_callback_method="POST")
    calls.add_participant(role="agent", friendly_name=mpc_name, from_=FROM, to_=AGENT)
    calls.stop(friendly_name=mpc_name)  # every request was answered meanwhile
    server.wait_callbacks_idle()
    logged = [e for e in server.events() if e["url"] == dead]
    assert {"ParticipantJoin", "MPCStart", "MPCEnd"} <= {e["name"] for e in logged}
    for event in logged:
        assert event["delivery"]["status"] == "failed"
        assert event["delivery"]["attempts"] == server.state.config.callback_attempts
    uuid = logged[0]["mpc_uuid"]
    assert server.events(mpc_uuid=uuid)[-1]["name"] == "MPCEnd"


def test_a_flaky_receiver_gets_its_callbacks_after_retries(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    flaky = CallbackReceiver(fail_first=2).start()
    try:
        sdk.multi_party_calls.add_participant(
            role="customer", friendly_name=mpc_name, from_=FROM, to_=CUSTOMER,
            status_callback_url=f"{flaky.url}/flaky", status_callback_method="POST")
        server.wait_callbacks_idle()
        got = flaky.wait_for(lambda r: r.params.get("MPCName") == mpc_name)
        assert got[0].params["EventName"] in ("MPCInitialized", "ParticipantJoin", "MPCStart")
        assert urlsplit(got[0].url).path == "/flaky"
    finally:
        flaky.stop()
    logged = [e for e in server.events() if e["url"] == f"{flaky.url}/flaky"]
    assert logged and all(e["delivery"]["status"] == "delivered" for e in logged)
    assert logged[0]["delivery"]["attempts"] == 3
