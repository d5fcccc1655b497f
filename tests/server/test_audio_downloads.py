"""Recordings and listener streams downloaded from the server, checked by signal: the customer's
stream holds no trace of the coaching supervisor."""

from __future__ import annotations

import io

import numpy as np
import plivo
import soundfile as sf

from tests.audio_checks import load_fixture, pilot_present, placed

from .conftest import AGENT, CUSTOMER, FROM, SUPERVISOR
from .harness import MAIN, RunningServer

RATE = 16000


def download(server: RunningServer, url: str) -> np.ndarray:
    with server.http() as client:
        response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/")
    data, rate = sf.read(io.BytesIO(response.content), dtype="int16", always_2d=False)
    assert rate == RATE
    return data


def test_the_customer_never_hears_the_coaching_supervisor(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    calls = sdk.multi_party_calls
    with server.http() as client:
        t0 = client.get("/emulator/clock").json()["now_ms"]
    for role, to in (("customer", CUSTOMER), ("agent", AGENT), ("supervisor", SUPERVISOR)):
        calls.add_participant(role=role, friendly_name=mpc_name, from_=FROM, to_=to,
                              coach_mode=True)
    ids = {p.role: p.member_id for p in calls.list_participants(friendly_name=mpc_name).objects}
    uuid = calls.get(friendly_name=mpc_name).mpc_uuid
    recording = calls.start_recording(friendly_name=mpc_name, file_format="wav")
    server.advance(3)
    coached = (t0 + 500) * RATE // 1000, (t0 + 3000) * RATE // 1000

    def listener(role: str) -> str:
        return (f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/uuid_{uuid}/Participant/"
                f"{ids[role]}/Listener.wav")

    # Downloaded while the call runs: the stream so far, from clock time 0.
    customer = download(server, listener("customer"))
    assert len(customer) == (t0 + 3000) * RATE // 1000
    span = slice(*coached)
    agent_voice = placed(load_fixture("voices/agent.wav"), t0 * RATE // 1000, len(customer))
    # Past the enter beeps the customer hears the agent's voice and nothing else, bit for bit.
    assert np.array_equal(customer[span], agent_voice[span])
    assert not pilot_present(customer, "supervisor", RATE, coached)
    agent = download(server, listener("agent"))
    assert pilot_present(agent, "supervisor", RATE, coached)
    assert pilot_present(agent, "customer", RATE, coached)

    calls.update_participant(participant_id=ids["supervisor"], friendly_name=mpc_name,
                             coach_mode=False)
    server.advance(2)
    calls.stop_recording(friendly_name=mpc_name)
    calls.stop(friendly_name=mpc_name)
    customer = download(server, listener("customer"))
    spoken = (t0 + 3500) * RATE // 1000, (t0 + 5000) * RATE // 1000
    assert pilot_present(customer, "supervisor", RATE, spoken)  # coach_mode off: heard by all

    mixed = download(server, recording.recording_url)
    assert mixed.ndim == 1 and len(mixed) >= 4 * RATE
    assert pilot_present(mixed, "supervisor", RATE, (RATE // 2, 3 * RATE))  # always recorded
    assert pilot_present(mixed, "customer", RATE, (RATE // 2, 3 * RATE))


def test_a_participant_recording_of_track_all_has_voice_and_what_it_hears(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    calls = sdk.multi_party_calls
    for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
        calls.add_participant(role=role, friendly_name=mpc_name, from_=FROM, to_=to)
    ids = {p.role: p.member_id for p in calls.list_participants(friendly_name=mpc_name).objects}
    started = calls.start_participant_recording(participant_id=ids["agent"],
                                                friendly_name=mpc_name, file_format="wav")
    server.advance(2)
    calls.stop_participant_recording(participant_id=ids["agent"], friendly_name=mpc_name)
    with server.http() as client:
        response = client.get(started.recording_url)
    assert response.status_code == 200
    data, _ = sf.read(io.BytesIO(response.content), dtype="int16", always_2d=True)
    assert data.shape[1] == 2
    span = (RATE // 2, 3 * RATE // 2)
    assert pilot_present(data[:, 0], "agent", RATE, span)  # channel 1: its voice
    assert not pilot_present(data[:, 0], "customer", RATE, span)
    assert pilot_present(data[:, 1], "customer", RATE, span)  # channel 2: what it hears
    assert not pilot_present(data[:, 1], "agent", RATE, span)
