"""Downloads are streamed: bounded memory whatever the file's size, Range requests (players
seek), and a growing file served consistently (its header matches the bytes sent).

A real server: uvicorn on a loopback port for Range and growing files; a real `mpcmix serve`
process for memory, whose RSS is read from /proc while it serves a 1 GiB listener stream to three
clients at once.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from mpcmix.mixer import wavfile
from mpcmix.server.process import serve_process

from tests.server.conftest import AGENT, CUSTOMER, FROM, make_media_root
from tests.server.harness import MAIN, RunningServer

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"


def new_call(client: httpx.Client, name: str) -> tuple[str, str]:
    """An MPC of two answered participants; (its uuid, the customer's member id)."""
    for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
        response = client.post(f"{BASE}/name_{name}/Participant/",
                               json={"role": role, "from": FROM, "to": to})
        assert response.status_code == 201, response.text
    members = client.get(f"{BASE}/name_{name}/Participant/").json()["objects"]
    uuid = client.get(f"{BASE}/name_{name}/").json()["mpc_uuid"]
    return uuid, next(m["member_id"] for m in members if m["role"] == "customer")


def test_range_requests_give_the_parts_of_the_file(server: RunningServer) -> None:
    with server.http() as client:
        uuid, member = new_call(client, "ranges")
        recording = client.post(f"{BASE}/name_ranges/Record/", json={"file_format": "wav"}).json()
        server.advance(1.5)
        assert client.delete(f"{BASE}/name_ranges/").status_code == 204
        server.advance(0.1)
        url = "/" + recording["recording_url"].split("/", 3)[3]
        listener = f"{BASE}/uuid_{uuid}/Participant/{member}/Listener.wav"
        for path in (url, listener):
            whole = client.get(path)
            assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
            data = whole.content
            total = len(data)
            parts, start = [], 0
            while start < total:  # the file in pieces of 1000 bytes, as a player seeks
                part = client.get(path, headers={"Range": f"bytes={start}-{start + 999}"})
                assert part.status_code == 206, part.text
                end = min(start + 999, total - 1)
                assert part.headers["content-range"] == f"bytes {start}-{end}/{total}"
                parts.append(part.content)
                start += 1000
            assert b"".join(parts) == data
            tail = client.get(path, headers={"Range": "bytes=-10"})
            assert tail.status_code == 206 and tail.content == data[-10:]
            open_ended = client.get(path, headers={"Range": f"bytes={total - 5}-"})
            assert open_ended.content == data[-5:]
            past = client.get(path, headers={"Range": f"bytes={total}-"})
            assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{total}"
            several = client.get(path, headers={"Range": "bytes=0-1,5-6"})  # ignored: all of it
            assert several.status_code == 200 and several.content == data


def test_a_growing_listener_stream_downloads_with_a_header_matching_its_bytes(
        server: RunningServer) -> None:
    """Downloads while advances render more: each body's WAV header counts exactly the frames
    it carries, and each is a prefix of what the stream holds at the end."""
    with server.http() as client:
        uuid, member = new_call(client, "growing")
        listener = f"{BASE}/uuid_{uuid}/Participant/{member}/Listener.wav"
        server.advance(0.2)  # the stream's file begins when the call is first rendered
        bodies: list[bytes] = []
        stop = threading.Event()

        def download() -> None:
            with server.http() as c:
                while not stop.is_set():
                    response = c.get(listener)
                    assert response.status_code == 200, response.text
                    bodies.append(response.content)

        downloader = threading.Thread(target=download)
        downloader.start()
        try:
            for _ in range(15):
                server.advance(0.2)
        finally:
            stop.set()
            downloader.join(30)
        final = client.get(listener).content
    assert len(bodies) >= 3
    for data in bodies:
        riff, = struct.unpack_from("<I", data, 4)
        assert riff == len(data) - 8
        data_size, = struct.unpack_from("<I", data, 40)
        assert data_size == len(data) - 44  # the header counts the frames sent, exactly
        assert final[44:].startswith(data[44:])


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def make_big_wav(path: Path, gib: float) -> int:
    """Turn `path` (a listener stream the server wrote) into a WAV of about `gib` GiB: its
    samples repeated, its header counting them (written in 8 MiB blocks)."""
    header = wavfile.read_layout(path)
    assert header is not None and header.data_offset == 44
    samples = np.frombuffer(path.read_bytes()[44:], dtype=np.int16)
    block = np.resize(samples if len(samples) else np.zeros(1, np.int16), 4 << 20).tobytes()
    size = int(gib * (1 << 30)) // len(block) * len(block)
    with open(path, "wb") as f:
        f.write(wavfile.pcm_header(16000, 1, "PCM_16", size))
        for _ in range(size // len(block)):
            f.write(block)
    return size + 44


@pytest.mark.slow
def test_three_downloads_of_a_1_gib_listener_stream_raise_the_rss_by_under_100_mb(
        tmp_path: Path) -> None:
    media = make_media_root(tmp_path)
    (tmp_path / "lines.yaml").write_text(f'"{CUSTOMER}": {{audio: voices/customer.wav}}\n'
                                         f'"{AGENT}": {{audio: voices/agent.wav}}\n')
    data = tmp_path / "data"
    args = ["--clock", "virtual", "--data-dir", str(data), "--media-root", str(media),
            "--lines", str(tmp_path / "lines.yaml"), "--log-level", "warning",
            "--account", f"{MAIN.auth_id}:{MAIN.auth_token}"]
    with serve_process(args) as served, httpx.Client(
            base_url=served.url, auth=(MAIN.auth_id, MAIN.auth_token), timeout=60) as client:
        uuid, member = new_call(client, "big")
        assert client.post("/emulator/advance", json={"seconds": 1}).status_code == 200
        assert client.delete(f"{BASE}/name_big/").status_code == 204
        assert client.post("/emulator/advance", json={"seconds": 0.1}).status_code == 200
        path = data / MAIN.auth_id / "out" / "listeners" / f"{member}.wav"
        size = make_big_wav(path, 1.0)
        expected = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(8 << 20):
                expected.update(chunk)
        listener = f"{BASE}/uuid_{uuid}/Participant/{member}/Listener.wav"
        pid = served.process.pid
        baseline = vm_rss_kib(pid)
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], vm_rss_kib(pid))
                time.sleep(0.01)

        results: list[tuple[int, str]] = []

        def download() -> None:
            digest, got = hashlib.sha256(), 0
            with httpx.Client(base_url=served.url, auth=(MAIN.auth_id, MAIN.auth_token),
                              timeout=120) as c, c.stream("GET", listener) as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    got += len(chunk)
            results.append((got, digest.hexdigest()))

        sampler = threading.Thread(target=sample)
        sampler.start()
        downloads = [threading.Thread(target=download) for _ in range(3)]
        for t in downloads:
            t.start()
        for t in downloads:
            t.join(600)
        done.set()
        sampler.join()
        health = client.get("/emulator/health")
        assert health.status_code == 200
    assert results == [(size, expected.hexdigest())] * 3
    grew_mb = (peak[0] - baseline) / 1024
    print(f"server RSS {baseline / 1024:.1f} MiB, peak during 3 downloads of "
          f"{size / (1 << 30):.2f} GiB: +{grew_mb:.1f} MiB")
    assert grew_mb < 100, grew_mb
    os.unlink(path)
