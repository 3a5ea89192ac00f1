"""REST API handler for the mail state of a ticket: clearing a bouncing mark."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.sdk import app_context, tenant_id
from ticketcloud.api_support import json_response, path_id, read_json, require_agent
from ticketcloud.mail_bounces import do_clear_bounce
from ticketcloud.tickets import access_ticket


async def clear_bouncing(request: Request) -> Response:
    """Clear the bouncing mark of `email` on a ticket, so its mail goes there again.
    Only agents and admins may: customers get 403, and another workspace's ticket is 404."""
    who = require_agent(request)
    data = await read_json(request, allowed=("email",), required=("email",))
    async with app_context(request).transaction() as session:
        ticket = await access_ticket(session, tenant_id(request), path_id(request, "number"), who)
        address = await do_clear_bounce(session, ticket, data["email"], actor_user_id=who.user_id)
    return json_response({"email": address})
