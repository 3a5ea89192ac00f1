"""Picking the agent of a team who gets a ticket: round robin or fewest open tickets.

Only active agents and admins of the team who are not marked away can be picked. Ties
go to the lower user id, so the same state always picks the same agent.

Every new ticket with a team needs the team's name, strategy and available agents, so
`team_plans` keeps them in the configuration cache; the triggers of the migrations
ticketcloud_0020 (teams, members, away marks) and portal_0010 (users) give the
workspace a new version whenever one of them changes. The round-robin cursor changes
with every pick, so it is read from the team's row each time instead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import (
    NO_CONFIG_CHANGE,
    USERS,
    NotFound,
    UserRecord,
    cached_config,
    core_connection,
    find_users,
)
from ticketcloud.checks import check_id
from ticketcloud.models import AgentProfile, AssignmentStrategy, Team, TeamMember, Ticket
from ticketcloud.status import UNRESOLVED
from ticketcloud.teams import AGENT_ROLES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pick:
    """The agent picked, or None when the ticket stays in the team's queue, and why."""

    agent: UserRecord | None
    reason: str


@dataclass(frozen=True)
class TeamPlan:
    """A team's assignment settings, with the members who can take a ticket now (active
    agents and admins not marked away), ordered by user id."""

    id: int
    name: str
    strategy: AssignmentStrategy
    available: tuple[UserRecord, ...]


# The tables that `team_plans` reads, each with version triggers.
_PLAN_TABLES = (Team, TeamMember, AgentProfile, USERS)
_TEAMS = select(Team.id, Team.name, Team.strategy).where(  # type: ignore[call-overload]
    Team.tenant_id == bindparam("tenant_id"))
_MEMBERS_PRESENT = (
    select(TeamMember.team_id, TeamMember.user_id)  # type: ignore[call-overload]
    .outerjoin(AgentProfile, col(AgentProfile.user_id) == TeamMember.user_id)
    .where(TeamMember.tenant_id == bindparam("tenant_id"),
           func.coalesce(AgentProfile.away, False).is_(False))
    .order_by(col(TeamMember.user_id)))


async def team_plans(session: AsyncSession, tenant_id: int) -> dict[int, TeamPlan]:
    """Return the workspace's teams as `TeamPlan`s by team id, from the configuration
    cache. Do not change the dict returned, because the cache shares it."""
    return await cached_config(session, tenant_id, "ticketcloud.team_plans", _load_plans,
                               tables=_PLAN_TABLES)


async def team_plan(session: AsyncSession, tenant_id: int, team_id: object) -> TeamPlan:
    """Return one team of the workspace as a `TeamPlan`. Raises NotFound for another
    workspace's team, as `access_team` does."""
    plan = (await team_plans(session, tenant_id)).get(check_id(team_id, field="team_id"))
    if plan is None:
        raise NotFound(f"Team {team_id!r} not found.", field="team_id")
    return plan


async def _load_plans(session: AsyncSession, tenant_id: int) -> dict[int, TeamPlan]:
    connection = await core_connection(session)
    params = {"tenant_id": tenant_id}
    teams = (await connection.execute(_TEAMS, params)).all()
    present: defaultdict[int, list[int]] = defaultdict(list)
    for team_id, user_id in (await connection.execute(_MEMBERS_PRESENT, params)).all():
        present[team_id].append(user_id)
    member_ids = {user_id for members in present.values() for user_id in members}
    agents = {user.id: user
              for user in await find_users(session, tenant_id, ids=member_ids, roles=AGENT_ROLES)
              if user.is_active}
    return {team_id: TeamPlan(id=team_id, name=name, strategy=AssignmentStrategy(strategy),
                              available=tuple(agents[user_id] for user_id in present[team_id]
                                              if user_id in agents))
            for team_id, name, strategy in teams}


async def pick_agent(session: AsyncSession, tenant_id: int, team: TeamPlan) -> Pick:
    """Pick an agent of `team` by its strategy. Round robin stores its pick on the team,
    so call this inside the transaction that assigns the ticket."""
    candidates = list(team.available)
    if not candidates:
        logger.info("Team %s of tenant %s has no available agent; the ticket stays in its "
                    "queue", team.id, tenant_id)
        return Pick(None, f"Nobody in team {team.name} is available; the ticket waits in "
                          "the team's queue")
    if team.strategy is AssignmentStrategy.LEAST_OPEN:
        return await _least_open(session, tenant_id, team, candidates)
    return await _round_robin(session, team, candidates)


# Core statements, because ORM-enabled ones would flush the unit of work first. FOR
# UPDATE locks the team's row until the commit on PostgreSQL, so that two tickets
# assigned at once cannot both read the same cursor. SQLite ignores it, because there
# the transaction has had the write lock since BEGIN. The cursor is left out of the
# team's version triggers, so moving it keeps the versions the transaction read.
_READ_CURSOR = (select(Team.round_robin_cursor)  # type: ignore[call-overload]
                .where(Team.id == bindparam("team")).with_for_update())
_MOVE_CURSOR = (update(Team.__table__)  # type: ignore[attr-defined]
                .where(Team.__table__.c.id == bindparam("team"))  # type: ignore[attr-defined]
                .values(round_robin_cursor=bindparam("cursor"))
                .execution_options(**NO_CONFIG_CHANGE))


async def _round_robin(session: AsyncSession, team: TeamPlan,
                       candidates: list[UserRecord]) -> Pick:
    connection = await core_connection(session)
    cursor = (await connection.execute(_READ_CURSOR, {"team": team.id})).scalar()
    after_cursor = [user for user in candidates if cursor is None or user.id > cursor]
    agent = after_cursor[0] if after_cursor else candidates[0]
    await connection.execute(_MOVE_CURSOR, {"team": team.id, "cursor": agent.id})
    return Pick(agent, f"Round robin in team {team.name} picked {agent.name}")


async def _least_open(session: AsyncSession, tenant_id: int, team: TeamPlan,
                      candidates: list[UserRecord]) -> Pick:
    statement = (
        select(Ticket.assignee_id, func.count())  # type: ignore[call-overload]
        .where(Ticket.tenant_id == tenant_id,
               col(Ticket.assignee_id).in_([user.id for user in candidates]),
               col(Ticket.status).in_(sorted(UNRESOLVED)))
        .group_by(col(Ticket.assignee_id))
    )
    rows = (await (await core_connection(session)).execute(statement)).all()
    open_counts = {user_id: count for user_id, count in rows}
    agent = min(candidates, key=lambda user: (open_counts.get(user.id, 0), user.id))
    count = open_counts.get(agent.id, 0)
    return Pick(agent, f"{agent.name} had the fewest open tickets ({count}) in team "
                       f"{team.name}")
