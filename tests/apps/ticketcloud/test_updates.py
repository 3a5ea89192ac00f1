"""Agents changing ticket fields: optimistic concurrency, transitions, history, events."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sqlmodel import select

from portal.db import Database
from portal.events.model import Event
from portal.sdk import AppContext, Conflict, Forbidden, InvalidInput, NotFound, Principal
from tests.apps.ticketcloud.conftest import (
    Workspace,
    add_team,
    create_ticket,
    history_of,
    reload,
    topics,
)
from ticketcloud.categories import do_create_category
from ticketcloud.models import Priority, Ticket
from ticketcloud.status import Status
from ticketcloud.updates import do_update_ticket


async def update(context: AppContext, ticket: Ticket, actor: Principal, *, version: object,
                 changes: Mapping[str, object]) -> Ticket:
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        return await do_update_ticket(context, session, loaded, actor=actor,
                                      expected_version=version, changes=changes)


async def test_update_ticket_records_history_per_field(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    team = await add_team(db, workspace, "Technical", members=[])
    async with db.transaction() as session:
        category = await do_create_category(session, workspace.tenant_id, name="Hardware")
    admin = workspace.principal(workspace.admin)

    updated = await update(context, ticket, admin, version=1, changes={
        "status": "open", "priority": "urgent", "category_id": category.id,
        "team_id": team.id, "assignee_id": workspace.agent_id(1),
        "tags": ["Printer", "fire", "printer"]})

    assert updated.version == 2
    assert updated.status is Status.OPEN
    assert updated.priority is Priority.URGENT
    assert updated.tags == ["printer", "fire"]
    history = await history_of(db, ticket)
    assert [(entry.field, entry.old_value, entry.new_value) for entry in history] == [
        ("status", "new", "open"), ("priority", "normal", "urgent"),
        ("category", None, "Hardware"), ("team", None, "Technical"),
        ("assignee", None, "Agent 1"), ("tags", None, "printer, fire")]
    assert {entry.actor_user_id for entry in history} == {admin.user_id}


async def test_update_ticket_events(
        context: AppContext, workspace: Workspace, published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    published.clear()
    agent = workspace.principal(workspace.agents[0])

    await update(context, ticket, agent, version=1,
                 changes={"assignee_id": workspace.agent_id(2), "status": "solved"})

    assert topics(published) == ["ticketcloud.ticket.updated", "ticketcloud.ticket.assigned",
                                 "ticketcloud.ticket.solved"]
    updated, assigned, solved = published
    assert updated.payload["changes"] == {
        "assignee_id": {"old": None, "new": workspace.agent_id(2)},
        "status": {"old": "new", "new": "solved"}}
    assert updated.payload["actor_user_id"] == agent.user_id
    assert updated.payload["version"] == 2
    assert assigned.audience.users == {workspace.agent_id(2)}
    assert assigned.notification is not None
    assert assigned.notification["title"] == f"Ticket #{ticket.number} assigned to you"
    assert solved.payload["status"] == "solved"


async def test_update_ticket_stale_version_conflict(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    first = workspace.principal(workspace.agents[0])
    second = workspace.principal(workspace.agents[1])
    await update(context, ticket, first, version=1, changes={"priority": "high"})
    published.clear()

    with pytest.raises(Conflict) as raised:
        await update(context, ticket, second, version=1, changes={"priority": "low"})

    assert raised.value.code == "stale_version"
    assert raised.value.status == 409
    assert "reload" in raised.value.message
    fresh = await reload(db, ticket)
    assert fresh.priority is Priority.HIGH
    assert fresh.version == 2
    assert len(await history_of(db, ticket)) == 1
    assert published == []


async def test_update_ticket_concurrent_writer_conflict(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    """A ticket loaded before another transaction changed it fails the compare-and-set,
    even though its in-memory version still matches the expected one."""
    ticket = await create_ticket(context, workspace)
    stale = await reload(db, ticket)
    await update(context, ticket, workspace.principal(workspace.agents[0]), version=1,
                 changes={"priority": "high"})

    with pytest.raises(Conflict) as raised:
        async with context.transaction() as session:
            session.add(stale)
            await do_update_ticket(context, session, stale,
                                   actor=workspace.principal(workspace.agents[1]),
                                   expected_version=1, changes={"priority": "low"})

    assert raised.value.code == "stale_version"
    assert (await reload(db, ticket)).priority is Priority.HIGH


async def test_update_ticket_illegal_transition(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    admin = workspace.principal(workspace.admin)

    with pytest.raises(InvalidInput) as raised:
        await update(context, ticket, admin, version=1,
                     changes={"status": "closed", "priority": "high"})

    assert "from new to closed" in raised.value.message
    fresh = await reload(db, ticket)
    assert fresh.version == 1
    assert fresh.priority is Priority.NORMAL


async def test_update_ticket_solve_and_reopen_timestamps(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    admin = workspace.principal(workspace.admin)

    solved = await update(context, ticket, admin, version=1, changes={"status": "solved"})
    reopened = await update(context, ticket, admin, version=2, changes={"status": "open"})
    await update(context, ticket, admin, version=3, changes={"status": "solved"})
    closed = await update(context, ticket, admin, version=4, changes={"status": "closed"})

    assert solved.solved_at is not None
    assert reopened.solved_at is None
    assert closed.closed_at is not None
    assert closed.status is Status.CLOSED


async def test_update_ticket_unchanged_values_no_op(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    published.clear()

    result = await update(context, ticket, workspace.principal(workspace.admin), version=1,
                          changes={"priority": "normal", "tags": []})

    assert result.version == 1
    assert await history_of(db, ticket) == []
    assert published == []


async def test_update_ticket_clears_assignee(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    admin = workspace.principal(workspace.admin)
    await update(context, ticket, admin, version=1,
                 changes={"assignee_id": workspace.agent_id(0)})
    published.clear()

    cleared = await update(context, ticket, admin, version=2, changes={"assignee_id": None})

    assert cleared.assignee_id is None
    assert topics(published) == ["ticketcloud.ticket.updated"]
    last = (await history_of(db, ticket))[-1]
    assert (last.old_value, last.new_value) == ("Agent 0", None)


async def test_update_ticket_customer_forbidden(
        context: AppContext, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(Forbidden):
        await update(context, ticket, workspace.principal(workspace.customer), version=1,
                     changes={"priority": "urgent"})


async def test_update_ticket_other_tenant_actor_not_found(
        context: AppContext, workspace: Workspace, other_workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(NotFound):
        await update(context, ticket, other_workspace.principal(other_workspace.admin),
                     version=1, changes={"priority": "urgent"})


async def test_update_ticket_other_tenants_ids_not_found(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    foreign_team = await add_team(db, other_workspace, "Billing", members=[])
    admin = workspace.principal(workspace.admin)

    for changes in ({"team_id": foreign_team.id},
                    {"assignee_id": other_workspace.agent_id(0)},
                    {"category_id": 4242}):
        with pytest.raises(NotFound):
            await update(context, ticket, admin, version=1, changes=changes)

    assert (await reload(db, ticket)).version == 1


@pytest.mark.parametrize(("changes", "field", "fragment"), [
    ({}, "changes", "Send the fields"),
    ({"subject": "New subject"}, "changes", "Cannot change ['subject']"),
    ({"priority": "asap"}, "priority", "'asap'"),
    ({"status": "done"}, "status", "'done'"),
    ({"tags": "a,b"}, "tags", "list of words"),
    ({"team_id": "1"}, "team_id", "positive integer"),
])
async def test_update_ticket_rejects_invalid_changes(
        context: AppContext, workspace: Workspace, changes: dict[str, object], field: str,
        fragment: str) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(InvalidInput) as raised:
        await update(context, ticket, workspace.principal(workspace.admin), version=1,
                     changes=changes)

    assert raised.value.field == field
    assert fragment in raised.value.message


async def test_update_ticket_customer_as_assignee_rejected(
        context: AppContext, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(InvalidInput) as raised:
        await update(context, ticket, workspace.principal(workspace.admin), version=1,
                     changes={"assignee_id": workspace.customer.id})

    assert "is a customer" in raised.value.message


async def test_update_ticket_version_must_be_integer(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(InvalidInput) as raised:
        await update(context, ticket, workspace.principal(workspace.admin), version="1",
                     changes={"priority": "high"})

    assert raised.value.field == "expected_version"
    async with db.read() as session:
        rows = (await session.exec(select(Ticket))).all()
    assert [row.priority for row in rows] == [Priority.NORMAL]
