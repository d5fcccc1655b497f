"""mpcmix's pytest plugin (registered through the ``pytest11`` entry point): fixtures for tests of
a call flow.

- ``render_scenario(scenario, **options) -> mpcmix.Render``: renders a scenario file, a dict in
  the scenario-file shape (docs/scenarios.md) or an ``mpcmix.Scenario`` into a fresh folder under pytest's tmp_path
  (kept for a look after a failure); options as ``mpcmix.render`` takes them.
- ``mpc_server``: ``mpcmix serve`` with a virtual clock on a free loopback port, stopped after the
  test; ``.url``, ``.api_url``, ``.auth_id``, ``.auth_token``, ``.data_dir``,
  ``.advance(seconds)``. Override the ``mpc_server_args`` fixture to add ``mpcmix serve`` options
  (``["--lines", "lines.yaml", "--media-root", "media"]``).
- ``plivo_client``: the official ``plivo.RestClient`` pointed at ``mpc_server`` (the SDK's base
  URL constants are restored after the test).

With ``mpcmix.testing.assert_hears`` / ``assert_never_hears``::

    def test_coach_is_private(render_scenario):
        call = render_scenario("scenarios/coaching.yaml")
        assert_never_hears(call, "customer", "boss", during=(4, 9))

Importing this module imports nothing of mpcmix: pytest loads it in every session.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The plivo SDK's base-URL constants (plivo.rest.client) that `plivo_client` points at the server.


@pytest.fixture
def render_scenario(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """Render a scenario (path, dict or mpcmix.Scenario) into a temporary folder: a Render."""
    from mpcmix.api import render

    def _render(scenario: Any, **options: Any) -> Any:
        out = tmp_path_factory.mktemp("mpcmix-render") / "render"
        return render(scenario, out, **options)

    return _render


@dataclass
class MpcServer:
    """A running ``mpcmix serve`` (virtual clock) for one test."""

    url: str
    auth_id: str
    auth_token: str
    data_dir: Path
    app: Any

    @property
    def api_url(self) -> str:
        """The base URL the plivo SDK takes: ``http://127.0.0.1:PORT/v1/Account``."""
        return f"{self.url}/v1/Account"

    def advance(self, seconds: float) -> float:
        """Move the virtual clock on by `seconds`; the server's time afterwards, in seconds."""
        return float(self.request("POST", "/emulator/advance", {"seconds": seconds})["now"])

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """An authenticated JSON request to the server; the decoded answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        token = base64.b64encode(f"{self.auth_id}:{self.auth_token}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else None


@pytest.fixture
def mpc_server_args() -> list[str]:
    """Extra ``mpcmix serve`` arguments for `mpc_server` (override in a conftest.py)."""
    return []


@pytest.fixture
def mpc_server(mpc_server_args: list[str], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[MpcServer]:
    """``mpcmix serve --clock virtual`` on a free loopback port, for this test."""
    from mpcmix.server import load_config
    from mpcmix.server.process import serve_in_thread

    data_dir = tmp_path_factory.mktemp("mpcmix-serve")
    argv = ["--clock", "virtual", "--data-dir", str(data_dir), "--log-level", "warning",
            *mpc_server_args]
    config = load_config(argv, environ={})
    with serve_in_thread(config) as served:
        account = config.accounts[0]
        yield MpcServer(served.url, account.auth_id, account.auth_token, data_dir, served.app)


@pytest.fixture
def plivo_client(mpc_server: MpcServer) -> Iterator[Any]:
    """The official plivo SDK's RestClient, pointed at `mpc_server` for this test."""
    import plivo
    from mpcmix.server.process import sdk_pointed_at

    with sdk_pointed_at(mpc_server.url):
        client = plivo.RestClient(mpc_server.auth_id, mpc_server.auth_token)
        try:
            yield client
        finally:
            for session in ("session", "multipart_session"):
                closing = getattr(client, session, None)
                if closing is not None:
                    closing.close()
