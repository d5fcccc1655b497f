"""A server restarted on its data folder answers for everything earlier, exactly as before.

Real `mpcmix serve` processes (virtual clock) on one data folder, one after the other: each run
checks what the earlier runs left, then makes new calls (MPCs with WAV and MP3 recordings,
participant recordings of both tracks, listener streams), ends some and leaves others live, and
stops: cleanly (SIGINT) or by SIGKILL at a random moment (between requests, or while an advance
is rendering). Then, at every start:

- every MPC, participant and event of an earlier run answers as before (the same bodies, an
  api_id aside), and the MPC list keeps their order; an MPC that was live at the stop is Ended,
  `Unknown`/0, its end at or after the last moment seen, its participants exited with it;
- every file of an earlier run (recordings at their recording_url, listener streams) keeps its
  bytes (checksums), a file a kill cut is repaired once and keeps those bytes after: playable,
  its WAV header counting its frames, an MP3 decoded to the same length by libsndfile and
  ffmpeg, a recording's RecordingDuration that length;
- no id (mpc_uuid, member_id, call_uuid, recording_id) is given twice across the runs.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf
from mpcmix.mixer import wavfile
from mpcmix.server.process import serve_process

from tests.server.conftest import AGENT, CUSTOMER, FROM, SUPERVISOR, make_media_root
from tests.server.harness import MAIN

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
LINES = "".join(f'"{number}": {{audio: voices/{voice}.wav}}\n' for number, voice in (
    (CUSTOMER, "customer"), (AGENT, "agent"), (SUPERVISOR, "supervisor")))
RUNS = 5


def body(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    data = response.json()
    if isinstance(data, dict):
        data.pop("api_id", None)
    return data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_of(url: str) -> str:
    """The path of a URL the server gave (its port changes from run to run)."""
    return "/" + url.split("/", 3)[3]


@dataclass
class Known:
    """What earlier runs showed: bodies by path, file checksums by path, every id given."""

    bodies: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)  # mpc_uuids as List showed them, newest first
    events: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # uuid -> last Get while live
    ids: dict[str, list[str]] = field(default_factory=lambda: {
        "mpc": [], "member": [], "call": [], "recording": []})
    cut_recordings: dict[str, str] = field(default_factory=dict)  # recording path -> format


def all_mpcs(client: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = body(client.get(f"{BASE}/", params={"limit": 20, "offset": len(out)}))
        out += page["objects"]
        if page["meta"]["next"] is None:
            return out


def remember(client: httpx.Client, known: Known, uuid: str) -> None:
    """Keep an ended MPC's bodies and its participants' listener streams."""
    mpc_path = f"{BASE}/uuid_{uuid}/"
    known.bodies[mpc_path] = body(client.get(mpc_path))
    members = body(client.get(f"{mpc_path}Participant/"))
    known.bodies[f"{mpc_path}Participant/"] = members
    for member in members["objects"]:
        path = f"{mpc_path}Participant/{member['member_id']}/"
        known.bodies[path] = body(client.get(path))
        listener = client.get(path + "Listener.wav")
        if listener.status_code == 200:
            known.files[path + "Listener.wav"] = sha(listener.content)
            header = wavfile.consistent_header(_write(listener.content, "listener.wav"))
            assert header.data_length == len(listener.content) - header.data_offset


def check_earlier(client: httpx.Client, known: Known) -> None:
    """Everything an earlier run left answers as before (module docstring)."""
    for uuid, seen in known.live.items():  # live at the stop: Ended now, at the last moment
        mpc = body(client.get(f"{BASE}/uuid_{uuid}/"))
        assert mpc["status"] == "Ended" and mpc["termination_cause"] == "Unknown"
        assert mpc["termination_cause_code"] == 0 and mpc["end_time"] >= seen["creation_time"]
        for p in body(client.get(f"{BASE}/uuid_{uuid}/Participant/"))["objects"]:
            full = body(client.get(f"{BASE}/uuid_{uuid}/Participant/{p['member_id']}/"))
            assert full["exit_time"] is not None and full["exit_time"] <= mpc["end_time"]
        remember(client, known, uuid)
    known.live.clear()
    for path, expected in known.bodies.items():
        assert body(client.get(path)) == expected, path
    for path, digest in known.files.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert sha(response.content) == digest, path
    listed = [m["mpc_uuid"] for m in all_mpcs(client)]
    assert listed[len(listed) - len(known.listed):] == known.listed  # older ones, same order
    events = body(client.get("/emulator/events"))["events"]
    assert events[:len(known.events)] == known.events
    for recording_path, fmt in known.cut_recordings.items():
        known.files[recording_path] = check_cut_recording(client, recording_path, fmt, events)
    known.cut_recordings.clear()


def check_cut_recording(client: httpx.Client, path: str, fmt: str,
                        events: list[dict[str, Any]]) -> str:
    """A recording its run's stop cut: playable, the length every decoder gives, reported as
    that. Its checksum."""
    recording_id = path.rsplit("/", 1)[1].split(".")[0]
    failed = [e for e in events if e["params"].get("RecordingUUID") == recording_id
              and e["name"].endswith("RecordingFailed")]
    response = client.get(path)
    assert response.status_code == 200, response.text
    data = response.content
    assert failed, f"recording {recording_id} cut by the stop is reported failed"
    if not data:  # killed before its first gathered block reached the file: nothing to play
        assert fmt == "mp3" and failed[-1]["params"]["RecordingDuration"] == "0", failed[-1]
        return sha(data)
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    seconds = len(samples) / rate
    assert int(failed[-1]["params"]["RecordingDuration"]) == round(seconds)
    if fmt == "wav":
        header = wavfile.consistent_header(_write(data, "cut.wav"))
        assert header.data_length == len(data) - header.data_offset  # the header counts it all
    else:
        # from a file: read from a pipe, ffmpeg cannot trim the encoder's end padding
        decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(_write(data, "cut.mp3")),
                                  "-f", "s16le", "-ac", "1", "-"],
                                 capture_output=True, check=True).stdout
        # the same samples, exactly; a file of a few frames (under ~0.1 s: too short for the
        # encoder's delay to be trimmed) within one frame (576 samples at 16 kHz)
        slack = 0 if len(samples) > 4 * 576 else 576
        assert abs(len(decoded) // 2 - len(samples)) <= slack, (len(decoded) // 2, len(samples))
    return sha(data)


_scratch: dict[str, Path] = {}


def _write(data: bytes, name: str) -> Path:
    path = _scratch["dir"] / name
    path.write_bytes(data)
    return path


def new_calls(client: httpx.Client, rng: random.Random, run: int, known: Known) -> list[str]:
    """New MPCs: recorded (WAV or MP3), a participant recording of both tracks; some ended.
    Returns the uuids of those left live."""
    live = []
    for i in range(3):
        name = f"run{run}_mpc{i}"
        fmt = rng.choice(("wav", "mp3"))
        for role, to in (("customer", CUSTOMER), ("agent", AGENT), ("supervisor", SUPERVISOR)):
            added = body(client.post(f"{BASE}/name_{name}/Participant/",
                                     json={"role": role, "from": FROM, "to": to}))
            known.ids["call"] += [c["call_uuid"] for c in added["calls"]]
        recording = body(client.post(f"{BASE}/name_{name}/Record/", json={"file_format": fmt}))
        known.ids["recording"].append(recording["recording_id"])
        members = body(client.get(f"{BASE}/name_{name}/Participant/"))["objects"]
        known.ids["member"] += [m["member_id"] for m in members]
        agent = next(m["member_id"] for m in members if m["role"] == "agent")
        track = body(client.post(f"{BASE}/name_{name}/Participant/{agent}/Record/",
                                 json={"file_format": rng.choice(("wav", "mp3")),
                                       "record_track_type": "both"}))
        known.ids["recording"].append(track["recording_id"])
        advance(client, rng.choice((0.4, 1.2)))
        uuid = body(client.get(f"{BASE}/name_{name}/"))["mpc_uuid"]
        known.ids["mpc"].append(uuid)
        if i < 2 and rng.random() < 0.7:
            assert client.delete(f"{BASE}/name_{name}/").status_code == 204
            advance(client, 0.2)
            remember(client, known, uuid)
            for url in (recording["recording_url"], track["recording_url"]):
                download = client.get(path_of(url))
                assert download.status_code == 200, download.text
                known.files[path_of(url)] = sha(download.content)
        else:
            live.append(uuid)
            for url, fmt_used in ((recording["recording_url"], fmt),
                                  (track["recording_url"], track["recording_url"][-3:])):
                known.cut_recordings[path_of(url)] = fmt_used
    return live


def advance(client: httpx.Client, seconds: float) -> None:
    assert client.post("/emulator/advance", json={"seconds": seconds}).status_code == 200


@pytest.mark.slow
def test_restarts_keep_every_earlier_object_file_and_id(tmp_path: Path) -> None:
    rng = random.Random(14)
    _scratch["dir"] = tmp_path
    data = tmp_path / "data"
    make_media_root(tmp_path)
    (tmp_path / "lines.yaml").write_text(LINES)
    args = ["--clock", "virtual", "--data-dir", str(data), "--media-root", str(tmp_path / "media"),
            "--lines", str(tmp_path / "lines.yaml"), "--log-level", "warning",
            "--account", f"{MAIN.auth_id}:{MAIN.auth_token}"]
    known = Known()
    stops = ["kill", "clean", "kill", "kill", "clean"][:RUNS]
    for run, stop in enumerate(stops):
        with serve_process(args, stop_signal=signal.SIGINT) as served, httpx.Client(
                base_url=served.url, auth=(MAIN.auth_id, MAIN.auth_token), timeout=30) as client:
            check_earlier(client, known)
            live = new_calls(client, rng, run, known)
            for uuid in live:
                known.live[uuid] = body(client.get(f"{BASE}/uuid_{uuid}/"))
            known.listed = [m["mpc_uuid"] for m in all_mpcs(client)]
            known.events = body(client.get("/emulator/events"))["events"]
            if stop == "kill":
                # a random moment: between requests, or while an advance renders (the events it
                # logs come after those kept: the comparison is of a prefix)
                rendering = threading.Thread(target=_try_advance, args=(client,), daemon=True)
                if rng.random() < 0.6:
                    rendering.start()
                time.sleep(rng.uniform(0.0, 0.3))
                served.process.send_signal(signal.SIGKILL)
                served.process.wait(10)
                if rendering.is_alive() or rendering.ident is not None:
                    rendering.join(10)
            for kind, ids in known.ids.items():
                assert len(ids) == len(set(ids)), f"a {kind} id was given twice"
    with serve_process(args) as served, httpx.Client(
            base_url=served.url, auth=(MAIN.auth_id, MAIN.auth_token), timeout=30) as client:
        check_earlier(client, known)
    shutil.rmtree(data, ignore_errors=True)


def _try_advance(client: httpx.Client) -> None:
    try:
        client.post("/emulator/advance", json={"seconds": 30})
    except httpx.HTTPError:
        pass  # the server was killed under it


def test_a_second_server_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    """One folder, one owner: while a server runs on a data folder, another `mpcmix serve` on it
    exits at once with status 2, naming the folder and the holder; once the first has stopped
    (or been killed: the lock dies with it), the folder can be served again."""
    import sys

    data = tmp_path / "data"
    args = ["--clock", "virtual", "--data-dir", str(data), "--log-level", "warning",
            "--account", f"{MAIN.auth_id}:{MAIN.auth_token}"]
    second = [sys.executable, "-m", "mpcmix.cli", "serve", "--port", "0", *args]
    with serve_process(args, stop_signal=signal.SIGKILL) as served:
        refused = subprocess.run(second, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 2, refused.stderr
        assert str(data) in refused.stderr and "in use" in refused.stderr
        assert f"pid {served.process.pid}" in refused.stderr
        assert httpx.get(f"{served.url}/emulator/health").status_code == 200  # untouched
    with serve_process(args) as again:  # the killed holder's lock died with it
        assert httpx.get(f"{again.url}/emulator/health").status_code == 200
