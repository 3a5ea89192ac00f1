"""Ticket creation and event fan-out with 1, 2 and 4 portal processes on PostgreSQL and
Redis, against one process on SQLite in the same run.

Run it under scripts/with-pg-redis, which starts a private PostgreSQL cluster and Redis
server and names them in MIPORTAL_TEST_DATABASE_URL and MIPORTAL_TEST_BUS_URL:

    scripts/with-pg-redis .venv/bin/python bench/scale_out.py
    scripts/with-pg-redis .venv/bin/python bench/scale_out.py --tickets 100 --desktops 50

Every configuration gets a new database and its own `run.py --workers N`. bench/README.md
describes what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from local_portal import LocalPortal, start_portal, stop_portal
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from portal.auth.sessions import do_create_session, do_issue_api_token
from portal.models import Role
from portal.registry import installations
from portal.services import build_services
from portal.settings import Settings
from portal.tenants import do_create_tenant, do_create_user

TICKETS_PATH = "/apps/ticketcloud/api/v1/tickets"
ANNOUNCE_PATH = "/apps/hello/api/announcements"
PHASE_TIMEOUT_SECONDS = 300.0
EVENT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Configuration:
    name: str
    workers: int
    postgresql: bool


@dataclass
class Figures:
    tickets_per_second: float
    ticket_p50_ms: float
    ticket_p95_ms: float
    ticket_failures: int
    event_p50_ms: float
    event_p99_ms: float
    events_missing: int


@dataclass
class Workspace:
    admin_token: str
    admin_cookie: str
    desktop_cookies: list[str]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def new_database(server_url: str, name: str) -> str:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_workspace(database_url: str, data_dir: Path, desktops: int) -> Workspace:
    """Create a workspace with an admin and `desktops` agents with sessions, and install
    TicketCloud and Hello for it."""
    settings = Settings(data_dir=data_dir, database_url=database_url,
                        secret_key="unused-by-installation-" + "x" * 20)
    services = build_services(settings)
    try:
        async with services.db.transaction() as session:
            tenant = await do_create_tenant(session, slug="bench", name="Benchmark")
            assert tenant.id is not None
            admin = await do_create_user(session, tenant_id=tenant.id,
                                         email="admin@bench.example", name="Bench Admin",
                                         role=Role.ADMIN.value, password=None)
            token = await do_issue_api_token(session, admin, name="bench")
            admin_cookie, _ = await do_create_session(session, admin, hours=2)
            cookies = []
            for index in range(desktops):
                agent = await do_create_user(session, tenant_id=tenant.id,
                                             email=f"agent{index}@bench.example",
                                             name=f"Agent {index}", role=Role.AGENT.value,
                                             password=None)
                cookie, _ = await do_create_session(session, agent, hours=2)
                cookies.append(cookie)
        for app_id in ("ticketcloud", "hello"):
            await installations.install(services.db, services.registry, tenant_id=tenant.id,
                                        app_id=app_id)
    finally:
        await services.db.dispose()
    return Workspace(token, admin_cookie, cookies)


async def create_tickets(portal: LocalPortal, token: str, *, count: int,
                         concurrency: int) -> tuple[float, list[float], int]:
    """POST `count` tickets from `concurrency` clients; return tickets per second, the
    latencies in milliseconds and the number of failed requests."""
    indexes = iter(range(count))
    latencies: list[float] = []
    failures = 0

    async def work(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for index in indexes:
            started = time.perf_counter()
            response = await client.post(TICKETS_PATH, json={
                "subject": f"Invoice {index} shows the wrong amount",
                "body": "The discount we agreed on is missing from this invoice.",
                "requester_email": f"customer{index % 50}@customer.example",
                "requester_name": f"Customer {index % 50}"})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 201:
                failures += 1

    # One client per worker, so that keep-alive connections spread over the processes.
    clients = [httpx.AsyncClient(base_url=portal.base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})
               for _ in range(concurrency)]
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(work(client) for client in clients)),
                               PHASE_TIMEOUT_SECONDS)
    finally:
        for client in clients:
            await client.aclose()
    return count / (time.perf_counter() - started), latencies, failures


async def fan_out(portal: LocalPortal, workspace: Workspace, *, events: int,
                  interval: float) -> tuple[list[float], int]:
    """Connect every desktop, publish `events` announcements to agents, and return the
    delivery latencies in milliseconds and how many (desktop, event) pairs never came."""
    sockets: list[ClientConnection] = []
    for cookie in workspace.desktop_cookies:
        socket = await connect(portal.ws_url, origin=Origin(portal.base_url), proxy=None,
                               additional_headers={"Cookie": f"miportal_session={cookie}"},
                               open_timeout=EVENT_TIMEOUT_SECONDS)
        while json.loads(await socket.recv())["type"] != "ready":
            pass
        sockets.append(socket)
    latencies: list[float] = []
    received = [0] * len(sockets)

    async def listen(index: int, socket: ClientConnection) -> None:
        while received[index] < events:
            message = json.loads(await socket.recv())
            if message["type"] == "event" and message["event"]["topic"] == "hello.announcement":
                stamped = datetime.fromisoformat(message["event"]["time"].replace("Z",
                                                                                  "+00:00"))
                latencies.append((datetime.now(UTC) - stamped).total_seconds() * 1000)
                received[index] += 1

    listeners = [asyncio.create_task(listen(index, socket))
                 for index, socket in enumerate(sockets)]
    async with httpx.AsyncClient(base_url=portal.base_url, timeout=30, cookies={
            "miportal_session": workspace.admin_cookie}) as client:
        csrf = await admin_csrf(client)
        for index in range(events):
            response = await client.post(ANNOUNCE_PATH, headers={"X-CSRF-Token": csrf},
                                         json={"text": f"event {index}", "role": "agent"})
            response.raise_for_status()
            await asyncio.sleep(interval)
    await asyncio.wait(listeners, timeout=EVENT_TIMEOUT_SECONDS)
    for task in listeners:
        task.cancel()
    for socket in sockets:
        await socket.close()
    return latencies, sum(events - count for count in received)


async def admin_csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/")
    start = page.text.index('"csrf_token":"') + len('"csrf_token":"')
    return page.text[start:page.text.index('"', start)]


def wait_for_workers(portal: LocalPortal, workers: int) -> None:
    deadline = time.monotonic() + 120
    while portal.log_path.read_text(errors="replace").count(
            "Portal services started") < workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"{workers} workers did not start; see {portal.log_path}")
        time.sleep(0.2)


async def measure(configuration: Configuration, args: argparse.Namespace,
                  root: Path) -> Figures:
    data_dir = root / configuration.name
    data_dir.mkdir()
    env = {"MIPORTAL_SMTP_PORT": "0", "MIPORTAL_WORKERS": str(configuration.workers)}
    if configuration.postgresql:
        database_url = await new_database(args.database_server_url,
                                          f"bench_{configuration.name.replace('-', '_')}")
        env["MIPORTAL_DATABASE_URL"] = database_url
        separator = "&" if "?" in args.bus_url else "?"
        env["MIPORTAL_BUS_URL"] = f"{args.bus_url}{separator}channel=bench-{configuration.name}"
    else:
        database_url = f"sqlite+aiosqlite:///{data_dir / 'miportal.sqlite3'}"
        env["MIPORTAL_BUS_URL"] = "memory://"
    portal = start_portal(data_dir, env=env, timeout=120, log_level="INFO")
    try:
        wait_for_workers(portal, configuration.workers)
        # The portal has migrated the new database by now.
        workspace = await create_workspace(database_url, data_dir, args.desktops)
        per_second, ticket_latencies, failures = await create_tickets(
            portal, workspace.admin_token, count=args.tickets, concurrency=args.concurrency)
        event_latencies, missing = await fan_out(portal, workspace, events=args.events,
                                                 interval=args.interval)
    finally:
        stop_portal(portal)
    figures = Figures(per_second, percentile(ticket_latencies, 0.5),
                      percentile(ticket_latencies, 0.95), failures,
                      percentile(event_latencies, 0.5), percentile(event_latencies, 0.99),
                      missing)
    print(f"{configuration.name:10} tickets {figures.tickets_per_second:6.1f}/s "
          f"p50 {figures.ticket_p50_ms:6.1f} ms p95 {figures.ticket_p95_ms:6.1f} ms "
          f"({failures} failed) | events p50 {figures.event_p50_ms:6.1f} ms "
          f"p99 {figures.event_p99_ms:6.1f} ms ({missing} missing)", flush=True)
    return figures


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=300,
                        help="tickets created per configuration (default 300)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent ticket-creating clients (default 16)")
    parser.add_argument("--desktops", type=int, default=100,
                        help="desktops connected for the fan-out (default 100)")
    parser.add_argument("--events", type=int, default=30,
                        help="announcements published in the fan-out (default 30)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between two announcements (default 0.1)")
    parser.add_argument("--processes", default="1,2,4",
                        help="comma-separated process counts on PostgreSQL (default 1,2,4)")
    parser.add_argument("--database-server-url",
                        default=os.environ.get("MIPORTAL_TEST_DATABASE_URL", ""),
                        help="PostgreSQL URL whose cluster gets one database per "
                             "configuration (default MIPORTAL_TEST_DATABASE_URL)")
    parser.add_argument("--bus-url", default=os.environ.get("MIPORTAL_TEST_BUS_URL", ""),
                        help="Redis URL (default MIPORTAL_TEST_BUS_URL)")
    args = parser.parse_args(argv)
    if not args.database_server_url.startswith("postgresql") or not args.bus_url:
        parser.error("no PostgreSQL or Redis given: run under scripts/with-pg-redis or pass "
                     "--database-server-url and --bus-url")
    return args


async def run(args: argparse.Namespace) -> int:
    configurations = [Configuration("sqlite-1", 1, postgresql=False)]
    configurations += [Configuration(f"pg-{count}", int(count), postgresql=True)
                       for count in args.processes.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="miportal-scale-out-") as folder:
        results = {configuration.name: await measure(configuration, args, Path(folder))
                   for configuration in configurations}
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    broken = [name for name, figures in results.items()
              if figures.ticket_failures or figures.events_missing]
    if broken:
        print(f"failed requests or missing events in: {', '.join(broken)}")
        return 1
    baseline = results["sqlite-1"]
    for name, figures in results.items():
        print(f"{name:10} tickets {figures.tickets_per_second / baseline.tickets_per_second:5.2f}"
              f" x SQLite, event p50 {figures.event_p50_ms / baseline.event_p50_ms:5.2f} x "
              "SQLite")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
