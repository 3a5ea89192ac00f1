"""Routing a new ticket: apply the rules that fire, then let the team pick an agent.

Every automatic change gets a history entry that names the rule or the assignment
strategy. A rule that points at a team, category or agent that no longer exists (or is
no longer an active agent) skips that action and logs it: an admin's stale rule must
not make a customer's ticket fail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, NotFound
from ticketcloud.assignment import pick_agent, team_plan
from ticketcloud.categories import access_category
from ticketcloud.checks import merge_tags
from ticketcloud.history import describe, record_change
from ticketcloud.models import Priority, Ticket
from ticketcloud.rules import Action, ActionType, Decision
from ticketcloud.teams import access_agent

logger = logging.getLogger(__name__)

_ACTION_FIELDS = {
    ActionType.SET_CATEGORY: "category", ActionType.SET_PRIORITY: "priority",
    ActionType.SET_TEAM: "team", ActionType.SET_ASSIGNEE: "assignee",
    ActionType.ADD_TAGS: "tags",
}


async def apply_decisions(session: AsyncSession, ticket: Ticket,
                          decisions: Sequence[Decision]) -> None:
    """Apply the actions of the fired rules to `ticket` in order, with history."""
    for decision in decisions:
        for action in decision.actions:
            field = _ACTION_FIELDS.get(action.type)
            if field is None:
                continue
            try:
                new, label = await _target_value(session, ticket, action)
            except (NotFound, InvalidInput) as error:
                # A new ticket is routed before its INSERT, so it has a number but no id.
                logger.warning("Rule %s (%r) skipped %s on ticket #%s of tenant %s: %s",
                               decision.rule_id, decision.rule_name, action.type.value,
                               ticket.number, ticket.tenant_id, error.message)
                continue
            await _set(session, ticket, field, new, label, decision)


async def assign_in_team(session: AsyncSession, ticket: Ticket) -> bool:
    """Let the ticket's team pick an agent when the ticket has a team and no assignee;
    return whether it got an assignee."""
    if ticket.team_id is None or ticket.assignee_id is not None:
        return False
    team = await team_plan(session, ticket.tenant_id, ticket.team_id)
    pick = await pick_agent(session, ticket.tenant_id, team)
    new = pick.agent.id if pick.agent is not None else None
    await record_change(session, ticket, field="assignee", old=None, new=new,
                        reason=pick.reason,
                        new_label=pick.agent.name if pick.agent is not None else None)
    ticket.assignee_id = new
    return new is not None


async def _target_value(session: AsyncSession, ticket: Ticket,
                        action: Action) -> tuple[int | str | list[str], str | None]:
    """Return the value that `action` sets, with its name when it is an id."""
    tenant_id = ticket.tenant_id
    if action.type is ActionType.SET_CATEGORY:
        category = await access_category(session, tenant_id, action.value)
        assert category.id is not None
        return category.id, category.name
    if action.type is ActionType.SET_TEAM:
        team = await team_plan(session, tenant_id, action.value)
        return team.id, team.name
    if action.type is ActionType.SET_ASSIGNEE:
        agent = await access_agent(session, tenant_id, action.value)
        return agent.id, agent.name
    if action.type is ActionType.SET_PRIORITY:
        return Priority(str(action.value)).value, None
    assert isinstance(action.value, tuple)
    return merge_tags(ticket.tags, action.value), None


async def _set(session: AsyncSession, ticket: Ticket, field: str, new: int | str | list[str],
               label: str | None, decision: Decision) -> None:
    attribute = {"category": "category_id", "team": "team_id",
                 "assignee": "assignee_id"}.get(field, field)
    old = getattr(ticket, attribute)
    if old == new:
        return
    if isinstance(new, list):
        added = ", ".join(tag for tag in new if tag not in old)
        reason = f"Rule {decision.rule_name!r} added the tags {added}"
    else:
        if label is None:
            label = await describe(session, ticket.tenant_id, field, new)
        reason = f"Rule {decision.rule_name!r} set {field} to {label}"
    await record_change(session, ticket, field=field, old=old, new=new,
                        rule_id=decision.rule_id, rule_name=decision.rule_name, reason=reason,
                        new_label=label)
    setattr(ticket, attribute, Priority(str(new)) if field == "priority" else new)
