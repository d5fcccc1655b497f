"""The console's JSON and WebSockets without a browser, on the virtual clock (bytes compared
exactly): GET /emulator/live, /console/listen and /console/mic against a real server on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from mpcmix.scenario import parse_lines
from mpcmix.server.config import Account, ServerConfig
from mpcmix.server.process import ThreadedServer, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
MAIN = Account("MACONSOLESTREAMS0001", "token-streams-0001-abcdefghijklmnopqr")
OTHER = Account("MACONSOLEOTHER000001", "token-other-0001-abcdefghijklmnopqrstu")
SUB = Account("SACONSOLESUB00000001", "token-sub-0001-abcdefghijklmnopqrstuvw", parent=MAIN.auth_id)
CUSTOMER, AGENT, FROM = "+14155550100", "+14155550101", "+14155550000"
RATE = 16000
BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_live/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    tmp = tmp_path_factory.mktemp("console-streams")
    lines = parse_lines({CUSTOMER: {"audio": None}, AGENT: {"audio": "voices/agent.wav"}}, "lines")
    config = ServerConfig(accounts=(MAIN, OTHER, SUB), clock="virtual", media_root=ROOT / "fixtures",
                          lines=lines, data_dir=tmp / "data", sample_rate=RATE)
    with serve_in_thread(config) as served:
        yield served


def _client(server: ThreadedServer, account: Account = MAIN) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=(account.auth_id, account.auth_token), timeout=10)


def _creds(account: Account = MAIN, token: str | None = None) -> str:
    return json.dumps({"auth_id": account.auth_id, "auth_token": token or account.auth_token})


@pytest.fixture(scope="module")
def call(server: ThreadedServer) -> dict[str, Any]:
    """A customer on a silent line and an agent speaking the fixture voice, no enter sounds."""
    with _client(server) as api:
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            body = {"role": role, "from": FROM, "to": to, "enter_sound": "none"}
            assert api.post(f"{BASE}Participant/", json=body).status_code == 201
        assert api.post("/emulator/advance", json={"seconds": 0.2}).status_code == 200
        members = {p["role"]: p["member_id"] for p in api.get(f"{BASE}Participant/").json()["objects"]}
        return {"uuid": api.get(BASE).json()["mpc_uuid"], **members}


def test_live_shows_the_matrix_the_routing_layer_computes(server, call) -> None:
    from mpcmix.routing import CallState, MpcStatus, ParticipantState, Role, build_matrix

    with _client(server) as api, _client(server, OTHER) as other:
        live = api.get("/emulator/live").json()
        assert other.get("/emulator/live").json()["mpcs"] == []  # another account sees none
        assert httpx.get(f"{server.url}/emulator/live").status_code == 401
        assert api.post(f"{BASE}Participant/{call['customer']}/", json={"hold": True}).status_code == 202
        held = api.get("/emulator/live").json()
        assert api.post(f"{BASE}Participant/{call['customer']}/", json={"hold": False}).status_code == 202
        document = api.get("/openapi.json").json()
    # Both answers are what the OpenAPI document's `Live` schema says (the validator schemathesis
    # checks responses with).
    import jsonschema_rs

    schema = {"$ref": "#/components/schemas/Live", "components": document["components"]}
    for answer in (live, held):
        jsonschema_rs.validate(schema, answer)
    (mpc,) = live["mpcs"]
    assert mpc["mpc"]["mpc_uuid"] == call["uuid"] and mpc["mpc"]["status"] == "Active"
    assert [(p["role"], p["phase"]) for p in mpc["participants"]] == [("customer", "answered"),
                                                                      ("agent", "answered")]
    expected = build_matrix(CallState(MpcStatus.ACTIVE, (
        ParticipantState(call["customer"], Role.CUSTOMER), ParticipantState(call["agent"], Role.AGENT))))
    matrix = mpc["matrix"]
    assert [s["label"] for s in matrix["sources"]] == list(expected.sources)
    assert [r["label"] for r in matrix["listeners"]] == list(expected.listeners)
    assert matrix["gains"] == [list(row) for row in expected.gains]
    cell = {(r["label"], s["label"]): (g, why) for r, gains, reasons in
            zip(held["mpcs"][0]["matrix"]["listeners"], held["mpcs"][0]["matrix"]["gains"],
                held["mpcs"][0]["matrix"]["reasons"], strict=True)
            for s, g, why in zip(held["mpcs"][0]["matrix"]["sources"], gains, reasons, strict=True)}
    assert cell[(call["agent"], f"voice:{call['customer']}")][0] == 0  # a held customer is not heard
    assert cell[(call["customer"], f"hold_music:{call['customer']}")][0] == 1


async def _recv_json(ws: Any) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(message, str), message
    return json.loads(message)


def test_the_microphone_is_heard_bit_exact_and_listen_as_streams_it(server, call) -> None:
    import soundfile
    import websockets

    url = server.url.replace("http", "ws", 1)
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)).astype("<i2")  # 1 s
    frames_wanted = 75  # the 1.5 s advance, 20 ms a frame

    async def frames_of(ws: Any) -> np.ndarray:
        frames = []
        while len(frames) < frames_wanted:
            message = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(message, bytes)
            frames.append(np.frombuffer(message, dtype="<i2"))
        return np.concatenate(frames)

    async def run() -> dict[str, Any]:
        listen = f"{url}/console/listen?mpc={call['uuid']}&member="
        async with websockets.connect(listen + call["agent"]) as agent, \
                websockets.connect(listen + call["customer"]) as customer, \
                websockets.connect(listen + "recording") as recording, \
                websockets.connect(f"{url}/console/mic?mpc={call['uuid']}&role=customer&enter_sound=none") as mic:
            for ws in (agent, customer, recording, mic):
                await ws.send(_creds())
            assert (await _recv_json(recording))["row"] == "recording"
            start = await _recv_json(agent)
            assert (await _recv_json(customer))["member"] == call["customer"]
            joined = await _recv_json(mic)
            for i in range(0, len(tone), 320):  # 20 ms frames, as the page sends them
                await mic.send(tone[i:i + 320].tobytes())
            await mic.send("queued?")
            queued = await _recv_json(mic)
            with _client(server) as api:
                now_ms = api.get("/emulator/clock").json()["now_ms"]
                await asyncio.to_thread(api.post, "/emulator/advance", json={"seconds": 1.5})
            return {"agent": await frames_of(agent), "customer": await frames_of(customer),
                    "recording": await frames_of(recording),
                    "start": start, "joined": joined, "queued": queued, "now_ms": now_ms}

    got = asyncio.run(run())
    start, joined = got["start"], got["joined"]
    assert start["event"] == "start" and start["sample_rate"] == RATE and start["encoding"] == "pcm_s16le"
    assert joined["event"] == "joined" and joined["role"] == "customer"
    assert got["queued"] == {"event": "queued", "queued_ms": 1000, "left": False}
    # The agent hears the silent customer and the microphone: exactly the tone, from the advance.
    heard = got["agent"]
    assert len(heard) == frames_wanted * 320
    assert np.array_equal(heard[:RATE], tone) and not heard[RATE:].any()
    # What the customer's socket carried (the agent's voice and the tone) is its listener stream,
    # sample for sample (the stream begins at the MPC's creation, at 0 ms).
    with _client(server) as api:
        wav = api.get(f"{BASE}Participant/{call['customer']}/Listener.wav")
    assert wav.status_code == 200
    stream, rate = soundfile.read(io.BytesIO(wav.content), dtype="int16")
    first = got["now_ms"] * RATE // 1000
    assert rate == RATE and len(stream) >= first + len(got["customer"])
    assert np.array_equal(got["customer"], stream[first:first + len(got["customer"])])
    assert np.abs(got["customer"]).max() > 8000  # the voice and the tone, not silence
    # The recording hears everyone: the customer is silent, so it is what the customer heard.
    assert np.array_equal(got["recording"], got["customer"])
    # The socket closed: the microphone's participant hangs up (as soon as the server sees it).
    with _client(server) as api:
        for _ in range(100):
            mic_member = api.get(f"{BASE}Participant/{joined['member_id']}/").json()
            if mic_member["exit_time"] is not None:
                break
            time.sleep(0.05)
    assert mic_member["exit_time"] is not None and mic_member["member_address"].startswith("console-mic-")


@pytest.mark.parametrize("query, creds, error", [
    ("mpc={uuid}&member={agent}", _creds(MAIN, "wrong"), "authentication failed"),
    ("mpc={uuid}&member={agent}", _creds(OTHER), "no live MPC"),  # another account's MPC
    ("mpc={uuid}&member=999999", _creds(), "no participant '999999'"),
    ("mpc=nope&member={agent}", _creds(), "no live MPC 'nope'"),
    ("mpc={uuid}&member={agent}", "not json", "send the credentials first"),
])
def test_listen_refuses_bad_credentials_and_unknown_rows(server, call, query, creds, error) -> None:
    import websockets

    url = server.url.replace("http", "ws", 1)

    async def run() -> dict[str, Any]:
        async with websockets.connect(f"{url}/console/listen?{query.format(**call)}") as ws:
            await ws.send(creds)
            return await _recv_json(ws)

    answer = asyncio.run(run())
    assert answer["event"] == "error" and error in answer["error"], answer


def test_the_microphone_refuses_a_bad_role(server, call) -> None:
    import websockets

    async def run() -> dict[str, Any]:
        url = server.url.replace("http", "ws", 1)
        async with websockets.connect(f"{url}/console/mic?mpc={call['uuid']}&role=boss") as ws:
            await ws.send(_creds())
            return await _recv_json(ws)

    answer = asyncio.run(run())
    assert answer["event"] == "error" and "role must be one of" in answer["error"]
    with _client(server) as api:  # nothing was added
        roles = [p["role"] for p in api.get(f"{BASE}Participant/").json()["objects"]]
    assert "boss" not in roles


def test_the_microphone_is_told_when_its_participant_is_kicked(server, call) -> None:
    import websockets

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        url = server.url.replace("http", "ws", 1)
        async with websockets.connect(f"{url}/console/mic?mpc={call['uuid']}&role=agent") as ws:
            await ws.send(_creds())
            joined = await _recv_json(ws)
            with _client(server) as api:
                kicked = await asyncio.to_thread(api.delete, f"{BASE}Participant/{joined['member_id']}/")
                assert kicked.status_code == 204
                await asyncio.to_thread(api.post, "/emulator/advance", json={"seconds": 0.1})
            await ws.send(np.zeros(320, "<i2").tobytes())
            return joined, await _recv_json(ws)

    joined, left = asyncio.run(run())
    assert joined["role"] == "agent"
    assert left == {"event": "left", "member_id": joined["member_id"]}


@contextlib.contextmanager
def _front(shard_url: str, asked: list[str] | None = None) -> Iterator[str]:
    """A front as a sharded server's would be: the console's sockets relayed to one shard (the
    mpc each socket named is put in `asked`)."""
    import socket
    import threading

    import uvicorn
    from mpcmix.server.console.relay import socket_routes
    from starlette.applications import Starlette

    def shard_url_of(mpc: str) -> str:
        if asked is not None:
            asked.append(mpc)
        return shard_url

    app = Starlette(routes=socket_routes(shard_url_of, open_timeout_s=2))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_a_front_relays_the_console_sockets_to_the_shard(server, call) -> None:
    import websockets

    tone = (6000 * np.sin(2 * np.pi * 700 * np.arange(RATE // 2) / RATE)).astype("<i2")  # 0.5 s

    async def run(front: str) -> tuple[np.ndarray, dict[str, Any]]:
        async with websockets.connect(f"{front}/console/listen?mpc={call['uuid']}&member={call['agent']}") as agent, \
                websockets.connect(f"{front}/console/mic?mpc={call['uuid']}&role=customer&enter_sound=none") as mic, \
                websockets.connect(f"{front}/console/listen?mpc={call['uuid']}&member={call['agent']}") as bad:
            await bad.send(_creds(MAIN, "wrong"))
            refused = await _recv_json(bad)
            for ws in (agent, mic):
                await ws.send(_creds())
            assert (await _recv_json(agent))["event"] == "start"
            assert (await _recv_json(mic))["event"] == "joined"
            await mic.send(tone.tobytes())
            await mic.send("queued?")
            assert (await _recv_json(mic))["queued_ms"] == 500
            with _client(server) as api:
                await asyncio.to_thread(api.post, "/emulator/advance", json={"seconds": 0.6})
            frames = []
            while len(frames) < 30:
                message = await asyncio.wait_for(agent.recv(), 10)
                assert isinstance(message, bytes)
                frames.append(np.frombuffer(message, dtype="<i2"))
        return np.concatenate(frames), refused

    with _client(server) as api:  # the exit sounds of the earlier tests' microphones are over
        assert api.post("/emulator/advance", json={"seconds": 2}).status_code == 200
    asked: list[str] = []
    with _front(server.url, asked) as front:
        heard, refused = asyncio.run(run(front))
    assert asked == [call["uuid"]] * 3  # each socket placed by the MPC it names
    assert np.array_equal(heard[:len(tone)], tone) and not heard[len(tone):].any()
    assert refused["event"] == "error" and "authentication failed" in refused["error"]

    async def unreachable(front: str) -> dict[str, Any]:
        async with websockets.connect(f"{front}/console/listen?mpc=x&member=y") as ws:
            return await _recv_json(ws)

    from mpcmix.server.process import free_port

    with _front(f"http://127.0.0.1:{free_port()}") as front:
        answer = asyncio.run(unreachable(front))
    assert answer["event"] == "error" and "cannot be reached" in answer["error"]


def test_merge_live_joins_the_shards_answers() -> None:
    from mpcmix.server.console.relay import merge_live

    one = {"api_id": "a", "clock": "virtual", "now_ms": 200, "frame_ms": 20, "sample_rate": RATE,
           "auth_id": MAIN.auth_id, "mpcs": [{"mpc": {"mpc_uuid": "1"}}]}
    two = {**one, "api_id": "b", "now_ms": 220, "mpcs": [{"mpc": {"mpc_uuid": "2"}}, {"mpc": {"mpc_uuid": "3"}}]}
    merged = merge_live([one, two])
    assert [m["mpc"]["mpc_uuid"] for m in merged["mpcs"]] == ["1", "2", "3"]
    assert merged["now_ms"] == 220 and merged["api_id"] not in ("a", "b")


def test_listening_ends_when_the_mpc_ends(server) -> None:
    import websockets

    base = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_ending/"
    with _client(server) as api:
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            assert api.post(f"{base}Participant/", json={"role": role, "from": FROM, "to": to}).status_code == 201
        uuid = api.get(base).json()["mpc_uuid"]
        agent = next(p["member_id"] for p in api.get(f"{base}Participant/").json()["objects"]
                     if p["role"] == "agent")

    async def run() -> list[Any]:
        url = server.url.replace("http", "ws", 1)
        async with websockets.connect(f"{url}/console/listen?mpc={uuid}&member={agent}") as ws:
            await ws.send(_creds())
            got: list[Any] = [await _recv_json(ws)]
            with _client(server) as api:
                await asyncio.to_thread(api.post, "/emulator/advance", json={"seconds": 0.1})
                assert (await asyncio.to_thread(api.delete, base)).status_code == 204
                await asyncio.to_thread(api.post, "/emulator/advance", json={"seconds": 0.1})
            async for message in ws:  # the frames up to the end, then the end
                got.append(message if isinstance(message, bytes) else json.loads(message))
            return got

    got = asyncio.run(run())
    assert got[0]["event"] == "start"
    assert all(isinstance(m, bytes) for m in got[1:-1]) and len(got) >= 3
    assert got[-1] == {"event": "end", "dropped_samples": 0}


def test_a_main_account_sees_and_listens_to_its_subaccounts_calls(server) -> None:
    import websockets

    base = f"/v1/Account/{SUB.auth_id}/MultiPartyCall/name_sub/"
    with _client(server, SUB) as sub:
        assert sub.post(f"{base}Participant/", json={"role": "agent", "from": FROM, "to": AGENT,
                                                     "enter_sound": "none"}).status_code == 201
        assert sub.post(f"{base}Participant/", json={"role": "customer", "from": FROM, "to": CUSTOMER,
                                                     "enter_sound": "none"}).status_code == 201
        assert [m["auth_id"] for m in sub.get("/emulator/live").json()["mpcs"]] == [SUB.auth_id]
    with _client(server) as api:
        mpcs = {m["mpc"]["friendly_name"]: m for m in api.get("/emulator/live").json()["mpcs"]}
    assert mpcs["sub"]["auth_id"] == SUB.auth_id
    customer = next(p["member_id"] for p in mpcs["sub"]["participants"] if p["role"] == "customer")

    async def run(account: Account, auth_id: str) -> list[Any]:
        url = server.url.replace("http", "ws", 1)
        query = f"auth_id={auth_id}&mpc={mpcs['sub']['mpc']['mpc_uuid']}&member={customer}"
        async with websockets.connect(f"{url}/console/listen?{query}") as ws:
            await ws.send(_creds(account))
            got: list[Any] = [await _recv_json(ws)]
            if got[0]["event"] == "start":
                with _client(server) as api:
                    await asyncio.to_thread(api.post, "/emulator/advance", json={"seconds": 0.2})
                got += [await asyncio.wait_for(ws.recv(), 10) for _ in range(10)]
            return got

    heard = asyncio.run(run(MAIN, SUB.auth_id))  # the main account's credentials, the sub's call
    assert heard[0]["event"] == "start" and all(isinstance(m, bytes) for m in heard[1:])
    assert np.abs(np.frombuffer(b"".join(heard[1:]), dtype="<i2")).max() > 1000  # the agent's voice
    refused = asyncio.run(run(OTHER, SUB.auth_id))  # another main account: not its subaccount
    assert refused[0]["event"] == "error" and "cannot act on account" in refused[0]["error"]
