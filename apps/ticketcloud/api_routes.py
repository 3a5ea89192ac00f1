"""Routes of TicketCloud's REST API under /apps/ticketcloud/api/v1/.

The portal's AppGate authenticates every request (session cookie or bearer token) and
returns 404 for workspaces without the app. Its CSRF middleware checks unsafe requests
that a session cookie authorizes. `docs/ticketcloud-api.md` describes the API, and
`openapi.py` documents every route listed here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.sdk import principal
from ticketcloud import (
    api_admin,
    api_attachments,
    api_mail,
    api_mail_templates,
    api_sla,
    api_teams,
    api_tickets,
)
from ticketcloud.api_support import json_response
from ticketcloud.openapi import openapi_document

PREFIX = "/api/v1"


async def openapi_json(request: Request) -> Response:
    principal(request)
    base = str(request.url.replace(query="", fragment=""))
    return json_response(openapi_document(base.removesuffix("/openapi.json")))


def _route(path: str, endpoint: object, *methods: str) -> Route:
    return Route(PREFIX + path, endpoint, methods=list(methods))  # type: ignore[arg-type]


routes: list[BaseRoute] = [
    _route("/openapi.json", openapi_json, "GET"),
    _route("/tickets", api_tickets.list_tickets, "GET"),
    _route("/tickets", api_tickets.create_ticket, "POST"),
    _route("/tickets/{number:int}", api_tickets.get_ticket, "GET"),
    _route("/tickets/{number:int}", api_tickets.update_ticket, "PATCH"),
    _route("/tickets/{number:int}/messages", api_tickets.list_messages, "GET"),
    _route("/tickets/{number:int}/replies", api_tickets.add_reply, "POST"),
    _route("/tickets/{number:int}/notes", api_tickets.add_note, "POST"),
    _route("/tickets/{number:int}/history", api_tickets.get_history, "GET"),
    _route("/tickets/{number:int}/messages/{message_id:int}/html",
           api_tickets.get_message_html, "GET"),
    _route("/tickets/{number:int}/attachments", api_attachments.upload_attachments, "POST"),
    _route("/tickets/{number:int}/bouncing/clear", api_mail.clear_bouncing, "POST"),
    _route("/attachments/{attachment_id:int}", api_attachments.download_attachment, "GET"),
    _route("/rules", api_admin.list_rules_route, "GET"),
    _route("/rules", api_admin.create_rule, "POST"),
    _route("/rules/reorder", api_admin.reorder_rules, "POST"),
    _route("/rules/dry-run", api_admin.dry_run_rules, "POST"),
    _route("/rules/{rule_id:int}", api_admin.get_rule, "GET"),
    _route("/rules/{rule_id:int}", api_admin.replace_rule, "PUT"),
    _route("/rules/{rule_id:int}", api_admin.delete_rule, "DELETE"),
    _route("/ratings/report", api_admin.ratings_report_route, "GET"),
    _route("/teams", api_admin.list_teams_route, "GET"),
    _route("/categories", api_admin.list_categories_route, "GET"),
    _route("/agents", api_admin.list_agents, "GET"),
    _route("/settings/mail", api_admin.get_mail_settings, "GET"),
    _route("/settings/mail", api_admin.replace_mail_settings, "PUT"),
    _route("/settings/mail-templates", api_mail_templates.list_templates, "GET"),
    _route("/settings/mail-templates/{kind}", api_mail_templates.replace_template, "PUT"),
    _route("/settings/mail-templates/{kind}", api_mail_templates.reset_template, "DELETE"),
    _route("/settings/mail-templates/{kind}/preview", api_mail_templates.preview_template,
           "POST"),
    _route("/teams", api_teams.create_team, "POST"),
    _route("/teams/{team_id:int}", api_teams.get_team, "GET"),
    _route("/teams/{team_id:int}", api_teams.update_team, "PATCH"),
    _route("/teams/{team_id:int}", api_teams.delete_team, "DELETE"),
    _route("/teams/{team_id:int}/members", api_teams.add_member, "POST"),
    _route("/teams/{team_id:int}/members/{user_id:int}", api_teams.update_member, "PATCH"),
    _route("/teams/{team_id:int}/members/{user_id:int}", api_teams.remove_member, "DELETE"),
    _route("/categories", api_teams.create_category, "POST"),
    _route("/categories/{category_id:int}", api_teams.update_category, "PATCH"),
    _route("/categories/{category_id:int}", api_teams.delete_category, "DELETE"),
    _route("/agents/{user_id:int}", api_teams.update_agent, "PATCH"),
    _route("/settings", api_teams.get_settings, "GET"),
    _route("/settings", api_teams.update_settings, "PATCH"),
    _route("/ratings/breakdown", api_teams.ratings_breakdown_route, "GET"),
    _route("/sla/calendars", api_sla.list_calendars_route, "GET"),
    _route("/sla/calendars", api_sla.create_calendar, "POST"),
    _route("/sla/calendars/{calendar_id:int}", api_sla.get_calendar, "GET"),
    _route("/sla/calendars/{calendar_id:int}", api_sla.replace_calendar, "PUT"),
    _route("/sla/calendars/{calendar_id:int}", api_sla.delete_calendar, "DELETE"),
    _route("/sla/calendars/{calendar_id:int}/holidays/import", api_sla.import_holidays, "POST"),
    _route("/sla/policies", api_sla.list_policies_route, "GET"),
    _route("/sla/policies", api_sla.create_policy, "POST"),
    _route("/sla/policies/reorder", api_sla.reorder_policies, "POST"),
    _route("/sla/policies/{policy_id:int}", api_sla.get_policy, "GET"),
    _route("/sla/policies/{policy_id:int}", api_sla.replace_policy, "PUT"),
    _route("/sla/policies/{policy_id:int}", api_sla.delete_policy, "DELETE"),
    _route("/sla/report", api_sla.sla_report_route, "GET"),
]
