"""The Sync health API of the system app: admins only, each workspace gets its own
queue and the children that deliver into it, and the figures follow the real outbox of
a child whose master is down."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from portal.models import Role
from tests.portal.sync.installations import register, wait_for
from tests.portal.test_cli import run_on
from tests.support import (
    Factory,
    PortalServer,
    TenantInfo,
    UserInfo,
    signed_in,
    start_server,
    stop_server,
)

HEALTH = "/apps/system/api/sync/health"
# Nothing listens on the discard port, so every push fails with a connection error.
DOWN_MASTER = "http://127.0.0.1:9"
CHILD_ID = "0123456789abcdef0123456789abcdef"


@dataclass
class Installation:
    """A server that is a child of a master that is down, and at the same time the
    master of one registered child, so one server shows both parts."""

    server: PortalServer
    factory: Factory
    syncing: TenantInfo
    quiet: TenantInfo
    admin: UserInfo
    agent: UserInfo
    quiet_admin: UserInfo


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    server = start_server(tmp_path_factory.mktemp("sync-health"),
                          env={"MIPORTAL_SYNC_RETRY_MAX": "1"})
    try:
        factory = Factory(server)
        syncing, quiet = factory.tenant("lyon"), factory.tenant("quiet")
        for tenant in (syncing, quiet):
            factory.install(tenant, "ticketcloud")
        configured = run_on(server, "sync", "configure-master", "--url", DOWN_MASTER,
                            "--secret-stdin", stdin="s" * 43 + "\n")
        assert configured.returncode == 0, configured.stderr
        register(server, CHILD_ID, "lyon")
        yield Installation(server, factory, syncing, quiet,
                           factory.user(syncing, Role.ADMIN), factory.user(syncing, Role.AGENT),
                           factory.user(quiet, Role.ADMIN))
    finally:
        stop_server(server)


def create_tickets(installation: Installation, count: int) -> None:
    token = installation.factory.api_token(installation.agent)
    with httpx.Client(base_url=installation.server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        for index in range(count):
            response = api.post("/apps/ticketcloud/api/v1/tickets", json={
                "subject": f"Health {index}", "body": "Body.",
                "requester_email": f"customer{index}@example.test"})
            assert response.status_code == 201, response.text


def health(installation: Installation, user: UserInfo) -> dict[str, Any]:
    with signed_in(installation.server, user) as client:
        response = client.get(HEALTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def failed_once(installation: Installation) -> bool:
    rows = installation.factory.execute("SELECT failures FROM portal_sync_master")
    return bool(rows) and int(rows[0][0]) >= 1


def test_sync_health_child_with_master_down(installation: Installation) -> None:
    create_tickets(installation, 3)
    wait_for(lambda: failed_once(installation), timeout=30, what="a failed push")

    child = health(installation, installation.admin)["child"]
    pending = installation.factory.execute(
        "SELECT COUNT(*) FROM portal_sync_outbox WHERE status = 'pending' "
        "AND tenant_id = :tenant", tenant=installation.syncing.id)[0][0]

    assert child["master_url"] == DOWN_MASTER
    assert pending >= 3
    assert child["queue_depth"] == pending
    assert child["oldest_pending_at"] is not None
    assert child["delivered"] == 0
    assert "ConnectError" in child["last_error"]
    assert child["next_attempt_at"] is not None
    assert child["last_delivered_at"] is None
    assert "secret" not in child


def test_sync_health_lists_children_of_workspace(installation: Installation) -> None:
    children = health(installation, installation.admin)["children"]

    assert [child["installation_id"] for child in children] == [CHILD_ID]
    assert children[0]["name"] == "Branch Lyon"
    assert children[0]["last_contact_at"] is None
    assert children[0]["error_count"] == 0
    assert "secret" not in children[0]


def test_sync_health_other_workspace_sees_nothing(installation: Installation) -> None:
    # The installation has a master and queued items, but none of this workspace's.
    create_tickets(installation, 1)

    body = health(installation, installation.quiet_admin)

    assert body["child"] is None
    assert body["children"] == []


def test_sync_health_rejects_agent(installation: Installation) -> None:
    with signed_in(installation.server, installation.agent) as client:
        api = client.get(HEALTH)
        window = client.get("/apps/system/sync")

    assert api.status_code == 403
    assert window.status_code == 403


def test_sync_health_window_for_admin(installation: Installation) -> None:
    with signed_in(installation.server, installation.admin) as client:
        window = client.get("/apps/system/sync")

    assert window.status_code == 200
    assert "sync.js" in window.text
