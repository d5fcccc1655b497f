"""Fixtures: one virtual-clock server for the module, the plivo SDK pointed at it, media files."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import plivo
import pytest
from mpcmix.server.config import ServerConfig
from mpcmix.server.process import sdk_pointed_at

from .harness import ACCOUNTS, MAIN, OTHER, SUB, CallbackReceiver, RunningServer, serve

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

#: Numbers of the lines file: fixture voices answering at once, one ringing 2 s, one never.
CUSTOMER, AGENT, SUPERVISOR, SLOW, NEVER, SILENT = (
    "+14155550100", "+14155550101", "+14155550102", "+14155550103", "+14155550104",
    "+14155550105")
FROM = "+14155550000"
LINES = {
    CUSTOMER: {"audio": "voices/customer.wav", "answer_after": 0},
    AGENT: {"audio": "voices/agent.wav", "answer_after": 0},
    SUPERVISOR: {"audio": "voices/supervisor.wav", "answer_after": 0},
    SLOW: {"audio": "voices/agent.wav", "answer_after": 2},
    NEVER: {"audio": None, "answer_after": "never"},
}


def make_media_root(root: Path) -> Path:
    """Fixture audio under the root, a URL-mapped copy, and things that must never be read."""
    media = root / "media"
    for folder in ("voices", "music", "sounds"):
        shutil.copytree(FIXTURES / folder, media / folder)
    (media / "media.example.com" / "audio").mkdir(parents=True)
    shutil.copy(FIXTURES / "sounds" / "announcement.wav",
                media / "media.example.com" / "audio" / "announcement.wav")
    secret = root / "secret.wav"  # outside the root: no request may read it
    shutil.copy(FIXTURES / "sounds" / "chime.wav", secret)
    (media / "escape.wav").symlink_to(secret)
    return media


def virtual_config(tmp: Path, **overrides: object) -> ServerConfig:
    from mpcmix.scenario import parse_lines

    lines = parse_lines(LINES, "test lines")
    values: dict[str, object] = dict(
        accounts=ACCOUNTS, clock="virtual", media_root=make_media_root(tmp), lines=lines,
        data_dir=tmp / "data", callback_backoff_s=0.05, callback_attempts=3,
        callback_timeout_s=2.0,
    )
    values.update(overrides)
    return ServerConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(virtual_config(tmp_path_factory.mktemp("server"))) as running:
        yield running


@pytest.fixture(scope="package")
def sdk(server: RunningServer) -> Iterator[plivo.RestClient]:
    """The plivo SDK as the main account, pointed at the server."""
    with sdk_pointed_at(server.url):
        client = plivo.RestClient(MAIN.auth_id, MAIN.auth_token)
        yield client
        client.session.close()
        client.multipart_session.close()


@pytest.fixture
def sdk_for(server: RunningServer) -> Iterator[object]:
    """A factory of SDK clients for other credentials (closed after the test)."""
    clients: list[plivo.RestClient] = []

    def make(auth_id: str, auth_token: str) -> plivo.RestClient:
        client = plivo.RestClient(auth_id, auth_token)
        clients.append(client)
        return client

    with sdk_pointed_at(server.url):
        yield make
    for client in clients:
        client.session.close()
        client.multipart_session.close()


_names = itertools.count(1)


@pytest.fixture
def mpc_name(request: pytest.FixtureRequest) -> str:
    """A friendly name no other test uses."""
    return f"{request.node.name[:40].replace('[', '_').replace(']', '')}_{next(_names)}"


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    running = CallbackReceiver().start()
    yield running
    running.stop()


__all__ = ["MAIN", "OTHER", "SUB"]
