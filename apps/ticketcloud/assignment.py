"""Picking the agent of a team who gets a ticket: round robin or fewest open tickets.

Only active agents and admins of the team who are not marked away can be picked. Ties
go to the lower user id, so the same state always picks the same agent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, func, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import UserRecord, core_connection, find_users
from ticketcloud.models import AssignmentStrategy, Team, Ticket
from ticketcloud.status import UNRESOLVED
from ticketcloud.teams import AGENT_ROLES, members_present

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pick:
    """The agent picked, or None when the ticket stays in the team's queue, and why."""

    agent: UserRecord | None
    reason: str


async def available_agents(session: AsyncSession, tenant_id: int, team: Team) -> list[UserRecord]:
    """Return the team's members who can take a ticket now, ordered by user id."""
    assert team.id is not None
    present = await members_present(session, tenant_id, team.id)
    if not present:
        return []
    users = await find_users(session, tenant_id, ids=present, roles=AGENT_ROLES)
    return [user for user in users if user.is_active]


async def pick_agent(session: AsyncSession, tenant_id: int, team: Team) -> Pick:
    """Pick an agent of `team` by its strategy. Round robin stores its pick on the team,
    so call this inside the transaction that assigns the ticket."""
    assert team.id is not None
    # Lock the team row until the commit, so that two tickets assigned at once cannot
    # both read the same round-robin cursor. On SQLite the transaction holds the write
    # lock since BEGIN, so the team as this transaction read it is already current.
    locked = team
    if session.bind is None or session.bind.dialect.name != "sqlite":
        statement = (select(Team).where(Team.id == team.id).with_for_update()
                     .execution_options(populate_existing=True))
        locked = (await session.exec(statement)).one()
    candidates = await available_agents(session, tenant_id, locked)
    if not candidates:
        logger.info("Team %s of tenant %s has no available agent; the ticket stays in its "
                    "queue", team.id, tenant_id)
        return Pick(None, f"Nobody in team {locked.name} is available; the ticket waits in "
                          "the team's queue")
    if locked.strategy is AssignmentStrategy.LEAST_OPEN:
        return await _least_open(session, tenant_id, locked, candidates)
    return await _round_robin(session, locked, candidates)


# A Core UPDATE, because a change to the ORM row would cost a flush of the unit of work.
_MOVE_CURSOR = (update(Team.__table__)  # type: ignore[attr-defined]
                .where(Team.__table__.c.id == bindparam("team"))  # type: ignore[attr-defined]
                .values(round_robin_cursor=bindparam("cursor")))


async def _round_robin(session: AsyncSession, team: Team, candidates: list[UserRecord]) -> Pick:
    cursor = team.round_robin_cursor
    after_cursor = [user for user in candidates if cursor is None or user.id > cursor]
    agent = after_cursor[0] if after_cursor else candidates[0]
    await (await core_connection(session)).execute(_MOVE_CURSOR, {"team": team.id,
                                                              "cursor": agent.id})
    set_committed_value(team, "round_robin_cursor", agent.id)
    return Pick(agent, f"Round robin in team {team.name} picked {agent.name}")


async def _least_open(session: AsyncSession, tenant_id: int, team: Team,
                      candidates: list[UserRecord]) -> Pick:
    statement = (
        select(Ticket.assignee_id, func.count())
        .where(Ticket.tenant_id == tenant_id,
               col(Ticket.assignee_id).in_([user.id for user in candidates]),
               col(Ticket.status).in_(sorted(UNRESOLVED)))
        .group_by(col(Ticket.assignee_id))
    )
    open_counts = {user_id: count for user_id, count in (await session.exec(statement)).all()}
    agent = min(candidates, key=lambda user: (open_counts.get(user.id, 0), user.id))
    count = open_counts.get(agent.id, 0)
    return Pick(agent, f"{agent.name} had the fewest open tickets ({count}) in team "
                       f"{team.name}")
