"""Team assignment: round robin, fewest open tickets, away and inactive agents, and the
team queue when no agent is available."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from portal.db import Database
from portal.events.model import Event
from portal.models import User
from portal.sdk import AppContext, InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import (
    Workspace,
    add_rule,
    add_team,
    create_ticket,
    history_of,
    topics,
)
from ticketcloud.assignment import pick_agent, team_plan
from ticketcloud.models import Channel, Team, Ticket
from ticketcloud.status import Status
from ticketcloud.teams import do_add_member, do_remove_member, do_set_away

_numbers = itertools.count(1000)


async def pick(db: Database, workspace: Workspace, team: Team) -> int | None:
    async with db.transaction() as session:
        plan = await team_plan(session, workspace.tenant_id, team.id)
        chosen = await pick_agent(session, workspace.tenant_id, plan)
    return chosen.agent.id if chosen.agent is not None else None


async def set_away(db: Database, workspace: Workspace, user_id: int, away: bool) -> None:
    async with db.transaction() as session:
        await do_set_away(session, workspace.tenant_id, user_id, away)


async def add_tickets(db: Database, workspace: Workspace, assignee_id: int, status: Status,
                      count: int) -> None:
    async with db.transaction() as session:
        for _ in range(count):
            session.add(Ticket(tenant_id=workspace.tenant_id, number=next(_numbers),
                               subject="Load", requester_email="load@example.com",
                               channel=Channel.WEB, status=status, assignee_id=assignee_id))


async def test_round_robin_rotates_through_members(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(3)]
    team = await add_team(db, workspace, "Support", members=list(reversed(ids)))

    picks = [await pick(db, workspace, team) for _ in range(4)]

    assert picks == [ids[0], ids[1], ids[2], ids[0]]


async def test_round_robin_cursor_persisted_on_team(db: Database, workspace: Workspace) -> None:
    team = await add_team(db, workspace, "Support",
                          members=[workspace.agent_id(0), workspace.agent_id(1)])

    await pick(db, workspace, team)

    async with db.read() as session:
        stored = await session.get(Team, team.id)
    assert stored is not None
    assert stored.round_robin_cursor == workspace.agent_id(0)


async def test_round_robin_skips_away_agent(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(3)]
    team = await add_team(db, workspace, "Support", members=ids)
    await set_away(db, workspace, ids[1], True)

    away_picks = [await pick(db, workspace, team) for _ in range(3)]
    await set_away(db, workspace, ids[1], False)
    back_pick = await pick(db, workspace, team)

    assert away_picks == [ids[0], ids[2], ids[0]]
    assert back_pick == ids[1]


async def test_round_robin_skips_inactive_user(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(2)]
    team = await add_team(db, workspace, "Support", members=ids)
    async with db.transaction() as session:
        user = await session.get(User, ids[0])
        assert user is not None
        user.is_active = False
        session.add(user)

    assert [await pick(db, workspace, team) for _ in range(2)] == [ids[1], ids[1]]


async def test_round_robin_cursor_of_removed_member(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(3)]
    team = await add_team(db, workspace, "Support", members=ids)
    assert team.id is not None
    await pick(db, workspace, team)
    await pick(db, workspace, team)
    async with db.transaction() as session:
        await do_remove_member(session, workspace.tenant_id, team.id, ids[1])

    assert await pick(db, workspace, team) == ids[2]


async def test_least_open_picks_fewest_unresolved(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(3)]
    team = await add_team(db, workspace, "Support", members=ids, strategy="least_open")
    await add_tickets(db, workspace, ids[0], Status.OPEN, 2)
    await add_tickets(db, workspace, ids[1], Status.PENDING, 1)
    await add_tickets(db, workspace, ids[1], Status.ON_HOLD, 1)
    await add_tickets(db, workspace, ids[2], Status.NEW, 1)
    await add_tickets(db, workspace, ids[2], Status.SOLVED, 5)
    await add_tickets(db, workspace, ids[2], Status.CLOSED, 5)

    assert await pick(db, workspace, team) == ids[2]


async def test_least_open_tie_goes_to_lower_user_id(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(3)]
    team = await add_team(db, workspace, "Support", members=list(reversed(ids)),
                          strategy="least_open")
    await add_tickets(db, workspace, ids[0], Status.OPEN, 1)

    assert await pick(db, workspace, team) == ids[1]


async def test_least_open_skips_away_agent(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(2)]
    team = await add_team(db, workspace, "Support", members=ids, strategy="least_open")
    await add_tickets(db, workspace, ids[1], Status.OPEN, 3)
    await set_away(db, workspace, ids[0], True)

    assert await pick(db, workspace, team) == ids[1]


async def test_pick_falls_back_to_team_queue(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(2)]
    team = await add_team(db, workspace, "Support", members=ids)
    for user_id in ids:
        await set_away(db, workspace, user_id, True)

    assert await pick(db, workspace, team) is None


async def test_pick_empty_team_falls_back(db: Database, workspace: Workspace) -> None:
    team = await add_team(db, workspace, "Nobody", members=[], strategy="least_open")

    assert await pick(db, workspace, team) is None


async def test_new_ticket_waits_in_team_queue(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    team = await add_team(db, workspace, "Billing", members=[workspace.agent_id(0)])
    await set_away(db, workspace, workspace.agent_id(0), True)
    await add_rule(db, workspace, {
        "name": "Everything to Billing",
        "conditions": [{"field": "channel", "operator": "equals", "value": "web"}],
        "actions": [{"type": "set_team", "value": team.id}]})

    ticket = await create_ticket(context, workspace)

    assert ticket.team_id == team.id
    assert ticket.assignee_id is None
    last = (await history_of(db, ticket))[-1]
    assert (last.field, last.old_value, last.new_value) == ("assignee", None, None)
    assert last.reason == ("Nobody in team Billing is available; the ticket waits in the "
                           "team's queue")
    assert topics(published) == ["ticketcloud.ticket.created"]


async def test_add_member_rejects_customer(db: Database, workspace: Workspace) -> None:
    team = await add_team(db, workspace, "Support", members=[])
    assert team.id is not None

    with pytest.raises(InvalidInput) as raised:
        async with db.transaction() as session:
            await do_add_member(session, workspace.tenant_id, team.id, workspace.customer.id)

    assert "is a customer" in raised.value.message


# Changes made with plain SQL, as another portal process or an admin at the database's
# prompt would make them. The second agent would be next in round robin.
SQL_CHANGES = {
    "member removed": "DELETE FROM ticketcloud_team_member WHERE user_id = :user",
    "user deactivated": "UPDATE portal_user SET is_active = false WHERE id = :user",
    "user made customer": "UPDATE portal_user SET role = 'customer' WHERE id = :user",
    "agent away": "INSERT INTO ticketcloud_agent_profile (user_id, tenant_id, away, updated_at) "
                  "VALUES (:user, :tenant, true, CURRENT_TIMESTAMP)",
}


@pytest.mark.parametrize("change", sorted(SQL_CHANGES))
async def test_cached_team_follows_sql_change(db: Database, workspace: Workspace,
                                              change: str) -> None:
    """Assignment reads teams from the configuration cache; the triggers make a change
    by any path reach the next pick."""
    ids = [workspace.agent_id(index) for index in range(2)]
    team = await add_team(db, workspace, "Support", members=ids)
    assert await pick(db, workspace, team) == ids[0]

    async with db.engine.begin() as connection:
        await connection.execute(text(SQL_CHANGES[change]),
                                 {"user": ids[1], "tenant": workspace.tenant_id})

    assert await pick(db, workspace, team) == ids[0]


async def test_cached_team_follows_strategy_and_name(db: Database, workspace: Workspace) -> None:
    ids = [workspace.agent_id(index) for index in range(2)]
    team = await add_team(db, workspace, "Support", members=ids)
    await add_tickets(db, workspace, ids[0], Status.OPEN, 1)
    assert await pick(db, workspace, team) == ids[0]

    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE ticketcloud_team SET strategy = 'least_open', "
                                      "name = 'Care' WHERE id = :team"), {"team": team.id})
    async with db.transaction() as session:
        plan = await team_plan(session, workspace.tenant_id, team.id)
        chosen = await pick_agent(session, workspace.tenant_id, plan)

    assert chosen.agent is not None and chosen.agent.id == ids[1]
    assert chosen.reason == f"{chosen.agent.name} had the fewest open tickets (0) in team Care"


async def test_round_robin_keeps_configuration_version(db: Database,
                                                       workspace: Workspace) -> None:
    """Moving the cursor, which every round-robin pick does, leaves the workspace's
    cached configuration valid; renaming the team does not."""
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(0)])

    async def version() -> int:
        async with db.engine.connect() as connection:
            return int((await connection.execute(text(
                "SELECT version FROM portal_config_version WHERE tenant_id = :tenant"),
                {"tenant": workspace.tenant_id})).scalar_one())

    before = await version()
    await pick(db, workspace, team)
    after_pick = await version()
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE ticketcloud_team SET name = 'Care' WHERE id = :team"),
                                 {"team": team.id})

    assert after_pick == before
    assert await version() != before


async def test_team_of_other_workspace_not_found(db: Database, workspace: Workspace) -> None:
    team = await add_team(db, workspace, "Support", members=[workspace.agent_id(0)])

    with pytest.raises(NotFound):
        async with db.read() as session:
            await team_plan(session, workspace.tenant_id + 1000, team.id)
