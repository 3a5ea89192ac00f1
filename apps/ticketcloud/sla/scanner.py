"""The SLA scanner: a background job that publishes each target's warning and breach
exactly once.

A pass reads only the indexed `due_at` and `warn_at` of running targets (see
`targets.due_targets` and `targets.at_risk_targets`) and never recomputes business time.
Paused targets have neither time and are never read; a target paused between the read
and the claim fails the claim's `state` condition.

Exactly once: a target's `breach_published` or `warning_published` flag is set in the
transaction that stages its event, and events reach desktops only after that commit.
A crash before the commit loses the flag and the event together, so the next pass
publishes again. A commit keeps both, so no later pass repeats the event.

Several portal processes may scan at once. Each claims a target with a conditional
UPDATE (`... WHERE flag is not set`) and publishes only when that UPDATE changed one
row. On SQLite the write transaction serializes the passes. On PostgreSQL, under READ
COMMITTED, the second UPDATE waits for the first one's row lock and then re-checks its
WHERE clause against the committed flag, so it changes nothing.
The tests race two passes, each on its own engine, on SQLite and on PostgreSQL.

A breach also sets `warning_published`, so a target the scanner first sees past due gets
no late warning. Breaches run the policy's escalation actions in the same transaction.

The same pass then alerts tickets past the due time an agent set on them
(`ticketcloud.ticket.due`, see `sla.due_alerts`), claiming each ticket's `due_alerted`
flag the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, utcnow
from ticketcloud.models import SlaPolicy, SlaTarget, TargetState, Ticket
from ticketcloud.sla.alerts import Alert, TeamDirectory, publish_alert
from ticketcloud.sla.due_alerts import DUE, publish_due_batch
from ticketcloud.sla.escalation import do_escalate
from ticketcloud.sla.targets import at_risk_targets, due_targets

logger = logging.getLogger(__name__)

# Targets (or tickets) per transaction, and transactions per alert kind and pass. A pass
# stops after BATCH * MAX_BATCHES events of a kind, so the next pass publishes the rest.
BATCH = 200
MAX_BATCHES = 50

# Reads and claims one batch in the caller's transaction; returns how many rows it read
# and how many events it published.
BatchPublisher = Callable[[AppContext, AsyncSession, datetime, int],
                          Awaitable[tuple[int, int]]]


@dataclass(frozen=True)
class ScanResult:
    """The events one pass published."""

    warnings: int
    breaches: int
    # `ticketcloud.ticket.due`: tickets past the due time an agent set.
    due: int = 0


async def do_scan(context: AppContext, now: datetime, *, batch: int = BATCH) -> ScanResult:
    """Publish the breaches, then the warnings, then the passed agent-set due times, at
    `now`, each in transactions of at most `batch` targets or tickets."""
    breaches = await _drain(context, Alert.BREACHED.value, _alerts(Alert.BREACHED), now,
                            batch)
    warnings = await _drain(context, Alert.WARNING.value, _alerts(Alert.WARNING), now, batch)
    due = await _drain(context, DUE, publish_due_batch, now, batch)
    return ScanResult(warnings=warnings, breaches=breaches, due=due)


async def sla_scan_job(context: AppContext) -> None:
    """Run one pass as the app's background job."""
    started = time.monotonic()
    async with context.db.read() as session:
        # Jobs run whether or not any tenant installed the app, and before the first
        # install the app's tables do not exist yet.
        if not await session.run_sync(_has_target_table):
            return
    result = await do_scan(context, utcnow())
    if result.warnings or result.breaches or result.due:
        logger.info("SLA scan published %s warnings, %s breaches and %s due-time alerts "
                    "in %.3f s", result.warnings, result.breaches, result.due,
                    time.monotonic() - started)


async def _drain(context: AppContext, topic: str, publish_batch: BatchPublisher,
                 now: datetime, batch: int) -> int:
    published = 0
    for _ in range(MAX_BATCHES):
        async with context.transaction() as session:
            read, claimed = await publish_batch(context, session, now, batch)
        published += claimed
        if read < batch:
            return published
    logger.warning("SLA scan stopped after %s %s events; the next pass publishes the rest",
                   published, topic)
    return published


def _alerts(alert: Alert) -> BatchPublisher:
    async def publish_batch(context: AppContext, session: AsyncSession, now: datetime,
                            batch: int) -> tuple[int, int]:
        return await _publish_batch(context, session, alert, now, batch)

    return publish_batch


async def _publish_batch(context: AppContext, session: AsyncSession, alert: Alert,
                         now: datetime, batch: int) -> tuple[int, int]:
    """Return how many targets the batch read and how many it claimed and published."""
    query = (due_targets(now, limit=batch) if alert is Alert.BREACHED
             else at_risk_targets(now, limit=batch))
    targets = list((await session.exec(query)).all())
    if not targets:
        return 0, 0
    tickets = await _tickets(session, {target.ticket_id for target in targets})
    teams = await TeamDirectory.load(session, tickets.values())
    claimed = 0
    for target in targets:
        if not await _claim(session, alert, target, now):
            continue
        claimed += 1
        ticket = tickets[target.ticket_id]
        changes = None
        if alert is Alert.BREACHED:
            policy = (await session.get(SlaPolicy, target.policy_id)
                      if target.policy_id is not None else None)
            escalated = await do_escalate(context, session, ticket, target, policy, now)
            changes = escalated.changes
            await teams.include(session, [ticket])
        await publish_alert(context, session, alert, ticket, target, teams,
                            escalation=changes)
    return len(targets), claimed


async def _claim(session: AsyncSession, alert: Alert, target: SlaTarget,
                 now: datetime) -> bool:
    """Set the target's published flag and return True. Return False when another pass
    set the flag first, or when the target stopped running or moved its time since the
    read."""
    conditions = [col(SlaTarget.id) == target.id, col(SlaTarget.state) == TargetState.RUNNING]
    if alert is Alert.BREACHED:
        conditions += [col(SlaTarget.breach_published).is_(False),
                       col(SlaTarget.due_at) <= now]
        values = {"breach_published": True, "warning_published": True}
    else:
        conditions += [col(SlaTarget.warning_published).is_(False),
                       col(SlaTarget.warn_at) <= now]
        values = {"warning_published": True}
    statement = (update(SlaTarget).where(*conditions).values(**values)
                 .execution_options(synchronize_session=False))
    result = await session.exec(statement)
    if result.rowcount != 1:
        logger.debug("SLA target %s was claimed or changed by another pass", target.id)
        return False
    for name, value in values.items():
        # Mirror the UPDATE without marking the attribute changed, so a later flush
        # does not write it again.
        set_committed_value(target, name, value)
    return True


async def _tickets(session: AsyncSession, ticket_ids: set[int]) -> dict[int, Ticket]:
    statement = select(Ticket).where(col(Ticket.id).in_(ticket_ids))
    return {ticket.id: ticket for ticket in (await session.exec(statement)).all()
            if ticket.id is not None}


def _has_target_table(session: Session) -> bool:
    return sa.inspect(session.connection()).has_table(SlaTarget.__tablename__)
