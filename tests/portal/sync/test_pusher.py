"""The child's pusher against a real master: changes made while the master is down or
restarting all arrive, exactly once and in order. And its lease: a process without it
sends nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import select

from portal import leases
from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import JobLease
from portal.sync.models import SyncOutboxItem
from portal.sync.outbox import SyncGateway
from portal.sync.peers import do_configure_master
from portal.sync.pusher import LEASE_NAME, LEASE_WAIT_SECONDS, SyncPusher
from portal.tenants import do_create_tenant
from tests.portal.sync.installations import (
    Pair,
    child_versions,
    make_changes,
    master_versions,
    pending_count,
    staged_count,
    start_pair,
    stop_pair,
    wait_for,
)
from tests.support import create_database, drop_database, stop_server

# Nothing listens on the discard port, so every push fails fast with a connection error.
UNREACHABLE_MASTER = "http://127.0.0.1:9"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    started = start_pair(tmp_path)
    yield started
    stop_pair(started)


@pytest.fixture
async def child_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A child's database with a master and one pending outbox item."""
    url = await create_database(tmp_path, "child")
    db = Database(url)
    await upgrade(db, [PORTAL_BRANCH], build_config())
    async with db.transaction() as session:
        tenant = await do_create_tenant(session, slug="lyon", name="Lyon")
        assert tenant.id is not None
        await do_configure_master(session, url=UNREACHABLE_MASTER, secret="s" * 43)
        await SyncGateway().stage(session, app_id="sample", tenant_id=tenant.id,
                                  stream="record:1", payload=etree.Element("{urn:sample}doc"))
    yield db
    await db.dispose()
    await drop_database(url)


async def attempts(db: Database) -> int:
    async with db.read() as session:
        return sum(item.attempts for item in (await session.exec(select(SyncOutboxItem))).all())


async def lease_owner(db: Database) -> str | None:
    async with db.read() as session:
        lease = await session.get(JobLease, LEASE_NAME)
    return lease.owner if lease is not None else None


async def test_pusher_without_lease_sends_nothing(child_db: Database) -> None:
    await leases.claim(child_db, LEASE_NAME, "other-process", timedelta(seconds=60))
    pusher = SyncPusher(child_db, SyncGateway(), retry_max_seconds=1, owner="this-process")

    delay = await pusher.push_once()

    assert delay == LEASE_WAIT_SECONDS
    assert await attempts(child_db) == 0
    assert await lease_owner(child_db) == "other-process"


async def test_pusher_takes_free_lease_and_releases_it(child_db: Database) -> None:
    pusher = SyncPusher(child_db, SyncGateway(), retry_max_seconds=1, owner="this-process")
    pusher.start()
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while await attempts(child_db) == 0:
            assert asyncio.get_running_loop().time() < deadline, "no push attempt in 20 s"
            await asyncio.sleep(0.05)
        owner_while_running = await lease_owner(child_db)
    finally:
        await pusher.stop()

    assert owner_while_running == "this-process"
    assert await lease_owner(child_db) is None


def expected_versions(pair: Pair) -> dict[int, list[int]]:
    return {ticket_id: list(range(1, version + 1))
            for ticket_id, version in child_versions(pair).items()}


def test_pusher_delivers_changes_made_while_master_down(pair: Pair, tmp_path: Path) -> None:
    stop_server(pair.master)

    make_changes(pair, tickets=4, updates=5)
    wait_for(lambda: pair.child_factory.execute(
        "SELECT failures FROM portal_sync_master")[0][0] >= 1, timeout=30,
        what="a failed push")
    pending_while_down = pending_count(pair)
    error = pair.child_factory.execute("SELECT last_error FROM portal_sync_master")[0][0]
    pair.restart_master(tmp_path / "master")
    wait_for(lambda: pending_count(pair) == 0, timeout=60, what="every item delivered")

    assert pending_while_down == staged_count(pair)
    assert pending_while_down >= 4 * 6
    assert "ConnectError" in error
    assert master_versions(pair) == expected_versions(pair)
    assert len(master_versions(pair)) == 4
    peers = pair.master_factory.execute(
        "SELECT name, batches_received, items_applied, error_count, last_contact_at "
        "FROM portal_sync_peer")
    assert len(peers) == 1
    name, batches, items, errors, contact = peers[0]
    assert name == "Branch Lyon"
    assert batches >= pending_while_down // 10
    assert items == pending_while_down
    assert errors == 0
    assert contact is not None


def test_pusher_survives_master_restart_mid_batch(pair: Pair, tmp_path: Path) -> None:
    """The master is killed right after it applied its first batch, so the child has
    more batches to send and may never have seen that batch's acknowledgement."""
    stop_server(pair.master)
    make_changes(pair, tickets=12, updates=6)
    pair.restart_master(tmp_path / "master")
    wait_for(lambda: len(master_versions(pair)) > 0, timeout=60,
             what="the first applied batch")
    pair.master.process.kill()
    pair.master.process.wait(timeout=15)
    pending_at_kill = pending_count(pair)
    pair.restart_master(tmp_path / "master")
    wait_for(lambda: pending_count(pair) == 0, timeout=90, what="every item delivered")

    assert pending_at_kill > 0
    assert master_versions(pair) == expected_versions(pair)
    assert len(master_versions(pair)) == 12
