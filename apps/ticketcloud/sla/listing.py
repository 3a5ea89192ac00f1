"""SLA facts for ticket lists: the `sla` filter of the ticket API and each ticket's next
due target for the queue's badges.

`sla=overdue` keeps tickets with a running target past its due time, and also
unresolved tickets (not solved or closed) past the due time an agent set on them
(`Ticket.due_at`). `sla=at_risk` keeps those with a running target past its warning
time but not yet due; an agent's due time has no warning point, so it plays no part
there. They read the indexes `(tenant_id, state, due_at)` and `(tenant_id, state,
warn_at)` of the targets and `(tenant_id, due_at)` of the tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput
from ticketcloud.models import SlaTarget, TargetState, Ticket
from ticketcloud.sla.targets import RESOLVED_STATUSES, target_json

SlaFilter = Literal["overdue", "at_risk"]
SLA_FILTERS: tuple[SlaFilter, ...] = ("overdue", "at_risk")


def check_sla_filter(value: str | None) -> SlaFilter | None:
    if value is None:
        return None
    for name in SLA_FILTERS:
        if value == name:
            return name
    raise InvalidInput(f"Invalid sla {value[:40]!r}: choose overdue or at_risk.", field="sla")


def sla_condition(name: SlaFilter, tenant_id: int, now: datetime) -> ColumnElement[bool]:
    """Return the condition on Ticket for one `sla` filter at `now`."""
    running = select(SlaTarget.ticket_id).where(SlaTarget.tenant_id == tenant_id,
                                                SlaTarget.state == TargetState.RUNNING)
    if name == "overdue":
        matching = running.where(col(SlaTarget.due_at) <= now)
        agent_due = and_(col(Ticket.tenant_id) == tenant_id, col(Ticket.due_at) <= now,
                         col(Ticket.status).not_in(RESOLVED_STATUSES))
        return or_(col(Ticket.id).in_(matching), agent_due)
    matching = running.where(col(SlaTarget.warn_at) <= now, col(SlaTarget.due_at) > now)
    return col(Ticket.id).in_(matching)


async def next_due_targets(session: AsyncSession, tenant_id: int,
                           tickets: Iterable[Ticket]) -> dict[int, SlaTarget]:
    """Return, per ticket id, the running target due first, or else a paused one (which
    has no due time until it resumes). Tickets without either are left out."""
    ticket_ids = [ticket.id for ticket in tickets if ticket.id is not None]
    if not ticket_ids:
        return {}
    statement = select(SlaTarget).where(
        SlaTarget.tenant_id == tenant_id, col(SlaTarget.ticket_id).in_(ticket_ids),
        col(SlaTarget.state).in_([TargetState.RUNNING, TargetState.PAUSED]))
    chosen: dict[int, SlaTarget] = {}
    for target in (await session.exec(statement)).all():
        current = chosen.get(target.ticket_id)
        if current is None or _sooner(target, current):
            chosen[target.ticket_id] = target
    return chosen


async def add_next_due(session: AsyncSession, tenant_id: int, tickets: Sequence[Ticket],
                       items: Sequence[dict[str, Any]]) -> None:
    """Set `sla_due` on each list item (in the order of `tickets`) to the ticket's next
    due target as `target_json` shows it, or None."""
    due = await next_due_targets(session, tenant_id, tickets)
    for ticket, item in zip(tickets, items, strict=True):
        target = due.get(ticket.id) if ticket.id is not None else None
        item["sla_due"] = target_json(target) if target is not None else None


def _sooner(target: SlaTarget, current: SlaTarget) -> bool:
    if target.due_at is None:
        return False
    return current.due_at is None or target.due_at < current.due_at
