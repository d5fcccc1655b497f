"""A request answered 4xx changes nothing: a stateful property test against a real server.

Random sequences (seeded: MPCMIX_ATOMIC_SEED) of the API's requests (add, update, kick, Play and its stop, recordings,
participant recordings, start, end, the look-ups, advances of the virtual clock), some with an
invalid value injected (a lone surrogate, a NUL, text over the length limit, a malformed
callback URL, the wrong type, a number out of range, an unknown member), sent over HTTP to a
server on a loopback port. After every answer: never a 5xx; after every 4xx, the state (the MPC
list, every MPC's Get, its participant list and each participant's Get, and the event log)
equals the state before the request.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import AGENT, CUSTOMER, FROM, NEVER, SLOW, SUPERVISOR, virtual_config
from tests.server.harness import MAIN, serve

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"

#: Values no parameter takes: the checks each must meet before anything changes.
INVALID_TEXT = ["\ud800", "a\udfffb", "+1\ud83d", "a\x00b", "x" * 5000, {"a": 1}, ["a", "b"],
                True]
INVALID_URLS = ["http://[::1", "ftp://example.com/cb", "http:// example.com/cb",
                "http://example.com:99999/cb", "://nohost", "http://", "http://exa mple.com",
                "http://\x00.example.com/", "http://a..b/", ["http://a/", "http://b/"]]
INVALID_NUMBERS = [-1, 0, 10**12, "ten", 1.5, True, "\ud800", None]

Draw = random.Random


def strip(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "api_id"}
    return body


def get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.text)
    return strip(response.json())


def pages(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        response = client.get(path, params={"limit": 20, "offset": len(out)})
        assert response.status_code == 200, response.text
        page = response.json()
        out += page["objects"]
        if len(out) >= page["meta"]["count"] or not page["objects"]:
            return out


def observe(client: httpx.Client, events: int = 0) -> dict[str, Any]:
    """Every Get and List body of the account, and how many events its log holds (those after
    the `events` already counted are read)."""
    mpcs = pages(client, f"{BASE}/")
    state: dict[str, Any] = {"list": mpcs}
    for mpc in mpcs:
        path = f"{BASE}/uuid_{mpc['mpc_uuid']}/"
        state[path] = get(client, path)
        members = pages(client, path + "Participant/")
        state[path + "Participant/"] = members
        for member in members:
            member_path = f"{path}Participant/{member['member_id']}/"
            state[member_path] = get(client, member_path)
    response = client.get("/emulator/events", params={"after": events})
    assert response.status_code == 200, response.text  # a stored value must stay readable
    new = response.json()["events"]
    state["events"] = events + len(new)
    return state


class AtomicRequests:
    """Sends requests; checks the property after each (see the module docstring)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.names: list[str] = []
        self.state = observe(self.client)
        self.sent = 0
        self.refused = 0

    # -- what a request may carry ----------------------------------------------------------------

    def _name(self, data: Draw, *, new: bool = False) -> str:
        if new or not self.names or data.randint(0, 5) == 0:
            name = f"atomic_{len(self.names)}_{data.randint(0, 3)}"
            if name not in self.names:
                    self.names.append(name)
            return name
        return data.choice(self.names)

    def _member(self, data: Draw, name: str) -> str:
        found = [m["member_id"] for key, value in self.state.items()
                 if key.endswith("/Participant/") for m in value
                 if self.state.get(key[: -len("Participant/")], {}).get("friendly_name") == name]
        choices = [*found, "all", "999999", ",".join(found[:2]) or "1"]
        return data.choice(choices)

    def _maybe_break(self, data: Draw, args: dict[str, Any],
                     kinds: dict[str, str]) -> bool:
        """With some chance, replace one argument by a value its kind never takes."""
        if not kinds or data.randint(0, 9) < 4:
            return False
        key = data.choice(sorted(kinds))
        pool = {"text": INVALID_TEXT, "url": INVALID_URLS, "number": INVALID_NUMBERS}[kinds[key]]
        args[key] = data.choice(pool)
        return True

    # -- the requests --------------------------------------------------------------------------

    def _send(self, method: str, path: str, args: dict[str, Any] | None = None) -> None:
        if method == "GET":
            response = self.client.request(method, path, params=args)
        else:  # \u escapes: a lone surrogate reaches the server as JSON can carry it
            response = self.client.request(method, path, content=json.dumps(args or {}),
                                           headers={"Content-Type": "application/json"})
        self.sent += 1
        assert response.status_code < 500, (method, path, args, response.text)
        if 400 <= response.status_code < 500:
            self.refused += 1
            error = response.json()
            assert set(error) == {"api_id", "error"} and error["error"], response.text
            after = observe(self.client, self.state["events"])
            assert after == self.state, (method, path, args, response.status_code,
                                         response.text)
        else:
            self.state = observe(self.client, self.state["events"])

    def add_participant(self, data: Draw) -> None:
        name = self._name(data)
        role, to = data.choice([("customer", CUSTOMER), ("agent", AGENT),
                                ("supervisor", SUPERVISOR), ("agent", SLOW), ("customer", NEVER)])
        args: dict[str, Any] = {"role": role, "from": FROM, "to": to,
                                "caller_name": "Caller", "status_callback_events":
                                "mpc-state-changes"}
        if data.random() < 0.5:
            args["max_participants"] = data.randint(2, 10)
        kinds = {"from": "text", "to": "text", "caller_name": "text", "role": "text",
                 "status_callback_url": "url", "recording_callback_url": "url",
                 "on_exit_action_url": "url", "call_status_callback_url": "url",
                 "wait_music_url": "text", "enter_sound": "text", "max_participants": "number",
                 "ring_timeout": "number", "status_callback_events": "text",
                 "max_duration": "number", "coach_mode": "text"}
        self._maybe_break(data, args, kinds)
        self._send("POST", f"{BASE}/name_{name}/Participant/", args)

    def update_participant(self, data: Draw) -> None:
        name = self._name(data)
        member = self._member(data, name)
        args: dict[str, Any] = {data.choice(["mute", "hold", "coach_mode"]):
                                data.random() < 0.5}
        self._maybe_break(data, args, {key: "text" for key in args})
        self._send("POST", f"{BASE}/name_{name}/Participant/{member}/", args)

    def kick_participant(self, data: Draw) -> None:
        name = self._name(data)
        self._send("DELETE", f"{BASE}/name_{name}/Participant/{self._member(data, name)}/")

    def play(self, data: Draw) -> None:
        name = self._name(data)
        member = self._member(data, name)
        args: dict[str, Any] = {"urls": data.choice(
            ["sounds/chime.wav", "sounds/announcement.wav", "sounds/missing.wav"])}
        self._maybe_break(data, args, {"urls": "text"})
        method = data.choice(["POST", "DELETE"])
        self._send(method, f"{BASE}/name_{name}/Member/{member}/Play/",
                   args if method == "POST" else None)

    def recording(self, data: Draw) -> None:
        name = self._name(data)
        action = data.choice(["start", "stop", "pause", "resume"])
        if action == "start":
            args: dict[str, Any] = {"file_format": data.choice(["mp3", "wav"]),
                                    "recording_callback_url": "http://127.0.0.1:9/rec"}
            self._maybe_break(data, args, {"file_format": "text",
                                           "recording_callback_url": "url"})
            self._send("POST", f"{BASE}/name_{name}/Record/", args)
        elif action == "stop":
            self._send("DELETE", f"{BASE}/name_{name}/Record/")
        else:
            self._send("POST", f"{BASE}/name_{name}/Record/{action.title()}/")

    def participant_recording(self, data: Draw) -> None:
        name = self._name(data)
        member = self._member(data, name)
        args: dict[str, Any] = {"record_track_type": data.choice(["participant", "all", "both"])}
        self._maybe_break(data, args, {"record_track_type": "text"})
        method = data.choice(["POST", "DELETE"])
        self._send(method, f"{BASE}/name_{name}/Participant/{member}/Record/", args)

    def start_or_end(self, data: Draw) -> None:
        name = self._name(data)
        if data.random() < 0.5:
            args: dict[str, Any] = {"status": "active"}
            self._maybe_break(data, args, {"status": "text", "callback_url": "url"})
            self._send("POST", f"{BASE}/name_{name}/", args)
        else:
            self._send("DELETE", f"{BASE}/name_{name}/")

    def look_up(self, data: Draw) -> None:
        name = self._name(data)
        args: dict[str, Any] = {"limit": data.randint(1, 20)}
        if data.randint(0, 9) >= 5:  # a query string carries text: what text cannot be
            key = data.choice(["limit", "offset", "status", "end_time__gt"])
            args[key] = data.choice(["abc", "-5", "0", "1e3", "x" * 5000, "9" * 30, "2020-02-30"])
        path = data.choice([f"{BASE}/", f"{BASE}/name_{name}/", f"{BASE}/name_{name}/Participant/"])
        self._send("GET", path, args)

    def advance(self, data: Draw) -> None:
        seconds = data.choice([0.1, 0.5, 2.5, -1, "soon", 10**9])
        self._send("POST", "/emulator/advance", {"seconds": seconds})

    def step(self, data: Draw) -> None:
        """One request, drawn from `data`."""
        choice = data.choice((self.add_participant, self.add_participant, self.update_participant,
                              self.kick_participant, self.play, self.recording,
                              self.participant_recording, self.start_or_end, self.look_up,
                              self.advance))
        choice(data)


@pytest.mark.slow
def test_a_request_answered_4xx_changes_nothing(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("MPCMIX_ATOMIC_SEED", "14")))
    steps = 150 * int(os.environ.get("MPCMIX_FUZZ_SCALE", "1"))
    with serve(virtual_config(tmp_path)) as server, server.http() as client:
        machine = AtomicRequests(client)
        for _ in range(steps):
            machine.step(rng)
    # the sequence tried both sides of the property
    assert machine.refused >= steps // 10 and machine.sent - machine.refused >= steps // 10, (
        machine.sent, machine.refused)
