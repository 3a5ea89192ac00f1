"""Alerts on agent-set due times: `ticketcloud.ticket.due`, published by the SLA scan once
per due time across passes, restarts and racing processes, to the right audience of the
right workspace, never for a resolved ticket, and again for a new due time."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import text, update
from sqlmodel import col

from portal.db import Database
from portal.events import log
from portal.events.model import Event
from portal.sdk import AppContext, Role, utcnow
from tests.apps.ticketcloud.conftest import (
    Rollback,
    Workspace,
    add_team,
    create_ticket,
    reload,
)
from tests.apps.ticketcloud.sla.scanner_support import assigned_ticket, second_context
from tests.apps.ticketcloud.test_migrations import MANIFEST
from tests.support import ON_POSTGRESQL
from ticketcloud.models import Ticket
from ticketcloud.sla import scanner
from ticketcloud.sla.due_alerts import DUE, claim_due, due_tickets, publish_due_batch
from ticketcloud.sla.scanner import do_scan
from ticketcloud.teams import do_set_lead
from ticketcloud.updates import do_update_ticket


def due_time(hours: float = 1) -> datetime:
    """A due time `hours` from now, to the second as the API stores it."""
    return (utcnow() + timedelta(hours=hours)).replace(microsecond=0)


def due_events(events: list[Event]) -> list[Event]:
    return [event for event in events if event.topic == DUE]


async def update_ticket(context: AppContext, workspace: Workspace, ticket: Ticket,
                        **changes: Any) -> Ticket:
    """Change fields of the ticket as agent 0 does through the API."""
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        return await do_update_ticket(context, session, loaded,
                                      actor=workspace.principal(workspace.agents[0]),
                                      expected_version=loaded.version, changes=changes)


async def ticket_due(context: AppContext, workspace: Workspace, due: datetime, *,
                     subject: str = "Printer on fire", agent: int | None = 0,
                     team_id: int | None = None) -> Ticket:
    """Create a ticket with the due time `due`, assigned to agent number `agent` (None:
    unassigned) and in the team `team_id`."""
    if agent is None:
        ticket = await create_ticket(context, workspace, subject=subject)
    else:
        ticket = await assigned_ticket(context, workspace, subject=subject, agent=agent)
    if team_id is not None:
        ticket = await update_ticket(context, workspace, ticket, team_id=team_id)
    return await update_ticket(context, workspace, ticket, due_at=due)


async def test_due_alert_once_across_two_passes(db: Database, context: AppContext,
                                                workspace: Workspace,
                                                published: list[Event]) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)

    early = await do_scan(context, due - timedelta(seconds=1))
    first = await do_scan(context, due + timedelta(seconds=1))
    second = await do_scan(context, due + timedelta(minutes=5))
    events = due_events(published)

    assert (early.due, first.due, second.due) == (0, 1, 0)
    assert len(events) == 1
    assert events[0].tenant_id == workspace.tenant_id
    assert events[0].payload["number"] == ticket.number
    assert events[0].payload["due_at"] == due.isoformat().replace("+00:00", "Z")
    assert (await reload(db, ticket)).due_alerted


async def test_due_alert_payload_matches_manifest(context: AppContext, workspace: Workspace,
                                                  published: list[Event]) -> None:
    due = due_time()
    await ticket_due(context, workspace, due)
    declared = {event["topic"]: event for event in json.loads(MANIFEST.read_text())["events"]}

    await do_scan(context, due + timedelta(seconds=1))
    event = due_events(published)[0]

    jsonschema.validate(event.payload, declared[DUE]["payload"])
    assert event.payload["status"] == "new"
    assert event.payload["assignee_id"] == workspace.agent_id(0)


async def test_due_alert_toast_opens_ticket(context: AppContext, workspace: Workspace,
                                            published: list[Event]) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due,
                              subject="<img src=x onerror=alert(1)>")

    await do_scan(context, due + timedelta(seconds=1))
    toast = due_events(published)[0].notification

    assert toast is not None
    assert toast["title"] == f"Ticket #{ticket.number} is past its due time"
    assert toast["body"] == "<img src=x onerror=alert(1)>"
    assert toast["open"] == {"app": "ticketcloud", "window": "ticket",
                             "params": {"ticket": str(ticket.number)}}


async def test_due_alert_audience_assignee_alone(db: Database, context: AppContext,
                                                 workspace: Workspace,
                                                 published: list[Event]) -> None:
    # Unlike an SLA breach, the agent's own promise does not go to the team's leads.
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(1),
                                                              workspace.agent_id(2)])
    async with db.transaction() as session:
        await do_set_lead(session, workspace.tenant_id, team.id, workspace.agent_id(2),
                          is_lead=True)
    due = due_time()
    await ticket_due(context, workspace, due, agent=0, team_id=team.id)

    await do_scan(context, due + timedelta(seconds=1))
    event = due_events(published)[0]

    assert event.audience.users == {workspace.agent_id(0)}
    assert event.audience.roles == frozenset()


async def test_due_alert_audience_unassigned_team(db: Database, context: AppContext,
                                                  workspace: Workspace,
                                                  published: list[Event]) -> None:
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(1),
                                                              workspace.agent_id(2)])
    due = due_time()
    ticket = await ticket_due(context, workspace, due, agent=None, team_id=team.id)

    await do_scan(context, due + timedelta(seconds=1))
    event = due_events(published)[0]

    assert (await reload(db, ticket)).assignee_id is None
    assert event.audience.users == {workspace.agent_id(1), workspace.agent_id(2)}
    assert event.audience.roles == frozenset()


async def test_due_alert_audience_without_team(context: AppContext, workspace: Workspace,
                                               published: list[Event]) -> None:
    due = due_time()
    await ticket_due(context, workspace, due, agent=None)

    await do_scan(context, due + timedelta(seconds=1))
    event = due_events(published)[0]

    assert event.audience.users == frozenset()
    assert event.audience.roles == {Role.ADMIN, Role.AGENT}


async def test_due_alert_audience_team_without_members(db: Database, context: AppContext,
                                                       workspace: Workspace,
                                                       published: list[Event]) -> None:
    team = await add_team(db, workspace, "Empty", members=[])
    due = due_time()
    await ticket_due(context, workspace, due, agent=None, team_id=team.id)

    await do_scan(context, due + timedelta(seconds=1))
    event = due_events(published)[0]

    assert event.audience.roles == {Role.ADMIN, Role.AGENT}


@pytest.mark.parametrize("statuses", [["solved"], ["solved", "closed"]])
async def test_due_alert_never_for_resolved_ticket(db: Database, context: AppContext,
                                                   workspace: Workspace,
                                                   published: list[Event],
                                                   statuses: list[str]) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    for status in statuses:
        ticket = await update_ticket(context, workspace, ticket, status=status)

    result = await do_scan(context, due + timedelta(days=3))

    assert result.due == 0
    assert due_events(published) == []
    assert not (await reload(db, ticket)).due_alerted


async def test_due_alert_after_reopen_past_due(context: AppContext, workspace: Workspace,
                                               published: list[Event]) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    ticket = await update_ticket(context, workspace, ticket, status="solved")
    await do_scan(context, due + timedelta(minutes=1))

    # Reopened after its due time passed: the next pass alerts, once.
    await update_ticket(context, workspace, ticket, status="open")
    reopened = await do_scan(context, due + timedelta(minutes=2))
    again = await do_scan(context, due + timedelta(minutes=3))

    assert (reopened.due, again.due) == (1, 0)
    assert [event.payload["status"] for event in due_events(published)] == ["open"]


async def test_due_alert_not_repeated_after_solve_and_reopen(
        context: AppContext, workspace: Workspace, published: list[Event]) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    await do_scan(context, due + timedelta(minutes=1))

    ticket = await update_ticket(context, workspace, ticket, status="solved")
    await update_ticket(context, workspace, ticket, status="open")
    result = await do_scan(context, due + timedelta(minutes=2))

    assert result.due == 0
    assert len(due_events(published)) == 1


async def test_due_alert_new_due_time_rearms(db: Database, context: AppContext,
                                             workspace: Workspace,
                                             published: list[Event]) -> None:
    first_due = due_time()
    ticket = await ticket_due(context, workspace, first_due)
    await do_scan(context, first_due + timedelta(seconds=1))

    later_due = first_due + timedelta(hours=2)
    ticket = await update_ticket(context, workspace, ticket, due_at=later_due)
    rearmed = await reload(db, ticket)
    before = await do_scan(context, later_due - timedelta(seconds=1))
    after = await do_scan(context, later_due + timedelta(seconds=1))
    again = await do_scan(context, later_due + timedelta(minutes=5))

    assert not rearmed.due_alerted
    assert (before.due, after.due, again.due) == (0, 1, 0)
    assert [event.payload["due_at"] for event in due_events(published)] == [
        first_due.isoformat().replace("+00:00", "Z"),
        later_due.isoformat().replace("+00:00", "Z")]


async def test_due_alert_past_due_time_alerts_again(context: AppContext,
                                                    workspace: Workspace,
                                                    published: list[Event]) -> None:
    # An agent moves an alerted due time to another time that has passed too: that is a
    # new due time, so it alerts on the next pass.
    first_due = due_time()
    ticket = await ticket_due(context, workspace, first_due)
    await do_scan(context, first_due + timedelta(minutes=10))

    await update_ticket(context, workspace, ticket, due_at=first_due + timedelta(minutes=5))
    result = await do_scan(context, first_due + timedelta(minutes=11))

    assert result.due == 1
    assert len(due_events(published)) == 2


async def test_due_alert_cleared_then_set_again(db: Database, context: AppContext,
                                                workspace: Workspace,
                                                published: list[Event]) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    await do_scan(context, due + timedelta(seconds=1))

    ticket = await update_ticket(context, workspace, ticket, due_at=None)
    cleared = await reload(db, ticket)
    nothing = await do_scan(context, due + timedelta(minutes=1))
    await update_ticket(context, workspace, ticket, due_at=due)
    realerted = await do_scan(context, due + timedelta(minutes=2))

    assert (cleared.due_at, cleared.due_alerted) == (None, False)
    assert (nothing.due, realerted.due) == (0, 1)
    assert len(due_events(published)) == 2


async def test_due_alert_unchanged_due_time_keeps_flag(db: Database, context: AppContext,
                                                       workspace: Workspace) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    await do_scan(context, due + timedelta(seconds=1))

    # Sending the same due time is no change, and changing another field keeps the flag.
    ticket = await update_ticket(context, workspace, ticket, due_at=due, priority="high")

    assert (await reload(db, ticket)).due_alerted


async def test_due_alert_rearm_overwrites_flag_set_since_load(
        db: Database, context: AppContext, workspace: Workspace) -> None:
    # On PostgreSQL a scan may set the flag after the agent's transaction loaded the
    # ticket; the agent's new due time must still clear it. The raw UPDATE below leaves
    # the session's copy of the ticket at false, as that race does.
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    later_due = due + timedelta(hours=1)

    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None and not loaded.due_alerted
        await session.exec(update(Ticket).where(col(Ticket.id) == ticket.id)
                           .values(due_alerted=True)
                           .execution_options(synchronize_session=False))
        await do_update_ticket(context, session, loaded,
                               actor=workspace.principal(workspace.agents[0]),
                               expected_version=loaded.version,
                               changes={"due_at": later_due})

    stored = await reload(db, ticket)
    assert (stored.due_at, stored.due_alerted) == (later_due, False)


async def test_due_alert_claim_fails_after_other_pass(db: Database, context: AppContext,
                                                      workspace: Workspace) -> None:
    # On PostgreSQL two passes can read the same ticket before either claims it; the
    # conditional UPDATE must then let only the first one publish.
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    stale = await reload(db, ticket)
    await do_scan(context, due + timedelta(seconds=1))

    async with context.transaction() as session:
        won = await claim_due(session, stale, due + timedelta(seconds=2))

    assert won is False


async def test_due_alert_claim_fails_after_due_time_changed(
        db: Database, context: AppContext, workspace: Workspace) -> None:
    # A pass that read the old due time must not alert with it once an agent set
    # another one; the next pass reads the new one.
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    stale = await reload(db, ticket)
    await update_ticket(context, workspace, ticket, due_at=due - timedelta(minutes=30))

    async with context.transaction() as session:
        won = await claim_due(session, stale, due + timedelta(seconds=1))

    assert won is False
    assert not (await reload(db, ticket)).due_alerted


async def test_due_alert_claim_fails_after_solve(db: Database, context: AppContext,
                                                 workspace: Workspace) -> None:
    due = due_time()
    ticket = await ticket_due(context, workspace, due)
    stale = await reload(db, ticket)
    await update_ticket(context, workspace, ticket, status="solved")

    async with context.transaction() as session:
        won = await claim_due(session, stale, due + timedelta(seconds=1))

    assert won is False


async def test_due_alert_once_across_restart(context: AppContext, workspace: Workspace,
                                             published: list[Event], tmp_path: Path) -> None:
    due = due_time()
    await ticket_due(context, workspace, due)
    await do_scan(context, due + timedelta(seconds=1))

    after_restart: list[Event] = []
    async with second_context(context.db, tmp_path / "restarted", after_restart) as restarted:
        result = await do_scan(restarted, due + timedelta(minutes=1))

    assert result.due == 0
    assert due_events(after_restart) == []
    assert len(due_events(published)) == 1


async def test_due_alert_after_crash_publishes_on_next_pass(
        context: AppContext, workspace: Workspace, published: list[Event],
        tmp_path: Path) -> None:
    due = due_time()
    await ticket_due(context, workspace, due)
    later = due + timedelta(seconds=1)
    # A process that dies mid-pass commits neither the flag nor the staged event.
    with pytest.raises(Rollback):
        async with context.transaction() as session:
            read, claimed = await publish_due_batch(context, session, later, 10)
            raise Rollback

    after_restart: list[Event] = []
    async with second_context(context.db, tmp_path / "restarted", after_restart) as restarted:
        result = await do_scan(restarted, later)

    assert (read, claimed) == (1, 1)
    assert due_events(published) == []
    assert result.due == 1
    assert len(due_events(after_restart)) == 1


async def test_due_alert_racing_processes_publish_each_once(
        context: AppContext, workspace: Workspace, published: list[Event],
        tmp_path: Path) -> None:
    due = due_time()
    tickets = [await ticket_due(context, workspace, due + timedelta(seconds=index),
                                subject=f"Outage {index}")
               for index in range(12)]
    later = due + timedelta(minutes=1)

    other_events: list[Event] = []
    async with second_context(context.db, tmp_path / "other", other_events) as other:
        first, second = await asyncio.gather(do_scan(context, later, batch=3),
                                             do_scan(other, later, batch=3))
        third = await do_scan(other, later + timedelta(minutes=1))
    events = due_events(published) + due_events(other_events)
    per_ticket = Counter(event.payload["number"] for event in events)

    assert first.due + second.due == len(tickets)
    assert third.due == 0
    assert set(per_ticket) == {ticket.number for ticket in tickets}
    assert set(per_ticket.values()) == {1}


async def test_due_alert_pass_is_bounded(context: AppContext, workspace: Workspace,
                                         published: list[Event],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "MAX_BATCHES", 2)
    due = due_time()
    for index in range(5):
        await ticket_due(context, workspace, due + timedelta(seconds=index),
                         subject=f"Outage {index}")
    later = due + timedelta(minutes=1)

    first = await do_scan(context, later, batch=2)
    second = await do_scan(context, later, batch=2)

    assert (first.due, second.due) == (4, 1)
    assert len(due_events(published)) == 5


async def test_due_alert_keeps_tenants_apart(db: Database, context: AppContext,
                                             workspace: Workspace, other_workspace: Workspace,
                                             published: list[Event]) -> None:
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(1),
                                                              workspace.agent_id(2)])
    due = due_time()
    mine = await ticket_due(context, workspace, due, subject="Acme printer", agent=None,
                            team_id=team.id)
    theirs_assigned = await ticket_due(context, other_workspace, due,
                                       subject="Globex VPN", agent=1)
    theirs_unassigned = await ticket_due(context, other_workspace, due,
                                         subject="Globex mail", agent=None)

    await do_scan(context, due + timedelta(seconds=1))
    by_subject = {event.payload["subject"]: event for event in due_events(published)}
    async with db.read() as session:
        logged = {tenant_id: {event.payload.get("subject")
                              for event in await log.events_after(session, tenant_id, 0)
                              if event.topic == DUE}
                  for tenant_id in (workspace.tenant_id, other_workspace.tenant_id)}

    assert set(by_subject) == {"Acme printer", "Globex VPN", "Globex mail"}
    assert by_subject["Acme printer"].tenant_id == workspace.tenant_id
    assert by_subject["Acme printer"].payload["number"] == mine.number
    assert by_subject["Acme printer"].audience.users == {workspace.agent_id(1),
                                                         workspace.agent_id(2)}
    assert by_subject["Globex VPN"].tenant_id == other_workspace.tenant_id
    assert by_subject["Globex VPN"].payload["number"] == theirs_assigned.number
    assert by_subject["Globex VPN"].audience.users == {other_workspace.agent_id(1)}
    # Every agent and admin of that workspace alone: the event log is per workspace.
    assert by_subject["Globex mail"].tenant_id == other_workspace.tenant_id
    assert by_subject["Globex mail"].payload["number"] == theirs_unassigned.number
    assert by_subject["Globex mail"].audience.roles == {Role.ADMIN, Role.AGENT}
    assert logged == {workspace.tenant_id: {"Acme printer"},
                      other_workspace.tenant_id: {"Globex VPN", "Globex mail"}}


async def query_plan(db: Database, statement: Any) -> str:
    """Return the plan of `statement` as one string: SQLite's EXPLAIN QUERY PLAN, or
    PostgreSQL's EXPLAIN with sequential scans discouraged (the test tables are tiny,
    so PostgreSQL would rightly read them whole)."""
    async with db.transaction() as session:
        connection = await session.connection()
        compiled = statement.compile(dialect=connection.dialect,
                                     compile_kwargs={"render_postcompile": True})
        if ON_POSTGRESQL:
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            params: Any = tuple(compiled.params[name] for name in compiled.positiontup)
            result = await connection.exec_driver_sql("EXPLAIN " + str(compiled), params)
        else:
            params = tuple(str(compiled.params[name]) for name in compiled.positiontup)
            result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                                      params)
        return " ".join(str(row[-1]) for row in result.all())


async def test_due_tickets_query_reads_its_index(db: Database) -> None:
    plan = await query_plan(db, due_tickets(utcnow(), limit=200))

    assert "ix_ticketcloud_ticket_due_alert" in plan
    if ON_POSTGRESQL:
        assert "due_alerted = false" in plan
        assert "due_at <=" in plan
    else:
        assert "due_alerted=? AND status=? AND due_at<?" in plan
        assert "TEMP B-TREE" not in plan
