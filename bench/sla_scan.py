"""One SLA scanner pass over 1,000,000 open tickets with running SLA targets.

Builds a migrated SQLite database in a temporary folder with one workspace, TicketCloud
installed and a team of agents, then bulk-inserts open tickets with one running
resolution target each through sqlite3. Most targets are due in the coming 30 days;
`--due` of them are past due and `--at-risk` past their warning time. A quarter of the
open tickets also carry an agent-set due time, `--agent-due` of them passed; and a
quarter as many solved tickets (no targets) carry an agent-set due time that passed
after they were solved, which never alerts and which the scan must not read. It then
times, with TicketCloud's own `do_scan`:

1. the publishing pass: the breaches, warnings and due-time alerts to publish, each
   claimed and staged as an event with its toast;
2. the quiet pass: the same scan again, which finds nothing left to publish, the state of
   almost every pass of a running portal (median of `--repeats`).

The same is measured over 10,000 tickets as the baseline. It prints both passes for
both sizes and the query plans of the scanner's three queries. Target: the publishing
pass over 1,000,000 tickets within 1 s. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal.db import Database
from portal.models import Role
from portal.registry import installations
from portal.services import build_services, migrate_all
from portal.settings import Settings
from portal.tenants import do_create_tenant, do_create_user

TARGET_SECONDS = 1.0
AGENTS = 16
BATCH = 50_000
HORIZON = timedelta(days=30)


@dataclass(frozen=True)
class PassTimes:
    tickets: int
    publishing: float
    quiet: float
    warnings: int
    breaches: int
    due: int


async def create_workspace(data_dir: Path) -> Path:
    """Migrate a new database, add a workspace with agents in one team, install
    TicketCloud; return the database file."""
    database = data_dir / "miportal.sqlite3"
    settings = Settings(data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{database}",
                        secret_key="unused-by-the-benchmark-" + "x" * 20)
    services = build_services(settings)
    from ticketcloud.teams import do_add_member, do_create_team

    try:
        await migrate_all(services)
        async with services.db.transaction() as session:
            tenant = await do_create_tenant(session, slug="bench", name="Bench")
            assert tenant.id is not None
            agent_ids = []
            for index in range(AGENTS):
                agent = await do_create_user(
                    session, tenant_id=tenant.id, email=f"agent{index}@bench.example",
                    name=f"Agent {index}", role=Role.AGENT.value, password=None)
                assert agent.id is not None
                agent_ids.append(agent.id)
        await installations.install(services.db, services.registry, tenant_id=tenant.id,
                                    app_id="ticketcloud")
        async with services.db.transaction() as session:
            team = await do_create_team(session, tenant.id, name="Support")
            assert team.id is not None
            for position, agent_id in enumerate(agent_ids):
                await do_add_member(session, tenant.id, team.id, agent_id,
                                    is_lead=position == 0)
    finally:
        await services.db.dispose()
    return database


def fill(database: Path, count: int, *, due: int, at_risk: int, agent_due: int,
         now: datetime, seed: int) -> None:
    """Insert `count` open tickets, each with a running resolution target of 480 minutes
    on the 24/7 calendar, a quarter of them with an agent-set due time (the first
    `agent_due` passed, the others to come), then `count // 4` solved tickets whose
    agent-set due time passed."""
    rng = random.Random(seed)
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")
    try:
        tenant_id, = connection.execute("SELECT id FROM portal_tenant").fetchone()
        team_id, = connection.execute("SELECT id FROM ticketcloud_team").fetchone()
        agents = [row[0] for row in connection.execute(
            "SELECT user_id FROM ticketcloud_team_member")]
        started = time.monotonic()
        for first in range(0, count, BATCH):
            numbers = range(first + 1, min(count, first + BATCH) + 1)
            tickets, targets = [], []
            for number in numbers:
                index = number - 1
                if index < due:
                    due_at = now - timedelta(minutes=rng.randint(1, 25))
                elif index < due + at_risk:
                    due_at = now + timedelta(minutes=rng.randint(1, 90))
                else:
                    due_at = now + timedelta(minutes=120) + HORIZON * rng.random()
                warn_at = due_at - timedelta(minutes=96)
                created = due_at - timedelta(minutes=480)
                if index < agent_due:
                    agent_due_at: str | None = _stamp(now - timedelta(minutes=rng.randint(1, 25)))
                elif index % 4 == 0:
                    agent_due_at = _stamp(now + HORIZON * rng.random())
                else:
                    agent_due_at = None
                tickets.append((tenant_id, number, f"Bench ticket {number}",
                                f"customer{number % 5000}@example.com", "open",
                                rng.choice(("low", "normal", "high")), team_id,
                                rng.choice(agents), _stamp(created), agent_due_at))
                targets.append((tenant_id, number, _stamp(warn_at), _stamp(due_at),
                                _stamp(created)))
            connection.execute("BEGIN")
            connection.executemany(INSERT_TICKET, tickets)
            ids = dict(connection.execute(
                "SELECT number, id FROM ticketcloud_ticket WHERE tenant_id = ? AND number "
                "BETWEEN ? AND ?", (tenant_id, numbers[0], numbers[-1])).fetchall())
            connection.executemany(
                "INSERT INTO ticketcloud_sla_target (tenant_id, ticket_id, kind, state, "
                "target_minutes, warning_seconds, consumed_seconds, started_at, "
                "running_since, due_at, warn_at, warning_published, breach_published, "
                "updated_at) VALUES (?1, ?2, 'resolution', 'running', 480, 23040, 0, ?5, ?5, "
                "?4, ?3, 0, 0, ?5)",
                [(tenant_id, ids[number], *rest) for _, number, *rest in targets])
            connection.execute(
                "INSERT INTO ticketcloud_ticket_counter (tenant_id, last_number) VALUES (?, ?) "
                "ON CONFLICT (tenant_id) DO UPDATE SET last_number = excluded.last_number",
                (tenant_id, numbers[-1]))
            connection.execute("COMMIT")
            rate = numbers[-1] / (time.monotonic() - started)
            print(f"\r  {numbers[-1]:,} of {count:,} tickets ({rate:,.0f}/s)", end="",
                  flush=True)
        print()
        # Solved before their due time, which then passed: never alerted, and the pass
        # must not read them.
        solved = [(tenant_id, count + number, f"Bench ticket {count + number}",
                   f"customer{number % 5000}@example.com", "solved", "normal", team_id,
                   rng.choice(agents), _stamp(now - timedelta(days=3)),
                   _stamp(now - timedelta(days=2) * rng.random()))
                  for number in range(1, count // 4 + 1)]
        connection.execute("BEGIN")
        connection.executemany(INSERT_TICKET, solved)
        connection.execute("UPDATE ticketcloud_ticket_counter SET last_number = ?",
                           (count + len(solved),))
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()


INSERT_TICKET = (
    "INSERT INTO ticketcloud_ticket (tenant_id, number, subject, requester_email, "
    "requester_name, channel, status, priority, team_id, assignee_id, tags, created_at, "
    "updated_at, due_at, version) VALUES (?1, ?2, ?3, ?4, 'Customer', 'web', ?5, ?6, ?7, ?8, "
    "'[]', ?9, ?9, ?10, 1)")


def query_plans(database: Path, now: datetime) -> list[str]:
    """Return SQLite's plan of the due, at-risk and agent-set due queries as the scanner
    sends them."""
    connection = sqlite3.connect(database)
    try:
        plans = []
        for flag, column in (("breach_published", "due_at"), ("warning_published", "warn_at")):
            rows = connection.execute(
                f"EXPLAIN QUERY PLAN SELECT * FROM ticketcloud_sla_target WHERE state = "
                f"'running' AND {flag} IS 0 AND {column} <= ? ORDER BY {column} LIMIT 200",
                (_stamp(now),)).fetchall()
            plans.append(f"{column}: " + "; ".join(row[-1] for row in rows))
        rows = connection.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM ticketcloud_ticket WHERE due_alerted IS 0 AND "
            "status IN ('new', 'on_hold', 'open', 'pending') AND due_at <= ? "
            "ORDER BY status, due_at LIMIT 200", (_stamp(now),)).fetchall()
        plans.append("agent due_at: " + "; ".join(row[-1] for row in rows))
        return plans
    finally:
        connection.close()


async def time_passes(database: Path, now: datetime,
                      repeats: int) -> tuple[float, float, int, int, int]:
    """Run the publishing pass once and the quiet pass `repeats` times, each through a
    fresh AppContext as the portal's job would."""
    from portal.events.bus import InProcessBus
    from portal.registry.discovery import folder_sources
    from portal.registry.registry import AppRegistry
    from portal.settings import REPOSITORY_ROOT
    from ticketcloud.sla.scanner import do_scan

    db = Database(f"sqlite+aiosqlite:///{database}")
    try:
        registry = AppRegistry(db=db, bus=InProcessBus(), data_dir=database.parent,
                               secret_key="unused-by-the-benchmark-" + "x" * 20)
        registry.load(folder_sources(REPOSITORY_ROOT / "apps"))
        context = registry.apps["ticketcloud"].context
        started = time.perf_counter()
        result = await do_scan(context, now)
        publishing = time.perf_counter() - started
        quiet = []
        for _ in range(repeats):
            started = time.perf_counter()
            again = await do_scan(context, now)
            quiet.append(time.perf_counter() - started)
            assert again.warnings == again.breaches == again.due == 0, again
        return (publishing, statistics.median(quiet), result.warnings, result.breaches,
                result.due)
    finally:
        await db.dispose()


async def run(count: int, *, due: int, at_risk: int, agent_due: int,
              repeats: int) -> PassTimes:
    with tempfile.TemporaryDirectory(prefix="sla-scan-") as folder:
        print(f"Preparing {count:,} tickets in {folder}")
        database = await create_workspace(Path(folder))
        now = datetime.now(UTC)
        fill(database, count, due=due, at_risk=at_risk, agent_due=agent_due, now=now,
             seed=count)
        for plan in query_plans(database, now):
            print(f"  plan {plan}")
        publishing, quiet, warnings, breaches, alerted = await time_passes(database, now,
                                                                           repeats)
    return PassTimes(count, publishing, quiet, warnings, breaches, alerted)


def _stamp(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(sep=" ")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000,
                        help="open tickets with a running target (default 1,000,000)")
    parser.add_argument("--baseline", type=int, default=10_000,
                        help="tickets of the baseline run (default 10,000)")
    parser.add_argument("--due", type=int, default=100,
                        help="targets already past due, published as breaches (default 100)")
    parser.add_argument("--at-risk", type=int, default=100,
                        help="targets past their warning time, published as warnings "
                             "(default 100)")
    parser.add_argument("--agent-due", type=int, default=100,
                        help="open tickets past their agent-set due time, published as "
                             "due-time alerts (default 100)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="quiet passes timed, of which the median is printed (default 5)")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = [await run(count, due=args.due, at_risk=args.at_risk,
                         agent_due=args.agent_due, repeats=args.repeats)
               for count in (args.baseline, args.tickets)]
    print(f"\n{'tickets':>10} {'publishing pass s':>18} {'events':>7} {'per event ms':>13} "
          f"{'quiet pass ms':>14}")
    for item in results:
        events = item.warnings + item.breaches + item.due
        print(f"{item.tickets:>10,} {item.publishing:>18.3f} {events:>7} "
              f"{1000 * item.publishing / max(events, 1):>13.2f} {1000 * item.quiet:>14.2f}")
    big = results[-1]
    met = big.publishing <= TARGET_SECONDS
    print(f"\npublishing pass over {big.tickets:,} tickets: {big.publishing:.3f} s (target "
          f"{TARGET_SECONDS:.0f} s): {'met' if met else 'MISSED'}; ratio to the baseline "
          f"{big.publishing / results[0].publishing:.2f}x")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
