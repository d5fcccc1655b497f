"""The server as a user starts it: `mpcmix serve`, the real-time clock, the OpenAPI document."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mpcmix.server.process import free_port

from .conftest import AGENT, CUSTOMER, FROM, virtual_config
from .harness import MAIN, RunningServer, serve

ROOT = Path(__file__).resolve().parents[2]


def test_mpcmix_serve_prints_a_generated_account_that_works(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", "import sys; from mpcmix.cli import main; sys.exit(main())",
               "serve", "--port", str(port), "--clock", "virtual", "--data-dir",
               str(tmp_path / "data"), "--media-root", str(ROOT / "fixtures"),
               "--lines", str(ROOT / "fixtures" / "lines.yaml"), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPCMIX_")}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env) as process:
        _check_serving(process, port)
    assert process.returncode == 0


def _check_serving(process: subprocess.Popen[str], port: int) -> None:
    try:
        assert process.stdout is not None
        banner = ""
        while "generated" not in banner:
            line = process.stdout.readline()
            assert line, f"no banner; stderr: {process.stderr.read() if process.stderr else ''}"
            banner += line
        found = re.search(r"auth_id=(\S+) auth_token=(\S+)", banner)
        assert found, banner
        auth = (found.group(1), found.group(2))
        assert re.fullmatch(r"MA[A-Z0-9]{18}", auth[0])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"{url}/emulator/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        listed = httpx.get(f"{url}/v1/Account/{auth[0]}/MultiPartyCall/", auth=auth)
        assert listed.status_code == 200 and listed.json()["objects"] == []
        # the web console, named in the banner, served from the installed package
        assert f"web console: http://127.0.0.1:{port}/console" in banner
        page = httpx.get(f"{url}/console")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<title>mpcmix console</title>" in page.text
        assert httpx.get(f"{url}/emulator/live", auth=auth).json()["mpcs"] == []
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def test_mpcmix_serve_refuses_a_bad_configuration() -> None:
    from mpcmix.server import serve_main

    assert serve_main(["--account", "MA123:short", "--clock", "virtual"]) == 2


def test_the_realtime_clock_moves_the_call_without_requests(tmp_path: Path) -> None:
    with serve(virtual_config(tmp_path, clock="realtime")) as server, server.http() as client:
        base = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/name_live"
        for role, to in (("customer", CUSTOMER), ("agent", AGENT)):
            response = client.post(f"{base}/Participant/", json={"role": role, "from": FROM,
                                                                  "to": to})
            assert response.status_code == 201
        assert client.get(f"{base}/").json()["status"] == "Active"
        engine = server.state.runtimes[MAIN.auth_id].engine
        rendered = engine.now_ms
        deadline = time.monotonic() + 10
        while engine.now_ms < rendered + 200:  # the ticker renders frame after frame
            assert time.monotonic() < deadline, "the real-time ticker did not render"
            time.sleep(0.02)
        refused = client.post("/emulator/advance", json={"seconds": 1})
        assert refused.status_code == 400 and "real time" in refused.json()["error"]
        clock = client.get("/emulator/clock").json()
        assert clock["clock"] == "realtime" and clock["now_ms"] >= rendered
        member = client.get(f"{base}/Participant/").json()["objects"][0]["member_id"]
        stream = client.get(f"{base}/Participant/{member}/Listener.wav")
        assert stream.status_code == 200 and stream.content[:4] == b"RIFF"
        assert client.request("DELETE", f"{base}/").status_code == 204


def test_the_openapi_document_describes_every_endpoint(server: RunningServer) -> None:
    with server.http(None) as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    mpc = "/v1/Account/{auth_id}/MultiPartyCall"
    expected = {
        f"{mpc}/": {"get"},
        f"{mpc}/{{mpc_id}}/": {"get", "post", "delete"},
        f"{mpc}/{{mpc_id}}/Participant/": {"get", "post"},
        f"{mpc}/{{mpc_id}}/Participant/{{member_id}}/": {"get", "post", "delete"},
        f"{mpc}/{{mpc_id}}/Participant/{{member_id}}/Record/": {"post", "delete"},
        f"{mpc}/{{mpc_id}}/Participant/{{member_id}}/Record/Pause/": {"post"},
        f"{mpc}/{{mpc_id}}/Participant/{{member_id}}/Record/Resume/": {"post"},
        f"{mpc}/{{mpc_id}}/Record/": {"post", "delete"},
        f"{mpc}/{{mpc_id}}/Record/Pause/": {"post"},
        f"{mpc}/{{mpc_id}}/Record/Resume/": {"post"},
        f"{mpc}/{{mpc_id}}/Member/{{member_id}}/Play/": {"post", "delete"},
        f"{mpc}/{{mpc_id}}/Participant/{{member_id}}/Listener.wav": {"get"},
        "/v1/Account/{auth_id}/Recording/{filename}": {"get"},
        "/emulator/advance": {"post"},
        "/emulator/events": {"get"},
        "/emulator/calls/{call_uuid}/hangup": {"post"},
        "/emulator/calls/{call_uuid}/dtmf": {"post"},
        "/emulator/calls/{call_uuid}/answer": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    add = paths[f"{mpc}/{{mpc_id}}/Participant/"]["post"]
    assert add["operationId"] == "add_participant"
    properties = add["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"role", "from", "to", "coach_mode", "max_participants"} <= set(properties)
    assert "201" in add["responses"] and "400" in add["responses"]
    play = paths[f"{mpc}/{{mpc_id}}/Member/{{member_id}}/Play/"]["post"]
    assert "202" in play["responses"]
    listing = paths[f"{mpc}/"]["get"]
    assert {"status", "limit", "offset", "end_time__gt"} <= {p["name"] for p in listing["parameters"]}


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/emulator/health"])
def test_documentation_needs_no_credentials(server: RunningServer, path: str) -> None:
    assert httpx.get(server.url + path).status_code == 200
