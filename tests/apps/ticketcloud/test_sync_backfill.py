"""TicketCloud's sync backfill: tickets made before the master was configured get one
first snapshot each, in batches, and a second run stages nothing."""

from __future__ import annotations

from sqlmodel import col, select

from portal.db import Database
from portal.sdk import AppContext
from portal.sync.models import SyncOutboxItem
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from tests.apps.ticketcloud.sync_helpers import configure_master
from ticketcloud.sync_out import backfill_tickets


async def outbox_streams(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.exec(
            select(SyncOutboxItem.stream).order_by(col(SyncOutboxItem.id)))).all())


async def backfill_all(context: AppContext, workspace: Workspace, *, limit: int) -> list[int]:
    """Run the backfill batch by batch as the CLI does; return the staged counts."""
    counts, after = [], 0
    while True:
        async with context.transaction() as session:
            batch = await backfill_tickets(context, session, workspace.tenant_id, after, limit)
        counts.append(batch.staged)
        if batch.next_after is None:
            return counts
        after = batch.next_after


async def test_backfill_stages_existing_tickets_in_batches(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    tickets = [await create_ticket(context, workspace, subject=f"Old {index}")
               for index in range(5)]
    await configure_master(db)

    counts = await backfill_all(context, workspace, limit=2)

    assert counts == [2, 2, 1]
    assert await outbox_streams(db) == [f"ticket:{ticket.id}" for ticket in tickets]


async def test_backfill_twice_stages_nothing_new(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    await create_ticket(context, workspace)
    await configure_master(db)
    await backfill_all(context, workspace, limit=10)

    counts = await backfill_all(context, workspace, limit=10)

    assert counts == [0]
    assert len(await outbox_streams(db)) == 1


async def test_backfill_skips_tickets_already_staged(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    old = await create_ticket(context, workspace, subject="Before the master")
    await configure_master(db)
    new = await create_ticket(context, workspace, subject="After the master")

    counts = await backfill_all(context, workspace, limit=10)

    assert counts == [1]
    assert await outbox_streams(db) == [f"ticket:{new.id}", f"ticket:{old.id}"]


async def test_backfill_without_master_stages_nothing(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    await create_ticket(context, workspace)

    counts = await backfill_all(context, workspace, limit=10)

    assert counts == [0]
    assert await outbox_streams(db) == []


async def test_backfill_only_named_workspace(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace) -> None:
    await create_ticket(context, workspace)
    other = await create_ticket(context, other_workspace)
    await configure_master(db)

    await backfill_all(context, other_workspace, limit=10)

    assert await outbox_streams(db) == [f"ticket:{other.id}"]
