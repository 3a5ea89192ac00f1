"""REST API handlers for assignment rules (admins), the ratings report, and the teams,
categories and agents that a UI offers in its pickers (agents and admins)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portal.sdk import Role, app_context, find_users, require_role, tenant_id
from ticketcloud.api_support import json_response, path_id, read_json, require_agent
from ticketcloud.categories import list_categories
from ticketcloud.mail_auth import do_set_trusted_authserv_id
from ticketcloud.mail_in import do_set_support_address, load_support_address
from ticketcloud.models import Rule
from ticketcloud.ratings import RatingRollup, ratings_report
from ticketcloud.rule_store import (
    access_rule,
    do_create_rule,
    do_delete_rule,
    do_move_rule,
    do_update_rule,
    list_rules,
    load_rules,
)
from ticketcloud.rules import dry_run
from ticketcloud.settings import load_settings
from ticketcloud.teams import AGENT_ROLES, away_user_ids, list_teams, team_members
from ticketcloud.views import iso

RULE_FIELDS = ("name", "enabled", "match", "conditions", "actions")
SAMPLE_FIELDS = ("subject", "body", "sender_email", "channel", "priority", "category",
                 "customer")


def rule_view(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "position": rule.position, "name": rule.name,
            "enabled": rule.enabled, "match": rule.match.value,
            "conditions": rule.conditions, "actions": rule.actions,
            "created_at": iso(rule.created_at), "updated_at": iso(rule.updated_at)}


async def list_rules_route(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).db.read() as session:
        rules = await list_rules(session, tenant_id(request))
    return json_response({"items": [rule_view(rule) for rule in rules]})


async def create_rule(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=RULE_FIELDS)
    async with app_context(request).transaction() as session:
        rule = await do_create_rule(session, tenant_id(request), data)
        view = rule_view(rule)
    return json_response(view, status_code=201,
                         headers={"Location": f"{request.url.path}/{rule.id}"})


async def get_rule(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).db.read() as session:
        rule = await access_rule(session, tenant_id(request), path_id(request, "rule_id"))
        return json_response(rule_view(rule))


async def replace_rule(request: Request) -> Response:
    """Replace a rule's whole definition; its position stays."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=RULE_FIELDS)
    async with app_context(request).transaction() as session:
        rule = await do_update_rule(session, tenant_id(request),
                                    path_id(request, "rule_id"), data)
        view = rule_view(rule)
    return json_response(view)


async def delete_rule(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).transaction() as session:
        await do_delete_rule(session, tenant_id(request), path_id(request, "rule_id"))
    return Response(status_code=204)


async def reorder_rules(request: Request) -> Response:
    """Move one rule to `position` (0 is evaluated first); return all rules in order."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("rule_id", "position"),
                           required=("rule_id", "position"))
    async with app_context(request).transaction() as session:
        rules = await do_move_rule(session, tenant_id(request), data["rule_id"],
                                   data["position"])
        views = [rule_view(rule) for rule in rules]
    return json_response({"items": views})


async def dry_run_rules(request: Request) -> Response:
    """Return which of the stored rules fire on a sample ticket and what they would set,
    without changing anything."""
    require_role(request, Role.ADMIN)
    sample = await read_json(request, allowed=SAMPLE_FIELDS, required=("sender_email",))
    async with app_context(request).db.read() as session:
        rules = await load_rules(session, tenant_id(request))
    return json_response(dry_run(rules, sample).as_json())


async def ratings_report_route(request: Request) -> Response:
    require_agent(request)
    async with app_context(request).db.read() as session:
        report = await ratings_report(session, tenant_id(request))
    return json_response({"agents": [_rollup(item) for item in report.agents],
                          "teams": [_rollup(item) for item in report.teams]})


async def list_teams_route(request: Request) -> Response:
    require_agent(request)
    tenant = tenant_id(request)
    async with app_context(request).db.read() as session:
        items = []
        for team in await list_teams(session, tenant):
            assert team.id is not None
            members = await team_members(session, tenant, team.id)
            items.append({"id": team.id, "name": team.name, "strategy": team.strategy.value,
                          "member_ids": [member.user_id for member in members],
                          "lead_ids": [member.user_id for member in members
                                       if member.is_lead]})
    return json_response({"items": items})


async def list_categories_route(request: Request) -> Response:
    require_agent(request)
    async with app_context(request).db.read() as session:
        categories = await list_categories(session, tenant_id(request))
    return json_response({"items": [{"id": category.id, "name": category.name}
                                    for category in categories]})


async def list_agents(request: Request) -> Response:
    """Return the active agents and admins who can be assigned tickets."""
    require_agent(request)
    tenant = tenant_id(request)
    async with app_context(request).db.read() as session:
        users = [user for user in await find_users(session, tenant, roles=AGENT_ROLES)
                 if user.is_active]
        away = await away_user_ids(session, tenant, [user.id for user in users])
    return json_response({"items": [{"id": user.id, "name": user.name, "away": user.id in away}
                                    for user in users]})


async def get_mail_settings(request: Request) -> Response:
    """Return the support address whose mail becomes tickets (null when none is set) and
    the trusted authserv-id that verifies agents' mail ("" when none is set)."""
    require_role(request, Role.ADMIN)
    async with app_context(request).db.read() as session:
        address = await load_support_address(session, tenant_id(request))
        settings = await load_settings(session, tenant_id(request))
    return json_response({"support_address": address,
                          "trusted_authserv_id": settings.mail_trusted_authserv_id})


async def replace_mail_settings(request: Request) -> Response:
    """Set the support address (null stops receiving mail), which the portal routes to
    TicketCloud at once, and the trusted authserv-id when the body names it (omitted:
    unchanged)."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("support_address", "trusted_authserv_id"),
                           required=("support_address",))
    async with app_context(request).transaction() as session:
        if "trusted_authserv_id" in data:
            await do_set_trusted_authserv_id(session, tenant_id(request),
                                             data["trusted_authserv_id"])
        address = await do_set_support_address(session, tenant_id(request),
                                               data["support_address"])
        settings = await load_settings(session, tenant_id(request))
    return json_response({"support_address": address,
                          "trusted_authserv_id": settings.mail_trusted_authserv_id})


def _rollup(item: RatingRollup) -> dict[str, Any]:
    return {"id": item.id, "count": item.count, "average": item.average}
