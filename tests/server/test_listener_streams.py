"""`--listener-streams none`: no participant's stream is written or kept, its download answers 404
naming the option, and the recordings are the same samples as a server writing every stream."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mpcmix.server.config import ConfigError, load_config

from .conftest import AGENT, CUSTOMER, FROM, SUPERVISOR, virtual_config
from .harness import MAIN, RunningServer, serve

BASE = f"/v1/Account/{MAIN.auth_id}/MultiPartyCall"


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = virtual_config(tmp_path_factory.mktemp("none"), listener_streams="none")
    with serve(config) as running:
        yield running


def one_call(server: RunningServer, name: str) -> tuple[list[str], np.ndarray, Path]:
    """An MPC of three with a WAV recording, 3 s long: ([its uuid, member ids], its recording,
    the data folder)."""
    with server.http() as client:
        for role, to, extra in (("customer", CUSTOMER, {}), ("agent", AGENT, {}),
                                ("supervisor", SUPERVISOR, {"coach_mode": True})):
            response = client.post(f"{BASE}/name_{name}/Participant/",
                                   json={"role": role, "from": FROM, "to": to, **extra})
            assert response.status_code == 201, response.text
        url = client.post(f"{BASE}/name_{name}/Record/", json={"file_format": "wav"}
                          ).json()["recording_url"]
        members = [p["member_id"] for p in
                   client.get(f"{BASE}/name_{name}/Participant/").json()["objects"]]
        uuid = client.get(f"{BASE}/name_{name}/").json()["mpc_uuid"]
        server.advance(3)
        assert client.delete(f"{BASE}/name_{name}/").status_code == 204
        server.advance(0.1)
        response = client.get(url)
        assert response.status_code == 200, response.text
        data, _ = sf.read(io.BytesIO(response.content), dtype="int16")
    return [uuid, *members], data, server.state.data_dir


def test_no_listener_stream_is_written_and_the_recording_is_the_same(
        quiet_server: RunningServer, server: RunningServer, mpc_name: str) -> None:
    (uuid, *members), quiet, data_dir = one_call(quiet_server, mpc_name)
    _, loud, _ = one_call(server, mpc_name)
    assert len(quiet) >= 3 * 16000 and np.array_equal(quiet, loud)  # recordings always written
    assert not list(data_dir.rglob("listeners/*.wav"))
    with quiet_server.http() as client:
        response = client.get(f"{BASE}/uuid_{uuid}/Participant/{members[0]}/Listener.wav")
    assert response.status_code == 404
    assert "--listener-streams none" in response.text


def test_listener_streams_takes_all_or_none() -> None:
    assert load_config(["--listener-streams", "none"], {}).listener_streams == "none"
    assert load_config([], {}).listener_streams == "all"
    with pytest.raises(ConfigError, match="listener_streams 'some'"):
        load_config([], {"MPCMIX_LISTENER_STREAMS": "some"})
