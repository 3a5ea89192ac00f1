"""Two real installations on loopback for sync tests: a master and a child, each a
portal server with its own data folder, paired through the CLI as an operator would."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from portal.models import Role
from tests.portal.test_cli import run_on
from tests.support import Factory, PortalServer, UserInfo, start_server, stop_server

API = "/apps/ticketcloud/api/v1"
# A short backoff, so a test waits seconds, not minutes, once the master is back, and
# small batches, so a test can stop the master between two of them.
CHILD_ENV = {"MIPORTAL_SYNC_RETRY_MAX": "1", "MIPORTAL_SYNC_BATCH_SIZE": "10"}


@dataclass
class Pair:
    master: PortalServer
    child: PortalServer
    master_factory: Factory
    child_factory: Factory
    master_tenant_id: int
    child_agent: UserInfo
    child_token: str
    child_installation_id: str

    def child_api(self) -> httpx.Client:
        return httpx.Client(base_url=self.child.base_url + API, timeout=30,
                            headers={"Authorization": f"Bearer {self.child_token}"})

    def restart_master(self, data_dir: Path) -> None:
        port = int(self.master.base_url.rsplit(":", 1)[1])
        self.master = start_server(data_dir, port=port)
        self.master_factory = Factory(self.master)


def installation_id_of(server: PortalServer) -> str:
    result = run_on(server, "sync", "status")
    assert result.returncode == 0, result.stderr
    match = re.search(r"Installation id: ([0-9a-f]{32})", result.stdout)
    assert match, result.stdout
    return match.group(1)


def register(master: PortalServer, child_id: str, workspace: str) -> str:
    result = run_on(master, "sync", "register-child", "--installation-id", child_id,
                    "--name", "Branch Lyon", "--workspace", workspace)
    assert result.returncode == 0, result.stderr
    match = re.search(r"Secret \(shown once\): (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def start_pair(tmp_path: Path) -> Pair:
    master = start_server(tmp_path / "master")
    child = start_server(tmp_path / "child", env=CHILD_ENV)
    master_factory, child_factory = Factory(master), Factory(child)
    hq = master_factory.tenant("hq")
    master_factory.install(hq, "ticketcloud")
    branch = child_factory.tenant("lyon")
    child_factory.install(branch, "ticketcloud")
    agent = child_factory.user(branch, Role.AGENT, name="Lea Agent")
    child_id = installation_id_of(child)
    secret = register(master, child_id, "hq")
    configured = run_on(child, "sync", "configure-master", "--url", master.base_url,
                        "--secret-stdin", stdin=secret + "\n")
    assert configured.returncode == 0, configured.stderr
    return Pair(master, child, master_factory, child_factory, hq.id, agent,
                child_factory.api_token(agent), child_id)


def stop_pair(pair: Pair) -> None:
    for server in (pair.child, pair.master):
        if server.process.poll() is None:
            stop_server(server)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pending_count(pair: Pair) -> int:
    rows = pair.child_factory.execute(
        "SELECT COUNT(*) FROM portal_sync_outbox WHERE status = 'pending'")
    return int(rows[0][0])


def staged_count(pair: Pair) -> int:
    return int(pair.child_factory.execute("SELECT COUNT(*) FROM portal_sync_outbox")[0][0])


def master_versions(pair: Pair) -> dict[int, list[int]]:
    """Return each synced ticket's applied versions (by remote ticket id) in the order
    the master applied them."""
    rows = pair.master_factory.execute(
        "SELECT t.remote_id, c.version FROM ticketcloud_synced_change c "
        "JOIN ticketcloud_synced_ticket t ON t.id = c.synced_ticket_id ORDER BY c.id")
    versions: dict[int, list[int]] = {}
    for remote_id, version in rows:
        versions.setdefault(int(remote_id), []).append(int(version))
    return versions


def child_versions(pair: Pair) -> dict[int, int]:
    rows = pair.child_factory.execute("SELECT ticket_id, version FROM ticketcloud_sync_ticket")
    return {int(ticket_id): int(version) for ticket_id, version in rows}


def make_changes(pair: Pair, *, tickets: int, updates: int) -> None:
    """Create tickets on the child, then give each `updates` more changes: replies,
    notes and priority changes, interleaved across tickets."""
    with pair.child_api() as api:
        numbers = []
        for index in range(tickets):
            response = api.post("/tickets", json={
                "subject": f"Sync test {index}", "body": "First message.",
                "requester_email": f"customer{index}@example.test"})
            assert response.status_code == 201, response.text
            numbers.append(response.json()["number"])
        for step in range(updates):
            for number in numbers:
                if step % 3 == 0:
                    response = api.post(f"/tickets/{number}/notes",
                                        json={"body": f"Note {step}"})
                elif step % 3 == 1:
                    response = api.post(f"/tickets/{number}/replies",
                                        json={"body": f"Reply {step}"})
                else:
                    version = api.get(f"/tickets/{number}").json()["version"]
                    priority = "high" if step % 2 else "low"
                    response = api.patch(f"/tickets/{number}",
                                         json={"version": version, "priority": priority})
                assert response.status_code in (200, 201), response.text
