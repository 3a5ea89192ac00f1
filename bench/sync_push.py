"""Installation sync benchmark: ticket changes pushed to a master and acknowledged.

Starts a master portal (`run.py` in a subprocess, temporary data folder, 127.0.0.1)
with TicketCloud in the workspace `hq`. The child is this process: it builds the
portal's services on its own temporary database, registers itself at the master,
stages ticket changes through TicketCloud's domain functions (a ticket, then internal
notes, each change in its own transaction), and only then starts the sync pusher. The
figure is changes per second from the pusher's start until the master acknowledged
every item, so it covers building, validating, signing and POSTing batches on the
child, and authenticating, parsing, validating and upserting them on the master.

Two phases in one run: batches of `--batch-size` (default 200) and, as the baseline,
batches of one item. Target: at least 500 changes per second with batching.

Run: .venv/bin/python bench/sync_push.py [--changes 3000] [--baseline-changes 300]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from local_portal import LocalPortal, start_portal, stop_portal

from portal.db import Database
from portal.registry import installations
from portal.services import Services, build_services, migrate_all
from portal.settings import REPOSITORY_ROOT, Settings
from portal.sync.outbox import queue_health
from portal.sync.peers import do_configure_master, do_register_child, installation_id
from portal.sync.pusher import SyncPusher
from portal.tenants import do_create_tenant

sys.path.insert(0, str(REPOSITORY_ROOT / "apps"))

from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import Ticket
from ticketcloud.tickets import do_create_ticket

TARGET_PER_SECOND = 500
CHANGES_PER_TICKET = 10
PHASE_TIMEOUT_SECONDS = 600.0


@dataclass
class Phase:
    name: str
    batch_size: int
    changes: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.changes / self.seconds


def child_services(data_dir: Path) -> Services:
    data_dir.mkdir(parents=True, exist_ok=True)
    return build_services(Settings(
        data_dir=data_dir, secret_key="c" * 40, apps_dir=REPOSITORY_ROOT / "apps",
        database_url=f"sqlite+aiosqlite:///{data_dir / 'miportal.sqlite3'}"))


async def pair(master: LocalPortal, child: Services) -> int:
    """Prepare both sides and return the child's workspace id."""
    master_db = Database(master.database_url)
    master_services = build_services(Settings(
        data_dir=master.data_dir, database_url=master.database_url, secret_key="m" * 40,
        apps_dir=REPOSITORY_ROOT / "apps"))
    try:
        async with master_db.transaction() as session:
            hq = await do_create_tenant(session, slug="hq", name="Headquarters")
        assert hq.id is not None
        await installations.install(master_services.db, master_services.registry,
                                    tenant_id=hq.id, app_id="ticketcloud")
        await migrate_all(child)
        async with child.db.transaction() as session:
            child_id = await installation_id(session)
            branch = await do_create_tenant(session, slug="lyon", name="Lyon")
        assert branch.id is not None
        await installations.install(child.db, child.registry, tenant_id=branch.id,
                                    app_id="ticketcloud")
        async with master_db.transaction() as session:
            _peer, secret = await do_register_child(session, child_id=child_id,
                                                    name="Lyon", tenant_id=hq.id)
        async with child.db.transaction() as session:
            await do_configure_master(session, url=master.base_url, secret=secret)
        return branch.id
    finally:
        await master_services.db.dispose()
        await master_db.dispose()


async def stage_changes(child: Services, tenant_id: int, count: int) -> None:
    context = child.registry.apps["ticketcloud"].context
    author = Author(name="Lea Agent", is_agent=True, email="lea@lyon.example")
    ticket_id: int | None = None
    for index in range(count):
        async with context.transaction() as session:
            if index % CHANGES_PER_TICKET == 0:
                ticket = await do_create_ticket(
                    context, session, tenant_id=tenant_id, subject=f"Change {index}",
                    body="The printer smokes.", requester_email="carl@example.test",
                    requester_name="Carl", channel="web")
                ticket_id = ticket.id
            else:
                loaded = await session.get(Ticket, ticket_id)
                assert loaded is not None
                await do_reply(context, session, loaded, author=author,
                               body=f"Note {index}", visibility="internal")


async def run_phase(child: Services, tenant_id: int, *, name: str, batch_size: int,
                    changes: int) -> Phase:
    await stage_changes(child, tenant_id, changes)
    async with child.db.read() as session:
        pending = (await queue_health(session)).depth
    if pending != changes:
        raise SystemExit(f"{pending} items pending before the {name} phase, expected "
                         f"{changes}")
    pusher = SyncPusher(child.db, child.registry.sync, retry_max_seconds=1.0,
                        batch_size=batch_size)
    started = time.perf_counter()
    pusher.start()
    try:
        deadline = started + PHASE_TIMEOUT_SECONDS
        while pending:
            if time.perf_counter() > deadline:
                raise SystemExit(f"{pending} items still pending after "
                                 f"{PHASE_TIMEOUT_SECONDS} s in the {name} phase")
            await asyncio.sleep(0.02)
            async with child.db.read() as session:
                pending = (await queue_health(session)).depth
        elapsed = time.perf_counter() - started
    finally:
        await pusher.stop()
    return Phase(name, batch_size, changes, elapsed)


async def main_async(args: argparse.Namespace, root: Path) -> list[Phase]:
    (root / "master").mkdir()
    master = start_portal(root / "master", env={"MIPORTAL_SMTP_PORT": "0"})
    child = child_services(root / "child")
    try:
        tenant_id = await pair(master, child)
        baseline = await run_phase(child, tenant_id, name="baseline", batch_size=1,
                                   changes=args.baseline_changes)
        batched = await run_phase(child, tenant_id, name="batched",
                                  batch_size=args.batch_size, changes=args.changes)
        return [baseline, batched]
    finally:
        await child.db.dispose()
        stop_portal(master)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=3000,
                        help="ticket changes in the batched phase (default 3000)")
    parser.add_argument("--baseline-changes", type=int, default=300,
                        help="ticket changes in the batch-size-1 phase (default 300)")
    parser.add_argument("--batch-size", type=int, default=200,
                        help="items per push in the batched phase (default 200)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="miportal-sync-bench-"))
    try:
        phases = asyncio.run(main_async(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    for phase in phases:
        print(f"{phase.name:<9} batch {phase.batch_size:>4}: {phase.changes:>5} changes in "
              f"{phase.seconds:6.2f} s = {phase.per_second:7.1f} changes/s")
    batched = phases[-1]
    ratio = batched.per_second / phases[0].per_second
    met = batched.per_second >= TARGET_PER_SECOND
    print(f"batched / baseline: {ratio:.1f}x; target {TARGET_PER_SECOND} changes/s "
          f"{'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
