"""Closing solved tickets once their tenant's `auto_close_hours` have passed."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, utcnow
from ticketcloud import ticket_events
from ticketcloud.history import record_change
from ticketcloud.models import DEFAULT_AUTO_CLOSE_HOURS, TenantSettings, Ticket
from ticketcloud.status import Status
from ticketcloud.updates import claim_version, set_status

logger = logging.getLogger(__name__)

# Tickets closed per tenant and run; the next run closes the rest.
BATCH = 500


async def do_close_solved(context: AppContext, session: AsyncSession, now: datetime) -> int:
    """Close every ticket solved more than its tenant's `auto_close_hours` before `now`.

    Each closed ticket gets a history entry and a `ticketcloud.ticket.updated` event.
    Returns how many tickets were closed.
    """
    # NOTE: this also closes tickets of tenants that uninstalled the app but kept its data,
    # because portal.sdk does not tell an app which tenants installed it.
    hours_by_tenant = {row.tenant_id: row.auto_close_hours
                       for row in (await session.exec(select(TenantSettings))).all()}
    tenant_ids = (await session.exec(
        select(Ticket.tenant_id).where(Ticket.status == Status.SOLVED).distinct())).all()
    closed = 0
    for tenant_id in tenant_ids:
        hours = hours_by_tenant.get(tenant_id, DEFAULT_AUTO_CLOSE_HOURS)
        statement = (select(Ticket)
                     .where(Ticket.tenant_id == tenant_id, Ticket.status == Status.SOLVED,
                            col(Ticket.solved_at) < now - timedelta(hours=hours))
                     .order_by(col(Ticket.solved_at)).limit(BATCH))
        for ticket in (await session.exec(statement)).all():
            await _close(context, session, ticket, now, hours)
            closed += 1
    return closed


async def close_solved_job(context: AppContext) -> None:
    """Run `do_close_solved` in its own transaction, as the app's background job."""
    started = time.monotonic()
    async with context.transaction() as session:
        # Jobs run whether or not any tenant installed the app, and before the first
        # install the app's tables do not exist yet.
        if not await session.run_sync(_has_ticket_table):
            return
        closed = await do_close_solved(context, session, utcnow())
    if closed:
        logger.info("Closed %s solved tickets automatically in %.2f s", closed,
                    time.monotonic() - started)


async def _close(context: AppContext, session: AsyncSession, ticket: Ticket, now: datetime,
                 hours: int) -> None:
    await claim_version(session, ticket, ticket.version)
    await record_change(session, ticket, field="status", old=Status.SOLVED, new=Status.CLOSED,
                        reason=f"Closed automatically {hours} hours after it was solved")
    set_status(ticket, Status.CLOSED, now)
    ticket.updated_at = now
    session.add(ticket)
    await session.flush()
    changes = {"status": {"old": Status.SOLVED.value, "new": Status.CLOSED.value}}
    await ticket_events.publish_updated(context, session, ticket, changes, actor_user_id=None)


def _has_ticket_table(session: Session) -> bool:
    return sa.inspect(session.connection()).has_table(Ticket.__tablename__)
