"""The SLA scanner: warning then breach, each exactly once across restarts and racing
processes, audiences and toasts, and no event for a paused target."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from portal.db import Database
from portal.events.model import Event
from portal.sdk import AppContext, Role, utcnow
from tests.apps.ticketcloud.conftest import Rollback, Workspace, add_team, create_ticket
from tests.apps.ticketcloud.sla.scanner_support import (
    add_round_the_clock_policy,
    assigned_ticket,
    first_target,
    second_context,
    sla_events,
)
from ticketcloud.models import TargetState, Ticket
from ticketcloud.sla.alerts import Alert
from ticketcloud.sla.scanner import _claim, _publish_batch, do_scan
from ticketcloud.sla.targets import sync_targets
from ticketcloud.status import Status
from ticketcloud.teams import do_set_lead
from ticketcloud.updates import set_status


async def test_scan_publishes_warning_then_breach(db: Database, context: AppContext,
                                                  workspace: Workspace,
                                                  published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace)
    start = ticket.created_at

    early = await do_scan(context, start + timedelta(minutes=4))
    warned = await do_scan(context, start + timedelta(minutes=6))
    breached = await do_scan(context, start + timedelta(minutes=11))
    events = sla_events(published)

    assert (early.warnings, early.breaches) == (0, 0)
    assert (warned.warnings, warned.breaches) == (1, 0)
    assert (breached.warnings, breached.breaches) == (0, 1)
    assert [event.topic for event in events] == ["ticketcloud.sla.warning",
                                                 "ticketcloud.sla.breached"]
    assert events[1].payload["number"] == ticket.number
    assert events[1].payload["target"]["kind"] == "first_response"
    assert events[1].payload["escalation"] == {}


async def test_scan_breach_sets_both_flags(db: Database, context: AppContext,
                                           workspace: Workspace,
                                           published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace)

    # The first pass runs after the due time: a breach, and no late warning.
    result = await do_scan(context, ticket.created_at + timedelta(minutes=30))
    again = await do_scan(context, ticket.created_at + timedelta(minutes=31))
    target = await first_target(db, ticket)

    assert (result.warnings, result.breaches) == (0, 1)
    assert (again.warnings, again.breaches) == (0, 0)
    assert target.breach_published
    assert target.warning_published
    assert [event.topic for event in sla_events(published)] == ["ticketcloud.sla.breached"]


async def test_scan_once_across_restart(db: Database, context: AppContext,
                                        workspace: Workspace, published: list[Event],
                                        tmp_path: Path) -> None:
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace)
    later = ticket.created_at + timedelta(minutes=30)
    await do_scan(context, later)

    after_restart: list[Event] = []
    async with second_context(db, tmp_path / "restarted", after_restart) as restarted:
        result = await do_scan(restarted, later + timedelta(minutes=1))

    assert (result.warnings, result.breaches) == (0, 0)
    assert sla_events(after_restart) == []
    assert len(sla_events(published)) == 1


async def test_scan_after_crash_publishes_on_next_pass(
        db: Database, context: AppContext, workspace: Workspace, published: list[Event],
        tmp_path: Path) -> None:
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace)
    later = ticket.created_at + timedelta(minutes=30)
    # A process that dies mid-pass commits neither the flag nor the staged event.
    with pytest.raises(Rollback):
        async with context.transaction() as session:
            read, claimed = await _publish_batch(context, session, Alert.BREACHED, later, 10)
            raise Rollback

    after_restart: list[Event] = []
    async with second_context(db, tmp_path / "restarted", after_restart) as restarted:
        result = await do_scan(restarted, later)

    assert (read, claimed) == (1, 1)
    assert sla_events(published) == []
    assert result.breaches == 1
    assert [event.topic for event in sla_events(after_restart)] == ["ticketcloud.sla.breached"]


async def test_scan_racing_processes_publish_each_once(
        db: Database, context: AppContext, workspace: Workspace, published: list[Event],
        tmp_path: Path) -> None:
    await add_round_the_clock_policy(db, workspace)
    tickets = [await assigned_ticket(context, workspace, subject=f"Outage {index}")
               for index in range(12)]
    later = max(ticket.created_at for ticket in tickets) + timedelta(minutes=30)

    other_events: list[Event] = []
    async with second_context(db, tmp_path / "other", other_events) as other:
        first, second = await asyncio.gather(do_scan(context, later, batch=3),
                                             do_scan(other, later, batch=3))
    events = sla_events(published) + sla_events(other_events)
    per_target = Counter(event.payload["target_id"] for event in events)

    assert first.breaches + second.breaches == len(tickets)
    assert len(per_target) == len(tickets)
    assert set(per_target.values()) == {1}


async def test_claim_fails_after_other_pass(db: Database, context: AppContext,
                                            workspace: Workspace) -> None:
    # On PostgreSQL two passes can read the same target before either claims it; the
    # conditional UPDATE must then let only the first one publish.
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace)
    later = ticket.created_at + timedelta(minutes=30)
    stale = await first_target(db, ticket)
    await do_scan(context, later)

    async with context.transaction() as session:
        won = await _claim(session, Alert.BREACHED, stale, later)

    assert won is False


async def test_scan_never_fires_for_paused_target(db: Database, context: AppContext,
                                                  workspace: Workspace,
                                                  published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        # Waiting on the customer from the second minute on pauses the clock.
        set_status(loaded, Status.PENDING, ticket.created_at + timedelta(minutes=2))
        session.add(loaded)
        await sync_targets(session, loaded, ticket.created_at + timedelta(minutes=2))

    result = await do_scan(context, ticket.created_at + timedelta(days=30))
    target = await first_target(db, ticket)

    assert target.state is TargetState.PAUSED
    assert (result.warnings, result.breaches) == (0, 0)
    assert sla_events(published) == []


async def test_scan_audience_assignee_and_leads(db: Database, context: AppContext,
                                                workspace: Workspace,
                                                published: list[Event]) -> None:
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(1),
                                                              workspace.agent_id(2)])
    async with db.transaction() as session:
        await do_set_lead(session, workspace.tenant_id, team.id, workspace.agent_id(2),
                          is_lead=True)
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace, agent=0)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        loaded.team_id = team.id
        session.add(loaded)

    await do_scan(context, utcnow() + timedelta(minutes=30))
    breach = sla_events(published)[0]

    assert breach.audience.users == {workspace.agent_id(0), workspace.agent_id(2)}
    assert breach.audience.roles == frozenset()


async def test_scan_audience_unassigned_team(db: Database, context: AppContext,
                                             workspace: Workspace,
                                             published: list[Event]) -> None:
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(1),
                                                              workspace.agent_id(2)])
    await add_round_the_clock_policy(db, workspace)
    ticket = await create_ticket(context, workspace)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        loaded.team_id = team.id
        session.add(loaded)

    await do_scan(context, utcnow() + timedelta(minutes=30))
    breach = sla_events(published)[0]

    assert breach.audience.users == {workspace.agent_id(1), workspace.agent_id(2)}


async def test_scan_audience_without_team_or_assignee(db: Database, context: AppContext,
                                                      workspace: Workspace,
                                                      published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace)
    await create_ticket(context, workspace)

    await do_scan(context, utcnow() + timedelta(minutes=30))
    breach = sla_events(published)[0]

    assert breach.audience.roles == {Role.ADMIN, Role.AGENT}


async def test_scan_toast_keeps_markup_as_text(db: Database, context: AppContext,
                                               workspace: Workspace,
                                               published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace)
    ticket = await assigned_ticket(context, workspace, subject="<img src=x onerror=alert(1)>")

    await do_scan(context, utcnow() + timedelta(minutes=30))
    toast = sla_events(published)[0].notification

    assert toast is not None
    assert toast["title"] == f"SLA breached on ticket #{ticket.number}"
    assert toast["body"] == "First response is overdue: <img src=x onerror=alert(1)>"
    assert toast["open"] == {"app": "ticketcloud", "window": "ticket",
                             "params": {"ticket": str(ticket.number)}}


async def test_scan_keeps_tenants_apart(db: Database, context: AppContext,
                                        workspace: Workspace, other_workspace: Workspace,
                                        published: list[Event]) -> None:
    await add_round_the_clock_policy(db, workspace)
    await add_round_the_clock_policy(db, other_workspace)
    mine = await assigned_ticket(context, workspace)
    theirs = await assigned_ticket(context, other_workspace)

    await do_scan(context, utcnow() + timedelta(minutes=30))
    by_tenant = {event.tenant_id: event for event in sla_events(published)}

    assert by_tenant[workspace.tenant_id].payload["number"] == mine.number
    assert by_tenant[other_workspace.tenant_id].payload["number"] == theirs.number
    assert by_tenant[other_workspace.tenant_id].audience.users == {
        other_workspace.agent_id(0)}
