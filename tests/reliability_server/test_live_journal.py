"""Saving the live MPCs costs O(what changed), not O(live MPCs), and keeps what a 2xx answered.

The live MPCs are kept in a journal, ``live.jsonl`` (mpcmix.server.store, docs/reliability.md):
a mutating request appends the record of the MPC it changed and a state line, whatever the number
of live MPCs; the journal is rewritten whole only once it has outgrown the live set. Shown on the
file's bytes (no timing), through a real server on loopback, and a real `mpcmix serve` process
killed with SIGKILL right after its last answer, restarted on its folder, and on a copy of it in
the format of earlier versions (``live.json``), which must read the same.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
from mpcmix.server.process import serve_process
from mpcmix.server.store import COMPACT_MIN_BYTES, LEGACY_LIVE, LIVE, AccountStore, LiveJournal

from tests.server.conftest import AGENT, CUSTOMER, FROM, make_media_root, virtual_config
from tests.server.harness import MAIN, serve

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
LINES = f'"{CUSTOMER}": {{audio: voices/customer.wav}}\n"{AGENT}": {{audio: voices/agent.wav}}\n'


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    data = response.json() if response.content else None
    if isinstance(data, dict):
        data.pop("api_id", None)
    return data


def add(client: httpx.Client, name: str, role: str = "customer") -> Any:
    return ok(client.post(f"{BASE}/name_{name}/Participant/",
                          json={"role": role, "from": FROM, "to": CUSTOMER if role == "customer" else AGENT}))


def appended_by(client: httpx.Client, journal: Path, name: str) -> tuple[int, list[dict[str, Any]]]:
    """Add an agent to MPC `name`: (the bytes the journal grew by, the lines appended)."""
    before = journal.read_bytes()
    add(client, name, "agent")
    after = journal.read_bytes()
    assert after[:len(before)] == before, "the journal was appended to, not rewritten"
    return len(after) - len(before), [json.loads(line) for line in after[len(before):].splitlines()]


def test_a_request_appends_one_mpc_whatever_the_number_live(tmp_path: Path) -> None:
    with serve(virtual_config(tmp_path, listener_streams="none")) as server, server.http() as client:
        journal = server.state.runtimes[MAIN.auth_id].dir / LIVE
        for i in range(300):
            add(client, f"j{i}")
        assert not (journal.parent / LEGACY_LIVE).exists()
        newest = ok(client.get(f"{BASE}/", params={"limit": 20}))["objects"]
        uuid_of = {m["friendly_name"]: m["mpc_uuid"] for m in newest}
        grown = []
        for name in ("j299", "j298", "j297"):
            size, lines = appended_by(client, journal, name)
            # one line: that MPC's record, now with its two participants; then the state line
            assert [list(line) for line in lines] == [["mpc"], ["state"]], lines
            assert lines[0]["mpc"]["uuid"] == uuid_of[name]
            assert len(lines[0]["mpc"]["participants"]) == 2
            assert lines[1]["state"]["written_ms"] == 0 and lines[1]["state"]["clean"] is False
            grown.append(size)
        # ...the bytes of one MPC of two participants: ~1/300 of what the live set holds
        size_of_all = sum(len(text) for text in server.state.runtimes[MAIN.auth_id]._journal.texts.values())
        assert max(grown) < 4096 and max(grown) * 100 < size_of_all, (grown, size_of_all)
        # An MPC that ends leaves a short line (its record goes to mpcs.jsonl).
        before = journal.stat().st_size
        assert client.delete(f"{BASE}/name_j0/").status_code == 204
        tail = journal.read_bytes()[before:].splitlines()
        assert [list(json.loads(line)) for line in tail] == [["gone"], ["state"]]
        # ...and the first few MPCs cost what the 300th did.
    with serve(virtual_config(tmp_path / "few", listener_streams="none")) as server, server.http() as client:
        journal = server.state.runtimes[MAIN.auth_id].dir / LIVE
        for i in range(3):
            add(client, f"j{i}")
        size, lines = appended_by(client, journal, "j2")
        assert [list(line) for line in lines] == [["mpc"], ["state"]]
        assert abs(size - min(grown)) <= 64, (size, grown)  # the same MPC, other ids and times


def test_the_journal_is_rewritten_once_it_outgrows_the_live_set() -> None:
    journal = LiveJournal()
    state = {"v": 1, "run": 0, "written_ms": 0, "clean": False}
    text, whole = journal.lines({}, [], state)
    assert whole and text.count("\n") == 1  # a start: the file anew
    record = {"uuid": "u1", "pad": "x" * 1000}
    written = rewrites = 0
    for i in range(2000):  # one MPC changing again and again
        text, whole = journal.lines({"u1": record | {"i": i}}, [], state | {"written_ms": i})
        written += len(text)
        rewrites += whole
        assert journal.file_bytes is not None
        assert journal.file_bytes <= max(2 * journal.live_bytes, COMPACT_MIN_BYTES)
    # amortised O(1) per change: every byte written is a change's line or one rewrite of ~1 MPC
    assert 20 <= rewrites <= 40 and written < 2 * 2000 * 1100, (rewrites, written)
    text, whole = journal.lines({}, ["u1"], state)
    assert not whole and json.loads(text.splitlines()[0]) == {"gone": "u1"} and journal.live_bytes == 0


def test_the_last_line_of_each_mpc_wins_and_a_line_a_kill_cut_is_skipped(tmp_path: Path) -> None:
    store = AccountStore(tmp_path)
    state = {"v": 1, "run": 2, "written_ms": 40, "clean": False}
    store.rewrite_live(json.dumps({"mpc": {"uuid": "a", "n": 1}}) + "\n" + json.dumps({"state": state}) + "\n")
    store.append_live("".join(json.dumps(line) + "\n" for line in (
        {"mpc": {"uuid": "b", "n": 1}}, {"mpc": {"uuid": "a", "n": 2}}, {"mpc": {"uuid": "c", "n": 1}},
        {"gone": "b"}, {"state": state | {"written_ms": 60}})))
    store.append_live('{"mpc":{"uuid":"c","n":2,"participa')  # a kill in mid-write
    store.close()
    assert store.read_live() == state | {"written_ms": 60, "mpcs": [{"uuid": "a", "n": 2}, {"uuid": "c", "n": 1}]}


def test_kill_9_after_the_answers_keeps_them_and_a_live_json_folder_reads_the_same(tmp_path: Path) -> None:
    media = make_media_root(tmp_path)
    (tmp_path / "lines.yaml").write_text(LINES)
    data = tmp_path / "data"

    def mpcmix_serve(folder: Path) -> Any:
        return serve_process(["--clock", "virtual", "--data-dir", str(folder), "--listener-streams", "none",
                              "--media-root", str(media), "--lines", str(tmp_path / "lines.yaml"),
                              "--account", f"{MAIN.auth_id}:{MAIN.auth_token}", "--log-level", "error"],
                             stop_signal=signal.SIGKILL)

    answered: dict[str, Any] = {}  # uuid -> (the MPC's body, its participants' bodies) last answered
    with mpcmix_serve(data) as served, httpx.Client(base_url=served.url, timeout=10,
                                                   auth=(MAIN.auth_id, MAIN.auth_token)) as client:
        for i in range(60):  # enough changes and ends for the journal to be rewritten (> 64 KiB)
            name = f"k{i}"
            add(client, name)
            add(client, name, "agent")
            ok(client.post("/emulator/advance", json={"seconds": 0.2}))
            if i % 4:
                assert client.delete(f"{BASE}/name_{name}/").status_code == 204
        listed = ok(client.get(f"{BASE}/", params={"limit": 20}))["objects"]
        for i in range(0, 60, 4):  # the live ones: a last change each, answered, then kill -9
            members = ok(client.get(f"{BASE}/name_k{i}/Participant/"))["objects"]
            member = members[i // 4 % 2]["member_id"]
            ok(client.post(f"{BASE}/name_k{i}/Participant/{member}/",
                           json={"mute": True} if i % 8 else {"hold": True}))
        for i in range(60):
            uuid = ok(client.get(f"{BASE}/", params={"friendly_name": f"k{i}"}))["objects"][0]["mpc_uuid"]
            members = ok(client.get(f"{BASE}/uuid_{uuid}/Participant/"))["objects"]
            answered[uuid] = (ok(client.get(f"{BASE}/uuid_{uuid}/")),
                              [ok(client.get(f"{BASE}/uuid_{uuid}/Participant/{m['member_id']}/")) for m in members])
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(10)
    assert len(listed) == 20
    folder = data / MAIN.auth_id
    journal = (folder / LIVE).read_bytes()
    assert len(journal) < 2 * COMPACT_MIN_BYTES  # rewritten on the way: not every change kept
    # What the kill left: every live MPC exactly as last answered (its objects as Get showed them).
    left = AccountStore(folder).read_live()
    assert left is not None and left["clean"] is False
    live = {uuid: bodies for uuid, bodies in answered.items() if bodies[0]["status"] != "Ended"}
    assert len(live) == 15 and {item["uuid"] for item in left["mpcs"]} == set(live)
    for item in left["mpcs"]:
        mpc, participants = live[item["uuid"]]
        assert item["mpc"] == mpc and item["participants"] == participants
    # An earlier version's folder: the same live MPCs, as one live.json, and no journal.
    legacy = tmp_path / "legacy"
    shutil.copytree(data, legacy)
    (legacy / MAIN.auth_id / LEGACY_LIVE).write_text(json.dumps(AccountStore(folder).read_live()))
    (legacy / MAIN.auth_id / LIVE).unlink()

    seen = {}
    for where in (data, legacy):
        with mpcmix_serve(where) as served, httpx.Client(base_url=served.url, timeout=10,
                                                        auth=(MAIN.auth_id, MAIN.auth_token)) as client:
            now: dict[str, Any] = {}
            for uuid, (mpc, participants) in answered.items():
                got = ok(client.get(f"{BASE}/uuid_{uuid}/"))
                members = [ok(client.get(f"{BASE}/uuid_{uuid}/Participant/{p['member_id']}/"))
                           for p in participants]
                now[uuid] = (got, members)
                if mpc["status"] == "Ended":
                    assert (got, members) == (mpc, participants)  # as answered, exactly
                    continue
                # live at the kill: Ended now (Unknown, 0), its participants exited with it
                assert got["status"] == "Ended" and got["termination_cause"] == "Unknown", got
                assert [p["member_id"] for p in members] == [p["member_id"] for p in participants]
                assert all(p["exit_time"] is not None for p in members)
            seen[where] = now
        assert not (where / MAIN.auth_id / LEGACY_LIVE).exists()  # read once, then the journal
        assert (where / MAIN.auth_id / LIVE).is_file()
    assert seen[data] == seen[legacy]
