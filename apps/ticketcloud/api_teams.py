"""REST API handlers that configure TicketCloud: teams and their members, categories,
agents' away flags, the tenant's settings, and the ratings breakdown.

Admins change the configuration; agents read it and set their own away flag. Another
tenant's ids are not found (404), as everywhere in the API.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from portal.sdk import (
    Forbidden,
    InvalidInput,
    Role,
    app_context,
    find_users,
    require_role,
    tenant_id,
)
from ticketcloud.api_support import json_response, path_id, read_json, require_agent
from ticketcloud.categories import (
    do_create_category,
    do_delete_category,
    do_rename_category,
)
from ticketcloud.models import Category, Team, TenantSettings
from ticketcloud.reports import RatingBreakdown, ratings_breakdown
from ticketcloud.settings import do_update_settings, load_settings
from ticketcloud.teams import (
    access_team,
    away_user_ids,
    do_add_member,
    do_create_team,
    do_delete_team,
    do_remove_member,
    do_set_away,
    do_set_lead,
    do_update_team,
    team_members,
)
from ticketcloud.views import iso

SETTINGS_FIELDS = ("auto_close_hours", "expose_category")


async def team_view(session: AsyncSession, tenant: int, team: Team) -> dict[str, Any]:
    """Return a team with its members' names, lead flags and away flags."""
    assert team.id is not None
    members = await team_members(session, tenant, team.id)
    user_ids = [member.user_id for member in members]
    users = {user.id: user for user in await find_users(session, tenant, ids=user_ids)}
    away = await away_user_ids(session, tenant, user_ids)
    return {
        "id": team.id, "name": team.name, "strategy": team.strategy.value,
        "members": [{"user_id": member.user_id,
                     "name": users[member.user_id].name if member.user_id in users else "",
                     "is_lead": member.is_lead, "away": member.user_id in away}
                    for member in members],
    }


def category_view(category: Category) -> dict[str, Any]:
    return {"id": category.id, "name": category.name}


def settings_view(settings: TenantSettings) -> dict[str, Any]:
    return {"auto_close_hours": settings.auto_close_hours,
            "expose_category": settings.expose_category}


async def get_team(request: Request) -> Response:
    require_agent(request)
    tenant = tenant_id(request)
    async with app_context(request).db.read() as session:
        team = await access_team(session, tenant, path_id(request, "team_id"))
        return json_response(await team_view(session, tenant, team))


async def create_team(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("name", "strategy"), required=("name",))
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        team = await do_create_team(session, tenant, name=data["name"],
                                    strategy=data.get("strategy", "round_robin"))
        view = await team_view(session, tenant, team)
    return json_response(view, status_code=201,
                         headers={"Location": f"{request.url.path}/{view['id']}"})


async def update_team(request: Request) -> Response:
    """Rename a team or change its strategy; a field left out keeps its value."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("name", "strategy"))
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        team = await do_update_team(session, tenant, path_id(request, "team_id"),
                                    name=_not_null(data, "name"),
                                    strategy=_not_null(data, "strategy"))
        view = await team_view(session, tenant, team)
    return json_response(view)


async def delete_team(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).transaction() as session:
        await do_delete_team(session, tenant_id(request), path_id(request, "team_id"))
    return Response(status_code=204)


async def add_member(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("user_id", "is_lead"), required=("user_id",))
    tenant = tenant_id(request)
    team_id = path_id(request, "team_id")
    async with app_context(request).transaction() as session:
        await do_add_member(session, tenant, team_id, data["user_id"],
                            is_lead=data.get("is_lead", False))
        view = await team_view(session, tenant, await access_team(session, tenant, team_id))
    return json_response(view, status_code=201)


async def update_member(request: Request) -> Response:
    """Make a member a lead of the team, or a plain member again."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("is_lead",), required=("is_lead",))
    tenant = tenant_id(request)
    team_id = path_id(request, "team_id")
    async with app_context(request).transaction() as session:
        await do_set_lead(session, tenant, team_id, path_id(request, "user_id"),
                          is_lead=data["is_lead"])
        view = await team_view(session, tenant, await access_team(session, tenant, team_id))
    return json_response(view)


async def remove_member(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).transaction() as session:
        await do_remove_member(session, tenant_id(request), path_id(request, "team_id"),
                               path_id(request, "user_id"))
    return Response(status_code=204)


async def create_category(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("name",), required=("name",))
    async with app_context(request).transaction() as session:
        category = await do_create_category(session, tenant_id(request), name=data["name"])
        view = category_view(category)
    return json_response(view, status_code=201,
                         headers={"Location": f"{request.url.path}/{view['id']}"})


async def update_category(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("name",), required=("name",))
    async with app_context(request).transaction() as session:
        category = await do_rename_category(session, tenant_id(request),
                                            path_id(request, "category_id"), name=data["name"])
        view = category_view(category)
    return json_response(view)


async def delete_category(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).transaction() as session:
        await do_delete_category(session, tenant_id(request), path_id(request, "category_id"))
    return Response(status_code=204)


async def update_agent(request: Request) -> Response:
    """Set an agent's away flag: agents set their own, admins anyone's in the workspace."""
    who = require_agent(request)
    user_id = path_id(request, "user_id")
    if who.role is not Role.ADMIN and user_id != who.user_id:
        raise Forbidden("Agents can set only their own away flag; ask an admin to change "
                        "another agent's.", field="user_id")
    data = await read_json(request, allowed=("away",), required=("away",))
    if not isinstance(data["away"], bool):
        raise InvalidInput(f"away must be true or false, not {data['away']!r}.", field="away")
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        profile = await do_set_away(session, tenant, user_id, data["away"])
        users = await find_users(session, tenant, ids=[user_id])
        view = {"id": profile.user_id, "name": users[0].name, "away": profile.away}
    return json_response(view)


async def get_settings(request: Request) -> Response:
    require_agent(request)
    async with app_context(request).db.read() as session:
        settings = await load_settings(session, tenant_id(request))
        return json_response(settings_view(settings))


async def update_settings(request: Request) -> Response:
    """Change the settings sent; a setting left out keeps its value."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=SETTINGS_FIELDS)
    async with app_context(request).transaction() as session:
        settings = await do_update_settings(
            session, tenant_id(request), auto_close_hours=_not_null(data, "auto_close_hours"),
            expose_category=_not_null(data, "expose_category"))
        view = settings_view(settings)
    return json_response(view)


async def ratings_breakdown_route(request: Request) -> Response:
    require_agent(request)
    async with app_context(request).db.read() as session:
        breakdown = await ratings_breakdown(session, tenant_id(request))
    return json_response({"agents": [_breakdown(item) for item in breakdown.agents],
                          "teams": [_breakdown(item) for item in breakdown.teams]})


def _breakdown(item: RatingBreakdown) -> dict[str, Any]:
    return {"id": item.id, "count": item.count, "average": item.average,
            "distribution": {str(score): count for score, count in item.distribution.items()},
            "recent": [{"ticket_number": comment.ticket_number, "score": comment.score,
                        "comment": comment.comment, "created_at": iso(comment.created_at)}
                       for comment in item.recent]}


def _not_null(data: dict[str, Any], name: str) -> object:
    """Return `data[name]`, or None when it is absent; an explicit null is invalid."""
    if name in data and data[name] is None:
        raise InvalidInput(f"{name} cannot be null; leave it out to keep the current value.",
                           field=name)
    return data.get(name)
