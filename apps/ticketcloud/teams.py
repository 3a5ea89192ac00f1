"""Teams, their members, and the agents who work tickets."""

from __future__ import annotations

import logging

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import (
    Conflict,
    InvalidInput,
    NotFound,
    Role,
    UserRecord,
    access_row,
    find_users,
    utcnow,
)
from ticketcloud.checks import check_choice, check_id, check_label
from ticketcloud.models import (
    AgentProfile,
    AssignmentStrategy,
    Rating,
    Team,
    TeamMember,
    Ticket,
)
from ticketcloud.references import configuration_naming

logger = logging.getLogger(__name__)

AGENT_ROLES = (Role.ADMIN, Role.AGENT)


async def access_team(session: AsyncSession, tenant_id: int, team_id: object) -> Team:
    """Load a team of the tenant; another tenant's team is not found."""
    try:
        return await access_row(session, Team, tenant_id, check_id(team_id, field="team_id"))
    except NotFound as error:
        error.field = error.field or "team_id"
        raise


async def list_teams(session: AsyncSession, tenant_id: int) -> list[Team]:
    statement = select(Team).where(Team.tenant_id == tenant_id).order_by(col(Team.name))
    return list((await session.exec(statement)).all())


async def do_create_team(
    session: AsyncSession, tenant_id: int, *, name: str,
    strategy: str = AssignmentStrategy.ROUND_ROBIN.value,
) -> Team:
    name = check_label(name)
    await _check_team_name_free(session, tenant_id, name)
    team = Team(tenant_id=tenant_id, name=name,
                strategy=check_choice(AssignmentStrategy, strategy, field="strategy"))
    session.add(team)
    await session.flush()
    logger.info("Created team %s (%s) in tenant %s", team.id, team.strategy, tenant_id)
    return team


async def do_update_team(session: AsyncSession, tenant_id: int, team_id: object, *,
                         name: object = None, strategy: object = None) -> Team:
    """Rename a team or change its assignment strategy; None keeps a field as it is."""
    team = await access_team(session, tenant_id, team_id)
    if name is not None:
        checked = check_label(name)
        if checked != team.name:
            await _check_team_name_free(session, tenant_id, checked)
            team.name = checked
    if strategy is not None:
        team.strategy = check_choice(AssignmentStrategy, strategy, field="strategy")
    session.add(team)
    await session.flush()
    logger.info("Updated team %s of tenant %s: strategy %s", team.id, tenant_id, team.strategy)
    return team


async def do_delete_team(session: AsyncSession, tenant_id: int, team_id: object) -> None:
    """Delete a team and its memberships.

    Raises Conflict (code `team_in_use`) while a ticket or a rating still names the team,
    because both keep it as history, and while a rule or SLA policy names it (see
    `references`).
    """
    team = await access_team(session, tenant_id, team_id)
    tickets = await _count(session, Ticket, Ticket.team_id == team.id, tenant_id)
    ratings = await _count(session, Rating, Rating.team_id == team.id, tenant_id)
    if tickets or ratings:
        raise Conflict(f"Team {team.name!r} is still named by {tickets} tickets and "
                       f"{ratings} ratings; move those tickets to another team first, or "
                       "keep the team.", code="team_in_use", field="team_id")
    naming = await configuration_naming(session, tenant_id, team_id=team.id)
    if naming:
        raise Conflict(f"Team {team.name!r} is named by {', '.join(naming)}; change or "
                       "delete those first.", code="team_in_use", field="team_id")
    # The members go first, in their own statement, because the unit of work may order
    # the team's DELETE before theirs, which the foreign key rejects.
    await session.exec(delete(TeamMember).where(
        col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id) == team.id))
    await session.delete(team)
    await session.flush()
    logger.info("Deleted team %s of tenant %s", team.id, tenant_id)


async def do_set_lead(session: AsyncSession, tenant_id: int, team_id: object, user_id: object,
                      *, is_lead: object) -> TeamMember:
    """Make a member the team's lead or a plain member; a team may have several leads."""
    if not isinstance(is_lead, bool):
        raise InvalidInput(f"is_lead must be true or false, not {is_lead!r}.", field="is_lead")
    team = await access_team(session, tenant_id, team_id)
    checked = check_id(user_id, field="user_id")
    member = (await session.exec(select(TeamMember).where(
        TeamMember.tenant_id == tenant_id, TeamMember.team_id == team.id,
        TeamMember.user_id == checked))).first()
    if member is None:
        raise NotFound(f"User {checked} is not a member of team {team.name!r}.",
                       field="user_id")
    member.is_lead = is_lead
    session.add(member)
    await session.flush()
    logger.info("User %s is %s of team %s of tenant %s", checked,
                "a lead" if is_lead else "a member", team.id, tenant_id)
    return member


async def _check_team_name_free(session: AsyncSession, tenant_id: int, name: str) -> None:
    existing = (await session.exec(select(Team).where(
        Team.tenant_id == tenant_id, Team.name == name))).first()
    if existing is not None:
        raise Conflict(f"A team named {name!r} already exists; choose another name.",
                       field="name")


async def _count(session: AsyncSession, model: type[Ticket] | type[Rating], condition: object,
                 tenant_id: int) -> int:
    statement = (select(func.count()).select_from(model)
                 .where(model.tenant_id == tenant_id, condition))  # type: ignore[arg-type]
    return int((await session.exec(statement)).one())


async def access_agent(session: AsyncSession, tenant_id: int, user_id: object,
                       *, field: str = "assignee_id") -> UserRecord:
    """Load an active agent or admin of the tenant who may work tickets.

    Raises NotFound for an unknown id or another tenant's user, and InvalidInput for a
    customer or a deactivated user.
    """
    checked = check_id(user_id, field=field)
    users = await find_users(session, tenant_id, ids=[checked])
    if not users:
        raise NotFound(f"User {checked} not found in this workspace.", field=field)
    user = users[0]
    if user.role not in AGENT_ROLES:
        raise InvalidInput(f"User {checked} ({user.name}) is a {user.role.value}; only agents "
                           "and admins work tickets.", field=field)
    if not user.is_active:
        raise InvalidInput(f"User {checked} ({user.name}) is deactivated; choose an active "
                           "agent.", field=field)
    return user


async def team_members(session: AsyncSession, tenant_id: int, team_id: int) -> list[TeamMember]:
    """Return the team's members ordered by user id."""
    statement = (select(TeamMember)
                 .where(TeamMember.tenant_id == tenant_id, TeamMember.team_id == team_id)
                 .order_by(col(TeamMember.user_id)))
    return list((await session.exec(statement)).all())


async def do_add_member(session: AsyncSession, tenant_id: int, team_id: int, user_id: object,
                        *, is_lead: object = False) -> TeamMember:
    if not isinstance(is_lead, bool):
        raise InvalidInput(f"is_lead must be true or false, not {is_lead!r}.", field="is_lead")
    team = await access_team(session, tenant_id, team_id)
    agent = await access_agent(session, tenant_id, user_id, field="user_id")
    existing = (await session.exec(select(TeamMember).where(
        TeamMember.team_id == team_id, TeamMember.user_id == agent.id))).first()
    if existing is not None:
        raise Conflict(f"{agent.name} is already a member of team {team.name!r}.",
                       field="user_id")
    member = TeamMember(tenant_id=tenant_id, team_id=team_id, user_id=agent.id,
                        is_lead=is_lead)
    session.add(member)
    await session.flush()
    logger.info("Added user %s to team %s of tenant %s", agent.id, team_id, tenant_id)
    return member


async def do_remove_member(session: AsyncSession, tenant_id: int, team_id: int,
                           user_id: int) -> None:
    await access_team(session, tenant_id, team_id)
    member = (await session.exec(select(TeamMember).where(
        TeamMember.tenant_id == tenant_id, TeamMember.team_id == team_id,
        TeamMember.user_id == user_id))).first()
    if member is None:
        raise NotFound(f"User {user_id} is not a member of team {team_id}.", field="user_id")
    await session.delete(member)
    logger.info("Removed user %s from team %s of tenant %s", user_id, team_id, tenant_id)


async def do_set_away(session: AsyncSession, tenant_id: int, user_id: int,
                      away: bool) -> AgentProfile:
    """Mark an agent away (assignment skips them) or back."""
    agent = await access_agent(session, tenant_id, user_id, field="user_id")
    profile = await session.get(AgentProfile, agent.id)
    if profile is None:
        profile = AgentProfile(user_id=agent.id, tenant_id=tenant_id)
    profile.away = away
    profile.updated_at = utcnow()
    session.add(profile)
    await session.flush()
    logger.info("Agent %s of tenant %s is %s", agent.id, tenant_id, "away" if away else "back")
    return profile


async def away_user_ids(session: AsyncSession, tenant_id: int, user_ids: list[int]) -> set[int]:
    statement = select(AgentProfile.user_id).where(
        AgentProfile.tenant_id == tenant_id, col(AgentProfile.away).is_(True),
        col(AgentProfile.user_id).in_(user_ids))
    return set((await session.exec(statement)).all())
