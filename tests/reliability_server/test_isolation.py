"""One account cannot stall or break another: callbacks and the real-time clock under abuse.

A `mpcmix serve` process on the real-time clock with two accounts. The bad one sends malformed callback URLs
(each refused with a 400 naming the parameter: a worker never meets them), floods its small
callback queue towards receivers that are down or take 10 s, and plays a huge file (a 3-minute
44.1 kHz stereo WAV, decoded and resampled), a slow one (an XML document playing a long FLAC
three times), a FIFO and one file under many spellings. Meanwhile the good account's calls run.
Then: every callback of the good account arrived, once, none dropped; the ticker's p99 lateness
is under one frame more than an idle process's ticking beside it (what the machine's other work
costs any ticker then); the FIFO was never opened (Play answered 202, MPCPlayFailed); the
many spellings share one cache entry; the huge file played once decoded, its delay reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from mpcmix.server.process import free_port, serve_process

from tests.server.conftest import AGENT, CUSTOMER, FROM, make_media_root
from tests.server.harness import MAIN, OTHER

from .receivers import Receiver

GOOD = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
BAD = f"/v1/Account/{OTHER.auth_id}/MultiPartyCall"
MAIN_AUTH = (MAIN.auth_id, MAIN.auth_token)
OTHER_AUTH = (OTHER.auth_id, OTHER.auth_token)
MALFORMED = ["http://[::1", "ftp://example.com/cb", "http:// example.com/cb",
             "http://example.com:99999/cb", "http://", "javascript:alert(1)", "http://a..b/cb"]


def add(client: httpx.Client, base: str, name: str, role: str, to: str,
        **extra: object) -> httpx.Response:
    return client.post(f"{base}/name_{name}/Participant/",
                       json={"role": role, "from": FROM, "to": to, **extra})


def members(client: httpx.Client, base: str, name: str) -> list[str]:
    return [p["member_id"] for p in client.get(f"{base}/name_{name}/Participant/").json()["objects"]]


def write_media(root: Path) -> dict[str, str]:
    """The bad account's media: huge, slow, a FIFO, and a file named many ways."""
    rng = np.random.default_rng(14)
    # 3 minutes of 44.1 kHz stereo: 32 MB to decode and resample, seconds of work that on the
    # ticker's path (as before) held every account's ticks for as long
    huge = root / "huge.wav"
    with sf.SoundFile(huge, "w", 44100, 2, "PCM_16") as f:
        block = (rng.standard_normal((44100 * 10, 2)) * 3000).astype(np.int16)
        for _ in range(18):
            f.write(block)
    slow = root / "slow.flac"
    sf.write(slow, (rng.standard_normal(22050 * 120) * 3000).astype(np.int16), 22050)
    (root / "slow.xml").write_text("<Response><Play loop=\"3\">slow.flac</Play></Response>")
    os.mkfifo(root / "fifo.wav")
    return {"huge": "huge.wav", "slow": "slow.xml", "fifo": "fifo.wav"}


def open_bad_calls(b: httpx.Client, down: str, slow: str) -> None:
    """The bad account: malformed callback URLs, each refused when given (400 naming it); then
    two MPCs whose status callbacks go to a receiver that is down and to one taking 10 s."""
    for url in MALFORMED:
        for key in ("status_callback_url", "recording_callback_url", "on_exit_action_url",
                    "call_status_callback_url"):
            refused = add(b, BAD, "bad", "customer", CUSTOMER, **{key: url})
            assert refused.status_code == 400, (key, url, refused.text)
            assert key in refused.json()["error"]
    for name, url in (("dead", down), ("slowcb", slow)):
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            assert add(b, BAD, name, role, to, status_callback_url=url,
                       status_callback_method="POST").status_code == 201


def events(client: httpx.Client) -> list[dict[str, object]]:
    response = client.get("/emulator/events")
    assert response.status_code == 200, response.text
    return response.json()["events"]


@pytest.mark.slow
def test_one_account_cannot_stall_or_break_another(tmp_path: Path) -> None:
    good, down, slow = Receiver().start(), f"http://127.0.0.1:{free_port()}/down", \
        Receiver(delay_s=10).start()
    media_root = make_media_root(tmp_path)
    media = write_media(media_root)
    (tmp_path / "lines.yaml").write_text(f'"{CUSTOMER}": {{audio: voices/customer.wav}}\n'
                                         f'"{AGENT}": {{audio: voices/agent.wav}}\n')
    (tmp_path / "serve.yaml").write_text(
        "callback_queue_size: 40\ncallback_backoff_s: 0.2\ncallback_attempts: 3\n"
        "callback_timeout_s: 12\n")
    args = ["--clock", "realtime", "--data-dir", str(tmp_path / "data"), "--media-root",
            str(media_root), "--lines", str(tmp_path / "lines.yaml"), "--log-level", "warning",
            "--config", str(tmp_path / "serve.yaml"),
            "--account", f"{MAIN.auth_id}:{MAIN.auth_token}",
            "--account", f"{OTHER.auth_id}:{OTHER.auth_token}"]
    spellings = ["sounds/chime.wav", *(f"sounds/{'./' * i}chime.wav" for i in range(1, 60)),
                 *(f"./sounds{'/' * i}chime.wav" for i in range(2, 40)),
                 "voices/../sounds/chime.wav"]
    try:
        with serve_process(args) as served, \
                httpx.Client(base_url=served.url, auth=MAIN_AUTH, timeout=30) as g, \
                httpx.Client(base_url=served.url, auth=OTHER_AUTH, timeout=30) as b:
            started = time.monotonic()
            probe = start_probe()
            open_bad_calls(b, down, f"{slow.url}/slow")
            for i in range(2):  # the good account's calls
                for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
                    assert add(g, GOOD, f"good{i}", role, to, status_callback_url=good.url,
                               status_callback_method="POST").status_code == 201
            # The bad account plays its media and floods its callbacks.
            target = members(b, BAD, "dead")[0]
            for ref in (media["huge"], media["slow"], media["fifo"], *spellings):
                played = b.post(f"{BAD}/name_dead/Member/{target}/Play/", json={"urls": ref})
                assert played.status_code == 202, played.text
            for round_ in range(30):
                for name in ("dead", "slowcb"):
                    member = members(b, BAD, name)[1]
                    assert b.post(f"{BAD}/name_{name}/Participant/{member}/",
                                  json={"mute": round_ % 2 == 0}).status_code < 300
                if round_ % 5 == 0:  # the good account's calls go on meanwhile
                    for i in range(2):
                        member = members(g, GOOD, f"good{i}")[1]
                        assert g.post(f"{GOOD}/name_good{i}/Participant/{member}/",
                                      json={"hold": round_ % 10 == 0}).status_code < 300
                time.sleep(0.1)
            deadline = time.monotonic() + 90  # the huge file is decoded off the ticker's path
            while not any(e["name"] == "MPCMediaDelayed" and e["params"]["MediaURL"] == media["huge"]
                          for e in events(b)):
                assert time.monotonic() < deadline, "the huge file never played"
                time.sleep(0.2)
            for i in range(2):
                assert g.delete(f"{GOOD}/name_good{i}/").status_code == 204
            deadline = time.monotonic() + 20
            while any(e["url"] and e["delivery"]["status"] in ("queued", "retrying")
                      for e in events(g)):
                assert time.monotonic() < deadline, "the good account's callbacks never went out"
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            probed = stop_probe(probe)
            stats = g.get("/emulator/stats", params={"window_s": elapsed + 1}).json()
            good_log, bad_log = events(g), events(b)
    finally:
        good.stop()
        slow.stop()
    check(good, good_log, bad_log, media, stats)
    window = stats["ticker"]["window"]
    # The ticker never waited on a receiver or a decode (that would be seconds: the slow server,
    # the callbacks' 12 s timeout, the huge file's decode): its worst tick is far under that, and
    # its p99 lateness under two frames more than that of a process doing nothing but sleep frame
    # after frame beside it (what the machine's other work alone costs any ticker then). Two
    # frames, not one: the server's own decode threads share the two cores with its ticker.
    print(f"ticker over {elapsed:.1f} s: {window}; an idle sleeper beside it: {probed}")
    assert window["max_ms"] < 500, window
    assert window["p99_ms"] < 40 + probed["p99_ms"], (window, probed)


#: An idle process ticking every 20 ms: how late it wakes is what the machine's load alone costs.
PROBE = """
import json, signal, sys, time
late, stop = [], []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
due = time.monotonic()
while not stop:
    due += 0.02
    time.sleep(max(0.0, due - time.monotonic()))
    late.append((time.monotonic() - due) * 1000)
late.sort()
print(json.dumps({"ticks": len(late), "p99_ms": late[int(0.99 * (len(late) - 1))] if late else 0,
                  "max_ms": late[-1] if late else 0}))
"""


def start_probe() -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)


def stop_probe(probe: subprocess.Popen[str]) -> dict[str, float]:
    probe.send_signal(signal.SIGTERM)
    out, _ = probe.communicate(timeout=10)
    return json.loads(out)


def check(good: Receiver, good_log: list[dict[str, object]], bad_log: list[dict[str, object]],
          media: dict[str, str], stats: dict[str, object]) -> None:
    """Every callback of the good account arrived, once, none dropped; the bad account's own
    queue overflowed; the FIFO was refused, the spellings are one file, the huge one played."""
    sent = [e for e in good_log if e["url"]]
    assert sent and all(e["delivery"]["status"] == "delivered" for e in sent), \
        Counter(e["delivery"]["status"] for e in sent)

    def key(params: dict[str, str]) -> tuple[str, str, str]:  # an MPC event goes to each member
        return params["MPCUUID"], params["SequenceNumber"], params.get("MemberID", "")

    received = Counter(key(a.params) for a in good.attempts)
    assert set(received) == {key(e["params"]) for e in sent}
    assert max(received.values()) == 1
    assert any(e["delivery"]["status"] == "dropped" for e in bad_log)
    failed = [e["params"]["PlayURL"] for e in bad_log if e["name"] == "MPCPlayFailed"]
    assert media["fifo"] in failed and media["huge"] not in failed
    # the lines' two voices, the chime (one entry for its 100 spellings), the huge and the slow
    # medium: not one entry per spelling
    assert stats["media"]["cached_files"] <= 6, stats["media"]
