"""One virtual-clock server for the conformance suite, raw HTTP clients and a callback receiver."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.server.conftest import virtual_config
from tests.server.harness import CallbackReceiver, RunningServer, serve


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(virtual_config(tmp_path_factory.mktemp("conformance"))) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    running = CallbackReceiver().start()
    yield running
    running.stop()


_names = itertools.count(1)


@pytest.fixture
def mpc_name() -> str:
    """A friendly name no other test of the package uses."""
    return f"conformance_{next(_names)}"
