"""Ticket creation benchmark: TicketCloud's API against a bare one-insert endpoint.

Starts a portal (`run.py` in a subprocess, temporary data folder, 127.0.0.1) whose apps
folder holds TicketCloud and the benchmark-only app `bench_bare`. Then it sends the same
number of requests with the same bearer token and the same concurrency to two routes:

- bare: `POST /apps/bench_bare/api/rows`, authentication and one SQLite insert in one
  transaction;
- tickets: `POST /apps/ticketcloud/api/v1/tickets`, which checks the input, evaluates
  the workspace's rules, assigns an agent of the routed team, writes the ticket, its
  first message and its history, and stages the created and assigned events, all in one
  transaction.

It prints requests per second and p50/p95 latency of each, and the ratio of ticket to
bare throughput. Target: tickets reach at least 50 % of the bare throughput.

Run: .venv/bin/python bench/ticket_create.py [--requests 1000] [--workers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvloop
from local_portal import LocalPortal, start_portal, stop_portal

from portal.auth.sessions import do_issue_api_token
from portal.models import Role
from portal.registry import installations
from portal.services import build_services
from portal.settings import REPOSITORY_ROOT, Settings
from portal.tenants import do_create_tenant, do_create_user

BENCH_ROOT = Path(__file__).resolve().parent
APP_FOLDERS = {"ticketcloud": REPOSITORY_ROOT / "apps" / "ticketcloud",
               "bench_bare": BENCH_ROOT / "apps" / "bench_bare"}
BARE_PATH = "/apps/bench_bare/api/rows"
TICKETS_PATH = "/apps/ticketcloud/api/v1/tickets"
AGENTS = 4
RATIO_TARGET = 0.5
# Requests per phase sent before measuring, so that connections, caches and SQLite's
# pages are warm in both phases.
WARM_UP = 50
PHASE_TIMEOUT_SECONDS = 300.0


@dataclass
class Phase:
    name: str
    seconds: float
    latencies_ms: list[float]
    failures: int
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def link_apps(apps_dir: Path) -> None:
    """Fill `apps_dir` with symbolic links to the two apps, because MIPORTAL_APPS_DIR
    names one folder."""
    apps_dir.mkdir()
    for name, target in APP_FOLDERS.items():
        (apps_dir / name).symlink_to(target, target_is_directory=True)


async def create_workspace(portal: LocalPortal, apps_dir: Path) -> str:
    """Create a workspace with an admin and agents, install both apps, add a Billing team
    with the agents and a rule that routes invoices to it, and return the admin's token."""
    settings = Settings(data_dir=portal.data_dir, database_url=portal.database_url,
                        secret_key="unused-by-installation-" + "x" * 20, apps_dir=apps_dir)
    services = build_services(settings)
    # build_services put apps_dir on sys.path, so TicketCloud imports now.
    from ticketcloud.rule_store import do_create_rule
    from ticketcloud.teams import do_add_member, do_create_team

    try:
        async with services.db.transaction() as session:
            tenant = await do_create_tenant(session, slug="bench", name="Benchmark")
            assert tenant.id is not None
            admin = await do_create_user(session, tenant_id=tenant.id,
                                         email="admin@bench.example", name="Bench Admin",
                                         role=Role.ADMIN.value, password=None)
            token = await do_issue_api_token(session, admin, name="bench")
            agent_ids = []
            for index in range(AGENTS):
                agent = await do_create_user(session, tenant_id=tenant.id,
                                             email=f"agent{index}@bench.example",
                                             name=f"Agent {index}", role=Role.AGENT.value,
                                             password=None)
                assert agent.id is not None
                agent_ids.append(agent.id)
        for app_id in APP_FOLDERS:
            await installations.install(services.db, services.registry, tenant_id=tenant.id,
                                        app_id=app_id)
        async with services.db.transaction() as session:
            team = await do_create_team(session, tenant.id, name="Billing")
            assert team.id is not None
            for agent_id in agent_ids:
                await do_add_member(session, tenant.id, team.id, agent_id)
            await do_create_rule(session, tenant.id, {
                "name": "Invoices to Billing", "match": "any",
                "conditions": [{"field": "subject", "operator": "contains",
                                "value": "invoice"}],
                "actions": [{"type": "set_team", "value": team.id},
                            {"type": "add_tags", "value": ["billing"]}]})
    finally:
        await services.db.dispose()
    return token


def bare_body(index: int) -> dict[str, object]:
    return {}


def ticket_body(index: int) -> dict[str, object]:
    return {"subject": f"Invoice {index} shows the wrong amount",
            "body": "The discount we agreed on is missing from this invoice.",
            "requester_email": f"customer{index % 50}@customer.example",
            "requester_name": f"Customer {index % 50}"}


async def send_all(client: httpx.AsyncClient, path: str, body: Callable[[int], dict[str, object]],
                   *, count: int, workers: int, first: int = 0) -> tuple[list[float], int]:
    """Send `count` POSTs from `workers` concurrent workers and return each latency in
    milliseconds and the number of responses other than 201."""
    indexes = iter(range(first, first + count))
    latencies: list[float] = []
    failures = 0

    async def work() -> None:
        nonlocal failures
        for index in indexes:
            started = time.perf_counter()
            response = await client.post(path, json=body(index))
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 201:
                failures += 1
                if failures <= 3:
                    print(f"  {path} returned {response.status_code}: {response.text[:200]}")

    await asyncio.gather(*(work() for _ in range(workers)))
    return latencies, failures


async def run_phase(name: str, portal: LocalPortal, client: httpx.AsyncClient, path: str,
                    body: Callable[[int], dict[str, object]], *, count: int,
                    workers: int) -> Phase:
    await send_all(client, path, body, count=WARM_UP, workers=workers)
    cpu_before = portal.cpu_seconds()
    started = time.perf_counter()
    latencies, failures = await asyncio.wait_for(
        send_all(client, path, body, count=count, workers=workers, first=WARM_UP),
        timeout=PHASE_TIMEOUT_SECONDS)
    seconds = time.perf_counter() - started
    phase = Phase(name, seconds, latencies, failures, portal.cpu_seconds() - cpu_before)
    print(f"{name:8} {count} requests in {seconds:.2f} s: {phase.per_second:.0f} req/s, "
          f"p50 {phase.percentile(0.5):.1f} ms, p95 {phase.percentile(0.95):.1f} ms, "
          f"mean {statistics.fmean(latencies):.1f} ms, server CPU "
          f"{phase.cpu_seconds / count * 1000:.2f} ms per request, {failures} failed")
    return phase


async def benchmark(args: argparse.Namespace, portal: LocalPortal, apps_dir: Path) -> int:
    token = await create_workspace(portal, apps_dir)
    limits = httpx.Limits(max_connections=args.workers, max_keepalive_connections=args.workers)
    async with httpx.AsyncClient(base_url=portal.base_url, timeout=30, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        bare = await run_phase("bare", portal, client, BARE_PATH, bare_body,
                               count=args.requests, workers=args.workers)
        tickets = await run_phase("tickets", portal, client, TICKETS_PATH, ticket_body,
                                  count=args.requests, workers=args.workers)
    ratio = tickets.per_second / bare.per_second
    print(f"Tickets / bare throughput: {ratio:.0%} (target >= {RATIO_TARGET:.0%})")
    passed = ratio >= RATIO_TARGET and bare.failures == 0 and tickets.failures == 0
    print(f"Target: {'met' if passed else 'MISSED'}")
    return 0 if passed else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="measured requests per phase (default 1000)")
    parser.add_argument("--workers", type=int, default=8,
                        help="concurrent client workers (default 8)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the temporary data folder and print its path")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not 1 <= args.requests <= 20_000 or not 1 <= args.workers <= 64:
        raise SystemExit("Use 1 to 20000 requests and 1 to 64 workers.")
    print(f"MiPortal ticket creation: {args.requests} requests per phase, {args.workers} "
          f"workers; {platform.node()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    data_dir = Path(tempfile.mkdtemp(prefix="miportal-bench-"))
    apps_dir = data_dir / "apps"
    link_apps(apps_dir)
    portal = start_portal(data_dir, env={"MIPORTAL_APPS_DIR": str(apps_dir)})
    print(f"Server pid {portal.process.pid}, data in {data_dir}")
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(benchmark(args, portal, apps_dir))
    finally:
        stop_portal(portal)
        print(f"Load average after the run {os.getloadavg()[0]:.2f}")
        if args.keep_data:
            print(f"Data and server log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir)


if __name__ == "__main__":
    sys.exit(main())
