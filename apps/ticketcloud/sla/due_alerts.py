"""The `ticketcloud.ticket.due` event: an unresolved ticket passed the due time an agent
set on it (`Ticket.due_at`). The SLA scan job publishes it once per due time.

Exactly once, as for the SLA alerts (see `sla.scanner`): the ticket's `due_alerted`
flag is set by a conditional UPDATE in the transaction that stages the event, and the
event is staged only when that UPDATE changed the row. A pass that lost the race, or
read a ticket whose due time or status changed since, changes nothing and publishes
nothing. `updates.do_update_ticket` clears the flag when an agent changes or clears the
due time, so the new due time alerts when it passes.

Solved and closed tickets never alert. A ticket solved before its due time keeps the
flag false, so the next pass alerts when it is reopened after that time. A ticket
alerted once for a due time is not alerted again for it, whatever its status does.

The alert goes to the assignee alone: the due time is an agent's own promise, not a
policy's target, so team leads get no alert. An unassigned ticket alerts every member
of its team, and one without team (or whose team has no members) every agent and admin.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from portal.sdk import AppContext, Audience, Event, Notification
from ticketcloud.models import Ticket
from ticketcloud.sla.alerts import TeamDirectory
from ticketcloud.status import UNRESOLVED
from ticketcloud.teams import AGENT_ROLES
from ticketcloud.ticket_events import ticket_summary

DUE = "ticketcloud.ticket.due"

# In a fixed order, so that the statement text (and its cache key) never changes.
_UNRESOLVED = sorted(UNRESOLVED)


def due_tickets(now: datetime, *, limit: int) -> SelectOfScalar[Ticket]:
    """Return the query for unresolved tickets of every tenant past their agent-set due
    time and not alerted for it yet, by status and then oldest due first. It reads the
    index `ix_ticketcloud_ticket_due_alert (due_alerted, status, due_at)`, one range per
    unresolved status in the index's order, so it needs no sort on SQLite and never
    reads solved or closed tickets."""
    return (select(Ticket)
            .where(col(Ticket.due_alerted).is_(False), col(Ticket.status).in_(_UNRESOLVED),
                   col(Ticket.due_at) <= now)
            .order_by(col(Ticket.status), col(Ticket.due_at)).limit(limit))


async def publish_due_batch(context: AppContext, session: AsyncSession, now: datetime,
                            batch: int) -> tuple[int, int]:
    """Alert the tickets of one batch; return how many it read and how many it claimed
    and published."""
    tickets = list((await session.exec(due_tickets(now, limit=batch))).all())
    if not tickets:
        return 0, 0
    teams = await TeamDirectory.load(
        session, [ticket for ticket in tickets if ticket.assignee_id is None])
    claimed = 0
    for ticket in tickets:
        if await claim_due(session, ticket, now):
            claimed += 1
            await publish_due(context, session, ticket, teams)
    return len(tickets), claimed


async def claim_due(session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
    """Set the ticket's `due_alerted` flag and return True. Return False when another
    pass set it first, or when the ticket was solved, closed or given another due time
    since it was read."""
    if ticket.due_at is None:
        return False
    statement = (update(Ticket)
                 .where(col(Ticket.id) == ticket.id, col(Ticket.due_alerted).is_(False),
                        col(Ticket.due_at) == ticket.due_at, col(Ticket.due_at) <= now,
                        col(Ticket.status).in_(_UNRESOLVED))
                 .values(due_alerted=True)
                 .execution_options(synchronize_session=False))
    result = await session.exec(statement)
    if result.rowcount != 1:
        return False
    # Mirror the UPDATE without marking the attribute changed (see scanner._claim).
    set_committed_value(ticket, "due_alerted", True)
    return True


def due_audience(ticket: Ticket, teams: TeamDirectory) -> Audience:
    """Return the alert's audience: the assignee, else the members of the ticket's
    team, else every agent and admin."""
    if ticket.assignee_id is not None:
        return Audience.of(users=[ticket.assignee_id])
    members = teams.members.get(ticket.team_id) if ticket.team_id is not None else None
    if members:
        return Audience.of(users=members)
    return Audience.of(roles=AGENT_ROLES)


async def publish_due(context: AppContext, session: AsyncSession, ticket: Ticket,
                      teams: TeamDirectory) -> Event:
    """Stage the alert, with a toast that opens the ticket."""
    assert ticket.due_at is not None
    payload = {**ticket_summary(ticket),
               "due_at": ticket.due_at.isoformat(timespec="seconds").replace("+00:00", "Z")}
    # The shell inserts toast text with textContent, so a subject with markup shows as
    # text. The toast names no time: the agent's time zone is known to the browser only.
    notification = Notification(
        title=f"Ticket #{ticket.number} is past its due time", body=ticket.subject,
        open_app=context.app_id, open_window="ticket",
        open_params={"ticket": str(ticket.number)})
    return await context.publish(session, tenant_id=ticket.tenant_id, topic=DUE,
                                 payload=payload, audience=due_audience(ticket, teams),
                                 notification=notification)
