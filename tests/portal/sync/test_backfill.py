"""`python -m portal sync push-existing` between two real installations: tickets made
before the master was configured arrive exactly once, and a second run adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portal.models import Role
from tests.portal.sync.installations import (
    CHILD_ENV,
    Pair,
    installation_id_of,
    master_versions,
    pending_count,
    register,
    staged_count,
    wait_for,
)
from tests.portal.test_cli import run_on
from tests.support import Factory, PortalServer, start_server, stop_server


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[PortalServer, PortalServer]]:
    master = start_server(tmp_path / "master")
    child = start_server(tmp_path / "child", env=CHILD_ENV)
    yield master, child
    for server in (child, master):
        stop_server(server)


def create_tickets(api: httpx.Client, count: int, prefix: str) -> None:
    for index in range(count):
        response = api.post("/tickets", json={
            "subject": f"{prefix} {index}", "body": "Body.",
            "requester_email": f"customer{index}@example.test"})
        assert response.status_code == 201, response.text


def test_push_existing_delivers_old_tickets_once(
        servers: tuple[PortalServer, PortalServer]) -> None:
    master, child = servers
    master_factory, child_factory = Factory(master), Factory(child)
    hq = master_factory.tenant("hq")
    master_factory.install(hq, "ticketcloud")
    branch = child_factory.tenant("lyon")
    child_factory.install(branch, "ticketcloud")
    agent = child_factory.user(branch, Role.AGENT)
    child_id = installation_id_of(child)
    pair = Pair(master, child, master_factory, child_factory, hq.id, agent,
                child_factory.api_token(agent), child_id)
    with pair.child_api() as api:
        create_tickets(api, 7, "Before the master")
        secret = register(master, child_id, "hq")
        configured = run_on(child, "sync", "configure-master", "--url", master.base_url,
                            "--secret-stdin", stdin=secret + "\n")
        assert configured.returncode == 0, configured.stderr

        first = run_on(child, "sync", "push-existing", "--tenant", "lyon")
        # A new ticket wakes the running child's pusher at once.
        create_tickets(api, 1, "After the master")
        wait_for(lambda: pending_count(pair) == 0 and len(master_versions(pair)) == 8,
                 timeout=60, what="every ticket delivered")
        second = run_on(child, "sync", "push-existing", "--tenant", "lyon")

    assert first.returncode == 0, first.stderr
    assert "lyon: queued 7 ticketcloud items" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "Queued 0 items in total" in second.stdout
    assert staged_count(pair) == 8
    assert sorted(master_versions(pair).values()) == [[1]] * 8
