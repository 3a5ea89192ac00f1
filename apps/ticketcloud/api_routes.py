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
from ticketcloud import api_admin, api_attachments, api_tickets
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
    _route("/tickets/{number:int}/attachments", api_attachments.upload_attachments, "POST"),
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
]
