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
    server.advance(7)  # the server has been up a while: streams start with their MPC, not at 0
    for role, to in (("customer", CUSTOMER), ("agent", AGENT), ("supervisor", SUPERVISOR)):
        calls.add_participant(role=role, friendly_name=mpc_name, from_=FROM, to_=to,
                              coach_mode=True)
    ids = {p.role: p.member_id for p in calls.list_participants(friendly_name=mpc_name).objects}
    uuid = calls.get(friendly_name=mpc_name).mpc_uuid
    recording = calls.start_recording(friendly_name=mpc_name, file_format="wav")
    server.advance(3)
    coached = 500 * RATE // 1000, 3000 * RATE // 1000  # ms after the MPC's creation

    def listener(role: str) -> str:
        return (f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/uuid_{uuid}/Participant/"
                f"{ids[role]}/Listener.wav")

    # Downloaded while the call runs: the stream so far, from the MPC's creation.
    customer = download(server, listener("customer"))
    assert len(customer) == 3000 * RATE // 1000
    span = slice(*coached)
    agent_voice = placed(load_fixture("voices/agent.wav"), 0, len(customer))
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
    spoken = 3500 * RATE // 1000, 5000 * RATE // 1000
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


def test_listener_streams_span_their_mpc_whatever_the_uptime(
        sdk: plivo.RestClient, server: RunningServer, mpc_name: str) -> None:
    """A participant who joins after a long uptime gets a stream as long as its MPC, not as the
    server's uptime (which cost a long-running server disk and tick time growing with it), and
    the streams of one MPC line up sample for sample, a late joiner's included."""
    calls = sdk.multi_party_calls
    server.advance(120)  # two minutes of uptime before this MPC exists
    for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
        calls.add_participant(role=role, friendly_name=mpc_name, from_=FROM, to_=to)
    server.advance(2)
    calls.add_participant(role="supervisor", friendly_name=mpc_name, from_=FROM, to_=SUPERVISOR,
                          coach_mode=False)
    server.advance(2)
    ids = {p.role: p.member_id for p in calls.list_participants(friendly_name=mpc_name).objects}
    uuid = calls.get(friendly_name=mpc_name).mpc_uuid
    calls.stop(friendly_name=mpc_name)
    server.advance(1)
    streams = {role: download(server, f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/uuid_{uuid}/"
                              f"Participant/{member}/Listener.wav")
               for role, member in ids.items()}
    assert {len(x) for x in streams.values()} == {4 * RATE}, {r: len(x) for r, x in streams.items()}
    # The supervisor joined two seconds in: silence before, then the customer's voice where the
    # agent hears it too (the same samples at the same offsets: the streams line up).
    supervisor, agent = streams["supervisor"], streams["agent"]
    assert not supervisor[: 2 * RATE].any()
    assert pilot_present(supervisor, "customer", RATE, (5 * RATE // 2, 4 * RATE))
    assert pilot_present(agent, "customer", RATE, (5 * RATE // 2, 4 * RATE))
    assert not pilot_present(supervisor, "customer", RATE, (0, 2 * RATE))
