"""A long-running server's memory does not grow with the MPCs it has had: an ended MPC keeps a
compact record (what Get and List need), not its live state; the event log keeps its latest
records in memory and the rest on disk (docs/server.md, "Memory over a long run").

Through a real server (uvicorn on a loopback port, virtual clock): MPCs of three participants,
recorded, muted and held, are created and ended over HTTP; then every ended MPC, participant and
event is still there, while what the call model and the event log hold grows by a small, fixed
amount per ended MPC. Sizes are counted object by object (no timing, no RSS).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mpcmix.model.records import MpcRecord, ParticipantRecord, PlayRecord, RecordingRecord

from tests.server.conftest import AGENT, CUSTOMER, FROM, SUPERVISOR, virtual_config
from tests.server.harness import MAIN, RunningServer, serve

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
EVENT_LOG_MEMORY = 25
#: What one more ended MPC (3 participants, a recording) may add to the call model and the event
#: log: its compact record is about 2 KiB; its live records took about 14 KiB.
MAX_BYTES_PER_ENDED_MPC = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = virtual_config(tmp_path_factory.mktemp("memory"), event_log_memory=EVENT_LOG_MEMORY)
    with serve(config) as running:
        yield running


def run_mpcs(server: RunningServer, client: httpx.Client, first: int, count: int
             ) -> list[dict[str, Any]]:
    """Create, use and end `count` MPCs; what each looked like while it was live."""
    done = []
    for i in range(first, first + count):
        name = f"memory_{i}"
        for role, to, extra in (("customer", CUSTOMER, {}), ("agent", AGENT, {}),
                                ("supervisor", SUPERVISOR, {"coach_mode": True})):
            response = client.post(f"{BASE}/name_{name}/Participant/",
                                   json={"role": role, "from": FROM, "to": to, **extra})
            assert response.status_code == 201, response.text
        assert client.post(f"{BASE}/name_{name}/Record/",
                           json={"file_format": "wav"}).status_code == 202
        members = client.get(f"{BASE}/name_{name}/Participant/").json()["objects"]
        member_ids = [m["member_id"] for m in members]
        for member, change in zip(member_ids, ({"mute": True}, {"hold": True}), strict=False):
            assert client.post(f"{BASE}/name_{name}/Participant/{member}/",
                               json=change).status_code == 202
        server.advance(0.2)
        mpc_uuid = client.get(f"{BASE}/name_{name}/").json()["mpc_uuid"]
        assert client.delete(f"{BASE}/name_{name}/").status_code == 204
        done.append({"name": name, "uuid": mpc_uuid, "members": member_ids,
                     "calls": [m["call_uuid"] for m in members]})
    server.advance(0.04)
    return done


def deep_size(root: Any, skip: set[int]) -> int:
    """Bytes of every object reachable from `root` (each counted once), not entering `skip`."""
    seen = set(skip)
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def retained(server: RunningServer) -> int:
    """What the account's call model and event log hold (not the media, lines or locks)."""
    runtime = server.state.runtimes[MAIN.auth_id]
    model = runtime.model
    shared = [model._media, model._lines, model._default_line, model._fmt, model.epoch,
              runtime.events._lock, runtime.events._file, runtime.events.path]
    gc.collect()
    return deep_size([model, runtime.events], {id(x) for x in shared})


def live_records_of(names: set[str]) -> list[Any]:
    """Every record object of an MPC of these names, in this process (ids repeat across servers
    of the same seed, names of this module do not), garbage not yet collected included."""
    kinds = (MpcRecord, ParticipantRecord, RecordingRecord, PlayRecord)
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, kinds):
            mpc = obj if isinstance(obj, MpcRecord) else obj.mpc
            if mpc.name in names:
                found.append(obj)
    return found


def test_ended_mpcs_keep_a_compact_record_and_stay_retrievable(server: RunningServer) -> None:
    gc.collect()
    gc.disable()  # records must be freed at once, not left in cycles for the collector
    try:
        with server.http() as client:
            warm = run_mpcs(server, client, 0, 8)  # the event log fills its memory first
            before = retained(server)
            more = run_mpcs(server, client, len(warm), 12)
            # Nothing of the live state is left, not even as garbage awaiting the cyclic
            # collector: no record of an ended MPC exists (a timer, a Play or a recording list
            # holding one, or a cycle among them, would keep it).
            assert live_records_of({m["name"] for m in more}) == []
            # ...nor in the engine: no source, speech tracker, routed call or open file is
            # left for a participant of an ended MPC (none is live now)
            engine = server.state.runtimes[MAIN.auth_id].engine
            assert engine.retained() == {"sources": 0, "speech": 0, "routed": 0, "files": 0}
            assert engine.mixer.calls == ()
    finally:
        gc.enable()
    after = retained(server)
    ended = warm + more
    with server.http() as client:
        per_mpc = (after - before) / len(more)
        assert per_mpc < MAX_BYTES_PER_ENDED_MPC, f"{per_mpc:.0f} bytes per ended MPC"
        events = server.state.runtimes[MAIN.auth_id].events
        assert len(events._recent) == EVENT_LOG_MEMORY

        # ...and everything is still found, as the API answers for an ended MPC.
        for mpc in ended:
            got = client.get(f"{BASE}/uuid_{mpc['uuid']}/")
            assert got.status_code == 200, got.text
            body = got.json()
            assert (body["status"], body["friendly_name"], body["termination_cause_code"]) == (
                "Ended", mpc["name"], 3000)
            assert body["resource_uri"] == f"{BASE}/uuid_{mpc['uuid']}/"
            listed = client.get(f"{BASE}/uuid_{mpc['uuid']}/Participant/").json()
            assert [o["member_id"] for o in listed["objects"]] == mpc["members"]
            for member, call_uuid in zip(mpc["members"], mpc["calls"], strict=True):
                p = client.get(f"{BASE}/uuid_{mpc['uuid']}/Participant/{member}/").json()
                assert (p["member_id"], p["call_uuid"], p["exit_cause"]) == (
                    member, call_uuid, "Multiparty Call Ended")
                assert p["mute"] is None and p["hold"] is None  # null once exited
            assert client.get(f"{BASE}/name_{mpc['name']}/").status_code == 404  # names: live only
            # the far end of an ended call: hanging up again is no error, answering is refused
            assert client.post(f"/emulator/calls/{mpc['calls'][0]}/hangup").status_code == 200
            assert client.post(f"/emulator/calls/{mpc['calls'][0]}/answer").status_code == 400
        listed = client.get(f"{BASE}/", params={"status": "ended", "limit": 20}).json()
        assert listed["meta"]["count"] == len(ended)
        assert [o["friendly_name"] for o in listed["objects"]] == [
            m["name"] for m in reversed(ended)][:20]
        # every event is still read back, most from the file, numbered without a gap
        seqs = [e["seq"] for e in server.events()]
        assert seqs == list(range(1, len(events) + 1)) and len(seqs) > 4 * EVENT_LOG_MEMORY


def test_a_compact_record_answers_as_the_live_one_did(server: RunningServer,
                                                       tmp_path: Path) -> None:
    with server.http() as client:
        name = "memory_same"
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            assert client.post(f"{BASE}/name_{name}/Participant/",
                               json={"role": role, "from": FROM, "to": to}).status_code == 201
        server.advance(1)
        mpc_uuid = client.get(f"{BASE}/name_{name}/").json()["mpc_uuid"]
        member = client.get(f"{BASE}/name_{name}/Participant/").json()["objects"][0]["member_id"]
        assert client.delete(f"{BASE}/name_{name}/").status_code == 204
        model = server.state.runtimes[MAIN.auth_id].model
        # The boundary of the DELETE is settled: the record is already compact.
        assert type(model._by_uuid[mpc_uuid]).__name__ == "EndedMpc"
        first = client.get(f"{BASE}/uuid_{mpc_uuid}/").json()
        participant = client.get(f"{BASE}/uuid_{mpc_uuid}/Participant/{member}/").json()
        server.advance(30)
        # Time passing changes nothing of an ended MPC (only the response's api_id is new).
        again = client.get(f"{BASE}/uuid_{mpc_uuid}/").json()
        assert {**again, "api_id": None} == {**first, "api_id": None}
        assert first["duration"] == 1 and first["end_time"] is not None
        assert {**client.get(f"{BASE}/uuid_{mpc_uuid}/Participant/{member}/").json(),
                "api_id": None} == {**participant, "api_id": None}
