"""Escalation: the changes a breached SLA target makes to its ticket.

A policy's `escalation` is a list of actions, run in order by the scanner in the
transaction that publishes the breach:

- `{"action": "notify"}`: nothing besides the breach event itself, which always goes to
  the assignee and the team's leads. This is the default.
- `{"action": "raise_priority"}` raises the priority one step (low, normal, high,
  urgent); `{"action": "raise_priority", "priority": "urgent"}` raises it to that
  priority. A priority is never lowered.
- `{"action": "reassign", "team_id": 3}` moves the ticket to the team, clears the
  assignee and lets the team pick an agent by its strategy, as routing does.

Each change gets a history entry whose reason names the policy and the target. An
action whose team was deleted since the policy was saved is skipped and logged, so a
stale policy never stops the breach from being published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, NotFound
from ticketcloud import ticket_events
from ticketcloud.history import describe, record_change
from ticketcloud.models import SlaPolicy, SlaTarget, Ticket
from ticketcloud.routing import assign_in_team
from ticketcloud.sla import targets as sla_targets
from ticketcloud.sla.escalation_actions import EscalationAction, raised_priority
from ticketcloud.teams import access_team
from ticketcloud.updates import claim_version

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalated:
    """The changes escalation made to a ticket, as published: field to old and new."""

    changes: dict[str, dict[str, Any]]
    assigned: bool


async def do_escalate(context: AppContext, session: AsyncSession, ticket: Ticket,
                      target: SlaTarget, policy: SlaPolicy | None,
                      now: datetime) -> Escalated:
    """Run the breached target's policy actions on `ticket` and stage the ticket events
    they cause. A target whose policy was deleted only notifies."""
    actions = policy.escalation if policy is not None else []
    changes: dict[str, dict[str, Any]] = {}
    assigned = False
    if not any(action["action"] != EscalationAction.NOTIFY for action in actions):
        return Escalated(changes, assigned)
    assert policy is not None
    reason = f"SLA policy {policy.name!r}: {target.kind.value.replace('_', ' ')} target breached"
    for action in actions:
        if action["action"] == EscalationAction.RAISE_PRIORITY:
            await _raise_priority(session, ticket, action.get("priority"), reason, changes)
        elif action["action"] == EscalationAction.REASSIGN:
            assigned = await _reassign(session, ticket, action["team_id"], reason,
                                       changes) or assigned
    if changes:
        # An agent's view of the ticket is now stale, as after any other change.
        expected = ticket.version
        await claim_version(session, ticket, expected)
        ticket.version = expected + 1
        ticket.updated_at = now
    session.add(ticket)
    await session.flush()
    if changes:
        # A new priority or team may match another policy, as after an agent's change.
        await sla_targets.sync_targets(session, ticket, now)
        await ticket_events.publish_updated(context, session, ticket, changes,
                                            actor_user_id=None)
    if assigned:
        await ticket_events.publish_assigned(context, session, ticket)
    logger.info("Escalated ticket %s of tenant %s by SLA policy %s: %s", ticket.id,
                ticket.tenant_id, policy.id, sorted(changes) or "no change")
    return Escalated(changes, assigned)


async def _raise_priority(session: AsyncSession, ticket: Ticket, to: str | None, reason: str,
                          changes: dict[str, dict[str, Any]]) -> None:
    old = ticket.priority
    new = raised_priority(old, to)
    if new == old:
        return
    await record_change(session, ticket, field="priority", old=old.value, new=new.value,
                        reason=f"{reason}; raised the priority to {new.value}")
    ticket.priority = new
    changes["priority"] = {"old": old.value, "new": new.value}


async def _reassign(session: AsyncSession, ticket: Ticket, team_id: int, reason: str,
                    changes: dict[str, dict[str, Any]]) -> bool:
    try:
        team = await access_team(session, ticket.tenant_id, team_id)
    except NotFound:
        logger.warning("SLA escalation skipped reassigning ticket %s of tenant %s: team %s "
                       "not found", ticket.id, ticket.tenant_id, team_id)
        return False
    if ticket.team_id == team.id:
        return False
    label = await describe(session, ticket.tenant_id, "team", team.id)
    await record_change(session, ticket, field="team", old=ticket.team_id, new=team.id,
                        reason=f"{reason}; moved the ticket to team {label}")
    changes["team_id"] = {"old": ticket.team_id, "new": team.id}
    ticket.team_id = team.id
    old_assignee = ticket.assignee_id
    if old_assignee is not None:
        await record_change(session, ticket, field="assignee", old=old_assignee, new=None,
                            reason=f"{reason}; the new team picks the assignee")
        ticket.assignee_id = None
    assigned = await assign_in_team(session, ticket)
    if ticket.assignee_id != old_assignee:
        changes["assignee_id"] = {"old": old_assignee, "new": ticket.assignee_id}
    return assigned
