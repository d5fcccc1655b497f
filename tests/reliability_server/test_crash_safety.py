"""`kill -9` of `mpcmix serve` during a recording: the file keeps what was flushed, and a server
restarted on the same data folder reports the recording as failed and still serves it.

A real subprocess on the real-time clock, killed with SIGKILL; nothing is mocked.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from mpcmix.engine.outputs import RING_TICKS
from mpcmix.server.process import serve_process
from plivo.utils.signature_v3 import validate_v3_signature

from tests.server.conftest import AGENT, CUSTOMER, FROM, make_media_root
from tests.server.harness import MAIN, CallbackReceiver

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
#: What the tick ring holds of a file (RING_TICKS frames of 20 ms): the most a kill -9 takes from it,
#: and how far its header can be behind (docs/reliability.md).
RING_S = RING_TICKS * 0.020
LINES = f'"{CUSTOMER}": {{audio: voices/customer.wav}}\n"{AGENT}": {{audio: voices/agent.wav}}\n'


@contextmanager
def mpcmix_serve(tmp: Path, data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`mpcmix serve --clock realtime` on a free port; killed (SIGKILL) if still running after."""
    media = tmp / "media"
    if not media.exists():
        make_media_root(tmp)
        (tmp / "lines.yaml").write_text(LINES)
    args = ["--clock", "realtime", "--data-dir", str(data_dir),
            "--media-root", str(media), "--lines", str(tmp / "lines.yaml"),
            "--account", f"{MAIN.auth_id}:{MAIN.auth_token}", "--log-level", "warning"]
    with serve_process(args, stop_signal=signal.SIGKILL) as served:
        yield served.process, served.url


def now_ms(client: httpx.Client) -> int:
    return int(client.get("/emulator/clock").json()["now_ms"])


@pytest.mark.slow
def test_a_recording_survives_kill_9_and_a_restart_reports_it_failed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    receiver = CallbackReceiver().start()
    try:
        with mpcmix_serve(tmp_path, data) as (process, url):
            with httpx.Client(base_url=url, auth=(MAIN.auth_id, MAIN.auth_token),
                              timeout=10) as client:
                for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
                    response = client.post(f"{BASE}/name_crash/Participant/",
                                           json={"role": role, "from": FROM, "to": to})
                    assert response.status_code == 201, response.text
                started_ms = now_ms(client)
                started = client.post(f"{BASE}/name_crash/Record/", json={
                    "file_format": "wav", "recording_callback_url": f"{receiver.url}/rec",
                    "recording_callback_method": "POST"}).json()
                recording_id = started["recording_id"]
                time.sleep(2.6)  # at least two flushes (one a second)
                killed_ms = now_ms(client)
                process.send_signal(signal.SIGKILL)
                process.wait(10)

        path = data / MAIN.auth_id / "out" / "recordings" / f"{recording_id}.wav"
        assert (data / MAIN.auth_id / "journal" / f"{recording_id}.json").is_file()
        recorded_s = (killed_ms - started_ms) / 1000
        # Before any repair: libsndfile reads what the header counted at the file's last turn,
        # at most the ring (a second) behind the kill.
        info = sf.info(str(path))
        assert recorded_s - RING_S - 0.3 <= info.duration <= recorded_s + 0.1, (info.duration, recorded_s)
        read, rate = sf.read(str(path), dtype="int16")
        assert len(read) == info.frames and rate == 16000

        with mpcmix_serve(tmp_path, data) as (_process, url2), httpx.Client(
                base_url=url2, auth=(MAIN.auth_id, MAIN.auth_token), timeout=10) as client:
            failed = client.get("/emulator/events", params={"name": "MPCRecordingFailed"}).json()
            [event] = failed["events"]
            assert event["params"]["RecordingUUID"] == recording_id
            assert event["recovered"]["files"] == [path.name]
            everything = client.get("/emulator/events").json()["events"]
            before = [e for e in everything if e["params"].get("MPCUUID") == event["mpc_uuid"]
                      and e["seq"] < event["seq"]]
            assert before, "the earlier run's events were read back"
            assert int(event["params"]["SequenceNumber"]) > max(
                int(e["params"]["SequenceNumber"]) for e in before)
            # The file is repaired to all the data on disk, and served at its recording_url path.
            download = client.get(started["recording_url"].split(url, 1)[-1]
                                  if started["recording_url"].startswith(url) else
                                  "/" + started["recording_url"].split("/", 3)[3])
            assert download.status_code == 200, download.text
            served = tmp_path / "served.wav"
            served.write_bytes(download.content)
            repaired = sf.info(str(served))
            assert info.frames <= repaired.frames and repaired.duration <= recorded_s + 0.2
            assert repaired.duration >= recorded_s - RING_S - 0.3, (repaired.duration, recorded_s)
            # ...to its callback URL too, signed.
            callbacks = receiver.wait_for(
                lambda r: r.params.get("EventName") == "MPCRecordingFailed", timeout_s=10)
            callback = callbacks[0]
            assert callback.params["RecordingUUID"] == recording_id
            assert validate_v3_signature(callback.method, callback.url,
                                         callback.headers["X-Plivo-Signature-V3-Nonce"],
                                         MAIN.auth_token, callback.headers["X-Plivo-Signature-V3"],
                                         dict(callback.params))
            assert not (data / MAIN.auth_id / "journal" / f"{recording_id}.json").exists()
            # A new recording in the restarted server gets a new id: the old file stays.
            for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
                client.post(f"{BASE}/name_after/Participant/",
                            json={"role": role, "from": FROM, "to": to})
            again = client.post(f"{BASE}/name_after/Record/", json={"file_format": "wav"}).json()
            assert again["recording_id"] != recording_id

        # Reported once: a third start finds nothing left in progress from the first.
        with mpcmix_serve(tmp_path, data) as (_process, url3), httpx.Client(
                base_url=url3, auth=(MAIN.auth_id, MAIN.auth_token), timeout=10) as client:
            failed = client.get("/emulator/events", params={"name": "MPCRecordingFailed"}).json()
            ids = [e["params"]["RecordingUUID"] for e in failed["events"]]
            assert ids.count(recording_id) == 1
    finally:
        receiver.stop()


def test_the_event_log_is_read_back_with_what_became_of_each_callback(tmp_path: Path) -> None:
    from mpcmix.server.eventlog import EventLog

    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    for name in ("A", "B", "C"):
        log.append({"name": name, "params": {}, "delivery": {"status": "queued"}})
    log.set_delivery(1, "delivered", {"attempts": 1})
    log.set_delivery(2, "retrying", {"attempts": 1})
    log.close()
    with path.open("a") as f:
        f.write('{"seq": 4, "name": "D", "par')  # a line a kill cut short
    again = EventLog(path)
    assert [r["delivery"]["status"] for r in again.read()] == ["delivered", "undelivered",
                                                                 "undelivered"]
    assert again.append({"name": "E", "params": {}, "delivery": {"status": "no-url"}}) == 4
    again.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()
             if line.startswith("{") and line.endswith("}")]
    assert lines[-1]["name"] == "E"
