"""Several portal processes on one PostgreSQL database and one Redis server: events
reach desktops of every process, and each job runs in one process at a time.

These run in the PostgreSQL pass of scripts/test only, because SQLite and the in-process
bus serve one process by design.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from portal.models import Role
from portal.settings import REPOSITORY_ROOT
from tests.support import (
    ON_POSTGRESQL,
    Factory,
    PortalServer,
    UserInfo,
    bus_url_for,
    create_database,
    run_sync,
    session_cookie,
    signed_in,
    start_server,
    stop_server,
)

needs_postgresql = pytest.mark.skipif(
    not ON_POSTGRESQL, reason="several processes need PostgreSQL and Redis; "
    "scripts/test runs this file in its PostgreSQL pass")

TIMEOUT = 15.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[PortalServer]]:
    """Two portal processes sharing one new database and one Redis channel, with the
    TicketCloud jobs every 0.2 seconds so that they compete for them."""
    folder = tmp_path_factory.mktemp("cluster")
    database_url = run_sync(create_database(folder, "cluster"))
    env = {"MIPORTAL_DATABASE_URL": database_url, "MIPORTAL_BUS_URL": bus_url_for(database_url),
           "MIPORTAL_JOB_INTERVALS": "ticketcloud.close_solved=0.2,ticketcloud.sla_scan=0.2"}
    servers = [start_server(folder / "first", env=env)]
    try:
        # The second starts once the first has migrated and seeded the demo workspace.
        servers.append(start_server(folder / "second", env=env, seed_demo=False))
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def desktop(server: PortalServer, cookie: str) -> connect:
    return connect(server.ws_url, origin=Origin(server.base_url), proxy=None,
                   additional_headers={"Cookie": f"miportal_session={cookie}"},
                   open_timeout=TIMEOUT)


async def receive_ready(socket: ClientConnection) -> None:
    """Read the replayed events up to the `ready` message."""
    while json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))["type"] != "ready":
        pass


async def receive_event(socket: ClientConnection, topic: str) -> dict[str, object]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        raw = await asyncio.wait_for(socket.recv(), max(deadline - time.monotonic(), 0.01))
        message = json.loads(raw)
        if message["type"] == "event" and message["event"]["topic"] == topic:
            event: dict[str, object] = message["event"]
            return event


def sign_in_cookie(server: PortalServer, user: UserInfo) -> tuple[str, str]:
    with signed_in(server, user) as client:
        return session_cookie(client), client.headers["X-CSRF-Token"]


@needs_postgresql
async def test_scale_out_event_reaches_other_process(cluster: list[PortalServer]) -> None:
    first, second = cluster
    factory = Factory(first)
    tenant = factory.tenant()
    factory.install(tenant, "hello")
    sender = factory.user(tenant, Role.ADMIN)
    watcher = factory.user(tenant, Role.AGENT)
    sender_cookie, sender_csrf = sign_in_cookie(first, sender)
    watcher_cookie, _ = sign_in_cookie(second, watcher)

    async with desktop(second, watcher_cookie) as socket:
        await receive_ready(socket)
        async with httpx.AsyncClient(base_url=first.base_url, timeout=TIMEOUT,
                                     cookies={"miportal_session": sender_cookie},
                                     headers={"X-CSRF-Token": sender_csrf}) as client:
            response = await client.post("/apps/hello/api/announcements",
                                         json={"text": "from the first process",
                                               "role": "agent"})
        assert response.status_code == 201, response.text
        event = await receive_event(socket, "hello.announcement")

    assert event["seq"] == response.json()["seq"]
    assert event["payload"] == {"text": "from the first process", "role": "agent",
                                "sender": "Test User"}


@needs_postgresql
async def test_scale_out_events_keep_order_across_processes(
        cluster: list[PortalServer]) -> None:
    first, second = cluster
    factory = Factory(first)
    tenant = factory.tenant()
    factory.install(tenant, "hello")
    sender = factory.user(tenant, Role.ADMIN)
    watcher = factory.user(tenant, Role.AGENT)
    cookies = [sign_in_cookie(server, sender) for server in cluster]
    watcher_cookie, _ = sign_in_cookie(second, watcher)

    async with desktop(second, watcher_cookie) as socket:
        await receive_ready(socket)
        sent: list[int] = []
        for index in range(10):
            server = cluster[index % 2]
            cookie, csrf = cookies[index % 2]
            async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT,
                                         cookies={"miportal_session": cookie},
                                         headers={"X-CSRF-Token": csrf}) as client:
                response = await client.post("/apps/hello/api/announcements",
                                             json={"text": f"number {index}", "role": "agent"})
            assert response.status_code == 201, response.text
            sent.append(int(response.json()["seq"]))
        received = [int(str((await receive_event(socket, "hello.announcement"))["seq"]))
                    for _ in sent]

    assert received == sorted(sent)
    assert first.process.poll() is None


@needs_postgresql
def test_scale_out_job_runs_in_one_process(cluster: list[PortalServer]) -> None:
    marker = "Job ticketcloud.close_solved now runs in this process"
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not any(marker in server.log()
                                                  for server in cluster):
        time.sleep(0.1)
    # Several more intervals, in which a second process could take the job too.
    time.sleep(1.0)

    holders = [server for server in cluster if marker in server.log()]
    assert len(holders) == 1


@needs_postgresql
def test_scale_out_crashed_holder_job_taken_over(tmp_path: Path) -> None:
    database_url = run_sync(create_database(tmp_path, "takeover"))
    env = {"MIPORTAL_DATABASE_URL": database_url, "MIPORTAL_BUS_URL": bus_url_for(database_url),
           "MIPORTAL_JOB_INTERVALS": "ticketcloud.close_solved=0.2"}
    marker = "Job ticketcloud.close_solved now runs in this process"
    holder = start_server(tmp_path / "holder", env=env, seed_demo=True)
    deadline = time.monotonic() + TIMEOUT
    while marker not in holder.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    standby = start_server(tmp_path / "standby", env=env, seed_demo=False)
    try:
        assert marker in holder.log()
        # A crash: no shutdown, so the lease stays until it expires (30 s minimum).
        holder.process.kill()
        holder.process.wait()
        deadline = time.monotonic() + 60
        while marker not in standby.log() and time.monotonic() < deadline:
            time.sleep(0.2)

        assert marker in standby.log()
    finally:
        stop_server(standby)


@needs_postgresql
def test_scale_out_workers_flag_starts_workers(tmp_path: Path) -> None:
    database_url = run_sync(create_database(tmp_path, "workers"))
    server = start_server(tmp_path / "data", env={
        "MIPORTAL_DATABASE_URL": database_url, "MIPORTAL_BUS_URL": bus_url_for(database_url),
        "MIPORTAL_WORKERS": "2"}, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while (server.log().count("Portal services started") < 2
               and time.monotonic() < deadline):
            time.sleep(0.1)
        log = server.log()
    finally:
        stop_server(server)

    assert log.count("Portal services started") == 2
    assert log.count("Created the demo workspace 'demo' with") == 1


def test_scale_out_workers_on_sqlite_rejected(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY_ROOT / "run.py"), "--data-dir", str(tmp_path),
         "--workers", "2", "--database-url", "", "--bus-url", "memory://"],
        capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2
    assert "--workers above 1 needs a shared database" in result.stderr
