"""The official Node SDK (npm `plivo`, with the machine's node) drives the emulator through the
flow of the Python SDK test, and its error objects carry the API's status and message.

`make test` installs the SDK into `.node/` (ignored by git) at the version
`tests/conformance/node/package.json` pins; this module installs it the same way when it is
missing. No node or npm on the machine is a failure, not a skip: `make test` installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import AGENT, CUSTOMER, FROM
from tests.server.harness import MAIN, RunningServer

from . import oracle

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "node"
PREFIX = ROOT / ".node"


def node_sdk() -> Path:
    """The installed plivo package folder (installed now if it is missing)."""
    version = json.loads((HERE / "package.json").read_text())["dependencies"]["plivo"]
    package = PREFIX / "node_modules" / "plivo"
    installed = package / "package.json"
    if not installed.is_file() or json.loads(installed.read_text())["version"] != version:
        npm = shutil.which("npm")
        assert npm, "npm is needed (make test installs nodejs and npm)"
        subprocess.run([npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund",
                        "--silent", f"plivo@{version}"], check=True, timeout=300)
    return package


@pytest.fixture(scope="module")
def flow(server: RunningServer) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is needed (make test installs nodejs)"
    package = node_sdk()
    result = subprocess.run(
        [node, str(HERE / "flow.js"), MAIN.auth_id, MAIN.auth_token, "conformance_node", FROM,
         CUSTOMER, AGENT],
        env={**os.environ, "PLIVO_NODE_DIR": str(package), "MPCMIX_URL": server.url},
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_the_node_sdk_drives_every_operation(flow: dict[str, Any]) -> None:
    assert flow["add"]["message"] == oracle.MESSAGES["add_participant"]
    get = flow["get"]
    assert get["friendlyName"] == "conformance_node" and get["status"] == "Active"
    assert get["resourceUri"].startswith(f"/v1/Account/{MAIN.auth_id}/MultiPartyCall/")
    (listed,) = flow["list"]  # the Node SDK resolves list() to the objects
    assert listed["mpcUuid"] == get["mpcUuid"] and "stayAlone" in listed
    people = flow["listParticipants"]
    people = people["objects"] if isinstance(people, dict) else people
    assert {p["role"] for p in people} == {"customer", "agent"}
    assert flow["getParticipant"]["memberId"] == flow["ids"]["agent"]
    assert flow["getParticipant"]["memberAddress"] == AGENT
    assert flow["update"]["mute"] == oracle.MESSAGES["update_participant.mute"].format(
        name="conformance_node")
    assert flow["startRecording"]["recordingUrl"].endswith(".wav")
    assert flow["startParticipantRecording"]["message"] == oracle.MESSAGES[
        "start_participant_recording"].format(name="conformance_node")
    assert flow["play"]["message"] == oracle.MESSAGES["start_play_audio"]
    assert flow["play"]["mpcMemberId"] == [flow["ids"]["agent"]]


def test_the_node_sdks_errors_carry_the_apis_status_and_message(flow: dict[str, Any]) -> None:
    refused = flow["notInitialized"]
    # (the SDK's error classes are compiled so that every one is a plain Error: only its fields
    # tell them apart)
    assert refused["raised"] and refused["status"] == 404
    assert "Initialized" in refused["message"] and refused["apiID"]
    gone = flow["gone"]
    assert gone["status"] == 404 and "no live MPC named 'conformance_node'" in gone["message"]
