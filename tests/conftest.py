from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Factory, PortalServer, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    """One portal process for the whole run; tests isolate through their own tenants."""
    portal_server = start_server(tmp_path_factory.mktemp("portal"))
    yield portal_server
    stop_server(portal_server)


@pytest.fixture(scope="session")
def factory(server: PortalServer) -> Factory:
    return Factory(server)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
