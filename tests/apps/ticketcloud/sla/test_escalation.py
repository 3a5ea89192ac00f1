"""SLA escalation: checking a policy's actions, and what a breach does to the ticket."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from portal.db import Database
from portal.events.model import Event
from portal.sdk import AppContext, InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import Workspace, add_team, history_of, reload
from tests.apps.ticketcloud.sla.scanner_support import (
    add_round_the_clock_policy,
    assigned_ticket,
    sla_events,
)
from ticketcloud.models import Priority, Ticket
from ticketcloud.sla.escalation_actions import check_escalation, raised_priority
from ticketcloud.sla.policies import do_create_policy
from ticketcloud.sla.scanner import do_scan
from ticketcloud.teams import do_add_member, do_set_away


@pytest.mark.parametrize(("value", "field"), [
    ("notify", "escalation"),
    ([{"action": "explode"}], "escalation[0].action"),
    ([{"action": "reassign"}], "escalation[0].team_id"),
    ([{"action": "reassign", "team_id": "x"}], "escalation[0].team_id"),
    ([{"action": "raise_priority", "priority": "asap"}], "escalation[0].priority"),
    ([{"action": "notify", "team_id": 3}], "escalation[0].team_id"),
    ([{"action": "notify"}, {"action": "notify"}], "escalation[1].action"),
    (["notify"], "escalation[0]"),
])
def test_check_escalation_rejects(value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_escalation(value)

    assert caught.value.field == field


def test_check_escalation_defaults_to_notify() -> None:
    assert check_escalation(None) == [{"action": "notify"}]
    assert check_escalation([]) == [{"action": "notify"}]


def test_check_escalation_keeps_actions_in_order() -> None:
    checked = check_escalation([{"action": "reassign", "team_id": 4},
                                {"action": "raise_priority", "priority": "urgent"}])

    assert checked == [{"action": "reassign", "team_id": 4},
                       {"action": "raise_priority", "priority": "urgent"}]


@pytest.mark.parametrize(("current", "to", "expected"), [
    (Priority.LOW, None, Priority.NORMAL),
    (Priority.HIGH, None, Priority.URGENT),
    (Priority.URGENT, None, Priority.URGENT),
    (Priority.LOW, "high", Priority.HIGH),
    (Priority.URGENT, "high", Priority.URGENT),
])
def test_raised_priority_never_lowers(current: Priority, to: str | None,
                                      expected: Priority) -> None:
    assert raised_priority(current, to) is expected


async def test_policy_rejects_other_tenants_team(db: Database, workspace: Workspace,
                                                 other_workspace: Workspace) -> None:
    team = await add_team(db, other_workspace, "Theirs", members=[])
    data: dict[str, Any] = {"name": "Escalate", "first_response_minutes": 10,
                            "escalation": [{"action": "reassign", "team_id": team.id}]}

    with pytest.raises(NotFound) as caught:
        async with db.transaction() as session:
            await do_create_policy(session, workspace.tenant_id, data)

    assert caught.value.field == "escalation[0].team_id"


async def test_breach_raises_priority_with_history(db: Database, context: AppContext,
                                                   workspace: Workspace,
                                                   published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace,
                                     escalation=[{"action": "raise_priority"}])
    ticket = await assigned_ticket(context, workspace)

    await do_scan(context, ticket.created_at + timedelta(minutes=30))
    after = await reload(db, ticket)
    entry = (await history_of(db, ticket))[-1]
    breach = sla_events(published)[0]
    updated = [event for event in published if event.topic == "ticketcloud.ticket.updated"]

    assert after.priority is Priority.HIGH
    assert after.version == ticket.version + 1
    assert (entry.field, entry.old_value, entry.new_value) == ("priority", "normal", "high")
    assert "SLA policy 'Round the clock'" in entry.reason
    assert "first response target breached" in entry.reason
    assert breach.payload["escalation"] == {"priority": {"old": "normal", "new": "high"}}
    assert breach.payload["priority"] == "high"
    assert updated[-1].payload["changes"] == {"priority": {"old": "normal", "new": "high"}}


async def test_breach_raises_priority_to_given(db: Database, context: AppContext,
                                               workspace: Workspace) -> None:
    await add_round_the_clock_policy(
        db, workspace, escalation=[{"action": "raise_priority", "priority": "urgent"}])
    ticket = await assigned_ticket(context, workspace)

    await do_scan(context, ticket.created_at + timedelta(minutes=30))

    assert (await reload(db, ticket)).priority is Priority.URGENT


async def test_breach_reassigns_through_team(db: Database, context: AppContext,
                                             workspace: Workspace,
                                             published: list[Event]) -> None:
    escalations = await add_team(db, workspace, "Escalations",
                                 members=[workspace.agent_id(2)])
    await add_round_the_clock_policy(
        db, workspace, escalation=[{"action": "reassign", "team_id": escalations.id}])
    ticket = await assigned_ticket(context, workspace, agent=0)

    await do_scan(context, ticket.created_at + timedelta(minutes=30))
    after = await reload(db, ticket)
    fields = [(entry.field, entry.new_value) for entry in await history_of(db, ticket)][-3:]
    assigned = [event for event in published if event.topic == "ticketcloud.ticket.assigned"]
    breach = sla_events(published)[0]

    assert after.team_id == escalations.id
    assert after.assignee_id == workspace.agent_id(2)
    assert fields == [("team", "Escalations"), ("assignee", None),
                      ("assignee", workspace.agents[2].name)]
    assert assigned[-1].audience.users == {workspace.agent_id(2)}
    assert breach.payload["escalation"]["team_id"] == {"old": None, "new": escalations.id}
    # The alert goes to the ticket as escalation left it: the new assignee.
    assert breach.audience.users == {workspace.agent_id(2)}


async def test_breach_skips_deleted_team(db: Database, context: AppContext,
                                         workspace: Workspace,
                                         published: list[Event]) -> None:
    doomed = await add_team(db, workspace, "Doomed", members=[])
    await add_round_the_clock_policy(
        db, workspace, escalation=[{"action": "reassign", "team_id": doomed.id}])
    async with db.transaction() as session:
        team = await session.get(type(doomed), doomed.id)
        await session.delete(team)
    ticket = await assigned_ticket(context, workspace)

    result = await do_scan(context, ticket.created_at + timedelta(minutes=30))
    after: Ticket = await reload(db, ticket)

    assert result.breaches == 1
    assert after.team_id is None
    assert after.version == ticket.version
    assert sla_events(published)[0].payload["escalation"] == {}


async def test_breach_alerts_new_team_when_nobody_free(db: Database, context: AppContext,
                                                       workspace: Workspace,
                                                       published: list[Event]) -> None:
    escalations = await add_team(db, workspace, "Escalations", members=[])
    async with db.transaction() as session:
        await do_add_member(session, workspace.tenant_id, escalations.id,
                            workspace.agent_id(1), is_lead=True)
        await do_set_away(session, workspace.tenant_id, workspace.agent_id(1), True)
    await add_round_the_clock_policy(
        db, workspace, escalation=[{"action": "reassign", "team_id": escalations.id}])
    ticket = await assigned_ticket(context, workspace, agent=0)

    await do_scan(context, ticket.created_at + timedelta(minutes=30))
    after = await reload(db, ticket)
    breach = sla_events(published)[0]

    assert after.assignee_id is None
    assert breach.audience.users == {workspace.agent_id(1)}
    assert breach.audience.roles == frozenset()
