"""The official plivo SDK builds the same objects from the emulator's answers as from the real
API's recorded ones: for every operation it covers, the same attribute sets (nested objects too).

The recorded bodies are served by a replay server on loopback (a real HTTP server answering each
request with the next recorded body), so both sides go through the SDK's own requests and parsing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import plivo
import pytest
from mpcmix.server.process import sdk_pointed_at

from tests.server.conftest import AGENT, CUSTOMER, FROM
from tests.server.harness import MAIN, RunningServer

from . import oracle
from .recorded import RECORDED


class Replay:
    """Answers every request with the body and status set by `answer` (and records the path)."""

    def __init__(self) -> None:
        self.status, self.body, self.paths = 200, b"", []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                replay.paths.append(self.path)
                self.send_response(replay.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(replay.body)))
                self.end_headers()
                self.wfile.write(replay.body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def answer(self, recorded: str, status: int) -> None:
        self.status = status
        self.body = json.dumps(RECORDED[recorded][1]).encode() if recorded else b""


@pytest.fixture(scope="module")
def replay() -> Iterator[Replay]:
    running = Replay()
    yield running
    running.http.shutdown()
    running.http.server_close()


@pytest.fixture(scope="module")
def sdk() -> Iterator[plivo.RestClient]:
    client = plivo.RestClient(MAIN.auth_id, MAIN.auth_token)
    yield client
    client.session.close()
    client.multipart_session.close()


def at(url: str, call: Callable[[plivo.RestClient], Any], client: plivo.RestClient) -> Any:
    """`call(client)` with the SDK's base URLs pointed at `url` (they are module constants)."""
    with sdk_pointed_at(url):
        return call(client)


def attributes(value: Any) -> Any:
    """The attribute names of an SDK object, and of the objects inside it, as a comparable tree."""
    if isinstance(value, list):
        return [attributes(value[0])] if value else []
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: attributes(v) for k, v in vars(value).items()
                if not k.startswith("_") and k != "client"}
    return type(value).__name__ if value is None else "value"


def names_of(value: Any) -> Any:
    """`attributes` without the leaf kinds: the attribute sets only."""
    tree = attributes(value)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return None
    return strip(tree)


Call = Callable[[plivo.RestClient], Any]


def test_the_sdk_reads_the_same_attributes_from_the_emulator_as_from_the_real_api(
        server: RunningServer, replay: Replay, sdk: plivo.RestClient) -> None:
    name = "conformance_sdk"

    def ours(call: Call) -> Any:
        return at(server.url, call, sdk)

    def real(call: Call) -> Any:
        return at(replay.url, call, sdk)

    for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
        ours(lambda c, role=role, to=to: c.multi_party_calls.add_participant(
            role=role, friendly_name=name, from_=FROM, to_=to))
    listed = ours(lambda c: c.multi_party_calls.list_participants(friendly_name=name))
    ids = {p.role: p.member_id for p in listed.objects}
    member = {"participant_id": ids["agent"], "friendly_name": name}
    cases: list[tuple[str, str, Call]] = [
        ("get", "get", lambda c: c.multi_party_calls.get(friendly_name=name)),
        ("list", "list", lambda c: c.multi_party_calls.list(friendly_name=name)),
        ("list_participants", "list_participants",
         lambda c: c.multi_party_calls.list_participants(friendly_name=name)),
        ("add_participant", "add_participant",
         lambda c: c.multi_party_calls.add_participant(role="supervisor", friendly_name=name,
                                                       from_=FROM, to_=AGENT)),
        ("update_participant", "update_participant",
         lambda c: c.multi_party_calls.update_participant(mute=True, hold=True, **member)),
        ("start_recording", "start_recording",
         lambda c: c.multi_party_calls.start_recording(friendly_name=name)),
        ("start_participant_recording", "start_participant_recording",
         lambda c: c.multi_party_calls.start_participant_recording(**member)),
        ("start_play_audio", "start_play_audio",
         lambda c: c.multi_party_calls.start_play_audio(
             url="https://media.example.com/audio/announcement.wav", **member)),
    ]
    for op, recorded, call in cases:
        replay.answer(recorded, oracle.STATUS[op])
        assert names_of(ours(call)) == names_of(real(call)), op
    # Get Participant: the recorded bodies leave member_address out, the list bodies have it.
    replay.answer("get_participant", 200)
    theirs = names_of(real(lambda c: c.multi_party_calls.get_participant(**member)))
    mine = names_of(ours(lambda c: c.multi_party_calls.get_participant(**member)))
    assert set(mine) - set(theirs) == {"member_address"} and set(theirs) <= set(mine)
    # 204s: the SDK returns nothing from either
    replay.answer("", 204)
    for call in (lambda c: c.multi_party_calls.stop_play_audio(**member),
                 lambda c: c.multi_party_calls.stop_recording(friendly_name=name),
                 lambda c: c.multi_party_calls.stop(friendly_name=name)):
        assert ours(call) is None and real(call) is None


def test_code_written_for_the_real_api_runs_unchanged(server: RunningServer,
                                                      sdk: plivo.RestClient) -> None:
    """Iterating list() reading resource_uri, start_time, stay_alone of each; list_participants
    then join_time and exit_cause of each, as the real API's documented bodies allow."""
    with sdk_pointed_at(server.url):
        run_the_users_code(sdk)


def run_the_users_code(client: plivo.RestClient) -> None:
    mpcs = client.multi_party_calls
    mpcs.add_participant(role="customer", friendly_name="conformance_user", from_=FROM,
                         to_=CUSTOMER)
    seen = 0
    for mpc in mpcs.list():
        assert mpc.resource_uri.startswith(f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/")
        assert mpc.start_time is None or mpc.start_time[:4].isdigit()
        assert mpc.stay_alone in (True, False)
        for p in mpcs.list_participants(uuid=mpc.mpc_uuid).objects:
            assert p.exit_cause is None or p.exit_time is not None
            assert p.join_time is None or p.join_time[:4].isdigit()
        seen += 1
    assert seen >= 1
