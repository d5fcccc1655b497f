"""The web console in headless Chromium (Debian's, driven by playwright) against a real
real-time-clock `mpcmix serve` on loopback, with Chromium's fake microphone (a beeping tone).

One call: a customer and a coaching supervisor whose lines are silent, an agent speaking the
fixture voice. The page connects with the account's credentials, shows the routing matrix,
turns coaching off with its button (the matrix cell customer <- supervisor turns on), listens as
the customer (PCM frames arrive, and they carry the agent's voice), and joins the call with the
microphone: its tone is then in the agent's mix (nothing else the agent can hear makes a sound
but the microphone's enter sound).

Set MPCMIX_UPDATE_SCREENSHOT=1 to rewrite docs/console.png from this run."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mpcmix.scenario import parse_lines
from mpcmix.server.config import Account, ServerConfig
from mpcmix.server.process import serve_in_thread

from ..browser import chromium_context, require_chromium

ROOT = Path(__file__).resolve().parents[2]
#: Fake media devices (a microphone playing a tone), their prompts granted, audio without a gesture.
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--autoplay-policy=no-user-gesture-required"]
ACCOUNT = Account("MACONSOLETEST0000001", "token-console-0001-abcdefghijklmnopqrs")
CUSTOMER, AGENT, SUPERVISOR, FROM = "+14155550100", "+14155550101", "+14155550102", "+14155550000"
RATE = 16000

require_chromium("tests/console/test_console_page.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("console")
    lines = parse_lines({CUSTOMER: {"audio": None}, AGENT: {"audio": "voices/agent.wav"},
                         SUPERVISOR: {"audio": None}}, "console test lines")
    config = ServerConfig(accounts=(ACCOUNT,), clock="realtime", media_root=ROOT / "fixtures",
                          lines=lines, data_dir=tmp / "data", sample_rate=RATE)
    with serve_in_thread(config) as served:
        yield served.url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium_context(1400, 720, MEDIA_ARGS) as context:
        yield context


class Listener:
    """What one participant hears, read from /console/listen by a Python WebSocket client in a
    thread (as the page does, without the browser)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[np.ndarray] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for message in self.ws:
                if isinstance(message, bytes):
                    self.frames.append(np.frombuffer(message, dtype="<i2"))
        except ConnectionClosed:
            pass

    def mark(self) -> int:
        return len(self.frames)

    def since(self, mark: int) -> np.ndarray:
        return np.concatenate(self.frames[mark:]) if len(self.frames) > mark else np.zeros(0)


@contextlib.contextmanager
def listening(url: str, mpc: str, member: str) -> Iterator[Listener]:
    from websockets.sync.client import connect

    with connect(f"{url.replace('http', 'ws', 1)}/console/listen?mpc={mpc}&member={member}") as ws:
        ws.send(json.dumps({"auth_id": ACCOUNT.auth_id, "auth_token": ACCOUNT.auth_token}))
        assert json.loads(ws.recv(timeout=10))["event"] == "start"
        listener = Listener(ws)
        yield listener
    listener.thread.join(5)


def _dominant_hz(pcm: np.ndarray) -> float:
    """The strongest frequency above 50 Hz (Chromium's fake tone is a square wave with an
    offset: its DC and envelope are left out)."""
    samples = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples - samples.mean()))
    hz = np.fft.rfftfreq(len(pcm), 1 / RATE)
    spectrum[hz < 50] = 0
    return float(hz[int(np.argmax(spectrum))])


def test_the_console_drives_a_live_call(server: str, browser, tmp_path: Path) -> None:
    import httpx

    base = f"/v1/Account/{ACCOUNT.auth_id}/MultiPartyCall/name_console/Participant/"
    with httpx.Client(base_url=server, auth=(ACCOUNT.auth_id, ACCOUNT.auth_token), timeout=10) as api:
        for role, to in (("customer", CUSTOMER), ("agent", AGENT), ("supervisor", SUPERVISOR)):
            body = {"role": role, "from": FROM, "to": to, "enter_sound": "none"}
            if role == "supervisor":
                body["coach_mode"] = True
            assert api.post(base, json=body).status_code == 201
        members = {p["role"]: p["member_id"] for p in api.get(base).json()["objects"]}
        mpc_uuid = api.get(base.removesuffix("Participant/")).json()["mpc_uuid"]

    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"off-site request: {r.url}")
            if not r.url.startswith((server, server.replace("http", "ws", 1))) else None)
    page.goto(f"{server}/console", wait_until="load")
    page.fill("#auth-id", ACCOUNT.auth_id)
    page.fill("#auth-token", ACCOUNT.auth_token)
    page.click("#connect")

    # The matrix, then coaching off with the supervisor's button: the customer now hears it.
    cell = (f"td.cell[data-listener='{members['customer']}']"
            f"[data-source='voice:{members['supervisor']}']")
    page.wait_for_selector(cell, timeout=10000)
    assert page.get_attribute(cell, "data-gain") == "0"
    assert "coaching" in (page.get_attribute(cell, "title") or "")
    page.click(f"tr[data-member='{members['supervisor']}'] button.coach")
    page.wait_for_function(f"document.querySelector(\"{cell}\").dataset.gain === '1'", timeout=10000)
    with httpx.Client(base_url=server, auth=(ACCOUNT.auth_id, ACCOUNT.auth_token), timeout=10) as api:
        assert api.get(f"{base}{members['supervisor']}/").json()["coach_mode"] is False

    # The other buttons, each seen in the matrix, the participants' states or the API.
    def wait_gain(listener: str, source: str, gain: int) -> None:
        selector = f"td.cell[data-listener='{listener}'][data-source='{source}']"
        page.wait_for_function(f"document.querySelector(\"{selector}\")?.dataset.gain === '{gain}'",
                               timeout=10000)

    def click(member: str, button: str) -> None:
        page.click(f"tr[data-member='{member}'] button.{button}")

    click(members["agent"], "mute")
    wait_gain(members["customer"], f"voice:{members['agent']}", 0)
    click(members["agent"], "mute")  # Unmute
    wait_gain(members["customer"], f"voice:{members['agent']}", 1)
    click(members["customer"], "hold")
    wait_gain(members["agent"], f"voice:{members['customer']}", 0)
    wait_gain(members["customer"], f"hold_music:{members['customer']}", 1)
    assert "held" in page.inner_text(f"tr[data-member='{members['customer']}'] td.state")
    click(members["customer"], "hold")  # Unhold
    wait_gain(members["agent"], f"voice:{members['customer']}", 1)
    page.click("section.mpc button.record")
    page.wait_for_function("document.querySelector('section.mpc button.record').textContent === 'Stop recording'",
                           timeout=10000)
    page.click("section.mpc button.play")  # beep:2 to everyone
    page.wait_for_function("document.getElementById('message').textContent === 'play: done'", timeout=10000)
    with httpx.Client(base_url=server, auth=(ACCOUNT.auth_id, ACCOUNT.auth_token), timeout=10) as api:
        assert api.get(base.removesuffix("Participant/")).json()["recording"] == "recording"
        played = api.get("/emulator/events", params={"name": "MPCPlayStarted"}).json()["events"]
    assert played, "the Play button's play did not start"

    # Listen as the customer: PCM frames arrive, and they carry the agent's voice.
    page.click(f"tr[data-member='{members['customer']}'] button.listen")
    page.wait_for_function("consoleStats.framesReceived >= 50 && consoleStats.listenPeak > 1000",
                           timeout=15000)
    start = page.evaluate("consoleStats.listenStart")
    assert start["member"] == members["customer"] and start["sample_rate"] == RATE

    # The microphone joins as a customer: its tone reaches the agent, who hears nothing else
    # that sounds (the customer and the supervisor are silent lines, no enter sound).
    with listening(server, mpc_uuid, members["agent"]) as agent:
        before = agent.mark()
        frames_now = page.evaluate("consoleStats.framesReceived")
        page.wait_for_function(f"consoleStats.framesReceived >= {frames_now + 25}", timeout=10000)
        silent = agent.since(before)
        joined_at = agent.mark()
        page.click("section.mpc button.mic-join")
        page.wait_for_function("consoleStats.micMember !== null && consoleStats.micSamplesSent > 2 * 16000",
                               timeout=15000)
        heard = agent.since(joined_at)
        mic_member = page.evaluate("consoleStats.micMember")
        page.wait_for_selector(f"tr[data-member='{mic_member}']", timeout=10000)
        page.click(f"tr[data-member='{members['supervisor']}'] button.coach")  # coaching again
        page.wait_for_function(f"document.querySelector(\"{cell}\").dataset.gain === '0'",
                               timeout=10000)
        screenshot = (ROOT / "docs" / "console.png"
                      if os.environ.get("MPCMIX_UPDATE_SCREENSHOT") == "1" else tmp_path / "console.png")
        page.screenshot(path=str(screenshot), full_page=True)
    mic_peak = page.evaluate("consoleStats.micPeak")
    click(mic_member, "kick")  # the page is told its participant left, and stops
    page.wait_for_function("document.getElementById('mic').hidden", timeout=10000)
    with httpx.Client(base_url=server, auth=(ACCOUNT.auth_id, ACCOUNT.auth_token), timeout=10) as api:
        assert api.get(f"{base}{mic_member}/").json()["exit_cause"] == "Kicked Out of Multiparty Call"
    errors = page.evaluate("consoleStats.errors")
    seen = list(problems)
    page.close()
    assert seen == [] and errors == [], (seen, errors)
    assert len(silent) >= 320 and not silent.any()  # before the microphone: silence, exactly
    assert mic_peak > 1000  # the fake device's tone, as the page sent it
    # The agent hears the microphone's enter sound (beep:1, 880 Hz, 150 ms), then only the
    # microphone: Chromium's fake device beeps (a 400 Hz square wave, every half second).
    assert len(heard) >= RATE
    cue_end = int(np.flatnonzero(heard)[0]) + RATE * 150 // 1000
    after = heard[cue_end:]
    assert len(after) >= RATE // 2 and np.abs(after).max() > 10000
    tone_hz = _dominant_hz(after)
    assert abs(tone_hz - 880) > 50 and 200 < tone_hz < 4000, tone_hz
    assert screenshot.stat().st_size > 10_000
