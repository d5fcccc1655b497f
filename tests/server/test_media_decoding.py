"""Media the server decodes off its request and tick paths (in its decoder process).

On the virtual clock an advance first waits for the decodes under way, so a Play of a medium that
needs decoding (44.1 kHz stereo, an XML document) is heard from the moment it was asked for,
sample for sample as in an offline render of the same calls, and nothing is reported late; a
medium that turns out broken is reported failed then, and only then.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from mpcmix.scenario import render_scenario

from .conftest import AGENT, CUSTOMER, FROM, virtual_config
from .harness import MAIN, serve

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"
RATE = 16000


def write_stereo(path: Path) -> None:
    """1.5 s of two different tones at 44.1 kHz, stereo: the server must decode and resample."""
    t = np.arange(int(44100 * 1.5)) / 44100
    left, right = np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 550 * t)
    sf.write(path, (np.stack([left, right], axis=1) * 9000).astype(np.int16), 44100)


def test_a_play_that_needs_decoding_sounds_as_in_an_offline_render(tmp_path: Path) -> None:
    config = virtual_config(tmp_path)
    assert config.media_root is not None
    write_stereo(config.media_root / "stereo44.wav")
    (config.media_root / "doc.xml").write_text(
        '<Response><Play>stereo44.wav</Play><Wait length="0.2"/></Response>')
    (config.media_root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with serve(config) as server, server.http() as client:
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            added = client.post(f"{BASE}/name_decode/Participant/",
                                json={"role": role, "from": FROM, "to": to})
            assert added.status_code == 201, added.text
        members = {p["role"]: p["member_id"]
                   for p in client.get(f"{BASE}/name_decode/Participant/").json()["objects"]}
        uuid = client.get(f"{BASE}/name_decode/").json()["mpc_uuid"]
        server.advance(0.5)
        for ref in ("stereo44.wav", "doc.xml", "broken.wav"):
            played = client.post(f"{BASE}/name_decode/Member/{members['customer']}/Play/",
                                 json={"urls": ref})
            assert played.status_code == 202, played.text
        server.advance(2.5)
        assert client.delete(f"{BASE}/name_decode/").status_code == 204
        server.advance(0.1)
        heard = client.get(f"{BASE}/uuid_{uuid}/Participant/{members['customer']}/Listener.wav")
        assert heard.status_code == 200
        log = server.events()
    names = [(e["name"], e["params"].get("PlayURL")) for e in log]
    assert ("MPCPlayStarted", "stereo44.wav") in names and ("MPCPlayStarted", "doc.xml") in names
    assert ("MPCPlayFailed", "broken.wav") in names
    assert ("MPCPlayStarted", "broken.wav") not in names
    assert not [e for e in log if e["name"] == "MPCMediaDelayed"]  # the advance waited
    started = {e["params"]["PlayURL"]: e["at_ms"] for e in log if e["name"] == "MPCPlayStarted"}
    assert started == {"stereo44.wav": 500, "doc.xml": 500}

    # The same calls rendered offline: the customer's stream, sample for sample.
    media = str(config.media_root)
    lines = {CUSTOMER: {"audio": f"{media}/voices/customer.wav"},
             AGENT: {"audio": f"{media}/voices/agent.wav"}}
    events = [{"at": 0, "op": "add_participant", "as": "customer", "role": "customer",
               "from": FROM, "to": CUSTOMER},
              {"at": 0, "op": "add_participant", "as": "agent", "role": "agent", "from": FROM,
               "to": AGENT}]
    events += [{"at": 0.5, "op": "start_play_audio", "member": "customer",
                "urls": f"{media}/{ref}"} for ref in ("stereo44.wav", "doc.xml")]
    events.append({"at": 3.0, "op": "end"})
    render_scenario({"mpc": "decode", "lines": lines, "events": events}, tmp_path / "offline")
    offline, rate = sf.read(tmp_path / "offline" / "listeners" / "customer.wav", dtype="int16")
    served, served_rate = sf.read(io.BytesIO(heard.content), dtype="int16")
    assert rate == served_rate == RATE
    assert len(served) == len(offline) == 3 * RATE
    assert np.array_equal(served, offline)
