"""The escalation actions an SLA policy may list, and their validation.

`sla.escalation` runs them; see its docstring for what each action does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, NotFound
from ticketcloud.checks import check_choice, check_id
from ticketcloud.models import Priority
from ticketcloud.teams import access_team

PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)
DEFAULT_ESCALATION: list[dict[str, Any]] = [{"action": "notify"}]


class EscalationAction(enum.StrEnum):
    NOTIFY = "notify"
    RAISE_PRIORITY = "raise_priority"
    REASSIGN = "reassign"


_ACTION_KEYS = {EscalationAction.NOTIFY: set(),
                EscalationAction.RAISE_PRIORITY: {"priority"},
                EscalationAction.REASSIGN: {"team_id"}}


def check_escalation(value: object) -> list[dict[str, Any]]:
    """Validate a policy's `escalation` list; each error names the field, such as
    `escalation[1].team_id`. Each action may appear once."""
    if value is None:
        return [dict(item) for item in DEFAULT_ESCALATION]
    if not isinstance(value, list) or len(value) > len(EscalationAction):
        raise InvalidInput(f"Invalid escalation {value!r}: send a list of up to "
                           f"{len(EscalationAction)} actions such as "
                           '[{"action": "raise_priority"}].', field="escalation")
    checked: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        action = _check_action(item, f"escalation[{index}]")
        if any(existing["action"] == action["action"] for existing in checked):
            raise InvalidInput(f"The action {action['action']!r} appears twice; list each "
                               "action once.", field=f"escalation[{index}].action")
        checked.append(action)
    return checked or [dict(item) for item in DEFAULT_ESCALATION]


async def check_escalation_references(session: AsyncSession, tenant_id: int,
                                      escalation: list[dict[str, Any]]) -> None:
    """Raise NotFound naming the field when a reassign action's team is not the
    tenant's."""
    for index, action in enumerate(escalation):
        if action["action"] == EscalationAction.REASSIGN:
            try:
                await access_team(session, tenant_id, action["team_id"])
            except NotFound as error:
                raise NotFound(error.message, field=f"escalation[{index}].team_id") from None


def raised_priority(current: Priority, to: str | None) -> Priority:
    """Return the priority one step above `current`, or `to` when that is higher; never
    a lower one."""
    rank = PRIORITY_ORDER.index(current)
    if to is None:
        return PRIORITY_ORDER[min(rank + 1, len(PRIORITY_ORDER) - 1)]
    requested = Priority(to)
    return requested if PRIORITY_ORDER.index(requested) > rank else current


def _check_action(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"Invalid action {item!r}: send an object such as "
                           '{"action": "notify"}.', field=where)
    action = check_choice(EscalationAction, item.get("action"), field=f"{where}.action")
    unknown = sorted(str(key) for key in item if key != "action"
                     and key not in _ACTION_KEYS[action])
    if unknown:
        raise InvalidInput(f"Unknown field {unknown[0]!r} for the action {action.value!r}; "
                           f"it takes {sorted(_ACTION_KEYS[action]) or 'no other field'}.",
                           field=f"{where}.{unknown[0]}")
    if action is EscalationAction.RAISE_PRIORITY:
        priority = item.get("priority")
        if priority is None:
            return {"action": action.value}
        return {"action": action.value,
                "priority": check_choice(Priority, priority, field=f"{where}.priority").value}
    if action is EscalationAction.REASSIGN:
        if item.get("team_id") is None:
            raise InvalidInput("The action 'reassign' needs team_id: the team that takes "
                               "the ticket.", field=f"{where}.team_id")
        return {"action": action.value, "team_id": check_id(item.get("team_id"),
                                                            field=f"{where}.team_id")}
    return {"action": action.value}
