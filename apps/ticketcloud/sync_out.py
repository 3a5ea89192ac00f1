"""The child's side of sync: every ticket change stages a snapshot for the master in
the change's own transaction, so a change and its outbox item commit or roll back
together.

The snapshot is built once per ticket and transaction, just before the commit. So a
transaction that reports several events for one ticket (created and assigned, a reply
that also reopens) stages one item with the final state, and it loads the ticket's
messages once. On an installation without a master the hook costs one lookup of the
master per transaction and nothing else.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.util import await_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, BackfillBatch
from ticketcloud.models import Ticket
from ticketcloud.sync_format import build_snapshot
from ticketcloud.sync_models import SyncCounter

logger = logging.getLogger(__name__)

# Session key: the tickets changed in this transaction, by id, to stage at the commit.
_CHANGED = "ticketcloud.sync.changed"


def ticket_stream(ticket_id: int) -> str:
    """Return the outbox stream of a ticket; the master receives each stream in order."""
    return f"ticket:{ticket_id}"


async def stage_ticket_change(context: AppContext, session: AsyncSession,
                              ticket: Ticket) -> None:
    """Mark the ticket for a snapshot with the next change version at the commit of
    `session`'s transaction, or do nothing when this installation has no master."""
    if not await context.has_sync_master(session):
        return
    assert ticket.id is not None
    changed: dict[int, Ticket] | None = session.info.get(_CHANGED)
    if changed is None:
        changed = session.info[_CHANGED] = {}
        event.listen(session.sync_session, "before_commit",
                     functools.partial(_stage_at_commit, context, session), once=True)
    changed[ticket.id] = ticket


def _stage_at_commit(context: AppContext, session: AsyncSession, _sync_session: Any) -> None:
    # SQLAlchemy runs `before_commit` inside the greenlet of `AsyncSession.commit`, so
    # `await_only` may run async code here. The same commit flushes the rows added here,
    # and an error rolls the whole transaction back.
    changed: dict[int, Ticket] = session.info.pop(_CHANGED, {})
    await_only(_stage_changed(context, session, list(changed.values())))


async def _stage_changed(context: AppContext, session: AsyncSession,
                         tickets: list[Ticket]) -> None:
    for ticket in tickets:
        await stage_snapshot(context, session, ticket)


async def stage_snapshot(context: AppContext, session: AsyncSession, ticket: Ticket) -> bool:
    """Stage the ticket's snapshot with the next change version now; return False when
    there is no master and nothing was staged."""
    assert ticket.id is not None
    counter = await session.get(SyncCounter, ticket.id)
    version = (counter.version if counter is not None else 0) + 1
    payload = await build_snapshot(context, session, ticket, version=version)
    staged_id = await context.stage_sync(session, tenant_id=ticket.tenant_id,
                                         stream=ticket_stream(ticket.id), payload=payload)
    if staged_id is None:
        return False
    if counter is None:
        counter = SyncCounter(ticket_id=ticket.id, tenant_id=ticket.tenant_id, version=version)
    counter.version = version
    session.add(counter)
    return True


async def backfill_tickets(context: AppContext, session: AsyncSession, tenant_id: int,
                           after: int, limit: int) -> BackfillBatch:
    """Stage a first snapshot of up to `limit` of the workspace's tickets with ids above
    `after` that were never staged (they have no change counter), such as tickets made
    before the master was configured.

    A ticket staged before is skipped, whether its item is pending or delivered, so a
    second run stages nothing for it.
    NOTE: after a switch to another master, tickets delivered to the old one are not
    sent again; their next change sends them.
    """
    if not await context.has_sync_master(session):
        return BackfillBatch(staged=0, next_after=None)
    tickets = list((await session.exec(
        select(Ticket)
        .outerjoin(SyncCounter, col(SyncCounter.ticket_id) == Ticket.id)
        .where(Ticket.tenant_id == tenant_id, col(Ticket.id) > after,
               col(SyncCounter.ticket_id).is_(None))
        .order_by(col(Ticket.id)).limit(limit))).all())
    for ticket in tickets:
        await stage_snapshot(context, session, ticket)
    last_id = tickets[-1].id if tickets else None
    logger.info("Backfill staged %s tickets of tenant %s after ticket %s", len(tickets),
                tenant_id, after)
    return BackfillBatch(staged=len(tickets),
                         next_after=last_id if len(tickets) == limit else None)
