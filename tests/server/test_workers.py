"""`mpcmix serve --workers 2`: two shard processes behind a front, driven by the plivo SDK and HTTP.

MPCs created by name land on both shards; each is found by name and by uuid (whose last digits name
its shard); the list merges both shards with correct pagination; one advance moves both virtual
clocks; recordings and listener streams downloaded through the front are the bytes an offline
render of the same operations writes. The data folder records its worker count: a restart with
another count is refused (exit 2), with the same count it serves the MPCs of before.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import plivo
import pytest
import soundfile as sf
from mpcmix.model.ids import shard_of_id, shard_of_name
from mpcmix.scenario import render_scenario
from mpcmix.server.process import ServeProcess, sdk_pointed_at, serve_process

from .conftest import AGENT, CUSTOMER, FROM, LINES, make_media_root
from .harness import MAIN

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
RATE = 16000


def names_on(shard: int, count: int, prefix: str = "sharded") -> list[str]:
    """The first `count` MPC names of MAIN that two workers place on `shard`."""
    found = [f"{prefix}-{i}" for i in range(200) if shard_of_name(MAIN.auth_id, f"{prefix}-{i}", 2) == shard]
    return found[:count]


def server_args(root: Path, data: Path, workers: int = 2) -> list[str]:
    lines = root / "lines.json"
    if not lines.exists():
        lines.write_text(json.dumps(LINES))
    media = root / "media" if (root / "media").is_dir() else make_media_root(root)
    return ["--workers", str(workers), "--clock", "virtual", "--data-dir", str(data), "--media-root", str(media),
            "--lines", str(lines), "--account", f"{MAIN.auth_id}:{MAIN.auth_token}", "--log-level", "warning"]


def client(server: ServeProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=(MAIN.auth_id, MAIN.auth_token), timeout=30)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Path]]:
    root = tmp_path_factory.mktemp("workers")
    with serve_process(server_args(root, root / "data"), timeout_s=90) as server:
        yield server, root


def offline_render(root: Path, out: Path) -> Path:
    """The operations the test makes on each MPC, rendered offline."""
    media = root / "media"
    lines = {CUSTOMER: {"audio": f"{media}/voices/customer.wav"}, AGENT: {"audio": f"{media}/voices/agent.wav"}}
    events = [{"at": 0, "op": "add_participant", "as": role, "role": role, "from": FROM, "to": to}
              for role, to in (("customer", CUSTOMER), ("agent", AGENT))]
    events += [{"at": 0, "op": "start_recording", "file_format": "wav"}, {"at": 3.0, "op": "end"}]
    render_scenario({"mpc": "offline", "lines": lines, "events": events}, out)
    return out


def test_two_workers_serve_the_sdk_as_one_server(sharded: tuple[ServeProcess, Path], tmp_path: Path) -> None:
    server, root = sharded
    placed = {name: shard for shard in (0, 1) for name in names_on(shard, 2)}
    with sdk_pointed_at(server.url):
        sdk = plivo.RestClient(MAIN.auth_id, MAIN.auth_token)
        calls = sdk.multi_party_calls
        recordings = {}
        for name in placed:  # created by name, at clock 0, on both shards
            for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
                calls.add_participant(role=role, friendly_name=name, from_=FROM, to_=to)
            recordings[name] = calls.start_recording(friendly_name=name, file_format="wav").recording_url
        uuids = {}
        for name, shard in placed.items():
            uuid = calls.get(friendly_name=name).mpc_uuid
            assert shard_of_id(uuid, 2) == shard  # the uuid names the shard the name placed it on
            assert calls.get(uuid=uuid).friendly_name == name
            uuids[name] = uuid
        assert len(set(uuids.values())) == len(placed)

        # The list: both shards' MPCs, merged, paged with the API's meta.
        everything = calls.list(limit=20)
        assert everything.meta.count == len(placed)
        assert {m.friendly_name for m in everything.objects} == set(placed)
        first, second = calls.list(limit=3, offset=0), calls.list(limit=3, offset=3)
        assert [len(first.objects), len(second.objects)] == [3, 1]
        assert first.meta.count == second.meta.count == 4
        assert first.meta.next.endswith("?limit=3&offset=3") and first.meta.previous is None
        assert second.meta.next is None and second.meta.previous.endswith("?limit=3&offset=0")
        paged = [m.friendly_name for m in [*first.objects, *second.objects]]
        assert sorted(paged) == sorted(placed)
        one = calls.list(friendly_name=names_on(1, 1)[0])
        assert one.meta.count == 1 and one.objects[0].mpc_uuid == uuids[names_on(1, 1)[0]]
        sdk.session.close()

    with client(server) as http:
        moved = http.post("/emulator/advance", json={"seconds": 3})
        assert moved.status_code == 200 and moved.json()["now_ms"] == 3000
        stats = http.get("/emulator/stats").json()
        assert stats["workers"] == 2 and [s["now_ms"] for s in stats["shards"]] == [3000, 3000]
        for name in placed:
            assert http.delete(f"{BASE}/name_{name}/").status_code == 204
        assert http.post("/emulator/advance", json={"seconds": 0.1}).status_code == 200
        assert {m["status"] for m in http.get(f"{BASE}/", params={"limit": 20}).json()["objects"]} == {"Ended"}

        # Downloads through the front: the bytes of an offline render of the same operations.
        offline = offline_render(root, tmp_path / "offline")
        expected = {"customer": sf.read(offline / "listeners" / "customer.wav", dtype="int16")[0],
                    "agent": sf.read(offline / "listeners" / "agent.wav", dtype="int16")[0],
                    "recording": sf.read(next((offline / "recordings").glob("*.wav")), dtype="int16")[0]}
        assert len(expected["customer"]) == 3 * RATE
        for name in names_on(0, 1) + names_on(1, 1):
            members = {p["role"]: p["member_id"]
                       for p in http.get(f"{BASE}/uuid_{uuids[name]}/Participant/").json()["objects"]}
            for role in ("customer", "agent"):
                heard = http.get(f"{BASE}/uuid_{uuids[name]}/Participant/{members[role]}/Listener.wav")
                assert heard.status_code == 200, heard.text
                assert np.array_equal(sf.read(io.BytesIO(heard.content), dtype="int16")[0], expected[role])
            recorded = http.get(recordings[name])
            assert recorded.status_code == 200, recorded.text
            assert recorded.url.host == "127.0.0.1" and str(server.port) in recordings[name]  # the front's URL
            assert np.array_equal(sf.read(io.BytesIO(recorded.content), dtype="int16")[0], expected["recording"])
    data = root / "data"
    assert (data / "workers").read_text() == "2\n"
    for shard in (0, 1):
        assert (data / f"shard-{shard}" / ".lock").is_file()
        assert (data / f"shard-{shard}" / MAIN.auth_id).is_dir()


def test_a_restart_with_another_worker_count_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    name = names_on(1, 1, "kept")[0]
    with serve_process(server_args(tmp_path, data), timeout_s=90) as server, client(server) as http:
        added = http.post(f"{BASE}/name_{name}/Participant/", json={"role": "agent", "from": FROM, "to": AGENT})
        assert added.status_code == 201, added.text
        uuid = http.get(f"{BASE}/name_{name}/").json()["mpc_uuid"]
        assert http.delete(f"{BASE}/name_{name}/").status_code == 204
    for workers in (3, 1):
        run = subprocess.run([sys.executable, "-m", "mpcmix.cli", "serve", *server_args(tmp_path, data, workers),
                              "--port", "0"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stderr
        assert "served with --workers 2" in run.stderr and str(data) in run.stderr
    assert sorted(p.name for p in data.iterdir() if p.name.startswith("shard-")) == ["shard-0", "shard-1"]
    # Again with two, as shards started on their own (as on other hosts) and a front given their URLs.
    with contextlib.ExitStack() as stack:
        shards = [stack.enter_context(serve_process([*server_args(tmp_path, data), "--shard", str(k)], timeout_s=90))
                  for k in (0, 1)]
        server = stack.enter_context(serve_process(["--shard-urls", ",".join(s.url for s in shards)]))
        http = stack.enter_context(client(server))
        by_uuid = http.get(f"{BASE}/uuid_{uuid}/")  # the MPC of the run before, on its shard
        assert by_uuid.status_code == 200 and by_uuid.json()["status"] == "Ended"
        listed = http.get(f"{BASE}/", params={"friendly_name": name}).json()
        assert [m["mpc_uuid"] for m in listed["objects"]] == [uuid]


def test_the_console_and_the_stream_api_reach_the_owning_shard(sharded: tuple[ServeProcess, Path]) -> None:
    """Through the front: /emulator/live merges both shards, a console listen socket is relayed
    to the MPC's shard (the frames are its listener stream), the Audio Stream API finds the call."""
    import asyncio

    import websockets

    server, _ = sharded
    name = names_on(1, 1, prefix="console")[0]
    with client(server) as http:
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            body = {"role": role, "from": FROM, "to": to, "enter_sound": "none"}
            assert http.post(f"{BASE}/name_{name}/Participant/", json=body).status_code == 201
        uuid = http.get(f"{BASE}/name_{name}/").json()["mpc_uuid"]
        assert shard_of_id(uuid, 2) == 1
        live = http.get("/emulator/live").json()
        assert uuid in {m["mpc"]["mpc_uuid"] for m in live["mpcs"]}
        members = {p["role"]: p for p in http.get(f"{BASE}/uuid_{uuid}/Participant/").json()["objects"]}
        streams = http.get(f"/v1/Account/{MAIN.auth_id}/Call/{members['customer']['call_uuid']}/Stream/")
        assert streams.status_code == 200, streams.text
        assert http.get("/emulator/streams").status_code == 200
    creds = json.dumps({"auth_id": MAIN.auth_id, "auth_token": MAIN.auth_token})
    url = server.url.replace("http", "ws", 1)

    async def run() -> np.ndarray:
        listen = f"{url}/console/listen?mpc={uuid}&member={members['agent']['member_id']}"
        async with websockets.connect(listen) as ws:
            await ws.send(creds)
            start = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert start["event"] == "start"
            with client(server) as http:
                await asyncio.to_thread(http.post, "/emulator/advance", json={"seconds": 1})
            frames = []
            while len(frames) < 50:
                message = await asyncio.wait_for(ws.recv(), 10)
                assert isinstance(message, bytes)
                frames.append(np.frombuffer(message, dtype="<i2"))
            return np.concatenate(frames)

    heard = asyncio.run(run())
    with client(server) as http:
        assert http.delete(f"{BASE}/uuid_{uuid}/").status_code == 204
        http.post("/emulator/advance", json={"seconds": 0.1})
        wav = http.get(f"{BASE}/uuid_{uuid}/Participant/{members['agent']['member_id']}/Listener.wav")
    assert wav.status_code == 200, wav.text
    stream = sf.read(io.BytesIO(wav.content), dtype="int16")[0]
    assert len(heard) == RATE and np.abs(heard).max() > 0  # the customer's voice
    assert np.array_equal(heard, stream[:RATE])
