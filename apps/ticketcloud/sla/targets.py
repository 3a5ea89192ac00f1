"""The SLA targets of each ticket and the events that move their clocks.

Each entry point takes `(session, ticket, now)`, runs in the caller's transaction and
is safe to call more than once for the same state:

- `sync_targets`: after a ticket is created or its fields change. It matches the
  policies again, starts targets the policy sets, re-times targets whose policy,
  calendar or amount changed, removes targets the policy no longer sets, and pauses or
  resumes the clocks for the ticket's status.
- `record_message`: after a message was added. A public reply by an agent meets the
  running first or next response target, and a customer's message starts a next
  response target. Internal notes and automatic messages (no author account) change
  nothing.
- `recompute_calendar`: after a calendar's hours or holidays changed.
- `due_targets` and `at_risk_targets`: the indexed queries for a breach and warning
  scanner, which sets `breach_published` and `warning_published` once it published.

The clock rules: a target pauses while the ticket is pending, on hold, solved or closed,
and resumes when it is new or open again. Business time already consumed is kept across
a pause and across a policy or calendar change, and only the remaining time is measured
on the new calendar. A target whose due time has passed keeps running through a pause,
because waiting on the customer cannot undo a breach. Solving a ticket completes its
resolution target, and a completed target's `consumed_seconds` is the business time it
took. Completed targets stay completed when a ticket reopens. A target a new policy adds
starts counting when the change happens.

The clock counts whole seconds. It starts and stops at `now` truncated to the second, so
the business time of each run is a whole number of seconds and banking it loses
nothing. Re-timing a running target on the same amount and calendar therefore leaves
its due and warning times where they were, however often it happens.

Re-timing (a policy or calendar change) never moves a time that has passed while the
target stays past it: an overdue target keeps its original `due_at`, and a target past
its warning point keeps its `warn_at`, so the breach and the warning are not published
again and the badge still shows when the target was due. A re-timing that leaves time
computes a future time, and clears the published flag of that time, so the scanner
publishes the new breach or warning when it comes. A re-timing that makes a target due
that was not yet due sets the time to the moment of the change. It does not walk
business time backwards to the moment the time ran out, because the consumed time may
have been counted on several definitions, so there is no single such moment.

The warning point is `warning_seconds`, the policy's `warning_percent` of the target
rounded up to the second (at least 1 second), so a 3-minute target at 50 % warns after
90 seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from ticketcloud.models import (
    Message,
    SlaCalendar,
    SlaPolicy,
    SlaTarget,
    TargetKind,
    TargetState,
    Ticket,
    Visibility,
)
from ticketcloud.sla.business_time import add_business_seconds, business_seconds_between
from ticketcloud.sla.calendars import BusinessCalendar, business_calendar
from ticketcloud.sla.policies import (
    PolicyFacts,
    first_match,
    policies_to_match,
    target_minutes,
)
from ticketcloud.status import Status

logger = logging.getLogger(__name__)

ACTIVE = (TargetState.RUNNING, TargetState.PAUSED)
RESPONSE_KINDS = (TargetKind.FIRST_RESPONSE, TargetKind.NEXT_RESPONSE)
PAUSING_STATUSES = frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED})
RESOLVED_STATUSES = frozenset({Status.SOLVED, Status.CLOSED})


class _Calendars:
    """The BusinessCalendars of one tenant, loaded once per call."""

    def __init__(self, session: AsyncSession, tenant_id: int) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._loaded: dict[int | None, BusinessCalendar] = {}

    async def get(self, calendar_id: int | None) -> BusinessCalendar:
        if calendar_id not in self._loaded:
            row = (await self._session.get(SlaCalendar, calendar_id)
                   if calendar_id is not None else None)
            if row is not None and row.tenant_id != self._tenant_id:
                row = None
            if calendar_id is not None and row is None:
                # NOTE: a deleted calendar falls back to 24/7 for targets that still name
                # it; deleting a calendar that a policy uses is rejected.
                logger.warning("SLA calendar %s of tenant %s is missing; using 24/7",
                               calendar_id, self._tenant_id)
            self._loaded[calendar_id] = business_calendar(row)
        return self._loaded[calendar_id]

    def set(self, calendar_id: int, calendar: BusinessCalendar) -> None:
        self._loaded[calendar_id] = calendar


async def ticket_targets(session: AsyncSession, ticket: Ticket) -> list[SlaTarget]:
    """Return every target of a ticket, oldest first."""
    statement = (select(SlaTarget).where(SlaTarget.tenant_id == ticket.tenant_id,
                                         SlaTarget.ticket_id == ticket.id)
                 .order_by(col(SlaTarget.id)))
    return list((await session.exec(statement)).all())


async def sync_targets(session: AsyncSession, ticket: Ticket, now: datetime, *,
                       new: bool = False) -> list[SlaTarget]:
    """Bring the ticket's targets in line with the policy it matches now and with its
    status (see the module's docstring for the rules), and return its targets. `new`
    means the ticket was created in this transaction, so it has no targets to read yet."""
    assert ticket.id is not None
    calendars = _Calendars(session, ticket.tenant_id)
    policy = first_match(await policies_to_match(session, ticket.tenant_id),
                         PolicyFacts.of_ticket(ticket))
    if new and policy is None:
        return []
    targets = [] if new else await ticket_targets(session, ticket)
    for kind in TargetKind:
        amount = target_minutes(policy, kind) if policy is not None else None
        active = [target for target in targets if target.kind is kind and target.state in ACTIVE]
        if policy is None or amount is None:
            for target in active:
                await session.delete(target)
                targets.remove(target)
                logger.info("Removed SLA target %s (%s) of ticket %s: no policy sets it",
                            target.id, kind.value, ticket.id)
        elif active:
            for target in active:
                await _apply_policy(target, policy, amount, now, calendars)
        elif _needs_new(kind, ticket, targets):
            targets.append(await _start(session, ticket, kind, policy, amount, now, calendars))
    await _follow_status(ticket, targets, now, calendars)
    await session.flush()
    return targets


async def record_message(session: AsyncSession, ticket: Ticket, message: Message,
                         now: datetime) -> None:
    """Meet or start response targets for a message just added to the ticket, then
    follow the ticket's status (a customer's reply may have reopened it)."""
    if message.visibility is not Visibility.PUBLIC:
        return
    calendars = _Calendars(session, ticket.tenant_id)
    targets = await ticket_targets(session, ticket)
    responses = [target for target in targets
                 if target.kind in RESPONSE_KINDS and target.state in ACTIVE]
    if message.from_agent and message.author_user_id is not None:
        for target in responses:
            await _complete(target, now, calendars)
    elif not message.from_agent and not responses:
        policies = await policies_to_match(session, ticket.tenant_id)
        policy = first_match(policies, PolicyFacts.of_ticket(ticket))
        amount = (target_minutes(policy, TargetKind.NEXT_RESPONSE)
                  if policy is not None else None)
        if policy is not None and amount is not None:
            targets.append(await _start(session, ticket, TargetKind.NEXT_RESPONSE, policy,
                                        amount, now, calendars))
    await _follow_status(ticket, targets, now, calendars)
    await session.flush()


async def recompute_calendar(session: AsyncSession, tenant_id: int, calendar_id: int,
                             before: BusinessCalendar, now: datetime) -> int:
    """Re-time the running targets measured on a calendar whose definition changed:
    the business time consumed up to `now` counts on the old definition (`before`), the
    rest on the new one. Return how many targets changed."""
    calendars = _Calendars(session, tenant_id)
    statement = select(SlaTarget).where(SlaTarget.tenant_id == tenant_id,
                                        SlaTarget.calendar_id == calendar_id,
                                        SlaTarget.state == TargetState.RUNNING)
    targets = list((await session.exec(statement)).all())
    after = await calendars.get(calendar_id)
    for target in targets:
        due_before, warn_before = target.due_at, target.warn_at
        _bank(target, now, before)
        _rerun(target, now, after, due_before, warn_before)
        session.add(target)
    await session.flush()
    logger.info("Re-timed %s SLA targets of calendar %s in tenant %s", len(targets),
                calendar_id, tenant_id)
    return len(targets)


def due_targets(now: datetime, *, limit: int) -> SelectOfScalar[SlaTarget]:
    """Return the query for running targets of every tenant that are past due and whose
    breach is not published yet, oldest due first. It reads the index
    `ix_ticketcloud_sla_target_due` and never the tickets."""
    return (select(SlaTarget)
            .where(SlaTarget.state == TargetState.RUNNING,
                   col(SlaTarget.breach_published).is_(False),
                   col(SlaTarget.due_at) <= now)
            .order_by(col(SlaTarget.due_at)).limit(limit))


def at_risk_targets(now: datetime, *, limit: int) -> SelectOfScalar[SlaTarget]:
    """Return the query for running targets past their warning time whose warning is not
    published yet, through the index `ix_ticketcloud_sla_target_warn`."""
    return (select(SlaTarget)
            .where(SlaTarget.state == TargetState.RUNNING,
                   col(SlaTarget.warning_published).is_(False),
                   col(SlaTarget.warn_at) <= now)
            .order_by(col(SlaTarget.warn_at)).limit(limit))


def target_json(target: SlaTarget) -> dict[str, Any]:
    """Return a target as the ticket API shows it. `consumed_minutes` is whole business
    minutes, rounded down from the stored seconds; `warning_seconds` is the business
    time after which it warns."""
    return {"kind": target.kind.value, "state": target.state.value,
            "target_minutes": target.target_minutes,
            "warning_seconds": target.warning_seconds,
            "consumed_minutes": target.consumed_seconds // 60, "policy_id": target.policy_id,
            "calendar_id": target.calendar_id, "started_at": _iso(target.started_at),
            "due_at": _iso(target.due_at), "warn_at": _iso(target.warn_at),
            "completed_at": _iso(target.completed_at)}


def _needs_new(kind: TargetKind, ticket: Ticket, targets: list[SlaTarget]) -> bool:
    """Return whether a policy's target of `kind` should start now: never twice, a
    first response only before the first agent reply, a resolution only while the
    ticket is unresolved, and a next response only on a customer's message."""
    if any(target.kind is kind for target in targets):
        return False
    if kind is TargetKind.FIRST_RESPONSE:
        return ticket.first_response_at is None
    if kind is TargetKind.RESOLUTION:
        return ticket.status not in RESOLVED_STATUSES
    return False


async def _start(session: AsyncSession, ticket: Ticket, kind: TargetKind, policy: SlaPolicy,
                 amount: int, now: datetime, calendars: _Calendars) -> SlaTarget:
    assert ticket.id is not None
    target = SlaTarget(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind=kind,
                       policy_id=policy.id, calendar_id=policy.calendar_id,
                       target_minutes=amount,
                       warning_seconds=_warning_seconds(amount, policy.warning_percent),
                       started_at=now, updated_at=now)
    _run(target, now, await calendars.get(policy.calendar_id))
    session.add(target)
    logger.info("Started SLA target %s for ticket %s: %s business minutes by policy %s",
                kind.value, ticket.id, amount, policy.id)
    return target


async def _apply_policy(target: SlaTarget, policy: SlaPolicy, amount: int, now: datetime,
                        calendars: _Calendars) -> None:
    """Move an active target to a policy's amount and calendar, keeping the business time
    it consumed. Unchanged targets are left alone."""
    warning = _warning_seconds(amount, policy.warning_percent)
    if (target.policy_id, target.calendar_id, target.target_minutes,
            target.warning_seconds) == (policy.id, policy.calendar_id, amount, warning):
        return
    running = target.state is TargetState.RUNNING
    due_before, warn_before = target.due_at, target.warn_at
    if running:
        _bank(target, now, await calendars.get(target.calendar_id))
    target.policy_id = policy.id
    target.calendar_id = policy.calendar_id
    target.target_minutes = amount
    target.warning_seconds = warning
    target.updated_at = now
    if running:
        _rerun(target, now, await calendars.get(policy.calendar_id), due_before, warn_before)
    logger.info("Re-timed SLA target %s of ticket %s to %s minutes of policy %s", target.id,
                target.ticket_id, amount, policy.id)


async def _follow_status(ticket: Ticket, targets: list[SlaTarget], now: datetime,
                         calendars: _Calendars) -> None:
    """Pause, resume or complete the active targets to match the ticket's status."""
    for target in targets:
        if target.state not in ACTIVE:
            continue
        if target.kind is TargetKind.RESOLUTION and ticket.status in RESOLVED_STATUSES:
            await _complete(target, now, calendars)
        elif ticket.status in PAUSING_STATUSES:
            if target.state is TargetState.RUNNING and _due_after(target, now):
                _bank(target, now, await calendars.get(target.calendar_id))
                target.state = TargetState.PAUSED
                target.updated_at = now
        elif target.state is TargetState.PAUSED:
            _run(target, now, await calendars.get(target.calendar_id))


def _run(target: SlaTarget, now: datetime, calendar: BusinessCalendar) -> None:
    """Start or resume the clock at `now` (to the second) and compute the due and warning
    times from the business seconds still left."""
    start = _whole_second(now)
    target.state = TargetState.RUNNING
    target.running_since = start
    target.due_at = _after(start, target.target_minutes * 60 - target.consumed_seconds,
                           calendar)
    target.warn_at = _after(start, target.warning_seconds - target.consumed_seconds, calendar)
    target.updated_at = now


def _rerun(target: SlaTarget, now: datetime, calendar: BusinessCalendar,
           due_before: datetime | None, warn_before: datetime | None) -> None:
    """Restart the clock of a target just re-timed, whose due and warning times were
    `due_before` and `warn_before`. A time already past stays when the target is still
    past it, and a future time clears its published flag (see the module's docstring)."""
    _run(target, now, calendar)
    start = _whole_second(now)
    target.due_at = _kept(target.due_at, due_before, start)
    target.warn_at = _kept(target.warn_at, warn_before, start)
    if target.due_at is not None and target.due_at > start and target.breach_published:
        target.breach_published = False
        logger.info("SLA target %s of ticket %s is no longer overdue after re-timing",
                    target.id, target.ticket_id)
    if target.warn_at is not None and target.warn_at > start:
        target.warning_published = False


def _kept(new: datetime | None, before: datetime | None, start: datetime) -> datetime | None:
    """Return `before` when both it and `new` are not after `start` (the time had passed
    and still has), else `new`."""
    if new is not None and new <= start and before is not None and before <= start:
        return before
    return new


def _bank(target: SlaTarget, now: datetime, calendar: BusinessCalendar) -> None:
    """Add the business seconds of the current run to `consumed_seconds` and stop the
    clock; the caller sets the next state."""
    _add_run(target, now, calendar)
    target.running_since = None
    target.due_at = None
    target.warn_at = None


async def _complete(target: SlaTarget, now: datetime, calendars: _Calendars) -> None:
    """Mark a target met, or breached when it completes after its due time. The final
    run is banked, so `consumed_seconds` is the business time the target took, which
    the SLA report's medians read."""
    late = target.due_at is not None and now > target.due_at
    if target.state is TargetState.RUNNING:
        _add_run(target, now, await calendars.get(target.calendar_id))
    target.state = TargetState.BREACHED if late else TargetState.MET
    target.completed_at = now
    target.running_since = None
    target.warn_at = None
    target.updated_at = now
    logger.info("SLA target %s of ticket %s %s", target.id, target.ticket_id,
                target.state.value)


def _add_run(target: SlaTarget, now: datetime, calendar: BusinessCalendar) -> None:
    """Add the business seconds from `running_since` to `now` (to the second) to
    `consumed_seconds`."""
    if target.running_since is not None:
        target.consumed_seconds += business_seconds_between(target.running_since,
                                                            _whole_second(now), calendar)


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _due_after(target: SlaTarget, now: datetime) -> bool:
    return target.due_at is None or target.due_at > now


def _after(now: datetime, seconds: int, calendar: BusinessCalendar) -> datetime:
    """Return the instant `seconds` business seconds after `now`; `now` itself when none
    are left."""
    return add_business_seconds(now, seconds, calendar) if seconds > 0 else now


def _warning_seconds(amount: int, percent: int) -> int:
    """Return `percent` of `amount` minutes in seconds, rounded up, and at least 1."""
    return max(1, -(-amount * 60 * percent // 100))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")
