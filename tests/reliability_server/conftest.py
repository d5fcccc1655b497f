"""Fixtures of the server's reliability tests: a virtual-clock server per module, as in
tests/server (real uvicorn on a loopback port, real plivo SDK and httpx clients)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.conftest import virtual_config
from tests.server.harness import RunningServer, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(virtual_config(tmp_path_factory.mktemp("server"))) as running:
        yield running
